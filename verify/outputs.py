"""Load the stack outputs (`outputs["academy"]`, docs/CONTRACTS.md "Stack output") and check
their shape once, so checks can index them without guarding every key."""

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from verify.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_STACK = "sandbox"
MODES = ("asg", "batch")

_TOP = ("project", "stack", "mode", "region", "worker_types", "publisher", "api")
_WORKER = ("label", "queue", "dlq", "max_job_s", "metric", "published", "counting", "backlog_api")
_QUEUE = ("name", "url", "arn", "visibility_timeout_s", "retained")
_DLQ = ("name", "url", "arn", "max_receive_count")
_METRIC = ("namespace", "name", "dimensions")
_FLEET = ("group_name", "min_size", "max_size", "target_backlog_per_instance", "policy_name")
_PUBLISHER = ("function_name", "role_name", "code_sha256", "key_parameter", "schedule_rule",
              "source_dir")
_BATCH = ("compute_environment", "job_queue", "job_definition", "architecture",
          "retry_attempts", "timeout_s")
_API = ("public_base_url", "local_base_url", "hosts", "nginx")
_NGINX = ("config_path", "config_sha256")


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source

    def require(self, node: Any, path: str, keys: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            kind = type(node).__name__
            raise UsageError(f"{self.source}: '{path}' should be an object, got {kind}")
        for key in keys:
            if key not in node:
                raise UsageError(f"{self.source}: missing key '{path}.{key}'")


def validate(document: Any, source: str) -> dict:
    """Return `document["academy"]` after checking every key the checks read."""
    v = _Validator(source)
    if not isinstance(document, dict) or "academy" not in document:
        raise UsageError(
            f"{source}: missing key 'academy' (expected the output of `pulumi stack output --json`)"
        )
    academy = document["academy"]
    v.require(academy, "academy", _TOP)
    if academy["mode"] not in MODES:
        raise UsageError(f"{source}: 'academy.mode' is {academy['mode']!r}, expected asg or batch")
    if not isinstance(academy["worker_types"], dict) or not academy["worker_types"]:
        raise UsageError(f"{source}: 'academy.worker_types' should name at least one worker type")
    for wt, worker in academy["worker_types"].items():
        path = f"academy.worker_types.{wt}"
        v.require(worker, path, _WORKER)
        v.require(worker["queue"], f"{path}.queue", _QUEUE)
        v.require(worker["dlq"], f"{path}.dlq", _DLQ)
        v.require(worker["metric"], f"{path}.metric", _METRIC)
        if worker.get("fleet") is not None:
            v.require(worker["fleet"], f"{path}.fleet", _FLEET)
    v.require(academy["publisher"], "academy.publisher", _PUBLISHER)
    if academy["mode"] == "batch":
        if academy.get("batch") is None:
            raise UsageError(f"{source}: 'academy.batch' is empty but mode is batch")
        v.require(academy["batch"], "academy.batch", _BATCH)
    v.require(academy["api"], "academy.api", _API)
    v.require(academy["api"]["nginx"], "academy.api.nginx", _NGINX)
    if not isinstance(academy["api"]["hosts"], list):
        raise UsageError(f"{source}: 'academy.api.hosts' should be a list")
    for index, host in enumerate(academy["api"]["hosts"]):
        v.require(host, f"academy.api.hosts[{index}]", ("name",))
    tag = academy["api"].get("host_tag")
    if tag not in (None, "") and (not isinstance(tag, str) or not tag.partition("=")[0]
                                  or "=" not in tag):
        raise UsageError(f"{source}: 'academy.api.host_tag' is {tag!r}, expected 'Key=Value' "
                         "or null")
    return academy


def load_file(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read outputs file {path}: {exc.strerror or exc} "
            "(save one with `pulumi stack output --json > FILE`)"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"outputs file {path} is not JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    return validate(document, str(path))


def load_pulumi_stack(stack: str) -> dict:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise UsageError(
            f"cannot read stack {stack!r}: the pulumi CLI is not on PATH; "
            "pass --outputs FILE (saved with `pulumi stack output --json > FILE`)"
        )
    command = [pulumi, "stack", "output", "--json", "--show-secrets=false", "--stack", stack]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"`{shlex.join(command)}` did not answer in 60s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"`pulumi stack output` for stack {stack!r} failed: {last}")
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"`pulumi stack output` for {stack!r} printed no JSON: {exc.msg}"
        ) from None
    return validate(document, f"stack {stack}")


def parse_env_file(path: Path) -> dict[str, str]:
    """Lines `export K=V` (or `K=V`), values shell-quoted; comments and blanks skipped.
    `unset A B` maps A and B to "" so the shell's values of them are not used either."""
    env: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror or exc} (run `python -m sandbox up`)"
        ) from None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("unset "):
            env.update({name: "" for name in text.split()[1:]})
            continue
        if text.startswith("export "):
            text = text[len("export "):].strip()
        key, sep, value = text.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"{path}:{number}: expected `export KEY=VALUE`, got {line!r}")
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise UsageError(f"{path}:{number}: {exc}") from None
        env[key] = " ".join(words)
    return env


SANDBOX_DIR_ENV = "ACADEMY_SANDBOX_DIR"  # where `python -m sandbox` keeps its state, if set


def load_sandbox(root: Path = PROJECT_ROOT) -> tuple[dict, dict[str, str]]:
    """`.sandbox/outputs.json` and `.sandbox/env` (or under $ACADEMY_SANDBOX_DIR)."""
    moved = os.environ.get(SANDBOX_DIR_ENV)
    directory = Path(moved) if moved else root / ".sandbox"
    outputs_path = directory / "outputs.json"
    if not outputs_path.exists():
        raise UsageError(
            f"no sandbox outputs at {outputs_path}: start it first (`python -m sandbox up`)"
        )
    env_path = directory / "env"
    env = parse_env_file(env_path) if env_path.exists() else {}
    return load_file(outputs_path), env

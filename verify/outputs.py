"""Load the stack outputs (`outputs["academy"]`, docs/CONTRACTS.md "Stack output") and check
their shape once, so checks can index them without guarding every key."""

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.errors import UsageError
from verify.project import project_root

PROJECT_ROOT = project_root()  # $ACADEMY_PROJECT_DIR, this checkout, or the cwd's project
SANDBOX_STACK = "sandbox"
MODES = ("asg", "batch")

# The shape of `outputs["academy"]` (docs/CONTRACTS.md "Stack output"), checked once here so a
# check never meets a wrong type. A key in REQUIRED must be present; every key present must
# have its type. Types: str, int (never bool), bool, NUMBER, Nullable(t), ListOf(t),
# MapOf(t) (any keys), or a nested Shape.
NUMBER = "number"


@dataclass(frozen=True)
class Nullable:
    of: Any


@dataclass(frozen=True)
class ListOf:
    of: Any


@dataclass(frozen=True)
class MapOf:
    of: Any


@dataclass(frozen=True)
class Shape:
    required: dict[str, Any]
    optional: dict[str, Any] = field(default_factory=dict)


_QUEUE = Shape({"name": str, "url": str, "arn": str, "visibility_timeout_s": int,
                "retained": bool})
_DLQ = Shape({"name": str, "url": str, "arn": str, "max_receive_count": int})
_METRIC = Shape({"namespace": str, "name": str, "dimensions": MapOf(str)}, {"unit": str})
_FLEET = Shape({"group_name": str, "min_size": int, "max_size": int,
                "target_backlog_per_instance": NUMBER, "policy_name": str},
               {"instance_warmup_s": int, "wake_from_zero": bool})
_WORKER = Shape({"label": str, "queue": _QUEUE, "dlq": _DLQ, "max_job_s": int,
                 "metric": _METRIC, "published": bool,
                 "counting": Shape({"in_flight": bool, "delayed": bool}),
                 "backlog_api": bool},
                {"fleet": Nullable(_FLEET)})
_PUBLISHER = Shape({"function_name": str, "role_name": str, "code_sha256": str,
                    "key_parameter": str, "schedule_rule": str, "source_dir": str},
                   {"errors_alarm": Nullable(str)})
_BATCH = Shape({"compute_environment": str, "job_queue": str, "job_definition": str,
                "architecture": str, "retry_attempts": int, "timeout_s": int},
               {"log_group": str, "runnable_timeout_s": int})
_SSH = Shape({"host": str, "port": int, "user": str})
_HOST = Shape({"name": str}, {"instance_id": Nullable(str), "ssh": Nullable(_SSH)})
_NGINX = Shape({"config_path": str, "config_sha256": str},
               {"test_command": str, "reload_command": str, "document_name": str,
                "association_names": ListOf(str)})
_API = Shape({"public_base_url": str, "local_base_url": str, "hosts": ListOf(_HOST),
              "nginx": _NGINX},
             {"host_tag": Nullable(str)})
ACADEMY = Shape({"project": str, "stack": str, "mode": str, "region": str,
                 "worker_types": MapOf(_WORKER), "publisher": _PUBLISHER, "api": _API},
                {"batch": Nullable(_BATCH)})

_EXPECTED = {str: "a string", int: "an integer", bool: "true or false", NUMBER: "a number"}


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expected(spec: Any) -> str:
    if isinstance(spec, Nullable):
        return f"{_expected(spec.of)} or null"
    if isinstance(spec, ListOf):
        return "a list"
    if isinstance(spec, Shape | MapOf):
        return "an object"
    return _EXPECTED[spec]


def _fits(value: Any, spec: Any) -> bool:
    if isinstance(spec, Nullable):
        return value is None or _fits(value, spec.of)
    if isinstance(spec, ListOf):
        return isinstance(value, list)
    if isinstance(spec, Shape | MapOf):
        return isinstance(value, dict)
    if spec is NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if spec is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, spec)


def check_shape(value: Any, spec: Any, path: str, source: str) -> None:
    """Raise a UsageError naming `path` and what was expected at the first misfit."""
    if not _fits(value, spec):
        raise UsageError(f"{source}: '{path}' should be {_expected(spec)}, got {_kind(value)}")
    if isinstance(spec, Nullable):
        if value is not None:
            check_shape(value, spec.of, path, source)
    elif isinstance(spec, ListOf):
        for index, item in enumerate(value):
            check_shape(item, spec.of, f"{path}[{index}]", source)
    elif isinstance(spec, MapOf):
        for key, item in value.items():
            check_shape(item, spec.of, f"{path}.{key}", source)
    elif isinstance(spec, Shape):
        for key in spec.required:
            if key not in value:
                raise UsageError(f"{source}: missing key '{path}.{key}'")
        for key, item_spec in (spec.required | spec.optional).items():
            if key in value:
                check_shape(value[key], item_spec, f"{path}.{key}", source)


def validate(document: Any, source: str) -> dict:
    """Return `document["academy"]` after checking the type of every key the checks read."""
    if not isinstance(document, dict) or "academy" not in document:
        raise UsageError(
            f"{source}: missing key 'academy' (expected the output of `pulumi stack output --json`)"
        )
    academy = document["academy"]
    check_shape(academy, ACADEMY, "academy", source)
    if academy["mode"] not in MODES:
        raise UsageError(f"{source}: 'academy.mode' is {academy['mode']!r}, expected asg or batch")
    if not academy["worker_types"]:
        raise UsageError(f"{source}: 'academy.worker_types' should name at least one worker type")
    if academy["mode"] == "batch" and academy.get("batch") is None:
        raise UsageError(f"{source}: 'academy.batch' is empty but mode is batch")
    tag = academy["api"].get("host_tag")
    if tag not in (None, "") and (not tag.partition("=")[0] or "=" not in tag):
        raise UsageError(f"{source}: 'academy.api.host_tag' is {tag!r}, expected 'Key=Value' "
                         "or null")
    return academy


def parse_document(text: str, source: str) -> Any:
    """JSON text -> document; a syntax error or absurd nesting is a usage error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise UsageError(f"{source} is nested too deeply to be stack outputs") from None
    except ValueError as exc:  # e.g. an integer literal of more than 4,300 digits
        raise UsageError(f"{source} is not usable JSON: {exc}") from None


def load_file(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read outputs file {path}: {exc.strerror or exc} "
            "(save one with `pulumi stack output --json > FILE`)"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"outputs file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
            f"offset {exc.start}); save it again with `pulumi stack output --json > FILE`"
        ) from None
    return validate(parse_document(text, f"outputs file {path}"), str(path))


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
            command, capture_output=True, encoding="utf-8", timeout=60, cwd=PROJECT_ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"`{shlex.join(command)}` did not answer in 60s") from None
    except UnicodeDecodeError:
        raise UsageError(f"`pulumi stack output` for {stack!r} printed non-UTF-8 text") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"`pulumi stack output` for stack {stack!r} failed: {last}")
    document = parse_document(done.stdout, f"`pulumi stack output` for {stack!r}")
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

"""Load a stack's outputs (`pulumi stack output --json`) and read them with the typed contract
(components/stack_output.py), so checks read `outputs.worker_types[wt].queue.url` and never
meet a missing key or a wrong type. Where the outputs come from: verify/stacks.py."""

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from components import stack_output
from components.stack_output import ContractError, StackOutput
from verify.errors import UsageError
from verify.project import project_root

PROJECT_ROOT = project_root()  # $ACADEMY_PROJECT_DIR, this checkout, or the cwd's project


def validate(document: Any, source: str) -> StackOutput:
    """The document read with the contract; any misfit (a missing key, a wrong type, an unknown
    schema_version) is a UsageError naming its place, then what the contract cannot say."""
    try:
        outputs = stack_output.parse(document, source)
    except ContractError as exc:
        raise UsageError(str(exc)) from None
    if not outputs.worker_types:
        raise UsageError(f"{source}: 'academy.worker_types' should name at least one worker type")
    if outputs.mode == "batch" and outputs.batch is None:
        raise UsageError(f"{source}: 'academy.batch' is empty but mode is batch")
    tag = outputs.api.host_tag
    if tag not in (None, "") and (not tag.partition("=")[0] or "=" not in tag):
        raise UsageError(f"{source}: 'academy.api.host_tag' is {tag!r}, expected 'Key=Value' "
                         "or null")
    return outputs


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


def load_file(path: Path) -> StackOutput:
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


def load_pulumi_stack(stack: str, saved_in: Path | None = None) -> StackOutput:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        saved = (f"no saved outputs at {saved_in} (`python -m sandbox up` saves the sandbox's "
                 "there) and " if saved_in is not None else "")
        raise UsageError(
            f"cannot read stack {stack!r}: {saved}the pulumi CLI is not on PATH; "
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
            f"cannot read {path}: {exc.strerror or exc}"
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

"""Load a stack's outputs (`pulumi stack output --json`) and read them with the typed contract
(contract/stack_output.py), so checks read `outputs.worker_types[wt].queue.url` and never
meet a missing key or a wrong type. Where the outputs come from: verify/stacks.py."""

import dataclasses
import math
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from contract import stack_output
from contract.stack_output import ContractError, Fleet, StackOutput
from verify import publisher_rules
from verify.errors import UsageError
from verify.json_files import parse_document, read_text_file
from verify.project import project_root

PROJECT_ROOT = project_root()  # $ACADEMY_PROJECT_DIR, this checkout, or the cwd's project


# The largest backlog count the publisher believes: its declared environment's variable (the
# setting backlogApiMaxCount), with the publisher's default and limits (its count rule).
MAX_COUNT_VARIABLE = "BACKLOG_API_MAX_COUNT"
DEFAULT_MAX_COUNT: int = publisher_rules.count_rule().DEFAULT_MAX_COUNT
MAX_COUNT_LIMIT: int = publisher_rules.count_rule().MAX_COUNT_LIMIT


def bound_problem(raw: str) -> str | None:
    """Why a BACKLOG_API_MAX_COUNT value is one the publisher refuses; None when it is good."""
    text = raw.strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,8}", text) or not 1 <= int(text) <= MAX_COUNT_LIMIT:
        return f"is {text[:40]!r}, expected a whole number from 1 to {MAX_COUNT_LIMIT}"
    return None


MAX_OUTPUTS_BYTES = 10 * 1024 * 1024  # a stack's outputs are kilobytes; /dev/zero is endless

# Numbers the contract types but cannot bound: (field name, lowest, highest, what is expected).
_INF = float("inf")
NUMBER_RULES: dict[str, tuple[float, float, str, bool]] = {
    # name: (low, high, expected, low is exclusive)
    "target_backlog_per_instance": (0, _INF, "a number above 0", True),
    "min_size": (0, _INF, "a whole number >= 0", False),
    "max_size": (0, _INF, "a whole number >= 0", False),
    "instance_warmup_s": (0, _INF, "seconds >= 0", False),
    "visibility_timeout_s": (0, 43_200, "seconds from 0 to 43200 (SQS)", False),
    "max_receive_count": (1, 1000, "from 1 to 1000 (SQS)", False),
    "max_job_s": (0, _INF, "seconds above 0", True),
    "retry_attempts": (1, 10, "from 1 to 10 (Batch)", False),
    "timeout_s": (0, _INF, "seconds above 0", True),
    "runnable_timeout_s": (0, _INF, "seconds above 0", True),
    "port": (1, 65_535, "a port from 1 to 65535", False),
}


def number_problems(value: Any, path: str) -> list[str]:
    """Each number the rules bound that lies outside them, by its place in the document;
    a fleet whose max_size is below its min_size too."""
    problems: list[str] = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            place = f"{path}.{field.name}"
            rule = NUMBER_RULES.get(field.name)
            if rule is not None and isinstance(item, int | float) and not isinstance(item, bool):
                low, high, expected, exclusive = rule
                if not math.isfinite(item) or item < low or item > high or (
                        exclusive and item == low):
                    problems.append(f"'{place}' is {item:g}, expected {expected}")
            else:
                problems += number_problems(item, place)
        if isinstance(value, Fleet) and value.max_size < value.min_size:
            problems.append(f"'{path}.max_size' is {value.max_size}, below min_size "
                            f"{value.min_size}")
    elif isinstance(value, dict):
        for key, item in value.items():
            problems += number_problems(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += number_problems(item, f"{path}[{index}]")
    return problems


def validate(document: Any, source: str) -> StackOutput:
    """The document read with the contract; any misfit (a missing key, a wrong type, an unknown
    schema_version, a number out of its range) is a UsageError naming its place, then what the
    contract cannot say."""
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
    problems = number_problems(outputs, stack_output.OUTPUT_NAME)
    bound = outputs.publisher.environment.get(MAX_COUNT_VARIABLE)
    why = bound_problem(bound) if bound is not None else None
    if why is not None:
        problems.append(f"'academy.publisher.environment.{MAX_COUNT_VARIABLE}' {why}")
    if problems:
        raise UsageError(f"{source}: " + "; ".join(problems))
    return outputs


OUTPUTS_HINT = "save the outputs with `pulumi stack output --json > FILE`"


def load_file(path: Path) -> StackOutput:
    text = read_text_file(Path(path), "outputs file", MAX_OUTPUTS_BYTES, OUTPUTS_HINT)
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


MAX_ENV_BYTES = 1024 * 1024  # an env file is a few lines


def read_env_file(path: Path) -> dict[str, str]:
    """A saved stack's env file if anything is at `path` ({} if nothing is); something there
    that is not a readable regular UTF-8 file is refused, not ignored."""
    return parse_env_file(path) if os.path.lexists(path) else {}


def parse_env_file(path: Path) -> dict[str, str]:
    """Lines `export K=V` (or `K=V`), values shell-quoted; comments and blanks skipped.
    `unset A B` maps A and B to "" so the shell's values of them are not used either."""
    env: dict[str, str] = {}
    lines = read_text_file(path, "env file", MAX_ENV_BYTES).splitlines()
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

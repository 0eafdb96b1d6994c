"""Load a stack's outputs (`pulumi stack output --json`) and read them with the typed contract
(components/stack_output.py), so checks read `outputs.worker_types[wt].queue.url` and never
meet a missing key or a wrong type. Where the outputs come from: verify/stacks.py."""

import dataclasses
import json
import math
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from components import stack_output
from components.stack_output import ContractError, Fleet, StackOutput
from verify.errors import UsageError
from verify.project import project_root

PROJECT_ROOT = project_root()  # $ACADEMY_PROJECT_DIR, this checkout, or the cwd's project


# The largest backlog count the publisher believes: its declared environment's variable (the
# setting backlogApiMaxCount), with the publisher's default and limits (lambda/queue_depth).
MAX_COUNT_VARIABLE = "BACKLOG_API_MAX_COUNT"
DEFAULT_MAX_COUNT = 100_000
MAX_COUNT_LIMIT = 10_000_000


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


class _NotJson(ValueError):
    pass


def parse_document(text: str, source: str) -> Any:
    """JSON text -> document; a syntax error, NaN/Infinity (Python's json takes them) or absurd
    nesting is a usage error."""
    def refuse(name: str) -> Any:
        raise _NotJson(f"{source}: {name} is not JSON (a number there must be finite)")

    try:
        return json.loads(text, parse_constant=refuse)
    except _NotJson as exc:
        raise UsageError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise UsageError(f"{source} is nested too deeply to be stack outputs") from None
    except ValueError as exc:  # e.g. an integer literal of more than 4,300 digits
        raise UsageError(f"{source} is not usable JSON: {exc}") from None


def read_regular_file(path: Path, what: str, limit: int = MAX_OUTPUTS_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. A FIFO, a device or a directory is
    refused without waiting on it (opened non-blocking, then fstat), and a larger file unread."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc} "
                         "(save one with `pulumi stack output --json > FILE`)") from None
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):  # before fdopen, which refuses a directory itself
        os.close(fd)
        raise UsageError(f"{what} {path} is not a regular file ({_kind(status.st_mode)}); "
                         "save the outputs to a file with `pulumi stack output --json > FILE`")
    with os.fdopen(fd, "rb") as handle:
        if status.st_size > limit:
            raise UsageError(f"{what} {path} is larger than {limit // (1024 * 1024)} MB "
                             f"({status.st_size} bytes): not a stack's outputs")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{what} {path} is larger than {limit // (1024 * 1024)} MB: not a "
                         "stack's outputs")
    return data


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


def load_file(path: Path) -> StackOutput:
    data = read_regular_file(Path(path), "outputs file")
    try:
        text = data.decode("utf-8")
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

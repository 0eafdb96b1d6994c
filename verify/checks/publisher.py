"""`publisher`: the deployed function runs the code here, its environment is the one the
stack declares (every variable, nothing more), it runs on its schedule, and has not been
failing."""

import json

from contract.lambda_archive import build_archive, code_sha256
from contract.stack_output import Metric, Publisher, StackOutput
from verify.checks.backlog import describe_metric, describe_parts
from verify.context import CheckContext, Task
from verify.probes import publisher as probe
from verify.probes.publisher import ErrorFacts, FunctionFacts, ScheduleFacts
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "publisher"
ERRORS_WINDOW_MIN = 15


def expected_targets(outputs: StackOutput) -> dict[str, Metric]:
    return {wt: w.metric for wt, w in outputs.worker_types.items() if w.published}


TARGETS_VARIABLE = "BACKLOG_TARGETS"
API_URL_VARIABLE = "BACKLOG_API_BASE_URL"


def _same_metric(have: dict, want: Metric) -> bool:
    raw = have.get("dimensions")
    dims = {k: str(v) for k, v in raw.items()} if isinstance(raw, dict) else (raw or {})
    return (have.get("namespace"), have.get("name"), dims) == (
        want.namespace, want.name, {k: str(v) for k, v in want.dimensions.items()})


def _describe_plain(metric: dict) -> str:
    dims = metric.get("dimensions")
    return describe_parts(metric.get("namespace"), metric.get("name"),
                          dims if isinstance(dims, dict) else {})


_KINDS = {type(None): "null", str: "a string", int: "a number", float: "a number",
          bool: "true or false", list: "a list", dict: "an object"}


def read_targets(raw: str | None) -> tuple[dict[str, dict], list[str]]:
    """BACKLOG_TARGETS by worker type, and what in it the publisher cannot run with: not a JSON
    list, an entry that is not an object or has no worker_type, a worker type twice (entries
    are numbered from 1)."""
    try:
        targets = json.loads(raw or "[]")
    except (ValueError, RecursionError):
        return {}, [f"{TARGETS_VARIABLE} is not JSON"]
    if not isinstance(targets, list):
        return {}, [f"{TARGETS_VARIABLE} is not a JSON list "
                    f"({_KINDS.get(type(targets), 'something else')})"]
    found: dict[str, dict] = {}
    seen: dict[str, int] = {}
    problems = []
    for number, target in enumerate(targets, 1):
        if not isinstance(target, dict):
            problems.append(f"{TARGETS_VARIABLE} entry {number} is "
                            f"{_KINDS.get(type(target), 'something else')}, not an object")
            continue
        wt = target.get("worker_type")
        if not isinstance(wt, str) or not wt:
            problems.append(f"{TARGETS_VARIABLE} entry {number} has no worker_type")
            continue
        seen[wt] = seen.get(wt, 0) + 1
        found.setdefault(wt, target)
    problems += [f"{wt} appears {n} times in {TARGETS_VARIABLE}"
                 for wt, n in sorted(seen.items()) if n > 1]
    return found, problems


def _entries(raw: str | None) -> int | None:
    try:
        targets = json.loads(raw or "[]")
    except (ValueError, RecursionError):
        return None
    return len(targets) if isinstance(targets, list) else None


def _targets_problems(deployed: dict[str, dict], outputs: StackOutput,
                      declared: dict[str, dict] | None) -> list[str]:
    """Each deployed target against the policy's metric and, when the output carries the
    declared environment, every other field the stack set (queue URL, counting, API use)."""
    problems = []
    wanted = expected_targets(outputs)
    for wt in sorted(set(wanted) | set(deployed)):
        if wt not in deployed:
            problems.append(f"{wt} missing from {TARGETS_VARIABLE}")
            continue
        if wt not in wanted:
            problems.append(f"{wt} in {TARGETS_VARIABLE} but the stack does not publish it")
            continue
        have = deployed[wt].get("metric")
        have = have if isinstance(have, dict) else {}
        if not _same_metric(have, wanted[wt]):
            shown = _describe_plain(have) if have.get("name") else have
            problems.append(f"{wt} publishes {shown}, the stack's policy reads "
                            f"{describe_metric(wanted[wt])}")
        stack_target = (declared or {}).get(wt) or {}
        for field in sorted(set(stack_target) - {"metric", "worker_type"}):
            if deployed[wt].get(field) != stack_target[field]:
                problems.append(f"{wt} {field} is {deployed[wt].get(field)!r}, the stack's is "
                                f"{stack_target[field]!r}")
    return problems


def _variable_problems(variables: dict[str, str], declared: dict[str, str]) -> list[str]:
    """Every variable but the targets: the stack's value, set, and nothing it did not declare.
    An undeclared variable is named without its value (it may hold anything, a key too)."""
    problems = []
    for name in sorted((set(declared) | set(variables)) - {TARGETS_VARIABLE}):
        if name not in declared:
            problems.append(f"{name} is set but the stack does not declare it")
        elif name not in variables:
            problems.append(f"{name} is not set (the stack sets {declared[name]!r})")
        elif variables[name] != declared[name]:
            problems.append(f"{name} is {variables[name]!r}, the stack's is {declared[name]!r}")
    return problems


def environment_problems(variables: dict[str, str], outputs: StackOutput) -> list[str]:
    declared = outputs.publisher.environment
    raw = variables.get(TARGETS_VARIABLE)
    deployed, problems = read_targets(raw)
    if problems and not deployed and _entries(raw) is None:
        return problems + _variable_problems(variables, declared)
    declared_raw = declared.get(TARGETS_VARIABLE)
    declared_targets = read_targets(declared_raw)[0] if declared_raw is not None else None
    want = (_entries(declared_raw) if declared_raw is not None
            else len(expected_targets(outputs)))
    have = _entries(raw)
    if want is not None and have is not None and have != want:
        problems.append(f"{TARGETS_VARIABLE} has {have} entries, the stack declares {want}")
    problems += _targets_problems(deployed, outputs, declared_targets)
    return problems + _variable_problems(variables, declared)


def url_drift(declared: dict[str, str], live: dict[str, str]) -> tuple[str, str] | None:
    """(the URL the deployed publisher calls, the stack's) when they differ; None when they
    agree or the stack declares no API URL."""
    if API_URL_VARIABLE not in declared:
        return None
    found = live.get(API_URL_VARIABLE, "")
    return None if found == declared[API_URL_VARIABLE] else (found, declared[API_URL_VARIABLE])


def judge_code(publisher: Publisher, local_sha256: str, deployed: FunctionFacts) -> CheckResult:
    target = f"{publisher.function_name} code"
    values = {"expected": {"code_sha256": local_sha256},
              "found": {"code_sha256": deployed.code_sha256}}
    if deployed.code_sha256 != local_sha256:
        stale = (" (the stack's record matches the source: someone replaced the code)"
                 if publisher.code_sha256 == local_sha256 else "")
        return failed(
            CHECK_ID, target,
            f"deployed CodeSha256 {deployed.code_sha256} != {local_sha256} built from "
            f"{publisher.source_dir}" + stale,
            "deploy the code here with `pulumi up` (or check out the commit that was deployed)",
            **values,
        )
    return passed(CHECK_ID, target,
                  f"CodeSha256 {deployed.code_sha256} = archive of {publisher.source_dir}",
                  **values)


def _code_task(ctx: CheckContext) -> Task:
    publisher = ctx.outputs.publisher

    def run() -> CheckResult:
        # Imported here: only this check needs the archive builder.

        local = code_sha256(build_archive(ctx.options.project_root / publisher.source_dir))
        return judge_code(publisher, local, probe.function(ctx))

    return Task(CHECK_ID, f"{publisher.function_name} code", run)


def judge_environment(outputs: StackOutput, deployed: FunctionFacts) -> CheckResult:
    declared = outputs.publisher.environment
    target = f"{outputs.publisher.function_name} environment"
    # Undeclared variables are shown by name only: they may hold anything, a key too.
    found = {name: deployed.variables[name] if name in declared else "(not declared)"
             for name in sorted(deployed.variables)}
    values = {"expected": dict(sorted(declared.items())), "found": found}
    problems = environment_problems(deployed.variables, outputs)
    if problems:
        return failed(CHECK_ID, target, "; ".join(problems),
                      "the function's environment drifted from the stack: `pulumi up` "
                      "sets it from the same specs the policies read", **values)
    names = ", ".join(f"{wt}={describe_metric(m)}"
                      for wt, m in sorted(expected_targets(outputs).items()))
    return passed(CHECK_ID, target, f"BACKLOG_TARGETS names {names or 'nothing'}; all "
                  f"{len(declared)} variables are the stack's", **values)


def _env_task(ctx: CheckContext) -> Task:
    return Task(CHECK_ID, f"{ctx.outputs.publisher.function_name} environment",
                lambda: judge_environment(ctx.outputs, probe.function(ctx)))


def judge_schedule(publisher: Publisher, facts: ScheduleFacts, function_arn: str) -> CheckResult:
    rule = publisher.schedule_rule
    target = f"{rule} schedule"
    values = {"expected": {"state": "ENABLED", "target": function_arn},
              "found": {"state": facts.state, "targets": facts.targets}}
    problems = []
    if facts.state != "ENABLED":
        problems.append(f"rule is {facts.state}")
    if not any(a == function_arn or a.startswith(function_arn + ":") for a in facts.targets):
        problems.append(f"rule targets {facts.targets or 'nothing'}, not "
                        f"{publisher.function_name}")
    if problems:
        return failed(CHECK_ID, target, "; ".join(problems),
                      f"no fresh datapoints without it: `aws events enable-rule --name {rule}` "
                      "or `pulumi up`", **values)
    return passed(CHECK_ID, target, f"{facts.expression or 'rule'} ENABLED -> "
                  f"{publisher.function_name}", **values)


def _schedule_task(ctx: CheckContext) -> Task:
    publisher = ctx.outputs.publisher
    return Task(CHECK_ID, f"{publisher.schedule_rule} schedule", lambda: judge_schedule(
        publisher, probe.schedule(ctx, publisher.schedule_rule), probe.function(ctx).arn))


def judge_errors(publisher: Publisher, facts: ErrorFacts, emulated: bool) -> CheckResult:
    function = publisher.function_name
    target = f"{function} errors"
    values = {"expected": {"errors": 0, "alarm_state": "OK"},
              "found": {"errors": facts.errors, "alarm_state": facts.alarm_state}}
    logs = f"read the errors: aws logs tail /aws/lambda/{function} --since 30m"
    if facts.alarm_state == "ALARM":
        return failed(CHECK_ID, target,
                      f"alarm {publisher.errors_alarm} is in ALARM: {facts.alarm_reason}", logs,
                      **values)
    if facts.errors is None:
        why = ("a local emulator records no Lambda metrics" if emulated
               else "the schedule may not have fired, or metrics are delayed")
        return warned(CHECK_ID, target,
                      f"no AWS/Lambda Errors data in the last {ERRORS_WINDOW_MIN} min ({why})",
                      "confirm it runs: aws logs tail /aws/lambda/" + function, **values)
    if facts.errors > 0:
        return failed(CHECK_ID, target,
                      f"{facts.errors:g} failed invocations in the last {ERRORS_WINDOW_MIN} min",
                      f"{logs} (a BacklogUnavailable message names the worker type and source)",
                      **values)
    return passed(CHECK_ID, target, f"0 errors in the last {ERRORS_WINDOW_MIN} min", **values)


def _errors_task(ctx: CheckContext) -> Task:
    publisher = ctx.outputs.publisher
    return Task(CHECK_ID, f"{publisher.function_name} errors", lambda: judge_errors(
        publisher, probe.errors(ctx, publisher.function_name, publisher.errors_alarm,
                                ERRORS_WINDOW_MIN), ctx.aws.emulated))


def tasks(ctx: CheckContext) -> list[Task]:
    return [_code_task(ctx), _env_task(ctx), _schedule_task(ctx), _errors_task(ctx)]

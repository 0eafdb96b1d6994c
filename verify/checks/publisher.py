"""`publisher`: the deployed function runs the code here, its environment is the one the
stack declares (every variable, nothing more), it runs on its schedule, and has not been
failing."""

import json

from verify.checks.backlog import describe_metric, sum_metric
from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "publisher"
ERRORS_WINDOW_MIN = 15


def expected_targets(outputs: dict) -> dict[str, dict]:
    return {wt: w["metric"] for wt, w in outputs["worker_types"].items() if w.get("published")}


TARGETS_VARIABLE = "BACKLOG_TARGETS"
API_URL_VARIABLE = "BACKLOG_API_BASE_URL"


def _same_metric(have: dict, want: dict) -> bool:
    def key(m: dict) -> tuple:
        return (m.get("namespace"), m.get("name"),
                {k: str(v) for k, v in (m.get("dimensions") or {}).items()})

    return key(have) == key(want)


def _targets_by_type(raw: str | None) -> dict[str, dict] | None:
    try:
        targets = json.loads(raw or "[]")
    except ValueError:
        return None
    return {t.get("worker_type"): t for t in targets if isinstance(t, dict)}


def _targets_problems(deployed: dict[str, dict], outputs: dict,
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
        have = deployed[wt].get("metric") or {}
        if not _same_metric(have, wanted[wt]):
            shown = describe_metric(have) if have.get("name") else have
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


def environment_problems(variables: dict[str, str], outputs: dict) -> list[str]:
    declared = outputs["publisher"].get("environment")
    deployed = _targets_by_type(variables.get(TARGETS_VARIABLE))
    if deployed is None:
        return [f"{TARGETS_VARIABLE} is not JSON"]
    declared_targets = _targets_by_type(declared.get(TARGETS_VARIABLE)) if declared else None
    problems = _targets_problems(deployed, outputs, declared_targets)
    if declared is not None:
        return problems + _variable_problems(variables, declared)
    # An output from before the stack exported the environment: the API and key only.
    uses_api = any(w.get("backlog_api") for w in outputs["worker_types"].values())
    if uses_api and not variables.get(API_URL_VARIABLE):
        problems.append(f"{API_URL_VARIABLE} is empty but the stack reads the backlog API")
    key_parameter = outputs["publisher"]["key_parameter"]
    if uses_api and variables.get("INTERNAL_KEY_PARAMETER") != key_parameter:
        problems.append(f"INTERNAL_KEY_PARAMETER is {variables.get('INTERNAL_KEY_PARAMETER')!r}, "
                        f"not {key_parameter}")
    return problems


def live_variables(ctx: CheckContext) -> dict[str, str]:
    config = _function(ctx)["Configuration"]
    return (config.get("Environment") or {}).get("Variables") or {}


def api_url_drift(ctx: CheckContext) -> tuple[str, str] | None:
    """(the URL the deployed publisher calls, the stack's) when they differ; None when they
    agree or the output does not carry the declared environment."""
    declared = ctx.outputs["publisher"].get("environment") or {}
    if API_URL_VARIABLE not in declared:
        return None
    live = live_variables(ctx).get(API_URL_VARIABLE, "")
    return None if live == declared[API_URL_VARIABLE] else (live, declared[API_URL_VARIABLE])


def _function(ctx: CheckContext) -> dict:
    name = ctx.outputs["publisher"]["function_name"]
    return ctx.once("publisher-get-function",
                    lambda: ctx.aws.client("lambda").get_function(FunctionName=name))


def _code_task(ctx: CheckContext) -> Task:
    publisher = ctx.outputs["publisher"]
    target = f"{publisher['function_name']} code"

    def run() -> CheckResult:
        # Imported here: only this check needs the archive builder.
        from components.lambda_archive import build_archive, code_sha256

        source = ctx.options.project_root / publisher["source_dir"]
        local = code_sha256(build_archive(source))
        deployed = _function(ctx)["Configuration"]["CodeSha256"]
        if deployed != local:
            stale = " (the stack's record matches the source: someone replaced the code)" \
                if publisher["code_sha256"] == local else ""
            return failed(
                CHECK_ID, target,
                f"deployed CodeSha256 {deployed} != {local} built from {publisher['source_dir']}"
                + stale,
                "deploy the code here with `pulumi up` (or check out the commit that was deployed)",
            )
        return passed(CHECK_ID, target,
                      f"CodeSha256 {deployed} = archive of {publisher['source_dir']}")

    return Task(CHECK_ID, target, run)


def _env_task(ctx: CheckContext) -> Task:
    target = f"{ctx.outputs['publisher']['function_name']} environment"

    def run() -> CheckResult:
        variables = live_variables(ctx)
        problems = environment_problems(variables, ctx.outputs)
        if problems:
            return failed(CHECK_ID, target, "; ".join(problems),
                          "the function's environment drifted from the stack: `pulumi up` "
                          "sets it from the same specs the policies read")
        names = ", ".join(f"{wt}={describe_metric(m)}"
                          for wt, m in sorted(expected_targets(ctx.outputs).items()))
        declared = ctx.outputs["publisher"].get("environment")
        compared = (f"; all {len(declared)} variables are the stack's" if declared is not None
                    else "; the output declares no environment (deployed before it did): only "
                    "the targets, API URL and key parameter compared")
        return passed(CHECK_ID, target, f"BACKLOG_TARGETS names {names or 'nothing'}{compared}")

    return Task(CHECK_ID, target, run)


def _schedule_task(ctx: CheckContext) -> Task:
    publisher = ctx.outputs["publisher"]
    rule = publisher["schedule_rule"]
    target = f"{rule} schedule"

    def run() -> CheckResult:
        events = ctx.aws.client("events")
        described = events.describe_rule(Name=rule)
        arn = _function(ctx)["Configuration"]["FunctionArn"]
        targets = events.list_targets_by_rule(Rule=rule)["Targets"]
        aimed = [t["Arn"] for t in targets]
        problems = []
        if described.get("State") != "ENABLED":
            problems.append(f"rule is {described.get('State')}")
        if not any(a == arn or a.startswith(arn + ":") for a in aimed):
            problems.append(f"rule targets {aimed or 'nothing'}, not {publisher['function_name']}")
        if problems:
            return failed(CHECK_ID, target, "; ".join(problems),
                          f"no fresh datapoints without it: `aws events enable-rule --name {rule}` "
                          "or `pulumi up`")
        return passed(CHECK_ID, target,
                      f"{described.get('ScheduleExpression', 'rule')} ENABLED -> "
                      f"{publisher['function_name']}")

    return Task(CHECK_ID, target, run)


def _errors_task(ctx: CheckContext) -> Task:
    publisher = ctx.outputs["publisher"]
    function = publisher["function_name"]
    target = f"{function} errors"

    def run() -> CheckResult:
        alarm_name = publisher.get("errors_alarm")
        if alarm_name:
            alarms = ctx.aws.client("cloudwatch").describe_alarms(
                AlarmNames=[alarm_name])["MetricAlarms"]
            if alarms and alarms[0].get("StateValue") == "ALARM":
                return failed(CHECK_ID, target,
                              f"alarm {alarm_name} is in ALARM: {alarms[0].get('StateReason', '')}",
                              f"read the errors: aws logs tail /aws/lambda/{function} --since 30m")
        errors = sum_metric(ctx, "AWS/Lambda", "Errors", {"FunctionName": function},
                            ERRORS_WINDOW_MIN)
        if errors is None:
            why = ("a local emulator records no Lambda metrics" if ctx.aws.emulated
                   else "the schedule may not have fired, or metrics are delayed")
            return warned(CHECK_ID, target,
                          f"no AWS/Lambda Errors data in the last {ERRORS_WINDOW_MIN} min ({why})",
                          "confirm it runs: aws logs tail /aws/lambda/" + function)
        if errors > 0:
            return failed(CHECK_ID, target,
                          f"{errors:g} failed invocations in the last {ERRORS_WINDOW_MIN} min",
                          f"read the errors: aws logs tail /aws/lambda/{function} --since 30m "
                          "(a BacklogUnavailable message names the worker type and source)")
        return passed(CHECK_ID, target, f"0 errors in the last {ERRORS_WINDOW_MIN} min")

    return Task(CHECK_ID, target, run)


def tasks(ctx: CheckContext) -> list[Task]:
    return [_code_task(ctx), _env_task(ctx), _schedule_task(ctx), _errors_task(ctx)]

"""`publisher`: the deployed function runs the code here, names the stack's metrics, runs on
its schedule, and has not been failing."""

import json

from verify.checks.backlog import describe_metric, sum_metric
from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "publisher"
ERRORS_WINDOW_MIN = 15


def expected_targets(outputs: dict) -> dict[str, dict]:
    return {wt: w["metric"] for wt, w in outputs["worker_types"].items() if w.get("published")}


def environment_problems(variables: dict[str, str], outputs: dict) -> list[str]:
    problems = []
    try:
        targets = json.loads(variables.get("BACKLOG_TARGETS") or "[]")
    except ValueError:
        return ["BACKLOG_TARGETS is not JSON"]
    deployed = {t.get("worker_type"): t.get("metric", {}) for t in targets if isinstance(t, dict)}
    wanted = expected_targets(outputs)
    for wt in sorted(set(wanted) | set(deployed)):
        if wt not in deployed:
            problems.append(f"{wt} missing from BACKLOG_TARGETS")
        elif wt not in wanted:
            problems.append(f"{wt} in BACKLOG_TARGETS but the stack does not publish it")
        else:
            have, want = deployed[wt], wanted[wt]
            same = (have.get("namespace"), have.get("name"), {
                k: str(v) for k, v in (have.get("dimensions") or {}).items()}) == (
                want["namespace"], want["name"], {k: str(v) for k, v in want["dimensions"].items()})
            if not same:
                shown = describe_metric(have) if have.get("name") else have
                problems.append(f"{wt} publishes {shown}, the stack's policy reads "
                                f"{describe_metric(want)}")
    uses_api = any(w.get("backlog_api") for w in outputs["worker_types"].values())
    if uses_api and not variables.get("BACKLOG_API_BASE_URL"):
        problems.append("BACKLOG_API_BASE_URL is empty but the stack reads the backlog API")
    key_parameter = outputs["publisher"]["key_parameter"]
    if uses_api and variables.get("INTERNAL_KEY_PARAMETER") != key_parameter:
        problems.append(f"INTERNAL_KEY_PARAMETER is {variables.get('INTERNAL_KEY_PARAMETER')!r}, "
                        f"not {key_parameter}")
    return problems


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
        config = _function(ctx)["Configuration"]
        variables = (config.get("Environment") or {}).get("Variables") or {}
        problems = environment_problems(variables, ctx.outputs)
        if problems:
            return failed(CHECK_ID, target, "; ".join(problems),
                          "the function's environment drifted from the stack: `pulumi up` "
                          "sets it from the same specs the policies read")
        names = ", ".join(f"{wt}={describe_metric(m)}"
                          for wt, m in sorted(expected_targets(ctx.outputs).items()))
        return passed(CHECK_ID, target, f"BACKLOG_TARGETS names {names or 'nothing'}")

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

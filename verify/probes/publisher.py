"""The deployed publisher function (GetFunction, read once per run), its schedule rule and
its errors: alarm state and the AWS/Lambda Errors sum."""

from dataclasses import dataclass

from verify.context import CheckContext
from verify.probes.metrics import sum_metric


@dataclass(frozen=True)
class FunctionFacts:
    arn: str
    code_sha256: str
    variables: dict[str, str]


def function(ctx: CheckContext) -> FunctionFacts:
    name = ctx.outputs.publisher.function_name

    def read() -> FunctionFacts:
        config = ctx.aws.client("lambda").get_function(FunctionName=name)["Configuration"]
        variables = (config.get("Environment") or {}).get("Variables") or {}
        return FunctionFacts(config["FunctionArn"], config["CodeSha256"], dict(variables))

    return ctx.once("publisher-get-function", read)


@dataclass(frozen=True)
class ScheduleFacts:
    state: str | None
    expression: str | None
    targets: list[str]  # the ARNs the rule invokes


def schedule(ctx: CheckContext, rule: str) -> ScheduleFacts:
    events = ctx.aws.client("events")
    described = events.describe_rule(Name=rule)
    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    return ScheduleFacts(described.get("State"), described.get("ScheduleExpression"),
                         [t["Arn"] for t in targets])


@dataclass(frozen=True)
class ErrorFacts:
    alarm_state: str | None  # None: no alarm declared or found
    alarm_reason: str
    errors: float | None  # the sum over the window; None: no datapoint at all


def errors(ctx: CheckContext, function_name: str, alarm: str, minutes: int) -> ErrorFacts:
    state, reason = None, ""
    if alarm:
        alarms = ctx.aws.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
        if alarms:
            state, reason = alarms[0].get("StateValue"), alarms[0].get("StateReason", "")
    total = sum_metric(ctx, "AWS/Lambda", "Errors", {"FunctionName": function_name}, minutes)
    return ErrorFacts(state, reason, total)

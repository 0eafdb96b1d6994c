"""The deployed publisher function (GetFunction, read once per run), its schedule rule, its
errors (alarm state and the AWS/Lambda Errors sum), and one synchronous invocation."""

import datetime as dt
import json
from dataclasses import dataclass

from verify.context import CheckContext
from verify.errors import VerifyError
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


# ---- one synchronous invocation (the metric check forces a fresh datapoint) ---------------

@dataclass(frozen=True)
class WorkerAnswer:
    """What the handler reports for one worker type."""

    value: float | None  # None: it published nothing
    source: str | None  # "api" or "sqs"
    reason: str | None  # why it fell back to SQS
    error: str | None


@dataclass(frozen=True)
class InvokeFacts:
    at: dt.datetime  # when the invoke started (UTC): its datapoint is of this minute or later
    worker_types: dict[str, WorkerAnswer]


def invoke_publisher(ctx: CheckContext) -> dict:
    """The handler's JSON answer; a BacklogUnavailable error carries the same JSON."""
    function = ctx.outputs.publisher.function_name
    answer = ctx.aws.client("lambda").invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=b"{}"
    )
    raw = answer["Payload"].read().decode("utf-8", errors="replace")
    excerpt = ctx.masker.excerpt  # mask, then clip: a clipped key would escape the masker
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise VerifyError(f"publisher {function} answered non-JSON: {excerpt(raw, 120)}") from None
    if answer.get("FunctionError"):
        message = body.get("errorMessage", "") if isinstance(body, dict) else ""
        try:
            detail = json.loads(message)
        except (ValueError, TypeError):
            raise VerifyError(
                f"publisher {function} failed: {body.get('errorType', 'error')}: "
                f"{excerpt(str(message), 160)}"
            ) from None
        if isinstance(detail, dict) and "worker_types" in detail:
            return detail
        raise VerifyError(f"publisher {function} failed: {excerpt(message, 160)}")
    if not isinstance(body, dict) or "worker_types" not in body:
        raise VerifyError(
            f"publisher {function} answered without worker_types: {excerpt(raw, 120)}")
    return body


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def worker_answers(answer: dict) -> dict[str, WorkerAnswer]:
    """The handler's `worker_types`, typed; an entry that is not an object reports nothing."""
    reported = answer.get("worker_types")
    found = {}
    for wt, info in (reported.items() if isinstance(reported, dict) else ()):
        info = info if isinstance(info, dict) else {}
        value = info.get("value")
        number = (float(value) if isinstance(value, int | float)
                  and not isinstance(value, bool) else None)
        found[str(wt)] = WorkerAnswer(number, _text(info.get("source")),
                                      _text(info.get("reason")), _text(info.get("error")))
    return found


def invoke(ctx: CheckContext) -> InvokeFacts:
    """The publisher invoked once per run, shared by every worker type's metric check."""
    def call() -> InvokeFacts:
        at = dt.datetime.now(dt.UTC)
        return InvokeFacts(at, worker_answers(invoke_publisher(ctx)))

    return ctx.once("publisher-invoke", call)

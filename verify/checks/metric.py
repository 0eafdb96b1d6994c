"""`metric`: what the publisher puts in CloudWatch equals the backlog it stands for.

Forces a fresh datapoint by invoking the publisher synchronously (unless --no-invoke): the
value it published must lie within the count sampled before and after, and the datapoint read
back (the invoke's minute or later, exact dimensions) must hold that value.
"""

import datetime as dt
import json
import time

from components.stack_output import Metric, Worker
from verify.checks.backlog import Datapoint, describe_metric, latest_datapoint, reference_count
from verify.checks.publisher import api_url_drift
from verify.context import CheckContext, Task
from verify.errors import VerifyError
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "metric"
READ_BACK_S = 8.0
NO_DATAPOINT_HINT = ("the publisher does not publish these exact dimensions: `python -m verify "
                     "publisher` (BACKLOG_TARGETS) and its schedule")
NOT_FOLLOWING_HINT = ("the metric does not follow the backlog: check what the publisher counts "
                      "(counting.in_flight/delayed in the outputs) and its log line")


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


def judge_publisher_answer(worker_type: str, worker: Worker, answer: dict,
                           api_urls: tuple[str, str] | None = None) -> CheckResult | None:
    """A FAIL when the publisher's own answer already shows the problem, else None.
    `api_urls`: (the URL the deployed publisher calls, the stack's) when they differ."""
    info = (answer.get("worker_types") or {}).get(worker_type)
    if info is None:
        return failed(
            CHECK_ID, worker_type, f"the publisher did not report worker type {worker_type}",
            "its BACKLOG_TARGETS lacks this worker type: `pulumi up`, then `verify publisher`",
        )
    if worker.backlog_source == "api" and info.get("source") == "sqs":
        fell_back = (f"the publisher fell back to SQS counts while an API is configured: "
                     f"{info.get('reason') or info.get('error') or 'no reason given'}")
        if api_urls is not None:
            # `verify api` asks the stack's URL, so it passes while the publisher asks another.
            return failed(
                CHECK_ID, worker_type,
                f"{fell_back}; the publisher calls {api_urls[0] or '(no URL)'}, the stack's "
                f"API is {api_urls[1]}",
                "its BACKLOG_API_BASE_URL drifted from the stack; `verify api` checks the "
                "stack's URL, not the one the publisher calls: `pulumi up` restores it "
                "(`python -m verify publisher` lists every variable that drifted)",
            )
        return failed(
            CHECK_ID, worker_type, fell_back,
            "the publisher could not read the DB backlog: run `python -m verify api` "
            "(LOCAL vs PUBLIC) and check its key parameter",
        )
    if info.get("value") is None:
        return failed(
            CHECK_ID, worker_type,
            f"the publisher published nothing for {worker_type}: "
            f"{info.get('error') or info.get('reason') or 'no value'}",
            "read the publisher's log line for this invocation (aws logs tail "
            "/aws/lambda/<function>) and fix the source it could not read",
        )
    return None


def _seen(point: Datapoint) -> str:
    if point.minimum == point.maximum:
        return f"{point.maximum:g}"
    return f"{point.minimum:g}..{point.maximum:g}"


def _fits(point: Datapoint, low: float, high: float) -> bool:
    return low <= point.maximum <= high or low <= point.minimum <= high


def _holds(point: Datapoint | None, value: float) -> bool:
    return point is not None and point.minimum <= value <= point.maximum


def _read_back(ctx: CheckContext, metric: Metric, since: dt.datetime,
               published: float) -> Datapoint | None:
    """The datapoint of the invoke's minute or later, polled a few seconds until it holds the
    invoke's value (CloudWatch is eventually consistent); None if no such period appeared."""
    stop = time.monotonic() + min(READ_BACK_S, ctx.remaining())
    delay = 0.25
    while True:
        point = latest_datapoint(ctx, metric, since=since)
        if _holds(point, published) or time.monotonic() + delay > stop:
            return point
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def judge_latest(worker_type: str, name: str, point: Datapoint | None, low: int, high: int,
                 counted: str) -> CheckResult:
    """--no-invoke: the newest datapoint against the count sampled before and after."""
    if point is None:
        return failed(CHECK_ID, worker_type,
                      f"no datapoint of {name} in the last 5 min ({counted})", NO_DATAPOINT_HINT)
    evidence = f"{name} = {_seen(point)}"
    if not _fits(point, low, high):
        return failed(CHECK_ID, worker_type, f"{evidence}, but {counted}", NOT_FOLLOWING_HINT)
    return passed(CHECK_ID, worker_type, f"{evidence}; {counted}")


def judge_invoked(worker_type: str, name: str, published: float, source: str | None,
                  fresh: Datapoint | None, older: Datapoint | None, low: int, high: int,
                  counted: str) -> CheckResult:
    """The invoke's own value must lie within the count sampled before and after it; the
    datapoint read back (the invoke's minute or later) must hold that value."""
    if not low <= published <= high:
        where = ("its BACKLOG_API_BASE_URL reaches another API or database than this one"
                 if source == "api" else
                 "it counts other messages than the backlog (counting.in_flight/delayed in "
                 "the outputs against BACKLOG_TARGETS)")
        return failed(
            CHECK_ID, worker_type, f"the publisher published {published:g} to {name}, but "
            f"{counted}",
            f"the value the policy reads is wrong: {where}; read the publisher's log line for "
            "this invocation (visible, in_flight, delayed, api_count, source)",
        )
    if fresh is not None and _holds(fresh, published):
        return passed(CHECK_ID, worker_type,
                      f"{name} = {_seen(fresh)} (invoke: {published:g}); {counted}")
    if fresh is not None:
        return failed(
            CHECK_ID, worker_type,
            f"the datapoint read back disagrees with the invoke: {name} = {_seen(fresh)} for the "
            f"invoke's minute, the invoke published {published:g} ({counted})",
            "something else publishes these exact dimensions (an old Lambda, script or schedule "
            "still running), or the publisher's PutMetricData did not land; rerun `python -m "
            "verify metric` to rule out CloudWatch's lag",
        )
    if older is None:
        return failed(CHECK_ID, worker_type,
                      f"no datapoint of {name} in the last 5 min, though the invoke published "
                      f"{published:g} ({counted})", NO_DATAPOINT_HINT)
    return warned(
        CHECK_ID, worker_type,
        f"the invoke's datapoint did not appear in {READ_BACK_S:g}s: {name} = {_seen(older)} at "
        f"{older.timestamp:%H:%M} UTC is older (invoke: {published:g}); {counted}",
        "CloudWatch can lag: rerun `python -m verify metric`; if it persists the publisher's "
        "datapoint does not reach these dimensions (read its log line)",
    )


def _task(ctx: CheckContext, worker_type: str, worker: Worker) -> Task:
    metric = worker.metric
    name = describe_metric(metric)

    def invoke() -> tuple[dt.datetime, dict]:
        return dt.datetime.now(dt.UTC), invoke_publisher(ctx)

    def run() -> CheckResult:
        before, source = reference_count(ctx, worker)
        invoked_at: dt.datetime | None = None
        answer: dict | None = None
        if ctx.options.invoke:
            invoked_at, answer = ctx.once("publisher-invoke", invoke)
            info = (answer.get("worker_types") or {}).get(worker_type) or {}
            drift = (api_url_drift(ctx) if worker.backlog_source == "api"
                     and info.get("source") == "sqs" else None)
            verdict = judge_publisher_answer(worker_type, worker, answer, drift)
            if verdict is not None:
                return verdict
        after, _ = reference_count(ctx, worker)
        low, high = min(before, after), max(before, after)
        counted = f"{source} backlog {before} before, {after} after"
        if answer is None or invoked_at is None:
            return judge_latest(worker_type, name, latest_datapoint(ctx, metric), low, high,
                                counted)
        info = answer["worker_types"][worker_type]
        published = float(info["value"])
        fresh = _read_back(ctx, metric, invoked_at, published)
        older = latest_datapoint(ctx, metric) if fresh is None else None
        return judge_invoked(worker_type, name, published, info.get("source"), fresh, older,
                             low, high, counted)

    return Task(CHECK_ID, worker_type, run)


def tasks(ctx: CheckContext) -> list[Task]:
    return [
        _task(ctx, wt, worker)
        for wt, worker in ctx.outputs.worker_types.items()
        if worker.published
    ]

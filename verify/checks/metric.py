"""`metric`: what the publisher puts in CloudWatch equals the backlog it stands for.

Forces a fresh datapoint by invoking the publisher synchronously (unless --no-invoke): the
value it published must lie within the count sampled before and after, and the datapoint read
back (the invoke's minute or later, exact dimensions) must hold that value. The facts come
from verify/probes (the invoke, the counts, the datapoints); the functions here judge them.
"""

from typing import Any

from contract.stack_output import Worker
from verify.checks.backlog import describe_metric
from verify.checks.publisher import url_drift
from verify.context import CheckContext, Task
from verify.probes import publisher as publisher_probe
from verify.probes.backlog import reference_count
from verify.probes.metrics import Datapoint, latest_datapoint, read_back
from verify.probes.publisher import WorkerAnswer
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "metric"
READ_BACK_S = 8.0
NO_DATAPOINT_HINT = ("the publisher does not publish these exact dimensions: `python -m verify "
                     "publisher` (BACKLOG_TARGETS) and its schedule")
NOT_FOLLOWING_HINT = ("the metric does not follow the backlog: check what the publisher counts "
                      "(counting.in_flight/delayed in the outputs) and its log line")


def _answer_found(info: WorkerAnswer | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"value": info.value, "source": info.source, "reason": info.reason,
            "error": info.error}


def judge_publisher_answer(worker_type: str, worker: Worker, info: WorkerAnswer | None,
                           api_urls: tuple[str, str] | None = None) -> CheckResult | None:
    """A FAIL when the publisher's own answer already shows the problem, else None.
    `api_urls`: (the URL the deployed publisher calls, the stack's) when they differ."""
    values = {"expected": {"reported": True, "source": "api" if worker.backlog_api else "sqs",
                           "value": "a number"},
              "found": _answer_found(info)}
    if info is None:
        return failed(
            CHECK_ID, worker_type, f"the publisher did not report worker type {worker_type}",
            "its BACKLOG_TARGETS lacks this worker type: `pulumi up`, then `verify publisher`",
            **values,
        )
    if worker.backlog_api and info.source == "sqs":
        fell_back = (f"the publisher fell back to SQS counts while an API is configured: "
                     f"{info.reason or info.error or 'no reason given'}")
        if api_urls is not None:
            # `verify api` asks the stack's URL, so it passes while the publisher asks another.
            return failed(
                CHECK_ID, worker_type,
                f"{fell_back}; the publisher calls {api_urls[0] or '(no URL)'}, the stack's "
                f"API is {api_urls[1]}",
                "its BACKLOG_API_BASE_URL drifted from the stack; `verify api` checks the "
                "stack's URL, not the one the publisher calls: `pulumi up` restores it "
                "(`python -m verify publisher` lists every variable that drifted)",
                **values,
            )
        return failed(
            CHECK_ID, worker_type, fell_back,
            "the publisher could not read the DB backlog: run `python -m verify api` "
            "(LOCAL vs PUBLIC) and check its key parameter",
            **values,
        )
    if info.value is None:
        return failed(
            CHECK_ID, worker_type,
            f"the publisher published nothing for {worker_type}: "
            f"{info.error or info.reason or 'no value'}",
            "read the publisher's log line for this invocation (aws logs tail "
            "/aws/lambda/<function>) and fix the source it could not read",
            **values,
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


def _point(point: Datapoint | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {"minimum": point.minimum, "maximum": point.maximum,
            "timestamp": point.timestamp.isoformat()}


def _expected(name: str, low: int, high: int, source: str) -> dict[str, Any]:
    return {"metric": name, "backlog_low": low, "backlog_high": high, "counted_from": source}


def judge_latest(worker_type: str, name: str, point: Datapoint | None, low: int, high: int,
                 counted: str, source: str = "") -> CheckResult:
    """--no-invoke: the newest datapoint against the count sampled before and after."""
    values = {"expected": _expected(name, low, high, source),
              "found": {"datapoint": _point(point)}}
    if point is None:
        return failed(CHECK_ID, worker_type,
                      f"no datapoint of {name} in the last 5 min ({counted})", NO_DATAPOINT_HINT,
                      **values)
    evidence = f"{name} = {_seen(point)}"
    if not _fits(point, low, high):
        return failed(CHECK_ID, worker_type, f"{evidence}, but {counted}", NOT_FOLLOWING_HINT,
                      **values)
    return passed(CHECK_ID, worker_type, f"{evidence}; {counted}", **values)


def judge_invoked(worker_type: str, name: str, published: float, source: str | None,
                  fresh: Datapoint | None, older: Datapoint | None, low: int, high: int,
                  counted: str, counted_from: str = "") -> CheckResult:
    """The invoke's own value must lie within the count sampled before and after it; the
    datapoint read back (the invoke's minute or later) must hold that value."""
    values = {"expected": _expected(name, low, high, counted_from),
              "found": {"published": published, "source": source,
                        "datapoint": _point(fresh), "older_datapoint": _point(older)}}
    if not low <= published <= high:
        where = ("its BACKLOG_API_BASE_URL reaches another API or database than this one"
                 if source == "api" else
                 "it counts other messages than the backlog (counting.in_flight/delayed in "
                 "the outputs against BACKLOG_TARGETS)")
        return failed(
            CHECK_ID, worker_type, f"the publisher published {published:g} to {name}, but "
            f"{counted}",
            f"the value the policy reads is wrong: {where}; read the publisher's log line for "
            "this invocation (visible, in_flight, delayed, api_count, source)", **values,
        )
    if fresh is not None and _holds(fresh, published):
        return passed(CHECK_ID, worker_type,
                      f"{name} = {_seen(fresh)} (invoke: {published:g}); {counted}", **values)
    if fresh is not None:
        return failed(
            CHECK_ID, worker_type,
            f"the datapoint read back disagrees with the invoke: {name} = {_seen(fresh)} for the "
            f"invoke's minute, the invoke published {published:g} ({counted})",
            "something else publishes these exact dimensions (an old Lambda, script or schedule "
            "still running), or the publisher's PutMetricData did not land; rerun `python -m "
            "verify metric` to rule out CloudWatch's lag", **values,
        )
    if older is None:
        return failed(CHECK_ID, worker_type,
                      f"no datapoint of {name} in the last 5 min, though the invoke published "
                      f"{published:g} ({counted})", NO_DATAPOINT_HINT, **values)
    return warned(
        CHECK_ID, worker_type,
        f"the invoke's datapoint did not appear in {READ_BACK_S:g}s: {name} = {_seen(older)} at "
        f"{older.timestamp:%H:%M} UTC is older (invoke: {published:g}); {counted}",
        "CloudWatch can lag: rerun `python -m verify metric`; if it persists the publisher's "
        "datapoint does not reach these dimensions (read its log line)", **values,
    )


def _task(ctx: CheckContext, worker_type: str, worker: Worker) -> Task:
    metric = worker.metric
    name = describe_metric(metric)

    def run() -> CheckResult:
        before, source = reference_count(ctx, worker)
        invoked = publisher_probe.invoke(ctx) if ctx.options.invoke else None
        info = invoked.worker_types.get(worker_type) if invoked is not None else None
        if invoked is not None:
            drift = None
            if worker.backlog_api and info is not None and info.source == "sqs":
                drift = url_drift(ctx.outputs.publisher.environment,
                                  publisher_probe.function(ctx).variables)
            verdict = judge_publisher_answer(worker_type, worker, info, drift)
            if verdict is not None:
                return verdict
        after, _ = reference_count(ctx, worker)
        low, high = min(before, after), max(before, after)
        counted = f"{source} backlog {before} before, {after} after"
        if invoked is None or info is None or info.value is None:
            return judge_latest(worker_type, name, latest_datapoint(ctx, metric), low, high,
                                counted, source)
        fresh = read_back(ctx, metric, invoked.at, info.value, READ_BACK_S)
        older = latest_datapoint(ctx, metric) if fresh is None else None
        return judge_invoked(worker_type, name, info.value, info.source, fresh, older,
                             low, high, counted, source)

    return Task(CHECK_ID, worker_type, run)


def tasks(ctx: CheckContext) -> list[Task]:
    return [
        _task(ctx, wt, worker)
        for wt, worker in ctx.outputs.worker_types.items()
        if worker.published
    ]

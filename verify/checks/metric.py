"""`metric`: what the publisher puts in CloudWatch equals the backlog it stands for.

Forces a fresh datapoint by invoking the publisher synchronously (unless --no-invoke), reads
it back with the exact dimensions, and compares it with the count sampled before and after.
"""

import json
import time

from verify.checks.backlog import describe_metric, latest_datapoint, reference_count
from verify.context import CheckContext, Task
from verify.errors import VerifyError
from verify.report import CheckResult, failed, passed

CHECK_ID = "metric"
READ_BACK_S = 8.0


def invoke_publisher(ctx: CheckContext) -> dict:
    """The handler's JSON answer; a BacklogUnavailable error carries the same JSON."""
    function = ctx.outputs["publisher"]["function_name"]
    answer = ctx.aws.client("lambda").invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=b"{}"
    )
    raw = answer["Payload"].read().decode("utf-8", errors="replace")
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise VerifyError(f"publisher {function} answered non-JSON: {raw[:120]}") from None
    if answer.get("FunctionError"):
        message = body.get("errorMessage", "") if isinstance(body, dict) else ""
        try:
            detail = json.loads(message)
        except (ValueError, TypeError):
            raise VerifyError(
                f"publisher {function} failed: {body.get('errorType', 'error')}: {message[:160]}"
            ) from None
        if isinstance(detail, dict) and "worker_types" in detail:
            return detail
        raise VerifyError(f"publisher {function} failed: {message[:160]}")
    if not isinstance(body, dict) or "worker_types" not in body:
        raise VerifyError(f"publisher {function} answered without worker_types: {raw[:120]}")
    return body


def judge_publisher_answer(worker_type: str, worker: dict, answer: dict) -> CheckResult | None:
    """A FAIL when the publisher's own answer already shows the problem, else None."""
    info = (answer.get("worker_types") or {}).get(worker_type)
    if info is None:
        return failed(
            CHECK_ID, worker_type, f"the publisher did not report worker type {worker_type}",
            "its BACKLOG_TARGETS lacks this worker type: `pulumi up`, then `verify publisher`",
        )
    if worker.get("backlog_api") and info.get("source") == "sqs":
        return failed(
            CHECK_ID, worker_type,
            f"the publisher fell back to SQS counts while an API is configured: "
            f"{info.get('reason') or info.get('error') or 'no reason given'}",
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


def _task(ctx: CheckContext, worker_type: str, worker: dict) -> Task:
    metric = worker["metric"]

    def run() -> CheckResult:
        before, source = reference_count(ctx, worker)
        published = None
        if ctx.options.invoke:
            answer = ctx.once("publisher-invoke", lambda: invoke_publisher(ctx))
            verdict = judge_publisher_answer(worker_type, worker, answer)
            if verdict is not None:
                return verdict
            published = answer["worker_types"][worker_type]["value"]
        after, _ = reference_count(ctx, worker)
        low, high = min(before, after), max(before, after)
        # CloudWatch is eventually consistent: poll a few seconds for the forced datapoint.
        budget = READ_BACK_S if published is not None else 0.0
        stop = time.monotonic() + min(budget, ctx.remaining())
        delay = 0.25
        while True:
            point = latest_datapoint(ctx, metric)
            fits = point is not None and (
                low <= point.maximum <= high or low <= point.minimum <= high)
            if fits or time.monotonic() + delay > stop:
                break
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        name = describe_metric(metric)
        counted = f"{source} backlog {before} before, {after} after"
        if point is None:
            return failed(
                CHECK_ID, worker_type, f"no datapoint of {name} in the last 5 min ({counted})",
                "the publisher does not publish these exact dimensions: `python -m verify "
                "publisher` (BACKLOG_TARGETS) and its schedule",
            )
        seen = f"{point.maximum:g}" if point.minimum == point.maximum else \
            f"{point.minimum:g}..{point.maximum:g}"
        evidence = f"{name} = {seen}" + (f" (invoke: {published})" if published is not None else "")
        if not fits:
            return failed(
                CHECK_ID, worker_type, f"{evidence}, but {counted}",
                "the metric does not follow the backlog: check what the publisher counts "
                "(counting.in_flight/delayed in the outputs) and its log line",
            )
        return passed(CHECK_ID, worker_type, f"{evidence}; {counted}")

    return Task(CHECK_ID, worker_type, run)


def tasks(ctx: CheckContext) -> list[Task]:
    return [
        _task(ctx, wt, worker)
        for wt, worker in ctx.outputs["worker_types"].items()
        if worker.get("published")
    ]

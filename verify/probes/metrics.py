"""CloudWatch datapoints and SQS counts: the numbers a backlog is compared with."""

import datetime as dt
import time
from dataclasses import dataclass

from contract.stack_output import Metric, Worker
from verify.context import CheckContext


@dataclass(frozen=True)
class Datapoint:
    timestamp: dt.datetime
    minimum: float
    maximum: float


def latest_datapoint(ctx: CheckContext, metric: Metric, minutes: int = 5,
                     since: dt.datetime | None = None) -> Datapoint | None:
    """The newest 1-minute period of a metric with exactly these dimensions (min and max);
    with `since`, only periods from the minute of `since` on (datapoints at or after it)."""
    now = dt.datetime.now(dt.UTC)
    start = (since.astimezone(dt.UTC).replace(second=0, microsecond=0) if since is not None
             else now - dt.timedelta(minutes=minutes))
    stat = {
        "Metric": {
            "Namespace": metric.namespace,
            "MetricName": metric.name,
            # In the outputs' order, the publisher's order (moto matches dimensions in order).
            "Dimensions": [{"Name": k, "Value": str(v)}
                           for k, v in metric.dimensions.items()],
        },
        "Period": 60,
    }
    answer = ctx.aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {"Id": "lo", "MetricStat": {**stat, "Stat": "Minimum"}, "ReturnData": True},
            {"Id": "hi", "MetricStat": {**stat, "Stat": "Maximum"}, "ReturnData": True},
        ],
        StartTime=start,
        EndTime=now + dt.timedelta(minutes=1),
        ScanBy="TimestampDescending",
    )
    series = {r["Id"]: dict(zip(r.get("Timestamps", []), r.get("Values", []), strict=False))
              for r in answer.get("MetricDataResults", [])}
    lows, highs = series.get("lo", {}), series.get("hi", {})
    if not highs:
        return None
    newest = max(highs)
    return Datapoint(newest, float(lows.get(newest, highs[newest])), float(highs[newest]))


def latest_statistic(ctx: CheckContext, metric: Metric,
                     minutes: int = 5) -> tuple[dt.datetime, float] | None:
    """The newest 1-minute period of a metric with exactly these dimensions, aggregated with
    the statistic its fleet's policy reads it with (`metric.statistic`): the value the policy
    sees for that minute. None when there is no datapoint."""
    now = dt.datetime.now(dt.UTC)
    answer = ctx.aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "policy", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": metric.namespace, "MetricName": metric.name,
                       "Dimensions": [{"Name": k, "Value": str(v)}
                                      for k, v in metric.dimensions.items()]},
            "Period": 60, "Stat": metric.statistic}}],
        StartTime=now - dt.timedelta(minutes=minutes),
        EndTime=now + dt.timedelta(minutes=1),
        ScanBy="TimestampDescending",
    )
    points = {t: v for r in answer.get("MetricDataResults", [])
              for t, v in zip(r.get("Timestamps", []), r.get("Values", []), strict=False)}
    if not points:
        return None
    newest = max(points)
    return newest, float(points[newest])


def sum_metric(ctx: CheckContext, namespace: str, name: str, dimensions: dict[str, str],
               minutes: int) -> float | None:
    """Sum of a metric over the last minutes; None when there is no datapoint at all."""
    now = dt.datetime.now(dt.UTC)
    answer = ctx.aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{
            "Id": "s",
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": name,
                           "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]},
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }],
        StartTime=now - dt.timedelta(minutes=minutes),
        EndTime=now,
    )
    values = [v for r in answer.get("MetricDataResults", []) for v in r.get("Values", [])]
    return sum(values) if values else None


def queue_count(ctx: CheckContext, worker: Worker) -> int:
    """What the publisher counts for a worker type: visible, plus in-flight/delayed if counted."""
    attributes = ctx.aws.client("sqs").get_queue_attributes(
        QueueUrl=worker.queue.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    total = int(attributes.get("ApproximateNumberOfMessages", 0))
    if worker.counting.in_flight:
        total += int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    if worker.counting.delayed:
        total += int(attributes.get("ApproximateNumberOfMessagesDelayed", 0))
    return total


def read_back(ctx: CheckContext, metric: Metric, since: dt.datetime, value: float,
              wait_s: float) -> Datapoint | None:
    """The datapoint of `since`'s minute or later, polled for up to `wait_s` until it holds
    `value` (CloudWatch is eventually consistent); None if no such period appeared."""
    stop = time.monotonic() + min(wait_s, ctx.remaining())
    delay = 0.25
    while True:
        point = latest_datapoint(ctx, metric, since=since)
        if (point is not None and point.minimum <= value <= point.maximum) or (
                time.monotonic() + delay > stop):
            return point
        time.sleep(delay)
        delay = min(delay * 2, 2.0)

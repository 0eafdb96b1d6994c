"""Read backlog numbers: the newest datapoint of a metric, a queue's counts, the API's count."""

import datetime as dt
from dataclasses import dataclass

from verify.checks.api import ask_public_once_reachable
from verify.checks.hosts import api_hosts
from verify.checks.http_probe import ask_on_host
from verify.context import CheckContext
from verify.errors import TransportError, VerifyError


@dataclass(frozen=True)
class Datapoint:
    timestamp: dt.datetime
    minimum: float
    maximum: float


def describe_metric(metric: dict) -> str:
    dims = ",".join(f"{k}={v}" for k, v in sorted(metric.get("dimensions", {}).items()))
    return f"{metric['namespace']}/{metric['name']}{{{dims}}}"


def latest_datapoint(ctx: CheckContext, metric: dict, minutes: int = 5,
                     since: dt.datetime | None = None) -> Datapoint | None:
    """The newest 1-minute period of a metric with exactly these dimensions (min and max);
    with `since`, only periods from the minute of `since` on (datapoints at or after it)."""
    now = dt.datetime.now(dt.UTC)
    start = (since.astimezone(dt.UTC).replace(second=0, microsecond=0) if since is not None
             else now - dt.timedelta(minutes=minutes))
    stat = {
        "Metric": {
            "Namespace": metric["namespace"],
            "MetricName": metric["name"],
            # In the outputs' order, the publisher's order (moto matches dimensions in order).
            "Dimensions": [{"Name": k, "Value": str(v)}
                           for k, v in metric.get("dimensions", {}).items()],
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


def queue_count(ctx: CheckContext, worker: dict) -> int:
    """What the publisher counts for a worker type: visible, plus in-flight/delayed if counted."""
    attributes = ctx.aws.client("sqs").get_queue_attributes(
        QueueUrl=worker["queue"]["url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    total = int(attributes.get("ApproximateNumberOfMessages", 0))
    counting = worker.get("counting") or {}
    if counting.get("in_flight"):
        total += int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    if counting.get("delayed"):
        total += int(attributes.get("ApproximateNumberOfMessagesDelayed", 0))
    return total


def api_count(ctx: CheckContext) -> int:
    """The DB backlog: from the public API with the key, as the publisher reads it, or else on
    an API host (the count is the same; only the path differs, and the api check judges that)."""
    api = ctx.outputs["api"]
    key = ctx.key.get()
    answer = ask_public_once_reachable(ctx, key)
    tried = [f"PUBLIC {answer.evidence(ctx.masker)}"]
    hosts: list[dict] = []
    if answer.status != 200:
        try:
            hosts = api_hosts(ctx)
        except Exception as exc:  # noqa: BLE001 (one more source that failed, said why)
            tried.append(f"API hosts unresolved: {exc}")
    for host in hosts:
        try:
            answer = ask_on_host(ctx.hosts.for_host(host), api["local_base_url"], key,
                                 ctx.call_timeout())
        except TransportError as exc:
            tried.append(f"{host.get('name')}: {exc.reason}")
            continue
        tried.append(f"LOCAL on {host.get('name')} {answer.evidence(ctx.masker)}")
        if answer.status == 200:
            break
    count = answer.backlog() if answer.status == 200 else None
    if count is None:
        raise VerifyError(
            f"cannot read the DB backlog from the API: {'; '.join(tried)}",
            "run `python -m verify api` for which hop fails",
        )
    return count


def reference_count(ctx: CheckContext, worker: dict) -> tuple[int, str]:
    if worker.get("backlog_api"):
        return api_count(ctx), "API"
    return queue_count(ctx, worker), "SQS"

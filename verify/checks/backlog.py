"""The backlog a worker type stands for, where its contract says it is counted (the DB through
the API, or SQS), and how metrics are named in evidence."""

from components.stack_output import Host, Metric, Worker
from verify.checks.api import ask_public_once_reachable
from verify.checks.hosts import api_hosts
from verify.context import CheckContext
from verify.errors import TransportError, VerifyError
from verify.probes.backlog_api import ask_on_host
from verify.probes.metrics import Datapoint, latest_datapoint, queue_count, sum_metric

__all__ = ["Datapoint", "latest_datapoint", "queue_count", "sum_metric", "describe_metric",
           "describe_parts", "api_count", "reference_count"]


def describe_parts(namespace: object, name: object, dimensions: dict) -> str:
    dims = ",".join(f"{k}={v}" for k, v in sorted(dimensions.items()))
    return f"{namespace}/{name}{{{dims}}}"


def describe_metric(metric: Metric) -> str:
    return describe_parts(metric.namespace, metric.name, metric.dimensions)


def api_count(ctx: CheckContext) -> int:
    """The DB backlog: from the public API with the key, as the publisher reads it, or else on
    an API host (the count is the same; only the path differs, and the api check judges that)."""
    api = ctx.outputs.api
    key = ctx.key.get()
    answer = ask_public_once_reachable(ctx, key)
    tried = [f"PUBLIC {answer.evidence(ctx.masker)}"]
    hosts: list[Host] = []
    if answer.status != 200:
        try:
            hosts = api_hosts(ctx)
        except Exception as exc:  # noqa: BLE001 (one more source that failed, said why)
            tried.append(f"API hosts unresolved: {exc}")
    for host in hosts:
        try:
            answer = ask_on_host(ctx.hosts.for_host(host), api.local_base_url, key,
                                 ctx.call_timeout())
        except TransportError as exc:
            tried.append(f"{host.name}: {exc.reason}")
            continue
        tried.append(f"LOCAL on {host.name} {answer.evidence(ctx.masker)}")
        if answer.status == 200:
            break
    count = answer.backlog() if answer.status == 200 else None
    if count is None:
        raise VerifyError(
            f"cannot read the DB backlog from the API: {'; '.join(tried)}",
            "run `python -m verify api` for which hop fails",
        )
    return count


def reference_count(ctx: CheckContext, worker: Worker) -> tuple[int, str]:
    if worker.backlog_source == "api":
        return api_count(ctx), "API"
    return queue_count(ctx, worker), "SQS"

"""How metrics are named in evidence (the counts themselves: verify/probes/backlog.py)."""

from contract.stack_output import Metric


def describe_parts(namespace: object, name: object, dimensions: dict) -> str:
    dims = ",".join(f"{k}={v}" for k, v in sorted(dimensions.items()))
    return f"{namespace}/{name}{{{dims}}}"


def describe_metric(metric: Metric) -> str:
    return describe_parts(metric.namespace, metric.name, metric.dimensions)

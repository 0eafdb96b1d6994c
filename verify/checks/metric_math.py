"""Reading the metric-math queries of a target-tracking policy or an alarm: which read the
published backlog, which the group's in-service instances, which anything else."""

import re
from dataclasses import dataclass, field

from contract.stack_output import Metric
from verify.checks.backlog import describe_parts

IN_SERVICE = "GroupInServiceInstances"


def dims(metric: dict) -> dict[str, str]:
    """AWS's `[{"Name", "Value"}]` dimensions as a dict."""
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions") or []}


def wanted_dims(metric: Metric) -> dict[str, str]:
    """The stack output's dimensions as AWS compares them (strings)."""
    return {k: str(v) for k, v in metric.dimensions.items()}


def describe_aws_metric(metric: dict) -> str:
    return describe_parts(metric.get("Namespace"), metric.get("MetricName"), dims(metric))


@dataclass
class QueryReading:
    backlog_ids: list[str] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # what else is read, described
    returned: list[dict] = field(default_factory=list)  # expressions whose value is the result


def read_queries(queries: list[dict], metric: Metric, group: str) -> QueryReading:
    reading = QueryReading()
    for query in queries:
        stat = query.get("MetricStat")
        if not stat:
            if query.get("ReturnData", True) and query.get("Expression"):
                reading.returned.append(query)
            continue
        seen = stat["Metric"]
        if seen.get("Namespace") == "AWS/AutoScaling" and seen.get("MetricName") == IN_SERVICE:
            if dims(seen) == {"AutoScalingGroupName": group}:
                reading.instance_ids.append(query["Id"])
            else:
                reading.others.append(f"{IN_SERVICE} of {dims(seen)}")
        elif (seen.get("Namespace"), seen.get("MetricName"), dims(seen)) == (
            metric.namespace, metric.name, wanted_dims(metric)
        ):
            reading.backlog_ids.append(query["Id"])
        else:
            reading.others.append(describe_aws_metric(seen))
    return reading


def canonical(expression: str, backlog_id: str, instance_id: str) -> str:
    """The expression with its ids named by role and no whitespace, so `m1 / m2` and
    `backlog/instances` compare equal when they read the same metrics."""
    for query_id, role in ((backlog_id, "\0BACKLOG"), (instance_id, "\0INSTANCES")):
        expression = re.sub(rf"\b{re.escape(query_id)}\b", role, expression)
    return re.sub(r"\s", "", expression)

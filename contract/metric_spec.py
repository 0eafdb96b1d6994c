"""The backlog metric of one worker type: what the publisher publishes and the policy reads.

Both the publisher's configuration and the fleet's scaling policy are built from this one
object, so they cannot name different metrics (docs/INCIDENTS.md, incident #1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The statistic the policy (and the wake alarm) reads the backlog with. Average: a
# once-a-minute gauge keeps its level if a retried publish lands twice (Sum doubles it), and
# Maximum would see a passing peak the policy never acts on.
DEFAULT_STATISTIC = "Average"


@dataclass(frozen=True)
class BacklogMetricSpec:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str = "Count"
    # How the policy aggregates a minute's datapoints; verify judges capacity with the same.
    statistic: str = DEFAULT_STATISTIC

    def identity(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """What CloudWatch tells metrics apart by: namespace, name and the dimensions (in any
        order). Two worker types with one identity would read each other's backlog."""
        return self.namespace, self.name, tuple(sorted(self.dimensions))

    def as_dict(self) -> dict[str, Any]:
        """The publisher's view (BACKLOG_TARGETS): what it publishes, not how it is read."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "dimensions": dict(self.dimensions),
            "unit": self.unit,
        }

    def cloudwatch_dimensions(self) -> list[dict[str, str]]:
        """Dimensions in the shape PutMetricData and GetMetricData take."""
        return [{"Name": k, "Value": v} for k, v in self.dimensions]

"""The backlog metric of one worker type: what the publisher publishes and the policy reads.

Both the publisher's configuration and the fleet's scaling policy are built from this one
object, so they cannot name different metrics (docs/INCIDENTS.md, incident #1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BacklogMetricSpec:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str = "Count"

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "dimensions": dict(self.dimensions),
            "unit": self.unit,
        }

    def cloudwatch_dimensions(self) -> list[dict[str, str]]:
        """Dimensions in the shape PutMetricData and GetMetricData take."""
        return [{"Name": k, "Value": v} for k, v in self.dimensions]

"""The publisher's configuration: the environment components/publisher.py sets, parsed
and checked (docs/CONTRACTS.md, "Publisher environment"). Stdlib only, nothing done at import.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backlog_count import DEFAULT_MAX_COUNT, MAX_COUNT_LIMIT

DEFAULT_API_TIMEOUT_S = 3.0


class PublisherConfigError(ValueError):
    """The environment set by the infrastructure code is missing or malformed."""


@dataclass(frozen=True)
class MetricTarget:
    namespace: str
    name: str
    dimensions: dict[str, str]
    unit: str


@dataclass(frozen=True)
class BacklogTarget:
    worker_type: str
    queue_url: str
    metric: MetricTarget
    count_in_flight: bool
    count_delayed: bool
    use_backlog_api: bool


@dataclass(frozen=True)
class PublisherSettings:
    targets: tuple[BacklogTarget, ...]
    api_base_url: str
    api_path: str
    key_parameter: str
    api_timeout_s: float
    api_max_count: int = DEFAULT_MAX_COUNT



def _require(entry: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = entry.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        expected = {str: "a non-empty string", bool: "true or false", dict: "an object"}[kind]
        raise PublisherConfigError(
            f"BACKLOG_TARGETS {where}: '{key}' must be {expected}, got {value!r}; "
            "fix the environment set by components/publisher.py (docs/CONTRACTS.md)"
        )
    return value


def _parse_target(entry: Any, index: int) -> BacklogTarget:
    where = f"entry {index}"
    if not isinstance(entry, dict):
        raise PublisherConfigError(f"BACKLOG_TARGETS {where} must be an object, got {entry!r}")
    metric = _require(entry, "metric", dict, where)
    mwhere = f"{where} metric"
    dimensions = _require(metric, "dimensions", dict, mwhere)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in dimensions.items()):
        raise PublisherConfigError(f"BACKLOG_TARGETS {mwhere}: dimensions must map str to str")
    return BacklogTarget(
        worker_type=_require(entry, "worker_type", str, where),
        queue_url=_require(entry, "queue_url", str, where),
        metric=MetricTarget(
            namespace=_require(metric, "namespace", str, mwhere),
            name=_require(metric, "name", str, mwhere),
            dimensions=dict(dimensions),
            unit=_require(metric, "unit", str, mwhere),
        ),
        count_in_flight=_require(entry, "count_in_flight", bool, where),
        count_delayed=_require(entry, "count_delayed", bool, where),
        use_backlog_api=bool(entry.get("use_backlog_api", False)),
    )


def load_settings(environ: Mapping[str, str] = os.environ) -> PublisherSettings:
    raw = environ.get("BACKLOG_TARGETS", "")
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PublisherConfigError(
            f"BACKLOG_TARGETS is not valid JSON ({exc.msg} at position {exc.pos}); "
            "it must be a JSON list of targets, see docs/CONTRACTS.md"
        ) from None
    if not isinstance(entries, list):
        raise PublisherConfigError("BACKLOG_TARGETS must be a JSON list of targets")
    targets = tuple(_parse_target(entry, i) for i, entry in enumerate(entries))

    base_url = environ.get("BACKLOG_API_BASE_URL", "").strip().rstrip("/")
    if base_url and not base_url.startswith(("https://", "http://")):
        raise PublisherConfigError(
            f"BACKLOG_API_BASE_URL must start with https:// or http://, got {base_url!r}"
        )
    api_path = environ.get("BACKLOG_API_PATH", "").strip()
    if base_url and not api_path.startswith("/"):
        raise PublisherConfigError(
            f"BACKLOG_API_PATH must be the backlog endpoint's path, starting with '/', "
            f"got {api_path!r}"
        )
    timeout_raw = environ.get("BACKLOG_API_TIMEOUT_S", "") or str(DEFAULT_API_TIMEOUT_S)
    try:
        timeout = float(timeout_raw)
    except ValueError:
        timeout = -1.0
    if timeout <= 0:
        raise PublisherConfigError(
            f"BACKLOG_API_TIMEOUT_S must be a positive number of seconds, got {timeout_raw!r}"
        )
    max_raw = environ.get("BACKLOG_API_MAX_COUNT", "").strip() or str(DEFAULT_MAX_COUNT)
    if not re.fullmatch(r"[0-9]{1,8}", max_raw) or not 1 <= int(max_raw) <= MAX_COUNT_LIMIT:
        raise PublisherConfigError(
            f"BACKLOG_API_MAX_COUNT must be a whole number from 1 to {MAX_COUNT_LIMIT}, "
            f"got {max_raw[:40]!r}; it is the setting backlogApiMaxCount (docs/CONTRACTS.md)"
        )
    return PublisherSettings(
        targets=targets,
        api_base_url=base_url,
        api_path=api_path,
        key_parameter=environ.get("INTERNAL_KEY_PARAMETER", "").strip(),
        api_timeout_s=timeout,
        api_max_count=int(max_raw),
    )

"""Backlog publisher: counts each worker type's backlog and publishes it to CloudWatch.

Everything it names comes from the environment set by components/publisher.py
(see docs/CONTRACTS.md, "Publisher environment"); the handler holds no metric names.
Stdlib + boto3 only: the archive ships nothing the Lambda runtime does not.

Never publishes a false zero: a worker type whose count cannot be read from any source is
left out (target tracking holds still) and the invocation ends in BacklogUnavailable so
the function's Errors metric fires. PutMetricData takes one namespace per call, so the
values go out in one call per namespace (one call when all targets share a namespace).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

KEY_HEADER = "X-Internal-Key"
DEFAULT_API_TIMEOUT_S = 3.0
QUEUE_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)

logger = logging.getLogger("queue_depth")
logger.setLevel(logging.INFO)
# botocore at DEBUG logs response bodies, which would include the decrypted internal key.
logging.getLogger("botocore").setLevel(logging.WARNING)

_AWS_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2})


class BacklogUnavailable(Exception):
    """At least one worker type had no count from any source; the message is the result JSON."""


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


@dataclass
class WorkerResult:
    """One worker type's line in the return value; every field a person debugging needs."""

    visible: int | None = None
    in_flight: int | None = None
    delayed: int | None = None
    api_count: int | None = None
    value: int | None = None
    source: str | None = None
    reason: str | None = None
    error: str | None = None
    counting: dict[str, bool] = field(default_factory=dict)


# Created once per container, lazily so tests can point them at a local endpoint first.
_clients: dict[str, Any] = {}
_internal_key: str | None = None


def reset_container() -> None:
    """Forget the cached clients and key, as a fresh Lambda container would."""
    global _internal_key
    _clients.clear()
    _internal_key = None


def _client(service: str) -> Any:
    if service not in _clients:
        _clients[service] = boto3.client(service, config=_AWS_CONFIG)
    return _clients[service]


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
    return PublisherSettings(
        targets=targets,
        api_base_url=base_url,
        api_path=api_path,
        key_parameter=environ.get("INTERNAL_KEY_PARAMETER", "").strip(),
        api_timeout_s=timeout,
    )


def _aws_error(service: str, exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{service}: {err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
    return f"{service}: {type(exc).__name__}: {exc}"


def _read_queue(target: BacklogTarget, result: WorkerResult) -> bool:
    try:
        response = _client("sqs").get_queue_attributes(
            QueueUrl=target.queue_url, AttributeNames=list(QUEUE_ATTRIBUTES)
        )
        attrs = response.get("Attributes", {})
        visible, in_flight, delayed = (int(attrs[name]) for name in QUEUE_ATTRIBUTES)
    except (ClientError, BotoCoreError) as exc:
        result.error = _aws_error("sqs", exc)
        return False
    except (KeyError, ValueError) as exc:
        result.error = f"sqs: unexpected attributes: {exc}"
        return False
    result.visible, result.in_flight, result.delayed = visible, in_flight, delayed
    return True


def _internal_api_key(parameter: str) -> str:
    global _internal_key
    if _internal_key is None:
        response = _client("ssm").get_parameter(Name=parameter, WithDecryption=True)
        _internal_key = response["Parameter"]["Value"]
    return _internal_key


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would carry the key to another host; report it instead of following it.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


REFUSED_BY_HEADER = "X-Refused-By"  # nginx marks the 403 it gives a request with no key


def _http_reason(status: int, refused_by: str | None = None) -> str:
    if status == 403 and refused_by:
        return f"HTTP 403 from {refused_by}: the key did not reach it (dropped before it)"
    if status == 403:
        return "HTTP 403: key rejected or dropped by a proxy"
    if 300 <= status < 400:
        return f"HTTP {status}: redirect not followed"
    return f"HTTP {status}"


def _fetch_api_count(settings: PublisherSettings) -> tuple[int | None, str | None]:
    """(count, None) on success, (None, reason) on any failure; the reason never holds the key.

    A 403 with a key cached by an earlier invocation re-reads the parameter once: after a
    key rotation a warm container would otherwise fall back to SQS counts until recycled.
    """
    global _internal_key
    if not settings.key_parameter:
        return None, "INTERNAL_KEY_PARAMETER is not set"
    was_cached = _internal_key is not None
    count, reason, status = _ask_api(settings)
    if status == 403 and was_cached:
        _internal_key = None
        count, reason, status = _ask_api(settings)
    return count, reason


def _ask_api(settings: PublisherSettings) -> tuple[int | None, str | None, int | None]:
    """One request: (count, reason, HTTP status when there was one)."""
    try:
        key = _internal_api_key(settings.key_parameter)
    except (ClientError, BotoCoreError, KeyError) as exc:
        return None, f"internal key unavailable: {_aws_error('ssm', exc)}", None
    request = urllib.request.Request(  # noqa: S310 - scheme checked in load_settings
        settings.api_base_url + settings.api_path,
        headers={KEY_HEADER: key, "Accept": "application/json"},
        method="GET",
    )
    try:
        with _opener.open(request, timeout=settings.api_timeout_s) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as exc:
        return None, _http_reason(exc.code, exc.headers.get(REFUSED_BY_HEADER)), exc.code
    except TimeoutError:
        return None, f"timeout after {settings.api_timeout_s:g}s", None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return None, f"timeout after {settings.api_timeout_s:g}s", None
        return None, f"unreachable: {exc.reason}", None
    except OSError as exc:
        return None, f"connection error: {type(exc).__name__}: {exc}", None
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "bad response: body is not JSON", 200
    count = payload.get("backlog") if isinstance(payload, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return None, "bad response: expected {\"backlog\": <non-negative int>}", 200
    return count, None, 200


def _count(target: BacklogTarget, settings: PublisherSettings) -> WorkerResult:
    result = WorkerResult(
        counting={"in_flight": target.count_in_flight, "delayed": target.count_delayed}
    )
    sqs_ok = _read_queue(target, result)
    sqs_value = None
    if sqs_ok:
        sqs_value = result.visible or 0
        if target.count_in_flight:
            sqs_value += result.in_flight or 0
        if target.count_delayed:
            sqs_value += result.delayed or 0

    if target.use_backlog_api:
        if settings.api_base_url:
            result.api_count, result.reason = _fetch_api_count(settings)
        else:
            result.reason = "BACKLOG_API_BASE_URL is empty"
        if result.api_count is not None:
            # The DB counts videos, not messages: duplicates in flight do not inflate it.
            result.value, result.source = result.api_count, "api"
            return result

    if sqs_value is not None:
        result.value, result.source = sqs_value, "sqs"
    elif result.reason:
        result.error = f"{result.error}; backlog API: {result.reason}"
    return result


def _publish(
    targets: tuple[BacklogTarget, ...], results: dict[str, WorkerResult]
) -> list[str]:
    by_namespace: dict[str, list[BacklogTarget]] = {}
    for target in targets:
        if results[target.worker_type].value is not None:
            by_namespace.setdefault(target.metric.namespace, []).append(target)
    published: list[str] = []
    for namespace, members in by_namespace.items():
        metric_data = [
            {
                "MetricName": t.metric.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in t.metric.dimensions.items()],
                "Unit": t.metric.unit,
                "Value": float(results[t.worker_type].value or 0),
            }
            for t in members
        ]
        try:
            _client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=metric_data)
        except (ClientError, BotoCoreError) as exc:
            for t in members:
                results[t.worker_type].error = _aws_error("cloudwatch", exc)
            continue
        published.extend(t.worker_type for t in members)
    return published


def run(settings: PublisherSettings) -> dict[str, Any]:
    """Count, publish and return the debug payload (the handler minus logging and raising)."""
    results = {t.worker_type: _count(t, settings) for t in settings.targets}
    published = _publish(settings.targets, results)
    return {
        "ok": len(published) == len(settings.targets),
        "published": published,
        "worker_types": {wt: asdict(r) for wt, r in results.items()},
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    payload = run(load_settings())
    line = json.dumps(payload, sort_keys=True)
    logger.log(logging.INFO if payload["ok"] else logging.ERROR, line)
    if not payload["ok"]:
        raise BacklogUnavailable(line)
    return payload

"""Backlog publisher: counts each worker type's backlog and publishes it to CloudWatch.

Everything it names comes from the environment set by components/publisher.py
(see docs/CONTRACTS.md, "Publisher environment"); the handler holds no metric names.
Stdlib + boto3 only: the archive ships nothing the Lambda runtime does not.

Never publishes a false zero: a worker type whose count cannot be read from any source is
left out (target tracking holds still) and the invocation ends in BacklogUnavailable so
the function's Errors metric fires. PutMetricData takes one namespace per call, so the
values go out in one call per namespace (one call when all targets share a namespace).

No single source can stop the others: each type's count, each source of it and each
namespace's publish fail on their own (a fallback or an error with its reason), and the
JSON log line is written whatever happens. The backlog API gets one total deadline, a
4 KB answer at most, no redirect, and only `{"backlog": <integer 0..BACKLOG_API_MAX_COUNT>}`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

KEY_HEADER = "X-Internal-Key"
REFUSED_BY_HEADER = "X-Refused-By"  # nginx marks the 403 it gives a request with no key
DEFAULT_API_TIMEOUT_S = 3.0
DEFAULT_MAX_COUNT = 100_000  # Pulumi.yaml's backlogApiMaxCount default (guarded by a test)
MAX_COUNT_LIMIT = 10_000_000  # the setting's own upper limit in components/settings.py
MAX_BODY_BYTES = 4096  # {"backlog": N} is a few bytes: a longer answer is not a count
MAX_INT_DIGITS = 20  # longer integers are never converted (int() refuses > 4300 digits)
MAX_REASON_CHARS = 300
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
    api_max_count: int = DEFAULT_MAX_COUNT


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


def _masked(text: str, *secrets: str | None) -> str:
    """The text without any form of the secrets, then cut to a readable length."""
    for secret in secrets:
        if secret:
            for form in {secret, secret.strip(), repr(secret)[1:-1]} - {""}:
                text = text.replace(form, "***")
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def _unexpected(source: str, exc: Exception) -> str:
    return _masked(f"{source}: unexpected {type(exc).__name__}: {exc}", _internal_key)


def _usable_as_header(key: str) -> bool:
    # http.client refuses CR/LF in a header and its error message quotes the value.
    return bool(key) and key.isascii() and key.isprintable() and key == key.strip()


@dataclass(frozen=True)
class _HttpAnswer:
    status: int
    location: str | None
    refused_by: str | None
    body: bytes  # at most MAX_BODY_BYTES + 1 bytes: one more means "too long"


class _NoAnswer(Exception):
    """The request got no HTTP answer; the message is the fallback reason."""


def _cut(conn: http.client.HTTPConnection) -> None:
    # shutdown(2) on the raw socket wakes a read blocked in the worker thread (TLS too).
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the worker
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _get(url: str, headers: dict[str, str], timeout_s: float) -> _HttpAnswer:
    """One GET within one total deadline: name lookup, connect, headers and body together.

    Socket timeouts apply per operation, so a body dripped a byte at a time would never time
    out; the request runs in a thread instead and is cut off at the deadline. http.client
    never follows a redirect, so the key goes to this URL's host only.
    """
    parts = urllib.parse.urlsplit(url)
    connection = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = connection(parts.hostname or "", parts.port, timeout=timeout_s)
    outcome: list[_HttpAnswer | _NoAnswer] = []

    def ask() -> None:
        stage = "unreachable"
        try:
            conn.connect()
            stage = "connection error"
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                         headers=headers)
            response = conn.getresponse()
            body = response.read(MAX_BODY_BYTES + 1)
            if len(body) <= MAX_BODY_BYTES and response.length:  # ended before its length
                raise http.client.IncompleteRead(body, response.length)
            outcome.append(_HttpAnswer(
                response.status, response.getheader("Location"),
                response.getheader(REFUSED_BY_HEADER), body,
            ))
        except http.client.HTTPException as exc:  # not HTTP, cut short, ...
            outcome.append(_NoAnswer(f"bad response: {type(exc).__name__}"))
        except TimeoutError:
            outcome.append(_NoAnswer(f"timeout after {timeout_s:g}s"))
        except OSError as exc:
            detail = str(exc) if stage == "unreachable" else f"{type(exc).__name__}: {exc}"
            outcome.append(_NoAnswer(f"{stage}: {detail}"))
        except Exception as exc:  # handed back to the caller as a reason, never raised
            outcome.append(_NoAnswer(f"request failed: {type(exc).__name__}: {exc}"))
        finally:
            conn.close()

    worker = threading.Thread(target=ask, name="backlog-api", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        _cut(conn)
        raise _NoAnswer(f"timeout after {timeout_s:g}s")
    if isinstance(outcome[0], _NoAnswer):
        raise outcome[0]
    return outcome[0]


def _redirect_target(url: str, location: str | None) -> str:
    """Host[:port] a redirect points at (no user info, no path: they may hold anything)."""
    if not location:
        return "(no Location)"
    try:
        netloc = urllib.parse.urlsplit(urllib.parse.urljoin(url, location)).netloc
    except ValueError:
        return "(unparsable Location)"
    return netloc.rpartition("@")[2]


def _http_reason(answer: _HttpAnswer, url: str) -> str:
    status = answer.status
    if status == 403 and answer.refused_by:
        return f"HTTP 403 from {answer.refused_by}: the key did not reach it (dropped before it)"
    if status == 403:
        return "HTTP 403: key rejected or dropped by a proxy"
    if 300 <= status < 400:
        return f"HTTP {status}: redirect to {_redirect_target(url, answer.location)} not followed"
    return f"HTTP {status}"


class NotACount(ValueError):
    """The body is not a count we believe; the message says why."""


@dataclass(frozen=True)
class _LongInteger:
    """An integer too long to convert: only its length is kept."""

    digits: int


def _parse_int(text: str) -> int | _LongInteger:
    digits = len(text.lstrip("-"))
    return _LongInteger(digits) if digits > MAX_INT_DIGITS else int(text)


def _refuse_constant(name: str) -> Any:
    raise NotACount(f"{name} is not JSON")


_KINDS = {bool: "a boolean", str: "a string", float: "a float", type(None): "null",
          list: "a list", dict: "an object"}


def parse_count(body: bytes, bound: int) -> int:
    """The count of a `{"backlog": N}` body with N a JSON integer, 0 <= N <= bound."""
    if len(body) > MAX_BODY_BYTES:
        raise NotACount(f"body over {MAX_BODY_BYTES} bytes")
    try:
        payload = json.loads(body, parse_int=_parse_int, parse_constant=_refuse_constant)
    except NotACount:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, deep nesting
        raise NotACount("body is not JSON") from None
    shape = 'expected {"backlog": <integer>}'
    if not isinstance(payload, dict):
        raise NotACount(f"{shape}, got {_KINDS.get(type(payload), 'something else')}")
    if "backlog" not in payload:
        raise NotACount(f'{shape}, got no "backlog"')
    count = payload["backlog"]
    if isinstance(count, _LongInteger):
        raise NotACount(f"backlog has {count.digits} digits; at most {bound} is believed "
                         "(BACKLOG_API_MAX_COUNT)")
    if isinstance(count, bool) or not isinstance(count, int):
        kind = _KINDS.get(type(count), "something else")
        raise NotACount(f"backlog must be a JSON integer, got {kind}")
    if count < 0:
        raise NotACount(f"backlog {count} is negative")
    if count > bound:
        raise NotACount(f"backlog {count} is above BACKLOG_API_MAX_COUNT ({bound})")
    return count


def _fetch_api_count(settings: PublisherSettings) -> tuple[int | None, str | None]:
    """(count, None) on success, (None, reason) on any failure; the reason never holds the key.

    A 403 with a key cached by an earlier invocation re-reads the parameter once: after a
    key rotation a warm container would otherwise fall back to SQS counts until recycled.
    Both requests share the one deadline.
    """
    global _internal_key
    if not settings.key_parameter:
        return None, "INTERNAL_KEY_PARAMETER is not set"
    deadline = time.monotonic() + settings.api_timeout_s
    was_cached = _internal_key is not None
    count, reason, status = _ask_api(settings, deadline)
    if status == 403 and was_cached:
        _internal_key = None
        count, reason, status = _ask_api(settings, deadline)
    return count, reason


def _ask_api(
    settings: PublisherSettings, deadline: float
) -> tuple[int | None, str | None, int | None]:
    """One request: (count, reason, HTTP status when there was one)."""
    try:
        key = _internal_api_key(settings.key_parameter)
    except (ClientError, BotoCoreError, KeyError) as exc:
        return None, f"internal key unavailable: {_aws_error('ssm', exc)}", None
    if not _usable_as_header(key):
        return None, (
            "internal key unusable: the parameter's value is not a valid header value "
            "(empty, surrounding whitespace, control or non-ASCII characters); set it again "
            "with `pulumi config set --secret internalApiKey` and `pulumi up`"
        ), None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None, f"timeout after {settings.api_timeout_s:g}s", None
    url = settings.api_base_url + settings.api_path
    try:
        answer = _get(url, {KEY_HEADER: key, "Accept": "application/json"}, remaining)
    except _NoAnswer as exc:
        reason = str(exc)
        if reason.startswith("timeout"):  # the deadline, not what was left of it
            reason = f"timeout after {settings.api_timeout_s:g}s"
        return None, _masked(reason, key), None
    if answer.status != 200:
        return None, _masked(_http_reason(answer, url), key), answer.status
    try:
        return parse_count(answer.body, settings.api_max_count), None, 200
    except NotACount as exc:
        return None, _masked(f"bad response: {exc}", key), 200


def _count(target: BacklogTarget, settings: PublisherSettings) -> WorkerResult:
    result = WorkerResult(
        counting={"in_flight": target.count_in_flight, "delayed": target.count_delayed}
    )
    sqs_value = None
    try:  # each source on its own: a failure nobody foresaw costs that source only
        if _read_queue(target, result):
            sqs_value = result.visible or 0
            if target.count_in_flight:
                sqs_value += result.in_flight or 0
            if target.count_delayed:
                sqs_value += result.delayed or 0
    except Exception as exc:
        result.error = _unexpected("sqs", exc)

    if target.use_backlog_api:
        if settings.api_base_url:
            try:
                result.api_count, result.reason = _fetch_api_count(settings)
            except Exception as exc:
                result.api_count, result.reason = None, _unexpected("backlog API", exc)
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


def _count_alone(target: BacklogTarget, settings: PublisherSettings) -> WorkerResult:
    """This type's count; whatever goes wrong in it is this type's error, not everyone's."""
    try:
        return _count(target, settings)
    except Exception as exc:
        return WorkerResult(
            counting={"in_flight": target.count_in_flight, "delayed": target.count_delayed},
            error=_unexpected("count", exc),
        )


def _publish(
    targets: tuple[BacklogTarget, ...], results: dict[str, WorkerResult]
) -> list[str]:
    by_namespace: dict[str, list[BacklogTarget]] = {}
    for target in targets:
        if results[target.worker_type].value is not None:
            by_namespace.setdefault(target.metric.namespace, []).append(target)
    published: list[str] = []
    for namespace, members in by_namespace.items():
        try:  # one namespace's failure leaves the other namespaces' calls alone
            _client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=[
                {
                    "MetricName": t.metric.name,
                    "Dimensions": [{"Name": k, "Value": v}
                                   for k, v in t.metric.dimensions.items()],
                    "Unit": t.metric.unit,
                    "Value": float(results[t.worker_type].value or 0),
                }
                for t in members
            ])
        except (ClientError, BotoCoreError) as exc:
            error = _aws_error("cloudwatch", exc)
        except Exception as exc:
            error = _unexpected("cloudwatch", exc)
        else:
            published.extend(t.worker_type for t in members)
            continue
        for t in members:
            results[t.worker_type].error = error
    return published


def run(settings: PublisherSettings) -> dict[str, Any]:
    """Count, publish and return the debug payload (the handler minus logging and raising)."""
    results = {t.worker_type: _count_alone(t, settings) for t in settings.targets}
    published = _publish(settings.targets, results)
    return {
        "ok": len(published) == len(settings.targets),
        "published": published,
        "worker_types": {wt: asdict(r) for wt, r in results.items()},
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = load_settings()
    payload: dict[str, Any] = {"ok": False, "published": [], "worker_types": {}}
    try:
        payload = run(settings)
    finally:  # the one JSON line is written even if run itself fails
        line = json.dumps(payload, sort_keys=True)
        logger.log(logging.INFO if payload["ok"] else logging.ERROR, line)
    if not payload["ok"]:
        raise BacklogUnavailable(line)
    return payload

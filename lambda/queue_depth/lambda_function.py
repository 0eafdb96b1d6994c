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
4 KB body and 16 KiB off the socket at most (read here, not by http.client, whatever the
answer claims its length is), no redirect, and only `{"backlog": <integer
0..BACKLOG_API_MAX_COUNT>}` with no key twice.

This file is the handler (`lambda_function.handler`): the clients, the key, the logging
setup. Its parts, one file each in the archive: backlog_count.py (the count rule, pure),
backlog_http.py (the deadline-bounded read of the API), publisher_config.py (the environment).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backlog_count import QUEUE_ATTRIBUTES, NotACount, parse_count, sqs_backlog
from backlog_http import NoAnswer, get, http_reason
from publisher_config import BacklogTarget, PublisherSettings, load_settings

KEY_HEADER = "X-Internal-Key"
MAX_REASON_CHARS = 300

logger = logging.getLogger("queue_depth")
logger.setLevel(logging.INFO)
# botocore at DEBUG logs response bodies, which would include the decrypted internal key.
logging.getLogger("botocore").setLevel(logging.WARNING)

_AWS_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2})


class BacklogUnavailable(Exception):
    """At least one worker type had no count from any source; the message is the result JSON."""


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
    # A CR/LF would end the header (and smuggle others); an error message could quote it.
    return bool(key) and key.isascii() and key.isprintable() and key == key.strip()




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
        answer = get(url, {KEY_HEADER: key, "Accept": "application/json"}, remaining)
    except NoAnswer as exc:
        reason = str(exc)
        if reason.startswith("timeout"):  # the deadline, not what was left of it
            reason = f"timeout after {settings.api_timeout_s:g}s"
        return None, _masked(reason, key), None
    if answer.status != 200:
        return None, _masked(http_reason(answer, url), key), answer.status
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
            sqs_value = sqs_backlog(result.visible or 0, result.in_flight or 0,
                                    result.delayed or 0, count_in_flight=target.count_in_flight,
                                    count_delayed=target.count_delayed)
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

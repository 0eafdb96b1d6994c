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
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import ssl
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
MAX_ANSWER_BYTES = 16384  # all an answer may take off the socket: head, framing and body
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
    # A CR/LF would end the header (and smuggle others); an error message could quote it.
    return bool(key) and key.isascii() and key.isprintable() and key == key.strip()


@dataclass(frozen=True)
class _HttpAnswer:
    status: int
    location: str | None
    refused_by: str | None
    body: bytes  # a 200's body, at most MAX_BODY_BYTES; empty for any other status


class _NoAnswer(Exception):
    """The request got no HTTP answer; the message is the fallback reason."""


class _BadAnswer(Exception):
    """The answer breaks HTTP/1.1's framing or a bound; the message says how."""


# The answer is read by this file, not http.client: http.client believes a chunk size of -1
# (int("-1", 16)) and then reads to the end of the stream, and takes "0200", "+200" and
# "2_00" for 200 (int() of the status). Everything below is bounded: the bytes taken from the
# socket (status line, headers, chunk framing, trailers and body together) and the deadline.
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [\t\x20-\x7e\x80-\xff]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_DIGITS = re.compile(r"[0-9]+")
_TARGET = re.compile(r"/[\x21-\x7e]*")  # a request line's target: no space, control or non-ASCII


def _shown(raw: bytes, limit: int = 40) -> str:
    """A piece of the answer for a reason: quoted, escaped, cut."""
    return repr(raw[:limit].decode("latin-1"))


class _Wire:
    """The answer's bytes, read off the socket on demand: at most MAX_ANSWER_BYTES in all,
    and never a read past the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline
        self.buffer = bytearray()
        self.received = 0

    def _more(self) -> bool:
        """Reads once more; False at the end of the stream."""
        room = MAX_ANSWER_BYTES - self.received
        if room <= 0:
            raise _BadAnswer(f"answer over {MAX_ANSWER_BYTES} bytes")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        data = self.sock.recv(min(room, 4096))
        self.received += len(data)
        self.buffer += data
        return bool(data)

    def line(self, what: str) -> bytes:
        """The next line without its CRLF (a bare LF is taken too, as http.client does)."""
        while (end := self.buffer.find(b"\n")) < 0:
            if not self._more():
                raise _BadAnswer(f"answer ended inside the {what}" if self.received
                                 else "connection closed without an answer")
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        return line[:-1] if line.endswith(b"\r") else line

    def exactly(self, size: int, what: str) -> bytes:
        while len(self.buffer) < size:
            if not self._more():
                raise _BadAnswer(f"answer ended after {len(self.buffer)} of the {size} bytes "
                                 f"of the {what}")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def to_the_end(self) -> bytes:
        """The rest of the stream (no length given: the answer ends when the server closes)."""
        while len(self.buffer) <= MAX_BODY_BYTES:
            if not self._more():
                return bytes(self.buffer)
        raise _BadAnswer(f"body over {MAX_BODY_BYTES} bytes")


def status_code(line: bytes) -> int | None:
    """The status of an HTTP/1.x status line (without its CRLF), or None when it is not one:
    exactly three ASCII digits, so not 0200, +200, 2_00 or fullwidth digits (verify's rule
    too, verify/publisher_rules.py)."""
    match = _STATUS_LINE.fullmatch(line)
    return None if match is None else int(match.group(1))


def _status(wire: _Wire) -> int:
    line = wire.line("status line")
    status = status_code(line)
    if status is None:
        raise _BadAnswer(f"status line {_shown(line)} is not HTTP/1.x and a 3-digit status")
    return status


def _fields(wire: _Wire, what: str) -> dict[str, list[str]]:
    """Header (or trailer) lines up to the empty line: lower-case name -> its values."""
    found: dict[str, list[str]] = {}
    while line := wire.line(what):
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):  # a folded line starts with a space
            raise _BadAnswer(f"{what} line {_shown(line)} is not a header")
        found.setdefault(name.decode("ascii").lower(), []).append(
            value.strip(b" \t").decode("latin-1"))
    return found


def _content_length(values: list[str]) -> int:
    lengths = {v.strip() for value in values for v in value.split(",")}
    if len(lengths) != 1:
        raise _BadAnswer("Content-Length given more than once, differently")
    length = lengths.pop()
    if not _DIGITS.fullmatch(length):
        raise _BadAnswer(f"Content-Length {length[:40]!r} is not a length")
    if len(length.lstrip("0")) > len(str(MAX_BODY_BYTES)) or int(length) > MAX_BODY_BYTES:
        raise _BadAnswer(f"body over {MAX_BODY_BYTES} bytes")
    return int(length)


def _chunked(wire: _Wire) -> bytes:
    body = bytearray()
    while True:
        size_field = wire.line("chunk size").partition(b";")[0].rstrip(b" \t")  # no extension
        if not _HEX.fullmatch(size_field):  # "-1", "+1", "0x1", " 1", "" ...
            raise _BadAnswer(f"chunk size {_shown(size_field, 20)} is not a hex number")
        significant = size_field.lstrip(b"0")
        if len(significant) > 4 or len(body) + int(significant or b"0", 16) > MAX_BODY_BYTES:
            raise _BadAnswer(f"body over {MAX_BODY_BYTES} bytes")
        size = int(significant or b"0", 16)
        if size == 0:
            _fields(wire, "trailer")
            return bytes(body)
        body += wire.exactly(size, "chunk")
        if wire.line("chunk") != b"":
            raise _BadAnswer("chunk data longer than its size")


def _body(wire: _Wire, headers: dict[str, list[str]]) -> bytes:
    """The body, framed as RFC 9112 section 6.3 says, with nothing ambiguous believed."""
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if "content-length" in headers:
            raise _BadAnswer("both Transfer-Encoding and Content-Length")
        if ",".join(coding).strip().lower() != "chunked":
            raise _BadAnswer(f"Transfer-Encoding {','.join(coding)[:40]!r} is not chunked")
        return _chunked(wire)
    if "content-length" in headers:
        return wire.exactly(_content_length(headers["content-length"]), "body")
    return wire.to_the_end()


def _request(host: str, port: int | None, default_port: int, target: str,
             headers: dict[str, str]) -> bytes:
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != default_port:
        authority += f":{port}"
    lines = [f"GET {target} HTTP/1.1", f"Host: {authority}", "Accept-Encoding: identity",
             "Connection: close", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _exchange(url: str, headers: dict[str, str], deadline: float,
              opened: list[socket.socket]) -> _HttpAnswer:
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not _TARGET.fullmatch(target):
        raise _NoAnswer("request failed: the URL's path holds a space, a control or a "
                        "non-ASCII character; fix BACKLOG_API_PATH")
    https = parts.scheme == "https"
    host, default_port = parts.hostname or "", 443 if https else 80
    sock = socket.create_connection((host, parts.port or default_port),
                                    timeout=max(0.001, deadline - time.monotonic()))
    opened.append(sock)
    if https:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        opened.append(sock)
    try:
        sock.sendall(_request(host, parts.port, default_port, target, headers))
        wire = _Wire(sock, deadline)
        status = _status(wire)
        found = _fields(wire, "header")
        body = b"" if status != 200 else _body(wire, found)
    finally:
        sock.close()
    first = {name: values[0] for name, values in found.items()}
    return _HttpAnswer(status, first.get("location"), first.get(REFUSED_BY_HEADER.lower()), body)


def _cut(opened: list[socket.socket]) -> None:
    # shutdown(2) on the raw socket wakes a read blocked in the worker thread (TLS too).
    for sock in opened[-1:]:  # the TLS socket once wrapped (it took over the raw one)
        with contextlib.suppress(OSError):  # already closed by the worker
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _get(url: str, headers: dict[str, str], timeout_s: float) -> _HttpAnswer:
    """One GET within one total deadline: name lookup, connect, headers and body together,
    and at most MAX_ANSWER_BYTES read, whatever the answer says about its own length.

    Every read waits only for what is left of the deadline; the name lookup cannot be
    bounded so, so the exchange runs in a thread cut off at the deadline. No redirect is
    followed, so the key goes to this URL's host only.
    """
    deadline = time.monotonic() + timeout_s
    opened: list[socket.socket] = []
    outcome: list[_HttpAnswer | _NoAnswer] = []

    def ask() -> None:
        try:
            outcome.append(_exchange(url, headers, deadline, opened))
        except _NoAnswer as exc:
            outcome.append(exc)
        except _BadAnswer as exc:
            outcome.append(_NoAnswer(f"bad response: {exc}"))
        except TimeoutError:
            outcome.append(_NoAnswer(f"timeout after {timeout_s:g}s"))
        except ssl.SSLError as exc:
            outcome.append(_NoAnswer(f"TLS failed: {exc.reason or exc}"))
        except OSError as exc:
            stage = "unreachable" if not opened else "connection error"
            detail = str(exc) if not opened else f"{type(exc).__name__}: {exc}"
            outcome.append(_NoAnswer(f"{stage}: {detail}"))
        except Exception as exc:  # handed back to the caller as a reason, never raised
            outcome.append(_NoAnswer(f"request failed: {type(exc).__name__}: {exc}"))

    worker = threading.Thread(target=ask, name="backlog-api", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        _cut(opened)
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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, unless a key appears twice: Python's json keeps the last one silently, so
    {"backlog": 3, "backlog": 99999} would be believed as 99999 (verify/json_files.py too)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise NotACount(f"the key {key[:40]!r} appears twice in one object")
        found[key] = value
    return found


_KINDS = {bool: "a boolean", str: "a string", float: "a float", type(None): "null",
          list: "a list", dict: "an object"}


def parse_count(body: bytes, bound: int) -> int:
    """The count of a `{"backlog": N}` body with N a JSON integer, 0 <= N <= bound."""
    if len(body) > MAX_BODY_BYTES:
        raise NotACount(f"body over {MAX_BODY_BYTES} bytes")
    try:
        payload = json.loads(body, parse_int=_parse_int, parse_constant=_refuse_constant,
                             object_pairs_hook=_unique_keys)
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

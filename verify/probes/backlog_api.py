"""Ask the backlog API over HTTP: from the runner (PUBLIC) or on a host through its transport
(LOCAL, with curl). The key travels in a header fed on stdin, never on a command line.

Also what a count is: the publisher's rule (lambda/ keeps its own copy: it must stay
self-contained), so verify never passes a count the publisher refuses."""

import contextlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.stack_output import Host, StackOutput
from stack_settings.parse import BACKLOG_API_PATH, INTERNAL_KEY_HEADER
from verify import publisher_rules
from verify.context import CheckContext
from verify.errors import TransportError, VerifyError
from verify.outputs import DEFAULT_MAX_COUNT, MAX_COUNT_VARIABLE
from verify.preflight import CHECK_ID as PREFLIGHT
from verify.preflight import PUBLIC_URL
from verify.probes import strict_http
from verify.probes.hosts import api_hosts
from verify.secrets import Masker
from verify.transports import Transport

BACKLOG_PATH = BACKLOG_API_PATH  # the one definition, in the settings module
KEY_HEADER = INTERNAL_KEY_HEADER


# The response headers the diagnosis reads; nginx marks its own refusal of a keyless request.
KEPT_HEADERS = ("x-refused-by",)
BODY_CHARS = 60  # of an answer's body in evidence
ERROR_CHARS = 160  # of an error
REFUSED_BY = "X-Refused-By"

# The publisher's own bounds (lambda/queue_depth), not a copy of them.
MAX_BODY_BYTES: int = publisher_rules.count_rule().MAX_BODY_BYTES
MAX_INT_DIGITS: int = publisher_rules.count_rule().MAX_INT_DIGITS
COUNT_SHAPE = '{"backlog": <int >= 0>}'


@dataclass(frozen=True)
class ApiAnswer:
    status: int | None  # None: no HTTP answer at all (error says why)
    body: str = ""
    error: str = ""  # with a status: why the body is incomplete (too large, cut by the deadline)
    headers: tuple[tuple[str, str], ...] = ()  # (lower-case name, value), KEPT_HEADERS only

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def refused_by_nginx(self) -> bool:
        return (self.header(REFUSED_BY) or "").strip().lower() == "nginx"

    def count(self, max_count: int = DEFAULT_MAX_COUNT) -> tuple[int | None, str]:
        """(the count, "") or (None, why the publisher would not believe this body)."""
        if self.error:
            return None, self.error
        return read_count(self.body, max_count)

    def backlog(self, max_count: int = DEFAULT_MAX_COUNT) -> int | None:
        return self.count(max_count)[0]

    def evidence(self, masker: Masker) -> str:
        """Status and the start of the body (or the error), masked before they are clipped."""
        if self.status is None:
            return f"no answer ({masker.excerpt(self.error, ERROR_CHARS)})"
        shown = f"{self.status} {masker.excerpt(self.body, BODY_CHARS)}"
        return f"{shown} ({masker.excerpt(self.error, ERROR_CHARS)})" if self.error else shown


def read_count(body: str, max_count: int) -> tuple[int | None, str]:
    """The count of a body `{"backlog": N}` as the publisher believes it (its own rule,
    verify/publisher_rules.py): N a JSON integer (not a bool), 0 <= N <= max_count, at most
    MAX_INT_DIGITS digits in at most MAX_BODY_BYTES bytes; else (None, why not)."""
    return publisher_rules.read_count(body, max_count)


def parse_backlog(body: str, max_count: int = DEFAULT_MAX_COUNT) -> int | None:
    return read_count(body, max_count)[0]


def count_bound(outputs: StackOutput) -> int:
    """The largest count the deployed publisher believes (its declared environment; the
    outputs' loader refuses a value the publisher would refuse)."""
    raw = outputs.publisher.environment.get(MAX_COUNT_VARIABLE, "").strip()
    return int(raw) if raw else DEFAULT_MAX_COUNT


def backlog_url(base_url: str) -> str:
    return base_url.rstrip("/") + BACKLOG_PATH


# ---- LOCAL: on a host, through its transport -----------------------------------------------

def curl_command(url: str, timeout_s: float, send_key: bool = True) -> list[str]:
    command = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", f"{timeout_s:g}"]
    if send_key:
        command += ["-H", "@-"]  # header lines read from stdin
    return command + [url]


def parse_curl(rc: int, stdout: str, stderr: str) -> ApiAnswer:
    if rc == 127:
        return ApiAnswer(None, "", "curl is not installed on the host")
    body, _, code = stdout.rpartition("\n")
    if rc != 0 or not re.fullmatch(r"[1-9][0-9]{2}", code.strip()):  # ASCII digits only
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"curl exit {rc}"
        return ApiAnswer(None, body, reason)
    return ApiAnswer(int(code), body)


def ask_on_host(transport: Transport, base_url: str, key: str, timeout_s: float) -> ApiAnswer:
    url = backlog_url(base_url)
    result = transport.run(
        curl_command(url, max(1.0, timeout_s - 1)), timeout=timeout_s + 2,
        stdin=f"{KEY_HEADER}: {key}\n",
    )
    return parse_curl(result.rc, result.stdout, result.stderr)


# ---- PUBLIC: from here, read to a cap and a deadline ---------------------------------------

def ask_public(base_url: str, key: str | None, timeout_s: float) -> ApiAnswer:
    """At most MAX_BODY_BYTES of the answer, within `timeout_s` for the whole exchange: a huge
    or dripping body is cut, not read (a 400 MB one would take gigabytes)."""
    import requests


    deadline = time.monotonic() + timeout_s
    headers = {KEY_HEADER: key} if key is not None else {}
    with strict_http.session() as session:  # status lines by the publisher's rule
        try:
            response = session.get(backlog_url(base_url), headers=headers, timeout=timeout_s,
                                   allow_redirects=False, stream=True)
        except requests.exceptions.Timeout:
            return ApiAnswer(None, "", f"timed out after {timeout_s:g}s")
        except requests.exceptions.SSLError as exc:
            return ApiAnswer(None, "", f"TLS failed: {_short(exc)}")
        except requests.exceptions.ConnectionError as exc:
            if (line := strict_http.refused_status_line(exc)) is not None:
                return ApiAnswer(None, "", f"not an HTTP answer: status line {line} is not "
                                 "HTTP/1.x and a 3-digit status (the publisher refuses it)")
            return ApiAnswer(None, "", f"connection failed: {_short(exc)}")
        except requests.exceptions.RequestException as exc:
            return ApiAnswer(None, "", _short(exc))
        with response:
            data, problem = _read_capped(response.raw, deadline, timeout_s)
    text = data.decode(response.encoding or "utf-8", errors="replace")
    return ApiAnswer(response.status_code, text, problem, kept_headers(response.headers))


def _read_capped(raw: Any, deadline: float, timeout_s: float) -> tuple[bytes, str]:
    """(up to MAX_BODY_BYTES of the body, "" or why it stopped short)."""
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(data), f"answer not complete after {timeout_s:g}s"
        _bound_socket_wait(raw, remaining)  # one silent read may not outlast the deadline
        try:
            chunk = raw.read1(MAX_BODY_BYTES + 1 - len(data))
        except Exception as exc:  # noqa: BLE001 (urllib3/socket errors: the body stopped)
            if time.monotonic() >= deadline:
                return bytes(data), f"answer not complete after {timeout_s:g}s"
            return bytes(data), f"answer cut short: {_short(exc)}"
        if not chunk:
            return bytes(data), ""
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            return bytes(data[:MAX_BODY_BYTES]), f"answer larger than {MAX_BODY_BYTES} bytes"


def _bound_socket_wait(raw: Any, seconds: float) -> None:
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(0.01, seconds))


def kept_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    found = {name.lower(): value for name, value in headers.items()}
    return tuple((name, found[name]) for name in KEPT_HEADERS if name in found)


def _short(exc: Exception) -> str:
    """The telling part of a requests error; clipped only where it is shown, after masking."""
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Name or service not known"):
        if marker in text:
            return text[text.index(marker):].rstrip("'\")")
    return text


def ask_public_once_reachable(ctx: CheckContext, key: str | None) -> ApiAnswer:
    """PUBLIC's answer; when the public URL did not answer its probe, that, without waiting
    for it again."""
    base = ctx.outputs.api.public_base_url
    found = ctx.reach.check(PUBLIC_URL, backlog_url(base))
    if found.error is not None:
        return ApiAnswer(None, "", f"{found.error} (see the {PREFLIGHT} row)")
    return ask_public(base, key, ctx.call_timeout())


# ---- the facts the api check judges ------------------------------------------------------

@dataclass(frozen=True)
class PathFacts:
    """One host's LOCAL answer and PUBLIC's, both sent the key; `local_again`: LOCAL asked once
    more when the two bodies differed (the count may move between samples), else None."""

    local: ApiAnswer
    public: ApiAnswer
    local_again: ApiAnswer | None = None


def probe_paths(ctx: CheckContext, host: Host, key: str) -> PathFacts:
    api = ctx.outputs.api
    transport = ctx.hosts.for_host(host)
    local = ask_on_host(transport, api.local_base_url, key, ctx.call_timeout())
    public = ask_public_once_reachable(ctx, key)
    again = None
    if local.status == 200 and public.status == 200 and (
            local.body.strip() != public.body.strip()):
        again = ask_on_host(transport, api.local_base_url, key, ctx.call_timeout())
    return PathFacts(local, public, again)


@dataclass(frozen=True)
class AuthFacts:
    no_key: ApiAnswer
    wrong_key: ApiAnswer


def probe_auth(ctx: CheckContext, wrong_key: str) -> AuthFacts:
    return AuthFacts(ask_public_once_reachable(ctx, None),
                     ask_public_once_reachable(ctx, wrong_key))


# ---- the DB backlog, for the metric check ----------------------------------------------------

def api_count(ctx: CheckContext) -> int:
    """The DB backlog: from the public API with the key, as the publisher reads it, or else on
    an API host (the count is the same; only the path differs, and the api check judges that)."""
    api = ctx.outputs.api
    key = ctx.key.get()
    bound = count_bound(ctx.outputs)
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
    count, why = answer.count(bound) if answer.status == 200 else (None, "")
    if count is None:
        raise VerifyError(
            f"cannot read the DB backlog from the API: {'; '.join(tried)}"
            + (f" ({why})" if why else ""),
            "run `python -m verify api` for which hop fails",
        )
    return count

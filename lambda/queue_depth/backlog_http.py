"""The publisher's one read of the backlog API: a GET within one total deadline.

One deadline covers the name lookup, the connection, the headers and the body; at most
MAX_ANSWER_BYTES come off the socket and at most MAX_BODY_BYTES of body are kept (read here,
not by http.client, whatever the answer claims its length is); no redirect is followed.
Stdlib only. The answer's meaning (the count) is backlog_count's.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

from backlog_count import MAX_BODY_BYTES, status_code

REFUSED_BY_HEADER = "X-Refused-By"  # nginx marks the 403 it gives a request with no key
MAX_ANSWER_BYTES = 16384  # all an answer may take off the socket: head, framing and body


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    location: str | None
    refused_by: str | None
    body: bytes  # a 200's body, at most MAX_BODY_BYTES; empty for any other status


class NoAnswer(Exception):
    """The request got no HTTP answer; the message is the fallback reason."""


class _BadAnswer(Exception):
    """The answer breaks HTTP/1.1's framing or a bound; the message says how."""


# The answer is read by this file, not http.client: http.client believes a chunk size of -1
# (int("-1", 16)) and then reads to the end of the stream, and takes "0200", "+200" and
# "2_00" for 200 (int() of the status). Everything below is bounded: the bytes taken from the
# socket (status line, headers, chunk framing, trailers and body together) and the deadline.
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
              opened: list[socket.socket]) -> HttpAnswer:
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not _TARGET.fullmatch(target):
        raise NoAnswer("request failed: the URL's path holds a space, a control or a "
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
    return HttpAnswer(status, first.get("location"), first.get(REFUSED_BY_HEADER.lower()), body)


def _cut(opened: list[socket.socket]) -> None:
    # shutdown(2) on the raw socket wakes a read blocked in the worker thread (TLS too).
    for sock in opened[-1:]:  # the TLS socket once wrapped (it took over the raw one)
        with contextlib.suppress(OSError):  # already closed by the worker
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def get(url: str, headers: dict[str, str], timeout_s: float) -> HttpAnswer:
    """One GET within one total deadline: name lookup, connect, headers and body together,
    and at most MAX_ANSWER_BYTES read, whatever the answer says about its own length.

    Every read waits only for what is left of the deadline; the name lookup cannot be
    bounded so, so the exchange runs in a thread cut off at the deadline. No redirect is
    followed, so the key goes to this URL's host only.
    """
    deadline = time.monotonic() + timeout_s
    opened: list[socket.socket] = []
    outcome: list[HttpAnswer | NoAnswer] = []

    def ask() -> None:
        try:
            outcome.append(_exchange(url, headers, deadline, opened))
        except NoAnswer as exc:
            outcome.append(exc)
        except _BadAnswer as exc:
            outcome.append(NoAnswer(f"bad response: {exc}"))
        except TimeoutError:
            outcome.append(NoAnswer(f"timeout after {timeout_s:g}s"))
        except ssl.SSLError as exc:
            outcome.append(NoAnswer(f"TLS failed: {exc.reason or exc}"))
        except OSError as exc:
            stage = "unreachable" if not opened else "connection error"
            detail = str(exc) if not opened else f"{type(exc).__name__}: {exc}"
            outcome.append(NoAnswer(f"{stage}: {detail}"))
        except Exception as exc:  # handed back to the caller as a reason, never raised
            outcome.append(NoAnswer(f"request failed: {type(exc).__name__}: {exc}"))

    worker = threading.Thread(target=ask, name="backlog-api", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        _cut(opened)
        raise NoAnswer(f"timeout after {timeout_s:g}s")
    if isinstance(outcome[0], NoAnswer):
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


def http_reason(answer: HttpAnswer, url: str) -> str:
    status = answer.status
    if status == 403 and answer.refused_by:
        return f"HTTP 403 from {answer.refused_by}: the key did not reach it (dropped before it)"
    if status == 403:
        return "HTTP 403: key rejected or dropped by a proxy"
    if 300 <= status < 400:
        return f"HTTP {status}: redirect to {_redirect_target(url, answer.location)} not followed"
    return f"HTTP {status}"

"""A CR/LF in the path never becomes a header line upstream, nor a line break in the access log.

The rendered config runs in a real nginx in front of a raw socket server that records the exact
bytes nginx sends; the client is a raw socket too, so `%0d%0a` goes out as typed (http.client
and requests would refuse or re-quote it).
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from contract.nginx_config import PROXY_HEADERS
from sandbox.ports import LOOPBACK, free_port
from stack_settings.parse import BACKLOG_API_PATH

FORGED_IP = "198.51.100.66"
# What each variant tries to add after the path: a marker header, a forged client address and
# a cookie past the internal location's header allow-list.
PAYLOAD = "{nl}X-Injected:%20yes{nl}X-Real-IP:%20" + FORGED_IP + "{nl}Cookie:%20sid=evil"
LINE_BREAKS = {
    "crlf": "%0d%0a",
    "lf": "%0a",
    "cr": "%0d",
    "CRLF upper case": "%0D%0A",
    "crlf mixed case": "%0D%0a",
    "lf cr": "%0a%0d",
    "cr cr lf": "%0d%0d%0a",
    "double-encoded crlf": "%250d%250a",
    "double-encoded lf": "%250a",
    "double-encoded then single": "%250d%0a",
    "single then double-encoded": "%0d%250a",
}
KEYS = {"a right key": "key-" + secrets.token_hex(12), "a wrong key": "not-the-key"}
# The internal location's allow-list plus what nginx adds itself.
ALLOWED_UPSTREAM_HEADERS = {h.lower() for h, _ in PROXY_HEADERS} | {"connection"}


def attack_path(line_break: str) -> str:
    return BACKLOG_API_PATH + PAYLOAD.format(nl=line_break)


@dataclass
class RecordingUpstream:
    """gunicorn's stand-in at the byte level: keeps each request head exactly as received."""

    port: int
    heads: list[bytes] = field(default_factory=list)
    _listener: socket.socket | None = None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> RecordingUpstream:
        listener = socket.create_server((LOOPBACK, self.port))
        self._listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()
        return self

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            with conn:
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.heads.append(head.split(b"\r\n\r\n", 1)[0])
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 11\r\nConnection: close\r\n\r\n{\"count\":0}"
                )

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()


def raw_get(port: int, path: str, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """Send the request line and headers byte for byte; return nginx's status and whole reply."""
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    with socket.create_connection((LOOPBACK, port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    status = re.match(rb"HTTP/1\.[01] (\d{3}) ", reply)
    assert status is not None, f"not an HTTP reply: {reply[:200]!r}"
    return int(status[1]), reply


def header_lines(head: bytes) -> list[bytes]:
    """The header lines of a request head, split only where HTTP splits them (CRLF)."""
    return head.split(b"\r\n")[1:]


def assert_no_injected_line(head: bytes, sent_path: str) -> None:
    """Every header line is one of nginx's own, whole, with no CR or LF inside it."""
    request_line, *_ = head.split(b"\r\n", 1)
    assert request_line == f"GET {sent_path} HTTP/1.0".encode(), (
        f"the upstream's request line is not the raw path: {request_line!r}"
    )
    for line in header_lines(head):
        assert b"\r" not in line and b"\n" not in line, (
            f"a bare CR or LF inside the header line {line!r}: an upstream that splits on it "
            f"sees a header the client wrote; whole head: {head!r}"
        )
    names = {line.split(b":", 1)[0].decode("latin-1").lower() for line in header_lines(head)}
    assert names <= ALLOWED_UPSTREAM_HEADERS, (
        f"header lines past the allow-list: {sorted(names - ALLOWED_UPSTREAM_HEADERS)}; "
        f"whole head: {head!r}"
    )
    real_ips = [line for line in header_lines(head) if line.lower().startswith(b"x-real-ip:")]
    assert real_ips == [b"X-Real-IP: 127.0.0.1"], f"X-Real-IP lines: {real_ips!r}"


@pytest.fixture(scope="module")
def recorder() -> Iterator[RecordingUpstream]:
    server = RecordingUpstream(free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def proxy(nginx_factory, recorder):
    return nginx_factory.start("injection", recorder.address)


@pytest.mark.parametrize("key_name", sorted(KEYS))
@pytest.mark.parametrize("variant", sorted(LINE_BREAKS))
def test_a_line_break_in_the_path_adds_no_header_upstream(
    proxy, recorder, variant, key_name
) -> None:
    path = attack_path(LINE_BREAKS[variant])
    before = len(recorder.heads)
    status, reply = raw_get(proxy.port, path, [("X-Internal-Key", KEYS[key_name])])
    assert status == 200, f"nginx answered {status}: {reply[:300]!r}"
    assert len(recorder.heads) == before + 1, "the request did not reach the upstream once"
    assert_no_injected_line(recorder.heads[-1], path)


def test_the_check_sees_an_injected_line(proxy, recorder) -> None:
    """The assertion above fails on a head that carries the issue's injection."""
    path = attack_path("%0d%0a")
    injected = (
        f"GET {path} HTTP/1.0\r\nHost: localhost\r\nX-Real-IP: 127.0.0.1\r\n"
        f"X-Request-Path: /x\r\nX-Injected: yes\r\nCookie: sid=evil"
    ).encode()
    with pytest.raises(AssertionError, match="past the allow-list"):
        assert_no_injected_line(injected, path)
    bare_lf = f"GET {path} HTTP/1.0\r\nHost: localhost\r\nX-Path: /a\nX-Injected: yes".encode()
    with pytest.raises(AssertionError, match="bare CR or LF"):
        assert_no_injected_line(bare_lf, path)


def test_without_a_key_no_variant_reaches_the_upstream(proxy, recorder) -> None:
    before = len(recorder.heads)
    for line_break in LINE_BREAKS.values():
        status, reply = raw_get(proxy.port, attack_path(line_break), [])
        assert status == 403 and b"X-Refused-By: nginx" in reply
    assert len(recorder.heads) == before


def assert_log_lines_whole(running, poll) -> None:
    """Paths with CR, LF and CR LF leave one access log line each, the break written as \\xXX."""
    access = running.files.access_log
    before = access.stat().st_size if access.exists() else 0
    marker = "log-probe-" + secrets.token_hex(4)
    sent = [f"/{marker}/{v}{LINE_BREAKS[v]}X-Injected:%20yes" for v in ("crlf", "lf", "cr")]
    for path in sent:
        raw_get(running.port, path, [("X-Internal-Key", "k")])
    poll(lambda: access.read_bytes()[before:].count(marker.encode()) == len(sent),
         what="the access log lines of the probes")
    written = access.read_bytes()[before:]
    lines = written.rstrip(b"\n").split(b"\n")
    raw_cr = b"\r" in written
    assert len(lines) == len(sent) and not raw_cr, (
        f"{len(sent)} requests wrote {len(lines)} log lines, raw CR: {raw_cr}: {lines!r}"
    )
    assert all(marker.encode() in line and rb"\x0" in line for line in lines), lines


def test_a_line_break_in_the_path_stays_escaped_in_the_access_log(proxy, poll) -> None:
    assert_log_lines_whole(proxy, poll)


def test_the_log_check_fails_on_an_unescaped_log(nginx_factory, recorder, poll) -> None:
    """With escape=none the decoded $uri writes CR and LF raw (crlf and lf split a line each)."""
    running = nginx_factory.start(
        "log-unescaped",
        recorder.address,
        edit_site=lambda text: text.replace("escape=default", "escape=none"),
    )
    assert "escape=none" in running.files.site.read_text()
    with pytest.raises(AssertionError, match="3 requests wrote 5 log lines, raw CR: True"):
        assert_log_lines_whole(running, poll)


@pytest.mark.parametrize("header", ["X-Internal-Key", "CF-Connecting-IP", "X-Forwarded-Proto"])
def test_a_bare_cr_in_a_forwarded_header_value_is_refused_by_nginx(proxy, recorder, header) -> None:
    """The $http_* values nginx forwards cannot carry a line break: its parser refuses them."""
    before = len(recorder.heads)
    status, _ = raw_get(
        proxy.port, BACKLOG_API_PATH, [("X-Internal-Key", "k"), (header, "v\rX-Injected: yes")]
    )
    assert status == 400
    assert len(recorder.heads) == before

"""Verify reads the backlog API's answer by the publisher's rules (issue 15.14): a status is
exactly three ASCII digits (http.client took "0200", "+200" and "2_00" for 200), and a body
with a key twice is no count ({"backlog": 3, "backlog": 99999} was read as 99999)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sandbox.ports import LOOPBACK
from verify.probes.backlog_api import ask_public, parse_curl, read_count

SEVEN = b'{"backlog": 7}'


@pytest.fixture
def raw_server() -> Iterator[dict[str, bytes]]:
    """Answers every connection with the bytes in answer["raw"], then closes it."""
    answer: dict[str, bytes] = {"raw": b""}
    listener = socket.create_server((LOOPBACK, 0))
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(answer["raw"])
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    answer["url"] = f"http://{LOOPBACK}:{listener.getsockname()[1]}".encode()
    try:
        yield answer
    finally:
        stopping.set()
        thread.join(5)
        listener.close()


def ask(server: dict[str, bytes], raw: bytes, monkeypatch: pytest.MonkeyPatch):
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "*")
    server["raw"] = raw
    return ask_public(server["url"].decode(), "k" * 20, 5.0)


@pytest.mark.parametrize(
    "status", [b"0200", b"+200", b"2_00", b" 200", "\uff12\uff10\uff10".encode()])
def test_a_status_that_is_not_three_ascii_digits_is_no_answer(
    raw_server, monkeypatch, status: bytes
) -> None:
    answer = ask(raw_server, b"HTTP/1.1 " + status + b" OK\r\nContent-Length: 14\r\n\r\n" + SEVEN,
                 monkeypatch)

    assert answer.status is None, answer
    assert answer.backlog() is None
    assert "is not HTTP/1.x and a 3-digit status" in answer.error


@pytest.mark.parametrize("line", [b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK", b"HTTP/1.1 200"])
def test_a_plain_status_line_is_an_answer(raw_server, monkeypatch, line: bytes) -> None:
    answer = ask(raw_server, line + b"\r\nContent-Length: 14\r\n\r\n" + SEVEN, monkeypatch)

    assert (answer.status, answer.backlog()) == (200, 7)


def test_a_key_twice_is_no_count(raw_server, monkeypatch) -> None:
    body = b'{"backlog": 3, "backlog": 99999}'
    answer = ask(raw_server, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
                 monkeypatch)

    assert answer.status == 200
    assert answer.count() == (None, "the key 'backlog' appears twice in one object")
    assert read_count('{"backlog": 3, "backlog": 3}', 100) == (
        None, "the key 'backlog' appears twice in one object")


def test_curls_status_is_three_ascii_digits() -> None:
    assert parse_curl(0, '{"backlog": 3}\n200', "").status == 200
    assert parse_curl(0, '{"backlog": 3}\n\u0662\u0660\u0660', "").status is None
    assert parse_curl(0, '{"backlog": 3}\n0200', "").status is None

"""The PUBLIC answer is read to a cap and a deadline, not in full: a 400 MB body took 1.47 GB
and the run past --timeout (issue 9, red team 6). The publisher believes at most 4096 bytes."""

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from sandbox.ports import LOOPBACK
from verify.probes.backlog_api import MAX_BODY_BYTES, ask_public


class _Endless(http.server.BaseHTTPRequestHandler):
    drip_s = 0.0  # 0: as fast as the socket takes it

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(400 * 1024 * 1024))
        self.end_headers()
        chunk = b" " * (1 if self.drip_s else 65536)
        try:
            self.wfile.write(b'{"backlog": 3')
            for _ in range(400 * 16 if not self.drip_s else 10_000):
                self.wfile.write(chunk)
                self.wfile.flush()
                if self.drip_s:
                    time.sleep(self.drip_s)
        except OSError:
            pass  # the client stopped reading: what it should do

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endless() -> Iterator[type]:
    servers = []

    def start(drip_s: float) -> str:
        handler = type("Handler", (_Endless,), {"drip_s": drip_s})
        server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://{LOOPBACK}:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _ask(url: str, timeout_s: float):
    """ask_public in a thread, so a probe that never returns fails the test instead of
    hanging it."""
    found = []
    thread = threading.Thread(target=lambda: found.append(ask_public(url, "k" * 20, timeout_s)),
                              daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout_s + 5)
    assert found, "ask_public did not return"
    return found[0], time.monotonic() - started


def test_a_huge_answer_is_read_only_to_the_cap(endless):
    answer, took = _ask(endless(0.0), 5.0)
    assert answer.status == 200
    assert len(answer.body) <= MAX_BODY_BYTES
    assert f"answer larger than {MAX_BODY_BYTES} bytes" in answer.error
    assert took < 3


def test_a_dripping_answer_stops_at_the_deadline(endless):
    answer, took = _ask(endless(0.05), 1.0)
    assert took < 2.5
    assert "not complete" in answer.error or "larger than" in answer.error, answer

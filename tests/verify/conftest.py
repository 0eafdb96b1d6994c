"""Real parts for the verify tests: a moto server, an sshd, HTTP servers, all on loopback."""

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from moto.server import ThreadedMotoServer

from sandbox.ports import LOOPBACK, free_port

REGION = "ap-northeast-2"
ROOT = Path(__file__).resolve().parents[2]
KEY = "k3y-for-tests-0123456789abcdef"  # a test value, not a secret of any deployment


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_url: str) -> dict[str, str]:
    """A clean moto for each test, with Lambda and Batch switched off Docker."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    requests.post(
        f"{moto_url}/moto-api/config",
        json={"lambda": {"use_docker": False}, "batch": {"use_docker": False}},
        timeout=10,
    ).raise_for_status()
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_PROFILE": "",
    }


@dataclass
class BacklogApi:
    """A loopback backlog API (LOCAL) and a proxy in front of it (PUBLIC) that can drop the key."""

    local_url: str
    public_url: str
    state: dict


class _Api(http.server.BaseHTTPRequestHandler):
    state: dict = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.headers.get("X-Internal-Key") != self.state["key"]:
            self._answer(403, {"detail": "forbidden"})
        else:
            self._answer(200, {"backlog": self.state["backlog"]})

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _Proxy(_Api):
    def do_GET(self) -> None:  # noqa: N802
        if self.state.get("proxy_status"):
            self._answer(self.state["proxy_status"], {"error": "proxy"})
            return
        headers = {}
        if self.state.get("proxy_passes_key", True) and "X-Internal-Key" in self.headers:
            headers["X-Internal-Key"] = self.headers["X-Internal-Key"]
        upstream = requests.get(self.state["upstream"] + self.path, headers=headers, timeout=5)
        self._answer(upstream.status_code, upstream.json())


def _serve(handler: type, state: dict) -> tuple[http.server.ThreadingHTTPServer, str]:
    bound = type(handler.__name__, (handler,), {"state": state})
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), bound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{LOOPBACK}:{server.server_port}"


@pytest.fixture
def backlog_api() -> Iterator[BacklogApi]:
    state = {"key": KEY, "backlog": 3}
    api, local_url = _serve(_Api, state)
    state["upstream"] = local_url
    proxy, public_url = _serve(_Proxy, state)
    try:
        yield BacklogApi(local_url, public_url, state)
    finally:
        for server in (api, proxy):
            server.shutdown()
            server.server_close()


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[object, str], Path]:
    def write(document: object, name: str = "outputs.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return path

    return write

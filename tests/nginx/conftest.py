"""Real nginx in front of a real HTTP upstream that echoes the headers it received."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sandbox.ports import LOOPBACK, free_port
from sandbox.services.nginx_server import NginxFiles, NginxServer


@dataclass
class Seen:
    """One request as the upstream received it (header names lower-cased)."""

    path: str
    headers: list[tuple[str, str]]
    body_length: int = 0

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name.lower()]
        return values[0] if values else None


@dataclass
class EchoUpstream:
    """gunicorn's stand-in: answers 200 with its name and the request headers as JSON."""

    name: str
    port: int
    seen: list[Seen] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> EchoUpstream:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.echo(0)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                received = 0
                while received < length:
                    chunk = self.rfile.read(min(1 << 16, length - received))
                    if not chunk:
                        break
                    received += len(chunk)
                self.echo(received)

            def echo(self, body_length: int) -> None:
                headers = [(k.lower(), v) for k, v in self.headers.items()]
                upstream.seen.append(Seen(self.path, headers, body_length))
                body = json.dumps({
                    "upstream": upstream.name,
                    "path": self.path,
                    "headers": headers,
                    "body_length": body_length,
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def http_get(port: int, path: str, headers: list[tuple[str, str]] | None = None) -> Reply:
    """GET with header names sent exactly as given (urllib would re-case X_Internal_Key)."""
    return http_request(port, "GET", path, headers)


def http_request(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
) -> Reply:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        skip_host = any(name.lower() == "host" for name, _ in headers or [])
        conn.putrequest(method, path, skip_host=skip_host, skip_accept_encoding=True)
        for name, value in headers or []:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def wait_for(check: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout_s}s")


def _echo(name: str) -> Iterator[EchoUpstream]:
    server = EchoUpstream(name, free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[EchoUpstream]:
    yield from _echo("gunicorn-a")


@pytest.fixture(scope="module")
def upstream_b() -> Iterator[EchoUpstream]:
    """A second upstream, so a delivered config's effect is visible in who answers."""
    yield from _echo("gunicorn-b")


@dataclass
class NginxFactory:
    """Starts nginx instances from private directories; the fixture stops every one of them."""

    base: Path
    started: list[NginxServer] = field(default_factory=list)

    def start(
        self,
        name: str,
        upstream: str,
        edit_site: Callable[[str], str] | None = None,
        site: Callable[[NginxFiles, int], str] | None = None,
    ) -> RunningNginx:
        """nginx on a free port -> upstream; edit_site rewrites the rendered site file first,
        site(files, port) replaces it (e.g. with the program's own rendering)."""
        port = free_port()
        files = NginxFiles.under(self.base / name).prepare(port, upstream)
        if site is not None:
            files.site.write_text(site(files, port))
        if edit_site is not None:
            files.site.write_text(edit_site(files.site.read_text()))
        server = NginxServer.start(files.conf, port, files.error_log)
        self.started.append(server)
        return RunningNginx(files, server, port)


@dataclass(frozen=True)
class RunningNginx:
    files: NginxFiles
    server: NginxServer
    port: int

    def get(self, path: str, headers: list[tuple[str, str]] | None = None) -> Reply:
        return http_get(self.port, path, headers)

    def post(self, path: str, body: bytes, headers: list[tuple[str, str]] | None = None) -> Reply:
        return http_request(self.port, "POST", path, headers, body)


@pytest.fixture(scope="module")
def nginx_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxFactory]:
    factory = NginxFactory(tmp_path_factory.mktemp("nginx"))
    try:
        yield factory
    finally:
        for server in factory.started:
            server.stop()


@pytest.fixture(scope="module")
def poll() -> Callable[..., None]:
    """wait_for, for test modules (conftest cannot be imported under importlib mode)."""
    return wait_for

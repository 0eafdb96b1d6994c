"""The stand-in for the users' Django endpoint: the video backlog count from a real SQLite database.

It plays gunicorn at 127.0.0.1:8000 on the API host: `GET /api/v1/internal/video/backlog-count/`
answers 200 {"backlog": N} (videos in UPLOADED or PROCESSING) to a request that carries the
right X-Internal-Key, 403 otherwise. The key is read from the SSM parameter at start, on SIGHUP
and every --refresh-s seconds, so a rotation is noticed. The key is never logged.

    python -m sandbox.internal_api --db PATH --port N --key-parameter NAME [--refresh-s S]
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from components.settings import BACKLOG_API_PATH, INTERNAL_KEY_HEADER
from sandbox import processes
from sandbox.ports import LOOPBACK, free_port, wait_for_port
from sandbox.state import PROJECT_ROOT

BACKLOG_PATH = BACKLOG_API_PATH  # the one definition, in the settings module
HEALTH_PATH = "/healthz"
KEY_HEADER = INTERNAL_KEY_HEADER
STATUSES = ("UPLOADED", "PROCESSING", "READY", "FAILED", "DELETED")
BACKLOG_STATUSES = ("UPLOADED", "PROCESSING")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY,
    title TEXT,
    status TEXT CHECK(status IN ({", ".join(f"'{s}'" for s in STATUSES)}))
)
"""


class InternalApiError(RuntimeError):
    """The API cannot start: bad database, unreadable key parameter, port taken."""


class VideoStore:
    """The videos table; one connection per call, so request threads never share one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InternalApiError(f"cannot open the video database {path}: {exc}") from exc

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=5)
        try:
            with db:
                yield db
        finally:
            db.close()

    def add_video(self, title: str, status: str = "UPLOADED") -> int:
        _check_status(status)
        with self._connect() as db:
            cursor = db.execute("INSERT INTO videos (title, status) VALUES (?, ?)", (title, status))
            return int(cursor.lastrowid or 0)

    def set_status(self, video_id: int, status: str) -> None:
        _check_status(status)
        with self._connect() as db:
            cursor = db.execute("UPDATE videos SET status = ? WHERE id = ?", (status, video_id))
            if cursor.rowcount != 1:
                raise KeyError(f"no video with id {video_id}")

    def seed(self, per_status: Mapping[str, int]) -> list[int]:
        """Add per_status[status] videos in each status; returns their ids."""
        ids = []
        for status, count in per_status.items():
            for n in range(count):
                ids.append(self.add_video(f"{status.lower()} video {n + 1}", status))
        return ids

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            rows = db.execute("SELECT status, COUNT(*) FROM videos GROUP BY status").fetchall()
        found = dict(rows)
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def backlog_count(self) -> int:
        marks = ", ".join("?" for _ in BACKLOG_STATUSES)
        with self._connect() as db:
            row = db.execute(
                f"SELECT COUNT(*) FROM videos WHERE status IN ({marks})",  # noqa: S608 (placeholders)
                BACKLOG_STATUSES,
            ).fetchone()
        return int(row[0])


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"video status {status!r} is not one of {', '.join(STATUSES)}")


def ssm_key_reader(parameter_name: str) -> Callable[[], str]:
    """Reads the SecureString with boto3 (AWS_ENDPOINT_URL etc. from the environment)."""
    import boto3

    client = boto3.client("ssm")

    def read() -> str:
        answer = client.get_parameter(Name=parameter_name, WithDecryption=True)
        return str(answer["Parameter"]["Value"])

    return read


@dataclass
class KeyHolder:
    """The current key; a failed reload keeps the previous one."""

    read: Callable[[], str]
    describe: str
    value: str | None = None
    last_error: str | None = None

    def reload(self) -> bool:
        try:
            value = self.read()
        except Exception as exc:  # noqa: BLE001 (any failure keeps the old key)
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        if not value:
            self.last_error = f"{self.describe} is empty"
            return False
        self.value, self.last_error = value, None
        return True


class InternalApi:
    """The HTTP service; start() serves in a background thread, serve_forever() in this one."""

    def __init__(
        self,
        store: VideoStore,
        key: KeyHolder,
        port: int = 0,
        refresh_s: float | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.refresh_s = refresh_s
        self.log = log or (lambda line: None)
        self.answers: Counter[int] = Counter()
        self._answers_lock = threading.Lock()
        self._reload_now = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        try:
            self.server = ThreadingHTTPServer((LOOPBACK, port), self._handler_class())
        except OSError as exc:
            raise InternalApiError(f"cannot listen on {LOOPBACK}:{port}: {exc}") from exc
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def request_reload(self) -> None:
        """Ask the refresher to read the key again now (what SIGHUP does)."""
        self._reload_now.set()

    def reload_key(self) -> bool:
        ok = self.key.reload()
        if ok:
            self.log(f"internal key loaded from {self.key.describe}")
        else:
            self.log(f"internal key not reloaded from {self.key.describe}: {self.key.last_error}")
        return ok

    def _refresher(self) -> None:
        while not self._stopping.is_set():
            self._reload_now.wait(self.refresh_s)
            if self._stopping.is_set():
                return
            self._reload_now.clear()
            self.reload_key()

    def _start_refresher(self) -> None:
        thread = threading.Thread(target=self._refresher, name="key-refresher", daemon=True)
        thread.start()
        self._threads.append(thread)

    def start(self) -> InternalApi:
        self._start_refresher()
        thread = threading.Thread(target=self.server.serve_forever, name="api", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        self._start_refresher()
        self.server.serve_forever()

    def stop(self) -> None:
        self._stopping.set()
        self._reload_now.set()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def answer(self, path: str, presented_key: str | None) -> tuple[int, dict[str, object]]:
        """Status and JSON body for a GET of `path` carrying `presented_key`."""
        if path == HEALTH_PATH:
            return 200, {"status": "ok", "key_loaded": self.key.value is not None}
        if path != BACKLOG_PATH:
            return 404, {"detail": "Not found."}
        expected = self.key.value
        if expected is None:
            return 403, {"detail": "The internal key is not configured on this host."}
        if not presented_key:
            return 403, {"detail": f"{KEY_HEADER} header is missing."}
        if not hmac.compare_digest(presented_key.encode(), expected.encode()):
            return 403, {"detail": f"{KEY_HEADER} is not valid."}
        return 200, {"backlog": self.store.backlog_count()}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "academy-internal-api/1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = urlsplit(self.path).path
                try:
                    status, body = api.answer(path, self.headers.get(KEY_HEADER))
                except sqlite3.Error as exc:
                    status, body = 500, {"detail": f"database error: {exc}"}
                with api._answers_lock:
                    api.answers[status] += 1
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                # The request line and status only; headers (and so the key) are never logged.
                api.log(f"{self.address_string()} {format % args}")

        return Handler


@dataclass
class InternalApiProcess:
    """`python -m sandbox.internal_api` started as its own process (the sandbox's way)."""

    port: int
    pid: int
    command: list[str]
    _process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def reload_key(self) -> None:
        os.kill(self.pid, signal.SIGHUP)

    def stop(self, timeout_s: float = 5.0) -> None:
        processes.terminate(self.pid, self._process, timeout_s)


def start_process(
    db: Path,
    key_parameter: str,
    aws_env: Mapping[str, str],
    log_path: Path,
    port: int | None = None,
    refresh_s: float = 30.0,
    registry: processes.ProcessRegistry | None = None,
    name: str = "internal-api",
    timeout_s: float = 20.0,
) -> InternalApiProcess:
    """Start the CLI with the moto env and wait until it listens (it exits at start when the
    key parameter cannot be read, so listening means the key is loaded)."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "sandbox.internal_api", "--db", str(db), "--port", str(port),
        "--key-parameter", key_parameter, "--refresh-s", str(refresh_s),
    ]  # fmt: skip
    env = {**os.environ, **aws_env}
    child = processes.launch(name, command, log_path, registry, env=env, cwd=PROJECT_ROOT)
    api = InternalApiProcess(port, child.pid, command, child)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and child.poll() is None:
        if wait_for_port(port, 0.2):
            break
    if child.poll() is not None or not wait_for_port(port, 0.1):
        if registry is not None:
            registry.stop(name)
        api.stop()
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        raise InternalApiError(f"the internal API did not come up on port {port}; log:\n{tail}")
    return api


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.internal_api",
        description="Serve the video backlog count from SQLite, keyed by an SSM parameter.",
    )
    parser.add_argument("--db", type=Path, required=True, help="SQLite database file")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--key-parameter", required=True, help="SSM SecureString with the key")
    parser.add_argument(
        "--refresh-s", type=float, default=30.0, help="re-read the key this often (seconds)"
    )
    parser.add_argument(
        "--allow-missing-key",
        action="store_true",
        help="start even if the parameter cannot be read yet (answers 403 until it can)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a TCP port (0-65535)")
    if args.refresh_s <= 0:
        parser.error(f"--refresh-s {args.refresh_s} must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        store = VideoStore(args.db)
        key = KeyHolder(ssm_key_reader(args.key_parameter), f"SSM parameter {args.key_parameter}")
        api = InternalApi(store, key, args.port, args.refresh_s, log)
    except InternalApiError as exc:
        log(f"error: {exc}")
        return 2
    if not api.reload_key() and not args.allow_missing_key:
        log(
            f"error: cannot read the internal key from SSM parameter {args.key_parameter} "
            f"({key.last_error}); create it, check AWS_ENDPOINT_URL, or pass --allow-missing-key"
        )
        api.server.server_close()
        return 2
    signal.signal(signal.SIGHUP, lambda *_: api.request_reload())
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=api.server.shutdown).start())
    log(f"internal API on {api.base_url} (db {args.db}, key from {args.key_parameter})")
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The stand-in for the users' Django endpoint: the video backlog count from a real SQLite database.

It plays gunicorn at 127.0.0.1:8000 on the API host: `GET /api/v1/internal/video/backlog-count/`
answers 200 {"backlog": N} (videos in UPLOADED or PROCESSING) to a request that carries the
right X-Internal-Key, 403 otherwise; `GET /api/v1/internal/video/backlog/` lists those videos
(docs/CONTRACTS.md, "Backlog listing"), with the same key. The key is read from the SSM
parameter at start, on SIGHUP and every --refresh-s seconds, so a rotation is noticed. The key
is never logged.

With --dispatch-parameter it also takes uploads and dispatches them (sandbox/dispatch.py):
`POST /api/v1/videos/` creates a video UPLOADED and sends its job down the path the parameter
names (asg: SQS SendMessage `{"video_id": N}`; batch: SubmitJob `video-N` with parameter
video_id), re-reading the parameter at most every second so a switch takes effect at once.
No usable parameter: 503 and no video. The send refused: 502, and the video stays UPLOADED
with its dispatch_error (it is in the backlog, waiting, and says why no job carries it).
Workers report `POST /api/v1/internal/videos/<id>/status` {"status": "PROCESSING"|"DONE"|
"FAILED"}; `GET /api/v1/internal/videos/<id>/` shows a video. All of these need the key.

It serves one worker type, video (SERVED_WORKER_TYPE): a dispatch value for another type is
refused like a malformed one (503, no video), and so is a backlog request or an upload that
names another type (404 / 400). A POST is routed and its key checked before its body is read;
the body needs a Content-Length (a chunked one is refused 411, never taken as empty) and is
parsed defensively: anything but a JSON object of the expected fields is a 400 JSON answer.

    python -m sandbox.services.internal_api --db PATH --port N --key-parameter NAME [--refresh-s S]
        [--dispatch-parameter NAME]
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import re
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
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox import processes
from sandbox.dispatch import SERVED_WORKER_TYPE, Dispatch, DispatchError, DispatchReader, ssm_reader
from sandbox.ports import LOOPBACK, free_port, wait_for_port
from sandbox.state import PROJECT_ROOT
from stack_settings.parse import (
    BACKLOG_API_PATH,
    BACKLOG_LIST_MAX,
    BACKLOG_LIST_PATH,
    INTERNAL_KEY_HEADER,
)

BACKLOG_PATH = BACKLOG_API_PATH  # the one definition, in the settings module
HEALTH_PATH = "/healthz"
KEY_HEADER = INTERNAL_KEY_HEADER
UPLOAD_PATH = "/api/v1/videos/"
VIDEO_PATH = re.compile(r"^/api/v1/internal/videos/([1-9][0-9]{0,17})/$")
VIDEO_STATUS_PATH = re.compile(r"^/api/v1/internal/videos/([1-9][0-9]{0,17})/status$")
OTHER_BACKLOG_PATH = re.compile(r"^/api/v1/internal/([^/]+)/backlog-count/?$")
MAX_BODY = 64 * 1024
# DONE: finished by the sandbox's video worker (READY: the seeds' videos published long ago).
STATUSES = ("UPLOADED", "PROCESSING", "DONE", "READY", "FAILED", "DELETED")
BACKLOG_STATUSES = ("UPLOADED", "PROCESSING")
# What a worker may report, and from which statuses (a redelivered job finds the video DONE).
WORKER_MOVES = {"PROCESSING": ("UPLOADED", "PROCESSING"), "DONE": ("PROCESSING", "DONE"),
                "FAILED": ("PROCESSING",)}

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY,
    title TEXT,
    status TEXT CHECK(status IN ({", ".join(f"'{s}'" for s in STATUSES)})),
    dispatch_mode TEXT,
    dispatch_ref TEXT,
    dispatch_error TEXT
)
"""
# Added later (a database from before gets them with ALTER TABLE): epoch seconds of the upload
# and of the last status change or worker report, for the backlog listing's "since when".
TIME_COLUMNS = ("created_at", "status_at")


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
                have = {row[1] for row in db.execute("PRAGMA table_info(videos)")}
                for column in TIME_COLUMNS:
                    if column not in have:
                        db.execute(f"ALTER TABLE videos ADD COLUMN {column} REAL")
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

    def add_video(self, title: str, status: str = "UPLOADED", at: float | None = None) -> int:
        """`at`: when it was uploaded (epoch seconds; default now)."""
        _check_status(status)
        at = time.time() if at is None else at
        with self._connect() as db:
            cursor = db.execute("INSERT INTO videos (title, status, created_at, status_at) "
                                "VALUES (?, ?, ?, ?)", (title, status, at, at))
            return int(cursor.lastrowid or 0)

    def set_status(self, video_id: int, status: str) -> None:
        _check_status(status)
        with self._connect() as db:
            cursor = db.execute("UPDATE videos SET status = ?, status_at = ? WHERE id = ?",
                                (status, time.time(), video_id))
            if cursor.rowcount != 1:
                raise KeyError(f"no video with id {video_id}")

    def record_dispatch(self, video_id: int, mode: str | None, ref: str | None,
                        error: str | None) -> None:
        with self._connect() as db:
            db.execute("UPDATE videos SET dispatch_mode = ?, dispatch_ref = ?, dispatch_error = ?"
                       " WHERE id = ?", (mode, ref, error, video_id))

    def video(self, video_id: int) -> dict[str, object] | None:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()
        return dict(row) if row is not None else None

    def move(self, video_id: int, status: str) -> tuple[bool, str | None]:
        """A worker's report: (moved, status before); a move WORKER_MOVES does not allow
        leaves the video as it is (moved False), None when there is no such video."""
        allowed = WORKER_MOVES[status]
        marks = ", ".join("?" for _ in allowed)
        with self._connect() as db:
            moved = db.execute(  # a report is progress: status_at moves even when status stays
                f"UPDATE videos SET status = ?, status_at = ? WHERE id = ? "  # noqa: S608
                f"AND status IN ({marks})",
                (status, time.time(), video_id, *allowed),
            ).rowcount == 1
            row = db.execute("SELECT status FROM videos WHERE id = ?", (video_id,)).fetchone()
        return moved, (None if row is None else str(row[0]))

    def seed(self, per_status: Mapping[str, int], age_s: float = 0.0) -> list[int]:
        """Add per_status[status] videos in each status, uploaded `age_s` ago; their ids."""
        ids = []
        at = time.time() - age_s
        for status, count in per_status.items():
            for n in range(count):
                ids.append(self.add_video(f"{status.lower()} video {n + 1}", status, at))
        return ids

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            rows = db.execute("SELECT status, COUNT(*) FROM videos GROUP BY status").fetchall()
        found = dict(rows)
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def backlog_videos(self, limit: int = BACKLOG_LIST_MAX) -> dict[str, object]:
        """The backlog listing (docs/CONTRACTS.md): the videos the count counts, oldest first,
        each with where it was dispatched and since when."""
        marks = ", ".join("?" for _ in BACKLOG_STATUSES)
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                f"SELECT * FROM videos WHERE status IN ({marks}) "  # noqa: S608 (placeholders)
                "ORDER BY created_at, id LIMIT ?", (*BACKLOG_STATUSES, limit + 1)).fetchall()
        videos = [_listed(dict(row)) for row in rows[:limit]]
        return {"videos": videos, "count": self.backlog_count(), "truncated": len(rows) > limit}

    def backlog_count(self) -> int:
        marks = ", ".join("?" for _ in BACKLOG_STATUSES)
        with self._connect() as db:
            row = db.execute(
                f"SELECT COUNT(*) FROM videos WHERE status IN ({marks})",  # noqa: S608 (placeholders)
                BACKLOG_STATUSES,
            ).fetchone()
        return int(row[0])


def _iso(epoch: object) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _listed(row: dict[str, object]) -> dict[str, object]:
    """One video as the listing shows it: the reference named by what it is."""
    mode, ref = row.get("dispatch_mode"), row.get("dispatch_ref")
    return {"id": row["id"], "status": row["status"], "dispatch_mode": mode,
            "message_id": ref if mode == "asg" else None,
            "job_id": ref if mode == "batch" else None,
            "dispatch_error": row.get("dispatch_error"),
            "created_at": _iso(row.get("created_at")), "status_at": _iso(row.get("status_at"))}


def _is_utf8(text: str) -> bool:
    """False for a string UTF-8 cannot hold (a lone surrogate that JSON's \\ud800 escape
    makes): SQLite would refuse it only after the video was half made."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


class DispatchFailed(RuntimeError):
    """AWS refused the send (queue or job queue gone, disabled, throttled); the message says."""


class VideoDispatcher:
    """Sends a video's job down the path the dispatch parameter names at this moment."""

    def __init__(self, reader: DispatchReader, sqs: Any, batch: Any) -> None:
        self.reader, self.sqs, self.batch = reader, sqs, batch

    def current(self) -> Dispatch:
        return self.reader.current()  # DispatchError: answered 503, no video made

    def send(self, dispatch: Dispatch, video_id: int) -> tuple[str, str]:
        """(the answer's field, the id AWS gave): message_id or job_id."""
        try:
            if dispatch.mode == "asg":
                sent = self.sqs.send_message(QueueUrl=dispatch.queue_url,
                                             MessageBody=json.dumps({"video_id": video_id}))
                return "message_id", str(sent["MessageId"])
            submitted = self.batch.submit_job(
                jobName=f"video-{video_id}", jobQueue=dispatch.job_queue,
                jobDefinition=dispatch.job_definition,
                parameters={"video_id": str(video_id)},
                containerOverrides={"environment": [{"name": "VIDEO_ID",
                                                     "value": str(video_id)}]})
            return "job_id", str(submitted["jobId"])
        except Exception as exc:  # noqa: BLE001 - botocore's errors and connection failures alike
            where = dispatch.queue_url if dispatch.mode == "asg" else dispatch.job_queue
            raise DispatchFailed(f"{dispatch.mode} dispatch to {where} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc


def aws_dispatcher(parameter_name: str, max_age_s: float = 1.0) -> VideoDispatcher:
    """boto3 clients from the environment (AWS_ENDPOINT_URL etc.)."""
    import boto3


    reader = DispatchReader(ssm_reader(boto3.client("ssm"), parameter_name), parameter_name,
                            max_age_s)
    return VideoDispatcher(reader, boto3.client("sqs"), boto3.client("batch"))


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
        dispatcher: VideoDispatcher | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.dispatcher = dispatcher
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

    def _refused(self, presented_key: str | None) -> tuple[int, dict[str, object]] | None:
        """403 and why, unless `presented_key` is the key (compared in constant time)."""
        expected = self.key.value
        if expected is None:
            return 403, {"detail": "The internal key is not configured on this host."}
        if not presented_key:
            return 403, {"detail": f"{KEY_HEADER} header is missing."}
        if not hmac.compare_digest(presented_key.encode(), expected.encode()):
            return 403, {"detail": f"{KEY_HEADER} is not valid."}
        return None

    def answer(self, path: str, presented_key: str | None) -> tuple[int, dict[str, object]]:
        """Status and JSON body for a GET of `path` carrying `presented_key`."""
        if path == HEALTH_PATH:
            return 200, {"status": "ok", "key_loaded": self.key.value is not None}
        video = VIDEO_PATH.match(path)
        other = OTHER_BACKLOG_PATH.match(path)
        if path not in (BACKLOG_PATH, BACKLOG_LIST_PATH) and other \
                and other.group(1) != SERVED_WORKER_TYPE:
            return 404, {"detail": f"This API counts the backlog of worker type "
                                   f"{SERVED_WORKER_TYPE!r} only ({BACKLOG_PATH}), not "
                                   f"{other.group(1)[:40]!r}."}
        if path not in (BACKLOG_PATH, BACKLOG_LIST_PATH) and not video:
            return 404, {"detail": "Not found."}
        if refused := self._refused(presented_key):
            return refused
        if path == BACKLOG_LIST_PATH:
            return 200, self.store.backlog_videos()
        if video:
            found = self.store.video(int(video.group(1)))
            return (200, found) if found else (404, {"detail": "No such video."})
        return 200, {"backlog": self.store.backlog_count()}

    def refused_post(self, path: str, presented_key: str | None
                     ) -> tuple[int, dict[str, object]] | None:
        """404 or 403 for a POST, decided before its body is read (an unknown path or a wrong
        key never gets its body parsed); None: go on."""
        if path != UPLOAD_PATH and not VIDEO_STATUS_PATH.match(path):
            return 404, {"detail": "Not found."}
        return self._refused(presented_key)

    def answer_post(self, path: str, presented_key: str | None,
                    body: Any) -> tuple[int, dict[str, object]]:
        """Status and JSON body for a POST of `body` (parsed JSON) to `path`."""
        if refused := self.refused_post(path, presented_key):
            return refused
        if not isinstance(body, dict):
            return 400, {"detail": "The body must be a JSON object."}
        moving = VIDEO_STATUS_PATH.match(path)
        if moving:
            return self._move(int(moving.group(1)), body.get("status"))
        worker_type = body.get("worker_type", SERVED_WORKER_TYPE)
        if worker_type != SERVED_WORKER_TYPE:
            return 400, {"detail": f"worker_type {str(worker_type)[:40]!r}: this API serves "
                                   f"{SERVED_WORKER_TYPE} uploads only."}
        return self._upload(body.get("title"))

    def _move(self, video_id: int, status: object) -> tuple[int, dict[str, object]]:
        if not isinstance(status, str) or status not in WORKER_MOVES:
            return 400, {"detail": f"status must be one of {', '.join(WORKER_MOVES)}."}
        moved, now = self.store.move(video_id, str(status))
        if now is None:
            return 404, {"detail": "No such video."}
        if not moved:
            return 409, {"id": video_id, "status": now,
                         "detail": f"A video {now} cannot become {status}."}
        return 200, {"id": video_id, "status": status}

    def _upload(self, title: object) -> tuple[int, dict[str, object]]:
        if title is not None and (not isinstance(title, str) or len(title) > 200
                                  or not _is_utf8(title)):
            return 400, {"detail": "title must be a string of at most 200 characters, valid "
                                   "Unicode (no lone surrogate such as \\ud800)."}
        if self.dispatcher is None:
            return 503, {"detail": "no dispatch parameter: this API was started without "
                                   "--dispatch-parameter"}
        try:
            dispatch = self.dispatcher.current()
        except DispatchError as exc:
            return 503, {"detail": str(exc)}
        video_id = self.store.add_video(title or "upload")
        try:
            field, ref = self.dispatcher.send(dispatch, video_id)
        except DispatchFailed as exc:
            self.store.record_dispatch(video_id, dispatch.mode, None, str(exc))
            self.log(f"video {video_id}: {exc}")
            return 502, {"id": video_id, "mode": dispatch.mode, "status": "UPLOADED",
                         "detail": f"{exc}; the video stays UPLOADED with this dispatch_error"}
        self.store.record_dispatch(video_id, dispatch.mode, ref, None)
        return 201, {"id": video_id, "mode": dispatch.mode, field: ref}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "academy-internal-api/1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                split = urlsplit(self.path)
                asked = parse_qs(split.query).get("worker_type", [SERVED_WORKER_TYPE])
                if split.path in (BACKLOG_PATH, BACKLOG_LIST_PATH) and \
                        asked != [SERVED_WORKER_TYPE]:
                    self._send(400, {"detail": f"worker_type {asked[0][:40]!r}: this API "
                                               f"counts the {SERVED_WORKER_TYPE} backlog only."})
                    return
                self._answer(lambda: api.answer(split.path, self.headers.get(KEY_HEADER)))

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                path = urlsplit(self.path).path
                key = self.headers.get(KEY_HEADER)
                if refused := api.refused_post(path, key):
                    self.close_connection = True  # its body is never read
                    self._send(*refused)
                    return
                raw, problem = self._body()
                if problem is not None:
                    self.close_connection = True
                    self._send(*problem)
                    return
                try:
                    body = json.loads(raw)
                except (ValueError, RecursionError) as exc:  # too many digits: a ValueError
                    self._send(400, {"detail": f"The body is not valid JSON: "
                                               f"{type(exc).__name__}: {str(exc)[:120]}"})
                    return
                self._answer(lambda: api.answer_post(path, key, body))

            def _body(self) -> tuple[bytes, tuple[int, dict[str, object]] | None]:
                """The body by its Content-Length (at most MAX_BODY), or the refusal: a
                chunked body (no Content-Length) is refused, never taken as empty."""
                if self.headers.get("Transfer-Encoding"):
                    return b"", (411, {"detail": "Transfer-Encoding is not accepted: send the "
                                                 f"body with a Content-Length (0 to {MAX_BODY})."})
                given = self.headers.get_all("Content-Length") or ["0"]
                # Digits only, and one value: int() takes `+13`, `1_3`, ` 13`, and two
                # lengths would let a proxy and this server read different bodies.
                if len(given) != 1 or not re.fullmatch(r"[0-9]{1,12}", given[0]):
                    return b"", (400, {"detail": "Content-Length must be one number of "
                                                 f"digits, 0 to {MAX_BODY}."})
                length = int(given[0])
                if not 0 <= length <= MAX_BODY:
                    return b"", (400 if length < 0 else 413,
                                 {"detail": f"Content-Length must be 0 to {MAX_BODY}."})
                return (self.rfile.read(length) if length else b"{}"), None

            def _answer(self, answer: Callable[[], tuple[int, dict[str, object]]]) -> None:
                try:
                    status, body = answer()
                except sqlite3.Error as exc:
                    status, body = 500, {"detail": f"database error: {exc}"}
                except Exception as exc:  # noqa: BLE001 - an answer, never a dropped connection
                    api.log(f"error answering {self.command} {self.path[:200]}: "
                            f"{type(exc).__name__}: {exc}")
                    status, body = 500, {"detail": f"internal error: {type(exc).__name__}"}
                self._send(status, body)

            def _send(self, status: int, body: dict[str, object]) -> None:
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
    """`python -m sandbox.services.internal_api` started as its own process (the sandbox's way)."""

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
    dispatch_parameter: str | None = None,
) -> InternalApiProcess:
    """Start the CLI with the moto env and wait until it listens (it exits at start when the
    key parameter cannot be read, so listening means the key is loaded)."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "sandbox.services.internal_api", "--db", str(db), "--port", str(port),
        "--key-parameter", key_parameter, "--refresh-s", str(refresh_s),
    ]  # fmt: skip
    if dispatch_parameter:
        command += ["--dispatch-parameter", dispatch_parameter]
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
        prog="python -m sandbox.services.internal_api",
        description="Serve the video backlog count from SQLite, keyed by an SSM parameter.",
    )
    parser.add_argument("--db", type=Path, required=True, help="SQLite database file")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--key-parameter", required=True, help="SSM SecureString with the key")
    parser.add_argument(
        "--refresh-s", type=float, default=30.0, help="re-read the key this often (seconds)"
    )
    parser.add_argument(
        "--dispatch-parameter",
        help="SSM parameter naming the video path: take uploads (POST /api/v1/videos/) and "
             "send their jobs down it",
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
        dispatcher = aws_dispatcher(args.dispatch_parameter) if args.dispatch_parameter else None
        api = InternalApi(store, key, args.port, args.refresh_s, log, dispatcher)
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
    log(f"internal API on {api.base_url} (db {args.db}, key from {args.key_parameter}, uploads "
        f"{'dispatched by ' + args.dispatch_parameter if dispatcher else 'refused'})")
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

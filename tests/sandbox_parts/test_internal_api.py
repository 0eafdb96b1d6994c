"""The internal API over real HTTP with a real SQLite database, keyed by an SSM parameter."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox import processes, state
from sandbox.services import internal_api, moto_server
from sandbox.services.internal_api import BACKLOG_PATH, InternalApi, KeyHolder, VideoStore
from stack_settings.parse import BACKLOG_LIST_PATH

Aws = Callable[[str], Any]
SEED = {"UPLOADED": 3, "PROCESSING": 2, "READY": 4, "FAILED": 1, "DELETED": 1}


@pytest.fixture
def store(tmp_path: Path) -> VideoStore:
    videos = VideoStore(tmp_path / "videos.sqlite3")
    videos.seed(SEED)
    return videos


@pytest.fixture
def api(store: VideoStore) -> Iterator[tuple[InternalApi, dict[str, str]]]:
    current = {"key": "first-key-1234"}
    server = InternalApi(store, KeyHolder(lambda: current["key"], "test key")).start()
    server.reload_key()
    try:
        yield server, current
    finally:
        server.stop()


def _get(api: InternalApi, key: str | None = None, path: str = BACKLOG_PATH) -> requests.Response:
    headers = {"X-Internal-Key": key} if key is not None else {}
    return requests.get(f"{api.base_url}{path}", headers=headers, timeout=5)


def test_backlog_counts_uploaded_and_processing(api: tuple[InternalApi, dict[str, str]]) -> None:
    server, current = api
    answer = _get(server, current["key"])
    assert answer.status_code == 200
    assert answer.json() == {"backlog": 5}


def test_the_count_follows_the_database(
    api: tuple[InternalApi, dict[str, str]], store: VideoStore
) -> None:
    server, current = api
    new_id = store.add_video("fresh upload")
    assert _get(server, current["key"]).json() == {"backlog": 6}
    store.set_status(new_id, "READY")
    store.set_status(1, "FAILED")
    assert _get(server, current["key"]).json() == {"backlog": 4}
    assert store.counts()["READY"] == 5


def test_missing_or_wrong_key_is_403(api: tuple[InternalApi, dict[str, str]]) -> None:
    server, current = api
    missing = _get(server)
    wrong = _get(server, current["key"] + "x")
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert "missing" in missing.json()["detail"]
    assert "not valid" in wrong.json()["detail"]
    assert "backlog" not in wrong.json()


def test_other_paths_are_404_and_healthz_is_200(api: tuple[InternalApi, dict[str, str]]) -> None:
    server, current = api
    assert _get(server, current["key"], "/api/v1/internal/video/").status_code == 404
    assert _get(server, current["key"], BACKLOG_PATH.rstrip("/")).status_code == 404
    health = _get(server, path="/healthz")
    assert health.status_code == 200
    assert health.json()["key_loaded"] is True
    assert server.server.server_address[0] == "127.0.0.1"


def test_a_rotated_key_is_picked_up_on_reload(api: tuple[InternalApi, dict[str, str]]) -> None:
    server, current = api
    old = current["key"]
    current["key"] = "second-key-5678"
    server.request_reload()
    _wait_until(lambda: _get(server, "second-key-5678").status_code == 200)
    assert _get(server, old).status_code == 403


def test_bad_status_is_refused_by_code_and_schema(store: VideoStore) -> None:
    import sqlite3

    with pytest.raises(ValueError, match="not one of"):
        store.add_video("x", "ARCHIVED")
    db = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO videos (title, status) VALUES ('x', 'ARCHIVED')")
    finally:
        db.close()


@pytest.fixture
def key_parameter(aws: Aws) -> Iterator[str]:
    name = "/academy/workers/internal-api-key-cli-test"
    aws("ssm").put_parameter(Name=name, Value="cli-key-AAAA1111", Type="SecureString")
    try:
        yield name
    finally:
        aws("ssm").delete_parameter(Name=name)


def _run_cli(args: list[str], moto: moto_server.MotoServer, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **moto.env()}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sandbox.services.internal_api", *args],
            cwd=state.PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_cli_serves_rotates_on_sighup_and_never_logs_the_key(
    moto: moto_server.MotoServer, aws: Aws, key_parameter: str, tmp_path: Path
) -> None:
    db = tmp_path / "videos.sqlite3"
    VideoStore(db).seed(SEED)
    log = tmp_path / "api.log"
    registry = processes.ProcessRegistry(tmp_path / "pids.json")
    try:
        api = internal_api.start_process(
            db, key_parameter, moto.env(), log, refresh_s=600, registry=registry
        )
        url = f"{api.base_url}{BACKLOG_PATH}"
        ok = requests.get(url, headers={"X-Internal-Key": "cli-key-AAAA1111"}, timeout=5)
        assert (ok.status_code, ok.json()) == (200, {"backlog": 5})

        aws("ssm").put_parameter(
            Name=key_parameter, Value="cli-key-BBBB2222", Type="SecureString", Overwrite=True
        )
        api.reload_key()
        _wait_until(
            lambda: (
                requests.get(
                    url, headers={"X-Internal-Key": "cli-key-BBBB2222"}, timeout=5
                ).status_code
                == 200
            )
        )
        old = requests.get(url, headers={"X-Internal-Key": "cli-key-AAAA1111"}, timeout=5)
        assert old.status_code == 403
    finally:
        report = registry.stop_all()
    assert report.stopped == ["internal-api"]
    output = log.read_text()
    assert BACKLOG_PATH in output
    assert "cli-key-AAAA1111" not in output
    assert "cli-key-BBBB2222" not in output


def test_cli_reports_an_unreadable_key_parameter_without_traceback(
    moto: moto_server.MotoServer, tmp_path: Path
) -> None:
    log = tmp_path / "api.log"
    args = ["--db", str(tmp_path / "v.sqlite3"), "--port", "0", "--key-parameter", "/no/such"]
    proc = _run_cli(args, moto, log)
    assert proc.wait(timeout=30) == 2
    output = log.read_text()
    assert "cannot read the internal key from SSM parameter /no/such" in output
    assert "Traceback" not in output


def test_cli_rejects_a_bad_port() -> None:
    with pytest.raises(SystemExit) as exit_info:
        internal_api.main(["--db", "x.sqlite3", "--port", "70000", "--key-parameter", "/k"])
    assert exit_info.value.code == 2


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout_s}s")


# --- issue 15, item 8: which videos are the backlog (the listing verify's `stuck` reads) ---

def test_the_backlog_listing_needs_the_key_and_names_each_video_since_when(
        api: tuple[InternalApi, dict[str, str]], store: VideoStore) -> None:
    from stack_settings.parse import BACKLOG_LIST_PATH

    server, current = api
    assert _get(server, None, BACKLOG_LIST_PATH).status_code == 403
    assert _get(server, "wrong-key-123456", BACKLOG_LIST_PATH).status_code == 403
    store.record_dispatch(1, "asg", "msg-1", None)
    store.record_dispatch(2, "batch", "job-2", None)
    store.record_dispatch(3, "batch", None, "batch dispatch to q failed: DISABLED")
    answer = _get(server, current["key"], BACKLOG_LIST_PATH)
    assert answer.status_code == 200
    listing = answer.json()
    assert listing["count"] == 5 and listing["truncated"] is False
    videos = {v["id"]: v for v in listing["videos"]}
    assert sorted(videos) == [1, 2, 3, 4, 5]  # UPLOADED and PROCESSING: the count's videos
    assert videos[1]["message_id"] == "msg-1" and videos[1]["job_id"] is None
    assert videos[2]["job_id"] == "job-2" and videos[2]["dispatch_mode"] == "batch"
    assert videos[3]["job_id"] is None and "DISABLED" in videos[3]["dispatch_error"]
    assert videos[4]["dispatch_mode"] is None and videos[4]["message_id"] is None
    for video in videos.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", video["created_at"])
        assert video["status_at"] >= video["created_at"]


def test_a_worker_report_moves_status_at_and_the_listing_is_capped(
        store: VideoStore) -> None:
    video_id = store.add_video("old", at=time.time() - 7200)
    before = store.backlog_videos()["videos"]
    assert next(v for v in before if v["id"] == video_id)["status_at"] < \
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    store.move(video_id, "PROCESSING")
    after = next(v for v in store.backlog_videos()["videos"] if v["id"] == video_id)
    assert after["status"] == "PROCESSING"
    assert after["status_at"] > after["created_at"]
    capped = store.backlog_videos(limit=2)
    assert len(capped["videos"]) == 2 and capped["truncated"] is True
    assert capped["videos"][0]["id"] == video_id  # oldest first


def test_a_database_from_before_the_listing_gets_its_time_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE videos (id INTEGER PRIMARY KEY, title TEXT, status TEXT, "
                   "dispatch_mode TEXT, dispatch_ref TEXT, dispatch_error TEXT)")
        db.execute("INSERT INTO videos (title, status) VALUES ('old', 'UPLOADED')")
    db.close()
    store = VideoStore(path)
    (video,) = store.backlog_videos()["videos"]
    assert video["id"] == 1 and video["created_at"] is None  # unknown, not invented
    store.add_video("new")
    assert store.backlog_videos()["videos"][-1]["created_at"] is not None


# ---- hostile requests: each a clear 4xx JSON answer, and the API stays up ---------------------

def _raw_post(api: InternalApi, path: str, body: bytes, headers: dict[str, str]) -> tuple[
        int, dict[str, Any]]:
    """A POST as http.client sends it (so a test can send what `requests` would not)."""
    import http.client
    import json

    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        connection.putrequest("POST", path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(body)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def _still_up(server: InternalApi, key: str) -> None:
    answer = _get(server, key)
    assert (answer.status_code, answer.json()) == (200, {"backlog": 5})


def test_a_huge_number_in_a_body_is_400_and_never_parsed_without_the_key(
        api: tuple[InternalApi, dict[str, str]]) -> None:
    server, current = api
    body = b'{"title": "x", "n": ' + b"7" * 5000 + b"}"
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    # no key: refused before the body is read or parsed
    assert _raw_post(server, "/api/v1/videos/", body, headers)[0] == 403
    status, answer = _raw_post(server, "/api/v1/videos/", body,
                               {**headers, "X-Internal-Key": current["key"]})
    assert status == 400
    assert "not valid JSON" in answer["detail"]
    _still_up(server, current["key"])


def test_a_status_that_is_not_a_string_is_400(
        api: tuple[InternalApi, dict[str, str]]) -> None:
    server, current = api
    for status in ([], {}, 3, None):
        body = json_bytes({"status": status})
        code, answer = _raw_post(server, "/api/v1/internal/videos/1/status", body, {
            "Content-Length": str(len(body)), "X-Internal-Key": current["key"]})
        assert code == 400, status
        assert "status must be one of" in answer["detail"]
    _still_up(server, current["key"])


def test_a_chunked_post_is_refused_411_not_read_as_empty(
        api: tuple[InternalApi, dict[str, str]], store: VideoStore) -> None:
    server, current = api
    chunk = b'{"status": "PROCESSING"}'
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
    code, answer = _raw_post(server, "/api/v1/internal/videos/1/status", body, {
        "Transfer-Encoding": "chunked", "X-Internal-Key": current["key"]})
    assert code == 411
    assert "Content-Length" in answer["detail"]
    assert store.video(1)["status"] == "UPLOADED"  # nothing was done with a body unread
    _still_up(server, current["key"])


def json_bytes(value: object) -> bytes:
    import json

    return json.dumps(value).encode()


def test_a_backlog_request_for_another_worker_type_is_refused(
        api: tuple[InternalApi, dict[str, str]]) -> None:
    server, current = api
    other = _get(server, current["key"], "/api/v1/internal/ai/backlog-count/")
    assert other.status_code == 404
    assert "'video' only" in other.json()["detail"]
    asked = _get(server, current["key"], BACKLOG_PATH + "?worker_type=ai")
    assert asked.status_code == 400
    assert "backlog" not in asked.json()
    assert _get(server, current["key"], BACKLOG_PATH + "?worker_type=video").json() == {
        "backlog": 5}


@pytest.mark.parametrize("lengths", [["+24"], ["2_4"], ["24", "100"]])
def test_a_content_length_that_is_not_one_plain_number_is_400(
        api: tuple[InternalApi, dict[str, str]], store: VideoStore, lengths: list[str]) -> None:
    """int() takes `+24` and `2_4`; two lengths let a proxy and this API read two
    different bodies: each is refused and nothing is done (red team, issue 15.15)."""
    import json
    import socket

    server, current = api
    body = b'{"status": "PROCESSING"}'
    head = "".join(f"Content-Length: {n}\r\n" for n in lengths)
    request = (f"POST /api/v1/internal/videos/1/status HTTP/1.1\r\nHost: x\r\n"
               f"X-Internal-Key: {current['key']}\r\nContent-Type: application/json\r\n"
               f"{head}Connection: close\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status == 400, answer
    assert "Content-Length" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]
    assert store.video(1)["status"] == "UPLOADED"
    _still_up(server, current["key"])


def test_the_backlog_listing_refuses_another_worker_type(
        api: tuple[InternalApi, dict[str, str]]) -> None:
    server, current = api
    asked = _get(server, current["key"], BACKLOG_LIST_PATH + "?worker_type=ai")
    assert asked.status_code == 400

"""POST /api/v1/videos/: a video UPLOADED and its job down the dispatch parameter's path."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox import moto_server
from sandbox.dispatch import DispatchReader, ssm_reader
from sandbox.internal_api import InternalApi, KeyHolder, VideoDispatcher, VideoStore
from tests.sandbox_parts.video_path import VideoPaths, job_status, make_paths, set_dispatch

KEY = "upload-test-key-1234"


@pytest.fixture
def paths(emulator: moto_server.MotoServer) -> VideoPaths:
    return make_paths(emulator)


@pytest.fixture
def api(emulator: moto_server.MotoServer, paths: VideoPaths,
        tmp_path: Path) -> Iterator[InternalApi]:
    env = emulator.env()
    ssm = moto_server.client(env, "ssm")
    reader = DispatchReader(ssm_reader(ssm, paths.parameter), paths.parameter, max_age_s=0.5)
    dispatcher = VideoDispatcher(reader, moto_server.client(env, "sqs"),
                                 moto_server.client(env, "batch"))
    server = InternalApi(VideoStore(tmp_path / "videos.sqlite3"), KeyHolder(lambda: KEY, "key"),
                         dispatcher=dispatcher).start()
    server.reload_key()
    try:
        yield server
    finally:
        server.stop()


def _post(api: InternalApi, path: str, body: Any = None, key: str | None = KEY) -> Any:
    headers = {"X-Internal-Key": key} if key is not None else {}
    return requests.post(api.base_url + path, json=body if body is not None else {},
                         headers=headers, timeout=10)


def _upload(api: InternalApi, key: str | None = KEY) -> Any:
    return _post(api, "/api/v1/videos/", {"title": "lesson 1"}, key)


def test_without_the_parameter_the_answer_is_503_and_no_video_is_made(
        api: InternalApi, paths: VideoPaths) -> None:
    answer = _upload(api)
    assert answer.status_code == 503
    assert answer.json()["detail"] == f"no dispatch parameter {paths.parameter}"
    assert api.store.counts()["UPLOADED"] == 0


def test_asg_mode_sends_an_sqs_message_with_the_video_id(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    set_dispatch(emulator, paths, "asg")
    answer = _upload(api)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["mode"] == "asg" and set(body) == {"id", "mode", "message_id"}
    sqs = moto_server.client(emulator.env(), "sqs")
    got = sqs.receive_message(QueueUrl=paths.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in got] == [{"video_id": body["id"]}]
    assert got[0]["MessageId"] == body["message_id"]
    video = api.store.video(body["id"])
    assert video is not None and video["status"] == "UPLOADED"
    assert (video["dispatch_mode"], video["dispatch_error"]) == ("asg", None)
    assert api.store.backlog_count() == 1


def test_batch_mode_submits_a_job_named_for_the_video(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    set_dispatch(emulator, paths, "batch")
    body = _upload(api).json()
    assert body["mode"] == "batch" and set(body) == {"id", "mode", "job_id"}
    job = job_status(emulator, body["job_id"])
    assert job["jobName"] == f"video-{body['id']}"
    assert job["parameters"]["video_id"] == str(body["id"])
    assert job["status"] in ("SUBMITTED", "RUNNABLE")  # held, not succeeded at once
    assert job["jobQueue"].endswith(f"/{paths.job_queue}")


def test_a_switch_takes_effect_within_the_refresh(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    set_dispatch(emulator, paths, "asg")
    assert _upload(api).json()["mode"] == "asg"
    set_dispatch(emulator, paths, "batch")
    time.sleep(0.6)  # the reader's max age in this test
    assert _upload(api).json()["mode"] == "batch"


def test_a_refused_send_is_502_and_the_video_says_why(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    set_dispatch(emulator, paths, "batch")
    moto_server.client(emulator.env(), "batch").update_job_queue(
        jobQueue=paths.job_queue, state="DISABLED")
    answer = _upload(api)
    assert answer.status_code == 502
    body = answer.json()
    assert "DISABLED" in body["detail"] and body["status"] == "UPLOADED"
    video = api.store.video(body["id"])
    assert video is not None and video["status"] == "UPLOADED"
    assert "DISABLED" in str(video["dispatch_error"])
    assert api.store.backlog_count() == 1  # waiting, and counted: not silently gone


def test_a_malformed_parameter_is_503_naming_the_problem(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    moto_server.client(emulator.env(), "ssm").put_parameter(
        Name=paths.parameter, Type="String", Value='{"schema_version": 1, "mode": "fleet"}')
    answer = _upload(api)
    assert answer.status_code == 503
    assert paths.parameter in answer.json()["detail"]


def test_uploads_and_status_reports_need_the_key(api: InternalApi) -> None:
    assert _upload(api, key=None).status_code == 403
    assert _upload(api, key=KEY + "x").status_code == 403
    assert _post(api, "/api/v1/internal/videos/1/status", {"status": "DONE"},
                 key="wrong-key").status_code == 403
    assert api.store.counts()["UPLOADED"] == 0


def test_workers_move_a_video_processing_then_done(api: InternalApi) -> None:
    video_id = api.store.add_video("v")
    status = "/api/v1/internal/videos/{}/status".format
    assert _post(api, status(video_id), {"status": "DONE"}).status_code == 409  # not started
    assert _post(api, status(video_id), {"status": "PROCESSING"}).json() == {
        "id": video_id, "status": "PROCESSING"}
    assert api.store.backlog_count() == 1
    assert _post(api, status(video_id), {"status": "DONE"}).status_code == 200
    assert api.store.backlog_count() == 0
    again = _post(api, status(video_id), {"status": "PROCESSING"})  # a redelivered job
    assert (again.status_code, again.json()["status"]) == (409, "DONE")
    assert _post(api, status(999), {"status": "PROCESSING"}).status_code == 404
    assert _post(api, status(video_id), {"status": "READY"}).status_code == 400
    shown = requests.get(f"{api.base_url}/api/v1/internal/videos/{video_id}/",
                         headers={"X-Internal-Key": KEY}, timeout=5)
    assert shown.json()["status"] == "DONE"


def test_a_body_that_is_not_json_or_too_big_is_refused(api: InternalApi) -> None:
    bad = requests.post(api.base_url + "/api/v1/videos/", data=b"{nope",
                        headers={"X-Internal-Key": KEY}, timeout=5)
    assert bad.status_code == 400
    big = requests.post(api.base_url + "/api/v1/videos/", data=b"x" * 70_000,
                        headers={"X-Internal-Key": KEY}, timeout=5)
    assert big.status_code == 413


def test_a_title_with_a_lone_surrogate_is_400_and_no_video_is_made(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    set_dispatch(emulator, paths, "asg")
    body = b'{"title": "lesson \\ud800"}'  # JSON's escape for a lone surrogate
    answer = requests.post(api.base_url + "/api/v1/videos/", data=body,
                           headers={"X-Internal-Key": KEY}, timeout=5)
    assert answer.status_code == 400
    assert "title" in answer.json()["detail"]
    assert api.store.counts()["UPLOADED"] == 0
    assert _upload(api).status_code == 201  # the API is still up


def test_a_dispatch_value_for_another_worker_type_is_503_and_no_video_is_made(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    value = json.loads(paths.dispatch_value("asg"))
    moto_server.client(emulator.env(), "ssm").put_parameter(
        Name=paths.parameter, Type="String", Overwrite=True,
        Value=json.dumps({**value, "worker_type": "ai"}))
    answer = _upload(api)
    assert answer.status_code == 503
    assert "worker type 'ai'" in answer.json()["detail"]
    assert api.store.counts()["UPLOADED"] == 0


def test_a_dispatch_value_with_schema_version_true_is_503(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    value = json.loads(paths.dispatch_value("asg"))
    moto_server.client(emulator.env(), "ssm").put_parameter(
        Name=paths.parameter, Type="String", Overwrite=True,
        Value=json.dumps({**value, "schema_version": True}))
    answer = _upload(api)
    assert answer.status_code == 503
    assert "schema_version is True" in answer.json()["detail"]


def test_an_upload_for_another_worker_type_is_400(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer) -> None:
    set_dispatch(emulator, paths, "asg")
    answer = _post(api, "/api/v1/videos/", {"title": "t", "worker_type": "ai"})
    assert answer.status_code == 400
    assert "serves video" in answer.json()["detail"]
    assert api.store.counts()["UPLOADED"] == 0

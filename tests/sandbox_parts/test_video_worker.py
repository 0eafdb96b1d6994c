"""The sandbox's video worker drains real uploads on each path, and on both while draining."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from sandbox.dispatch import DispatchReader, ssm_reader
from sandbox.services import moto_server
from sandbox.services.batch_runner import BatchRunnerClient
from sandbox.services.internal_api import InternalApi, KeyHolder, VideoDispatcher, VideoStore
from sandbox.services.video_worker import ApiClient, VideoWorker, live_paths
from tests.sandbox_parts.video_path import VideoPaths, job_status, make_paths, set_dispatch

KEY = "worker-test-key-1234"


@pytest.fixture
def paths(emulator: moto_server.MotoServer) -> VideoPaths:
    return make_paths(emulator)


@pytest.fixture
def reader(emulator: moto_server.MotoServer, paths: VideoPaths) -> DispatchReader:
    ssm = moto_server.client(emulator.env(), "ssm")
    return DispatchReader(ssm_reader(ssm, paths.parameter), paths.parameter, max_age_s=0.2)


@pytest.fixture
def api(emulator: moto_server.MotoServer, reader: DispatchReader,
        tmp_path: Path) -> Iterator[InternalApi]:
    env = emulator.env()
    dispatcher = VideoDispatcher(reader, moto_server.client(env, "sqs"),
                                 moto_server.client(env, "batch"))
    server = InternalApi(VideoStore(tmp_path / "videos.sqlite3"), KeyHolder(lambda: KEY, "key"),
                         dispatcher=dispatcher).start()
    server.reload_key()
    try:
        yield server
    finally:
        server.stop()


WorkerFactory = Callable[..., VideoWorker]


@pytest.fixture
def worker(emulator: moto_server.MotoServer, api: InternalApi, reader: DispatchReader,
           tmp_path: Path) -> Iterator[WorkerFactory]:
    started: list[VideoWorker] = []
    outputs = tmp_path / "outputs.json"

    def make(job_seconds: float = 0.5, slots: int = 3) -> VideoWorker:
        env = emulator.env()
        made = VideoWorker(ApiClient(api.base_url, lambda: KEY),
                           moto_server.client(env, "sqs"),
                           BatchRunnerClient(emulator.endpoint_url, moto_server.REGION),
                           lambda: live_paths(reader, outputs), job_seconds, slots)
        started.append(made.start())
        return made

    yield make
    for made in started:
        made.stop()


def _upload(api: InternalApi, n: int) -> list[dict[str, object]]:
    answers = []
    for _ in range(n):
        answer = requests.post(api.base_url + "/api/v1/videos/", json={},
                               headers={"X-Internal-Key": KEY}, timeout=10)
        assert answer.status_code == 201, answer.text
        answers.append(answer.json())
    return answers


def _wait_all_done(api: InternalApi, ids: list[int], timeout_s: float = 30) -> float:
    started = time.monotonic()
    while any((api.store.video(i) or {}).get("status") != "DONE" for i in ids):
        assert time.monotonic() - started < timeout_s, [api.store.video(i) for i in ids]
        time.sleep(0.05)
    return time.monotonic() - started


def _queue_counts(emulator: moto_server.MotoServer, url: str) -> tuple[int, int]:
    attrs = moto_server.client(emulator.env(), "sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), \
        int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_asg_path_drains_to_done_and_deletes_every_message(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer,
        worker: WorkerFactory) -> None:
    set_dispatch(emulator, paths, "asg")
    ids = [int(a["id"]) for a in _upload(api, 6)]  # type: ignore[call-overload]
    assert api.store.backlog_count() == 6
    worker()
    _wait_all_done(api, ids)
    assert api.store.backlog_count() == 0
    assert _queue_counts(emulator, paths.queue_url) == (0, 0)


def test_batch_path_drains_to_done_and_every_job_succeeds(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer,
        worker: WorkerFactory) -> None:
    set_dispatch(emulator, paths, "batch")
    answers = _upload(api, 6)
    worker()
    seen: set[str] = set()
    ids = [int(a["id"]) for a in answers]  # type: ignore[call-overload]
    deadline = time.monotonic() + 30
    while any((api.store.video(i) or {}).get("status") != "DONE" for i in ids):
        assert time.monotonic() < deadline
        seen |= {job_status(emulator, str(a["job_id"]))["status"] for a in answers}
        time.sleep(0.05)
    assert "RUNNING" in seen  # jobs were in flight for real while the work went on
    assert api.store.backlog_count() == 0
    assert {job_status(emulator, str(a["job_id"]))["status"] for a in answers} == {"SUCCEEDED"}


def test_while_draining_both_paths_are_worked(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer,
        worker: WorkerFactory, tmp_path: Path) -> None:
    set_dispatch(emulator, paths, "asg")
    old = [int(a["id"]) for a in _upload(api, 3)]  # type: ignore[call-overload]
    set_dispatch(emulator, paths, "batch")
    time.sleep(0.3)
    new = _upload(api, 3)
    assert {a["mode"] for a in new} == {"batch"}
    (tmp_path / "outputs.json").write_text(json.dumps({"academy": {"draining": {
        "from_mode": "asg", "worker_type": "video", "queue_url": paths.queue_url,
        "group_name": "video-asg", "job_queue": None, "compute_environment": None}}}))
    worker()
    _wait_all_done(api, old + [int(a["id"]) for a in new])  # type: ignore[call-overload]
    assert _queue_counts(emulator, paths.queue_url) == (0, 0)


def test_without_draining_the_old_queue_is_left_alone(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer,
        worker: WorkerFactory) -> None:
    set_dispatch(emulator, paths, "asg")
    _upload(api, 1)
    set_dispatch(emulator, paths, "batch")
    time.sleep(0.3)  # the reader's max age in these tests
    worker()
    time.sleep(1.5)
    assert _queue_counts(emulator, paths.queue_url) == (1, 0)  # no fleet consumes it now


@pytest.mark.parametrize("mode", ["asg", "batch"])
def test_a_stopped_worker_gives_its_job_back_and_the_next_one_finishes_it(
        api: InternalApi, paths: VideoPaths, emulator: moto_server.MotoServer,
        worker: WorkerFactory, mode: str) -> None:
    set_dispatch(emulator, paths, mode)
    answer = _upload(api, 1)[0]
    video_id = int(answer["id"])  # type: ignore[call-overload]
    first = worker(job_seconds=30, slots=1)
    deadline = time.monotonic() + 10
    while (api.store.video(video_id) or {}).get("status") != "PROCESSING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.stop()
    assert (api.store.video(video_id) or {})["status"] == "PROCESSING"  # never DONE unworked
    if mode == "asg":
        assert _queue_counts(emulator, paths.queue_url) == (1, 0)  # visible again
    else:
        assert job_status(emulator, str(answer["job_id"]))["status"] == "RUNNABLE"
    worker(job_seconds=0.2, slots=1)
    _wait_all_done(api, [video_id])
    if mode == "batch":
        job = job_status(emulator, str(answer["job_id"]))
        assert (job["status"], len(job["attempts"])) == ("SUCCEEDED", 2)


def test_a_job_without_a_video_id_runs_as_an_empty_container(
        paths: VideoPaths, emulator: moto_server.MotoServer, worker: WorkerFactory) -> None:
    set_dispatch(emulator, paths, "batch")
    batch = moto_server.client(emulator.env(), "batch")
    job_id = batch.submit_job(jobName="verify-canary-1", jobQueue=paths.job_queue,
                              jobDefinition=paths.job_definition,
                              containerOverrides={"command": ["true"]})["jobId"]
    worker()
    deadline = time.monotonic() + 10
    while job_status(emulator, job_id)["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline, job_status(emulator, job_id)["status"]
        time.sleep(0.05)
    assert job_status(emulator, job_id)["startedAt"] > 0

"""Batch jobs held in flight by the sandbox's emulator (services/batch_runner.py), over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox.services import moto_server
from sandbox.services.batch_runner import (
    HOST_LOST,
    QUEUE_DELETED,
    BatchRunnerClient,
    BatchRunnerError,
)
from tests.sandbox_parts.video_path import VideoPaths, job_status, make_paths


def _batch(server: moto_server.MotoServer) -> Any:
    return moto_server.client(server.env(), "batch")


def _runner(server: moto_server.MotoServer) -> BatchRunnerClient:
    return BatchRunnerClient(server.endpoint_url, moto_server.REGION)


def _submit(server: moto_server.MotoServer, paths: VideoPaths, video_id: int = 1) -> str:
    return _batch(server).submit_job(
        jobName=f"video-{video_id}", jobQueue=paths.job_queue,
        jobDefinition=paths.job_definition, parameters={"video_id": str(video_id)})["jobId"]


def _listed(server: moto_server.MotoServer, paths: VideoPaths, status: str) -> list[str]:
    found = _batch(server).list_jobs(jobQueue=paths.job_queue, jobStatus=status)
    return [j["jobId"] for j in found["jobSummaryList"]]


def _wait_runnable(server: moto_server.MotoServer, paths: VideoPaths, job_id: str) -> None:
    deadline = time.monotonic() + 5
    while job_id not in _listed(server, paths, "RUNNABLE"):
        assert time.monotonic() < deadline, job_status(server, job_id)["status"]
        time.sleep(0.05)


def test_a_job_is_runnable_then_starting_running_and_succeeded(
        emulator: moto_server.MotoServer) -> None:
    paths = make_paths(emulator)
    job_id = _submit(emulator, paths, 7)
    assert job_status(emulator, job_id)["status"] in ("SUBMITTED", "RUNNABLE")
    _wait_runnable(emulator, paths, job_id)
    assert _listed(emulator, paths, "SUCCEEDED") == []  # moto's own would have succeeded it

    runner = _runner(emulator)
    claimed = runner.claim(paths.job_queue, lease_s=30)
    assert claimed is not None and claimed["jobId"] == job_id
    assert claimed["parameters"] == {"video_id": "7"}
    assert job_status(emulator, job_id)["status"] == "STARTING"
    assert runner.claim(paths.job_queue, lease_s=30) is None  # one job, claimed once

    runner.running(job_id, lease_s=30)
    assert _listed(emulator, paths, "RUNNING") == [job_id]
    runner.done(job_id, succeeded=True)
    job = job_status(emulator, job_id)
    assert job["status"] == "SUCCEEDED"
    assert job["startedAt"] <= job["stoppedAt"]
    assert len(job["attempts"]) == 1
    with pytest.raises(BatchRunnerError, match="not held"):
        runner.done(job_id, succeeded=True)  # finished jobs cannot be finished twice


def test_a_disabled_queue_keeps_its_jobs_runnable_and_refuses_new_ones(
        emulator: moto_server.MotoServer) -> None:
    paths = make_paths(emulator)
    job_id = _submit(emulator, paths)
    _wait_runnable(emulator, paths, job_id)
    batch = _batch(emulator)
    batch.update_job_queue(jobQueue=paths.job_queue, state="DISABLED")
    assert _runner(emulator).claim(paths.job_queue, lease_s=30) is None
    time.sleep(0.5)
    assert job_status(emulator, job_id)["status"] == "RUNNABLE"
    with pytest.raises(batch.exceptions.ClientException, match="DISABLED"):
        _submit(emulator, paths, 2)
    batch.update_job_queue(jobQueue=paths.job_queue, state="ENABLED")
    claimed = _runner(emulator).claim(paths.job_queue, lease_s=30)
    assert claimed is not None and claimed["jobId"] == job_id


def test_deleting_the_job_queue_fails_its_jobs(emulator: moto_server.MotoServer) -> None:
    paths = make_paths(emulator)
    waiting, running = _submit(emulator, paths, 1), _submit(emulator, paths, 2)
    _wait_runnable(emulator, paths, running)
    runner = _runner(emulator)
    claimed = runner.claim(paths.job_queue, lease_s=30)
    assert claimed is not None
    runner.running(claimed["jobId"], lease_s=30)
    batch = _batch(emulator)
    batch.update_job_queue(jobQueue=paths.job_queue, state="DISABLED")
    batch.delete_job_queue(jobQueue=paths.job_queue)
    for job_id in (waiting, running):
        job = job_status(emulator, job_id)
        assert (job["status"], job["statusReason"]) == ("FAILED", QUEUE_DELETED)
    with pytest.raises(BatchRunnerError, match="not held"):
        runner.done(claimed["jobId"], succeeded=True)  # the worker cannot succeed it after


def test_terminate_job_fails_a_running_job(emulator: moto_server.MotoServer) -> None:
    paths = make_paths(emulator)
    job_id = _submit(emulator, paths)
    _wait_runnable(emulator, paths, job_id)
    runner = _runner(emulator)
    assert runner.claim(paths.job_queue, lease_s=30) is not None
    runner.running(job_id, lease_s=30)
    _batch(emulator).terminate_job(jobId=job_id, reason="operator stopped it")
    deadline = time.monotonic() + 3
    while job_status(emulator, job_id)["status"] != "FAILED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job_status(emulator, job_id)["statusReason"] == "operator stopped it"


@pytest.mark.parametrize(("attempts", "after"), [(2, "RUNNABLE"), (1, "FAILED")])
def test_a_lapsed_claim_is_retried_while_attempts_allow(
        emulator: moto_server.MotoServer, attempts: int, after: str) -> None:
    paths = make_paths(emulator, attempts=attempts)
    job_id = _submit(emulator, paths)
    _wait_runnable(emulator, paths, job_id)
    assert _runner(emulator).claim(paths.job_queue, lease_s=0.3) is not None  # then "crashes"
    deadline = time.monotonic() + 5
    while job_status(emulator, job_id)["status"] != after:
        assert time.monotonic() < deadline, job_status(emulator, job_id)["status"]
        time.sleep(0.05)
    if after == "FAILED":
        assert job_status(emulator, job_id)["statusReason"] == HOST_LOST


def test_a_released_job_is_runnable_again(emulator: moto_server.MotoServer) -> None:
    paths = make_paths(emulator)
    job_id = _submit(emulator, paths)
    _wait_runnable(emulator, paths, job_id)
    runner = _runner(emulator)
    assert runner.claim(paths.job_queue, lease_s=30) is not None
    runner.release(job_id)
    assert job_status(emulator, job_id)["status"] == "RUNNABLE"
    again = runner.claim(paths.job_queue, lease_s=30)
    assert again is not None and again["attempt"] == 2

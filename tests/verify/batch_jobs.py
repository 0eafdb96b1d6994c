"""Batch jobs held in flight for the verify tests: by the sandbox's emulator where it can
(sandbox/services/batch_runner.py), else in the tests' in-process moto."""

from __future__ import annotations

import time

from sandbox.services import moto_server
from sandbox.services.batch_runner import BatchRunnerClient

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
JOB_DEFINITION = "academy-video-batch-jobdef"


def client(env: dict, service: str):
    return moto_server.client({**env, "AWS_DEFAULT_REGION": REGION}, service)


# The sandbox's emulator (batch_runner.py) holds jobs RUNNABLE, and a worker's claim
# makes them STARTING then RUNNING. SUBMITTED lasts one tick there (~0.2 s) and PENDING (a job
# waiting on dependsOn) is not modelled: those two are held in the in-process moto instead.
CLAIMED = ("STARTING", "RUNNING")
EMULATED = ("RUNNABLE", *CLAIMED)
NOT_EMULATED = ("SUBMITTED", "PENDING")


def hold_jobs(env: dict, job_queue: str, statuses: list[str]) -> None:
    """One job per status, held there: by the emulator's runner for RUNNABLE, STARTING and
    RUNNING (claimed first: a claim takes the oldest RUNNABLE job)."""
    batch = client(env, "batch")
    runner = BatchRunnerClient(env["AWS_ENDPOINT_URL"], REGION)
    for i, status in enumerate(sorted(statuses, key=lambda s: s not in CLAIMED)):
        assert status in EMULATED, status
        job_id = batch.submit_job(jobName=f"video-{i}", jobQueue=job_queue,
                                  jobDefinition=JOB_DEFINITION)["jobId"]
        deadline = time.monotonic() + 5
        while batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] != "RUNNABLE":
            assert time.monotonic() < deadline, "the emulator did not make the job RUNNABLE"
            time.sleep(0.05)
        if status in CLAIMED:
            claimed = runner.claim(job_queue, lease_s=600)
            assert claimed is not None and claimed["jobId"] == job_id
            if status == "RUNNING":
                runner.running(job_id, lease_s=600)
        assert batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == status


def hold_jobs_in_process(env: dict, job_queue: str, statuses: list[str]) -> None:
    """SUBMITTED and PENDING, which the emulator does not hold: the tests' moto runs in this
    process, so its job objects are set to the status (ListJobs still answers over HTTP)."""
    from moto.batch.models import batch_backends

    batch = client(env, "batch")
    backend = batch_backends[ACCOUNT][REGION]
    for i, status in enumerate(statuses):
        job_id = batch.submit_job(jobName=f"video-{i}", jobQueue=job_queue,
                                  jobDefinition=JOB_DEFINITION)["jobId"]
        job = backend._jobs[job_id]
        job.status, job.job_stopped = status, False



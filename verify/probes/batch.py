"""The Batch compute environment, job queue and latest ACTIVE job definition, as Batch
describes them (None: not found), and the canary job's run."""

import time
from dataclasses import dataclass

from contract.stack_output import Batch
from verify.context import CheckContext

_STARTED = {"STARTING", "RUNNING", "SUCCEEDED"}


def short_name(arn_or_name: str) -> str:
    return arn_or_name.rsplit("/", 1)[-1].split(":", 1)[0]


def compute_environment(ctx: CheckContext, name: str) -> dict | None:
    found = ctx.aws.client("batch").describe_compute_environments(
        computeEnvironments=[name])["computeEnvironments"]
    return found[0] if found else None


def job_queue(ctx: CheckContext, name: str) -> dict | None:
    found = ctx.aws.client("batch").describe_job_queues(jobQueues=[name])["jobQueues"]
    return found[0] if found else None


def latest_job_definition(ctx: CheckContext, name: str) -> dict | None:
    found = ctx.aws.client("batch").describe_job_definitions(
        jobDefinitionName=short_name(name), status="ACTIVE")["jobDefinitions"]
    return max(found, key=lambda d: d.get("revision", 0)) if found else None


@dataclass(frozen=True)
class CanaryRun:
    job_id: str
    status: str
    reason: str
    ran: bool  # it left RUNNABLE
    waited_s: float
    terminated: bool  # still queued at the end: terminated by the probe


def run_canary(ctx: CheckContext, batch: Batch) -> CanaryRun:
    """Submit a short job, poll until it leaves RUNNABLE or fails, terminate it if still
    queued. Its own bound (--canary-timeout); past the job queue's runnable_timeout_s Batch
    cancels the job itself (FAILED, with why)."""
    client = ctx.aws.client("batch")
    job = client.submit_job(
        jobName=f"verify-canary-{int(time.time())}",
        jobQueue=batch.job_queue,
        jobDefinition=batch.job_definition,
        containerOverrides={"command": ["true"]},
        tags={"purpose": "verify-canary"},
    )
    job_id = job["jobId"]
    limit = min(ctx.options.canary_timeout_s, ctx.remaining() - 1)
    stop = time.monotonic() + max(limit, 0.5)
    status, reason, started = "SUBMITTED", "", time.monotonic()
    ran = False
    delay = 0.25
    try:
        while True:
            jobs = client.describe_jobs(jobs=[job_id])["jobs"]
            if jobs:
                status = jobs[0].get("status", status)
                reason = jobs[0].get("statusReason", "")
                ran = status in _STARTED or bool(jobs[0].get("startedAt"))
                if ran or status == "FAILED":
                    break
            if time.monotonic() + delay > stop:
                break
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    finally:
        cleanup = status not in ("SUCCEEDED", "FAILED")
        if cleanup:
            client.terminate_job(jobId=job_id, reason="verify canary cleanup")
    return CanaryRun(job_id, status, reason, ran, time.monotonic() - started, cleanup)

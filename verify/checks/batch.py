"""`batch` (batch mode): the compute environment, job queue and job definition are usable and
as the stack asked; `--canary` proves a job leaves RUNNABLE."""

import time

from components.settings import instance_architecture
from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed

CHECK_ID = "batch"
_STARTED = {"STARTING", "RUNNING", "SUCCEEDED"}
BATCH_FIX = "`pulumi up` restores it"


def environment_architecture(environment: dict) -> set[str]:
    resources = environment.get("computeResources") or {}
    types = resources.get("instanceTypes") or []
    return {instance_architecture(t) for t in types}


def _name(arn_or_name: str) -> str:
    return arn_or_name.rsplit("/", 1)[-1].split(":", 1)[0]


def _environment_task(ctx: CheckContext) -> Task:
    batch = ctx.outputs["batch"]
    name = batch["compute_environment"]

    def run() -> CheckResult:
        found = ctx.aws.client("batch").describe_compute_environments(
            computeEnvironments=[name])["computeEnvironments"]
        if not found:
            return failed(CHECK_ID, name, f"compute environment {name} does not exist",
                          BATCH_FIX)
        ce = found[0]
        problems = []
        if ce.get("status") != "VALID":
            problems.append(f"status {ce.get('status')}: {ce.get('statusReason', '')}")
        if ce.get("state", "ENABLED") != "ENABLED":  # ENABLED is the API's default
            problems.append(f"state {ce.get('state')}")
        resources = ce.get("computeResources") or {}
        if resources.get("type", "").startswith("FARGATE"):
            arches = {"fargate (see the job definition)"}
        else:
            arches = environment_architecture(ce)
            if arches != {batch["architecture"]}:
                problems.append(f"instance types {resources.get('instanceTypes')} are "
                                f"{'/'.join(sorted(arches)) or 'unknown'}, the stack asked "
                                f"{batch['architecture']}")
        if problems:
            return failed(CHECK_ID, name, "; ".join(problems),
                          "an INVALID environment names its cause in statusReason (role, subnets, "
                          f"AMI); fix it and {BATCH_FIX}")
        return passed(CHECK_ID, name, f"VALID, ENABLED, {'/'.join(sorted(arches))} "
                      f"({', '.join(resources.get('instanceTypes') or [])})")

    return Task(CHECK_ID, name, run)


def _queue_task(ctx: CheckContext) -> Task:
    batch = ctx.outputs["batch"]
    name = batch["job_queue"]

    def run() -> CheckResult:
        found = ctx.aws.client("batch").describe_job_queues(jobQueues=[name])["jobQueues"]
        if not found:
            return failed(CHECK_ID, name, f"job queue {name} does not exist", BATCH_FIX)
        jq = found[0]
        problems = []
        if jq.get("status") != "VALID":
            problems.append(f"status {jq.get('status')}: {jq.get('statusReason', '')}")
        if jq.get("state", "ENABLED") != "ENABLED":
            problems.append(f"state {jq.get('state')}")
        connected = [_name(o["computeEnvironment"]) for o in jq.get("computeEnvironmentOrder", [])]
        if batch["compute_environment"] not in connected:
            problems.append(f"connected to {connected or 'nothing'}, not "
                            f"{batch['compute_environment']}")
        if problems:
            return failed(CHECK_ID, name, "; ".join(problems),
                          f"jobs submitted here never run: {BATCH_FIX}")
        return passed(CHECK_ID, name, f"VALID, ENABLED -> {batch['compute_environment']}")

    return Task(CHECK_ID, name, run)


def _definition_task(ctx: CheckContext) -> Task:
    batch = ctx.outputs["batch"]
    name = batch["job_definition"]

    def run() -> CheckResult:
        found = ctx.aws.client("batch").describe_job_definitions(
            jobDefinitionName=_name(name), status="ACTIVE")["jobDefinitions"]
        if not found:
            return failed(CHECK_ID, name, f"no ACTIVE revision of job definition {name}",
                          BATCH_FIX)
        latest = max(found, key=lambda d: d.get("revision", 0))
        attempts = (latest.get("retryStrategy") or {}).get("attempts")
        timeout = (latest.get("timeout") or {}).get("attemptDurationSeconds")
        problems = []
        if attempts != batch["retry_attempts"]:
            problems.append(f"retry attempts {attempts} != stack {batch['retry_attempts']}")
        if timeout != batch["timeout_s"]:
            problems.append(f"timeout {timeout}s != stack {batch['timeout_s']}s")
        platform = ((latest.get("containerProperties") or {}).get("runtimePlatform") or {})
        arch = platform.get("cpuArchitecture")
        if arch and arch.lower() != batch["architecture"]:
            problems.append(f"runtime platform {arch}, the stack asked {batch['architecture']}")
        if problems:
            summary = f"revision {latest.get('revision')}: " + "; ".join(problems)
            return failed(CHECK_ID, name, summary,
                          f"{BATCH_FIX} (a new revision with the stack's settings)")
        return passed(CHECK_ID, name, f"revision {latest.get('revision')} ACTIVE, attempts "
                      f"{attempts}, timeout {timeout}s")

    return Task(CHECK_ID, name, run)


def _canary_task(ctx: CheckContext) -> Task:
    batch = ctx.outputs["batch"]
    target = f"{batch['job_queue']} canary"

    def run() -> CheckResult:
        client = ctx.aws.client("batch")
        job = client.submit_job(
            jobName=f"verify-canary-{int(time.time())}",
            jobQueue=batch["job_queue"],
            jobDefinition=batch["job_definition"],
            containerOverrides={"command": ["true"]},
            tags={"purpose": "verify-canary"},
        )
        job_id = job["jobId"]
        # Its own bound (--canary-timeout); the run's deadline was raised to cover it. Past
        # the job queue's runnable_timeout_s Batch cancels the job itself (FAILED, with why).
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
        waited = time.monotonic() - started
        if ran:
            return passed(CHECK_ID, target, f"canary {job_id} left RUNNABLE ({status}) in "
                          f"{waited:.1f}s" + ("; terminated" if cleanup else ""))
        if status == "FAILED":
            return failed(CHECK_ID, target, f"canary {job_id} failed before starting: {reason}",
                          "read the job's statusReason and the CE's instance role / image")
        return failed(
            CHECK_ID, target,
            f"canary {job_id} still {status} after {waited:.0f}s: {reason or 'no status reason'}",
            "a job stuck RUNNABLE means the CE cannot place it: check the CE's maxvCpus, "
            "instance types for the job's vCPU/memory, subnets and the instance role",
        )

    return Task(CHECK_ID, target, run)


def tasks(ctx: CheckContext) -> list[Task]:
    planned = [_environment_task(ctx), _queue_task(ctx), _definition_task(ctx)]
    if ctx.options.canary:
        planned.append(_canary_task(ctx))
    return planned

"""`batch` (batch mode): the compute environment, job queue and job definition are usable and
as the stack asked; `--canary` proves a job leaves RUNNABLE."""

from contract.stack_output import Batch
from stack_settings.parse import instance_architecture
from verify.context import CheckContext, Task
from verify.probes import batch as probe
from verify.probes.batch import CanaryRun
from verify.report import CheckResult, failed, passed

CHECK_ID = "batch"
BATCH_FIX = "`pulumi up` restores it"


def environment_architecture(environment: dict) -> set[str]:
    resources = environment.get("computeResources") or {}
    types = resources.get("instanceTypes") or []
    return {instance_architecture(t) for t in types}


def judge_environment(batch: Batch, ce: dict | None) -> CheckResult:
    name = batch.compute_environment
    expected = {"status": "VALID", "state": "ENABLED", "architecture": batch.architecture}
    if ce is None:
        return failed(CHECK_ID, name, f"compute environment {name} does not exist", BATCH_FIX,
                      expected=expected)
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
        if arches != {batch.architecture}:
            problems.append(f"instance types {resources.get('instanceTypes')} are "
                            f"{'/'.join(sorted(arches)) or 'unknown'}, the stack asked "
                            f"{batch.architecture}")
    found = {"status": ce.get("status"), "state": ce.get("state", "ENABLED"),
             "architecture": "/".join(sorted(arches)) or None}
    if problems:
        return failed(CHECK_ID, name, "; ".join(problems),
                      "an INVALID environment names its cause in statusReason (role, subnets, "
                      f"AMI); fix it and {BATCH_FIX}", expected=expected, found=found)
    return passed(CHECK_ID, name, f"VALID, ENABLED, {'/'.join(sorted(arches))} "
                  f"({', '.join(resources.get('instanceTypes') or [])})",
                  expected=expected, found=found)


def judge_queue(batch: Batch, jq: dict | None) -> CheckResult:
    name = batch.job_queue
    expected = {"status": "VALID", "state": "ENABLED",
                "compute_environment": batch.compute_environment}
    if jq is None:
        return failed(CHECK_ID, name, f"job queue {name} does not exist", BATCH_FIX,
                      expected=expected)
    problems = []
    if jq.get("status") != "VALID":
        problems.append(f"status {jq.get('status')}: {jq.get('statusReason', '')}")
    if jq.get("state", "ENABLED") != "ENABLED":
        problems.append(f"state {jq.get('state')}")
    connected = [probe.short_name(o["computeEnvironment"])
                 for o in jq.get("computeEnvironmentOrder", [])]
    if batch.compute_environment not in connected:
        problems.append(f"connected to {connected or 'nothing'}, not "
                        f"{batch.compute_environment}")
    found = {"status": jq.get("status"), "state": jq.get("state", "ENABLED"),
             "compute_environment": connected}
    if problems:
        return failed(CHECK_ID, name, "; ".join(problems),
                      f"jobs submitted here never run: {BATCH_FIX}", expected=expected,
                      found=found)
    return passed(CHECK_ID, name, f"VALID, ENABLED -> {batch.compute_environment}",
                  expected=expected, found=found)


def judge_definition(batch: Batch, latest: dict | None) -> CheckResult:
    name = batch.job_definition
    expected = {"retry_attempts": batch.retry_attempts, "timeout_s": batch.timeout_s,
                "architecture": batch.architecture}
    if latest is None:
        return failed(CHECK_ID, name, f"no ACTIVE revision of job definition {name}",
                      BATCH_FIX, expected=expected)
    attempts = (latest.get("retryStrategy") or {}).get("attempts")
    timeout = (latest.get("timeout") or {}).get("attemptDurationSeconds")
    platform = ((latest.get("containerProperties") or {}).get("runtimePlatform") or {})
    arch = platform.get("cpuArchitecture")
    found = {"retry_attempts": attempts, "timeout_s": timeout,
             "architecture": arch.lower() if arch else None}
    problems = []
    if attempts != batch.retry_attempts:
        problems.append(f"retry attempts {attempts} != stack {batch.retry_attempts}")
    if timeout != batch.timeout_s:
        problems.append(f"timeout {timeout}s != stack {batch.timeout_s}s")
    if arch and arch.lower() != batch.architecture:
        problems.append(f"runtime platform {arch}, the stack asked {batch.architecture}")
    if problems:
        summary = f"revision {latest.get('revision')}: " + "; ".join(problems)
        return failed(CHECK_ID, name, summary,
                      f"{BATCH_FIX} (a new revision with the stack's settings)",
                      expected=expected, found=found)
    return passed(CHECK_ID, name, f"revision {latest.get('revision')} ACTIVE, attempts "
                  f"{attempts}, timeout {timeout}s", expected=expected, found=found)


def judge_canary(target: str, run: CanaryRun) -> CheckResult:
    expected, found = {"left_runnable": True}, {"left_runnable": run.ran, "status": run.status}
    if run.ran:
        return passed(CHECK_ID, target, f"canary {run.job_id} left RUNNABLE ({run.status}) in "
                      f"{run.waited_s:.1f}s" + ("; terminated" if run.terminated else ""),
                      expected=expected, found=found)
    if run.status == "FAILED":
        return failed(CHECK_ID, target,
                      f"canary {run.job_id} failed before starting: {run.reason}",
                      "read the job's statusReason and the CE's instance role / image",
                      expected=expected, found=found)
    return failed(
        CHECK_ID, target,
        f"canary {run.job_id} still {run.status} after {run.waited_s:.0f}s: "
        f"{run.reason or 'no status reason'}",
        "a job stuck RUNNABLE means the CE cannot place it: check the CE's maxvCpus, "
        "instance types for the job's vCPU/memory, subnets and the instance role",
        expected=expected, found=found,
    )


def tasks(ctx: CheckContext) -> list[Task]:
    batch = ctx.outputs.batch
    if batch is None:
        return []
    planned = [
        Task(CHECK_ID, batch.compute_environment, lambda: judge_environment(
            batch, probe.compute_environment(ctx, batch.compute_environment))),
        Task(CHECK_ID, batch.job_queue,
             lambda: judge_queue(batch, probe.job_queue(ctx, batch.job_queue))),
        Task(CHECK_ID, batch.job_definition, lambda: judge_definition(
            batch, probe.latest_job_definition(ctx, batch.job_definition))),
    ]
    if ctx.options.canary:
        target = f"{batch.job_queue} canary"
        planned.append(Task(CHECK_ID, target,
                            lambda: judge_canary(target, probe.run_canary(ctx, batch))))
    return planned

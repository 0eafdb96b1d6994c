"""`switch`: the dispatch parameter sends new work where the stack's mode says; while the old
path drains (videoDrain), what it still holds; once retired, nothing arrives on it.

Applies when the stack has a Batch-capable worker type (its output carries `dispatch`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.dispatch import DispatchValue
from contract.stack_output import Dispatch, Draining, StackOutput
from verify.context import CheckContext, Task
from verify.probes import sent, work
from verify.probes.dispatch import (
    DispatchReading,
    last_value_in_mode,
    moved_to_mode_at,
    read_dispatch,
)
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "switch"
RETIRE = "retire it with videoDrain=false once this is 0 (verify preflight refuses it before)"
OTHER_MODE = {"asg": "batch", "batch": "asg"}


def expected_dispatch(outputs: StackOutput, dispatch: Dispatch) -> dict[str, Any]:
    return {"mode": outputs.mode, "worker_type": dispatch.worker_type,
            "queue_url": dispatch.queue_url, "job_queue": dispatch.job_queue,
            "job_definition": dispatch.job_definition}


def path_of(value: dict[str, Any]) -> str:
    if value.get("mode") == "batch":
        return (f"batch: job queue {value.get('job_queue')}, job definition "
                f"{value.get('job_definition')}")
    return f"{value.get('mode')}: queue {value.get('queue_url')}"


def judge_dispatch(outputs: StackOutput, dispatch: Dispatch,
                   reading: DispatchReading) -> CheckResult:
    target = dispatch.parameter
    expected = expected_dispatch(outputs, dispatch)
    fix = "`pulumi up` writes the stack's value (the API reads it before it sends a job)"
    if reading.raw is None:
        return failed(CHECK_ID, target, f"{target} does not exist: the API cannot know where "
                      f"new {dispatch.worker_type} work goes", fix, expected=expected)
    if reading.value is None:
        return failed(CHECK_ID, target, f"{target} is not a dispatch value: {reading.problem}",
                      fix, expected=expected, found={"raw": reading.raw[:200]})
    found = {k: getattr(reading.value, k) for k in expected}
    if found != expected:
        return failed(
            CHECK_ID, target,
            f"the parameter sends new {reading.value.worker_type} work to "
            f"{path_of(found)}; the stack ({outputs.mode} mode) says {path_of(expected)}",
            f"{fix}; until then new work goes down the parameter's path",
            expected=expected, found=found)
    return passed(CHECK_ID, target, f"new {dispatch.worker_type} work goes to "
                  f"{path_of(found)}, as the stack's mode says", expected=expected, found=found)


def judge_draining(draining: Draining, messages: work.Messages | None,
                   protected: list[str] | None, jobs: work.Jobs | None) -> CheckResult:
    target = f"{draining.worker_type} old path ({draining.from_mode})"
    if draining.from_mode == "asg":
        found: dict[str, Any] = {
            "messages": messages.as_dict() if messages else None,
            "protected_instances": len(protected) if protected is not None else None}
        remaining = (messages.total if messages else 0) + len(protected or [])
        parts = [f"queue {short(draining.queue_url)}: "
                 + (messages.sentence() if messages else "gone")]
        if draining.group_name:
            parts.append(f"group {draining.group_name}: " + (
                "gone" if protected is None else
                f"{len(protected)} busy worker(s) (protected from scale-in)"))
    else:
        found = {"jobs": jobs.by_status if jobs else None}
        remaining = jobs.total if jobs else 0
        parts = [f"job queue {draining.job_queue}: " + (jobs.sentence() if jobs else "gone")]
    expected = {"remaining": 0}
    found["remaining"] = remaining
    summary = f"draining from {draining.from_mode}: " + "; ".join(parts)
    if remaining:
        return warned(CHECK_ID, target, summary, f"the old path still works them off: {RETIRE}",
                      expected=expected, found=found)
    return passed(CHECK_ID, target, f"{summary}: drained, {RETIRE}", expected=expected,
                  found=found)


def short(url: str | None) -> str:
    return (url or "?").rstrip("/").rsplit("/", 1)[-1]


def judge_retired_queue(dispatch: Dispatch, queue_name: str, queue_url: str,
                        messages: work.Messages | None, moved_at: datetime | None = None,
                        sent: list[datetime] | None = None) -> CheckResult:
    """Batch mode, not draining: the retained queue receives nothing any more. Messages it
    holds are told apart by when they were sent (`sent`, a sample of SentTimestamps) against
    when the dispatch parameter moved to Batch (`moved_at`): before, stranded old work (the
    old fleet's, say at adoption), to drain; after, something still sends down this path."""
    target = f"{dispatch.worker_type} retired path (asg)"
    expected = {"messages": 0}
    if messages is None:
        return passed(CHECK_ID, target, f"the retired queue {queue_name} is gone",
                      expected=expected, found={"messages": None})
    found: dict[str, Any] = {"messages": messages.total, **messages.as_dict()}
    if not messages.total:
        return passed(CHECK_ID, target, f"the retained queue {queue_name} receives nothing",
                      expected=expected, found=found)
    before = after = None
    if moved_at is not None and sent:
        before = sum(1 for t in sent if t < moved_at)
        after = len(sent) - before
        found.update(moved_to_batch_at=_at(moved_at), sent_before_switch=before,
                     sent_after_switch=after, sampled=len(sent))
    drain = ("drain them: pulumi config set videoDrain true and pulumi up (the fleet comes "
             "back beside Batch and works them off; verify switch counts them), then "
             "videoDrain false; resubmit to Batch and purge only what was resubmitted")
    if before and not after:
        return failed(
            CHECK_ID, target,
            f"{queue_name} holds {messages.sentence()}, all sent before "
            f"{dispatch.parameter} moved {dispatch.worker_type} to Batch at {_at(moved_at)} "
            f"(sampled {len(sent or [])}, newest sent {_at(max(sent or [moved_at]))}): old "
            "work stranded on the retired path, which nothing consumes in batch mode",
            drain, expected=expected, found=found)
    when = (f" ({after} of {len(sent or [])} sampled sent after {dispatch.parameter} moved "
            f"to Batch at {_at(moved_at)})" if after else
            " (when they were sent is not known: none visible to sample, or no history of "
            f"{dispatch.parameter})")
    return failed(
        CHECK_ID, target,
        f"{queue_name} holds {messages.sentence()} while new {dispatch.worker_type} work "
        "goes to Batch and nothing consumes it: something still sends work down the "
        f"retired path{when}",
        f"find the sender (the API must read {dispatch.parameter} before each job; an old "
        f"deploy or script may still send to {queue_url}); then {drain}",
        expected=expected, found=found)


def _at(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "?"


def judge_retired_job_queue(dispatch: Dispatch, earlier: DispatchValue | None,
                            jobs: work.Jobs | None) -> CheckResult:
    """asg mode, not draining: the job queue the parameter named before holds nothing new."""
    target = f"{dispatch.worker_type} retired path (batch)"
    expected = {"jobs": 0}
    if earlier is None or not earlier.job_queue:
        return passed(CHECK_ID, target, f"{dispatch.parameter} never named a Batch job queue",
                      expected=expected, found={"jobs": None})
    name = earlier.job_queue
    if jobs is None:
        return passed(CHECK_ID, target, f"the retired job queue {name} is gone",
                      expected=expected, found={"jobs": None})
    found = {"jobs": jobs.total, "by_status": jobs.by_status}
    if jobs.total:
        return failed(
            CHECK_ID, target,
            f"job queue {name}, retired when {dispatch.worker_type} moved to the fleet, still "
            f"has {jobs.sentence()}: something still sends work down the retired path",
            f"find the submitter (the API must read {dispatch.parameter} before each job); "
            f"send the work to the fleet's queue, then delete {name}",
            expected=expected, found=found)
    return passed(CHECK_ID, target, f"the retired job queue {name} has no job in flight",
                  expected=expected, found=found)


def _draining_task(ctx: CheckContext, draining: Draining) -> CheckResult:
    messages = protected = jobs = None
    if draining.from_mode == "asg":
        if draining.queue_url:
            messages = work.queue_messages(ctx.aws.client("sqs"), draining.queue_url)
        if draining.group_name:
            protected = work.protected_instances(ctx.aws.client("autoscaling"),
                                                 draining.group_name)
    elif draining.job_queue:
        jobs = work.jobs_in_flight(ctx.aws.client("batch"), draining.job_queue)
    return judge_draining(draining, messages, protected, jobs)


def _retired_task(ctx: CheckContext, dispatch: Dispatch) -> CheckResult:
    if dispatch.mode == "batch":
        worker = ctx.outputs.worker_types.get(dispatch.worker_type)
        if worker is None:
            return passed(CHECK_ID, f"{dispatch.worker_type} retired path (asg)",
                          f"{dispatch.worker_type} has no queue in this stack")
        sqs = ctx.aws.client("sqs")
        messages = work.queue_messages(sqs, worker.queue.url)
        if not messages or not messages.total:
            return judge_retired_queue(dispatch, worker.queue.name, worker.queue.url, messages)
        return judge_retired_queue(
            dispatch, worker.queue.name, worker.queue.url, messages,
            moved_to_mode_at(ctx, dispatch.parameter, "batch"),
            sent.sent_times(sqs, worker.queue.url))
    earlier = last_value_in_mode(ctx, dispatch.parameter, "batch")
    jobs = (work.jobs_in_flight(ctx.aws.client("batch"), earlier.job_queue)
            if earlier is not None and earlier.job_queue else None)
    return judge_retired_job_queue(dispatch, earlier, jobs)


def tasks(ctx: CheckContext) -> list[Task]:
    outputs = ctx.outputs
    dispatch = outputs.dispatch
    if dispatch is None:
        return []
    planned = [Task(CHECK_ID, dispatch.parameter, lambda: judge_dispatch(
        outputs, dispatch, read_dispatch(ctx, dispatch.parameter)))]
    draining = outputs.draining
    if draining is not None:
        planned.append(Task(CHECK_ID, f"{draining.worker_type} old path ({draining.from_mode})",
                            lambda: _draining_task(ctx, draining)))
    else:
        planned.append(Task(CHECK_ID, f"{dispatch.worker_type} retired path "
                                      f"({OTHER_MODE[dispatch.mode]})",
                            lambda: _retired_task(ctx, dispatch)))
    return planned

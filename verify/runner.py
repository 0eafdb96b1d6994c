"""Run check tasks in parallel with a bound, under one deadline for the whole run.

Workers are daemon threads: a task still blocked on the network at the deadline is reported
as ERROR "deadline passed" and cannot keep the process alive.
"""

import queue
import threading
import time
from collections.abc import Callable

from verify.context import Task
from verify.errors import TransportError, VerifyError
from verify.report import CheckResult, Status, errored
from verify.secrets import Masker

Progress = Callable[[int, int, list[str]], None]


def _aws_error(exc: Exception) -> tuple[str, str] | None:
    """(summary, hint) for botocore's errors, None for anything else."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "AWS call")
        return (
            f"{operation}: {error.get('Code', 'error')}: {error.get('Message', '')}".strip(),
            "the resource is missing or this identity may not read it: `pulumi up`, or check "
            "the runner's permissions and region",
        )
    if isinstance(exc, BotoCoreError):
        return (f"AWS unreachable or not configured: {exc}",
                "check credentials, region and AWS_ENDPOINT_URL (boto3's standard configuration)")
    return None


def _execute(task: Task) -> list[CheckResult]:
    started = time.monotonic()
    try:
        produced = task.run()
        results = [produced] if isinstance(produced, CheckResult) else list(produced)
    except TransportError as exc:
        results = [errored(task.check_id, task.target, exc.reason, exc.hint)]
    except VerifyError as exc:
        results = [errored(task.check_id, task.target, str(exc),
                           exc.hint or "see the message; rerun this check alone to confirm")]
    except Exception as exc:  # noqa: BLE001 (a bug or an unexpected answer must not stop the run)
        known = _aws_error(exc)
        summary, hint = known or (
            f"{type(exc).__name__}: {exc}",
            "unexpected error in the check; rerun with the same options to confirm",
        )
        results = [errored(task.check_id, task.target, summary, hint)]
    elapsed = time.monotonic() - started
    return [r if r.duration_s else r.with_duration(elapsed) for r in results]


def masked(result: CheckResult, masker: Masker) -> CheckResult:
    return CheckResult(
        result.id,
        masker.mask(result.target),
        result.status,
        masker.mask(result.summary),
        masker.mask(result.hint),
        result.duration_s,
        masker.mask_value(result.expected),
        masker.mask_value(result.found),
    )


def start_order(tasks: list[Task]) -> list[int]:
    """Task indices taking each check in turn (its 1st task, then each check's 2nd, ...).

    The per-host checks have a task per API host: in list order, 20 hosts' 40 tasks would
    start before any check listed after them, and a slow fleet-wide one (the metric's forced
    datapoint, seconds) would only begin once they were done, so a run's time would grow
    with the hosts although the workers could overlap them."""
    by_check: dict[str, list[int]] = {}
    for index, task in enumerate(tasks):
        by_check.setdefault(task.check_id, []).append(index)
    turns = max((len(indices) for indices in by_check.values()), default=0)
    return [indices[turn] for turn in range(turns)
            for indices in by_check.values() if turn < len(indices)]


def run_tasks(
    tasks: list[Task],
    deadline: float,
    parallel: int,
    masker: Masker,
    progress: Progress | None = None,
) -> list[CheckResult]:
    """Results in task order; unfinished tasks at `deadline` (a monotonic time) become ERROR.

    Tasks start in turns across checks (see `start_order`), not in the list's order."""
    pending: queue.Queue[int] = queue.Queue()
    for index in start_order(tasks):
        pending.put(index)
    results: dict[int, list[CheckResult]] = {}
    started: dict[int, float] = {}
    lock = threading.Condition()

    def worker() -> None:
        while True:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            with lock:
                if time.monotonic() >= deadline:
                    return
                started[index] = time.monotonic()
            outcome = _execute(tasks[index])
            with lock:
                results[index] = outcome
                lock.notify_all()

    for _ in range(max(1, min(parallel, len(tasks)))):
        threading.Thread(target=worker, daemon=True, name="verify-worker").start()

    with lock:
        while len(results) < len(tasks):
            if progress is not None:
                running = [
                    f"{tasks[i].check_id} {tasks[i].target}" for i in started if i not in results
                ]
                progress(len(results), len(tasks), running)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            lock.wait(timeout=min(remaining, 0.2))
        finished = dict(results)
        now = time.monotonic()
        begun = dict(started)

    ordered: list[CheckResult] = []
    for index, task in enumerate(tasks):
        if index in finished:
            ordered.extend(finished[index])
            continue
        waited = now - begun[index] if index in begun else 0.0
        ordered.append(
            CheckResult(
                task.check_id,
                task.target,
                Status.ERROR,
                "deadline passed before this check finished"
                if index in begun
                else "deadline passed before this check started",
                "raise --timeout, or find the slow host or service (the check was still waiting)",
                round(waited, 3),
            )
        )
    return [masked(result, masker) for result in ordered]

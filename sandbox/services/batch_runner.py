"""Batch jobs held in flight in the sandbox's moto server, run by the sandbox's video worker.

moto without Docker (`batch_simple`) marks every job SUCCEEDED inside SubmitJob, so nothing
is ever RUNNABLE or RUNNING. install() (called by sandbox.services.aws_emulator) patches it so that:

- SubmitJob leaves the job SUBMITTED; a ticker moves it to RUNNABLE within ~0.2 s (a
  DISABLED queue refuses new jobs, as AWS does).
- A worker claims the oldest RUNNABLE job of an ENABLED queue (-> STARTING), reports it
  running (-> RUNNING) and finishes it (-> SUCCEEDED or FAILED), through small sandbox-only
  endpoints under /moto-api/sandbox/batch/ (BatchRunnerClient below). Jobs on a DISABLED
  queue stay RUNNABLE. A claim holds a lease: a worker that vanishes lets it lapse, and the
  job goes back to RUNNABLE while the job definition's retryStrategy.attempts allows,
  else FAILED ("Host EC2 (sandbox worker) terminated"), as AWS retries a lost host.
- DeleteJobQueue terminates every unfinished job of the queue (FAILED, "job queue
  deleted"), as AWS does; TerminateJob and CancelJob take effect (moto leaves them to a
  container thread that never runs without Docker).

describe_jobs and list_jobs(jobStatus=...) are moto's own and show these statuses.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

import requests

# moto has no public hook for a Batch job's lifecycle (without Docker it finishes every job
# inside SubmitJob): the runner is the one place that reaches into moto's private parts, pinned
# to this version (requirements-dev.txt) and each part named here with why;
# tests/sandbox_parts/test_moto_private_parts.py fails when moto changes any of them or code
# here uses one not listed. (The Lambda runtime goes through moto's public API only.)
MOTO_VERSION = "5.2.5"
MOTO_PRIVATE = {
    "moto.moto_api._internal.managed_state_model:_status": "a job's state as stored, without "
    "ManagedState's time-based advance that `status` runs on every read",
    "moto.batch.models:_mark_stopped": "finishes a job as moto's container thread would",
    "moto.batch.models:_start_attempt": "opens an attempt (describe_jobs' attempts[])",
    "moto.batch.models:_stop_attempt": "closes it (a retry after a lost lease)",
    "moto.batch.models:_stream_name": "the job's log stream, as AWS names it",
    "moto.batch.models:_jobs": "the backend's job table a submitted job is kept in",
    "moto.moto_api._internal.urls:url_paths": "the runner's endpoints under /moto-api/",
}
ENDPOINT = "/moto-api/sandbox/batch"
QUEUE_DELETED = "job queue deleted"
HOST_LOST = "Host EC2 (sandbox worker) terminated"
TICK_S = 0.2
DEFAULT_LEASE_S = 60.0

_lock = threading.RLock()
_held: dict[str, dict[str, Any]] = {}  # job id -> {"job", "backend", "lease_until"}


class BatchRunnerError(RuntimeError):
    """The emulator refused or did not answer a runner call; the message says which."""


# ---- inside the emulator -------------------------------------------------------------------


def _attempts_allowed(job: Any) -> int:
    strategy = getattr(job.job_definition, "retry_strategy", None) or {}
    try:
        return max(1, int(strategy.get("attempts", 1)))
    except (TypeError, ValueError):
        return 1


def _finish(job: Any, succeeded: bool, reason: str | None) -> None:
    if reason:
        job.job_stopped_reason = reason
    job.log_stream_name = job._stream_name
    job._mark_stopped(success=succeeded)
    _held.pop(job.job_id, None)


def _start(job: Any, lease_s: float) -> None:
    job.status = "STARTING"
    job.job_started_at = datetime.now()
    job.log_stream_name = job._stream_name
    job._start_attempt()
    _held[job.job_id]["lease_until"] = time.monotonic() + lease_s


def _tick() -> None:
    now = time.monotonic()
    with _lock:
        for held in list(_held.values()):
            job = held["job"]
            if job.job_stopped:
                _held.pop(job.job_id, None)
            elif job.stop:  # TerminateJob / CancelJob asked for it
                _finish(job, False, job.job_stopped_reason)
            elif job._status in ("SUBMITTED", "PENDING"):
                job.status = "RUNNABLE"
            elif job._status in ("STARTING", "RUNNING") and now > held["lease_until"]:
                if len(job.attempts) < _attempts_allowed(job):
                    job._stop_attempt()
                    job.status = "RUNNABLE"
                else:
                    _finish(job, False, HOST_LOST)


def _ticker() -> None:
    while True:
        time.sleep(TICK_S)
        try:
            _tick()
        except Exception as exc:  # noqa: BLE001 - the emulator keeps serving; say what broke
            print(f"batch runner: tick failed: {type(exc).__name__}: {exc}", flush=True)


def _queue_of(backend: Any, name: str) -> Any:
    queue = backend.get_job_queue(name)
    if queue is None:
        raise LookupError(f"job queue {name} does not exist")
    return queue


def _claim(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from moto.batch.models import batch_backends

    backend = batch_backends[body.get("account_id", "123456789012")][body["region"]]
    queue = _queue_of(backend, body["job_queue"])
    if queue.state != "ENABLED":
        return 204, {}
    lease_s = float(body.get("lease_s") or DEFAULT_LEASE_S)
    with _lock:
        runnable = [j for j in queue.jobs if j.job_id in _held and j._status == "RUNNABLE"
                    and not j.stop]
        if not runnable:
            return 204, {}
        job = min(runnable, key=lambda j: j.job_created_at)
        _start(job, lease_s)
        return 200, {"jobId": job.job_id, "jobName": job.job_name,
                     "parameters": dict(job.parameters),
                     "containerOverrides": job.container_overrides,
                     "attempt": len(job.attempts)}


def _held_job(body: dict[str, Any]) -> dict[str, Any]:
    held = _held.get(str(body.get("job_id")))
    if held is None:
        raise LookupError(f"job {body.get('job_id')!r} is not held by the runner (finished, "
                          "terminated or never submitted here)")
    return held


def _running(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    with _lock:
        held = _held_job(body)
        job = held["job"]
        if job._status not in ("STARTING", "RUNNING"):
            raise LookupError(f"job {job.job_id} is {job._status}, not claimed")
        job.status = "RUNNING"
        held["lease_until"] = time.monotonic() + float(body.get("lease_s") or DEFAULT_LEASE_S)
        return 200, {"jobId": job.job_id, "status": job._status}


def _done(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    with _lock:
        job = _held_job(body)["job"]
        if job._status not in ("STARTING", "RUNNING"):
            raise LookupError(f"job {job.job_id} is {job._status}, not claimed")
        _finish(job, bool(body.get("succeeded")), body.get("reason"))
        return 200, {"jobId": job.job_id, "status": job._status}


def _release(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A worker stopping before the job is done gives it back (RUNNABLE, as after a retry)."""
    with _lock:
        job = _held_job(body)["job"]
        job._stop_attempt()
        job.status = "RUNNABLE"
        return 200, {"jobId": job.job_id, "status": job._status}


_ACTIONS = {"claim": _claim, "running": _running, "done": _done, "release": _release}


def _endpoint(action: str) -> Any:
    def handle(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        try:
            raw = request.get_data() if hasattr(request, "get_data") else request.body
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
            status, answer = _ACTIONS[action](body)
        except (LookupError, ValueError) as exc:
            status, answer = 409, {"error": str(exc).strip("'\"")}
        return status, {"Content-Type": "application/json"}, json.dumps(answer)

    handle.__name__ = f"sandbox_batch_{action}"
    return handle


def install() -> None:
    """Patch moto's Docker-less Batch and add the runner's endpoints (before the server starts)."""
    from moto.batch.exceptions import ClientException
    from moto.batch.models import BatchBackend, Job
    from moto.batch_simple.models import BatchSimpleBackend
    from moto.moto_api._internal import urls

    def submit_job(self: Any, job_name: str, job_def_id: str, job_queue: str,
                   array_properties: dict[str, Any], depends_on: Any = None,
                   container_overrides: Any = None, eks_properties_override: Any = None,
                   timeout: Any = None, parameters: Any = None, tags: Any = None) -> Any:
        if array_properties and "size" in array_properties:
            raise ClientException("array jobs are not held by the sandbox's Batch runner")
        job_def = self.get_job_definition(job_def_id)
        if job_def is None:
            raise ClientException(f"Job definition {job_def_id} does not exist")
        queue = self.get_job_queue(job_queue)
        if queue is None:
            raise ClientException(f"Job queue {job_queue} does not exist")
        if queue.state != "ENABLED":
            raise ClientException(f"Job queue {queue.name} is {queue.state}: it does not "
                                  "accept new jobs")
        real = self.backend
        job = Job(job_name, job_def, queue, real, log_backend=real.logs_backend,
                  container_overrides=container_overrides,
                  eks_properties_override=eks_properties_override, depends_on=depends_on,
                  all_jobs=real._jobs, timeout=timeout, array_properties=array_properties,
                  parameters=parameters, tags=tags)
        with _lock:
            real._jobs[job.job_id] = job
            _held[job.job_id] = {"job": job, "lease_until": 0.0}
        return job_name, job.job_id, job.arn

    original_delete = BatchBackend.delete_job_queue

    def delete_job_queue(self: Any, queue_name: str) -> None:
        queue = self.get_job_queue(queue_name)
        if queue is not None:
            with _lock:
                for job in list(queue.jobs):
                    if not job.job_stopped:
                        _finish(job, False, QUEUE_DELETED)
        original_delete(self, queue_name)

    BatchSimpleBackend.submit_job = submit_job  # type: ignore[method-assign]
    BatchBackend.delete_job_queue = delete_job_queue  # type: ignore[method-assign]
    for action in _ACTIONS:
        urls.url_paths[f"{{0}}{ENDPOINT}/{action}"] = _endpoint(action)
    threading.Thread(target=_ticker, name="sandbox-batch-runner", daemon=True).start()


# ---- in the worker -------------------------------------------------------------------------


class BatchRunnerClient:
    """The worker's side: claim a RUNNABLE job, report it RUNNING, finish or release it."""

    def __init__(self, endpoint_url: str, region: str, timeout_s: float = 10.0) -> None:
        self.base = endpoint_url.rstrip("/") + ENDPOINT
        self.region, self.timeout_s = region, timeout_s
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only, never a proxy of the shell

    def _post(self, action: str, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            answer = self.session.post(f"{self.base}/{action}", json=body,
                                       timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise BatchRunnerError(f"the Batch runner at {self.base} did not answer: "
                                   f"{exc}") from exc
        if answer.status_code == 204:
            return None
        try:
            found = answer.json()
        except ValueError:
            found = {"error": answer.text[:200]}
        if answer.status_code != 200:
            raise BatchRunnerError(f"{action}: {found.get('error') or answer.status_code}")
        return found

    def claim(self, job_queue: str, lease_s: float) -> dict[str, Any] | None:
        return self._post("claim", {"region": self.region, "job_queue": job_queue,
                                    "lease_s": lease_s})

    def running(self, job_id: str, lease_s: float) -> None:
        self._post("running", {"job_id": job_id, "lease_s": lease_s})

    def done(self, job_id: str, succeeded: bool, reason: str | None = None) -> None:
        self._post("done", {"job_id": job_id, "succeeded": succeeded, "reason": reason})

    def release(self, job_id: str) -> None:
        self._post("release", {"job_id": job_id})

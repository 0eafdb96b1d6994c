"""The sandbox's video worker: takes jobs from whichever video path is live and does them.

Live paths: the one the dispatch parameter names now (asg: the video queue; batch: the job
queue), and, while a switch drains, the one the stack output's `draining` names. Both may be
live at once. Each of --slots slots takes one job at a time:

- SQS: ReceiveMessage, video PROCESSING, work --job-seconds, video DONE, DeleteMessage.
- Batch: claim a RUNNABLE job from the emulator's runner (services/batch_runner.py: STARTING),
  video PROCESSING, job RUNNING, work, video DONE, job SUCCEEDED.

Nothing is lost: a message is deleted and a job succeeds only after the API said DONE. A
stop (SIGTERM) mid-job gives the job back (the message visible again, the job RUNNABLE); a
crash lets the message reappear after its visibility timeout and the job's lease lapse. A
redelivered job whose video is already DONE is acknowledged without doing it again. A Batch
job without a video id (verify's canary) runs as an empty container would: RUNNING, then
SUCCEEDED; an SQS message without one is left in flight (for the DLQ), as a worker would.

    python -m sandbox.services.video_worker --api-base-url URL --key-parameter NAME
        --dispatch-parameter NAME [--outputs FILE] [--job-seconds S] [--slots N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import requests

from sandbox.dispatch import DispatchError, DispatchReader, ssm_reader
from sandbox.services.batch_runner import BatchRunnerClient, BatchRunnerError
from stack_settings.parse import INTERNAL_KEY_HEADER

STATUS_PATH = "/api/v1/internal/videos/{id}/status"


@dataclass(frozen=True)
class LivePath:
    kind: Literal["sqs", "batch"]
    target: str  # the queue URL or the job queue name
    why: str  # "dispatch" or "draining"


def live_paths(reader: DispatchReader, outputs_file: Path | None) -> list[LivePath]:
    """The dispatch parameter's path (the stack output's `dispatch` while the parameter is
    missing) and the `draining` one, if any."""
    academy: dict[str, Any] = {}
    if outputs_file is not None:
        try:
            document = json.loads(outputs_file.read_text())
            academy = document.get("academy", document) if isinstance(document, dict) else {}
        except (OSError, ValueError):
            academy = {}
    found: list[LivePath] = []

    def add(mode: object, queue_url: object, job_queue: object, why: str) -> None:
        if mode == "asg" and isinstance(queue_url, str) and queue_url:
            path = LivePath("sqs", queue_url, why)
        elif mode == "batch" and isinstance(job_queue, str) and job_queue:
            path = LivePath("batch", job_queue, why)
        else:
            return
        if all((p.kind, p.target) != (path.kind, path.target) for p in found):
            found.append(path)

    try:
        d = reader.current()
        add(d.mode, d.queue_url, d.job_queue, "dispatch")
    except DispatchError:
        exported = academy.get("dispatch") or {}
        add(exported.get("mode"), exported.get("queue_url"), exported.get("job_queue"),
            "dispatch")
    draining = academy.get("draining") or {}
    add(draining.get("from_mode"), draining.get("queue_url"), draining.get("job_queue"),
        "draining")
    return found


class ApiClient:
    """Reports a video's status to the internal API with the key (read again on a 403)."""

    def __init__(self, base_url: str, read_key: Callable[[], str], timeout_s: float = 10) -> None:
        self.base_url, self.read_key, self.timeout_s = base_url.rstrip("/"), read_key, timeout_s
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only
        self._key = read_key()

    def mark(self, video_id: int, status: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body); 0 when the API did not answer."""
        for attempt in (1, 2):
            try:
                answer = self.session.post(
                    self.base_url + STATUS_PATH.format(id=video_id), json={"status": status},
                    headers={INTERNAL_KEY_HEADER: self._key}, timeout=self.timeout_s)
            except requests.RequestException as exc:
                return 0, {"detail": f"the internal API did not answer: {type(exc).__name__}"}
            if answer.status_code == 403 and attempt == 1:
                self._key = self.read_key()  # rotated
                continue
            try:
                body = answer.json()
            except ValueError:
                body = {"detail": answer.text[:200]}
            return answer.status_code, body if isinstance(body, dict) else {}
        return 403, {"detail": "the key was refused"}


class VideoWorker:
    def __init__(self, api: ApiClient, sqs: Any, runner: BatchRunnerClient,
                 paths: Callable[[], list[LivePath]], job_seconds: float = 3.0, slots: int = 4,
                 log: Callable[[str], None] | None = None) -> None:
        self.api, self.sqs, self.runner, self.paths = api, sqs, runner, paths
        self.job_seconds, self.slots = job_seconds, slots
        self.log = log or (lambda line: None)
        self.lease_s = job_seconds * 2 + 30
        self.stopping = threading.Event()
        self.done = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._complaints: dict[str, float] = {}

    # ---- running ---------------------------------------------------------------------

    def start(self) -> VideoWorker:
        for n in range(self.slots):
            thread = threading.Thread(target=self._slot, args=(n,), name=f"slot-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def _slot(self, n: int) -> None:
        turn = n
        while not self.stopping.is_set():
            paths = self.paths()
            if not paths:
                self._complain("paths", "no live video path (no dispatch parameter yet?)")
            took = False
            for i in range(len(paths)):
                path = paths[(turn + i) % len(paths)]
                wait_s = 1 if len(paths) == 1 else 0
                try:
                    took = self._take_sqs(path.target, wait_s) if path.kind == "sqs" \
                        else self._take_batch(path.target)
                except Exception as exc:  # noqa: BLE001 - a gone queue or a hiccup: say, go on
                    self._complain(f"{path.kind} {path.target}", f"{type(exc).__name__}: {exc}")
                if took:
                    break
            turn += 1
            if not took and not (len(paths) == 1 and paths[0].kind == "sqs"):
                self.stopping.wait(0.3)

    def _complain(self, about: str, problem: str) -> None:
        """Log a path's problem at most every 30 s (a deleted queue is polled every second)."""
        now = time.monotonic()
        with self._lock:
            if now - self._complaints.get(about, -1e9) < 30:
                return
            self._complaints[about] = now
        self.log(f"{about}: {problem}")

    def _work(self, renew: Callable[[], None] | None = None) -> bool:
        """The job itself; False when the worker is stopping (the job is given back)."""
        deadline = time.monotonic() + self.job_seconds
        next_renewal = time.monotonic() + self.lease_s / 3
        while (left := deadline - time.monotonic()) > 0:
            if self.stopping.wait(min(left, 0.1)):
                return False
            if renew and time.monotonic() > next_renewal:
                renew()
                next_renewal = time.monotonic() + self.lease_s / 3
        return True

    def _finished(self, video_id: int, path: str, started: float) -> None:
        with self._lock:
            self.done += 1
        self.log(f"video {video_id}: {path} PROCESSING -> DONE in "
                 f"{time.monotonic() - started:.1f} s")

    # ---- SQS -------------------------------------------------------------------------

    def _take_sqs(self, queue_url: str, wait_s: int) -> bool:
        got = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1,
                                       WaitTimeSeconds=wait_s)
        messages = got.get("Messages") or []
        if not messages:
            return False
        message, started = messages[0], time.monotonic()
        handle = message["ReceiptHandle"]
        video_id = _video_id_of(message.get("Body"))
        if video_id is None:  # not a video job: left in flight, then the DLQ, as in AWS
            self.log(f"message {message['MessageId']}: no video_id; left for the DLQ")
            return True
        code, body = self.api.mark(video_id, "PROCESSING")
        if code == 409 and body.get("status") == "DONE":
            self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
            self.log(f"video {video_id}: already DONE; duplicate message deleted")
            return True
        if code != 200:
            self.log(f"video {video_id}: PROCESSING refused ({code} {body.get('detail')}); "
                     "the message is left to reappear")
            return True
        if not self._work():
            self.sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle,
                                               VisibilityTimeout=0)
            self.log(f"video {video_id}: stopping mid-job; the message is visible again")
            return True
        code, body = self.api.mark(video_id, "DONE")
        if code != 200:
            self.log(f"video {video_id}: DONE refused ({code} {body.get('detail')}); the "
                     "message is kept")
            return True
        self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
        self._finished(video_id, "sqs", started)
        return True

    # ---- Batch -----------------------------------------------------------------------

    def _take_batch(self, job_queue: str) -> bool:
        claimed = self.runner.claim(job_queue, self.lease_s)
        if claimed is None:
            return False
        job_id, started = claimed["jobId"], time.monotonic()
        video_id = _video_id_of(json.dumps(claimed.get("parameters") or {}))
        if video_id is None:  # e.g. verify's canary (command `true`): an empty container
            self.runner.running(job_id, self.lease_s)
            self.runner.done(job_id, True)
            self.log(f"job {job_id} ({claimed.get('jobName')}): no video_id; ran as an empty "
                     "container, SUCCEEDED")
            return True
        code, body = self.api.mark(video_id, "PROCESSING")
        if code == 409 and body.get("status") == "DONE":
            self.runner.done(job_id, True)
            self.log(f"video {video_id}: already DONE; job {job_id} SUCCEEDED")
            return True
        if code != 200:
            if code in (404, 409):
                self.runner.done(job_id, False, f"video {video_id}: {body.get('detail')}")
            else:
                self.runner.release(job_id)
            self.log(f"video {video_id}: PROCESSING refused ({code} {body.get('detail')})")
            return True
        self.runner.running(job_id, self.lease_s)
        if not self._work(lambda: self.runner.running(job_id, self.lease_s)):
            self.runner.release(job_id)
            self.log(f"video {video_id}: stopping mid-job; job {job_id} RUNNABLE again")
            return True
        code, body = self.api.mark(video_id, "DONE")
        if code != 200:
            self.runner.release(job_id)
            self.log(f"video {video_id}: DONE refused ({code} {body.get('detail')}); job "
                     f"{job_id} RUNNABLE again")
            return True
        try:
            self.runner.done(job_id, True)
        except BatchRunnerError as exc:  # terminated meanwhile: the video is DONE regardless
            self.log(f"video {video_id}: DONE, but job {job_id} could not succeed: {exc}")
            return True
        self._finished(video_id, "batch", started)
        return True


def _video_id_of(body: object) -> int | None:
    try:
        value = json.loads(body) if isinstance(body, str) else None
        raw = value.get("video_id") if isinstance(value, dict) else None
        video_id = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
    except (ValueError, RecursionError):
        return None
    return video_id if video_id and video_id < 10**18 else None


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.services.video_worker",
                                     description="Do the sandbox's video jobs on every live path.")
    parser.add_argument("--api-base-url", required=True, help="the internal API, on loopback")
    parser.add_argument("--key-parameter", required=True, help="SSM SecureString with the key")
    parser.add_argument("--dispatch-parameter", required=True, help="SSM dispatch parameter")
    parser.add_argument("--outputs", type=Path, help="the stack output (its `draining`)")
    parser.add_argument("--job-seconds", type=float, default=3.0, help="each job's work")
    parser.add_argument("--slots", type=int, default=4, help="jobs done at once")
    args = parser.parse_args(argv)
    if not 0 <= args.job_seconds <= 3600:
        parser.error(f"--job-seconds {args.job_seconds}: expected 0 to 3600")
    if not 1 <= args.slots <= 64:
        parser.error(f"--slots {args.slots}: expected 1 to 64")
    return args


def main(argv: list[str] | None = None) -> int:
    import boto3

    args = _parse_args(argv)

    def log(line: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        print(f"{stamp} video worker: {line}", file=sys.stderr, flush=True)

    ssm = boto3.client("ssm")

    def read_key() -> str:
        return str(ssm.get_parameter(Name=args.key_parameter,
                                     WithDecryption=True)["Parameter"]["Value"])

    try:
        api = ApiClient(args.api_base_url, read_key)
    except Exception as exc:  # noqa: BLE001 - one line, never the key
        log(f"error: cannot read the internal key from {args.key_parameter}: "
            f"{type(exc).__name__}")
        return 2
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION", "")
    if not endpoint or not region:
        log("error: AWS_ENDPOINT_URL and AWS_DEFAULT_REGION must name the sandbox's emulator")
        return 2
    reader = DispatchReader(ssm_reader(ssm, args.dispatch_parameter), args.dispatch_parameter)
    worker = VideoWorker(api, boto3.client("sqs"), BatchRunnerClient(endpoint, region),
                         lambda: live_paths(reader, args.outputs), args.job_seconds, args.slots,
                         log)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log(f"{args.slots} slots, {args.job_seconds:g} s a job, paths from "
        f"{args.dispatch_parameter}")
    worker.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    worker.stop()
    log(f"stopped after {worker.done} jobs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End to end: `python -m sandbox switch --mode asg|batch` in each direction, in a sandbox of
its own. Videos are uploaded, the switch starts while their jobs are queued and running on the
old path, more are uploaded once the dispatch parameter flipped; at the end every video is
DONE, none lost, no Batch job FAILED, the old path retired and `verify all` passes. Batch ->
asg also shows the safety: a drain that times out leaves everything in place, and a retirement
attempted while jobs are queued is refused by `verify preflight` with nothing deleted."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import dispatch
from sandbox.deployer.convergence import Deployment
from sandbox.processes import ProcessRegistry
from sandbox.scenarios import switch
from sandbox.state import PROJECT_ROOT
from tests.sandbox_e2e import RunningSandbox, cli, start, upload

BEFORE = 20  # 4 slots x 3 s a job: 15 s of work, longer than the switch's first up
BEFORE_REFUSAL = 40  # still queued after a timed-out switch and a refused retirement
AFTER = 4
SUMMARY = re.compile(r"videos uploaded (\d+): done (\d+), lost (\d+), in progress (\d+)")
DRAIN = re.compile(r"\(drain ([\d.]+) s\)")
TOTAL = re.compile(r"done in ([\d.]+) s")


def statuses(sb: RunningSandbox, ids: list[int]) -> dict[int, str]:
    db = sqlite3.connect(sb.state.db_path)
    try:
        marks = ",".join("?" for _ in ids)
        rows = db.execute(f"SELECT id, status FROM videos WHERE id IN ({marks})",  # noqa: S608
                          ids).fetchall()
    finally:
        db.close()
    return {int(i): str(s) for i, s in rows}


def old_path_busy(sb: RunningSandbox, jobs: list[str]) -> tuple[int, int]:
    """(waiting, running) on the start mode's path: RUNNABLE/RUNNING jobs or visible/in
    flight messages."""
    if sb.mode == "batch":
        found = [j["status"] for j in sb.client("batch").describe_jobs(jobs=jobs)["jobs"]]
        return found.count("RUNNABLE"), found.count("RUNNING") + found.count("STARTING")
    attrs = sb.client("sqs").get_queue_attributes(
        QueueUrl=sb.academy["worker_types"]["video"]["queue"]["url"], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return (int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]))


def wait_busy(sb: RunningSandbox, jobs: list[str]) -> tuple[int, int]:
    deadline = time.monotonic() + 20
    while True:
        waiting, running = old_path_busy(sb, jobs)
        if waiting and running:
            return waiting, running
        assert time.monotonic() < deadline, (waiting, running)
        time.sleep(0.1)


def dispatch_mode(sb: RunningSandbox) -> str:
    name = dispatch.parameter_name(sb.outputs)
    return dispatch.parse(sb.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]).mode


def wait_for_flip(sb: RunningSandbox, mode: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while dispatch_mode(sb) != mode:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the dispatch parameter never flipped"
        time.sleep(0.1)


def failed_jobs(sb: RunningSandbox, jobs: list[str]) -> list[str]:
    found = sb.client("batch").describe_jobs(jobs=jobs)["jobs"] if jobs else []
    assert len(found) == len(jobs)
    return [j["jobId"] for j in found if j["status"] == "FAILED"]


def without_stale_video_messages(sb: RunningSandbox) -> None:
    """The seeds' incident messages (5 in flight for 4 h 15 min, no video id: no worker ever
    takes them) would hold an asg drain until they expire, as they would in AWS; a
    rehearsal of the switch starts from a queue holding only uploads."""
    sb.client("sqs").purge_queue(QueueUrl=sb.academy["worker_types"]["video"]["queue"]["url"])


@pytest.fixture
def batch_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    yield from start("batch", tmp_path / "batch")


@pytest.fixture
def asg_sandbox_alone(tmp_path: Path) -> Iterator[RunningSandbox]:
    for sb in start("asg", tmp_path / "asg"):
        without_stale_video_messages(sb)
        yield sb


def worker_pid(sb: RunningSandbox) -> int:
    return ProcessRegistry(sb.state.pids_file).load()["video-worker"].pid


def rehearse(sb: RunningSandbox, to: str, refusal: bool = False,
             hold_worker: bool = False) -> dict[str, float]:
    """hold_worker: the worker is paused (SIGSTOP) from the uploads to the flip, so the old path
    surely holds work when new work starts going down the new one, however fast the machine."""
    started = time.monotonic()
    same = cli(sb, "switch", "--mode", sb.mode)
    assert same.returncode == 2 and f"in {sb.mode} mode already" in same.stderr, same.stderr
    before = upload(sb, BEFORE_REFUSAL if refusal else BEFORE)
    jobs = [m.group(4) for m in before if m.group(3) == "job"]
    waiting, running = wait_busy(sb, jobs)
    if hold_worker:
        os.kill(worker_pid(sb), signal.SIGSTOP)
    figures: dict[str, float] = {}

    if refusal:
        # A drain that times out leaves the drain in place: both paths live, nothing lost.
        timed_out = cli(sb, "switch", "--mode", to, "--drain-timeout", "0")
        assert timed_out.returncode == 1, timed_out.stderr
        assert "the drain stays in place" in timed_out.stderr
        assert "Traceback" not in timed_out.stderr
        assert dispatch_mode(sb) == to and sb.academy["draining"]["from_mode"] == sb.mode
        # The retirement attempted now is refused by preflight; nothing is deleted.
        state_before = Deployment.load(sb.state.root)
        report = switch.SwitchReport(sb.mode, to)
        key = switch._client(sb.state, "ssm").get_parameter(
            Name=sb.academy["publisher"]["key_parameter"],
            WithDecryption=True)["Parameter"]["Value"]
        with pytest.raises(switch.SwitchStopped, match="preflight refused"):
            switch.up_with(sb.state, state_before, switch.config_for(
                state_before, key, to, False), False, report)
        assert report.deleted == []
        assert Deployment.load(sb.state.root).resources == state_before.resources
        job_queue = sb.academy["draining"]["job_queue"]
        assert sb.client("batch").describe_job_queues(jobQueues=[job_queue])["jobQueues"]
        assert failed_jobs(sb, jobs) == []

    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--dir", str(sb.state.root), "switch", "--mode", to,
         "--drain-timeout", "120"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        wait_for_flip(sb, to, proc)
        held_at_flip = sum(old_path_busy(sb, jobs))
        if hold_worker:
            os.kill(worker_pid(sb), signal.SIGCONT)
        after = upload(sb, AFTER)  # after the flip: down the new path
        assert {m.group(2) for m in after} == {to}
        out, err = proc.communicate(timeout=180)
    finally:
        if hold_worker:
            os.kill(worker_pid(sb), signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    figures["switch_s"] = float(TOTAL.search(out).group(1))  # type: ignore[union-attr]
    figures["drain_s"] = float(DRAIN.search(out).group(1))  # type: ignore[union-attr]

    ids = [int(m.group(1)) for m in [*before, *after]]
    deadline = time.monotonic() + 60
    while set(statuses(sb, ids).values()) != {"DONE"}:
        assert time.monotonic() < deadline, statuses(sb, ids)
        time.sleep(0.2)
    all_jobs = jobs + [m.group(4) for m in after if m.group(3) == "job"]
    assert failed_jobs(sb, all_jobs) == []
    counts = switch.video_counts(sb.state)
    assert counts["uploaded"] == len(ids) == counts["done"], counts
    assert counts["lost"] == 0 and counts["failed_jobs"] == 0, counts
    summary = SUMMARY.search(out)
    assert summary and int(summary.group(1)) == len(ids) and summary.group(3) == "0", out

    academy = sb.academy
    assert academy["mode"] == to and academy.get("draining") is None
    assert dispatch_mode(sb) == to
    json.loads((sb.state.root / switch.PREVIEW_FILES[False]).read_text())  # the digest checked
    verified = subprocess.run([sys.executable, "-m", "verify", "all", "--stack", "sandbox"],
                              capture_output=True, text=True, cwd=PROJECT_ROOT, env=sb.env(),
                              timeout=300, check=False)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-2000:]
    figures.update(uploaded=len(ids), done=counts["done"], lost=counts["lost"],
                   held_at_start=waiting + running, held_at_flip=held_at_flip,
                   test_s=round(time.monotonic() - started, 1))
    print(f"switch {sb.mode} -> {to}: {figures}")  # noqa: T201
    return figures


def test_batch_to_asg(batch_sandbox: RunningSandbox) -> None:
    sb = batch_sandbox
    figures = rehearse(sb, "asg", refusal=True)
    assert figures["held_at_start"] > 0
    batch = sb.client("batch")
    assert batch.describe_job_queues(jobQueues=["academy-video-batch-queue"])["jobQueues"] == []
    assert batch.describe_compute_environments(
        computeEnvironments=["academy-video-batch-ce-v3"])["computeEnvironments"] == []
    assert sb.academy["batch"] is None


def test_asg_to_batch(asg_sandbox_alone: RunningSandbox) -> None:
    sb = asg_sandbox_alone
    video = sb.academy["worker_types"]["video"]
    group = video["fleet"]["group_name"]
    figures = rehearse(sb, "batch", hold_worker=True)
    assert figures["held_at_flip"] > 0  # the drain was real: the old path still held work
    groups = sb.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    assert groups["AutoScalingGroups"] == []
    assert sb.academy["worker_types"]["video"]["fleet"] is None
    attrs = sb.client("sqs").get_queue_attributes(QueueUrl=video["queue"]["url"], AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "0",
                     "ApproximateNumberOfMessagesNotVisible": "0"}  # retained, and empty


def test_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    for args in (["--mode", "fleet"], ["--mode", "asg"], ["--mode", "batch", "--drain-timeout",
                                                         "-1"]):
        done = subprocess.run([sys.executable, "-m", "sandbox", "--dir", str(tmp_path),
                               "switch", *args], capture_output=True, text=True,
                              cwd=PROJECT_ROOT, timeout=60, check=False)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "sandbox", "--dir", str(tmp_path), "switch",
                           "--mode", "asg"], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=60, check=False)
    assert "the sandbox is not up" in done.stderr

"""`python -m sandbox switch` stopped part way: Ctrl-C (SIGINT) stops at a safe point, says how
to resume and exits 130 with nothing retired; a kill (SIGKILL) at any point leaves a state the
same command converges from (no EntityAlreadyExists, one ACTIVE job definition revision, the
stack's state and verify's copy of its outputs in step). One sandbox for the whole file: its
tests run in order, each going on from where the one before left the switch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import switch
from sandbox.convergence import Deployment
from sandbox.state import PROJECT_ROOT
from tests.sandbox.test_switch import wait_for_flip, without_stale_video_messages
from tests.sandbox_e2e import RunningSandbox, start


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    yield from start("batch", tmp_path_factory.mktemp("interrupted") / "sandbox")


def command(sb: RunningSandbox, mode: str) -> list[str]:
    return [sys.executable, "-m", "sandbox", "--dir", str(sb.state.root), "switch", "--mode",
            mode, "--drain-timeout", "60"]


def run_switch(sb: RunningSandbox, mode: str,
               signal_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({switch.SIGNAL_AT_ENV: signal_at} if signal_at else {})}
    return subprocess.run(command(sb, mode), capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env=env, timeout=240, check=False)


def spawn_switch(sb: RunningSandbox, mode: str) -> subprocess.Popen[str]:
    """In a process group of its own, so a test can signal it as a terminal's Ctrl-C does."""
    env = {k: v for k, v in os.environ.items() if k != switch.SIGNAL_AT_ENV}
    return subprocess.Popen(command(sb, mode), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=PROJECT_ROOT, env=env, start_new_session=True)


def signal_at_flip(sb: RunningSandbox, mode: str, signum: int) -> tuple[int, str]:
    """The switch signalled while its first up runs (the dispatch parameter just flipped)."""
    proc = spawn_switch(sb, mode)
    try:
        wait_for_flip(sb, mode, proc)
        os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, err


def job_queue_exists(sb: RunningSandbox, name: str) -> bool:
    found = sb.client("batch").describe_job_queues(jobQueues=[name])["jobQueues"]
    return any(q["status"] != "DELETED" for q in found)


def active_revisions(sb: RunningSandbox) -> list[int]:
    found = sb.client("batch").describe_job_definitions(
        jobDefinitionName=BATCH["job_definition"], status="ACTIVE")["jobDefinitions"]
    return sorted(int(d["revision"]) for d in found)


def assert_state_in_step(sb: RunningSandbox) -> None:
    """The stack's state holds the outputs verify's copy shows, and no create left pending."""
    state = Deployment.load(sb.state.root)
    assert state.outputs == json.loads(sb.state.outputs_file.read_text())
    assert state.pending == []


BATCH: dict[str, str] = {}  # the batch path's names, as the stack had them at the start


def test_sigint_in_the_first_up_stops_with_the_resume_command_and_retires_nothing(
        sb: RunningSandbox) -> None:
    BATCH.update(job_queue=sb.academy["dispatch"]["job_queue"],
                 job_definition=sb.academy["dispatch"]["job_definition"])
    code, err = signal_at_flip(sb, "asg", signal.SIGINT)
    assert code == 130, err
    assert "stopped by SIGINT" in err
    assert (f"Resume with: python -m sandbox --dir {sb.state.root} switch --mode asg "
            "--drain-timeout 60") in err
    assert "Traceback" not in err
    academy = sb.academy  # the first up finished: new work goes to the fleet, batch drains
    assert academy["mode"] == "asg" and academy["draining"]["from_mode"] == "batch"
    assert job_queue_exists(sb, BATCH["job_queue"])  # nothing retired
    assert_state_in_step(sb)


def test_a_kill_at_any_point_leaves_a_state_the_rerun_converges_from(
        sb: RunningSandbox) -> None:
    # the retirement of the batch path killed part way, then between the two state writes
    for point in ("checkpoint-2", "outputs"):
        killed = run_switch(sb, "asg", f"KILL:{point}")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = run_switch(sb, "asg")
    assert done.returncode == 0, done.stderr
    assert sb.academy["mode"] == "asg" and sb.academy.get("draining") is None
    assert not job_queue_exists(sb, BATCH["job_queue"])
    assert active_revisions(sb) == []  # the retired job definition left no revision ACTIVE
    assert_state_in_step(sb)

    # back to batch: killed in its first up (right after AWS made a resource the state has only
    # as pending, then later), between the state and verify's copy, and before sandbox.json
    without_stale_video_messages(sb)
    pending = []
    for point in ("created-1", "created-2", "checkpoint-4", "outputs", "info"):
        killed = run_switch(sb, "batch", f"KILL:{point}")
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        pending += Deployment.load(sb.state.root).pending
    assert pending  # the kills at created-N left a create the state had not recorded
    done = run_switch(sb, "batch")
    assert done.returncode == 0, done.stderr
    assert "AlreadyExists" not in done.stderr

    academy = sb.academy
    assert academy["mode"] == "batch" and academy.get("draining") is None
    assert academy["dispatch"]["job_queue"] == BATCH["job_queue"]
    assert job_queue_exists(sb, BATCH["job_queue"])
    assert len(active_revisions(sb)) == 1, active_revisions(sb)
    assert_state_in_step(sb)
    assert json.loads((sb.state.root / "sandbox.json").read_text())["mode"] == "batch"


def test_the_resume_command_names_the_state_directory_only_when_given() -> None:
    assert switch.resume_command("asg", None, switch.DEFAULT_DRAIN_TIMEOUT_S) == (
        "python -m sandbox switch --mode asg")
    assert switch.resume_command("batch", Path("/tmp/a b"), 5) == (
        "python -m sandbox --dir '/tmp/a b' switch --mode batch --drain-timeout 5")

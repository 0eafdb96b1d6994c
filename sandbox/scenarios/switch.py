"""`python -m sandbox switch --mode asg|batch`: the two `pulumi up`s of a mode switch, rehearsed.

1. `videoMode X` and `videoDrain true`: preview -> `verify preflight` -> up. The new path is
   created and the dispatch parameter points at it, so new uploads go there at once; the old
   path stays declared and keeps working (the worker takes both: the output's `draining`).
2. Wait until the old path is empty, counted by verify's own `switch` check (its probes and
   its judgement), printing progress. A timeout exits 1 and leaves the drain in place: run the
   same command again to go on waiting.
3. `videoDrain false`: preview -> `verify preflight` (it refuses while the old path holds work;
   then nothing is deleted) -> up: the old path's resources are deleted, a retained queue kept.
4. A summary from the video DB: uploaded, done, lost; how long the drain took.

The safety lives in the program (videoDrain, the dispatch parameter) and in verify (the
count, preflight); this module only runs them in order, as the deploy workflow would.

Ctrl-C (SIGINT) or SIGTERM never cuts an up short: the switch stops at the next safe point
(before or after an up, between two drain polls), says what was done and the exact command
that resumes it, and exits 128 + the signal (130, 143). The stack's state is written as each
up goes (deployer/convergence.py), so even a kill (SIGKILL, a crash) at any point leaves a state
the same command resumes from.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.stack_output import VIDEO_MODES, Draining
from sandbox import stack
from sandbox.console import say
from sandbox.deployer import convergence, deployment
from sandbox.deployer.convergence import KEY, Deployment
from sandbox.services import moto_server
from sandbox.stack import aws_env
from sandbox.state import PROJECT_ROOT, SandboxState, sandbox_state
from stack_settings.parse import PROJECT
from verify.checks.switch import judge_draining
from verify.probes import work
from verify.report import Status

MODES = VIDEO_MODES
DEFAULT_DRAIN_TIMEOUT_S = 600.0
PREVIEW_FILES = {True: "switch-preview.json", False: "retire-preview.json"}


class SwitchUsageError(ValueError):
    """Bad input: a mode that is not asg|batch, the mode the stack is in, no sandbox (exit 2)."""


class SwitchStopped(RuntimeError):
    """The switch stopped safely (drain timed out, preflight refused): nothing lost (exit 1)."""


class SwitchInterrupted(RuntimeError):
    """SIGINT or SIGTERM: stopped at a safe point; the message says what was done and how to
    resume (exit 128 + the signal)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignals:
    """While active, SIGINT and SIGTERM only note that a stop was asked for; `check` raises
    SwitchInterrupted at the caller's safe point. The previous handlers come back on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, resume: str) -> None:
        self.resume = resume
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _note(self, signum: int, _frame: object) -> None:
        if self.received is None:
            say(f"sandbox switch: {signal.Signals(signum).name} received: stopping at the next "
                 "safe point (an up under way finishes first, so the state stays whole)")
        self.received = self.received or signum

    def check(self, done: str) -> None:
        if self.received is not None:
            raise SwitchInterrupted(self.received, (
                f"stopped by {signal.Signals(self.received).name}. {done}. Resume with: "
                f"{self.resume}"))


def resume_command(mode: str, state_dir: Path | None, drain_timeout_s: float) -> str:
    """The exact command that goes on with this switch."""
    words = ["python", "-m", "sandbox"]
    if state_dir is not None:
        words += ["--dir", str(state_dir)]
    words += ["switch", "--mode", mode]
    if drain_timeout_s != DEFAULT_DRAIN_TIMEOUT_S:
        words += ["--drain-timeout", f"{drain_timeout_s:g}"]
    return shlex.join(words)


# Tests only: `<KILL|INT|TERM>:<point>` sends this process that signal at that point, so a
# test can stop a switch exactly there (`checkpoint-N`: before the N-th state write of an up;
# `created-N`: the N-th resource created, before the state records it; `outputs`: the state
# written, verify's copy of the outputs not yet; `info`: before sandbox.json).
SIGNAL_AT_ENV = "ACADEMY_SANDBOX_TEST_SIGNAL_AT"


def _signal_point(point: str) -> None:
    wanted = os.environ.get(SIGNAL_AT_ENV, "")
    name, _, at = wanted.partition(":")
    if at == point and name in ("KILL", "INT", "TERM"):
        os.kill(os.getpid(), getattr(signal, f"SIG{name}"))


@dataclass
class SwitchReport:
    from_mode: str
    to_mode: str
    timings_s: dict[str, float] = field(default_factory=dict)
    drain_s: float = 0.0
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    videos: dict[str, Any] = field(default_factory=dict)



def _env(state: SandboxState) -> dict[str, str]:

    return moto_server.client_env(aws_env(state)["AWS_ENDPOINT_URL"])


def _client(state: SandboxState, service: str) -> Any:
    return moto_server.client(_env(state), service)


def config_for(previous: Deployment, key: str, mode: str, drain: bool) -> dict[str, str]:
    """The stack's config with `pulumi config set videoMode X` / `videoDrain true|false`."""
    return {**previous.config, KEY: key, f"{PROJECT}:videoMode": mode,
            f"{PROJECT}:videoDrain": "true" if drain else "false"}


def remaining(state: SandboxState, draining: Mapping[str, Any]) -> tuple[int, str]:
    """What the old path still holds, as verify's `switch` check counts and says it."""
    d = Draining(**{k: draining.get(k) for k in Draining.__dataclass_fields__})
    messages = protected = jobs = None
    if d.from_mode == "asg":
        if d.queue_url:
            messages = work.queue_messages(_client(state, "sqs"), d.queue_url)
        if d.group_name:
            protected = work.protected_instances(_client(state, "autoscaling"), d.group_name)
    elif d.job_queue:
        jobs = work.jobs_in_flight(_client(state, "batch"), d.job_queue)
    result = judge_draining(d, messages, protected, jobs)
    left = int((result.found or {}).get("remaining", 0))
    return (0 if result.status == Status.PASS else max(left, 1)), result.summary


def run_preflight(state: SandboxState, plan: Path) -> int:
    """`python -m verify preflight --stack sandbox --plan FILE`, its report passed through."""
    done = subprocess.run(
        [sys.executable, "-m", "verify", "preflight", "--stack", deployment.STACK, "--plan",
         str(plan)], cwd=PROJECT_ROOT, env={**os.environ, **state.verify_env()},
        capture_output=True, text=True, timeout=300, check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    sys.stdout.flush()
    return done.returncode


def up_with(state: SandboxState, previous: Deployment, config: Mapping[str, str],
            drain: bool, report: SwitchReport, stop: StopSignals | None = None,
            step: str | None = None) -> tuple[Deployment, dict[str, Any]]:
    """The workflow's deploy: preview -> preflight (refused: SwitchStopped) -> up, its state
    written as it goes; then the outputs saved as the stack's, so verify and the worker see
    the new shape. A stop asked for during the preview is honoured before the up. `step`:
    another up than the switch's two (`sandbox up --set` on a running sandbox)."""
    env = _env(state)
    plan = state.root / (f"{step}-preview.json" if step else PREVIEW_FILES[drain])
    step = step or ("drain" if drain else "retire")
    started = time.monotonic()
    deployment.write_json(plan, convergence.preview(env, config, previous))
    verdict = run_preflight(state, plan)
    report.timings_s[f"preview + preflight ({step})"] = round(time.monotonic() - started, 2)
    if stop is not None:
        stop.check("This step's up did not run (" + (
            "new work still goes where it went" if drain else
            "the drain stays in place: videoDrain true, both paths work, nothing retired") + ")")
    if verdict == 1 and step not in ("drain", "retire"):
        raise SwitchStopped("verify preflight refused the plan (above): nothing was changed")
    if verdict == 1:
        raise SwitchStopped("verify preflight refused the plan (above): nothing was deleted; "
                            "videoDrain stays true and the old path keeps working. Run the same "
                            "`python -m sandbox switch` again once it is empty")
    if verdict != 0:
        raise RuntimeError(f"verify preflight failed (exit {verdict}) on {plan.name}")
    started = time.monotonic()
    writes, created, pending = 0, 0, len(previous.pending)

    def checkpoint(now: Deployment) -> None:
        nonlocal writes, created, pending
        writes += 1
        _signal_point(f"checkpoint-{writes}")
        if len(now.pending) < pending:  # AWS made it; the state has it only as pending yet
            created += 1
            _signal_point(f"created-{created}")
        pending = len(now.pending)
        now.save(state.root)

    done = convergence.converge(env, config, previous, checkpoint)
    report.timings_s[f"up ({step})"] = round(time.monotonic() - started, 2)
    _signal_point(f"checkpoint-{writes + 1}")
    done.deployment.save(state.root)  # the state with the new outputs: the up is done
    say(f"sandbox {'switch: ' if step in ('drain', 'retire') else ''}up ({step}): "
        f"{len(done.created)} created, {done.updated} updated, {len(done.replaced)} replaced, "
        f"{len(done.deleted)} deleted, {done.same} same; the state written {writes + 1} times")
    _signal_point("outputs")
    deployment.write_json(state.outputs_file, done.outputs)  # verify's copy of them
    report.created += done.created
    report.deleted += done.deleted
    report.forgotten += done.forgotten
    return done.deployment, done.outputs


def wait_for_drain(state: SandboxState, draining: Mapping[str, Any], timeout_s: float,
                   poll_s: float = 1.0, say: Callable[[str], None] = say,
                   stop: Callable[[], None] = lambda: None) -> float:
    """Seconds until the old path is empty; SwitchStopped after timeout_s; `stop` is called
    between polls (it raises to stop)."""
    started = time.monotonic()
    last = ""
    while True:
        stop()
        left, summary = remaining(state, draining)
        waited = time.monotonic() - started
        if summary != last:
            say(f"sandbox switch: [{waited:5.1f} s] {summary}")
            last = summary
        if left == 0:
            return waited
        if waited >= timeout_s:
            raise SwitchStopped(
                f"the old path still holds work after {timeout_s:g} s ({summary}): the drain "
                "stays in place (videoDrain true, both paths worked, nothing lost). Run "
                "`python -m sandbox switch --mode "
                f"{'batch' if draining.get('from_mode') == 'asg' else 'asg'}` again to go on")
        time.sleep(poll_s)


def video_counts(state: SandboxState) -> dict[str, Any]:
    """Uploaded videos (those the API dispatched, or tried to) by outcome: done, lost (FAILED,
    never sent, or their Batch job FAILED) and still in progress on a live path."""
    db = sqlite3.connect(state.db_path, timeout=5)
    try:
        rows = db.execute("SELECT id, status, dispatch_mode, dispatch_ref, dispatch_error FROM "
                          "videos WHERE dispatch_mode IS NOT NULL OR dispatch_error IS NOT NULL"
                          ).fetchall()
    finally:
        db.close()
    jobs = [str(r[3]) for r in rows if r[2] == "batch" and r[3]]
    failed_jobs = set()
    batch = _client(state, "batch")
    for start in range(0, len(jobs), 100):
        for job in batch.describe_jobs(jobs=jobs[start:start + 100])["jobs"]:
            if job["status"] == "FAILED":
                failed_jobs.add(job["jobId"])
    lost = [int(r[0]) for r in rows
            if r[1] != "DONE" and (r[1] == "FAILED" or r[4] or str(r[3]) in failed_jobs)]
    done = [int(r[0]) for r in rows if r[1] == "DONE"]
    by_path: dict[str, int] = {}
    for r in rows:
        by_path[str(r[2])] = by_path.get(str(r[2]), 0) + 1
    return {"uploaded": len(rows), "done": len(done), "lost": len(lost),
            "in_progress": len(rows) - len(done) - len(lost), "by_path": by_path,
            "failed_jobs": len(failed_jobs), "lost_ids": lost}


def switch(mode: str, drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
           state_dir: Path | None = None, poll_s: float = 1.0) -> SwitchReport:
    """Switches the running sandbox's video to `mode`; see the module docstring."""
    if mode not in MODES:
        raise SwitchUsageError(f"--mode {mode!r}: expected asg or batch")
    if not drain_timeout_s >= 0:
        raise SwitchUsageError(f"--drain-timeout {drain_timeout_s}: expected seconds >= 0")
    with StopSignals(resume_command(mode, state_dir, drain_timeout_s)) as stop:
        return _switch(mode, drain_timeout_s, sandbox_state(state_dir), poll_s, stop)


def _switch(mode: str, drain_timeout_s: float, state: SandboxState, poll_s: float,
            stop: StopSignals) -> SwitchReport:

    try:
        info = stack.load_info(state)
        previous = Deployment.load(state.root)
        # The state holds the outputs; verify's copy is brought level if a kill came between.
        outputs = convergence.sync_outputs(state.root, state.outputs_file) or \
            stack.load_outputs(state)
    except (stack.SandboxError, FileNotFoundError) as exc:
        raise SwitchUsageError(f"{exc}") from None
    if info.get("legacy"):
        raise SwitchUsageError("this sandbox holds the old account, no stack: "
                               "`python -m sandbox adopt` first")
    academy = outputs["academy"]
    now, draining = academy["mode"], academy.get("draining")
    begun = info.get("switching") or {}  # a switch begun and not finished (killed after its ups)
    finishing = mode == now and not draining and begun.get("to") == mode
    if mode == now and not draining and not finishing:
        raise SwitchUsageError(f"the stack is in {mode} mode already (the other is "
                               f"{'batch' if mode == 'asg' else 'asg'})")
    if mode != now and draining:
        raise SwitchUsageError(f"a switch to {now} is still draining from {mode}: finish it "
                               f"first (`python -m sandbox switch --mode {now}`)")
    started = time.monotonic()
    report = SwitchReport(from_mode=begun.get("from") or (
        draining["from_mode"] if draining else now), to_mode=mode)
    stop.check("Nothing was changed")
    if finishing:
        say(f"sandbox switch: resuming: the stack is in {mode} mode, the old path retired; "
             "finishing the switch's record")
    else:
        info["switching"] = {"from": report.from_mode, "to": mode}
        deployment.write_json(state.root / "sandbox.json", info)
        _drain_and_retire(state, mode, drain_timeout_s, poll_s, stop, info, previous, outputs,
                          report)
    report.timings_s["total"] = round(time.monotonic() - started, 2)
    report.videos = video_counts(state)
    info.pop("switching", None)
    info.setdefault("switches", []).append({
        "from": report.from_mode, "to": mode, "drain_s": report.drain_s,
        "total_s": report.timings_s["total"], "deleted": report.deleted})
    deployment.write_json(state.root / "sandbox.json", info)
    return report


def _drain_and_retire(state: SandboxState, mode: str, drain_timeout_s: float, poll_s: float,
                      stop: StopSignals, info: dict[str, Any], previous: Deployment,
                      outputs: dict[str, Any], report: SwitchReport) -> None:
    """Steps 1 to 3 of the module docstring, each begun only if the one before is done."""
    academy = outputs["academy"]
    draining = academy.get("draining")
    key = moto_server.client(_env(state), "ssm").get_parameter(
        Name=academy["publisher"]["key_parameter"], WithDecryption=True)["Parameter"]["Value"]
    draining_done = ("The new path was created and new work goes to it (videoDrain true); "
                     "the old path still drains and nothing was retired")
    if not draining:
        say(f"sandbox switch: videoMode {mode}, videoDrain true: preview -> preflight -> up")
        previous, outputs = up_with(state, previous, config_for(previous, key, mode, True),
                                    True, report, stop)
        draining = outputs["academy"]["draining"]
        say(f"sandbox switch: new {academy['dispatch']['worker_type']} work goes to {mode} "
             f"now; waiting for the {draining['from_mode']} path to drain")
    else:
        say(f"sandbox switch: resuming: the {draining['from_mode']} path drains")
    if info.get("mode") != outputs["academy"]["mode"]:
        info["mode"] = outputs["academy"]["mode"]
        _signal_point("info")
        deployment.write_json(state.root / "sandbox.json", info)
    stop.check(draining_done)
    report.drain_s = round(wait_for_drain(state, draining, drain_timeout_s, poll_s,
                                          stop=lambda: stop.check(draining_done)), 2)
    report.timings_s["drain"] = report.drain_s
    stop.check(draining_done + " (the old path is empty: the resume retires it)")
    say("sandbox switch: the old path is empty; videoDrain false: preview -> preflight -> up")
    up_with(state, previous, config_for(previous, key, mode, False), False, report, stop)
    if stop.received is not None:  # it came during the last up, which finished
        say(f"sandbox switch: {signal.Signals(stop.received).name} came during the last step, "
             "which finished: the switch is complete, nothing to resume")


def describe(report: SwitchReport) -> str:
    v = report.videos
    lines = [
        f"sandbox switch {report.from_mode} -> {report.to_mode}: done in "
        f"{report.timings_s.get('total', 0):g} s (drain {report.drain_s:g} s)",
        f"  retired: {len(report.deleted)} resource(s) deleted"
        + (f", kept (retainOnDelete): {', '.join(report.forgotten)}" if report.forgotten else ""),
        f"  videos uploaded {v.get('uploaded', 0)}: done {v.get('done', 0)}, lost "
        f"{v.get('lost', 0)}, in progress {v.get('in_progress', 0)} "
        f"(by path: {json.dumps(v.get('by_path', {}), sort_keys=True)})",
        "  timings: " + ", ".join(f"{k} {t:g} s" for k, t in report.timings_s.items()),
        "  `python -m verify all --stack sandbox` checks the new shape",
    ]
    return "\n".join(lines)

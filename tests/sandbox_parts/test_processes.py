"""The pid registry stops what the sandbox started, and only that, even after `up` crashed."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import processes, state
from sandbox.processes import ProcessRegistry, SandboxAlreadyRunning


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[ProcessRegistry]:
    reg = ProcessRegistry(tmp_path / "pids.json")
    try:
        yield reg
    finally:
        reg.stop_all(timeout_s=1)


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process the sandbox did not start; it must survive."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_spawn_records_the_process_at_once_and_stop_all_ends_it(
    registry: ProcessRegistry, tmp_path: Path
) -> None:
    record, child = registry.spawn("sleeper", ["sleep", "60"], tmp_path / "logs" / "s.log")
    on_disk = json.loads(registry.path.read_text())
    assert on_disk["sleeper"]["pid"] == child.pid
    assert on_disk["sleeper"]["command"] == ["sleep", "60"]
    assert on_disk["sleeper"]["started_at"]
    assert processes.is_same_process(record)

    report = registry.stop_all(timeout_s=2)

    assert report.stopped == ["sleeper"]
    assert child.poll() is not None
    assert registry.load() == {}


def test_a_process_ignoring_sigterm_is_killed(registry: ProcessRegistry, tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "stubborn.log"
    _, child = registry.spawn("stubborn", [sys.executable, "-c", code], log)
    _wait_for_text(log, "ready")

    report = registry.stop_all(timeout_s=0.5)

    assert report.killed == ["stubborn"]
    assert child.poll() is not None


def test_a_pid_now_owned_by_another_process_is_not_signalled(
    registry: ProcessRegistry, bystander: subprocess.Popen[bytes]
) -> None:
    record = registry.register("moto", bystander.pid, ["sleep", "60"])
    # As if the recorded process had exited and its PID were reused by the bystander.
    reused = dataclasses.replace(record, start_ticks=record.start_ticks - 1)
    registry.path.write_text(json.dumps({"moto": dataclasses.asdict(reused)}))

    assert not processes.is_same_process(reused)
    report = registry.stop_all(timeout_s=1)

    assert report.not_ours == ["moto"]
    assert bystander.poll() is None
    assert registry.load() == {}


def test_down_after_a_crashed_up_stops_its_processes(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.json"
    project_root = Path(state.__file__).resolve().parent.parent
    crashing_up = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(project_root)!r})
        from pathlib import Path
        from sandbox.processes import ProcessRegistry
        reg = ProcessRegistry(Path({str(pids_file)!r}))
        reg.spawn("api", ["sleep", "60"], Path({str(tmp_path / "api.log")!r}))
        os._exit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", crashing_up], timeout=30, check=False)
    assert result.returncode == 3
    registry = ProcessRegistry(pids_file)
    pid = registry.load()["api"].pid
    try:
        with pytest.raises(SandboxAlreadyRunning, match=r"sandbox already running \(pids api="):
            registry.ensure_not_running()

        report = registry.stop_all(timeout_s=2)

        assert report.stopped == ["api"]
        assert not processes.is_alive(pid)
        registry.ensure_not_running()
    finally:
        registry.stop_all(timeout_s=1)


def test_stopping_a_process_that_already_exited_only_clears_it(
    registry: ProcessRegistry, tmp_path: Path
) -> None:
    _, child = registry.spawn("brief", ["true"], tmp_path / "brief.log")
    child.wait()

    report = registry.stop_all()

    assert report.already_gone == ["brief"]
    assert registry.load() == {}


def test_a_second_up_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    lock = tmp_path / "up.lock"
    with (
        processes.up_lock(lock),
        pytest.raises(SandboxAlreadyRunning, match="already in progress"),
        processes.up_lock(lock),
    ):
        pass
    with processes.up_lock(lock):
        pass


def test_state_dir_from_argument_env_or_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(state.ENV_VAR, raising=False)
    assert state.sandbox_dir() == state.PROJECT_ROOT / ".sandbox"
    monkeypatch.setenv(state.ENV_VAR, str(tmp_path / "env-dir"))
    assert state.sandbox_dir() == tmp_path / "env-dir"
    assert state.sandbox_dir(tmp_path / "arg") == tmp_path / "arg"
    paths = state.sandbox_state(tmp_path / "arg").ensure()
    assert paths.pids_file == tmp_path / "arg" / "pids.json"
    assert paths.logs_dir.is_dir()


def _wait_for_text(path: Path, text: str, timeout_s: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")

"""Every process the sandbox starts, recorded by PID at once, so `down` can stop exactly those.

A record holds the PID with the kernel's start time of that process (and the boot id): a PID
whose start time differs now belongs to someone else and is never signalled. The command line
is kept for people to read, not for the identity check, because sshd and nginx rewrite theirs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


class SandboxAlreadyRunning(RuntimeError):
    """A second `up` while one runs (or while its processes still live)."""


class ProcessStartError(RuntimeError):
    """A command could not be started; the message names it and its log."""


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    command: list[str]
    started_at: str
    start_ticks: int
    boot_id: str
    log_path: str | None = None


@dataclass
class StopReport:
    stopped: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    not_ours: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)


def _boot_id() -> str:
    try:
        return BOOT_ID_FILE.read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is index 0, starttime index 19)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def is_same_process(record: ProcessRecord) -> bool:
    """True when PID still names the very process that was recorded (and it has not exited)."""
    if record.boot_id and record.boot_id != _boot_id():
        return False
    return is_alive(record.pid) and start_ticks(record.pid) == record.start_ticks


def terminate(
    pid: int, child: subprocess.Popen[bytes] | None = None, timeout_s: float = 5.0
) -> bool:
    """SIGTERM, wait up to timeout_s, then SIGKILL. Returns True when SIGKILL was needed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if _wait_gone(pid, child, timeout_s):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, child, timeout_s)
    return True


def _wait_gone(pid: int, child: subprocess.Popen[bytes] | None, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child is not None:
            if child.poll() is not None:
                return True
        elif not is_alive(pid):
            return True
        time.sleep(0.05)
    return False


def spawn(
    name: str,
    command: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session with stdout and stderr appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_path.open("ab") as log:
            # Own session: the processes outlive `up` and ignore the terminal's Ctrl-C.
            return subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
    except OSError as exc:
        raise ProcessStartError(f"could not start {name} ({command[0]}): {exc}") from exc


def launch(
    name: str,
    command: Sequence[str],
    log_path: Path,
    registry: ProcessRegistry | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a sandbox process, recorded in `registry` when one is given."""
    if registry is None:
        return spawn(name, command, log_path, env, cwd)
    return registry.spawn(name, command, log_path, env, cwd)[1]


class ProcessRegistry:
    """The pid registry `pids.json`: name -> pid, command, start time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def load(self) -> dict[str, ProcessRecord]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise ProcessStartError(
                f"the pid registry {self.path} is unreadable ({exc}); check the processes it "
                "lists by hand, then delete the file"
            ) from exc
        return {name: ProcessRecord(**entry) for name, entry in raw.items()}

    def _save(self, records: Mapping[str, ProcessRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from sandbox.state import write_atomic

        write_atomic(self.path, json.dumps({n: asdict(r) for n, r in records.items()},
                                           indent=2) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".json.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def register(
        self, name: str, pid: int, command: Sequence[str], log_path: Path | None = None
    ) -> ProcessRecord:
        ticks = start_ticks(pid)
        if ticks is None:
            raise ProcessStartError(f"process {name} (pid {pid}) exited before it was recorded")
        record = ProcessRecord(
            name=name,
            pid=pid,
            command=list(command),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            start_ticks=ticks,
            boot_id=_boot_id(),
            log_path=str(log_path) if log_path else None,
        )
        with self._locked():
            records = self.load()
            if name in records and is_same_process(records[name]):
                raise SandboxAlreadyRunning(
                    f"a process named {name} is already running (pid {records[name].pid})"
                )
            records[name] = record
            self._save(records)
        return record

    def spawn(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> tuple[ProcessRecord, subprocess.Popen[bytes]]:
        """Start `command` (see `spawn`) and record it before returning."""
        child = spawn(name, command, log_path, env, cwd)
        self._children[child.pid] = child
        try:
            record = self.register(name, child.pid, command, log_path)
        except BaseException:
            terminate(child.pid, child)
            raise
        return record, child

    def live(self) -> list[ProcessRecord]:
        return [r for r in self.load().values() if is_same_process(r)]

    def ensure_not_running(self) -> None:
        """Raise SandboxAlreadyRunning when recorded processes are still alive."""
        running = self.live()
        if running:
            pids = ", ".join(f"{r.name}={r.pid}" for r in running)
            raise SandboxAlreadyRunning(
                f"sandbox already running (pids {pids}); run `python -m sandbox down` first"
            )

    def stop(self, name: str, timeout_s: float = 5.0) -> StopReport:
        return self._stop([name], timeout_s)

    def stop_all(self, timeout_s: float = 5.0) -> StopReport:
        """Stop every recorded process that is still the one recorded, newest first; clear them."""
        records = self.load()
        names = sorted(records, key=lambda n: records[n].started_at, reverse=True)
        return self._stop(names, timeout_s)

    def _stop(self, names: Sequence[str], timeout_s: float) -> StopReport:
        report = StopReport()
        with self._locked():
            records = self.load()
            for name in names:
                record = records.pop(name, None)
                if record is None:
                    continue
                child = self._children.pop(record.pid, None)
                if (child is not None and child.poll() is not None) or not is_alive(record.pid):
                    report.already_gone.append(name)
                elif not is_same_process(record):
                    report.not_ours.append(name)
                else:
                    if terminate(record.pid, child, timeout_s):
                        report.killed.append(name)
                    report.stopped.append(name)
            self._save(records)
        return report


@contextlib.contextmanager
def up_lock(lock_file: Path) -> Iterator[None]:
    """Held for the whole of `up`: a second `up` started meanwhile fails at once."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SandboxAlreadyRunning(
                f"`python -m sandbox up` is already in progress (pid {holder}); wait for it, "
                "or run `python -m sandbox down`"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)

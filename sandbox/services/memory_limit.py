"""A memory limit for one child process, as Lambda's MemorySize: a cgroup of its own.

Lambda runs a function in a micro-VM of MemorySize MB; the runtime that goes past it is
killed (SIGKILL). The closest here is a memory cgroup holding only the child: the kernel
counts every page it touches (not address space, which Python's thread stacks and malloc
arenas inflate far beyond what it uses, so RLIMIT_AS would kill a healthy function) and its
OOM killer sends the same SIGKILL. cgroup v2 (`memory.max`, `memory.swap.max`) where the
memory controller is on the unified hierarchy, else cgroup v1's memory controller
(`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`). Needs write access to the
cgroup tree (root); `create` says why not when it cannot.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_MEMORY_ROOT = CGROUP_ROOT / "memory"
V2_ROOTS = (CGROUP_ROOT, CGROUP_ROOT / "unified")  # unified alone, or hybrid's unified mount
MB = 1024 * 1024
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


class MemoryLimitUnavailable(Exception):
    """No memory cgroup can be made here; the message says why."""


@dataclass(frozen=True)
class MemoryCgroup:
    path: Path
    version: int  # 1 or 2
    limit_mb: int

    @property
    def procs(self) -> Path:
        """Write a pid here to move that process (and its later children) in."""
        return self.path / "cgroup.procs"

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process here for going past the limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        return _counter(self.path / name, "oom_kill") > 0

    def peak_mb(self) -> int | None:
        """The most memory the cgroup held, in MB (Lambda's "Max Memory Used")."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return -(-int((self.path / name).read_text().split()[0]) // MB)
        except (OSError, ValueError, IndexError):
            return None

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (a killed one takes a moment)."""
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _own_path(version: int) -> str | None:
    """This process's cgroup path for the memory controller (v1) or the unified one (v2)."""
    try:
        lines = PROC_SELF_CGROUP.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if (version == 2 and controllers == "") or (
                version == 1 and "memory" in controllers.split(",")):
            return path
    return None


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _v2_parent() -> Path | None:
    own = _own_path(2)
    if own is None:
        return None
    for root in V2_ROOTS:
        with contextlib.suppress(OSError):
            if "memory" in (root / "cgroup.controllers").read_text().split():
                return root / own.lstrip("/")
    return None


def _create_v2(parent: Path, limit_mb: int, name: str) -> MemoryCgroup:
    if "memory" not in (parent / "cgroup.subtree_control").read_text().split():
        _write(parent / "cgroup.subtree_control", "+memory")
    path = parent / name
    path.mkdir()
    group = MemoryCgroup(path, 2, limit_mb)
    try:
        _write(path / "memory.max", str(limit_mb * MB))
        with contextlib.suppress(FileNotFoundError):  # no swap accounting: no swap to use
            _write(path / "memory.swap.max", "0")
    except OSError:
        group.remove()
        raise
    return group


def _create_v1(parent: Path, limit_mb: int, name: str) -> MemoryCgroup:
    path = parent / name
    path.mkdir()
    group = MemoryCgroup(path, 1, limit_mb)
    try:
        _write(path / "memory.limit_in_bytes", str(limit_mb * MB))
        with contextlib.suppress(FileNotFoundError):  # memory and swap together: no swap
            _write(path / "memory.memsw.limit_in_bytes", str(limit_mb * MB))
    except OSError:
        group.remove()
        raise
    return group


def create(limit_mb: int, prefix: str = "sandbox-lambda") -> MemoryCgroup:
    """A fresh memory cgroup of `limit_mb` MB under this process's own, or
    MemoryLimitUnavailable with the reason."""
    if limit_mb < 1:
        raise MemoryLimitUnavailable(f"memory size {limit_mb} MB is not a size")
    name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    problems: list[str] = []
    v2_parent = _v2_parent()
    if v2_parent is not None:
        try:
            return _create_v2(v2_parent, limit_mb, name)
        except OSError as exc:
            problems.append(f"cgroup v2 at {v2_parent}: {exc.strerror or exc}")
    else:
        problems.append("no cgroup v2 hierarchy with the memory controller")
    own_v1 = _own_path(1)
    if own_v1 is not None and V1_MEMORY_ROOT.is_dir():
        parent = V1_MEMORY_ROOT / own_v1.lstrip("/")
        try:
            return _create_v1(parent, limit_mb, name)
        except OSError as exc:
            problems.append(f"cgroup v1 at {parent}: {exc.strerror or exc}")
    else:
        problems.append("no cgroup v1 memory controller")
    raise MemoryLimitUnavailable("; ".join(problems))


def unavailable_reason() -> str | None:
    """None when a memory cgroup can be made here, else why not."""
    try:
        create(64, prefix="sandbox-probe").remove()
    except MemoryLimitUnavailable as exc:
        return str(exc)
    return None

"""Benchmark of `verify all`: wall time with 1 and with 20 API hosts, and the ratio.

Goals: the 20-host run at most 1.2x the 1-host run; `verify all` itself under 10 s, the
forced datapoint (a synchronous publisher invocation) included. Both sandboxes are up at
once, each in a private state directory, and their runs alternate so that the machine's
other load weighs on both alike; the ratio is given per pair of runs. The sandbox's API
hosts are 20 loopback addresses (127.0.0.1-20, one sshd listening on each), so 20 hosts cost
20 SSH handshakes; the connections the sshd accepted in each run, and at how many distinct
addresses, are printed too (goal: one per host).
Usage: python bench/verify_fleet.py [--runs N] [--mode asg|batch]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from components.stack_output import VIDEO_MODES  # noqa: E402
from sandbox import sshd_server, stack  # noqa: E402
from sandbox.processes import ProcessRegistry  # noqa: E402
from sandbox.state import ENV_VAR, sandbox_state  # noqa: E402

RATIO_GOAL = 1.2


# sshd (LogLevel VERBOSE) names the local address each connection came in on.
CONNECTION = re.compile(r"Connection from \S+ port \d+ on (\S+) port \d+")


def sshd_logs(root: Path) -> dict[Path, str]:
    """Each host's sshd log, by path."""
    return {log: log.read_text(errors="replace")
            for log in sshd_server.logs(sandbox_state(root).sshd_dir)}


def logins(text: str) -> tuple[int, int]:
    """SSH logins the sshd accepted in `text` of its log, and the host addresses they reached."""
    accepted = sum(1 for line in text.splitlines() if "Accepted publickey for" in line)
    return accepted, len(set(CONNECTION.findall(text)))


def hosts_cpu(root: Path) -> float:
    """CPU seconds the API hosts' sshds have spent, with the per-connection children they
    reaped (the handshakes, the sessions, the checks' commands)."""
    ticks = 0
    for record in ProcessRegistry(sandbox_state(root).pids_file).load().values():
        if record.name.startswith("sshd"):
            fields = Path(f"/proc/{record.pid}/stat").read_text().rpartition(")")[2].split()
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def verify_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def verify_once(root: Path) -> tuple[float, dict]:
    env = {**os.environ, ENV_VAR: str(root), **sandbox_state(root).verify_env()}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "verify", "all", "--stack", "sandbox", "--json"],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300, check=False)
    wall = time.perf_counter() - started
    report = json.loads(done.stdout)
    if done.returncode != 0:
        bad = [c for c in report["checks"] if c["status"] in ("fail", "error")]
        raise SystemExit(f"verify failed on the healthy sandbox: {bad}")
    return wall, report


def sandbox(exits: ExitStack, hosts: int, mode: str) -> Path:
    root = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-verify-")))
    stack.up(stack.UpOptions(mode=mode, hosts=hosts), root)
    exits.callback(stack.down, root)
    verify_once(root)  # warm-up: imports in the page cache, the publisher's container
    return root


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", choices=VIDEO_MODES, default="asg")
    args = parser.parse_args()
    print(f"verify all --stack sandbox ({args.mode} mode), {args.runs} alternating runs each")
    walls: dict[int, list[float]] = {1: [], 20: []}
    internal: dict[int, list[float]] = {1: [], 20: []}
    checks: dict[int, int] = {}
    connections: dict[int, tuple[int, int]] = {}
    cpu: dict[int, list[tuple[float, float]]] = {1: [], 20: []}  # (verify, the hosts' sshds)
    with ExitStack() as exits:
        roots = {hosts: sandbox(exits, hosts, args.mode) for hosts in walls}
        for _ in range(args.runs):
            for hosts, root in roots.items():
                before = {log: len(text) for log, text in sshd_logs(root).items()}
                cpu_before = verify_cpu(), hosts_cpu(root)
                wall, report = verify_once(root)
                time.sleep(0.3)  # each sshd reaps its closed connections' processes
                cpu[hosts].append((verify_cpu() - cpu_before[0], hosts_cpu(root) - cpu_before[1]))
                connections[hosts] = logins("".join(
                    text[before.get(log, 0):] for log, text in sshd_logs(root).items()))
                walls[hosts].append(wall)
                internal[hosts].append(report["duration_s"])
                checks[hosts] = len(report["checks"])
    for hosts in walls:
        print(f"  {hosts:>2} API host(s): {statistics.median(walls[hosts]):5.2f} s wall "
              f"(process start included), {statistics.median(internal[hosts]):5.2f} s inside "
              f"verify, {checks[hosts]} checks, {connections[hosts][0]} SSH connection(s) a run "
              f"to {connections[hosts][1]} address(es); CPU "
              f"{statistics.median(c[0] for c in cpu[hosts]):.2f} s in verify, "
              f"{statistics.median(c[1] for c in cpu[hosts]):.2f} s in the hosts' sshds")
    ratios = sorted(twenty / one for one, twenty in zip(walls[1], walls[20], strict=True))
    print(f"  ratio 20/1 hosts: median {statistics.median(ratios):.2f}x, "
          f"range {ratios[0]:.2f}-{ratios[-1]:.2f}x over {len(ratios)} pairs "
          f"(goal <= {RATIO_GOAL}x)")
    print(f"  verify all itself: {statistics.median(walls[1]):.2f} s "
          "(goal < 10 s, forced datapoint included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

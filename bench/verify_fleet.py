"""Benchmark of `verify all`: wall time with 1 and with 20 API hosts, and the ratio.

Goals: the 20-host run under 1.5x the 1-host run; `verify all` itself under 10 s, the
forced datapoint (a synchronous publisher invocation) included. Each sandbox runs in a
private state directory. Usage: python bench/verify_fleet.py [--runs N] [--mode asg|batch]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sandbox import stack  # noqa: E402
from sandbox.state import ENV_VAR  # noqa: E402


def verify_once(root: Path) -> tuple[float, dict]:
    env = {**os.environ, ENV_VAR: str(root)}
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


def measure(hosts: int, mode: str, runs: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        root = Path(tmp)
        stack.up(stack.UpOptions(mode=mode, hosts=hosts), root)
        try:
            verify_once(root)  # warm-up: first SSH handshakes, imports in the page cache
            walls, internal, checks = [], [], 0
            for _ in range(runs):
                wall, report = verify_once(root)
                walls.append(wall)
                internal.append(report["duration_s"])
                checks = len(report["checks"])
        finally:
            stack.down(root)
    return statistics.median(walls), statistics.median(internal), checks


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mode", choices=("asg", "batch"), default="asg")
    args = parser.parse_args()
    print(f"verify all --stack sandbox ({args.mode} mode), median of {args.runs} runs")
    results = {}
    for hosts in (1, 20):
        wall, internal, checks = measure(hosts, args.mode, args.runs)
        results[hosts] = wall
        print(f"  {hosts:>2} API host(s): {wall:5.2f} s wall (process start included), "
              f"{internal:5.2f} s inside verify, {checks} checks")
    ratio = results[20] / results[1]
    print(f"  ratio 20/1 hosts: {ratio:.2f}x (goal < 1.5x)")
    print(f"  verify all itself: {results[1]:.2f} s (goal < 10 s, forced datapoint included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the sandbox: time of `up` (per step) and `down`, memory of its processes.

Brings the sandbox up and down in each mode in a private state directory (never the user's
`.sandbox/`). Usage: python bench/sandbox.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from components.stack_output import VIDEO_MODES  # noqa: E402
from sandbox import stack  # noqa: E402
from sandbox.processes import ProcessRegistry  # noqa: E402
from sandbox.state import sandbox_state  # noqa: E402


def rss_mib(pid: int) -> float:
    """Resident memory of one process and its children (nginx's workers), in MiB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                          if ":" in line)
        except OSError:
            continue
        if int(status.parent.name) == pid or int(fields.get("PPid", "0").strip()) == pid:
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total / 1024


def one_run(mode: str, root: Path) -> tuple[float, dict[str, float], float, dict[str, float]]:
    started = time.perf_counter()
    info = stack.up(stack.UpOptions(mode=mode), root)
    up_s = time.perf_counter() - started
    records = ProcessRegistry(sandbox_state(root).pids_file).load()
    memory = {name: rss_mib(record.pid) for name, record in records.items()}
    started = time.perf_counter()
    stack.down(root)
    return up_s, info["timings_s"], time.perf_counter() - started, memory


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    print(f"sandbox up/down, {args.runs} run(s) per mode (median)")
    for mode in sorted(VIDEO_MODES, reverse=True):  # batch, the default, first
        ups, downs, steps, memories = [], [], [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as root:
                up_s, timings, down_s, memory = one_run(mode, Path(root))
            ups.append(up_s)
            downs.append(down_s)
            steps.append(timings)
            memories.append(memory)
        print(f"\n{mode}: up {statistics.median(ups):.2f} s, down {statistics.median(downs):.2f} s")
        for step in steps[0]:
            if step != "total":
                values = [s[step] for s in steps]
                print(f"  {step:<45} {statistics.median(values):6.2f} s")
        total = statistics.median(sum(m.values()) for m in memories)
        print(f"  memory (RSS, processes and their children): {total:.0f} MiB in all")
        for name in memories[0]:
            print(f"    {name:<13} {statistics.median(m[name] for m in memories):6.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

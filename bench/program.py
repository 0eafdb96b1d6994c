"""Benchmark of the Pulumi program under mocks: evaluation time and resources, per video mode.

Two timings per stack file (prod = batch mode, prod-asg = asg mode):
- cold: a fresh `python` process per run (what `pulumi preview` pays before the engine's own
  work): wall time of the whole process, with the import of pulumi/pulumi_aws and the
  evaluation measured separately inside it;
- warm: in this process, after one warm-up run, the evaluation alone (imports cached).
Medians of --runs runs each. Usage: python bench/program.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STACKS = ("prod", "prod-asg")
BENCH_KEY = "bench-internal-key-not-a-secret"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _evaluate(stack: str) -> tuple[float, Counter[str], str]:
    """One program evaluation: (seconds, resources by type, mode)."""
    from pulumi_bridge.program_eval import RecordingMocks, run_program
    from stack_settings.stack_files import REHEARSAL_VALUES, stack_config


    config = stack_config(stack, {**REHEARSAL_VALUES, "internalApiKey": BENCH_KEY})
    mocks = RecordingMocks()
    start = time.perf_counter()
    run = run_program(mocks, stack, config)
    elapsed = time.perf_counter() - start
    return elapsed, Counter(r.typ for r in mocks.resources), run.outputs["academy"]["mode"]


def _one_cold_run(stack: str) -> None:
    """Child process: time the imports and one evaluation, print them as JSON."""
    start = time.perf_counter()
    import pulumi  # noqa: F401
    import pulumi_aws  # noqa: F401

    imported = time.perf_counter() - start
    elapsed, _, _ = _evaluate(stack)
    print(json.dumps({"import_s": imported, "eval_s": elapsed}))


def _cold(stack: str, runs: int) -> dict[str, float]:
    walls, imports, evals = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--one", stack],
            capture_output=True, text=True, check=True, cwd=REPO_ROOT,
        )
        walls.append(time.perf_counter() - start)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        imports.append(figures["import_s"])
        evals.append(figures["eval_s"])
    return {
        "wall_s": statistics.median(walls),
        "import_s": statistics.median(imports),
        "eval_s": statistics.median(evals),
    }


def _warm(stack: str, runs: int) -> tuple[float, Counter[str], str]:
    _evaluate(stack)  # warm-up: imports and first-use caches
    times = []
    for _ in range(runs):
        elapsed, counts, mode = _evaluate(stack)
        times.append(elapsed)
    return statistics.median(times), counts, mode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--one", choices=STACKS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one_cold_run(args.one)
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    print(f"Pulumi program under mocks, median of {args.runs} runs per figure")
    for stack in STACKS:
        warm_s, counts, mode = _warm(stack, args.runs)
        cold = _cold(stack, args.runs)
        custom = {t: n for t, n in counts.items() if not t.startswith("academy:")}
        components = {t: n for t, n in counts.items() if t.startswith("academy:")}
        print(f"\n== stack {stack} (videoMode={mode}) ==")
        print(f"  cold process  wall {cold['wall_s']:.2f} s  "
              f"(imports {cold['import_s']:.2f} s, evaluation {cold['eval_s']:.2f} s)")
        print(f"  warm evaluation      {warm_s * 1000:.0f} ms")
        print(f"  resources: {sum(custom.values())} AWS + {sum(components.values())} components")
        for typ, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            print(f"    {n:3d}  {typ}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

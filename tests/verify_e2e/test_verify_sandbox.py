"""`python -m verify all --stack sandbox` against the real sandbox, healthy and broken.

Each fault of the sandbox reproduces an incident of docs/INCIDENTS.md; the check that should
catch it fails with the right hint, the checks it has nothing to do with still pass, and
after `heal` everything passes again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from sandbox import faults
from sandbox.state import PROJECT_ROOT
from tests.sandbox_e2e import RunningSandbox

# fault -> (check ids that must fail, a phrase of their hint or evidence, checks allowed to
# fail as a consequence: what the fault really breaks downstream)
EXPECTED: Mapping[str, tuple[set[str], str, set[str]]] = {
    # The public path loses the key: the publisher (which calls it) falls back to SQS, the
    # host's nginx config no longer is the stack's, and the backlog listing `stuck` reads on
    # that path is refused: all true consequences.
    "strip-internal-key": ({"api"}, "the proxy drops X-Internal-Key",
                           {"nginx", "metric", "stuck"}),
    "metric-mismatch": ({"scaling"}, "instead of the published", set()),
    "legacy-policy": ({"scaling"}, "delete-policy", set()),
    "wake-alarm-drift": ({"scaling"}, "never wakes", set()),
    "stale-publisher": ({"publisher"}, "CodeSha256", set()),
    # The publisher's API URL drifted: its environment is not the stack's, and the metric's
    # fallback to SQS names the URL it calls beside the stack's (`verify api` checks that one).
    "backlog-drift": ({"metric", "publisher"}, "the stack's API is", set()),
}
ASG_ONLY = {"backlog-drift", "wake-alarm-drift"}  # video is published and wakes in asg mode


def verify(sb: RunningSandbox, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "verify", "all", "--stack", "sandbox", "--json", *args],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=sb.env(), timeout=120,
        check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def by_status(report: Mapping[str, Any], *statuses: str) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["status"] in statuses]


def test_a_healthy_sandbox_passes(sandbox: RunningSandbox) -> None:
    rc, report = verify(sandbox)
    assert rc == 0, by_status(report, "fail", "error")
    assert report["mode"] == sandbox.mode and report["stack"] == "sandbox"
    ids = {c["id"] for c in report["checks"]}
    expected = {"api", "nginx", "metric", "scaling", "publisher", "queues"}
    assert expected | ({"batch"} if sandbox.mode == "batch" else set()) <= ids
    # A warning on the healthy sandbox must be true of it: the emulator never scales, and the
    # seeds' backlog (3 videos, never dispatched; issue 15, item 8) is stuck work.
    for warning in by_status(report, "warn"):
        if warning["id"] == "stuck":
            assert [v["id"] for v in warning["found"]["stuck"]] == [1, 2, 3], warning
            assert all("never dispatched" in v["why"] for v in warning["found"]["stuck"])
            continue
        assert "emulator" in warning["summary"], warning
    assert "stuck" in ids
    assert report["duration_s"] < 10


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_each_fault_fails_the_right_check_and_heal_restores(
        sandbox: RunningSandbox, fault: str) -> None:
    if fault in ASG_ONLY and sandbox.mode == "batch":
        pytest.skip("the video backlog is published, and its fleet wakes, in asg mode only")
    must_fail, phrase, may_fail = EXPECTED[fault]
    faults.break_fault(fault, sandbox.state.root)
    try:
        rc, report = verify(sandbox)
    finally:
        faults.heal(sandbox.state.root)
    bad = by_status(report, "fail", "error")
    assert rc == 1
    assert must_fail <= {c["id"] for c in bad}
    assert {c["id"] for c in bad} <= must_fail | may_fail, bad
    caught = [c for c in bad if c["id"] in must_fail]
    assert any(phrase in c["summary"] + c["hint"] for c in caught), caught
    assert all(c["hint"] for c in bad)
    rc, report = verify(sandbox)
    assert rc == 0, by_status(report, "fail", "error")


def test_junit_report_is_readable_by_a_junit_parser(sandbox: RunningSandbox,
                                                   tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    rc, report = verify(sandbox, "--junit", str(junit))
    suite = ET.parse(junit).getroot()  # noqa: S314 - our own report
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None
    assert int(suite.get("tests")) == len(report["checks"])
    assert int(suite.get("failures", 0)) == len(by_status(report, "fail")) == 0


def test_the_key_never_appears_in_the_report(sandbox: RunningSandbox) -> None:
    from sandbox.stack import internal_key

    key = internal_key(sandbox.state, sandbox.outputs)
    done = subprocess.run([sys.executable, "-m", "verify", "all", "--stack", "sandbox"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=sandbox.env(),
                          timeout=120, check=False)
    assert done.returncode == 0
    assert key not in done.stdout + done.stderr


def readme_demo_sample() -> list[str]:
    """The lines of the README's `make demo` sample (the block that starts with the asg mode's
    banner)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    start = readme.index("=== sandbox in asg mode ===")
    return readme[start:readme.index("```", start)].splitlines()


def test_the_readme_demo_sample_is_what_a_run_prints(asg_sandbox: RunningSandbox) -> None:
    """Issue 15.18: every verify row the README's sample shows is one a real run prints (the
    same check, target and status; the archive's CodeSha256 prefix, which only the source
    decides), and its summary counts are the run's."""
    done = subprocess.run([sys.executable, "-m", "verify", "all", "--stack", "sandbox"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env=asg_sandbox.env(), timeout=120, check=False)
    run = done.stdout.splitlines()
    sample = readme_demo_sample()
    header = next(i for i, line in enumerate(sample) if line.startswith("CHECK "))
    rows = [line for line in sample[header + 1:]
            if line.split() and line.split()[0].isalpha() and not line.startswith("stack ")
            and line.split()[0] != "demo"]
    assert rows, "the README's sample shows no verify row"
    status_at = sample[header].index("STATUS")
    for row in rows:
        check, target = row.split()[0], row[len(row.split()[0]):status_at].strip()
        status = row[status_at:].split()[0]
        found = [r for r in run if r.split() and r.split()[0] == check and target in r
                 and status in r.split()]
        assert found, f"README row not printed by a run: {row!r}\nrun:\n{done.stdout}"
        for word in row.split():  # an abbreviated hash: the run's begins with it
            if len(word) >= 8 and word.endswith("..."):
                assert any(word[:-3] in r for r in found), (row, found)
    summary = next(line for line in sample if line.startswith("stack sandbox (asg):"))
    printed = next(line for line in run if line.startswith("stack sandbox (asg):"))
    assert summary.split(" in ")[0] == printed.split(" in ")[0], (summary, printed)

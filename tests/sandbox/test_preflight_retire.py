"""End to end (issue 15, items 1 and 21): the red team's case in a sandbox of its own. In asg
mode, videos uploaded; `sandbox switch --mode batch --drain-timeout 0` exits 1 with the drain
kept (the fleet still consumes the retained queue); then `sandbox preview --set
videoDrain=false --json F` writes the retirement's PreviewDigest, and `verify preflight` on it
refuses (exit 1): the plan deletes the fleet, the last consumer of academy-video-jobs, which
still holds messages, the uploads' and the seeds' (the queue itself is not deleted, so a
delete check alone waved it through)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.state import PROJECT_ROOT
from tests.sandbox_e2e import RunningSandbox, cli, start, upload

UPLOADS = 40  # 4 slots x 3 s a job: 30 s of work, longer than the switch's up and a preview
SEEDED_IN_FLIGHT = 5  # the seeds' incident messages: in flight, no video id, no worker takes them
GROUP = "aws:autoscaling/group:Group"
QUEUE = "aws:sqs/queue:Queue"


@pytest.fixture
def asg_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    # The seeds' messages stay: they hold the queue whatever the machine's speed (on a loaded
    # machine the worker may finish the uploads while the switch's up runs).
    yield from start("asg", tmp_path / "asg")


def preflight(sb: RunningSandbox, plan: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """As the sandbox's switch runs it: the saved stack `sandbox` (its env, outputs, state)."""
    return subprocess.run([sys.executable, "-m", "verify", "preflight", "--stack", "sandbox",
                           "--plan", str(plan), *extra], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env={**os.environ, **sb.state.verify_env()},
                          timeout=120, check=False)


def test_retiring_the_fleet_while_its_retained_queue_holds_messages_is_refused(
        asg_sandbox: RunningSandbox, tmp_path: Path) -> None:
    sb = asg_sandbox
    queue = sb.academy["worker_types"]["video"]["queue"]["name"]
    upload(sb, UPLOADS)
    timed_out = cli(sb, "switch", "--mode", "batch", "--drain-timeout", "0")
    assert timed_out.returncode == 1 and "the drain stays in place" in timed_out.stderr, \
        timed_out.stderr
    assert sb.academy["draining"]["group_name"]

    plan = tmp_path / "retire-preview.json"
    previewed = cli(sb, "preview", "--set", "videoDrain=false", "--json", str(plan))
    assert previewed.returncode == 0, previewed.stderr
    digest = json.loads(plan.read_text())
    deleted = {s["urn"].rsplit("$", 1)[-1].split("::")[0] for s in digest["steps"]
               if s["op"] == "delete"}
    assert GROUP in deleted and QUEUE not in deleted, deleted  # the queue is kept

    checked = preflight(sb, plan, "--json")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    (fleet,) = [v for v in json.loads(checked.stdout)["refused"] if v["type"] == GROUP]
    assert fleet["consumes"] == [queue], fleet["summary"]
    counts = fleet["counts"]["consumes"][queue]
    assert counts["messages"] == counts["visible"] + counts["in_flight"] + counts["delayed"]
    assert counts["in_flight"] >= SEEDED_IN_FLIGHT
    print(f"retire refused: {fleet['summary']}")  # noqa: T201
    text = preflight(sb, plan)
    assert text.returncode == 1
    assert f"the last consumer of queue {queue} (video), which holds" in text.stdout, text.stdout
    assert "message(s):" in text.stdout and "in flight" in text.stdout

    # bad input: exit 2, one clear line, no traceback
    for bad, said in ((["--set", "videoDrain"], "expected KEY=VALUE"),
                      (["--set", "videoMode=rocket"], "invalid setting"),
                      (["--json", str(tmp_path / "no" / "such" / "f.json")], "no directory")):
        refused = cli(sb, "preview", *bad)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr

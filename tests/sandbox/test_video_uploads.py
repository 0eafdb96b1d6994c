"""End to end: `python -m sandbox upload 5` in the running sandbox, in each mode; the sandbox's
video worker takes the jobs down the live path and the DB backlog falls back for real, the
metric following it (verify metric) while it changes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

from sandbox import dispatch, stack
from sandbox.scenarios.seed import VIDEOS_BY_STATUS
from sandbox.state import PROJECT_ROOT
from tests.sandbox_e2e import RunningSandbox

UPLOADS = 5
SEEDED_BACKLOG = VIDEOS_BY_STATUS["UPLOADED"] + VIDEOS_BY_STATUS["PROCESSING"]
UPLOADED = re.compile(r"^video (\d+): (asg|batch), (message|job) (\S+)$")


def sandbox_cli(sb: RunningSandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", "--dir", str(sb.state.root), *args],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
                          check=False)


def ensure_dispatch_parameter(sb: RunningSandbox) -> str:
    """The parameter the program deploys; created here only if this checkout's program does
    not deploy it yet (then said on the test's output)."""
    name = dispatch.parameter_name(sb.outputs)
    ssm = sb.client("ssm")
    try:
        ssm.get_parameter(Name=name)
        return "deployed by the program"
    except ssm.exceptions.ParameterNotFound:
        pass
    video = sb.academy["worker_types"]["video"]
    batch = sb.academy.get("batch") or {}
    value = {"schema_version": 1, "mode": sb.mode, "worker_type": "video",
             "queue_url": video["queue"]["url"] if sb.mode == "asg" else None,
             "job_queue": batch.get("job_queue") if sb.mode == "batch" else None,
             "job_definition": batch.get("job_definition") if sb.mode == "batch" else None}
    ssm.put_parameter(Name=name, Type="String", Value=json.dumps(value))
    print(f"the program did not deploy {name}: created by the test")  # noqa: T201
    return "created by the test"


def videos(sb: RunningSandbox, ids: list[int]) -> dict[int, str]:
    import sqlite3

    db = sqlite3.connect(sb.state.db_path)
    try:
        marks = ",".join("?" for _ in ids)
        rows = db.execute(f"SELECT id, status FROM videos WHERE id IN ({marks})",  # noqa: S608
                          ids).fetchall()
    finally:
        db.close()
    return {int(i): str(s) for i, s in rows}


def test_bad_counts_are_usage_errors(sandbox: RunningSandbox) -> None:
    for bad in ("0", "-3", "five", "1001", "9" * 5000):
        done = sandbox_cli(sandbox, "upload", bad)
        assert done.returncode == 2, (bad, done.stderr)
        assert "expected a whole number from 1 to 1000" in done.stderr
        assert "Traceback" not in done.stderr


def test_uploads_go_down_the_live_path_and_drain_to_done(sandbox: RunningSandbox) -> None:
    sb = sandbox
    ensure_dispatch_parameter(sb)
    started = time.monotonic()
    done = sandbox_cli(sb, "upload", str(UPLOADS))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    found = [UPLOADED.match(line) for line in lines]
    assert len(lines) == UPLOADS and all(found), done.stdout
    ids = [int(m.group(1)) for m in found if m]
    assert {m.group(2) for m in found if m} == {sb.mode}
    key = stack.internal_key(sb.state, sb.outputs)
    assert key not in done.stdout and key not in done.stderr

    seen: dict[str, set[str]] = {"db": set(), "jobs": set()}
    verified = None
    deadline = time.monotonic() + 90
    while set(videos(sb, ids).values()) != {"DONE"}:
        assert time.monotonic() < deadline, videos(sb, ids)
        seen["db"] |= set(videos(sb, ids).values())
        if sb.mode == "batch":
            refs = [m.group(4) for m in found if m]
            seen["jobs"] |= {j["status"] for j in
                             sb.client("batch").describe_jobs(jobs=refs)["jobs"]}
        if sb.mode == "asg" and verified is None:
            verified = verify_metric(sb)  # while the backlog changes
        time.sleep(0.2)
    drained_s = time.monotonic() - started
    print(f"{sb.mode}: {UPLOADS} uploads drained to DONE in {drained_s:.1f} s")  # noqa: T201
    assert "PROCESSING" in seen["db"]
    if sb.mode == "batch":
        assert "RUNNING" in seen["jobs"]
        jobs = sb.client("batch").describe_jobs(jobs=[m.group(4) for m in found if m])["jobs"]
        assert {j["status"] for j in jobs} == {"SUCCEEDED"}
    else:
        assert verified is not None and verified["exit"] == 0, verified
        attrs = sb.client("sqs").get_queue_attributes(
            QueueUrl=sb.academy["worker_types"]["video"]["queue"]["url"],
            AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        assert attrs["ApproximateNumberOfMessages"] == "0"  # every upload's message deleted
    status = sandbox_cli(sb, "status", "--json")
    report: dict[str, Any] = json.loads(status.stdout)
    assert report["processes"]["video-worker"]["running"]
    assert report["internal_api"]["LOCAL"] == [200, f'{{"backlog": {SEEDED_BACKLOG}}}']


def verify_metric(sb: RunningSandbox) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "verify", "metric", "--stack", "sandbox",
                           "--json"], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env=sb.env(), timeout=120, check=False)
    return {"exit": done.returncode, "out": done.stdout[-2000:], "err": done.stderr[-1000:]}


def test_upload_through_the_internal_api_directly(sandbox: RunningSandbox) -> None:
    ensure_dispatch_parameter(sandbox)
    done = sandbox_cli(sandbox, "upload", "1", "--through", "local")
    assert done.returncode == 0, done.stderr
    match = UPLOADED.match(done.stdout.strip())
    assert match, done.stdout
    deadline = time.monotonic() + 30  # leave the seeded backlog as the other tests expect it
    while videos(sandbox, [int(match.group(1))]) != {int(match.group(1)): "DONE"}:
        assert time.monotonic() < deadline
        time.sleep(0.2)

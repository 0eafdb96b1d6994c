"""Issue 15, item 8: a DB backlog nobody works on is named as stuck work, with how long each
video has waited: the rule (pure), and the check against the sandbox's internal API (SQLite)
and moto."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.services.internal_api import InternalApi, KeyHolder, VideoStore
from verify.checks.stuck import judge
from verify.checks.stuck_rule import (
    DISPATCH_GRACE_S,
    BacklogVideo,
    ListingError,
    PathFacts,
    find_stuck,
    parse_listing,
    stuck_reason,
)
from verify.context import RunOptions
from verify.probes.work import Messages
from verify.report import Status
from verify.suite import run_checks

from .conftest import KEY, seed_stack

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
LIMIT = 10800  # the longest job / visibility of the type


def video(video_id: int = 1, status: str = "UPLOADED", age_s: float = 3600,
          quiet_s: float | None = None, message: str | None = None, job: str | None = None,
          error: str | None = None) -> BacklogVideo:
    created = NOW - dt.timedelta(seconds=age_s)
    reported = NOW - dt.timedelta(seconds=age_s if quiet_s is None else quiet_s)
    mode = "batch" if job or (error and not message) else ("asg" if message else None)
    return BacklogVideo(video_id, status, mode, message, job, error, created, reported)


def facts(visible: int = 0, in_flight: int = 0, jobs: dict | None = None,
          queue: bool = True) -> PathFacts:
    return PathFacts(Messages(visible, in_flight, 0) if queue else None, jobs or {}, LIMIT)


# -- the rule -------------------------------------------------------------------------------

def test_a_failed_dispatch_is_stuck_at_once_and_a_missing_one_after_the_grace() -> None:
    why, fix = stuck_reason(video(age_s=5, error="batch dispatch to q failed: DISABLED"),
                            facts(), NOW)
    assert "dispatch failed" in why and "DISABLED" in why and "mark it FAILED" in fix
    assert stuck_reason(video(age_s=DISPATCH_GRACE_S / 2), facts(), NOW) is None  # sending
    why, _ = stuck_reason(video(age_s=DISPATCH_GRACE_S + 1), facts(), NOW)
    assert "no message and no job" in why


def test_a_batch_job_unknown_or_ended_strands_its_video() -> None:
    assert "Batch has no job j-1" in stuck_reason(video(job="j-1"), facts(jobs={"j-1": None}),
                                                  NOW)[0]
    why, fix = stuck_reason(video(job="j-1", status="PROCESSING"),
                            facts(jobs={"j-1": "FAILED"}), NOW)
    assert "ended FAILED while the video is still PROCESSING" in why and "log" in fix
    for live in ("SUBMITTED", "RUNNABLE", "STARTING", "RUNNING"):
        assert stuck_reason(video(job="j-1", age_s=10 * LIMIT), facts(jobs={"j-1": live}),
                            NOW) is None


def test_a_message_is_judged_by_the_queue_and_the_last_report() -> None:
    # Waiting its turn: messages wait visible, however old.
    assert stuck_reason(video(message="m", age_s=5 * LIMIT), facts(visible=40), NOW) is None
    # The queue holds nothing at all: its message is gone.
    assert "is gone" in stuck_reason(video(message="m"), facts(), NOW)[0]
    assert "does not exist" in stuck_reason(video(message="m"), facts(queue=False), NOW)[0]
    # PROCESSING, reported recently: a worker holds it (even a long job).
    assert stuck_reason(video(message="m", status="PROCESSING", age_s=5 * LIMIT,
                              quiet_s=LIMIT - 60), facts(in_flight=1), NOW) is None
    # ... with no report for longer than the longest job and the visibility: nobody does.
    why, _ = stuck_reason(video(message="m", status="PROCESSING", age_s=5 * LIMIT,
                                quiet_s=LIMIT + 60), facts(in_flight=1), NOW)
    assert "no worker reported it for 3h 01m" in why
    # UPLOADED that long while nothing waits visible: in flight with nobody reporting it.
    why, _ = stuck_reason(video(message="m", age_s=LIMIT + 60), facts(in_flight=5), NOW)
    assert "in flight with no worker reporting it" in why


def test_a_message_in_a_queue_no_fleet_consumes_is_stuck_however_it_waits() -> None:
    """After a switch to Batch retired the fleet, a message sent to the retained queue waits
    visible forever: visible messages are not "waiting their turn" there."""
    retired = PathFacts(Messages(3, 0, 0), {}, LIMIT, consumed=False)
    why, fix = stuck_reason(video(message="m", age_s=600), retired, NOW)
    assert "no fleet consumes" in why and "verify switch" in fix
    assert stuck_reason(video(message="m", age_s=600), facts(visible=3), NOW) is None


def test_the_row_names_each_stuck_video_with_its_wait_and_what_it_costs() -> None:
    from contract.stack_output import parse
    from tests.verify.cli_run import minimal_outputs

    outputs = parse(minimal_outputs())
    worker = outputs.worker_types["ai"]
    stuck = find_stuck([video(1, age_s=3725), video(2, job="j", age_s=60), video(3, message="m")],
                       facts(visible=0, in_flight=0, jobs={"j": "RUNNING"}), NOW)
    assert [s.video.id for s in stuck] == [1, 3]
    result = judge("video", worker, 3, False, stuck)
    assert result.status is Status.WARN
    assert "2 of 3 video(s) in the backlog are stuck" in result.summary
    assert "video 1 (UPLOADED, waited 1h 02m)" in result.summary
    assert [s["id"] for s in result.found["stuck"]] == [1, 3]
    assert result.found["stuck"][0]["waited_s"] == 3725
    assert "mark it FAILED" in result.hint
    assert judge("video", worker, 3, False, []).status is Status.PASS


def test_a_listing_of_another_shape_is_refused_naming_where() -> None:
    with pytest.raises(ListingError, match=r"videos\[0\].id should be an integer"):
        parse_listing({"videos": [{"id": True, "status": "UPLOADED"}]})
    with pytest.raises(ListingError, match="created_at"):
        parse_listing({"videos": [{"id": 1, "status": "UPLOADED", "created_at": "yesterday"}]})
    videos, truncated = parse_listing({"videos": [], "truncated": True})
    assert videos == [] and truncated is True


# -- against the sandbox's internal API (SQLite) and moto -------------------------------------

@pytest.fixture
def sandbox_api(tmp_path: Path) -> Iterator[InternalApi]:
    server = InternalApi(VideoStore(tmp_path / "videos.sqlite3"),
                         KeyHolder(lambda: KEY, "test key")).start()
    server.reload_key()
    try:
        yield server
    finally:
        server.stop()


def test_verify_names_the_stuck_videos_of_a_real_api_and_queue(aws_env, sandbox_api) -> None:
    """The red team's cases: a video whose dispatch failed (no message, no job), the seeds'
    kind (in the backlog, never dispatched, an hour old), one PROCESSING with no report for
    longer than its longest job, one whose Batch job Batch never heard of; beside a video
    whose message waits in the queue and a fresh upload, which are not stuck."""
    stack = seed_stack(aws_env, (sandbox_api.base_url, sandbox_api.base_url))
    store, queue_url = sandbox_api.store, stack.outputs["worker_types"]["video"]["queue"]["url"]
    now = time.time()
    waiting = store.add_video("waits its turn", at=now - 600)
    sent = stack.client("sqs").send_message(QueueUrl=queue_url, MessageBody="{}")
    store.record_dispatch(waiting, "asg", sent["MessageId"], None)
    failed = store.add_video("dispatch failed", at=now - 120)
    store.record_dispatch(failed, "batch", None, "batch dispatch to q failed: DISABLED")
    (seeded,) = store.seed({"UPLOADED": 1}, age_s=3600)
    hung = store.add_video("hung worker", "PROCESSING", at=now - 4 * 3600)
    store.record_dispatch(hung, "asg", "m-hung", None)
    lost_job = store.add_video("lost job", at=now - 300)
    store.record_dispatch(lost_job, "batch", "00000000-0000-0000-0000-000000000000", None)
    store.add_video("fresh upload, being sent")  # no reference yet: within the grace

    report = run_checks(stack.typed(), ["stuck"], RunOptions(invoke=False, timeout_s=30.0),
                        env=stack.env)
    (row,) = report.checks
    assert row.status is Status.WARN, row
    by_id = {s["id"]: s for s in row.found["stuck"]}
    assert sorted(by_id) == sorted([failed, seeded, hung, lost_job])
    assert 3590 <= by_id[seeded]["waited_s"] <= 3700
    assert "DISABLED" in by_id[failed]["why"] and "never dispatched" in by_id[seeded]["why"]
    assert "no worker reported it for 4h" in by_id[hung]["why"]
    assert "Batch has no job" in by_id[lost_job]["why"]
    assert row.found["videos"] == 6
    # The fleet counts the DB here: the row says what the stuck videos cost.
    assert "academy-video-worker-asg at 1 instance(s) or more" in row.summary


def test_an_api_without_the_listing_warns_that_stuck_work_cannot_be_named(aws_env) -> None:
    """An API from before the listing (the users' Django until it serves it) answers 404."""
    import http.server
    import threading

    class NoListing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoListing)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        stack = seed_stack(aws_env, (url, url))
        report = run_checks(stack.typed(), ["stuck"], RunOptions(invoke=False, timeout_s=30.0),
                            env=stack.env)
    finally:
        server.shutdown()
        server.server_close()
    (row,) = report.checks
    assert row.status is Status.WARN and "404" in row.summary
    assert "Backlog listing" in row.hint

"""`stuck`: no video of the DB's backlog is stranded, nothing working on it (issue 15, item 8).

For the worker type whose backlog the DB holds (`backlog_source` "api"), reads the API's
backlog listing and cross-references each video with its path: the queue (messages, and how
long the video has gone without a worker's report) and Batch (its job). The rules are in
verify/checks/stuck_rule.py.

Stuck work is a WARN, not a FAIL: verify FAILs what the deployment gets wrong, which a
`pulumi up` or a setting puts right; a stranded video is the application's data, which no
deploy fixes and which the operator must decide on video by video (resend it or mark it
FAILED). It is the same judgement as a non-empty DLQ or a retained queue holding messages no
fleet consumes (`queues`). The row names every such video with how long it has waited, and
says when the fleet's published backlog counts them (it then never scales in below them).
"""

from __future__ import annotations

import datetime as dt
import math

from contract.stack_output import Worker
from verify.checks.stuck_rule import (
    ListingError,
    PathFacts,
    Stuck,
    find_stuck,
    parse_listing,
    waited,
)
from verify.context import CheckContext, Task
from verify.errors import VerifyError
from verify.probes import work
from verify.probes.backlog_list import BACKLOG_LIST_PATH, fetch_listing, job_statuses, load_json
from verify.report import CheckResult, passed, warned

CHECK_ID = "stuck"
NAMED = 5  # videos named in the summary; --json's `found` lists every one
ABOUT = "no video of the DB backlog is stranded with nothing working on it"
NO_LISTING_HINT = (f"the API should answer GET {BACKLOG_LIST_PATH} with the key "
                   "(docs/CONTRACTS.md, \"Backlog listing\"); until it does, stuck work "
                   "cannot be named")


def target(worker_type: str) -> str:
    return f"{worker_type} backlog (DB)"


def judge(worker_type: str, worker: Worker, total: int, truncated: bool,
          stuck: list[Stuck]) -> CheckResult:
    found = {"videos": total, "truncated": truncated, "stuck": [s.as_dict() for s in stuck]}
    expected = {"stuck": []}
    listed = f"{total}{'+' if truncated else ''} video(s) in the backlog"
    if not stuck:
        return passed(CHECK_ID, target(worker_type),
                      f"{listed}, each on a live path (a message, a job, or a recent report)",
                      expected=expected, found=found)
    named = "; ".join(f"video {s.video.id} ({s.video.status}, waited {waited(s.waited_s)}): "
                      f"{s.why}" for s in stuck[:NAMED])
    more = f"; and {len(stuck) - NAMED} more" if len(stuck) > NAMED else ""
    scaling = ""
    if worker.backlog_api and worker.fleet is not None:
        fleet = worker.fleet
        floor = min(fleet.max_size, math.ceil(len(stuck) / fleet.target_backlog_per_instance))
        scaling = (f"; the fleet's backlog counts them: they alone hold "
                   f"{fleet.group_name} at {floor} instance(s) or more, forever")
    fixes = list(dict.fromkeys(s.fix for s in stuck))
    return warned(
        CHECK_ID, target(worker_type),
        f"{len(stuck)} of {listed} are stuck, nothing works on them: {named}{more}{scaling}",
        "for each video named: " + "; or ".join(fixes) + " (`--json` lists every one, with "
        "its message or job id)",
        expected=expected, found=found)


def _task(ctx: CheckContext, worker_type: str, worker: Worker) -> Task:
    def run() -> CheckResult:
        answer = fetch_listing(ctx, ctx.key.get())
        if answer.status == 404:
            return warned(CHECK_ID, target(worker_type),
                          f"the API does not list its backlog (404 on {BACKLOG_LIST_PATH})",
                          NO_LISTING_HINT)
        if answer.status != 200 or answer.error:
            shown = ctx.masker.excerpt(answer.error or answer.body, 160)
            raise VerifyError(f"cannot read the backlog listing: "
                              f"{answer.status or 'no answer'} {shown}".strip(),
                              "run `python -m verify api` for which hop fails")
        try:
            videos, truncated = parse_listing(load_json(answer.body))
        except (ValueError, ListingError) as exc:
            raise VerifyError(f"the backlog listing is not the contract's shape: {exc}",
                              NO_LISTING_HINT) from exc
        jobs = [v.job_id for v in videos if v.job_id]
        facts = PathFacts(
            messages=work.queue_messages(ctx.aws.client("sqs"), worker.queue.url),
            jobs=job_statuses(ctx.aws.client("batch"), jobs) if jobs else {},
            limit_s=max(worker.max_job_s, worker.queue.visibility_timeout_s),
            consumed=worker.fleet is not None)
        stuck = find_stuck(videos, facts, dt.datetime.now(dt.UTC))
        return judge(worker_type, worker, len(videos), truncated, stuck)

    return Task(CHECK_ID, target(worker_type), run)


def tasks(ctx: CheckContext) -> list[Task]:
    return [_task(ctx, wt, w) for wt, w in ctx.outputs.worker_types.items()
            if w.backlog_source == "api"]

"""Stuck work: a video in the DB's backlog that no path will ever work on (pure rules).

The backlog the API counts (UPLOADED or PROCESSING) is what a fleet scales on; a video in it
that nothing holds demands instances forever and is never done. Each video of the listing
(docs/CONTRACTS.md, "Backlog listing") is judged against its own path:

- no message and no job: its dispatch failed (`dispatch_error`) or never happened; once the
  upload is older than DISPATCH_GRACE_S nothing will send it;
- a Batch job id: Batch does not know the job, or the job ended (SUCCEEDED / FAILED) while the
  video is still in the backlog;
- an SQS message id: the queue is gone, holds no message at all, or no fleet consumes it; a
  PROCESSING video with no worker report for longer than the type's longest job and the
  queue's visibility timeout (a holder would have finished, or SQS redelivered it and the
  next worker reported it); an UPLOADED video older than that while no message waits visible
  (its message is in flight with no worker reporting, or gone).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from verify.probes.work import Messages

# An upload's send happens inside its request, and SQS's approximate counts lag about a minute.
DISPATCH_GRACE_S = 60.0
BATCH_ENDED = ("SUCCEEDED", "FAILED")
RESEND = "resend its job down the live path (the API's dispatch for it) or mark it FAILED"


class ListingError(ValueError):
    """The listing is not of the contract's shape; the message names where."""


@dataclass(frozen=True)
class BacklogVideo:
    id: int
    status: str
    dispatch_mode: str | None
    message_id: str | None
    job_id: str | None
    dispatch_error: str | None
    created_at: dt.datetime | None  # None: the API does not know (a row from before)
    status_at: dt.datetime | None


@dataclass(frozen=True)
class PathFacts:
    """What the video's paths hold now: the type's queue and the Batch jobs the listing names."""

    messages: Messages | None  # None: the queue does not exist
    jobs: dict[str, str | None]  # job id -> status; None: Batch does not know it
    limit_s: int  # the longest a holder may keep one: max(longest job, visibility timeout)
    consumed: bool = True  # a fleet consumes the queue (false: the type runs on Batch alone)


@dataclass(frozen=True)
class Stuck:
    video: BacklogVideo
    waited_s: float | None  # since its upload (None: unknown)
    why: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        v = self.video
        return {"id": v.id, "status": v.status, "dispatch_mode": v.dispatch_mode,
                "message_id": v.message_id, "job_id": v.job_id,
                "waited_s": None if self.waited_s is None else round(self.waited_s),
                "why": self.why, "fix": self.fix}


def _time(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ListingError(f"{where} should be an ISO 8601 time or null")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ListingError(f"{where} = {value[:40]!r} is not an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _text(entry: dict, key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ListingError(f"{where}.{key} should be a string or null")
    return value or None


def parse_listing(document: Any) -> tuple[list[BacklogVideo], bool]:
    """The listing's videos and whether it was truncated, or a ListingError."""
    if not isinstance(document, dict) or not isinstance(document.get("videos"), list):
        raise ListingError("the answer should be an object with a list 'videos'")
    videos = []
    for i, entry in enumerate(document["videos"]):
        where = f"videos[{i}]"
        if not isinstance(entry, dict):
            raise ListingError(f"{where} should be an object")
        video_id, status = entry.get("id"), entry.get("status")
        if isinstance(video_id, bool) or not isinstance(video_id, int):
            raise ListingError(f"{where}.id should be an integer")
        if not isinstance(status, str):
            raise ListingError(f"{where}.status should be a string")
        videos.append(BacklogVideo(
            id=video_id, status=status,
            dispatch_mode=_text(entry, "dispatch_mode", where),
            message_id=_text(entry, "message_id", where),
            job_id=_text(entry, "job_id", where),
            dispatch_error=_text(entry, "dispatch_error", where),
            created_at=_time(entry.get("created_at"), f"{where}.created_at"),
            status_at=_time(entry.get("status_at"), f"{where}.status_at")))
    return videos, document.get("truncated") is True


def _age(at: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if at is None else max(0.0, (now - at).total_seconds())


def waited(seconds: float | None) -> str:
    """`1h 02m`, `4m 05s`, `45s`; `for an unknown time`."""
    if seconds is None:
        return "for an unknown time"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def stuck_reason(video: BacklogVideo, facts: PathFacts,
                 now: dt.datetime) -> tuple[str, str] | None:
    """(why, what to do) when nothing will work on the video, else None."""
    age = _age(video.created_at, now)
    quiet = _age(video.status_at or video.created_at, now)  # since the last report
    if video.job_id is None and video.message_id is None:
        if video.dispatch_error:
            return f"its dispatch failed: {video.dispatch_error}", RESEND
        if age is None or age > DISPATCH_GRACE_S:
            return "no message and no job carries it (never dispatched)", RESEND
        return None
    if video.job_id is not None:
        status = facts.jobs.get(video.job_id)
        if status is None:
            return (f"Batch has no job {video.job_id} (never submitted, or ended long ago)",
                    RESEND)
        if status in BATCH_ENDED:
            return (f"its job {video.job_id} ended {status} while the video is still "
                    f"{video.status}", f"read the job's log, then {RESEND}")
        return None
    messages = facts.messages
    if messages is None:
        return "its queue does not exist", RESEND
    if not facts.consumed and (age is None or age > DISPATCH_GRACE_S):
        return ("its message waits in a queue no fleet consumes (the type runs on Batch and "
                "its fleet is retired)", f"{RESEND} (`verify switch` says what still sends "
                "down the retired path)")
    if messages.total == 0 and (age is None or age > DISPATCH_GRACE_S):
        return (f"its message {video.message_id} is gone: the queue holds none (deleted, "
                f"expired or moved to the DLQ: `verify queues`)", RESEND)
    if quiet is not None and quiet > facts.limit_s:
        if video.status == "PROCESSING":
            return (f"no worker reported it for {waited(quiet)}, longer than its longest job "
                    f"and visibility ({facts.limit_s}s): no worker holds it",
                    f"check the workers (a hung one keeps its message in flight), then {RESEND}")
        if messages.visible == 0:
            return (f"UPLOADED for {waited(quiet)} (longer than {facts.limit_s}s) while no "
                    f"message waits visible: its message is in flight with no worker "
                    f"reporting it, or gone", f"check the workers, then {RESEND}")
    return None


def find_stuck(videos: list[BacklogVideo], facts: PathFacts, now: dt.datetime) -> list[Stuck]:
    found = []
    for video in videos:
        reason = stuck_reason(video, facts, now)
        if reason is not None:
            found.append(Stuck(video, _age(video.created_at, now), *reason))
    return found

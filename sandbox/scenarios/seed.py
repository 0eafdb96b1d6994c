"""Seed data: videos in every status, and messages in every fleet's queue, some in flight.

Every listed worker type is seeded by what it is, never by its name. The type whose backlog
is counted through the API (video in production) gets the seeds' incident #2: 3 videos in
the backlog (UPLOADED or PROCESSING) while its queue holds 5 messages, all in flight ("3
videos became 5 in-flight messages", visible 0), so a publisher that counts messages instead
of videos is caught. All in flight also keeps them from the sandbox's live video worker:
they carry no video id, and a worker would only leave them in flight. The SQS-counted types
get their messages from SQS_MESSAGES in the order they are listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.services.internal_api import VideoStore

VIDEOS_BY_STATUS: Mapping[str, int] = {
    "UPLOADED": 2, "PROCESSING": 1, "READY": 4, "FAILED": 1, "DELETED": 1,
}
# (messages sent, messages received and left in flight)
API_TYPE_MESSAGES: tuple[int, int] = (5, 5)
# The seeded videos were uploaded before the sandbox came up (an hour ago): the backlog's 3 were
# never dispatched, so `verify stuck` names them, and does so on the first run after `up`.
SEEDED_AGE_S = 3600.0
SQS_MESSAGES: tuple[tuple[int, int], ...] = ((7, 2), (3, 0), (4, 1), (6, 2))


def messages_plan(worker_types: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """worker type -> (sent, in flight), from the stack output's `worker_types`: the
    api-counted type gets API_TYPE_MESSAGES, the others SQS_MESSAGES in turn."""
    plan: dict[str, tuple[int, int]] = {}
    from_sqs = 0
    for wt, spec in worker_types.items():
        if spec["backlog_source"] == "api":
            plan[wt] = API_TYPE_MESSAGES
        else:
            plan[wt] = SQS_MESSAGES[from_sqs % len(SQS_MESSAGES)]
            from_sqs += 1
    return plan


def seed_videos(store: VideoStore) -> int:
    store.seed(VIDEOS_BY_STATUS, age_s=SEEDED_AGE_S)
    return store.backlog_count()


def seed_queues(sqs: Any, outputs: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Sends the messages and receives some (they stay in flight for the visibility timeout).

    Only queues a fleet consumes: a type on Batch keeps its (retained) queue empty, as after
    a switch done right (verify warns when it is not).
    """
    worker_types = outputs["academy"]["worker_types"]
    seeded: dict[str, dict[str, int]] = {}
    for wt, (sent, in_flight) in messages_plan(worker_types).items():
        spec = worker_types[wt]
        if spec["fleet"] is None:
            continue
        url = spec["queue"]["url"]
        for n in range(sent):
            sqs.send_message(QueueUrl=url, MessageBody=f'{{"job": "{wt}-{n}"}}')
        received = 0
        while received < in_flight:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=in_flight - received)
            received += len(got.get("Messages", []))
        seeded[wt] = {"visible": sent - in_flight, "in_flight": in_flight}
    return seeded

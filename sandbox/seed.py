"""Seed data: videos in every status, and messages in the queues, some of them in flight.

The video numbers are the seeds' incident #2: 3 videos in the backlog (UPLOADED or
PROCESSING) while the video queue holds 5 messages, 3 of them in flight, so a publisher
that counts messages instead of videos is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.internal_api import VideoStore

VIDEOS_BY_STATUS: Mapping[str, int] = {
    "UPLOADED": 2, "PROCESSING": 1, "READY": 4, "FAILED": 1, "DELETED": 1,
}
# worker type -> (messages sent, messages received and left in flight)
MESSAGES: Mapping[str, tuple[int, int]] = {"ai": (7, 2), "messaging": (3, 0), "video": (5, 3)}


def seed_videos(store: VideoStore) -> int:
    store.seed(VIDEOS_BY_STATUS)
    return store.backlog_count()


def seed_queues(sqs: Any, outputs: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Sends the messages and receives some (they stay in flight for the visibility timeout).

    Only queues a fleet consumes: in batch mode the retained video queue stays empty, as
    after a switch done right (verify warns when it is not).
    """
    seeded: dict[str, dict[str, int]] = {}
    for wt, (sent, in_flight) in MESSAGES.items():
        spec = outputs["academy"]["worker_types"][wt]
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

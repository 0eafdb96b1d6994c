"""When the messages a queue holds were sent: their SentTimestamp, read by a receive that
hides nothing (VisibilityTimeout 0: each message stays visible, and nothing is deleted).

Such a receive still counts as one (ApproximateReceiveCount + 1, which a redrive policy's
maxReceiveCount counts too): it is made only where the queue holds work nobody consumes, once
per check, at most SAMPLE messages. Messages in flight or delayed cannot be seen this way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

SAMPLE = 10  # ReceiveMessage's maximum per call


def sent_times(sqs: Any, url: str) -> list[datetime]:
    """The SentTimestamp of up to SAMPLE visible messages, oldest first."""
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=SAMPLE, VisibilityTimeout=0,
                              WaitTimeSeconds=0, MessageSystemAttributeNames=["SentTimestamp"])
    times = []
    for message in got.get("Messages") or []:
        raw = str((message.get("Attributes") or {}).get("SentTimestamp", ""))
        if raw.isdigit() and len(raw) <= 15:
            times.append(datetime.fromtimestamp(int(raw) / 1000, UTC))
    return sorted(times)

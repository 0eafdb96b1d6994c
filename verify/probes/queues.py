"""A worker type's queue and dead-letter queue, as SQS reports them."""

import json
from dataclasses import dataclass
from typing import Any

from contract.stack_output import Worker
from verify.context import CheckContext

_COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


@dataclass(frozen=True)
class QueueFacts:
    visibility_timeout_s: int
    redrive: dict[str, Any] | None  # the RedrivePolicy as SQS holds it; None: none
    waiting: int  # visible + in flight
    dead: int  # visible + in flight in the DLQ


def _counted(attributes: dict) -> int:
    return sum(int(attributes.get(name, 0)) for name in _COUNTS)


def redrive_of(attributes: dict) -> dict[str, Any] | None:
    raw = attributes.get("RedrivePolicy")
    if not raw:
        return None
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def facts_from(attributes: dict, dlq_attributes: dict) -> QueueFacts:
    return QueueFacts(int(attributes.get("VisibilityTimeout", 0)), redrive_of(attributes),
                      _counted(attributes), _counted(dlq_attributes))


def read_queue(ctx: CheckContext, worker: Worker) -> QueueFacts:
    sqs = ctx.aws.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=worker.queue.url,
                                          AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=worker.dlq.url,
                                   AttributeNames=_COUNTS)["Attributes"]
    return facts_from(attributes, dlq)

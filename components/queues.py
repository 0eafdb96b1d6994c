"""A worker type's job queue and its dead-letter queue."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.settings import WorkerSettings

DLQ_RETENTION_S = 14 * 24 * 3600  # the SQS maximum: time to inspect and redrive


@dataclass(frozen=True)
class WorkerQueuesArgs:
    worker: WorkerSettings
    max_receive_count: int
    # Kept in AWS even when removed from the program, so a mode switch never drops jobs.
    retain_on_delete: bool = False


class WorkerQueues(pulumi.ComponentResource):
    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue

    def __init__(
        self, name: str, args: WorkerQueuesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("academy:queues:WorkerQueues", name, None, opts)
        worker = args.worker
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete)
        self.dlq = aws.sqs.Queue(
            f"{name}-dlq",
            aws.sqs.QueueArgs(
                name=worker.dlq_name,
                message_retention_seconds=DLQ_RETENTION_S,
                sqs_managed_sse_enabled=True,
                tags={"WorkerType": worker.label},
            ),
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            aws.sqs.QueueArgs(
                name=worker.queue_name,
                visibility_timeout_seconds=worker.visibility_timeout_seconds,
                sqs_managed_sse_enabled=True,
                redrive_policy=self.dlq.arn.apply(
                    lambda arn: json.dumps(
                        {"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receive_count}
                    )
                ),
                tags={"WorkerType": worker.label},
            ),
            opts=child,
        )
        self.register_outputs(
            {"queue_url": self.queue.url, "queue_arn": self.queue.arn, "dlq_arn": self.dlq.arn}
        )

    def describe(self, retained: bool, max_receive_count: int) -> dict[str, object]:
        """The queue's part of the stack output."""
        return {
            "queue": {
                "name": self.queue.name,
                "url": self.queue.url,
                "arn": self.queue.arn,
                "visibility_timeout_s": self.queue.visibility_timeout_seconds,
                "retained": retained,
            },
            "dlq": {
                "name": self.dlq.name,
                "url": self.dlq.url,
                "arn": self.dlq.arn,
                "max_receive_count": max_receive_count,
            },
        }

"""A worker type's job queue and its dead-letter queue."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contract.stack_output import DeadLetterQueue, Queue
from stack_settings.parse import WorkerSettings

DLQ_RETENTION_S = 14 * 24 * 3600  # the SQS maximum: time to inspect and redrive


@dataclass(frozen=True)
class WorkerQueuesArgs:
    worker: WorkerSettings  # its retain_queue: kept in AWS even when no longer declared
    max_receive_count: int


class WorkerQueues(pulumi.ComponentResource):
    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue

    def __init__(
        self, name: str, args: WorkerQueuesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("academy:queues:WorkerQueues", name, None, opts)
        self._args = args
        worker = args.worker
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=worker.retain_queue)
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

    def describe(self) -> tuple[Queue, DeadLetterQueue]:
        """The queue's and the DLQ's part of the stack output (names, URLs and ARNs are
        Outputs until the deploy resolves them)."""
        worker = self._args.worker
        queue = Queue(
            name=self.queue.name,  # type: ignore[arg-type]
            url=self.queue.url,  # type: ignore[arg-type]
            arn=self.queue.arn,  # type: ignore[arg-type]
            visibility_timeout_s=worker.visibility_timeout_seconds,
            retained=worker.retain_queue,
        )
        dlq = DeadLetterQueue(
            name=self.dlq.name,  # type: ignore[arg-type]
            url=self.dlq.url,  # type: ignore[arg-type]
            arn=self.dlq.arn,  # type: ignore[arg-type]
            max_receive_count=self._args.max_receive_count,
        )
        return queue, dlq

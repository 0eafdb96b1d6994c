"""The backlog a worker type stands for, counted where its contract says (`backlog_source`):
the DB through the internal API, or its SQS queue."""

from components.stack_output import Worker
from verify.context import CheckContext
from verify.probes.backlog_api import api_count
from verify.probes.metrics import queue_count


def reference_count(ctx: CheckContext, worker: Worker) -> tuple[int, str]:
    """(the count, "API" or "SQS")."""
    if worker.backlog_source == "api":
        return api_count(ctx), "API"
    return queue_count(ctx, worker), "SQS"

"""The backlog a worker type stands for, counted where the publisher counts it: the DB through
the internal API when the output's `backlog_api` says the publisher asks it, else its SQS queue.

`backlog_api` is the program's one rule (`Settings.uses_backlog_api`), the same value the
publisher's `use_backlog_api` is built from: the source is `api`, an API is configured, and no
path of the type drains (the DB then counts the other path's videos too)."""

from contract.stack_output import Worker
from verify.context import CheckContext
from verify.probes.backlog_api import api_count
from verify.probes.metrics import queue_count


def reference_count(ctx: CheckContext, worker: Worker) -> tuple[int, str]:
    """(the count, "API" or "SQS")."""
    if worker.backlog_api:
        return api_count(ctx), "API"
    return queue_count(ctx, worker), "SQS"

"""The checks, in report order. Each module plans `Task`s from the outputs (no network) and
each task returns CheckResults; the runner runs them in parallel."""

from collections.abc import Callable
from dataclasses import dataclass

from contract.stack_output import StackOutput
from verify.checks import (
    api,
    batch,
    leftovers,
    metric,
    nginx,
    publisher,
    queues,
    scaling,
    stuck,
    switch,
)
from verify.context import CheckContext, Task


@dataclass(frozen=True)
class CheckSpec:
    name: str
    plan: Callable[[CheckContext], list[Task]]
    applies: Callable[[StackOutput], bool]
    about: str


def _always(outputs: StackOutput) -> bool:
    return True


def _has_fleets(outputs: StackOutput) -> bool:
    return any(w.fleet is not None for w in outputs.worker_types.values())


def _db_backlog(outputs: StackOutput) -> bool:
    return any(w.backlog_source == "api" for w in outputs.worker_types.values())


def _batch_mode(outputs: StackOutput) -> bool:
    return outputs.mode == "batch" and outputs.batch is not None


CHECKS: dict[str, CheckSpec] = {
    "api": CheckSpec("api", api.tasks, _always,
                     "backlog API LOCAL (on each host) vs PUBLIC; missing/wrong key -> 403"),
    "nginx": CheckSpec("nginx", nginx.tasks, _always,
                       "deployed nginx config = the stack's render; nginx -t passes"),
    "metric": CheckSpec("metric", metric.tasks, _always,
                        "published metric = the backlog (invokes the publisher once)"),
    "scaling": CheckSpec("scaling", scaling.tasks, _has_fleets,
                         "fleets' target tracking reads the published metric per instance"),
    "publisher": CheckSpec("publisher", publisher.tasks, _always,
                           "deployed code/env/schedule of the publisher; no recent errors"),
    "queues": CheckSpec("queues", queues.tasks, _always,
                        "visibility covers the longest job; redrive; DLQs empty"),
    "leftovers": CheckSpec("leftovers", leftovers.tasks, _always, leftovers.ABOUT),
    "stuck": CheckSpec("stuck", stuck.tasks, _db_backlog, stuck.ABOUT),
    "batch": CheckSpec("batch", batch.tasks, _batch_mode,
                       "Batch CE, job queue, job definition (batch mode); --canary submits a job"),
    "switch": CheckSpec("switch", switch.tasks, lambda outputs: outputs.dispatch is not None,
                        "dispatch parameter = the mode; old path's work while draining; nothing "
                        "sent down the retired path"),
}

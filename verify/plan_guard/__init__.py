"""`verify preflight`: refuse a plan that would delete or replace something still holding work.

For each resource a plan's steps destroy (verify.plan_guard.digest), of a kind that holds work,
count that work live (verify.probes.work): a queue's messages, a Batch job queue's jobs in
flight, the job queues a compute environment serves, a group's instances protected from
scale-in. Anything else a plan destroys holds no work and passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verify.plan_guard.digest import Destroyed
from verify.probes import work

QUEUE = "aws:sqs/queue:Queue"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
COMPUTE_ENVIRONMENT = "aws:batch/computeEnvironment:ComputeEnvironment"
GROUP = "aws:autoscaling/group:Group"
WORK_HOLDING = (QUEUE, JOB_QUEUE, COMPUTE_ENVIRONMENT, GROUP)

# A client for (service, region); region None: the stack's default.
Clients = Callable[[str, str | None], Any]
_REGION = re.compile(r"^arn:aws[\w-]*:[\w-]+:([a-z0-9-]+):|^https?://sqs\.([a-z0-9-]+)\.")


@dataclass(frozen=True)
class Verdict:
    urn: str
    type: str
    physical: str  # the name AWS knows it by
    action: str  # "delete", "replace", "forget (retainOnDelete)"
    holds_work: bool | None  # None: could not be counted
    summary: str
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        return self.holds_work is not False

    def as_dict(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "physical_name": self.physical,
                "action": self.action, "holds_work": self.holds_work, "summary": self.summary,
                "counts": self.counts}


def region_of(resource: Destroyed) -> str | None:
    for text in (resource.outputs.get("arn"), resource.id, resource.outputs.get("url")):
        match = _REGION.match(str(text or ""))
        if match:
            return match.group(1) or match.group(2)
    return None


def action_of(resource: Destroyed) -> str:
    if resource.retained and not resource.replaced:
        return "forget (retainOnDelete)"
    return "replace" if resource.replaced else "delete"


def judge(resources: list[Destroyed], clients: Clients) -> list[Verdict]:
    """A verdict for every destroyed resource of a work-holding kind, in plan order."""
    verdicts = []
    for resource in resources:
        if resource.type not in WORK_HOLDING:
            continue
        try:
            verdicts.append(_JUDGES[resource.type](resource, clients))
        except Exception as exc:  # noqa: BLE001 (an uncounted resource refuses, saying why)
            verdicts.append(Verdict(
                resource.urn, resource.type, _physical(resource), action_of(resource), None,
                f"could not count its work: {type(exc).__name__}: {exc}"))
    return verdicts


def _physical(resource: Destroyed) -> str:
    outputs = resource.outputs
    return str(outputs.get("name") or work.short_name(resource.id) or resource.name)


def _client(clients: Clients, service: str, resource: Destroyed) -> Any:
    return clients(service, region_of(resource))


def _verdict(resource: Destroyed, holds: bool, summary: str, counts: dict) -> Verdict:
    action = action_of(resource)
    if holds and action.startswith("forget"):
        summary += ("; retained: AWS keeps it but the stack stops managing it, and nothing "
                    "consumes what it holds")
    return Verdict(resource.urn, resource.type, _physical(resource), action, holds, summary,
                   counts)


def _queue(resource: Destroyed, clients: Clients) -> Verdict:
    url = resource.id or str(resource.outputs.get("url") or "")
    messages = work.queue_messages(_client(clients, "sqs", resource), url)
    if messages is None:
        return _verdict(resource, False, "gone already", {})
    return _verdict(resource, messages.total > 0, messages.sentence(),
                    {"messages": messages.total, **messages.as_dict()})


def _job_queue(resource: Destroyed, clients: Clients) -> Verdict:
    jobs = work.jobs_in_flight(_client(clients, "batch", resource),
                               resource.id or str(resource.outputs.get("arn") or ""))
    if jobs is None:
        return _verdict(resource, False, "gone already", {})
    summary = jobs.sentence() + (" (AWS terminates every job of a deleted job queue)"
                                 if jobs.total else "")
    return _verdict(resource, jobs.total > 0, summary, {"jobs": jobs.total, **jobs.by_status})


def _compute_environment(resource: Destroyed, clients: Clients) -> Verdict:
    batch = _client(clients, "batch", resource)
    environment = work.compute_environment(
        batch, str(resource.outputs.get("arn") or resource.id))
    if environment is None:
        return _verdict(resource, False, "gone already", {})
    served = []
    for arn in work.queues_served_by(batch, environment):
        jobs = work.jobs_in_flight(batch, arn)
        if jobs is not None:
            served.append(jobs)
    busy = [j for j in served if j.total]
    total = sum(j.total for j in busy)
    if busy:
        summary = "serves " + "; ".join(f"{j.job_queue} with {j.sentence()}" for j in busy)
    elif served:
        summary = "serves " + ", ".join(j.job_queue for j in served) + " with no job in flight"
    else:
        summary = "serves no job queue"
    return _verdict(resource, total > 0, summary,
                    {"jobs": total, "job_queues": {j.job_queue: j.by_status for j in served}})


def _group(resource: Destroyed, clients: Clients) -> Verdict:
    name = resource.id or str(resource.outputs.get("name") or "")
    protected = work.protected_instances(_client(clients, "autoscaling", resource), name)
    if protected is None:
        return _verdict(resource, False, "gone already", {})
    summary = (f"{len(protected)} instance(s) protected from scale-in (busy workers): "
               f"{', '.join(protected)}" if protected else "no instance protected from scale-in")
    return _verdict(resource, bool(protected), summary,
                    {"protected_instances": len(protected), "instance_ids": protected})


_JUDGES: dict[str, Callable[[Destroyed, Clients], Verdict]] = {
    QUEUE: _queue, JOB_QUEUE: _job_queue, COMPUTE_ENVIRONMENT: _compute_environment,
    GROUP: _group,
}

"""`verify preflight`: refuse a plan that would delete or replace something still holding work.

For each resource a plan's steps destroy (verify.plan_guard.digest; a pending delete too), of a
kind that holds work, count that work live (verify.probes.work): a queue's messages, a Batch
job queue's jobs in flight, the job queues a compute environment serves, a group's instances
protected from scale-in; counted in the resource's own account and region (its ARN / queue
URL), as the runner's credentials see it (sts), else UNKNOWN. A step is judged by what it does
to work, not only by what it deletes: a group deleted is the consumer of the queue the stack's
outputs say it works (verify.plan_guard.consumers), and removing the last consumer of a queue
that holds messages strands them like a delete of the queue. The dispatch parameter the
stack's outputs name is refused too: the API needs it. A type preflight does not know but
spelt like one that holds work (`aws:sqs:Queue`, another case, a trailing space) is UNKNOWN.
Anything else a plan destroys holds no work and passes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contract.stack_output import StackOutput
from verify.plan_guard.consumers import Consumed, consumed_by_group, lookalike
from verify.plan_guard.digest import Destroyed
from verify.probes import work

QUEUE = "aws:sqs/queue:Queue"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
COMPUTE_ENVIRONMENT = "aws:batch/computeEnvironment:ComputeEnvironment"
GROUP = "aws:autoscaling/group:Group"
WORK_HOLDING = (QUEUE, JOB_QUEUE, COMPUTE_ENVIRONMENT, GROUP)

PARAMETER = "aws:ssm/parameter:Parameter"

# A client for (service, region); region None: the stack's default.
Clients = Callable[[str, str | None], Any]
Client = Callable[[str], Any]  # one region's


@dataclass(frozen=True)
class Verdict:
    urn: str
    type: str
    physical: str  # the name AWS knows it by
    action: str  # "delete", "replace", "forget (retainOnDelete)"
    holds_work: bool | None  # None: could not be counted
    summary: str
    counts: dict[str, Any] = field(default_factory=dict)
    consumes: list[str] = field(default_factory=list)  # a group: the queues it consumes

    @property
    def blocks(self) -> bool:
        return self.holds_work is not False

    def as_dict(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "physical_name": self.physical,
                "action": self.action, "holds_work": self.holds_work, "summary": self.summary,
                "counts": self.counts, "consumes": self.consumes}


_ARN = re.compile(r"^arn:aws[\w-]*:[\w-]+:([a-z0-9-]*):(\d*):")
_QUEUE_URL = re.compile(r"^https?://([^/\s]+)/(\d{12})/([\w-]{1,80}(?:\.fifo)?)$")
_SQS_HOST = re.compile(r"^sqs\.([a-z0-9-]+)\.|^([a-z0-9-]+)\.queue\.")
_BATCH_ARN = re.compile(r"^arn:aws[\w-]*:batch:[a-z0-9-]+:\d{12}:(job-queue|compute-environment)"
                        r"/[\w-]{1,128}$")
_BATCH_NAME = re.compile(r"^[\w-]{1,128}$")
_GROUP_NAME = re.compile(r"^[^\x00-\x1f\x7f:]{1,255}$")


@dataclass(frozen=True)
class Place:
    """Where a resource lives, from its ARN and (a queue) its URL: each part None when no
    identifier says it; `problem` when they disagree."""

    account: str | None
    region: str | None
    problem: str | None = None


def place_of(resource: Destroyed) -> Place:
    accounts: dict[str, str] = {}
    regions: dict[str, str] = {}
    for label, text in (("ARN", resource.outputs.get("arn")), ("id", resource.id),
                        ("URL", resource.outputs.get("url"))):
        if not isinstance(text, str):
            continue
        arn, url = _ARN.match(text), _QUEUE_URL.match(text)
        if arn:
            region, account = arn.groups()
        elif url:
            host = _SQS_HOST.match(url.group(1))
            region, account = (host.group(1) or host.group(2)) if host else "", url.group(2)
        else:
            continue
        if region:
            regions.setdefault(region, label)
        if account:
            accounts.setdefault(account, label)
    for what, found in (("regions", regions), ("accounts", accounts)):
        if len(found) > 1:
            said = ", ".join(f"its {label} {value}" for value, label in found.items())
            return Place(None, None, f"its identifiers name different {what} ({said})")
    return Place(next(iter(accounts), None), next(iter(regions), None))


def region_of(resource: Destroyed) -> str | None:
    return place_of(resource).region


def action_of(resource: Destroyed) -> str:
    if resource.pending:
        return ("forget pending delete (retainOnDelete)" if resource.retained
                else "delete pending delete")
    if resource.retained and not resource.replaced:
        return "forget (retainOnDelete)"
    return "replace" if resource.replaced else "delete"


class Caller:
    """The account the runner's credentials are (sts get-caller-identity), asked once."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self._answer: tuple[str | None, str] | None = None

    def account(self) -> tuple[str | None, str]:
        """(account, "") or (None, why it is not known)."""
        if self._answer is None:
            try:
                account = str(self._clients("sts", None).get_caller_identity()["Account"])
                self._answer = (account, "") if re.fullmatch(r"\d{12}", account) else (
                    None, f"sts get-caller-identity answered account {account[:40]!r}")
            except Exception as exc:  # noqa: BLE001 (not knowing whose eyes refuses)
                self._answer = (None, f"sts get-caller-identity failed: "
                                      f"{type(exc).__name__}: {exc}")
        return self._answer


def judge(resources: list[Destroyed], clients: Clients,
          outputs: Callable[[], StackOutput] | None = None) -> list[Verdict]:
    """A verdict for every destroyed resource of a work-holding kind (and the dispatch
    parameter), in plan order. A resource is counted only in its own account and region, as
    its ARN or URL says: elsewhere, an absent name proves nothing (AWS answers empty lists).
    `outputs`: the stack's outputs (which queue each group consumes, the dispatch parameter)."""
    caller = Caller(clients)
    deleted_groups = {_physical(r) for r in resources if r.type == GROUP and not r.replaced
                      and not r.retained}
    verdicts = []
    for resource in resources:
        if resource.unseen and (resource.type in WORK_HOLDING or resource.type == PARAMETER
                                or lookalike(resource.type)):
            verdicts.append(_unknown(resource, f"a pending delete (the old resource of an "
                                               f"earlier replacement) {resource.unseen} holds, "
                                               "but its id is only in the stack's state: pass "
                                               "--state FILE (`pulumi stack export --stack "
                                               "NAME --file FILE`)"))
            continue
        if resource.type == PARAMETER:
            verdict = _parameter(resource, outputs)
            if verdict is not None:
                verdicts.append(verdict)
            continue
        if resource.type not in WORK_HOLDING:
            kind = lookalike(resource.type)
            if kind:
                verdicts.append(_unknown(resource, f"a type preflight does not know, spelt like "
                                                   f"a {kind} (which may hold work): fix the "
                                                   "type, or check it by hand"))
            continue
        try:
            verdict = _checked_where_it_lives(resource, clients, caller)
            if resource.type == GROUP and verdict.holds_work is not None \
                    and _physical(resource) in deleted_groups and verdict.summary != "gone already":
                verdict = _last_consumer(resource, verdict, clients, caller, outputs,
                                         deleted_groups)
            verdicts.append(verdict)
        except Exception as exc:  # noqa: BLE001 (an uncounted resource refuses, saying why)
            verdicts.append(_unknown(resource, f"could not count its work: "
                                               f"{type(exc).__name__}: {exc}"))
    return verdicts


def _unknown(resource: Destroyed, why: str) -> Verdict:
    return Verdict(resource.urn, resource.type, _physical(resource), action_of(resource), None,
                   why)


def _checked_where_it_lives(resource: Destroyed, clients: Clients, caller: Caller) -> Verdict:
    identifier, odd = _identifier(resource)
    if odd:
        return _unknown(resource, odd)
    place = place_of(resource)
    if place.problem:
        return _unknown(resource, f"cannot tell where it lives: {place.problem}")
    if place.region is None or place.account is None:
        return _unknown(resource, "cannot tell its account and region (no ARN or queue URL in "
                                  "its old state): check it by hand")
    account, why = caller.account()
    if account is None:
        return _unknown(resource, f"cannot tell which account this runner sees ({why}): use "
                                  "the stack's credentials")
    if account != place.account:
        return _unknown(resource, f"checked as account {account}, the plan's resource is in "
                                  f"account {place.account}: use the stack's credentials")
    return _JUDGES[resource.type](resource, identifier,
                                  lambda service: clients(service, place.region))


def _identifier(resource: Destroyed) -> tuple[str, str]:
    """(what AWS is asked by, "") or ("", why the old state does not say which resource)."""
    outputs = resource.outputs
    if resource.type == QUEUE:
        candidates = [resource.id, outputs.get("url")]
        shape, expected = _QUEUE_URL, "a queue URL"
    elif resource.type == GROUP:
        candidates = [resource.id, outputs.get("name")]
        shape, expected = _GROUP_NAME, "a group name"
    else:
        arn = outputs.get("arn")
        candidates = [arn, resource.id] if resource.type == COMPUTE_ENVIRONMENT else \
            [resource.id, arn]
        shape, expected = None, "an ARN or a name"
    given = [c for c in candidates if c is not None and c != ""]
    if not given:
        return "", "its old state has no id (nor an ARN, URL or name): cannot tell which " \
                   "resource it is, so nothing proves it is gone"
    first = given[0]
    if not isinstance(first, str) or not first.strip() or first != first.strip():
        return "", f"its id {json.dumps(first)[:80]} is not {expected}: cannot tell which " \
                   "resource it is"
    matches = shape.match(first) if shape else (_BATCH_ARN.match(first)
                                               or _BATCH_NAME.match(first))
    if not matches:
        return "", f"its id {first[:80]!r} is not {expected}: cannot tell which resource it is"
    return first, ""


def _physical(resource: Destroyed) -> str:
    outputs = resource.outputs
    for value in (outputs.get("name"), resource.id):
        if isinstance(value, str) and value.strip():
            return work.short_name(value)
    return resource.name


def _verdict(resource: Destroyed, holds: bool, summary: str, counts: dict) -> Verdict:
    action = action_of(resource)
    if holds and action.startswith("forget"):
        summary += ("; retained: AWS keeps it but the stack stops managing it, and nothing "
                    "consumes what it holds")
    return Verdict(resource.urn, resource.type, _physical(resource), action, holds, summary,
                   counts)


def _queue(resource: Destroyed, url: str, client: Client) -> Verdict:
    messages = work.queue_messages(client("sqs"), url)
    if messages is None:
        return _verdict(resource, False, "gone already", {})
    return _verdict(resource, messages.total > 0, messages.sentence(),
                    {"messages": messages.total, **messages.as_dict()})


def _job_queue(resource: Destroyed, name_or_arn: str, client: Client) -> Verdict:
    jobs = work.jobs_in_flight(client("batch"), name_or_arn)
    if jobs is None:
        return _verdict(resource, False, "gone already", {})
    summary = jobs.sentence() + (" (AWS terminates every job of a deleted job queue)"
                                 if jobs.total else "")
    return _verdict(resource, jobs.total > 0, summary, {"jobs": jobs.total, **jobs.by_status})


def _compute_environment(resource: Destroyed, name_or_arn: str, client: Client) -> Verdict:
    batch = client("batch")
    environment = work.compute_environment(batch, name_or_arn)
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


def _group(resource: Destroyed, name: str, client: Client) -> Verdict:
    protected = work.protected_instances(client("autoscaling"), name)
    if protected is None:
        return _verdict(resource, False, "gone already", {})
    summary = (f"{len(protected)} instance(s) protected from scale-in (busy workers): "
               f"{', '.join(protected)}" if protected else "no instance protected from scale-in")
    return _verdict(resource, bool(protected), summary,
                    {"protected_instances": len(protected), "instance_ids": protected})


def _last_consumer(resource: Destroyed, verdict: Verdict, clients: Clients, caller: Caller,
                   outputs: Callable[[], StackOutput] | None,
                   deleted_groups: set[str]) -> Verdict:
    """A group deleted (not replaced: a replacement consumes the same queue) whose queue, as
    the stack's outputs say, no other group left consumes: refused while that queue holds
    messages, naming it and its counts, as a delete of the queue would be."""
    if outputs is None:
        return verdict
    try:
        groups = consumed_by_group(outputs())
    except Exception as exc:  # noqa: BLE001 (not knowing what it consumes refuses)
        why = f"cannot tell which queue it consumes: the stack's outputs are not readable ({exc})"
        if verdict.holds_work:  # refused already, for its busy workers
            return Verdict(verdict.urn, verdict.type, verdict.physical, verdict.action, True,
                           f"{verdict.summary}; {why}", verdict.counts)
        return _unknown(resource, f"{verdict.summary}; {why}")
    counts = dict(verdict.counts)
    sentences = []
    holds, stranding = verdict.holds_work, False
    for queue in groups.get(_physical(resource), []):
        others = [g for g, queues in groups.items() if g not in deleted_groups
                  and any(q.url == queue.url for q in queues)]
        if others:
            continue
        found = _consumed_queue(queue, clients, caller)
        counts.setdefault("consumes", {})[queue.name] = found.counts
        if found.holds_work:
            holds = stranding = True
        elif found.holds_work is None and holds is False:
            holds = None
        sentences.append(f"the last consumer of queue {queue.name} ({queue.worker_type}), which "
                         f"holds {found.summary}")
    if not sentences:
        return verdict
    summary = f"{verdict.summary}; " + "; ".join(sentences)
    if stranding:
        summary += ": deleting it strands them (nothing would consume them)"
    return Verdict(verdict.urn, verdict.type, verdict.physical, verdict.action, holds, summary,
                   counts, consumes=[q.name for q in groups.get(_physical(resource), [])])


def _consumed_queue(queue: Consumed, clients: Clients, caller: Caller) -> Verdict:
    """The queue a deleted group consumes, counted where it lives, as if it were deleted."""
    as_resource = Destroyed(f"(consumed queue {queue.name})", QUEUE, queue.url,
                            {"url": queue.url, "name": queue.name,
                             **({"arn": queue.arn} if queue.arn else {})}, ("delete",), False)
    try:
        return _checked_where_it_lives(as_resource, clients, caller)
    except Exception as exc:  # noqa: BLE001 (an uncounted queue refuses, saying why)
        return _unknown(as_resource, f"could not count its messages: {type(exc).__name__}: {exc}")


def _parameter(resource: Destroyed,
               outputs: Callable[[], StackOutput] | None) -> Verdict | None:
    """The dispatch parameter tells the API where uploads go: without it the API answers 503 to
    every upload. A delete of the one the stack's outputs name refuses; a replacement under the
    same name, or retainOnDelete (AWS keeps it), passes. Other parameters hold no work."""
    if outputs is None:
        return None
    old = next((v for v in (resource.outputs.get("name"), resource.id)
                if isinstance(v, str) and v.strip()), None)
    try:
        said = outputs().dispatch
        dispatch = said.parameter if said is not None else ""
    except Exception as exc:  # noqa: BLE001 (not knowing which parameter it is refuses)
        return _unknown(resource, f"cannot tell whether it is the dispatch parameter: the "
                                  f"stack's outputs are not readable ({exc})")
    if old is None:
        return _unknown(resource, "its old state has no name: cannot tell whether it is the "
                                  f"dispatch parameter {dispatch}")
    if old != dispatch:
        return None
    if resource.retained and not resource.replaced:
        return _verdict(resource, False, "the dispatch parameter: retained, AWS keeps it", {})
    if resource.replaced and resource.new_name == old:
        return _verdict(resource, False, "the dispatch parameter, replaced under the same "
                                         "name", {})
    instead = f" (its replacement is named {resource.new_name})" if resource.new_name else ""
    return _verdict(resource, True, f"the dispatch parameter the stack's outputs name "
                                     f"(dispatch.parameter){instead}: without it the API "
                                     "answers 503 to every upload", {})


_JUDGES: dict[str, Callable[[Destroyed, str, Client], Verdict]] = {
    QUEUE: _queue, JOB_QUEUE: _job_queue, COMPUTE_ENVIRONMENT: _compute_environment,
    GROUP: _group,
}

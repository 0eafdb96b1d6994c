"""What a step does to work besides deleting it: which queue each group consumes, and which
types, spelt otherwise, could be one that holds work.

The one source of which group works which queue is the stack output's contract
(contract/stack_output.py, docs/CONTRACTS.md): a worker type's `fleet.group_name` consumes
its `queue`, and while a fleet drains (`draining.from_mode` "asg") `draining.group_name`
consumes `draining.queue_url`, the retained queue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract.stack_output import StackOutput

# The classes (a type token's last part, `pkg:module:Class`) of the kinds that hold work.
_LOOKALIKES = {"queue": "queue", "sqsqueue": "queue", "jobqueue": "job queue",
               "computeenvironment": "compute environment",
               "autoscalinggroup": "group", "group": "group"}
KNOWN = {"aws:sqs/queue:Queue": "queue", "aws:batch/jobQueue:JobQueue": "job queue",
         "aws:batch/computeEnvironment:ComputeEnvironment": "compute environment",
         "aws:autoscaling/group:Group": "group"}


@dataclass(frozen=True)
class Consumed:
    worker_type: str
    name: str
    url: str
    arn: str | None


def consumed_by_group(outputs: StackOutput) -> dict[str, list[Consumed]]:
    """Group name -> the queues its workers take jobs from, as the stack's outputs say."""
    by_url = {w.queue.url: (wt, w.queue) for wt, w in outputs.worker_types.items()}
    found: dict[str, list[Consumed]] = {}

    def add(group: str, url: str, worker_type: str) -> None:
        known = by_url.get(url)
        queue = Consumed(worker_type, known[1].name if known else url.rsplit("/", 1)[-1], url,
                         known[1].arn if known else None)
        if queue not in found.setdefault(group, []):
            found[group].append(queue)

    for wt, worker in outputs.worker_types.items():
        if worker.fleet is not None:
            add(worker.fleet.group_name, worker.queue.url, wt)
    drain = outputs.draining
    if drain is not None and drain.group_name and drain.queue_url:
        add(drain.group_name, drain.queue_url, drain.worker_type)
    return found


def lookalike(typ: str) -> str:
    """The kind of work-holding resource an unknown type `typ` could be in another spelling
    (`aws:sqs:Queue`, `aws-native:sqs:Queue`, a case or a space off), else "". Types other
    than the four known ones whose class is not one of theirs (a policy, an alarm, a
    security group) hold no work."""
    if typ in KNOWN:
        return ""
    folded = re.sub(r"[^a-z0-9:/]", "", typ.lower())
    for known, kind in KNOWN.items():
        if folded == known.lower():
            return kind
    klass = folded.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    kind = _LOOKALIKES.get(klass, "")
    if kind == "group" and klass == "group" and "autoscaling" not in folded:
        return ""  # an IAM, log or security group holds no work
    return kind

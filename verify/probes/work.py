"""Work a resource still holds, as AWS counts it: messages in a queue, jobs in flight in a Batch
job queue (and in the job queues a compute environment serves), busy instances of a group.

Each function takes a boto3 client and returns None when the resource does not exist in the
client's account and region (AWS answers an empty list for another account's name: the caller
checks the account first); `verify preflight` and the `switch` check read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Jobs that would be lost with their queue: waiting or running (not SUCCEEDED / FAILED).
IN_FLIGHT_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
_MESSAGE_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                       "ApproximateNumberOfMessagesDelayed"]
_MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def count(value: Any) -> int:
    """An attribute's count; a string too long or not a number reads as a ValueError (int() of
    more than 4,300 digits raises it too), never as 0."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise ValueError(f"not a count: {text[:40]!r}")
    return int(text)


@dataclass(frozen=True)
class Messages:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed

    def as_dict(self) -> dict[str, int]:
        return {"visible": self.visible, "in_flight": self.in_flight, "delayed": self.delayed}

    def sentence(self) -> str:
        return (f"{self.total} message(s): {self.visible} visible, {self.in_flight} in flight, "
                f"{self.delayed} delayed")


def queue_messages(sqs: Any, url: str) -> Messages | None:
    from botocore.exceptions import ClientError

    try:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_MESSAGE_ATTRIBUTES)[
            "Attributes"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_QUEUE:
            return None
        raise
    visible, in_flight, delayed = (count(attributes.get(name, 0)) for name in _MESSAGE_ATTRIBUTES)
    return Messages(visible, in_flight, delayed)


@dataclass(frozen=True)
class Jobs:
    job_queue: str  # the name
    by_status: dict[str, int]  # every in-flight status, 0 included

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def sentence(self) -> str:
        busy = [f"{n} {status}" for status, n in self.by_status.items() if n]
        return f"{self.total} job(s)" + (f": {', '.join(busy)}" if busy else "")


def short_name(arn_or_name: str) -> str:
    """`arn:aws:batch:...:job-queue/NAME` or NAME -> NAME."""
    return arn_or_name.rsplit("/", 1)[-1]


def job_queue(batch: Any, name_or_arn: str) -> dict | None:
    found = batch.describe_job_queues(jobQueues=[name_or_arn])["jobQueues"]
    return found[0] if found else None


def jobs_in_flight(batch: Any, name_or_arn: str) -> Jobs | None:
    """Jobs per in-flight status (ListJobs filters one status at a time; every page read)."""
    queue = job_queue(batch, name_or_arn)
    if queue is None:
        return None
    arn = queue.get("jobQueueArn") or name_or_arn
    paginator = batch.get_paginator("list_jobs")
    by_status = {}
    for status in IN_FLIGHT_STATUSES:
        pages = paginator.paginate(jobQueue=arn, jobStatus=status)
        by_status[status] = sum(len(page.get("jobSummaryList", [])) for page in pages)
    return Jobs(queue.get("jobQueueName") or short_name(name_or_arn), by_status)


def compute_environment(batch: Any, name_or_arn: str) -> dict | None:
    found = batch.describe_compute_environments(
        computeEnvironments=[name_or_arn])["computeEnvironments"]
    return found[0] if found else None


def queues_served_by(batch: Any, environment: dict) -> list[str]:
    """The ARNs of the job queues whose computeEnvironmentOrder names this environment (by
    ARN or by name: both are accepted there)."""
    names = {environment.get("computeEnvironmentArn"), environment.get("computeEnvironmentName")}
    served = []
    for page in batch.get_paginator("describe_job_queues").paginate():
        for queue in page.get("jobQueues", []):
            order = queue.get("computeEnvironmentOrder", [])
            if any(o.get("computeEnvironment") in names for o in order):
                served.append(queue["jobQueueArn"])
    return served


def protected_instances(autoscaling: Any, group: str) -> list[str] | None:
    """Instances of the group protected from scale-in: busy workers (a worker protects itself
    for the length of a job)."""
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
        "AutoScalingGroups"]
    if not found:
        return None
    return sorted(i["InstanceId"] for i in found[0].get("Instances", [])
                  if i.get("ProtectedFromScaleIn"))

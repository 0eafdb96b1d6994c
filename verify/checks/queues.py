"""`queues`: visibility timeouts cover the longest job, redrive goes to the DLQ, DLQs are empty."""

import json

from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "queues"


def queue_problems(attributes: dict, worker: dict) -> list[str]:
    problems = []
    visibility = int(attributes.get("VisibilityTimeout", 0))
    if visibility < int(worker["max_job_s"]):
        problems.append(
            f"visibility timeout {visibility}s is shorter than the longest job "
            f"({worker['max_job_s']}s): a running job's message reappears and runs twice"
        )
    raw = attributes.get("RedrivePolicy")
    dlq = worker["dlq"]
    if not raw:
        problems.append(f"no redrive policy: failing messages never reach {dlq['name']}")
    else:
        redrive = json.loads(raw) if isinstance(raw, str) else raw
        if redrive.get("deadLetterTargetArn") != dlq["arn"]:
            problems.append(
                f"redrive goes to {redrive.get('deadLetterTargetArn')}, not {dlq['arn']}")
        if int(redrive.get("maxReceiveCount", -1)) != int(dlq["max_receive_count"]):
            problems.append(f"maxReceiveCount {redrive.get('maxReceiveCount')} != stack "
                            f"{dlq['max_receive_count']}")
    return problems


def _counts(attributes: dict) -> int:
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0))


def _task(ctx: CheckContext, worker_type: str, worker: dict) -> Task:
    queue = worker["queue"]
    target = queue["name"]
    parked = ctx.mode == "batch" and worker_type == "video"

    def run() -> CheckResult:
        sqs = ctx.aws.client("sqs")
        attributes = sqs.get_queue_attributes(QueueUrl=queue["url"],
                                              AttributeNames=["All"])["Attributes"]
        dlq = sqs.get_queue_attributes(
            QueueUrl=worker["dlq"]["url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        problems = queue_problems(attributes, worker)
        if problems:
            return failed(CHECK_ID, target, "; ".join(problems),
                          "`pulumi up` restores the stack's queue settings (visibility from "
                          f"max_job_s={worker['max_job_s']})")
        visibility = int(attributes.get("VisibilityTimeout", 0))
        evidence = (f"visibility {visibility}s >= longest job {worker['max_job_s']}s; redrive -> "
                    f"{worker['dlq']['name']} after {worker['dlq']['max_receive_count']}")
        dead = _counts(dlq)
        if dead:
            return warned(
                CHECK_ID, target, f"{worker['dlq']['name']} holds {dead} message(s); {evidence}",
                f"these jobs failed {worker['dlq']['max_receive_count']} times: inspect them, then "
                f"move them back (aws sqs start-message-move-task --source-arn "
                f"{worker['dlq']['arn']}) or purge",
            )
        waiting = _counts(attributes)
        if parked and waiting:
            return warned(
                CHECK_ID, target,
                f"video runs on Batch but the retained queue still holds {waiting} message(s)",
                "nothing consumes this queue in batch mode: drain or purge it "
                f"(aws sqs purge-queue --queue-url {queue['url']}) once they are resubmitted",
            )
        return passed(CHECK_ID, target, evidence)

    return Task(CHECK_ID, target, run)


def tasks(ctx: CheckContext) -> list[Task]:
    planned = []
    for wt, worker in ctx.outputs["worker_types"].items():
        if ctx.mode == "batch" and wt == "video" and not worker["queue"].get("retained"):
            continue  # the video queue does not exist in batch mode unless retained
        if not worker["queue"].get("url"):
            continue
        planned.append(_task(ctx, wt, worker))
    return planned

"""`queues`: visibility timeouts are the stack's and cover the longest job, redrive goes to the
DLQ, DLQs are empty; a retained queue nothing consumes in this mode is empty."""

from contract.stack_output import Worker
from verify.context import CheckContext, Task
from verify.probes.queues import QueueFacts, read_queue
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "queues"


def expected_settings(worker: Worker) -> dict:
    return {"visibility_timeout_s": worker.queue.visibility_timeout_s,
            "redrive": {"deadLetterTargetArn": worker.dlq.arn,
                        "maxReceiveCount": worker.dlq.max_receive_count}}


def found_settings(facts: QueueFacts) -> dict:
    return {"visibility_timeout_s": facts.visibility_timeout_s, "redrive": facts.redrive}


def queue_problems(facts: QueueFacts, worker: Worker) -> list[str]:
    problems = []
    visibility, declared = facts.visibility_timeout_s, worker.queue.visibility_timeout_s
    if visibility != declared:
        problems.append(f"visibility timeout {visibility}s != stack {declared}s")
    if visibility < worker.max_job_s:
        problems.append(
            f"visibility timeout {visibility}s is shorter than the longest job "
            f"({worker.max_job_s}s): a running job's message reappears and runs twice"
        )
    dlq = worker.dlq
    if facts.redrive is None:
        problems.append(f"no redrive policy: failing messages never reach {dlq.name}")
    else:
        target = facts.redrive.get("deadLetterTargetArn")
        if target != dlq.arn:
            problems.append(f"redrive goes to {target}, not {dlq.arn}")
        count = facts.redrive.get("maxReceiveCount")
        if str(count) != str(dlq.max_receive_count):
            problems.append(f"maxReceiveCount {count} != stack {dlq.max_receive_count}")
    return problems


def judge_queue(worker: Worker, facts: QueueFacts) -> CheckResult:
    target = worker.queue.name
    expected, found = expected_settings(worker), found_settings(facts)
    problems = queue_problems(facts, worker)
    if problems:
        return failed(CHECK_ID, target, "; ".join(problems),
                      "`pulumi up` restores the stack's queue settings (visibility from "
                      f"max_job_s={worker.max_job_s})", expected=expected, found=found)
    dlq = worker.dlq
    evidence = (f"visibility {facts.visibility_timeout_s}s >= longest job {worker.max_job_s}s; "
                f"redrive -> {dlq.name} after {dlq.max_receive_count}")
    if facts.dead:
        return warned(
            CHECK_ID, target, f"{dlq.name} holds {facts.dead} message(s); {evidence}",
            f"these jobs failed {dlq.max_receive_count} times: inspect them, then move them "
            f"back (aws sqs start-message-move-task --source-arn {dlq.arn}) or purge",
            expected={**expected, "dlq_messages": 0}, found={**found, "dlq_messages": facts.dead},
        )
    if worker.runs_on != "fleet" and facts.waiting:
        return warned(
            CHECK_ID, target,
            f"{worker.label} runs on {worker.runs_on} but the retained queue still holds "
            f"{facts.waiting} message(s)",
            "nothing consumes this queue in this mode: drain or purge it "
            f"(aws sqs purge-queue --queue-url {worker.queue.url}) once they are resubmitted",
            expected={**expected, "messages": 0}, found={**found, "messages": facts.waiting},
        )
    return passed(CHECK_ID, target, evidence, expected=expected, found=found)


def tasks(ctx: CheckContext) -> list[Task]:
    planned = []
    for worker in ctx.outputs.worker_types.values():
        if worker.runs_on != "fleet" and not worker.queue.retained:
            continue  # no queue when the type runs elsewhere and its queue is not retained
        if not worker.queue.url:
            continue
        planned.append(Task(CHECK_ID, worker.queue.name,
                            lambda w=worker: judge_queue(w, read_queue(ctx, w))))
    return planned

"""The `switch` check against moto: the dispatch parameter matches the mode, the old path's
remaining work while draining, and work arriving on the retired path FAILs."""

from __future__ import annotations

import pytest
import requests

from contract.dispatch import DispatchValue
from sandbox.services import moto_server
from tests.verify.batch_jobs import hold_jobs
from tests.verify.conftest import seed_stack
from tests.verify.seeded_changes import (
    GROUP,
    JOB_DEFINITION,
    JOB_QUEUE,
    PARAMETER,
    as_asg_mode,
    as_batch_mode,
    asg_value,
    batch_value,
    make_batch,
    put_dispatch,
    video_url,
)
from verify.context import RunOptions
from verify.report import Status
from verify.suite import run_checks


def run(stack) -> dict:
    report = run_checks(stack.typed(), ["switch"], RunOptions(invoke=False, timeout_s=30.0),
                        env=stack.env)
    return {result.target: result for result in report.checks}


@pytest.fixture
def batch_stack(stack):
    make_batch(stack)
    return stack


@pytest.fixture
def emulated_stack(emulator: moto_server.MotoServer):
    """The seeded stack and its Batch in the sandbox's emulator, which holds jobs in flight."""
    server = emulator
    requests.post(f"{server.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    moto_server.configure(server.endpoint_url)
    stack = seed_stack({**server.env(), "AWS_REGION": "ap-northeast-2", "AWS_PROFILE": ""})
    make_batch(stack)
    return stack


# -- the parameter matches the mode -----------------------------------------------------------

def test_a_stack_without_dispatch_has_no_switch_rows(stack):
    assert run(stack) == {}


def test_the_parameter_matching_the_mode_passes(batch_stack):
    as_batch_mode(batch_stack, draining=False)
    put_dispatch(batch_stack, batch_value())
    result = run(batch_stack)[PARAMETER]
    assert result.status is Status.PASS, result
    assert f"job queue {JOB_QUEUE}" in result.summary
    assert result.expected == result.found and result.found["mode"] == "batch"


def test_a_parameter_still_on_the_old_mode_fails_naming_both(batch_stack):
    as_batch_mode(batch_stack, draining=False)
    put_dispatch(batch_stack, asg_value(batch_stack))
    result = run(batch_stack)[PARAMETER]
    assert result.status is Status.FAIL
    assert f"to asg: queue {video_url(batch_stack)}" in result.summary
    assert f"the stack (batch mode) says batch: job queue {JOB_QUEUE}" in result.summary
    assert result.expected["mode"] == "batch" and result.found["mode"] == "asg"


def test_a_parameter_naming_another_job_queue_fails(batch_stack):
    as_batch_mode(batch_stack, draining=False)
    put_dispatch(batch_stack, DispatchValue(mode="batch", worker_type="video",
                                            job_queue="academy-video-batch-queue-old",
                                            job_definition=JOB_DEFINITION))
    result = run(batch_stack)[PARAMETER]
    assert result.status is Status.FAIL and "academy-video-batch-queue-old" in result.summary


@pytest.mark.parametrize("value, said", [
    (None, "does not exist"),
    ('{"mode": "batch"}', "is not a dispatch value: schema_version"),
    # a JSON true is no version 1, though True == 1 in Python
    ('{"job_definition":"academy-video-batch-jobdef","job_queue":"academy-video-batch-queue",'
     '"mode":"batch","queue_url":null,"schema_version":true,"worker_type":"video"}',
     "is not a dispatch value: schema_version is True"),
])
def test_a_missing_or_malformed_parameter_fails(batch_stack, value, said):
    as_batch_mode(batch_stack, draining=False)
    if value is not None:
        batch_stack.client("ssm").put_parameter(Name=PARAMETER, Value=value, Type="String")
    result = run(batch_stack)[PARAMETER]
    assert result.status is Status.FAIL and said in result.summary
    assert "pulumi up" in result.hint


# -- draining: the old path's remaining work --------------------------------------------------

def test_draining_from_the_fleet_shows_messages_and_busy_workers(batch_stack):
    as_batch_mode(batch_stack, draining=True)
    put_dispatch(batch_stack, batch_value())
    sqs, url = batch_stack.client("sqs"), video_url(batch_stack)
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="{}")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    sqs.send_message(QueueUrl=url, MessageBody="{}", DelaySeconds=900)
    autoscaling = batch_stack.client("autoscaling")
    autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    (instance,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"][0]["Instances"]
    autoscaling.set_instance_protection(AutoScalingGroupName=GROUP, ProtectedFromScaleIn=True,
                                        InstanceIds=[instance["InstanceId"]])
    results = run(batch_stack)
    assert results[PARAMETER].status is Status.PASS
    result = results["video old path (asg)"]
    assert result.status is Status.WARN, result
    assert "3 message(s): 1 visible, 1 in flight, 1 delayed" in result.summary
    assert "1 busy worker(s)" in result.summary
    assert "videoDrain=false once this is 0 (verify preflight refuses it before)" in result.hint
    assert result.found["remaining"] == 4 and result.expected == {"remaining": 0}


def test_a_drained_fleet_passes_and_says_to_retire_it(batch_stack):
    as_batch_mode(batch_stack, draining=True)
    put_dispatch(batch_stack, batch_value())
    result = run(batch_stack)["video old path (asg)"]
    assert result.status is Status.PASS, result
    assert "drained" in result.summary and "videoDrain=false" in result.summary


def test_draining_from_batch_shows_jobs_by_status(emulated_stack):
    as_asg_mode(emulated_stack, draining=True)
    put_dispatch(emulated_stack, asg_value(emulated_stack))
    hold_jobs(emulated_stack.env, JOB_QUEUE, ["RUNNABLE", "RUNNING", "RUNNING"])
    result = run(emulated_stack)["video old path (batch)"]
    assert result.status is Status.WARN, result
    assert f"job queue {JOB_QUEUE}: 3 job(s): 1 RUNNABLE, 2 RUNNING" in result.summary
    assert result.found["jobs"]["RUNNING"] == 2


# -- retired: nothing arrives on the old path -------------------------------------------------

def test_messages_arriving_in_the_retained_queue_in_batch_mode_fail(batch_stack):
    as_batch_mode(batch_stack, draining=False)
    put_dispatch(batch_stack, batch_value())
    target = "video retired path (asg)"
    assert run(batch_stack)[target].status is Status.PASS
    batch_stack.client("sqs").send_message(QueueUrl=video_url(batch_stack), MessageBody="{}")
    result = run(batch_stack)[target]
    assert result.status is Status.FAIL, result
    assert "something still sends work down the retired path" in result.summary
    assert "academy-video-jobs holds 1 message(s)" in result.summary
    assert PARAMETER in result.hint and result.found["messages"] == 1


def test_work_sent_before_the_dispatch_moved_is_old_work_not_a_new_send(batch_stack):
    """A message sent before the dispatch parameter moved to Batch (the old fleet's, say at
    adoption) is stranded old work: drained with videoDrain, never purged; one sent after it
    moved is a new send down the retired path. Told apart by SentTimestamp against the
    parameter's history (issue 15, item 9)."""
    import time

    as_batch_mode(batch_stack, draining=False)
    sqs, url = batch_stack.client("sqs"), video_url(batch_stack)
    sqs.send_message(QueueUrl=url, MessageBody='{"video_id": 1}')
    time.sleep(1.1)
    put_dispatch(batch_stack, batch_value())
    target = "video retired path (asg)"
    result = run(batch_stack)[target]
    assert result.status is Status.FAIL, result
    assert result.found["sent_before_switch"] == 1 and result.found["sent_after_switch"] == 0
    assert "something still sends" not in result.summary
    assert "sent before" in result.summary
    assert "videoDrain true" in result.hint and "purge-queue" not in result.hint

    time.sleep(1.1)
    sqs.send_message(QueueUrl=url, MessageBody='{"video_id": 2}')
    result = run(batch_stack)[target]
    assert result.status is Status.FAIL, result
    assert result.found["sent_before_switch"] == 1 and result.found["sent_after_switch"] == 1
    assert "something still sends work down the retired path" in result.summary
    assert result.found["messages"] == 2, "looking did not take or hide a message"


def test_jobs_in_the_retired_job_queue_in_asg_mode_fail(emulated_stack):
    """The parameter's history names the job queue the switch to the fleet retired."""
    put_dispatch(emulated_stack, batch_value())
    put_dispatch(emulated_stack, asg_value(emulated_stack))  # the switch
    as_asg_mode(emulated_stack, draining=False)
    target = "video retired path (batch)"
    assert run(emulated_stack)[target].status is Status.PASS
    hold_jobs(emulated_stack.env, JOB_QUEUE, ["RUNNABLE"])
    result = run(emulated_stack)[target]
    assert result.status is Status.FAIL, result
    assert f"job queue {JOB_QUEUE}, retired when video moved to the fleet" in result.summary
    assert "1 job(s): 1 RUNNABLE" in result.summary


def test_a_retired_job_queue_that_is_gone_passes(stack):
    put_dispatch(stack, batch_value())
    put_dispatch(stack, asg_value(stack))
    as_asg_mode(stack, draining=False)
    result = run(stack)["video retired path (batch)"]
    assert result.status is Status.PASS and "is gone" in result.summary


def test_switch_runs_in_verify_all(batch_stack):
    as_batch_mode(batch_stack, draining=False)
    put_dispatch(batch_stack, batch_value())
    from verify.suite import select_checks

    assert "switch" in select_checks(batch_stack.typed(), "all")

"""Video on AWS Batch as the real program declares it from Pulumi.prod.yaml."""

from __future__ import annotations

import fnmatch
import json

from stack_settings.stack_files import REHEARSAL_VALUES

CE = "aws:batch/computeEnvironment:ComputeEnvironment"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
JOB_DEF = "aws:batch/jobDefinition:JobDefinition"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _retry_action(evaluate_on_exit: list[dict], status_reason: str, reason: str) -> str:
    """What Batch does with a failed attempt: the first matching condition wins."""
    for cond in evaluate_on_exit:
        if fnmatch.fnmatchcase(status_reason, cond.get("onStatusReason", "*")) and (
            fnmatch.fnmatchcase(reason, cond.get("onReason", "*"))
        ):
            return cond["action"].upper()
    return "RETRY"  # Batch retries when no condition matches


def test_compute_environment_is_managed_arm64_on_demand_scaling_to_zero(prod) -> None:
    (ce,) = prod.of_type(CE)
    assert ce.inputs["name"] == "academy-video-batch-ce-v3"
    assert ce.inputs["type"] == "MANAGED"
    res = ce.inputs["computeResources"]
    assert res["type"] == "EC2"
    assert res["allocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    assert res["instanceTypes"] == ["c7g.xlarge", "c6g.xlarge"]
    assert res["minVcpus"] == 0
    assert res["maxVcpus"] == 64
    assert res["subnets"] == ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722"]
    assert res["securityGroupIds"] == ["sg-0a1b2c3d4e5f60733"]
    assert res["ec2Configurations"] == [{"imageType": "ECS_AL2023"}]
    assert "spotIamFleetRole" not in res
    profile = prod.one("aws:iam/instanceProfile:InstanceProfile", "video-batch-instance-profile")
    assert res["instanceRole"] == profile.outputs["arn"]
    service = prod.one("aws:iam/role:Role", "video-batch-service-role")
    assert ce.inputs["serviceRole"] == service.outputs["arn"]


def test_spot_uses_capacity_optimized_without_a_fleet_role(evaluate_stack) -> None:
    run = evaluate_stack("prod", {"videoBatchSpot": True})
    (ce,) = run.of_type(CE)
    res = ce.inputs["computeResources"]
    assert (res["type"], res["allocationStrategy"]) == ("SPOT", "SPOT_CAPACITY_OPTIMIZED")
    assert "spotIamFleetRole" not in res


def test_job_queue_is_enabled_and_cancels_jobs_stuck_runnable(prod) -> None:
    (queue,) = prod.of_type(JOB_QUEUE)
    (ce,) = prod.of_type(CE)
    assert queue.inputs["name"] == "academy-video-batch-queue"
    assert queue.inputs["state"] == "ENABLED"
    assert queue.inputs["priority"] == 1
    assert queue.inputs["computeEnvironmentOrders"] == [
        {"computeEnvironment": ce.outputs["arn"], "order": 1}
    ]
    actions = queue.inputs["jobStateTimeLimitActions"]
    assert {a["reason"] for a in actions} == {
        "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
        "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    }
    for a in actions:
        assert (a["action"], a["state"], a["maxTimeSeconds"]) == ("CANCEL", "RUNNABLE", 3600)


def test_runnable_timeout_follows_its_setting(evaluate_stack) -> None:
    run = evaluate_stack("prod", {"videoBatchRunnableTimeoutSeconds": 900})
    (queue,) = run.of_type(JOB_QUEUE)
    assert {a["maxTimeSeconds"] for a in queue.inputs["jobStateTimeLimitActions"]} == {900}
    assert run.academy["batch"]["runnable_timeout_s"] == 900


def test_job_definition_image_resources_timeout_and_logs(prod) -> None:
    (jobdef,) = prod.of_type(JOB_DEF)
    assert jobdef.inputs["name"] == "academy-video-batch-jobdef"
    assert jobdef.inputs["type"] == "container"
    assert jobdef.inputs["platformCapabilities"] == ["EC2"]
    assert jobdef.inputs["timeout"] == {"attemptDurationSeconds": 14400}
    props = json.loads(jobdef.inputs["containerProperties"])
    assert props["image"] == REHEARSAL_VALUES["videoBatchImage"]  # the stack carries none
    assert {r["type"]: r["value"] for r in props["resourceRequirements"]} == {
        "VCPU": "2", "MEMORY": "4096"
    }
    logs = props["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    log_group = prod.one(LOG_GROUP, "video-batch-logs")
    assert logs["options"]["awslogs-group"] == log_group.inputs["name"]
    assert log_group.inputs["name"] == "/aws/batch/academy-video-worker"
    assert log_group.inputs["retentionInDays"] == 30


def test_retry_only_on_host_or_spot_termination_never_on_an_application_error(prod) -> None:
    (jobdef,) = prod.of_type(JOB_DEF)
    strategy = jobdef.inputs["retryStrategy"]
    assert strategy["attempts"] == 2
    conditions = strategy["evaluateOnExits"]
    # Status reasons Batch reports (a Spot reclaim ends the host the same way).
    host_gone = "Host EC2 (instance i-0abc123def4567890) terminated."
    assert _retry_action(conditions, host_gone, "") == "RETRY"
    for status_reason, reason in (
        ("Essential container in task exited", "Error"),
        ("Job attempt duration exceeded timeout", ""),
        ("Essential container in task exited", "OutOfMemoryError: Container killed"),
        ("", ""),
    ):
        assert _retry_action(conditions, status_reason, reason) == "EXIT", status_reason


def test_retry_attempts_follow_their_setting(evaluate_stack) -> None:
    run = evaluate_stack("prod", {"videoBatchRetryAttempts": 1})
    (jobdef,) = run.of_type(JOB_DEF)
    assert jobdef.inputs["retryStrategy"]["attempts"] == 1
    assert run.academy["batch"]["retry_attempts"] == 1

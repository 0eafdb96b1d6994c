"""Changes made by hand to the seeded stack (conftest.seed_stack), shared by the tests of
several checks: a second fleet policy (test_fleet_drift), the Batch path and the dispatch
parameter in each mode (test_switch), and both as leftovers (test_leftovers)."""

from __future__ import annotations

from contract.dispatch import DispatchValue

VIDEO_GROUP = "academy-video-worker-asg"
LEGACY_POLICY = "video-backlogcount-tt"  # the seeds' own policy (seeds 002, section 2.1)
PARAMETER = "/academy/workers/video/dispatch"
JOB_QUEUE = "academy-video-batch-queue"
JOB_DEFINITION = "academy-video-batch-jobdef"
CE = "academy-video-batch-ce-v3"
GROUP = VIDEO_GROUP


def put_legacy_policy(stack, group: str = VIDEO_GROUP) -> None:
    """The seeds' video-backlogcount-tt: total VideoQueueDepthTotal, TargetValue 1."""
    stack.client("autoscaling").put_scaling_policy(
        AutoScalingGroupName=group, PolicyName=LEGACY_POLICY,
        PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
            "CustomizedMetricSpecification": {
                "Namespace": "Academy/VideoProcessing", "MetricName": "VideoQueueDepthTotal",
                "Dimensions": [{"Name": "WorkerType", "Value": "Video"},
                               {"Name": "AutoScalingGroupName", "Value": group}],
                "Statistic": "Average"},
            "TargetValue": 1.0})


def make_batch(stack, retry_attempts: int | None = None, timeout_s: int | None = None) -> None:
    """A compute environment, job queue and job definition under the stack's names (the job
    definition with a retry strategy and an attempt timeout when given)."""
    ec2, iam, batch = stack.client("ec2"), stack.client("iam"), stack.client("batch")
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="batch-instance")[
        "InstanceProfile"]["Arn"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="b", VpcId=vpc)["GroupId"]
    batch.create_compute_environment(
        computeEnvironmentName=CE, type="MANAGED", state="ENABLED", serviceRole=role,
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 16,
                          "instanceTypes": ["c6g.xlarge"], "subnets": [subnet],
                          "securityGroupIds": [group], "instanceRole": profile})
    batch.create_job_queue(jobQueueName=JOB_QUEUE, state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": CE}])
    batch.register_job_definition(
        jobDefinitionName=JOB_DEFINITION, type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 256, "command": ["true"]},
        **({"retryStrategy": {"attempts": retry_attempts}} if retry_attempts else {}),
        **({"timeout": {"attemptDurationSeconds": timeout_s}} if timeout_s else {}))


def put_dispatch(stack, value: DispatchValue) -> None:
    stack.client("ssm").put_parameter(Name=PARAMETER, Value=value.to_json(), Type="String",
                                      Overwrite=True)


def batch_value() -> DispatchValue:
    return DispatchValue(mode="batch", worker_type="video", job_queue=JOB_QUEUE,
                         job_definition=JOB_DEFINITION)


def asg_value(stack) -> DispatchValue:
    return DispatchValue(mode="asg", worker_type="video", queue_url=video_url(stack))


def video_url(stack) -> str:
    return stack.outputs["worker_types"]["video"]["queue"]["url"]


def as_batch_mode(stack, draining: bool) -> None:
    """The outputs of `videoMode: batch` (and videoDrain while `draining`)."""
    stack.outputs["mode"] = "batch"
    stack.outputs["worker_types"]["video"].update(published=draining, runs_on="batch",
                                                  **({} if draining else {"fleet": None}))
    stack.outputs["dispatch"] = {"parameter": PARAMETER, "worker_type": "video", "mode": "batch",
                                 "queue_url": None, "job_queue": JOB_QUEUE,
                                 "job_definition": JOB_DEFINITION}
    stack.outputs["draining"] = {
        "from_mode": "asg", "worker_type": "video", "queue_url": video_url(stack),
        "group_name": GROUP, "job_queue": None, "compute_environment": None,
    } if draining else None


def as_asg_mode(stack, draining: bool) -> None:
    stack.outputs["dispatch"] = {"parameter": PARAMETER, "worker_type": "video", "mode": "asg",
                                 "queue_url": video_url(stack), "job_queue": None,
                                 "job_definition": None}
    stack.outputs["draining"] = {
        "from_mode": "batch", "worker_type": "video", "queue_url": None, "group_name": None,
        "job_queue": JOB_QUEUE, "compute_environment": CE} if draining else None

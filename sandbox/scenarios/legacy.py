"""The account the PowerShell scripts left behind, made in the sandbox's moto (`up --legacy`).

A table of what the old scripts created (docs/INCIDENTS.md): the queues (video's visibility
3 h), the three groups with their old policies (`video-backlogcount-tt` on
VideoQueueDepthTotal at TargetValue 1; `QueueDepthTargetTracking` on Academy/Workers
QueueDepth), the publisher under its old role `academy-lambda` (which could set capacity and
write SSM) with the old mode flags in its environment, its schedule, the zero-since and env
parameters and, for video on Batch, the compute environment, job queue, job definition and
log group, and the alarm that woke video on the old QueueDepth metric. Nothing here decides
anything: `verify adopt` finds it as it would in AWS.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stack_settings.parse import Settings

Client = Callable[[str], Any]

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
EC2_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
BATCH_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
OLD_HANDLER = (
    "import json\n"
    "def lambda_handler(event, context):\n"
    "    return {'ai_queue_depth': 0, 'video_queue_depth': 0, 'messaging_queue_depth': 0}\n"
)


@dataclass(frozen=True)
class LegacyNames:
    """The old scripts' names: the production ones, derived from the stack's settings (the
    prefix, the worker types and their labels, the Batch type and compute environment)."""

    prefix: str
    worker_types: tuple[str, ...]
    labels: tuple[str, ...]
    batch_type: str  # the type that ran on an ASG with the 3 h queue, then moved to Batch
    batch_ce: str

    @classmethod
    def from_settings(cls, settings: Settings) -> LegacyNames:
        batch_type = next(wt for wt, w in settings.workers.items() if w.runs_on_batch)
        ce = settings.batch.compute_environment_name if settings.batch else f"{batch_type}-ce"
        return cls(settings.name_prefix, settings.worker_types,
                   tuple(w.label for w in settings.workers.values()), batch_type, ce)

    def queue(self, wt: str) -> str:
        return f"{self.prefix}-{wt}-jobs"

    def group(self, wt: str) -> str:
        return f"{self.prefix}-{wt}-worker-asg"

    @property
    def function(self) -> str:
        return f"{self.prefix}-worker-queue-depth-metric"

    @property
    def old_role(self) -> str:
        return f"{self.prefix}-lambda"

    @property
    def wake_alarm(self) -> str:
        return f"{self.prefix}-{self.batch_type}-queue-wake"

    @property
    def schedule(self) -> str:
        return f"{self.function}-every-minute"


def create(client: Client, names: LegacyNames, subnet: str, security_group: str,
           image_id: str, mode: str) -> list[str]:
    """Creates the old account's resources; returns what was made, one line each."""
    made: list[str] = []
    sqs, iam, asg = client("sqs"), client("iam"), client("autoscaling")
    labels = dict(zip(names.worker_types, names.labels, strict=True))
    for wt in names.worker_types:
        dlq = sqs.create_queue(QueueName=f"{names.queue(wt)}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        visibility = "10800" if wt == names.batch_type else "300"
        sqs.create_queue(QueueName=names.queue(wt), Attributes={
            "VisibilityTimeout": visibility,
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        })
        made.append(f"sqs {names.queue(wt)} (visibility {visibility}) + dlq")

    ec2 = client("ec2")
    iam.create_role(RoleName=f"{names.prefix}-ec2-worker",
                    AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    iam.create_instance_profile(InstanceProfileName=f"{names.prefix}-ec2-worker")
    iam.add_role_to_instance_profile(InstanceProfileName=f"{names.prefix}-ec2-worker",
                                     RoleName=f"{names.prefix}-ec2-worker")
    for wt in names.worker_types:
        template = f"{names.prefix}-{wt}-worker-lt"
        ec2.create_launch_template(LaunchTemplateName=template, LaunchTemplateData={
            "ImageId": image_id, "InstanceType": "c6g.large"})
        min_size = 1 if wt == names.batch_type else 0
        max_size = 20 if wt == names.batch_type else 5
        asg.create_auto_scaling_group(
            AutoScalingGroupName=names.group(wt), MinSize=min_size, MaxSize=max_size,
            DesiredCapacity=min_size, VPCZoneIdentifier=subnet,
            LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"})
        if wt == names.batch_type:
            metric = {"MetricName": "VideoQueueDepthTotal", "Namespace": "Academy/VideoProcessing",
                      "Dimensions": [{"Name": "WorkerType", "Value": labels[wt]},
                                     {"Name": "AutoScalingGroupName", "Value": names.group(wt)}],
                      "Statistic": "Average"}
            policy, target = "video-backlogcount-tt", 1.0
        else:
            metric = {"MetricName": "QueueDepth", "Namespace": "Academy/Workers",
                      "Dimensions": [{"Name": "WorkerType", "Value": labels[wt]}],
                      "Statistic": "Average"}
            policy, target = "QueueDepthTargetTracking", 20.0
        asg.put_scaling_policy(
            AutoScalingGroupName=names.group(wt), PolicyName=policy,
            PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={"CustomizedMetricSpecification": metric,
                                         "TargetValue": target})
        made.append(f"asg {names.group(wt)} ({min_size}..{max_size}) with {policy}")

    role = iam.create_role(RoleName=names.old_role,
                           AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]
    iam.put_role_policy(RoleName=names.old_role, PolicyName="LambdaPutMetricData",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                            "Effect": "Allow", "Action": "cloudwatch:PutMetricData",
                            "Resource": "*"}]}))
    iam.put_role_policy(RoleName=names.old_role, PolicyName="ScaleVideoAndRememberZero",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                            "Effect": "Allow",
                            "Action": ["autoscaling:SetDesiredCapacity", "ssm:PutParameter",
                                       "ssm:GetParameter", "sqs:GetQueueAttributes"],
                            "Resource": "*"}]}))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lambda_function.py", OLD_HANDLER)
    lam = client("lambda")
    function = lam.create_function(
        FunctionName=names.function, Runtime="python3.11", Role=role["Arn"],
        Handler="lambda_function.lambda_handler", Code={"ZipFile": archive.getvalue()},
        Timeout=60, Environment={"Variables": {
            "ENABLE_VIDEO_METRICS": "false", "ENABLE_VIDEO_WAKE": "false",
            "METRIC_NAME": "QueueDepth", "VIDEO_QUEUE_NAME": names.queue(names.batch_type)}})
    events = client("events")
    events.put_rule(Name=names.schedule, ScheduleExpression="rate(1 minute)", State="ENABLED")
    events.put_targets(Rule=names.schedule,
                       Targets=[{"Id": "queue-depth", "Arn": function["FunctionArn"]}])
    made.append(f"lambda {names.function} (role {names.old_role}, schedule {names.schedule})")
    # The old publisher's metric for the video queue, and the alarm that woke video on it.
    client("cloudwatch").put_metric_alarm(
        AlarmName=names.wake_alarm, Namespace="Academy/Workers", MetricName="QueueDepth",
        Dimensions=[{"Name": "WorkerType", "Value": labels[names.batch_type]}],
        Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    made.append(f"alarm {names.wake_alarm} on Academy/Workers QueueDepth")

    ssm = client("ssm")
    ssm.put_parameter(Name=f"/{names.prefix}/workers/video/zero_since_epoch", Type="String",
                      Value="0")
    ssm.put_parameter(Name=f"/{names.prefix}/workers/env", Type="SecureString",
                      Value="ENABLE_VIDEO_METRICS=false\nENABLE_VIDEO_WAKE=false\n"
                            "DJANGO_SETTINGS_MODULE=academy.settings.worker\n")
    made.append("ssm zero_since_epoch, env")

    if mode == "batch":
        made += _batch(client, names, subnet, security_group)
    return made


def _batch(client: Client, names: LegacyNames, subnet: str, security_group: str) -> list[str]:
    iam, batch = client("iam"), client("batch")
    service = iam.create_role(RoleName=f"{names.prefix}-batch-service",
                              AssumeRolePolicyDocument=json.dumps(BATCH_TRUST))["Role"]
    profile = iam.create_instance_profile(
        InstanceProfileName=f"{names.prefix}-batch-instance")["InstanceProfile"]
    ce = batch.create_compute_environment(
        computeEnvironmentName=names.batch_ce, type="MANAGED", state="ENABLED",
        serviceRole=service["Arn"],
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 32,
                          "instanceTypes": ["c7g.xlarge"], "subnets": [subnet],
                          "securityGroupIds": [security_group],
                          "instanceRole": profile["Arn"]})
    queue = f"{names.prefix}-{names.batch_type}-batch-queue"
    batch.create_job_queue(jobQueueName=queue, state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment":
                                                     ce["computeEnvironmentArn"]}])
    jobdef = f"{names.prefix}-{names.batch_type}-batch-jobdef"
    log_group = f"/aws/batch/{names.prefix}-{names.batch_type}-worker"
    batch.register_job_definition(
        jobDefinitionName=jobdef, type="container",
        containerProperties={"image": "public.ecr.aws/docker/library/alpine:3.19",
                             "vcpus": 2, "memory": 4096},
        retryStrategy={"attempts": 1}, timeout={"attemptDurationSeconds": 14400})
    client("logs").create_log_group(logGroupName=log_group)
    return [f"batch {names.batch_ce}, {queue}, {jobdef}, {log_group}"]

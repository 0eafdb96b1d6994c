"""stack_settings/aws_limits.py against the authority: botocore's API models, as installed."""

from __future__ import annotations

import re

import botocore.session
import pytest

from stack_settings.aws_limits import (
    ASG_INSTANCE_TYPES_MAX,
    ASG_VPC_ZONE_IDENTIFIER_MAX_CHARS,
    BATCH_ATTEMPT_TIMEOUT_MIN_S,
    INSTANCE_SPECS,
    INSTANCE_TYPE_FORM,
    KNOWN_INSTANCE_FAMILIES,
    LIFECYCLE_HEARTBEAT_MAX_S,
    LIFECYCLE_HEARTBEAT_MIN_S,
    NAME_LIMITS,
    SQS_MAX_VISIBILITY_S,
    SSM_TARGET_VALUES_MAX,
)

SESSION = botocore.session.get_session()

# Where each name's limit is written: (service, operation, member), or (service, shape name).
WHERE: dict[str, tuple[str, ...]] = {
    "SQS queue name": ("sqs", "CreateQueue", "QueueName"),
    "Auto Scaling group name": ("autoscaling", "CreateAutoScalingGroup", "AutoScalingGroupName"),
    "lifecycle hook name": ("autoscaling", "PutLifecycleHook", "LifecycleHookName"),
    "scaling policy name": ("autoscaling", "PutScalingPolicy", "PolicyName"),
    "CloudWatch alarm name": ("cloudwatch", "PutMetricAlarm", "AlarmName"),
    "IAM role name": ("iam", "CreateRole", "RoleName"),
    "IAM instance profile name": ("iam", "CreateInstanceProfile", "InstanceProfileName"),
    "IAM inline policy name": ("iam", "PutRolePolicy", "PolicyName"),
    "EC2 launch template name": ("ec2", "LaunchTemplateName"),
    "Lambda function name": ("lambda", "CreateFunction", "FunctionName"),
    "EventBridge rule name": ("events", "PutRule", "Name"),
    "CloudWatch Logs group name": ("logs", "CreateLogGroup", "logGroupName"),
    "Batch compute environment name": (
        "batch", "CreateComputeEnvironment", "computeEnvironmentName"),
    "Batch job queue name": ("batch", "CreateJobQueue", "jobQueueName"),
    "Batch job definition name": ("batch", "RegisterJobDefinition", "jobDefinitionName"),
    "SSM document name": ("ssm", "CreateDocument", "Name"),
    "SSM association name": ("ssm", "CreateAssociation", "AssociationName"),
    "SSM parameter name": ("ssm", "PutParameter", "Name"),
}


def _member(where: tuple[str, ...]):
    model = SESSION.get_service_model(where[0])
    if len(where) == 2:
        return model.shape_for(where[1])
    return model.operation_model(where[1]).input_shape.members[where[2]]


def model_limit(where: tuple[str, ...]) -> int:
    """The longest name the model allows: a bare name's limit in the documentation first (a
    Lambda function's `max` of 140 is for its ARN), then the shape's `max`, then its pattern
    (`{3,128}`), then the documentation ("can have up to 80 characters")."""
    shape = _member(where)
    doc = re.sub(r"<[^>]+>", " ", shape.documentation or "")
    bare = re.search(r"only the function name, it is limited to (\d+) characters", doc)
    if bare:
        return int(bare.group(1))
    if "max" in shape.metadata:
        return int(shape.metadata["max"])
    pattern = re.search(r"\{\d+,(\d+)\}\$?$", shape.metadata.get("pattern", ""))
    if pattern:
        return int(pattern.group(1))
    written = re.search(r"up to (\d+) (?:characters|letters)", doc)
    assert written, f"no limit in botocore's model for {where}"
    return int(written.group(1))


@pytest.mark.parametrize("what", sorted(NAME_LIMITS))
def test_each_name_limit_is_botocores(what: str) -> None:
    assert NAME_LIMITS[what] == model_limit(WHERE[what])


def test_every_name_kind_has_its_place_in_the_models() -> None:
    assert set(WHERE) == set(NAME_LIMITS)


def _documented_range(where: tuple[str, ...]) -> list[int]:
    doc = re.sub(r"<[^>]+>", " ", _member(where).documentation or "")
    return [int(n) for n in re.findall(r"\b(\d+)\s+(?:to|seconds)", doc)]


def test_the_time_limits_are_botocores() -> None:
    heartbeat = _documented_range(("autoscaling", "PutLifecycleHook", "HeartbeatTimeout"))
    assert heartbeat[:2] == [LIFECYCLE_HEARTBEAT_MIN_S, LIFECYCLE_HEARTBEAT_MAX_S]
    doc = _member(("batch", "JobTimeout")).members["attemptDurationSeconds"].documentation
    assert f"minimum value for the timeout is {BATCH_ATTEMPT_TIMEOUT_MIN_S} seconds" in doc
    sqs = SESSION.get_service_model("sqs").operation_model("ChangeMessageVisibility")
    assert "12 hours" in sqs.documentation and SQS_MAX_VISIBILITY_S == 12 * 3600


def test_the_instance_table_knows_the_types_the_stacks_use() -> None:
    assert INSTANCE_SPECS["c7g.xlarge"].vcpus == 4
    assert INSTANCE_SPECS["c7g.xlarge"].memory_mib == 8192
    assert INSTANCE_SPECS["t4g.small"].memory_mib == 2048
    assert INSTANCE_SPECS["m7i.2xlarge"].vcpus == 8 and INSTANCE_SPECS["m7i.2xlarge"].memory_mib \
        == 32768


def test_the_list_limits_are_botocores() -> None:
    zones = _member(("autoscaling", "CreateAutoScalingGroup", "VPCZoneIdentifier"))
    assert zones.metadata["max"] == ASG_VPC_ZONE_IDENTIFIER_MAX_CHARS
    overrides = _member(("autoscaling", "LaunchTemplateOverrides")).members["InstanceType"]
    assert (f"You can specify up to {ASG_INSTANCE_TYPES_MAX} instance types per Auto Scaling "
            f"group") in re.sub(r"<[^>]+>", "", overrides.documentation)
    targets = _member(("ssm", "CreateAssociation", "Targets")).member
    assert targets.members["Values"].metadata["max"] == SSM_TARGET_VALUES_MAX


EC2_INSTANCE_TYPES = SESSION.get_service_model("ec2").shape_for("InstanceType").enum


def test_every_instance_type_ec2_knows_has_the_form_settings_take() -> None:
    wrong = [t for t in EC2_INSTANCE_TYPES if not re.fullmatch(INSTANCE_TYPE_FORM, t)]
    assert wrong == []


def test_the_known_instance_families_are_ec2s() -> None:
    families = {t.split(".")[0] for t in EC2_INSTANCE_TYPES}
    assert families >= KNOWN_INSTANCE_FAMILIES
    assert {"c7g", "t4g", "m7i", "c8g"} <= KNOWN_INSTANCE_FAMILIES

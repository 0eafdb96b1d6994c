"""Probes for adoption: does a declared resource already exist in the account, by its physical
name, and under which import id?

Each id takes the form of the "Import" section of that type's pulumi-aws page (the same text is
in the installed pulumi_aws package; tests/verify/test_adopt.py reads it from there).
A lookup answers `Live` (the id and the live attributes drift is judged on), None (not there:
the first `pulumi up` creates it) or raises NotAdoptable (there, but in a form the program
cannot take over).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from contract.aws_types import aws_type

Client = Callable[[str], Any]


class NotAdoptable(Exception):
    """The resource exists, but the program could not take it over as it is."""


class Unsupported(Exception):
    """The endpoint cannot answer for this type (an emulator's gap); said, never skipped."""


@dataclass(frozen=True)
class Live:
    id: str  # the import id, in the form of the type's Import section
    attributes: dict[str, Any] = field(default_factory=dict)


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _missing(exc: ClientError, *codes: str) -> bool:
    code = _code(exc)
    return code in codes or "NotFound" in code or "NoSuchEntity" in code


def _num(value: Any) -> Any:
    """Mocks hand numbers over as floats (300.0 -> 300); SQS answers them as text ("300")."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return value


# ---- one lookup per type -------------------------------------------------------------------


def sqs_queue(client: Client, inputs: dict) -> Live | None:
    sqs = client("sqs")
    try:
        url = sqs.get_queue_url(QueueName=inputs["name"])["QueueUrl"]
    except ClientError as exc:
        if _missing(exc, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    fifo = attributes.get("FifoQueue", "false") == "true"
    if fifo != bool(inputs.get("fifoQueue", False)):
        raise NotAdoptable(
            f"it is {'a FIFO' if fifo else 'a standard'} queue and the program declares "
            f"{'a FIFO' if inputs.get('fifoQueue') else 'a standard'} one: AWS cannot change "
            "that, so the first `pulumi up` would replace it and lose its messages")
    return Live(url, attributes)


def iam_role(client: Client, inputs: dict) -> Live | None:
    try:
        role = client("iam").get_role(RoleName=inputs["name"])["Role"]
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    path = inputs.get("path", "/") or "/"
    if role.get("Path", "/") != path:
        raise NotAdoptable(f"its path is {role.get('Path')!r}, the program's {path!r}: a role's "
                           "path cannot change, and a replacement would need the same name")
    return Live(inputs["name"], role)


def iam_role_policy(client: Client, inputs: dict) -> Live | None:
    if not inputs.get("name"):
        return None  # named by Pulumi at create time: nothing old can carry that name
    try:
        found = client("iam").get_role_policy(RoleName=inputs["role"],
                                              PolicyName=inputs["name"])
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return Live(f"{inputs['role']}:{inputs['name']}", found)


def iam_role_policy_attachment(client: Client, inputs: dict) -> Live | None:
    try:
        attached = client("iam").list_attached_role_policies(RoleName=inputs["role"])
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    arns = {p["PolicyArn"] for p in attached.get("AttachedPolicies", [])}
    if inputs["policyArn"] not in arns:
        return None
    return Live(f"{inputs['role']}/{inputs['policyArn']}")


def iam_instance_profile(client: Client, inputs: dict) -> Live | None:
    try:
        profile = client("iam").get_instance_profile(
            InstanceProfileName=inputs["name"])["InstanceProfile"]
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return Live(inputs["name"], profile)


def launch_template(client: Client, inputs: dict) -> Live | None:
    try:
        found = client("ec2").describe_launch_templates(LaunchTemplateNames=[inputs["name"]])
    except ClientError as exc:
        if _missing(exc, "InvalidLaunchTemplateName.NotFoundException"):
            return None
        raise
    templates = found.get("LaunchTemplates", [])
    return Live(templates[0]["LaunchTemplateId"], templates[0]) if templates else None


def autoscaling_group(client: Client, inputs: dict) -> Live | None:
    groups = client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[inputs["name"]])["AutoScalingGroups"]
    return Live(inputs["name"], groups[0]) if groups else None


def lifecycle_hook(client: Client, inputs: dict) -> Live | None:
    group = inputs["autoscalingGroupName"]
    try:
        hooks = client("autoscaling").describe_lifecycle_hooks(
            AutoScalingGroupName=group, LifecycleHookNames=[inputs["name"]])["LifecycleHooks"]
    except ClientError as exc:
        if _missing(exc, "ValidationError"):
            return None
        raise
    return Live(f"{group}/{inputs['name']}", hooks[0]) if hooks else None


def scaling_policy(client: Client, inputs: dict) -> Live | None:
    group = inputs["autoscalingGroupName"]
    policies = client("autoscaling").describe_policies(
        AutoScalingGroupName=group, PolicyNames=[inputs["name"]])["ScalingPolicies"]
    return Live(f"{group}/{inputs['name']}", policies[0]) if policies else None


def metric_alarm(client: Client, inputs: dict) -> Live | None:
    found = client("cloudwatch").describe_alarms(AlarmNames=[inputs["name"]])
    alarms = found.get("MetricAlarms", [])
    return Live(inputs["name"], alarms[0]) if alarms else None


def event_rule(client: Client, inputs: dict) -> Live | None:
    bus = inputs.get("eventBusName") or "default"
    try:
        rule = client("events").describe_rule(Name=inputs["name"], EventBusName=bus)
    except ClientError as exc:
        if _missing(exc, "ResourceNotFoundException"):
            return None
        raise
    # "event_bus_name/rule_name (if you omit event_bus_name, the default event bus is used)"
    return Live(inputs["name"] if bus == "default" else f"{bus}/{inputs['name']}", rule)


def event_target(client: Client, inputs: dict) -> Live | None:
    if not inputs.get("targetId"):
        return None  # named by Pulumi at create time
    try:
        targets = client("events").list_targets_by_rule(Rule=inputs["rule"])["Targets"]
    except ClientError as exc:
        if _missing(exc, "ResourceNotFoundException"):
            return None
        raise
    match = [t for t in targets if t.get("Id") == inputs["targetId"]]
    return Live(f"{inputs['rule']}/{inputs['targetId']}", match[0]) if match else None


def lambda_function(client: Client, inputs: dict) -> Live | None:
    try:
        config = client("lambda").get_function_configuration(FunctionName=inputs["name"])
    except ClientError as exc:
        if _missing(exc, "ResourceNotFoundException"):
            return None
        raise
    if config.get("PackageType", "Zip") != "Zip":
        raise NotAdoptable(f"it is deployed as a container image ({config.get('PackageType')}); "
                           "the program deploys a zip, and a function's package type cannot "
                           "change")
    return Live(inputs["name"], config)


def lambda_permission(client: Client, inputs: dict) -> Live | None:
    if not inputs.get("statementId"):
        return None  # named by Pulumi at create time
    try:
        policy = json.loads(client("lambda").get_policy(FunctionName=inputs["function"])["Policy"])
    except ClientError as exc:
        if _missing(exc, "ResourceNotFoundException"):
            return None
        raise
    sids = {s.get("Sid") for s in policy.get("Statement", [])}
    if inputs["statementId"] not in sids:
        return None
    return Live(f"{inputs['function']}/{inputs['statementId']}")


def log_group(client: Client, inputs: dict) -> Live | None:
    found = client("logs").describe_log_groups(logGroupNamePrefix=inputs["name"])["logGroups"]
    match = [g for g in found if g["logGroupName"] == inputs["name"]]
    return Live(inputs["name"], match[0]) if match else None


def ssm_parameter(client: Client, inputs: dict) -> Live | None:
    try:
        # No decryption: adoption needs the type and version, never a secret value.
        found = client("ssm").describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [inputs["name"]]}])
    except ClientError as exc:
        if _missing(exc, "ParameterNotFound"):
            return None
        raise
    params = found.get("Parameters", [])
    return Live(inputs["name"], params[0]) if params else None


def ssm_document(client: Client, inputs: dict) -> Live | None:
    try:
        doc = client("ssm").describe_document(Name=inputs["name"])["Document"]
    except ClientError as exc:
        if _missing(exc, "InvalidDocument"):
            return None
        raise
    if doc.get("Owner") not in (None, "", "Self") and doc.get("Owner", "").startswith("Amazon"):
        raise NotAdoptable("it is an AWS-owned document")
    return Live(inputs["name"], doc)


def ssm_association(client: Client, inputs: dict) -> Live | None:
    name = inputs.get("associationName")
    if not name:
        return None
    try:
        found = client("ssm").list_associations(
            AssociationFilterList=[{"key": "AssociationName", "value": name}])
    except ClientError as exc:
        raise Unsupported(f"ListAssociations failed: {_code(exc) or exc}") from None
    except Exception as exc:  # moto answers associations with an HTML error page
        raise Unsupported(f"the endpoint has no SSM associations ({type(exc).__name__})") from None
    found_list = found.get("Associations", [])
    return Live(found_list[0]["AssociationId"], found_list[0]) if found_list else None


def batch_compute_environment(client: Client, inputs: dict) -> Live | None:
    found = client("batch").describe_compute_environments(
        computeEnvironments=[inputs["name"]])["computeEnvironments"]
    if not found:
        return None
    live = found[0]
    if live.get("type") != inputs.get("type", "MANAGED"):
        raise NotAdoptable(f"it is {live.get('type')}, the program's is "
                           f"{inputs.get('type', 'MANAGED')}: the type cannot change")
    declared_kind = (inputs.get("computeResources") or {}).get("type")
    live_kind = (live.get("computeResources") or {}).get("type")
    if declared_kind and live_kind and declared_kind != live_kind:
        raise NotAdoptable(f"its instances are {live_kind}, the program's {declared_kind}: that "
                           "forces a replacement, which AWS refuses while a job queue uses it; "
                           f"set videoBatchSpot to match ({live_kind}) or use a new "
                           "videoBatchComputeEnvName")
    return Live(inputs["name"], live)


def batch_job_queue(client: Client, inputs: dict) -> Live | None:
    found = client("batch").describe_job_queues(jobQueues=[inputs["name"]])["jobQueues"]
    return Live(found[0]["jobQueueArn"], found[0]) if found else None


def batch_job_definition(client: Client, inputs: dict) -> Live | None:
    found = client("batch").describe_job_definitions(
        jobDefinitionName=inputs["name"], status="ACTIVE")["jobDefinitions"]
    if not found:
        return None
    latest = max(found, key=lambda d: d.get("revision", 0))
    return Live(latest["jobDefinitionArn"], latest)


LOOKUPS: dict[str, Callable[[Client, dict], Live | None]] = {
    "aws:sqs/queue:Queue": sqs_queue,
    "aws:iam/role:Role": iam_role,
    "aws:iam/rolePolicy:RolePolicy": iam_role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": iam_role_policy_attachment,
    "aws:iam/instanceProfile:InstanceProfile": iam_instance_profile,
    "aws:ec2/launchTemplate:LaunchTemplate": launch_template,
    "aws:autoscaling/group:Group": autoscaling_group,
    "aws:autoscaling/lifecycleHook:LifecycleHook": lifecycle_hook,
    "aws:autoscaling/policy:Policy": scaling_policy,
    "aws:cloudwatch/metricAlarm:MetricAlarm": metric_alarm,
    "aws:cloudwatch/eventRule:EventRule": event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": event_target,
    "aws:lambda/function:Function": lambda_function,
    "aws:lambda/permission:Permission": lambda_permission,
    "aws:cloudwatch/logGroup:LogGroup": log_group,
    "aws:ssm/parameter:Parameter": ssm_parameter,
    "aws:ssm/document:Document": ssm_document,
    "aws:ssm/association:Association": ssm_association,
    "aws:batch/computeEnvironment:ComputeEnvironment": batch_compute_environment,
    "aws:batch/jobQueue:JobQueue": batch_job_queue,
    "aws:batch/jobDefinition:JobDefinition": batch_job_definition,
}

def named(typ: str, inputs: dict) -> bool:
    """The program gave it a physical name (else Pulumi names it, with a random suffix)."""
    known = aws_type(typ)
    return known.named(inputs) if known else bool(inputs.get("name"))


def physical_name(typ: str, inputs: dict) -> str:
    known = aws_type(typ)
    return known.physical_name(inputs) if known else str(inputs.get("name") or "(named by Pulumi)")


def numeric(value: Any) -> Any:
    return _num(value)

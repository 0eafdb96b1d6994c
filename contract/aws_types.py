"""The one registry of the AWS types the program declares: per Pulumi type its service, its
create / read / update / delete operations (botocore names), its identity (the physical name's
inputs, the import id's form) and which inputs an update takes.

The sandbox's deployer (sandbox/deployer) creates, diffs, updates and deletes from it and
`verify adopt` (verify/adopt) names and looks resources up from it. Inputs map to API parameters
through botocore's models (contract/aws_params.py) with each type's small table of renames; a
declared input that maps nowhere is an error naming the type and the key.

An input is *updatable* when an update operation takes it (or a side call the deployer makes for
it, `side`); a change of any other input, of the physical name, or of one in `replaces` (which the
provider marks ForceNew though an API's update would take it) makes Pulumi *replace* the resource.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from contract.aws_params import (
    Unmappable,
    accepts,
    convert,
    enum_name,
    operation_shape,
    request,
)

Inputs = Mapping[str, Any]


@dataclass(frozen=True)
class Op:
    """An operation and how declared inputs go into it: under `nest` (a structure, a list of
    them, or a map such as SQS's Attributes) except the `top` keys; `renames` over the type's;
    `id_param` takes the resource's id (or its output `id_output`); `fixed`: constant values."""

    name: str
    nest: str | None = None
    top: tuple[str, ...] = ()
    renames: Mapping[str, str] = field(default_factory=dict)
    id_param: str | None = None
    id_output: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    skip: tuple[str, ...] = ()  # inputs this call must not carry (AWS refuses them here)


@dataclass(frozen=True)
class Read:
    """How a resource is found by its physical name (what `verify adopt` looks up): the call,
    its parameters (inputs in braces), the JMESPath of the object in the answer and, when
    the import id is the resource's own id, the JMESPath of that id in the object."""

    op: str
    params: Mapping[str, Any]
    found: str
    id: str | None = None

    def request(self, inputs: Inputs) -> dict[str, Any]:
        def fill(value: Any) -> Any:
            if isinstance(value, str):
                return value.format(**{k: str(v) for k, v in inputs.items()})
            if isinstance(value, list):
                return [fill(v) for v in value]
            return {k: fill(v) for k, v in value.items()} if isinstance(value, dict) else value
        return fill(dict(self.params))

    def path(self, inputs: Inputs) -> str:
        return self.found.format(**{k: str(v).replace("'", "\\'") for k, v in inputs.items()})


@dataclass(frozen=True)
class AwsType:
    token: str
    service: str
    create: Op
    read: str
    updates: tuple[Op, ...]
    delete: Op
    import_id: str  # the form of the type's Import section: inputs in braces, {id}: the id
    name_keys: tuple[str, ...] = ("name",)
    renames: Mapping[str, str] = field(default_factory=dict)
    side: Mapping[str, str] = field(default_factory=dict)  # input -> its own (update) call
    replaces: frozenset[str] = frozenset()  # dotted input paths whose change replaces
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # Pulumi -> API shape

    def named(self, inputs: Inputs) -> bool:
        """The program gave it its physical name (else the engine names it)."""
        return all(inputs.get(k) for k in self.name_keys)

    def physical_name(self, inputs: Inputs) -> str:
        parts = [str(inputs.get(k) or "") for k in self.name_keys]
        return "/".join(p for p in parts if p) or "(named by Pulumi)"

    def import_id_of(self, inputs: Inputs, physical_id: str) -> str:
        return self.import_id.format(id=physical_id, **{k: inputs.get(k) for k in self.name_keys})

    def request(self, op: Op, inputs: Inputs) -> dict[str, Any]:
        """`op`'s request from the declared inputs; Unmappable names the type and the key."""
        values = {k: v for k, v in inputs.items() if v is not None}
        if self.prepare is not None:
            values = self.prepare(values)
        renames = {**self.renames, **op.renames}
        values = {k: v for k, v in values.items()  # a side input only where the call takes it
                  if k not in self.side or accepts(self.service, op.name, k, renames, op.nest)}
        if op.nest is None:
            return request(self.service, op.name, values, renames, self.token)
        out = request(self.service, op.name, {k: v for k, v in values.items() if k in op.top},
                      renames, self.token)
        nested = {k: v for k, v in values.items() if k not in op.top}
        shape = operation_shape(self.service, op.name).members[op.nest]
        if shape.type_name == "map":  # e.g. SQS's Attributes: names from the model's enum
            out[op.nest] = {}
            for key, value in nested.items():
                name = enum_name(self.service, shape, key, renames)
                if name is None:
                    raise Unmappable(f"{self.token}.{key}: no {op.nest} entry of {op.name}")
                out[op.nest][name] = _text(value)
            return out
        one = [nested] if shape.type_name == "list" else nested
        return {**out, **request(self.service, op.name, {op.nest: one}, renames, self.token)}

    def check(self, inputs: Inputs) -> None:
        """Every declared input maps to the create operation or a side call (else Unmappable);
        an archive goes as the zip the deployer builds of it (FunctionCode.ZipFile)."""
        self.request(self.create, {k: {"zipFile": b""} if isinstance(v, pulumi.Archive) else v
                                   for k, v in inputs.items()})

    def update_takes(self, key: str) -> bool:
        """Some update operation (or a side call) takes the input `key`; never the name."""
        if key in self.name_keys:
            return False
        return key in self.side or any(self.takes(op, key) for op in self.updates)

    def takes(self, op: Op, key: str) -> bool:
        return key not in op.skip and key not in self.side and accepts(
            self.service, op.name, key, {**self.renames, **op.renames}, op.nest)

    def call_request(self, op: Op, inputs: Inputs, physical_id: str | None = None,
                     outputs: Inputs | None = None) -> dict[str, Any]:
        """`op`'s request with the inputs it takes (never a replacing one), the id, constants."""
        taken = {k: v for k, v in inputs.items()
                 if k not in self.replaces and k not in op.skip and self.takes(op, k)}
        out = {**self.request(op, taken), **op.fixed}
        if op.id_param:
            value = (outputs or {}).get(op.id_output) if op.id_output else physical_id
            shape = operation_shape(self.service, op.name).members[op.id_param]
            out[op.id_param] = convert(value, shape, {}, self.token)
        return out

    def diff(self, old: Inputs, new: Inputs) -> tuple[str, list[str], list[str]]:
        """(`same` | `update` | `replace`, the changed inputs, those that force replacement)."""
        changed = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
        if not changed:
            return "same", [], []
        forced = [k for k in changed if not self.update_takes(k)]
        forced += [p for p in sorted(self.replaces)
                    if p.split(".")[0] in changed and _at(old, p) != _at(new, p)]
        return ("replace" if forced else "update"), changed, sorted(set(forced))

    def delete_before_replace(self, old: Inputs, new: Inputs) -> bool:
        """A replacement whose physical name stays: the old one must go first (AWS refuses a
        second of one name)."""
        return self.named(new) and all(old.get(k) == new.get(k) for k in self.name_keys)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def _at(inputs: Inputs, path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _alarm_queries(inputs: dict[str, Any]) -> dict[str, Any]:
    """Pulumi's metricQueries[].metric is the API's MetricStat with its Metric inside."""
    queries = []
    for query in inputs.get("metricQueries") or []:
        query = dict(query)
        metric = query.pop("metric", None)
        if metric:
            query["metricStat"] = {
                "metric": {k: metric[k] for k in ("metricName", "namespace", "dimensions")
                           if metric.get(k) is not None},
                **{k: metric[k] for k in ("period", "stat", "unit") if metric.get(k) is not None}}
        queries.append(query)
    return {**inputs, "metricQueries": queries} if queries else inputs


def _template_tags(inputs: dict[str, Any]) -> dict[str, Any]:
    """A launch template's own tags are a TagSpecification of the create call."""
    inputs = dict(inputs)
    tags = inputs.pop("tags", None)
    if tags:
        inputs["tagSpecificationsTop"] = [{"resourceType": "launch-template", "tags": tags}]
    return inputs


SQS_ATTRIBUTES = {"visibilityTimeoutSeconds": "VisibilityTimeout",
                  "messageRetentionSeconds": "MessageRetentionPeriod",
                  "maxMessageSize": "MaximumMessageSize",
                  "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds"}
BATCH_VCPUS = {"maxVcpus": "maxvCpus", "minVcpus": "minvCpus", "desiredVcpus": "desiredvCpus",
               "ec2Configurations": "ec2Configuration"}

QUEUE_URL = {"id_param": "QueueUrl"}
BY_ARN = {"id_output": "arn"}

TYPES: dict[str, AwsType] = {t.token: t for t in (
    AwsType("aws:sqs/queue:Queue", "sqs",
            Op("CreateQueue", "Attributes", ("name", "tags")), "GetQueueAttributes",
            (Op("SetQueueAttributes", "Attributes", **QUEUE_URL),
             Op("TagQueue", top=("tags",), **QUEUE_URL)),
            Op("DeleteQueue", **QUEUE_URL), "{id}",
            renames={"name": "QueueName", **SQS_ATTRIBUTES}, replaces=frozenset({"fifoQueue"})),
    AwsType("aws:sqs/redrivePolicy:RedrivePolicy", "sqs",
            Op("SetQueueAttributes", "Attributes", ("queueUrl",)), "GetQueueAttributes",
            (Op("SetQueueAttributes", "Attributes", ("queueUrl",)),),
            Op("SetQueueAttributes", fixed={"Attributes": {"RedrivePolicy": ""}}, **QUEUE_URL),
            "{queueUrl}", ("queueUrl",)),
    AwsType("aws:iam/role:Role", "iam", Op("CreateRole"), "GetRole",
            (Op("UpdateAssumeRolePolicy", renames={"assumeRolePolicy": "PolicyDocument"}),
             Op("UpdateRole"), Op("PutRolePermissionsBoundary"), Op("TagRole")),
            Op("DeleteRole"), "{name}",
            renames={"name": "RoleName", "assumeRolePolicy": "AssumeRolePolicyDocument"},
            side={"managedPolicyArns": "AttachRolePolicy", "inlinePolicies": "PutRolePolicy"}),
    AwsType("aws:iam/rolePolicy:RolePolicy", "iam", Op("PutRolePolicy"), "GetRolePolicy",
            (Op("PutRolePolicy"),), Op("DeleteRolePolicy"), "{role}:{name}", ("role", "name"),
            renames={"role": "RoleName", "name": "PolicyName", "policy": "PolicyDocument"}),
    AwsType("aws:iam/policy:Policy", "iam", Op("CreatePolicy"), "GetPolicy",
            (Op("CreatePolicyVersion", id_param="PolicyArn", fixed={"SetAsDefault": True}),
             Op("TagPolicy", id_param="PolicyArn")), Op("DeletePolicy", id_param="PolicyArn"),
            "{id}", renames={"name": "PolicyName", "policy": "PolicyDocument"}),
    AwsType("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "iam",
            Op("AttachRolePolicy"), "ListAttachedRolePolicies", (), Op("DetachRolePolicy"),
            "{role}/{policyArn}", ("role", "policyArn"), renames={"role": "RoleName"}),
    AwsType("aws:iam/instanceProfile:InstanceProfile", "iam", Op("CreateInstanceProfile"),
            "GetInstanceProfile", (Op("TagInstanceProfile"),), Op("DeleteInstanceProfile"),
            "{name}", renames={"name": "InstanceProfileName"},
            side={"role": "AddRoleToInstanceProfile"}),
    AwsType("aws:lambda/function:Function", "lambda", Op("CreateFunction"),
            "GetFunctionConfiguration",
            (Op("UpdateFunctionConfiguration"), Op("TagResource", id_param="Resource", **BY_ARN)),
            Op("DeleteFunction"), "{name}", renames={"name": "FunctionName"},
            side={"code": "UpdateFunctionCode", "sourceCodeHash": "UpdateFunctionCode",
                  "architectures": "UpdateFunctionCode", "publish": "UpdateFunctionCode"}),
    AwsType("aws:lambda/permission:Permission", "lambda", Op("AddPermission"), "GetPolicy", (),
            Op("RemovePermission", id_param="StatementId"), "{function}/{statementId}",
            ("function", "statementId"),
            renames={"function": "FunctionName", "principalOrgId": "PrincipalOrgID"}),
    AwsType("aws:ssm/parameter:Parameter", "ssm", Op("PutParameter"), "GetParameter",
            (Op("PutParameter", fixed={"Overwrite": True}, skip=("tags",)),
             Op("AddTagsToResource", id_param="ResourceId", fixed={"ResourceType": "Parameter"})),
            Op("DeleteParameter"), "{name}", renames={"insecureValue": "Value"}),
    AwsType("aws:ssm/document:Document", "ssm", Op("CreateDocument"), "DescribeDocument",
            (Op("UpdateDocument", fixed={"DocumentVersion": "$LATEST"}),
             Op("AddTagsToResource", id_param="ResourceId", fixed={"ResourceType": "Document"})),
            Op("DeleteDocument"), "{name}"),
    AwsType("aws:ssm/association:Association", "ssm", Op("CreateAssociation"),
            "ListAssociations", (Op("UpdateAssociation"),),
            Op("DeleteAssociation", id_param="AssociationId"), "{id}", ("associationName",)),
    AwsType("aws:cloudwatch/eventRule:EventRule", "events", Op("PutRule"), "DescribeRule",
            (Op("PutRule"),), Op("DeleteRule"), "{name}"),
    AwsType("aws:cloudwatch/eventTarget:EventTarget", "events",
            Op("PutTargets", "Targets", ("rule", "eventBusName")), "ListTargetsByRule",
            (Op("PutTargets", "Targets", ("rule", "eventBusName")),),
            Op("RemoveTargets", id_param="Ids", id_output="targetId"), "{rule}/{targetId}",
            ("rule", "targetId"), renames={"targetId": "Id"}),
    AwsType("aws:cloudwatch/metricAlarm:MetricAlarm", "cloudwatch", Op("PutMetricAlarm"),
            "DescribeAlarms", (Op("PutMetricAlarm"),),
            Op("DeleteAlarms", renames={"name": "AlarmNames"}), "{name}",
            renames={"name": "AlarmName", "metricQueries": "Metrics",
                     "evaluateLowSampleCountPercentiles": "EvaluateLowSampleCountPercentile"},
            prepare=_alarm_queries),
    AwsType("aws:cloudwatch/logGroup:LogGroup", "logs", Op("CreateLogGroup"),
            "DescribeLogGroups", (Op("TagResource", id_param="resourceArn", **BY_ARN),),
            Op("DeleteLogGroup"), "{name}", renames={"name": "logGroupName"},
            side={"retentionInDays": "PutRetentionPolicy"}),
    AwsType("aws:ec2/launchTemplate:LaunchTemplate", "ec2",
            Op("CreateLaunchTemplate", "LaunchTemplateData", ("name", "tagSpecificationsTop")),
            "DescribeLaunchTemplates",
            (Op("CreateLaunchTemplateVersion", "LaunchTemplateData", id_param="LaunchTemplateId",
                skip=("name",)),),
            Op("DeleteLaunchTemplate", id_param="LaunchTemplateId", skip=("name",)), "{id}",
            ("name",), {"name": "LaunchTemplateName", "vpcSecurityGroupIds": "SecurityGroupIds",
                        "securityGroupNames": "SecurityGroups",
                        "tagSpecificationsTop": "TagSpecifications"},
            side={"updateDefaultVersion": "ModifyLaunchTemplate", "tags": "CreateTags"},
            prepare=_template_tags),
    AwsType("aws:autoscaling/group:Group", "autoscaling", Op("CreateAutoScalingGroup"),
            "DescribeAutoScalingGroups", (Op("UpdateAutoScalingGroup"),),
            Op("DeleteAutoScalingGroup", fixed={"ForceDelete": True}), "{name}",
            renames={"name": "AutoScalingGroupName", "vpcZoneIdentifiers": "VPCZoneIdentifier",
                     "protectFromScaleIn": "NewInstancesProtectedFromScaleIn",
                     "initialLifecycleHooks": "LifecycleHookSpecificationList",
                     "id": "LaunchTemplateId", "notificationTargetArn": "NotificationTargetARN",
                     "roleArn": "RoleARN"},
            side={"enabledMetrics": "EnableMetricsCollection",
                  "metricsGranularity": "EnableMetricsCollection",
                  "suspendedProcesses": "SuspendProcesses", "tags": "CreateOrUpdateTags"}),
    AwsType("aws:autoscaling/policy:Policy", "autoscaling", Op("PutScalingPolicy"),
            "DescribePolicies", (Op("PutScalingPolicy"),), Op("DeletePolicy"),
            "{autoscalingGroupName}/{name}", ("autoscalingGroupName", "name"),
            renames={"name": "PolicyName", "metricDimensions": "Dimensions"}),
    AwsType("aws:autoscaling/lifecycleHook:LifecycleHook", "autoscaling",
            Op("PutLifecycleHook"), "DescribeLifecycleHooks", (Op("PutLifecycleHook"),),
            Op("DeleteLifecycleHook"), "{autoscalingGroupName}/{name}",
            ("autoscalingGroupName", "name"),
            renames={"name": "LifecycleHookName", "notificationTargetArn":
                     "NotificationTargetARN", "roleArn": "RoleARN"}),
    AwsType("aws:batch/computeEnvironment:ComputeEnvironment", "batch",
            Op("CreateComputeEnvironment"), "DescribeComputeEnvironments",
            (Op("UpdateComputeEnvironment", renames={"name": "computeEnvironment"}),
             Op("TagResource", id_param="resourceArn", **BY_ARN)),
            Op("DeleteComputeEnvironment", renames={"name": "computeEnvironment"}), "{name}",
            renames={"name": "computeEnvironmentName", **BATCH_VCPUS},
            # The provider's ForceNew, though UpdateComputeEnvironment takes some of them.
            replaces=frozenset({"computeResources.type", "computeResources.allocationStrategy",
                                "computeResources.ec2Configurations",
                                "computeResources.launchTemplate"})),
    AwsType("aws:batch/jobQueue:JobQueue", "batch", Op("CreateJobQueue"), "DescribeJobQueues",
            (Op("UpdateJobQueue", renames={"name": "jobQueue"}),
             Op("TagResource", id_param="resourceArn", **BY_ARN)),
            Op("DeleteJobQueue", id_param="jobQueue"), "{id}",
            renames={"name": "jobQueueName",
                     "computeEnvironmentOrders": "computeEnvironmentOrder"}),
    # An update registers a new revision (the old one deregistered): Pulumi's in-place update.
    AwsType("aws:batch/jobDefinition:JobDefinition", "batch", Op("RegisterJobDefinition"),
            "DescribeJobDefinitions", (Op("RegisterJobDefinition"),),
            Op("DeregisterJobDefinition", id_param="jobDefinition"), "{id}",
            renames={"name": "jobDefinitionName", "evaluateOnExits": "evaluateOnExit"}),
)}


READS: dict[str, Read] = {
    "aws:sqs/queue:Queue": Read("GetQueueUrl", {"QueueName": "{name}"}, "QueueUrl", "@"),
    "aws:iam/role:Role": Read("GetRole", {"RoleName": "{name}"}, "Role"),
    "aws:iam/rolePolicy:RolePolicy": Read(
        "GetRolePolicy", {"RoleName": "{role}", "PolicyName": "{name}"}, "@"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": Read(
        "ListAttachedRolePolicies", {"RoleName": "{role}"},
        "AttachedPolicies[?PolicyArn=='{policyArn}'] | [0]"),
    "aws:iam/instanceProfile:InstanceProfile": Read(
        "GetInstanceProfile", {"InstanceProfileName": "{name}"}, "InstanceProfile"),
    "aws:ec2/launchTemplate:LaunchTemplate": Read(
        "DescribeLaunchTemplates", {"LaunchTemplateNames": ["{name}"]}, "LaunchTemplates[0]",
        "LaunchTemplateId"),
    "aws:autoscaling/group:Group": Read(
        "DescribeAutoScalingGroups", {"AutoScalingGroupNames": ["{name}"]},
        "AutoScalingGroups[0]"),
    "aws:autoscaling/lifecycleHook:LifecycleHook": Read(
        "DescribeLifecycleHooks", {"AutoScalingGroupName": "{autoscalingGroupName}",
                                   "LifecycleHookNames": ["{name}"]}, "LifecycleHooks[0]",
        "LifecycleHookName"),
    "aws:autoscaling/policy:Policy": Read(
        "DescribePolicies", {"AutoScalingGroupName": "{autoscalingGroupName}",
                             "PolicyNames": ["{name}"]}, "ScalingPolicies[0]", "PolicyName"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": Read(
        "DescribeAlarms", {"AlarmNames": ["{name}"]}, "MetricAlarms[0]"),
    "aws:cloudwatch/eventRule:EventRule": Read("DescribeRule", {"Name": "{name}"}, "@"),
    "aws:cloudwatch/eventTarget:EventTarget": Read(
        "ListTargetsByRule", {"Rule": "{rule}"}, "Targets[?Id=='{targetId}'] | [0]"),
    "aws:lambda/function:Function": Read(
        "GetFunctionConfiguration", {"FunctionName": "{name}"}, "@"),
    "aws:lambda/permission:Permission": Read("GetPolicy", {"FunctionName": "{function}"},
                                             "Policy"),
    "aws:cloudwatch/logGroup:LogGroup": Read(
        "DescribeLogGroups", {"logGroupNamePrefix": "{name}"},
        "logGroups[?logGroupName=='{name}'] | [0]"),
    # No decryption: adoption needs the type and version, never a secret value.
    "aws:ssm/parameter:Parameter": Read("DescribeParameters", {"ParameterFilters": [
        {"Key": "Name", "Option": "Equals", "Values": ["{name}"]}]}, "Parameters[0]"),
    "aws:ssm/document:Document": Read("DescribeDocument", {"Name": "{name}"}, "Document"),
    "aws:ssm/association:Association": Read("ListAssociations", {"AssociationFilterList": [
        {"key": "AssociationName", "value": "{associationName}"}]}, "Associations[0]",
        "AssociationId"),
    "aws:batch/computeEnvironment:ComputeEnvironment": Read(
        "DescribeComputeEnvironments", {"computeEnvironments": ["{name}"]},
        "computeEnvironments[0]"),
    "aws:batch/jobQueue:JobQueue": Read(
        "DescribeJobQueues", {"jobQueues": ["{name}"]}, "jobQueues[0]", "jobQueueArn"),
    "aws:batch/jobDefinition:JobDefinition": Read(
        "DescribeJobDefinitions", {"jobDefinitionName": "{name}", "status": "ACTIVE"},
        "max_by(jobDefinitions, &revision)", "jobDefinitionArn"),
}


def aws_type(token: str) -> AwsType | None:
    return TYPES.get(token)

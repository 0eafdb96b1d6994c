"""Every type the registry holds and the program declares, round-tripped against moto the way
the deployer's engine does it (contract/aws_types.py + sandbox/deployer): create, read back,
update each updatable input (the registry's diff says `update`, AWS then holds the new value),
replace on each replacing input (`replace`; the replacement created and the old one deleted,
the old one first when the physical name stays), delete. One row per type."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest

from contract.aws_types import TYPES
from sandbox.deployer.moto_mocks import (
    CREATED_TYPES,
    MotoMocks,
    Registered,
    state_value,
)
from sandbox.services import moto_server

Aws = Callable[[str], Any]
Probe = Callable[[Aws, dict[str, Any], str], Any]  # (aws, inputs, id) -> the live value
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
TRUST_EC2 = TRUST.replace("lambda.amazonaws.com", "ec2.amazonaws.com")


def policy(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": "*"}]})


def document(command: str) -> str:
    return json.dumps({"schemaVersion": "2.2", "description": "rt", "mainSteps": [
        {"action": "aws:runShellScript", "name": "run", "inputs": {"runCommand": [command]}}]})


CODE = pulumi.AssetArchive({"lambda_function.py": pulumi.StringAsset(
    "def handler(event, context):\n    return 1\n")})


@dataclass
class Row:
    token: str
    inputs: Callable[[dict[str, Any]], dict[str, Any]]  # prerequisites -> the inputs
    updates: list[tuple[str, Any, Probe]] = field(default_factory=list)
    replaces: list[tuple[str, Any]] = field(default_factory=list)


def attr(name: str) -> Probe:
    return lambda aws, i, url: aws("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=[name])["Attributes"][name]


ROWS = [
    Row("aws:sqs/queue:Queue", lambda p: {"name": "rt-q", "visibilityTimeoutSeconds": 30},
        [("visibilityTimeoutSeconds", 60, lambda a, i, u: int(attr("VisibilityTimeout")(a, i, u))),
         ("messageRetentionSeconds", 600,
          lambda a, i, u: int(attr("MessageRetentionPeriod")(a, i, u)))],
        [("name", "rt-q2")]),
    Row("aws:sqs/redrivePolicy:RedrivePolicy",
        lambda p: {"queueUrl": p["queue_a"], "redrivePolicy": p["redrive"](3)},
        [("redrivePolicy", None, lambda a, i, u: attr("RedrivePolicy")(a, i, i["queueUrl"]))],
        [("queueUrl", "queue_b")]),
    Row("aws:iam/role:Role", lambda p: {"name": "rt-role", "assumeRolePolicy": TRUST},
        [("assumeRolePolicy", TRUST_EC2, lambda a, i, n: json.dumps(a("iam").get_role(
            RoleName=n)["Role"]["AssumeRolePolicyDocument"])),
         ("description", "rt role", lambda a, i, n: a("iam").get_role(
             RoleName=n)["Role"]["Description"]),
         ("maxSessionDuration", 7200, lambda a, i, n: a("iam").get_role(
             RoleName=n)["Role"]["MaxSessionDuration"])],
        [("name", "rt-role2"), ("path", "/rt/")]),
    Row("aws:iam/rolePolicy:RolePolicy",
        lambda p: {"role": p["role"], "name": "rt-inline", "policy": policy("sqs:ListQueues")},
        [("policy", policy("sqs:GetQueueUrl"), lambda a, i, _: json.dumps(a("iam").get_role_policy(
            RoleName=i["role"], PolicyName=i["name"])["PolicyDocument"]))],
        [("name", "rt-inline2")]),
    Row("aws:iam/policy:Policy", lambda p: {"name": "rt-policy", "policy": policy("sqs:*")},
        [("policy", policy("sns:*"), lambda a, i, arn: json.dumps(a("iam").get_policy_version(
            PolicyArn=arn, VersionId=a("iam").get_policy(PolicyArn=arn)["Policy"][
                "DefaultVersionId"])["PolicyVersion"]["Document"]))],
        [("name", "rt-policy2")]),
    Row("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        lambda p: {"role": p["role"], "policyArn": p["policy_a"]}, [],
        [("policyArn", "policy_b")]),
    Row("aws:iam/instanceProfile:InstanceProfile",
        lambda p: {"name": "rt-profile", "role": p["role"]},
        [("role", "role_b", lambda a, i, n: a("iam").get_instance_profile(
            InstanceProfileName=n)["InstanceProfile"]["Roles"][0]["RoleName"])],
        [("name", "rt-profile2")]),
    Row("aws:lambda/function:Function",
        lambda p: {"name": "rt-fn", "role": p["role_arn"], "handler": "lambda_function.handler",
                   "runtime": "python3.12", "code": CODE, "timeout": 3},
        [("timeout", 5, lambda a, i, n: a("lambda").get_function_configuration(
            FunctionName=n)["Timeout"]),
         ("environment", {"variables": {"A": "1"}}, lambda a, i, n: {"variables": a(
             "lambda").get_function_configuration(FunctionName=n)["Environment"]["Variables"]})],
        [("name", "rt-fn2")]),
    Row("aws:lambda/permission:Permission",
        lambda p: {"function": p["function"], "statementId": "rt-perm",
                   "action": "lambda:InvokeFunction", "principal": "events.amazonaws.com"}, [],
        [("principal", "sns.amazonaws.com"), ("statementId", "rt-perm2")]),
    Row("aws:ssm/parameter:Parameter", lambda p: {"name": "/rt/p", "type": "String",
                                                  "value": "a"},
        [("value", "b", lambda a, i, n: a("ssm").get_parameter(Name=n)["Parameter"]["Value"])],
        [("name", "/rt/p2")]),
    Row("aws:ssm/document:Document",
        lambda p: {"name": "rt-doc", "content": document("true"), "documentType": "Command",
                   "documentFormat": "JSON"},
        [("content", document("false"), lambda a, i, n: a("ssm").get_document(
            Name=n)["Content"])],
        [("name", "rt-doc2")]),
    Row("aws:cloudwatch/eventRule:EventRule",
        lambda p: {"name": "rt-rule", "scheduleExpression": "rate(1 minute)", "state": "ENABLED"},
        [("scheduleExpression", "rate(5 minutes)", lambda a, i, n: a("events").describe_rule(
            Name=n)["ScheduleExpression"])],
        [("name", "rt-rule2")]),
    Row("aws:cloudwatch/eventTarget:EventTarget",
        lambda p: {"rule": p["rule"], "targetId": "rt-target", "arn": p["function_arn"]},
        [("input", '{"a": 1}', lambda a, i, _: a("events").list_targets_by_rule(
            Rule=i["rule"])["Targets"][0]["Input"])],
        [("rule", "rule_b")]),
    Row("aws:cloudwatch/metricAlarm:MetricAlarm",
        lambda p: {"name": "rt-alarm", "comparisonOperator": "GreaterThanThreshold",
                   "evaluationPeriods": 1, "metricName": "Errors", "namespace": "AWS/Lambda",
                   "period": 60, "statistic": "Sum", "threshold": 1,
                   "dimensions": {"FunctionName": "f"}},
        [("threshold", 2.0, lambda a, i, n: a("cloudwatch").describe_alarms(
            AlarmNames=[n])["MetricAlarms"][0]["Threshold"])],
        [("name", "rt-alarm2")]),
    Row("aws:cloudwatch/logGroup:LogGroup", lambda p: {"name": "/rt/lg", "retentionInDays": 7},
        [("retentionInDays", 14, lambda a, i, n: a("logs").describe_log_groups(
            logGroupNamePrefix=n)["logGroups"][0]["retentionInDays"])],
        [("name", "/rt/lg2")]),
    Row("aws:ec2/launchTemplate:LaunchTemplate",
        lambda p: {"name": "rt-lt", "imageId": p["ami"], "instanceType": "t3.micro"},
        [("instanceType", "t3.small", lambda a, i, tid: a("ec2").describe_launch_template_versions(
            LaunchTemplateId=tid, Versions=["$Default"])["LaunchTemplateVersions"][0][
            "LaunchTemplateData"]["InstanceType"])],
        [("name", "rt-lt2")]),
    Row("aws:autoscaling/group:Group",
        lambda p: {"name": "rt-asg", "minSize": 0, "maxSize": 1, "vpcZoneIdentifiers":
                   [p["subnet"]], "launchTemplate": {"id": p["template"], "version": "$Latest"}},
        [("maxSize", 2, lambda a, i, n: a("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[n])["AutoScalingGroups"][0]["MaxSize"])],
        [("name", "rt-asg2")]),
    Row("aws:autoscaling/policy:Policy",
        lambda p: {"name": "rt-policy", "autoscalingGroupName": p["group"],
                   "policyType": "TargetTrackingScaling", "targetTrackingConfiguration": {
                       "targetValue": 5, "predefinedMetricSpecification": {
                           "predefinedMetricType": "ASGAverageCPUUtilization"}}},
        [("targetTrackingConfiguration", {"targetValue": 6, "predefinedMetricSpecification": {
            "predefinedMetricType": "ASGAverageCPUUtilization"}},
          lambda a, i, n: {"targetValue": int(a("autoscaling").describe_policies(
              AutoScalingGroupName=i["autoscalingGroupName"], PolicyNames=[n])[
              "ScalingPolicies"][0]["TargetTrackingConfiguration"]["TargetValue"]),
              "predefinedMetricSpecification": {
                  "predefinedMetricType": "ASGAverageCPUUtilization"}})],
        [("name", "rt-policy2")]),
    Row("aws:autoscaling/lifecycleHook:LifecycleHook",
        lambda p: {"name": "rt-hook", "autoscalingGroupName": p["group"],
                   "lifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                   "heartbeatTimeout": 60},
        [("heartbeatTimeout", 120, lambda a, i, n: a("autoscaling").describe_lifecycle_hooks(
            AutoScalingGroupName=i["autoscalingGroupName"], LifecycleHookNames=[n])[
            "LifecycleHooks"][0]["HeartbeatTimeout"])],
        [("name", "rt-hook2")]),
    Row("aws:batch/computeEnvironment:ComputeEnvironment",
        lambda p: {"name": "rt-ce", "type": "MANAGED", "serviceRole": p["role_arn"],
                   "computeResources": p["resources"]("EC2")},
        # moto 5.2.5 keeps the state of UpdateComputeEnvironment (and ignores the rest)
        [("state", "DISABLED", lambda a, i, n: a("batch").describe_compute_environments(
            computeEnvironments=[n])["computeEnvironments"][0]["state"])],
        [("computeResources", "spot"), ("name", "rt-ce2")]),
    Row("aws:batch/jobQueue:JobQueue",
        lambda p: {"name": "rt-jq", "priority": 1, "state": "ENABLED",
                   "computeEnvironmentOrders": [{"order": 1, "computeEnvironment": p["ce"]}]},
        [("priority", 2, lambda a, i, arn: a("batch").describe_job_queues(
            jobQueues=[arn])["jobQueues"][0]["priority"])],
        [("name", "rt-jq2")]),
    Row("aws:batch/jobDefinition:JobDefinition",
        lambda p: {"name": "rt-jd", "type": "container", "containerProperties": json.dumps(
            {"image": "busybox", "vcpus": 1, "memory": 128, "command": ["true"]})},
        [("containerProperties", json.dumps({"image": "busybox", "vcpus": 2, "memory": 128,
                                             "command": ["true"]}),
          lambda a, i, _: json.dumps({k: v for k, v in a("batch").describe_job_definitions(
              jobDefinitionName=i["name"], status="ACTIVE")["jobDefinitions"][0][
              "containerProperties"].items() if k in ("image", "vcpus", "memory", "command")}))],
        [("name", "rt-jd2")]),
]


@pytest.fixture(scope="module")
def mocks(moto: moto_server.MotoServer) -> MotoMocks:
    return MotoMocks(moto.env())


@pytest.fixture(scope="module")
def prerequisites(mocks: MotoMocks) -> dict[str, Any]:
    def make(token: str, logical: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return mocks.create(TYPES[token], logical, inputs)

    net = mocks.network
    role, outputs = make("aws:iam/role:Role", "rt-base-role",
                         {"name": "rt-base-role", "assumeRolePolicy": TRUST})
    role_b, _ = make("aws:iam/role:Role", "rt-base-role-b",
                     {"name": "rt-base-role-b", "assumeRolePolicy": TRUST_EC2})
    profile = make("aws:iam/instanceProfile:InstanceProfile", "rt-base-profile",
                   {"name": "rt-base-profile", "role": role_b})[1]["arn"]
    function, fn_out = make("aws:lambda/function:Function", "rt-base-fn", {
        "name": "rt-base-fn", "role": outputs["arn"], "handler": "lambda_function.handler",
        "runtime": "python3.12", "code": CODE})
    queue_a = make("aws:sqs/queue:Queue", "rt-base-a", {"name": "rt-base-a"})[0]
    queue_b = make("aws:sqs/queue:Queue", "rt-base-b", {"name": "rt-base-b"})[0]
    dlq = make("aws:sqs/queue:Queue", "rt-base-dlq", {"name": "rt-base-dlq"})[1]["arn"]
    rule = make("aws:cloudwatch/eventRule:EventRule", "rt-base-rule",
                {"name": "rt-base-rule", "scheduleExpression": "rate(1 minute)"})[0]
    rule_b = make("aws:cloudwatch/eventRule:EventRule", "rt-base-rule-b",
                  {"name": "rt-base-rule-b", "scheduleExpression": "rate(1 minute)"})[0]
    template = make("aws:ec2/launchTemplate:LaunchTemplate", "rt-base-lt",
                    {"name": "rt-base-lt", "imageId": net.image_id,
                     "instanceType": "t3.micro"})[0]
    group = make("aws:autoscaling/group:Group", "rt-base-asg", {
        "name": "rt-base-asg", "minSize": 0, "maxSize": 1,
        "vpcZoneIdentifiers": [net.subnet_ids[0]],
        "launchTemplate": {"id": template, "version": "$Latest"}})[0]

    def resources(kind: str) -> dict[str, Any]:
        return {"type": kind, "minVcpus": 0, "maxVcpus": 4, "instanceTypes": ["c5.large"],
                "subnets": [net.subnet_ids[0]], "securityGroupIds":
                list(net.security_group_ids), "instanceRole": profile}

    ce = make("aws:batch/computeEnvironment:ComputeEnvironment", "rt-base-ce", {
        "name": "rt-base-ce", "type": "MANAGED", "serviceRole": outputs["arn"],
        "computeResources": resources("EC2")})[1]["arn"]
    return {"role": role, "role_b": role_b, "role_arn": outputs["arn"], "function": function,
            "function_arn": fn_out["arn"], "queue_a": queue_a, "queue_b": queue_b,
            "redrive": lambda n: json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": n}),
            "rule": rule, "rule_b": rule_b, "ami": net.image_id, "subnet": net.subnet_ids[0],
            "template": template, "group": group, "ce": ce, "resources": resources,
            "spot": {**resources("SPOT"), "bidPercentage": 50},
            "policy_a": "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "policy_b": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}


def test_every_type_the_deployer_creates_has_a_row() -> None:
    assert {row.token for row in ROWS} == set(CREATED_TYPES)


@pytest.mark.parametrize("row", ROWS, ids=[r.token.rsplit(":", 1)[-1] for r in ROWS])
def test_round_trip(row: Row, mocks: MotoMocks, prerequisites: dict[str, Any], aws: Aws) -> None:
    typ = TYPES[row.token]
    logical = f"rt-{row.token.rsplit(':', 1)[-1].lower()}"

    def value(v: Any) -> Any:
        return prerequisites.get(v, v) if isinstance(v, str) else v

    inputs = row.inputs(prerequisites)
    physical, outputs = mocks.create(typ, logical, inputs)  # create
    assert mocks.find(typ, logical, inputs)[0] == physical  # read back

    for key, new, probe in row.updates:  # update each updatable input
        new = prerequisites["redrive"](5) if new is None else value(new)
        changed = {**inputs, key: new}
        assert typ.diff(state_value(inputs), state_value(changed))[0] == "update", key
        physical, outputs = mocks.update(typ, logical, changed, physical, outputs)
        expected = json.loads(new) if isinstance(new, str) and new.startswith("{") else new
        live = probe(aws, changed, physical)
        live = json.loads(live) if isinstance(live, str) and live.startswith("{") else live
        assert live == expected, (key, live, expected)
        inputs = changed

    for key, new in row.replaces:  # replace on each replacing input
        changed = {**inputs, key: value(new)}
        verdict, _, forced = typ.diff(state_value(inputs), state_value(changed))
        assert (verdict, forced) == ("replace", [key] if "." not in str(forced) else forced), key
        old = Registered(row.token, logical, physical, True, state_value(inputs), outputs)
        if typ.delete_before_replace(inputs, changed):
            mocks.delete(old)
            physical, outputs = mocks.create(typ, logical, changed)
        else:
            physical, outputs = mocks.create(typ, logical, changed)
            mocks.delete(old)
            assert mocks.find(typ, logical, inputs) is None, (key, "the old one is gone")
        assert mocks.find(typ, logical, changed)[0] == physical, key
        inputs = changed

    mocks.delete(Registered(row.token, logical, physical, True, state_value(inputs), outputs))
    if row.token == "aws:sqs/redrivePolicy:RedrivePolicy":
        assert "RedrivePolicy" not in aws("sqs").get_queue_attributes(
            QueueUrl=inputs["queueUrl"], AttributeNames=["All"])["Attributes"]
    else:
        assert mocks.find(typ, logical, inputs) is None  # deleted

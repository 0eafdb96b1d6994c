"""An Auto Scaling group, its policies, a metric alarm and the publisher role's permissions, as
AWS describes them (None: not found)."""

import json
from urllib.parse import unquote

from verify.context import CheckContext


def group(ctx: CheckContext, name: str) -> dict | None:
    groups = ctx.aws.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return groups[0] if groups else None


def group_policies(ctx: CheckContext, name: str) -> list[dict]:
    """Every policy of every type on the group, read once per run."""
    def read() -> list[dict]:
        pages = ctx.aws.client("autoscaling").get_paginator("describe_policies").paginate(
            AutoScalingGroupName=name)
        return [p for page in pages for p in page["ScalingPolicies"]]

    return ctx.once(f"scaling-policies:{name}", read)


def metric_alarm(ctx: CheckContext, name: str) -> dict | None:
    alarms = ctx.aws.client("cloudwatch").describe_alarms(
        AlarmNames=[name], AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    return alarms[0] if alarms else None


def statements(document: object) -> list[dict]:
    if isinstance(document, str):
        document = json.loads(unquote(document))
    found = document.get("Statement", []) if isinstance(document, dict) else []
    return [found] if isinstance(found, dict) else list(found)


def role_statements(ctx: CheckContext, role: str) -> dict[str, list[dict]]:
    """Each policy of the role (inline and attached, by name) -> its statements."""
    iam = ctx.aws.client("iam")
    found: dict[str, list[dict]] = {}
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        found[name] = statements(document)
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"],
                                         VersionId=policy["DefaultVersionId"])
        found[attached["PolicyName"]] = statements(version["PolicyVersion"]["Document"])
    return found

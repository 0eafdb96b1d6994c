"""What may be left around the stack, as AWS describes it: every metric alarm, every scaling
policy of the account and region, the policies on a role (inline by name, attached by ARN)."""

from verify.context import CheckContext


def metric_alarms(ctx: CheckContext) -> list[dict]:
    pages = ctx.aws.client("cloudwatch").get_paginator("describe_alarms").paginate(
        AlarmTypes=["MetricAlarm"])
    return [a for page in pages for a in page.get("MetricAlarms", [])]


def scaling_policies(ctx: CheckContext) -> list[dict]:
    """Every Auto Scaling policy in the region, whatever its group."""
    pages = ctx.aws.client("autoscaling").get_paginator("describe_policies").paginate()
    return [p for page in pages for p in page["ScalingPolicies"]]


def role_policies(ctx: CheckContext, role: str) -> tuple[list[str], list[str]]:
    """(inline policy names, attached policy ARNs) of the role."""
    iam = ctx.aws.client("iam")
    inline = [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=role)
              for n in page["PolicyNames"]]
    attached = [p["PolicyArn"] for page in
                iam.get_paginator("list_attached_role_policies").paginate(RoleName=role)
                for p in page["AttachedPolicies"]]
    return inline, attached

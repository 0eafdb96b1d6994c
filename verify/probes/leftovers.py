"""What may be left around the stack, as AWS describes it: every metric alarm, every scaling
policy of the account and region, the policies on a role (inline by name, attached by ARN),
the rules that invoke a function (with their targets' ids for it)."""

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


def rules_invoking(ctx: CheckContext, function_name: str) -> dict[str, list[str]]:
    """Every EventBridge rule (default bus) with a target on the function: rule -> target ids."""
    lam, events = ctx.aws.client("lambda"), ctx.aws.client("events")
    arn = lam.get_function_configuration(FunctionName=function_name)["FunctionArn"]
    rules: list[str] = []
    token = None
    while True:
        page = events.list_rule_names_by_target(TargetArn=arn, **(
            {"NextToken": token} if token else {}))
        rules += page.get("RuleNames", [])
        token = page.get("NextToken")
        if not token:
            break
    found = {}
    for rule in rules:
        targets = [t for page in events.get_paginator("list_targets_by_rule").paginate(Rule=rule)
                   for t in page.get("Targets", [])]
        found[rule] = [t["Id"] for t in targets if t.get("Arn") == arn]
    return found

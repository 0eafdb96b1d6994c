"""Every scaling policy on a fleet group must be the stack's. Any other scales the group beside
the stack's policy (target tracking scales out when any policy asks): the seeds' own
`video-backlogcount-tt`, left beside a new policy, is incidents #1 and #8 coming back."""

import shlex

from verify.checks.metric_math import describe_aws_metric
from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed

CHECK_ID = "scaling"
ENABLED_UNSEEN = "the endpoint reports no Enabled flag (an emulator's gap): not checked"


def group_policies(ctx: CheckContext, group: str) -> list[dict]:
    """Every policy of every type on the group, read once per run."""
    def read() -> list[dict]:
        pages = ctx.aws.client("autoscaling").get_paginator("describe_policies").paginate(
            AutoScalingGroupName=group)
        return [p for page in pages for p in page["ScalingPolicies"]]

    return ctx.once(f"scaling-policies:{group}", read)


def declared_policies(fleet: dict) -> list[str]:
    wake = fleet.get("wake")
    return [fleet["policy_name"]] + ([wake["policy_name"]] if wake else [])


def enabled_problem(policy: dict) -> str | None:
    """AWS answers `Enabled` for every policy; a disabled one never scales."""
    if policy.get("Enabled") is False:
        return f"policy {policy['PolicyName']} is disabled (Enabled false): it never scales"
    return None


def describe_policy(policy: dict) -> str:
    """What a policy does, in one line: its type and what it reads or sets."""
    kind = policy.get("PolicyType", "?")
    config = policy.get("TargetTrackingConfiguration") or {}
    if kind == "TargetTrackingScaling":
        predefined = config.get("PredefinedMetricSpecification")
        custom = config.get("CustomizedMetricSpecification") or {}
        if predefined:
            reads = predefined.get("PredefinedMetricType", "a predefined metric")
        elif custom.get("Metrics"):
            reads = "metric math over " + ", ".join(
                describe_aws_metric(q["MetricStat"]["Metric"])
                for q in custom["Metrics"] if q.get("MetricStat"))
        else:
            reads = describe_aws_metric(custom)
        what = f"{kind} on {reads}, TargetValue {float(config.get('TargetValue', 0)):g}"
    elif kind in ("SimpleScaling", "StepScaling"):
        what = f"{kind}, {policy.get('AdjustmentType', '?')}"
        if policy.get("ScalingAdjustment") is not None:
            what += f" {policy['ScalingAdjustment']}"
    else:
        what = kind
    alarms = [a["AlarmName"] for a in policy.get("Alarms") or [] if a.get("AlarmName")]
    if alarms:
        what += f", run by alarm(s) {', '.join(alarms)}"
    return f"{policy['PolicyName']} ({what})"


def delete_command(group: str, policy: str, region: str) -> str:
    return (f"aws autoscaling delete-policy --auto-scaling-group-name {shlex.quote(group)} "
            f"--policy-name {shlex.quote(policy)} --region {shlex.quote(region)}")


def foreign_policies_task(ctx: CheckContext, fleet: dict) -> Task:
    group = fleet["group_name"]
    target = f"{group} policies"

    def run() -> CheckResult:
        declared = declared_policies(fleet)
        policies = group_policies(ctx, group)
        foreign = [p for p in policies if p["PolicyName"] not in declared]
        if not foreign:
            present = [p["PolicyName"] for p in policies]
            return passed(CHECK_ID, target,
                          f"only the stack's policies: {', '.join(present) or 'none'}")
        commands = [delete_command(group, p["PolicyName"], ctx.outputs["region"])
                    for p in foreign]
        # DeletePolicy removes a simple/step policy's alarm action but not the alarm itself.
        alarms = sorted({a["AlarmName"] for p in foreign if p.get("PolicyType") != (
            "TargetTrackingScaling") for a in p.get("Alarms") or [] if a.get("AlarmName")})
        leftover = (f"; then its alarm(s): aws cloudwatch delete-alarms --alarm-names "
                    f"{' '.join(shlex.quote(a) for a in alarms)}" if alarms else "")
        return failed(
            CHECK_ID, target,
            f"{len(foreign)} policy(ies) on {group} not the stack's: "
            f"{'; '.join(describe_policy(p) for p in foreign)} (the stack declares only "
            f"{', '.join(declared)}; any policy scales the group beside the stack's)",
            "remove what the stack did not declare: " + " ; ".join(commands) + leftover,
        )

    return Task(CHECK_ID, target, run)

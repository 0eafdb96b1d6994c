"""Every scaling policy on a fleet group must be the stack's. Any other scales the group beside
the stack's policy (target tracking scales out when any policy asks): the seeds' own
`video-backlogcount-tt`, left beside a new policy, is incidents #1 and #8 coming back."""


from contract.stack_output import Fleet
from verify.checks.metric_math import describe_aws_metric
from verify.context import CheckContext, Task
from verify.probes.scaling import group_policies
from verify.report import CheckResult, failed, passed
from verify.shell_words import command, values

CHECK_ID = "scaling"
ENABLED_UNSEEN = "the endpoint reports no Enabled flag (an emulator's gap): not checked"


def declared_policies(fleet: Fleet) -> list[str]:
    return [fleet.policy_name] + ([fleet.wake.policy_name] if fleet.wake else [])


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
    return command("aws", "autoscaling", "delete-policy", ("--auto-scaling-group-name", group),
                   ("--policy-name", policy), ("--region", region))


def judge_foreign_policies(fleet: Fleet, policies: list[dict], region: str) -> CheckResult:
    group = fleet.group_name
    target = f"{group} policies"
    declared = declared_policies(fleet)
    present = [p["PolicyName"] for p in policies]
    foreign = [p for p in policies if p["PolicyName"] not in declared]
    expected, found = {"policies": sorted(declared)}, {"policies": sorted(present)}
    if not foreign:
        return passed(CHECK_ID, target,
                      f"only the stack's policies: {', '.join(present) or 'none'}",
                      expected=expected, found=found)
    commands = [delete_command(group, p["PolicyName"], region) for p in foreign]
    # DeletePolicy removes a simple/step policy's alarm action but not the alarm itself.
    alarms = sorted({a["AlarmName"] for p in foreign if p.get("PolicyType") != (
        "TargetTrackingScaling") for a in p.get("Alarms") or [] if a.get("AlarmName")})
    leftover = ("; then its alarm(s): " + " ".join(
        [command("aws", "cloudwatch", "delete-alarms"), *values("--alarm-names", alarms)])
        if alarms else "")
    return failed(
        CHECK_ID, target,
        f"{len(foreign)} policy(ies) on {group} not the stack's: "
        f"{'; '.join(describe_policy(p) for p in foreign)} (the stack declares only "
        f"{', '.join(declared)}; any policy scales the group beside the stack's)",
        "remove what the stack did not declare: " + " ; ".join(commands) + leftover,
        expected=expected, found=found,
    )


def foreign_policies_task(ctx: CheckContext, fleet: Fleet) -> Task:
    return Task(CHECK_ID, f"{fleet.group_name} policies", lambda: judge_foreign_policies(
        fleet, group_policies(ctx, fleet.group_name), ctx.outputs.region))

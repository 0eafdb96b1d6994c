"""`scaling` (asg mode): each fleet's target-tracking policy reads exactly the publisher's
metric per in-service instance; no policy the stack did not declare; the wake-from-zero alarm
is the stack's; the group can compute the metric; the publisher cannot scale."""

import json
import math
import re
from urllib.parse import unquote

from verify.checks.backlog import describe_metric, latest_datapoint, reference_count
from verify.checks.fleet_policies import (
    ENABLED_UNSEEN,
    enabled_problem,
    foreign_policies_task,
    group_policies,
)
from verify.checks.metric_math import IN_SERVICE, read_queries
from verify.checks.wake_alarm import wake_alarm_task
from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "scaling"
POLICY_FIX = "`pulumi up` puts the stack's policy back (never edit it in the console)"


def policy_problems(policy: dict, metric: dict, group: str, target_value: float) -> list[str]:
    """What is wrong with a target-tracking policy for `metric / GroupInServiceInstances`."""
    config = policy.get("TargetTrackingConfiguration") or {}
    custom = config.get("CustomizedMetricSpecification")
    if not custom:
        return ["the policy uses a predefined metric, not the published backlog"]
    problems = []
    queries = custom.get("Metrics") or []
    if not queries:
        return [f"the policy reads {custom.get('Namespace')}/{custom.get('MetricName')} as a "
                "total, not per instance (no metric math dividing by GroupInServiceInstances)"]
    reading = read_queries(queries, metric, group)
    if not reading.backlog_ids:
        problems.append(f"the policy reads {', '.join(reading.others) or 'no metric'} instead "
                        f"of the published {describe_metric(metric)}")
    elif reading.others:
        problems.append(f"the policy also reads {', '.join(reading.others)}")
    if not reading.instance_ids:
        problems.append(f"the policy does not divide by {IN_SERVICE} of {group}")
    if reading.backlog_ids and reading.instance_ids:
        wanted = {f"{b}/{i}" for b in reading.backlog_ids for i in reading.instance_ids}
        expressions = [re.sub(r"[\s()]", "", q["Expression"]) for q in reading.returned]
        if not any(e in wanted for e in expressions):
            problems.append(
                f"the returned expression is {[q.get('Expression') for q in reading.returned]}, "
                f"not backlog / {IN_SERVICE} ({reading.backlog_ids[0]} / "
                f"{reading.instance_ids[0]})"
            )
    if float(config.get("TargetValue", -1)) != float(target_value):
        problems.append(f"TargetValue {config.get('TargetValue')} != stack {target_value:g}")
    disabled = enabled_problem(policy)
    return problems + ([disabled] if disabled else [])


def expected_capacity(backlog: float, target: float, min_size: int, max_size: int) -> int:
    wanted = math.ceil(backlog / target) if target > 0 else max_size
    return max(min_size, min(max_size, wanted))


def _policy_task(ctx: CheckContext, worker_type: str, worker: dict) -> Task:
    fleet = worker["fleet"]
    group_name = fleet["group_name"]

    def run() -> CheckResult:
        autoscaling = ctx.aws.client("autoscaling")
        groups = autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
        if not groups:
            return failed(CHECK_ID, group_name, f"group {group_name} does not exist",
                          "`pulumi up` creates it; check the region and account")
        group = groups[0]
        problems = []
        if (group["MinSize"], group["MaxSize"]) != (fleet["min_size"], fleet["max_size"]):
            problems.append(f"min/max {group['MinSize']}/{group['MaxSize']} != stack "
                            f"{fleet['min_size']}/{fleet['max_size']}")
        enabled = {m.get("Metric") for m in group.get("EnabledMetrics", [])}
        if IN_SERVICE not in enabled:
            problems.append(f"group metrics collection lacks {IN_SERVICE} (the policy's "
                            "divisor has no data)")
        policies = [p for p in group_policies(ctx, group_name)
                    if p.get("PolicyType") == "TargetTrackingScaling"]
        policy = next((p for p in policies if p["PolicyName"] == fleet["policy_name"]), None)
        if policy is None:
            names = [p["PolicyName"] for p in policies] or "none"
            problems.append(f"no target-tracking policy {fleet['policy_name']} (found {names})")
        else:
            problems += policy_problems(policy, worker["metric"], group_name,
                                        fleet["target_backlog_per_instance"])
        if problems:
            return failed(CHECK_ID, group_name, "; ".join(problems), POLICY_FIX)
        return passed(
            CHECK_ID, group_name,
            f"policy {fleet['policy_name']}: {describe_metric(worker['metric'])} / {IN_SERVICE}, "
            f"target {fleet['target_backlog_per_instance']:g}; min/max "
            f"{fleet['min_size']}/{fleet['max_size']}"
            + (f" ({ENABLED_UNSEEN})" if "Enabled" not in policy else ""),
        )

    return Task(CHECK_ID, group_name, run)


def _capacity_task(ctx: CheckContext, worker_type: str, worker: dict) -> Task:
    fleet = worker["fleet"]
    group_name = fleet["group_name"]
    target = f"{group_name} capacity"

    def run() -> CheckResult:
        point = latest_datapoint(ctx, worker["metric"])
        if point is not None:
            backlog, source = point.maximum, "metric"
        else:
            backlog, source = reference_count(ctx, worker)
        groups = ctx.aws.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
        if not groups:
            return failed(CHECK_ID, target, f"group {group_name} does not exist",
                          "`pulumi up` creates it")
        actual = int(groups[0]["DesiredCapacity"])
        per = float(fleet["target_backlog_per_instance"])
        expected = expected_capacity(backlog, per, fleet["min_size"], fleet["max_size"])
        evidence = (f"backlog {backlog:g} ({source}) / target {per:g} -> expected desired "
                    f"{expected}, actual {actual}")
        if expected == actual:
            return passed(CHECK_ID, target, evidence)
        why = (
            "this is a local emulator, which never runs scaling policies"
            if ctx.aws.emulated
            else f"target tracking acts after its alarm's evaluation periods (about 3 min out, "
                 f"15 min in) and new instances count only after the "
                 f"{fleet.get('instance_warmup_s', 'configured')} s warmup"
        )
        return warned(
            CHECK_ID, target, f"{evidence} (they can differ: {why})",
            f"if it persists, read the group's activities: aws autoscaling "
            f"describe-scaling-activities --auto-scaling-group-name {group_name}",
        )

    return Task(CHECK_ID, target, run)


def _statements(document: object) -> list[dict]:
    if isinstance(document, str):
        document = json.loads(unquote(document))
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def scaling_actions(statements: list[dict]) -> list[str]:
    found = []
    for statement in statements:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if action == "*" or action.lower().startswith("autoscaling:"):
                found.append(action)
    return found


def _role_task(ctx: CheckContext) -> Task:
    role = ctx.outputs["publisher"]["role_name"]
    target = f"{role} (publisher role)"

    def run() -> CheckResult:
        iam = ctx.aws.client("iam")
        found: list[str] = []
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            found += [f"{name}: {a}" for a in scaling_actions(_statements(document))]
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"],
                                             VersionId=policy["DefaultVersionId"])
            document = version["PolicyVersion"]["Document"]
            actions = scaling_actions(_statements(document))
            found += [f"{attached['PolicyName']}: {a}" for a in actions]
        if found:
            return failed(
                CHECK_ID, target, f"the publisher may change capacity itself: {', '.join(found)}",
                "the publisher only publishes; scaling is the policy's job: remove these "
                "actions from its role (`pulumi up` restores the stack's policy)",
            )
        return passed(CHECK_ID, target, "no Auto Scaling permission in the publisher's role")

    return Task(CHECK_ID, target, run)


def tasks(ctx: CheckContext) -> list[Task]:
    planned = []
    for wt, worker in ctx.outputs["worker_types"].items():
        fleet = worker.get("fleet")
        if fleet:
            planned += [_policy_task(ctx, wt, worker), foreign_policies_task(ctx, fleet)]
            if fleet.get("wake"):
                planned.append(wake_alarm_task(ctx, worker))
            planned.append(_capacity_task(ctx, wt, worker))
    return planned + [_role_task(ctx)]

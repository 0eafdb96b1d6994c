"""`scaling` (asg mode): each fleet's target-tracking policy reads exactly the publisher's
metric per in-service instance; the group can compute it; the publisher cannot scale."""

import json
import math
import re
from urllib.parse import unquote

from verify.checks.backlog import describe_metric, latest_datapoint, reference_count
from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "scaling"
IN_SERVICE = "GroupInServiceInstances"
POLICY_FIX = "`pulumi up` puts the stack's policy back (never edit it in the console)"


def _dims(metric: dict) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}


def _wanted_dims(metric: dict) -> dict[str, str]:
    return {k: str(v) for k, v in metric["dimensions"].items()}


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
    backlog_ids, instance_ids, others = [], [], []
    for query in queries:
        stat = query.get("MetricStat")
        if not stat:
            continue
        seen = stat["Metric"]
        if seen.get("Namespace") == "AWS/AutoScaling" and seen.get("MetricName") == IN_SERVICE:
            if _dims(seen) == {"AutoScalingGroupName": group}:
                instance_ids.append(query["Id"])
            else:
                others.append(f"{IN_SERVICE} of {_dims(seen)}")
        elif (seen.get("Namespace"), seen.get("MetricName"), _dims(seen)) == (
            metric["namespace"], metric["name"], _wanted_dims(metric)
        ):
            backlog_ids.append(query["Id"])
        else:
            others.append(describe_metric({"namespace": seen.get("Namespace"),
                                           "name": seen.get("MetricName"),
                                           "dimensions": _dims(seen)}))
    if not backlog_ids:
        problems.append(f"the policy reads {', '.join(others) or 'no metric'} instead of the "
                        f"published {describe_metric(metric)}")
    elif others:
        problems.append(f"the policy also reads {', '.join(others)}")
    if not instance_ids:
        problems.append(f"the policy does not divide by {IN_SERVICE} of {group}")
    returned = [q for q in queries if q.get("ReturnData", True) and q.get("Expression")]
    if backlog_ids and instance_ids:
        wanted = {f"{b}/{i}" for b in backlog_ids for i in instance_ids}
        expressions = [re.sub(r"[\s()]", "", q["Expression"]) for q in returned]
        if not any(e in wanted for e in expressions):
            problems.append(
                f"the returned expression is {[q.get('Expression') for q in returned]}, not "
                f"backlog / {IN_SERVICE} ({backlog_ids[0]} / {instance_ids[0]})"
            )
    if float(config.get("TargetValue", -1)) != float(target_value):
        problems.append(f"TargetValue {config.get('TargetValue')} != stack {target_value:g}")
    return problems


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
        policies = autoscaling.describe_policies(
            AutoScalingGroupName=group_name, PolicyTypes=["TargetTrackingScaling"]
        )["ScalingPolicies"]
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
            f"{fleet['min_size']}/{fleet['max_size']}",
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
        if worker.get("fleet"):
            planned += [_policy_task(ctx, wt, worker), _capacity_task(ctx, wt, worker)]
    return planned + [_role_task(ctx)]

"""`scaling` (asg mode): each fleet's target-tracking policy reads exactly the publisher's
metric per in-service instance; no policy the stack did not declare; the wake-from-zero alarm
is the stack's; the group can compute the metric; the publisher cannot scale."""

import math
import re

from contract.stack_output import Fleet, Metric, Worker
from verify.checks.backlog import describe_metric
from verify.checks.fleet_policies import ENABLED_UNSEEN, enabled_problem, foreign_policies_task
from verify.checks.metric_math import IN_SERVICE, describe_aws_metric, dims, read_queries
from verify.checks.wake_alarm import wake_alarm_task
from verify.context import CheckContext, Task
from verify.probes import scaling as probe
from verify.probes.backlog import reference_count
from verify.probes.metrics import latest_statistic
from verify.report import CheckResult, failed, passed, warned

CHECK_ID = "scaling"
POLICY_FIX = "`pulumi up` puts the stack's policy back (never edit it in the console)"


def policy_problems(policy: dict, metric: Metric, group: str,
                    target_value: float) -> list[str]:
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
    stats = sorted({q["MetricStat"].get("Stat") for q in queries
                    if q.get("Id") in reading.backlog_ids})
    if reading.backlog_ids and stats != [metric.statistic]:
        problems.append(f"the policy reads the backlog as {'/'.join(map(str, stats))}, the "
                        f"stack's statistic is {metric.statistic}")
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


def judge_group(fleet: Fleet, metric: Metric, group: dict | None,
                policies: list[dict]) -> CheckResult:
    group_name = fleet.group_name
    expected = {"min_size": fleet.min_size, "max_size": fleet.max_size,
                "policy": fleet.policy_name,
                "target_backlog_per_instance": fleet.target_backlog_per_instance}
    if group is None:
        return failed(CHECK_ID, group_name, f"group {group_name} does not exist",
                      "`pulumi up` creates it; check the region and account", expected=expected)
    problems = []
    if (group["MinSize"], group["MaxSize"]) != (fleet.min_size, fleet.max_size):
        problems.append(f"min/max {group['MinSize']}/{group['MaxSize']} != stack "
                        f"{fleet.min_size}/{fleet.max_size}")
    enabled = {m.get("Metric") for m in group.get("EnabledMetrics", [])}
    if IN_SERVICE not in enabled:
        problems.append(f"group metrics collection lacks {IN_SERVICE} (the policy's "
                        "divisor has no data)")
    tracking = [p for p in policies if p.get("PolicyType") == "TargetTrackingScaling"]
    policy = next((p for p in tracking if p["PolicyName"] == fleet.policy_name), None)
    config = (policy or {}).get("TargetTrackingConfiguration") or {}
    found = {"min_size": group["MinSize"], "max_size": group["MaxSize"],
             "policy": policy["PolicyName"] if policy else None,
             "target_backlog_per_instance": config.get("TargetValue")}
    if policy is None:
        names = [p["PolicyName"] for p in tracking] or "none"
        problems.append(f"no target-tracking policy {fleet.policy_name} (found {names})")
    else:
        problems += policy_problems(policy, metric, group_name, fleet.target_backlog_per_instance)
    if problems:
        return failed(CHECK_ID, group_name, "; ".join(problems), POLICY_FIX, expected=expected,
                      found=found)
    return passed(
        CHECK_ID, group_name,
        f"policy {fleet.policy_name}: {describe_metric(metric)} / {IN_SERVICE}, "
        f"target {fleet.target_backlog_per_instance:g}; min/max "
        f"{fleet.min_size}/{fleet.max_size}"
        + (f" ({ENABLED_UNSEEN})" if policy is not None and "Enabled" not in policy else ""),
        expected=expected, found=found,
    )


def _policy_task(ctx: CheckContext, fleet: Fleet, worker: Worker) -> Task:
    def run() -> CheckResult:
        group = probe.group(ctx, fleet.group_name)
        policies = probe.group_policies(ctx, fleet.group_name) if group is not None else []
        return judge_group(fleet, worker.metric, group, policies)

    return Task(CHECK_ID, fleet.group_name, run)


def judge_capacity(fleet: Fleet, backlog: float, source: str, group: dict | None,
                   emulated: bool, statistic: str = "") -> CheckResult:
    """`backlog`: what the policy sees, the metric's newest minute aggregated with the policy's
    own statistic (`source` "metric"), or the reference count when nothing is published yet."""
    group_name = fleet.group_name
    target = f"{group_name} capacity"
    if group is None:
        return failed(CHECK_ID, target, f"group {group_name} does not exist",
                      "`pulumi up` creates it")
    actual = int(group["DesiredCapacity"])
    per = float(fleet.target_backlog_per_instance)
    expected = expected_capacity(backlog, per, fleet.min_size, fleet.max_size)
    evidence = (f"backlog {backlog:g} ({source}) / target {per:g} -> expected desired "
                f"{expected}, actual {actual}")
    values = {"expected": {"desired_capacity": expected, "backlog": backlog,
                           "statistic": statistic or None},
              "found": {"desired_capacity": actual}}
    if expected == actual:
        return passed(CHECK_ID, target, evidence, **values)
    why = (
        "this is a local emulator, which never runs scaling policies"
        if emulated
        else f"target tracking acts after its alarm's evaluation periods (about 3 min out, "
             f"15 min in) and new instances count only after the "
             f"{fleet.instance_warmup_s} s warmup"
    )
    return warned(
        CHECK_ID, target, f"{evidence} (they can differ: {why})",
        f"if it persists, read the group's activities: aws autoscaling "
        f"describe-scaling-activities --auto-scaling-group-name {group_name}", **values,
    )


def _capacity_task(ctx: CheckContext, fleet: Fleet, worker: Worker) -> Task:
    def run() -> CheckResult:
        # What the policy sees: the newest minute with the policy's own statistic (one
        # definition: the metric spec the policy is built from), not its Maximum.
        point = latest_statistic(ctx, worker.metric)
        statistic = ""
        if point is not None:
            (_, backlog), source, statistic = point, "metric", worker.metric.statistic
        else:
            backlog, source = reference_count(ctx, worker)
        return judge_capacity(fleet, backlog, source, probe.group(ctx, fleet.group_name),
                              ctx.aws.emulated, statistic)

    return Task(CHECK_ID, f"{fleet.group_name} capacity", run)


SHARED_TARGET = "fleets' backlog metrics"


def backlog_metrics_read(policy: dict) -> list[str]:
    """The metrics (described) a target-tracking policy reads, its groups' in-service
    instances aside: in metric math, or as one customized metric."""
    custom = (policy.get("TargetTrackingConfiguration") or {}).get(
        "CustomizedMetricSpecification") or {}
    if not custom.get("Metrics"):
        return [describe_aws_metric(custom)] if custom.get("MetricName") else []
    found = []
    for query in custom["Metrics"]:
        seen = (query.get("MetricStat") or {}).get("Metric")
        if seen and not (seen.get("Namespace") == "AWS/AutoScaling"
                         and seen.get("MetricName") == IN_SERVICE
                         and set(dims(seen)) == {"AutoScalingGroupName"}):
            found.append(describe_aws_metric(seen))
    return found


def judge_shared_metrics(policies_by_group: dict[str, list[dict]]) -> CheckResult:
    """Two fleets must not scale on one metric: each would add instances for the other's
    backlog (a `<type>Label` copied from another type makes both publish and read it)."""
    readers: dict[str, set[str]] = {}
    for group, policies in policies_by_group.items():
        for policy in policies:
            if policy.get("PolicyType") == "TargetTrackingScaling":
                for metric in backlog_metrics_read(policy):
                    readers.setdefault(metric, set()).add(group)
    shared = {m: sorted(groups) for m, groups in sorted(readers.items()) if len(groups) > 1}
    values = {"expected": {}, "found": shared}
    if shared:
        return failed(
            CHECK_ID, SHARED_TARGET,
            "; ".join(f"{m} is read by {' and '.join(groups)}" for m, groups in shared.items())
            + ": each fleet scales on the other's backlog too",
            "give each worker type its own metric (`<type>Label`, its WorkerType dimension, or "
            "`<type>MetricName`; the program refuses two types with one) and `pulumi up`; a "
            "policy the stack did not declare is removed with the command its row names",
            **values)
    return passed(CHECK_ID, SHARED_TARGET,
                  f"each of the {len(policies_by_group)} fleet(s) scales on a metric of its own",
                  **values)


def _shared_task(ctx: CheckContext, groups: list[str]) -> Task:
    def run() -> CheckResult:
        return judge_shared_metrics({g: probe.group_policies(ctx, g) for g in groups
                                     if probe.group(ctx, g) is not None})

    return Task(CHECK_ID, SHARED_TARGET, run)


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


def judge_role(role: str, policies: dict[str, list[dict]]) -> CheckResult:
    target = f"{role} (publisher role)"
    found = [f"{name}: {a}" for name, statements in policies.items()
             for a in scaling_actions(statements)]
    values = {"expected": {"autoscaling_actions": []}, "found": {"autoscaling_actions": found}}
    if found:
        return failed(
            CHECK_ID, target, f"the publisher may change capacity itself: {', '.join(found)}",
            "the publisher only publishes; scaling is the policy's job: remove these "
            "actions from its role (`pulumi up` restores the stack's policy)", **values,
        )
    return passed(CHECK_ID, target, "no Auto Scaling permission in the publisher's role",
                  **values)


def _role_task(ctx: CheckContext) -> Task:
    role = ctx.outputs.publisher.role_name
    return Task(CHECK_ID, f"{role} (publisher role)",
                lambda: judge_role(role, probe.role_statements(ctx, role)))


def tasks(ctx: CheckContext) -> list[Task]:
    planned = []
    groups = [w.fleet.group_name for w in ctx.outputs.worker_types.values() if w.fleet]
    for worker in ctx.outputs.worker_types.values():
        fleet = worker.fleet
        if fleet is not None:
            planned += [_policy_task(ctx, fleet, worker), foreign_policies_task(ctx, fleet)]
            if fleet.wake is not None:
                planned.append(wake_alarm_task(ctx, worker))
            planned.append(_capacity_task(ctx, fleet, worker))
    return planned + [_shared_task(ctx, groups), _role_task(ctx)]

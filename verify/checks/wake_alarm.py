"""The wake-from-zero alarm of a fleet that may sit at 0 instances: at 0, backlog / instances
has no value and target tracking never starts the first instance; only this alarm does. It
must read the published backlog and the group's in-service instances, with the stack's
expression, threshold and operator, and run the stack's wake policy."""

from contract.stack_output import Metric, WakeFromZero, Worker
from verify.checks.backlog import describe_metric
from verify.checks.fleet_policies import ENABLED_UNSEEN, enabled_problem
from verify.checks.metric_math import IN_SERVICE, canonical, describe_aws_metric, read_queries
from verify.context import CheckContext, Task
from verify.probes import scaling as probe
from verify.report import CheckResult, failed, passed

CHECK_ID = "scaling"
CONSEQUENCE = "a group at 0 never wakes on the published backlog"
OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def _expression_problems(alarm: dict, wake: WakeFromZero, metric: Metric,
                         group: str) -> list[str]:
    queries = alarm.get("Metrics") or []
    if not queries:
        read = describe_aws_metric(alarm) if alarm.get("MetricName") else "nothing"
        return [f"the alarm reads {read} as a single metric, not the stack's "
                f"{wake.expression} over the backlog and {IN_SERVICE}"]
    reading = read_queries(queries, metric, group)
    problems = []
    if not reading.backlog_ids:
        problems.append(f"the alarm reads {', '.join(reading.others) or 'no metric'} instead "
                        f"of the published {describe_metric(metric)}")
    elif reading.others:
        problems.append(f"the alarm also reads {', '.join(reading.others)}")
    if not reading.instance_ids:
        problems.append(f"the alarm does not read {IN_SERVICE} of {group}")
    shown = [q.get("Expression") for q in reading.returned]
    if reading.backlog_ids and reading.instance_ids:
        wanted = canonical(wake.expression, "m1", "m2")
        live = [canonical(e, reading.backlog_ids[0], reading.instance_ids[0]) for e in shown]
        if live != [wanted]:
            problems.append(f"the alarm returns {shown}, not the stack's {wake.expression}")
    return problems


def _action_problems(alarm: dict, wake: WakeFromZero, policy: dict | None) -> list[str]:
    if policy is None:
        return [f"the wake policy {wake.policy_name} does not exist"]
    problems = []
    actions = alarm.get("AlarmActions") or []
    if policy.get("PolicyARN") not in actions:
        problems.append(f"the alarm does not run the wake policy {wake.policy_name} "
                        f"(its actions: {', '.join(actions) or 'none'})")
    if alarm.get("ActionsEnabled") is False:
        problems.append("the alarm's actions are disabled")
    shape = (policy.get("PolicyType"), policy.get("AdjustmentType"),
             policy.get("ScalingAdjustment"))
    wanted = ("SimpleScaling", wake.adjustment_type, wake.scaling_adjustment)
    if shape != wanted:
        problems.append(f"the wake policy is {' '.join(map(str, shape))}, not "
                        f"{' '.join(map(str, wanted))}")
    disabled = enabled_problem(policy)
    return problems + ([disabled] if disabled else [])


def wake_alarm_problems(alarm: dict, wake: WakeFromZero, metric: Metric, group: str,
                        policy: dict | None) -> list[str]:
    problems = _expression_problems(alarm, wake, metric, group)
    if float(alarm.get("Threshold", float("nan"))) != float(wake.threshold):
        problems.append(f"threshold {alarm.get('Threshold', 'none'):g} != stack "
                        f"{float(wake.threshold):g}")
    if alarm.get("ComparisonOperator") != wake.comparison_operator:
        problems.append(f"operator {alarm.get('ComparisonOperator')} != stack "
                        f"{wake.comparison_operator}")
    return problems + _action_problems(alarm, wake, policy)


def judge_wake_alarm(worker: Worker, alarm: dict | None, policies: list[dict]) -> CheckResult:
    fleet = worker.fleet
    assert fleet is not None and fleet.wake is not None  # planned only for a waking fleet
    wake, group = fleet.wake, fleet.group_name
    target = f"{wake.alarm_name} (alarm)"
    expected = {"expression": wake.expression, "threshold": wake.threshold,
                "comparison_operator": wake.comparison_operator,
                "policy": wake.policy_name}
    if alarm is None:
        return failed(CHECK_ID, target, f"alarm {wake.alarm_name} does not exist: {CONSEQUENCE}",
                      "`pulumi up` creates it", expected=expected)
    found = {"expression": [q.get("Expression") for q in alarm.get("Metrics") or []
                            if q.get("Expression")],
             "threshold": alarm.get("Threshold"),
             "comparison_operator": alarm.get("ComparisonOperator"),
             "actions": alarm.get("AlarmActions") or []}
    policy = next((p for p in policies if p["PolicyName"] == wake.policy_name), None)
    problems = wake_alarm_problems(alarm, wake, worker.metric, group, policy)
    if problems:
        return failed(CHECK_ID, target, f"{'; '.join(problems)}: {CONSEQUENCE}",
                      "`pulumi up` puts the stack's alarm and wake policy back (never edit "
                      "them in the console)", expected=expected, found=found)
    unseen = f" ({ENABLED_UNSEEN})" if policy is not None and "Enabled" not in policy else ""
    operator = OPERATORS.get(wake.comparison_operator, wake.comparison_operator)
    return passed(
        CHECK_ID, target,
        f"{wake.expression} {operator} {float(wake.threshold):g} over m1 = "
        f"{describe_metric(worker.metric)}, m2 = {IN_SERVICE}; runs "
        f"{wake.policy_name} ({wake.adjustment_type} {wake.scaling_adjustment})" + unseen,
        expected=expected, found=found,
    )


def wake_alarm_task(ctx: CheckContext, worker: Worker) -> Task:
    fleet = worker.fleet
    assert fleet is not None and fleet.wake is not None
    wake, group = fleet.wake, fleet.group_name

    def run() -> CheckResult:
        alarm = probe.metric_alarm(ctx, wake.alarm_name)
        policies = probe.group_policies(ctx, group) if alarm is not None else []
        return judge_wake_alarm(worker, alarm, policies)

    return Task(CHECK_ID, f"{wake.alarm_name} (alarm)", run)

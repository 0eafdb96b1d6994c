"""`leftovers`: what an old setup left that still scales or grants, and the command that
removes each (after `verify adopt` and the first `pulumi up` these are what remains to do).

- an alarm or a scaling policy that reads a metric in the stack's namespaces the stack does
  not publish: with no data it never fires, and whatever it runs is no longer the stack's (a
  second policy on a fleet group is `scaling`'s row, whatever it reads);
- a policy the stack does not declare on a role it declares (the publisher's, each fleet's
  instance role, Batch's service and instance roles: `declared_roles`): the role grants more
  than the stack's job needs (the old publisher role could set capacity and write SSM);
- a rule other than the stack's schedule that invokes the publisher: it runs twice as often.

The kinds, and which check fails on each, are verify/leftover_kinds.py's (shared with adopt).
"""

from collections.abc import Iterable

from components.stack_output import Metric, Role, StackOutput, declared_roles
from verify.adopt.leftovers import schedule_removal
from verify.checks.backlog import describe_parts
from verify.checks.metric_math import describe_aws_metric
from verify.context import CheckContext, Task
from verify.probes import leftovers as probe
from verify.report import CheckResult, failed, passed
from verify.shell_words import command

CHECK_ID = "leftovers"
ABOUT = ("no old alarm or policy on a metric nobody publishes; each role the stack declares "
         "holds only the stack's policies; only the stack's schedule invokes the publisher")
MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]


def metric_key(namespace: str, name: str, dimensions: Iterable[tuple[str, str]]) -> MetricKey:
    return namespace, name, tuple(sorted(dimensions))


def published_key(metric: Metric) -> MetricKey:
    return metric_key(metric.namespace, metric.name, metric.dimensions.items())


def _aws_key(metric: dict) -> MetricKey:
    return metric_key(metric.get("Namespace", ""), metric.get("MetricName", ""),
                      ((d["Name"], d["Value"]) for d in metric.get("Dimensions") or []))


def read_metrics(thing: dict) -> list[dict]:
    """The metrics an alarm or a target-tracking policy reads (single metric or metric math)."""
    spec = (thing.get("TargetTrackingConfiguration") or {}).get(
        "CustomizedMetricSpecification") or thing
    if spec.get("MetricName"):
        return [spec]
    return [q["MetricStat"]["Metric"] for q in spec.get("Metrics") or [] if q.get("MetricStat")]


def unpublished(thing: dict, namespaces: set[str], published: set[MetricKey]) -> list[str]:
    """The metrics it reads in the stack's namespaces that the stack does not publish."""
    return [describe_aws_metric(m) for m in read_metrics(thing)
            if m.get("Namespace") in namespaces and _aws_key(m) not in published]


def _scope(outputs: StackOutput) -> tuple[set[str], set[MetricKey]]:
    workers = outputs.worker_types.values()
    return ({w.metric.namespace for w in workers},
            {published_key(w.metric) for w in workers if w.published})


def _published_text(outputs: StackOutput) -> str:
    shown = [describe_parts(w.metric.namespace, w.metric.name, w.metric.dimensions)
             for w in outputs.worker_types.values() if w.published]
    return ", ".join(shown) or "nothing"


def judge_alarms(outputs: StackOutput, alarms: list[dict]) -> list[CheckResult]:
    namespaces, published = _scope(outputs)
    declared = {outputs.publisher.errors_alarm} | {
        w.fleet.wake.alarm_name for w in outputs.worker_types.values()
        if w.fleet is not None and w.fleet.wake is not None}
    results = []
    for alarm in alarms:
        name = alarm["AlarmName"]
        stale = [] if name in declared else unpublished(alarm, namespaces, published)
        if stale:
            results.append(failed(
                CHECK_ID, f"alarm {name}",
                f"reads {', '.join(stale)}, which the stack does not publish (it publishes "
                f"{_published_text(outputs)}): with no data it never fires, and its actions "
                f"({', '.join(alarm.get('AlarmActions') or []) or 'none'}) are not the stack's",
                "an old setup's alarm: remove it: " + command(
                    "aws", "cloudwatch", "delete-alarms", ("--alarm-names", name),
                    ("--region", outputs.region)),
                expected={"reads_published_metric": True},
                found={"alarm": name, "reads": stale}))
    if not results:
        results.append(passed(
            CHECK_ID, "alarms on the stack's namespaces",
            f"no alarm reads a metric of {', '.join(sorted(namespaces))} the stack does not "
            f"publish ({len(alarms)} alarm(s) read)",
            expected={"stale_alarms": []}, found={"stale_alarms": []}))
    return results


def judge_policies(outputs: StackOutput, policies: list[dict]) -> list[CheckResult]:
    namespaces, published = _scope(outputs)
    fleets = {w.fleet.group_name for w in outputs.worker_types.values() if w.fleet is not None}
    results = []
    for policy in policies:
        group, name = policy["AutoScalingGroupName"], policy["PolicyName"]
        if group in fleets:
            continue  # any policy on a fleet group the stack did not declare: `scaling`'s row
        stale = unpublished(policy, namespaces, published)
        if stale:
            results.append(failed(
                CHECK_ID, f"policy {group}/{name}",
                f"scales {group} (not one of the stack's fleets) on {', '.join(stale)}, which "
                "the stack does not publish: an old setup's policy",
                "remove it: " + command(
                    "aws", "autoscaling", "delete-policy", ("--auto-scaling-group-name", group),
                    ("--policy-name", name), ("--region", outputs.region))
                + " (and the group, once idle, if nothing uses it)",
                expected={"reads_published_metric": True},
                found={"group": group, "policy": name, "reads": stale}))
    if not results:
        results.append(passed(
            CHECK_ID, "scaling policies on the stack's namespaces",
            "no policy outside the stack's fleets reads a metric the stack does not publish",
            expected={"stale_policies": []}, found={"stale_policies": []}))
    return results


def role_target(what: str, role: Role) -> str:
    return f"{role.name} ({what}) permissions"


def judge_role(what: str, role: Role, inline: list[str], attached: list[str]) -> CheckResult:
    """`what`: what the role is for, as `declared_roles` says ("publisher role", ...)."""
    name = role.name
    extra_inline = [n for n in inline if n not in role.inline_policies]
    extra_attached = [a for a in attached if a not in role.managed_policy_arns]
    values = {"expected": {"inline": role.inline_policies,
                           "attached": role.managed_policy_arns},
              "found": {"inline": inline, "attached": attached}}
    target = role_target(what, role)
    if not extra_inline and not extra_attached:
        return passed(CHECK_ID, target, "only the stack's policies: "
                      f"{', '.join(role.inline_policies + role.managed_policy_arns) or 'none'}",
                      **values)
    commands = [command("aws", "iam", "delete-role-policy", ("--role-name", name),
                        ("--policy-name", n)) for n in extra_inline]
    commands += [command("aws", "iam", "detach-role-policy", ("--role-name", name),
                         ("--policy-arn", a)) for a in extra_attached]
    return failed(
        CHECK_ID, target,
        f"policies the stack does not declare on {name}, the {what}: "
        f"{', '.join(extra_inline + extra_attached)}; whatever they grant beyond the stack's "
        "own policies is a leftover (an old setup's, or added by hand)",
        "remove them: " + "; ".join(commands), **values)


def judge_schedules(outputs: StackOutput, rules: dict[str, list[str]]) -> list[CheckResult]:
    publisher = outputs.publisher
    results = []
    for rule, ids in rules.items():
        if rule == publisher.schedule_rule:
            continue
        results.append(failed(
            CHECK_ID, f"schedule {rule}",
            f"{rule} invokes the publisher {publisher.function_name} beside the stack's "
            f"{publisher.schedule_rule}: it runs twice as often (an old setup's schedule)",
            "remove it: " + "; ".join(schedule_removal(rule, ids, outputs.region)),
            expected={"rules": [publisher.schedule_rule]}, found={"rules": sorted(rules)}))
    if not results:
        results.append(passed(
            CHECK_ID, f"{publisher.function_name} schedules",
            f"only the stack's {publisher.schedule_rule} invokes the publisher",
            expected={"rules": [publisher.schedule_rule]}, found={"rules": sorted(rules)}))
    return results


def tasks(ctx: CheckContext) -> list[Task]:
    outputs = ctx.outputs
    roles = [Task(CHECK_ID, role_target(what, role),
                  lambda w=what, r=role: judge_role(w, r, *probe.role_policies(ctx, r.name)))
             for what, role in declared_roles(outputs)]
    return [
        Task(CHECK_ID, "alarms", lambda: judge_alarms(outputs, probe.metric_alarms(ctx))),
        Task(CHECK_ID, "scaling policies",
             lambda: judge_policies(outputs, probe.scaling_policies(ctx))),
        *roles,
        Task(CHECK_ID, "publisher schedules", lambda: judge_schedules(
            outputs, probe.rules_invoking(ctx, outputs.publisher.function_name))),
    ]

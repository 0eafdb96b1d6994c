"""Leftovers: what the old setup made around the declared resources that the stack will not
manage, each with the AWS CLI command that removes it.

Found by looking where the old scripts put things: other policies on the fleet groups, the
group of a worker type that no longer runs as a fleet, other inline or attached policies on the
roles the stack adopts, alarms on the platform's metric namespaces that read a metric nobody
publishes, other schedules that invoke the publisher, parameters under `/<prefix>/workers/`,
and flags left in the workers' environment parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from verify import leftover_kinds as kinds
from verify.adopt.drift import alarm_summary, metric_summary, tracking_summary
from verify.shell_words import CliFile, Word, command, quote, values

Client = Callable[[str], Any]
# Flags of the old Lambda and worker env that switched video paths on and off (incident #8).
OLD_FLAGS = ("ENABLE_VIDEO_METRICS", "ENABLE_VIDEO_WAKE")


@dataclass(frozen=True)
class Leftover:
    of: kinds.Kind  # one of verify/leftover_kinds.py's, shared with `verify all`
    name: str
    why: str
    commands: tuple[str, ...]

    @property
    def kind(self) -> str:
        return self.of.name

    @property
    def affects(self) -> str:
        """What it can still do if left: "scaling", "permissions", "work" or "other"."""
        return self.of.affects

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "why": self.why,
                "commands": list(self.commands), "affects": self.affects,
                "verify_all": self.of.verify_all}


def _q(*words: str) -> str:
    """A printed command (verify/shell_words.py): every word quoted to come back exact from a
    shell, and a flag's value attached to it (`--policy-name=--region`) when it looks like an
    option. A word after a `--flag` is its value, except after the flags that take none."""
    printed: list[Word] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("--") and word not in _FLAGS_WITHOUT_VALUE and index + 1 < len(words):
            printed.append((word, words[index + 1]))
            index += 2
        else:
            printed.append(word)
            index += 1
    return command(*printed)


# Flags the printed commands use that take no value (the next word is not theirs).
_FLAGS_WITHOUT_VALUE = {"--overwrite", "--with-decryption"}


class LookupFailed(Exception):
    """A lookup got no answer (a timeout, no connection, a response that does not parse):
    what it would have found is not known, so it is reported as not checked."""


def _try(call: Callable[[], Any], default: Any) -> Any:
    """The call's answer; `default` when AWS answers an error (no such role, no access)."""
    try:
        return call()
    except ClientError:
        return default
    except BotoCoreError as exc:
        raise LookupFailed(f"{type(exc).__name__}: {exc}") from None


def group_policies(client: Client, region: str, group: str, declared: set[str]) -> list[Leftover]:
    policies = _try(lambda: client("autoscaling").describe_policies(
        AutoScalingGroupName=group)["ScalingPolicies"], [])
    found = []
    for policy in policies:
        name = policy["PolicyName"]
        if name in declared:
            continue
        tracking = policy.get("TargetTrackingConfiguration")
        reads = f"target tracking on {tracking_summary(tracking)}" if tracking else \
            f"{policy.get('PolicyType', 'a policy')}"
        found.append(Leftover(
            kinds.SCALING_POLICY, f"{group}/{name}",
            f"a second policy on {group} ({reads}): target tracking scales out when any policy "
            "asks, so it fights the stack's",
            (_q("aws", "autoscaling", "delete-policy", "--auto-scaling-group-name", group,
                "--policy-name", name, "--region", region),)))
    return found


def stray_group(client: Client, region: str, group: str) -> list[Leftover]:
    groups = _try(lambda: client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group])["AutoScalingGroups"], [])
    if not groups:
        return []
    live = groups[0]
    policies = _try(lambda: client("autoscaling").describe_policies(
        AutoScalingGroupName=group)["ScalingPolicies"], [])
    # AWS deletes a group's policies with it; removing them first also leaves nothing behind
    # where they are not (an emulator keeps them), and is harmless where they are.
    commands = [_q("aws", "autoscaling", "delete-policy", "--auto-scaling-group-name", group,
                   "--policy-name", p["PolicyName"], "--region", region) for p in policies]
    commands += [
        _q("aws", "autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", group,
           "--min-size", "0", "--max-size", "0", "--desired-capacity", "0", "--region", region),
        _q("aws", "autoscaling", "delete-auto-scaling-group", "--auto-scaling-group-name",
           group, "--region", region)]
    return [Leftover(
        kinds.STRAY_GROUP, group,
        f"this worker type no longer runs as a fleet in this mode, but the group is there "
        f"(min {live.get('MinSize')}, desired {live.get('DesiredCapacity')}, "
        f"{len(policies)} polic(ies)); set it to 0 and delete it once its workers are idle",
        tuple(commands))]


def waiting_work(client: Client, region: str, queue_url: str, queue: str,
                 mode: str) -> list[Leftover]:
    """Messages in a retained queue that no fleet consumes in this mode: work, not litter."""
    attributes = _try(lambda: client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                            "ApproximateNumberOfMessagesNotVisible",
                                            "ApproximateNumberOfMessagesDelayed"]
    )["Attributes"], {})
    count = sum(int(attributes.get(k, 0) or 0) for k in (
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"))
    if not count:
        return []
    return [Leftover(
        kinds.WAITING_WORK, queue,
        f"{count} message(s) wait in {queue}, which no fleet consumes in {mode} mode: deploy "
        "the first up with videoDrain true, so the fleet stays and drains them (verify switch "
        "counts them), then set it back to false; never purge them unless they were resubmitted",
        (_q("pulumi", "config", "set", "videoDrain", "true"),))]


def role_extras(client: Client, region: str, role: str,
                declared_inline: set[str], declared_attached: set[str]) -> list[Leftover]:
    iam = client("iam")
    inline = _try(lambda: iam.list_role_policies(RoleName=role)["PolicyNames"], [])
    attached = _try(lambda: iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], [])
    found = [Leftover(
        kinds.INLINE_POLICY, f"{role}/{name}",
        f"an inline policy on {role} the stack does not declare: it keeps whatever it grants "
        "(the old role could set capacity and write SSM)",
        (_q("aws", "iam", "delete-role-policy", "--role-name", role, "--policy-name", name),),
        ) for name in inline if name not in declared_inline]
    found += [Leftover(
        kinds.ATTACHED_POLICY, f"{role}/{p['PolicyArn']}",
        f"a managed policy attached to {role} the stack does not declare",
        (_q("aws", "iam", "detach-role-policy", "--role-name", role, "--policy-arn",
            p["PolicyArn"]),),
        ) for p in attached if p["PolicyArn"] not in declared_attached]
    return found


def old_role(client: Client, role: str) -> list[Leftover]:
    """The publisher's previous role, which the function stops using after the first up."""
    iam = client("iam")
    inline = _try(lambda: iam.list_role_policies(RoleName=role)["PolicyNames"], [])
    attached = _try(lambda: iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], [])
    commands = [_q("aws", "iam", "delete-role-policy", "--role-name", role, "--policy-name", n)
                for n in inline]
    commands += [_q("aws", "iam", "detach-role-policy", "--role-name", role, "--policy-arn",
                    p["PolicyArn"]) for p in attached]
    commands.append(_q("aws", "iam", "delete-role", "--role-name", role))
    grants = f"{len(inline)} inline and {len(attached)} attached polic(ies)"
    return [Leftover(kinds.OLD_ROLE, role,
                     f"the publisher's old role ({grants}); after the first up the function "
                     "runs as the stack's role", tuple(commands))]


def unread_alarms(client: Client, region: str, namespaces: Iterable[str],
                  published: set[str], declared: set[str]) -> list[Leftover]:
    """Alarms on the platform's namespaces whose metric nobody publishes any more."""
    spaces = set(namespaces)
    alarms = _try(lambda: client("cloudwatch").describe_alarms()["MetricAlarms"], [])
    found = []
    for alarm in alarms:
        name = alarm["AlarmName"]
        if name in declared:
            continue
        reads = _alarm_metrics(alarm)
        ours = [m for m in reads if m.split("/", 1)[0] in {s.split("/", 1)[0] for s in spaces}
                and any(m.startswith(s + "/") for s in spaces)]
        stale = [m for m in ours if m not in published]
        if not stale:
            continue
        found.append(Leftover(
            kinds.ALARM, name,
            f"reads {', '.join(stale)}, which nothing publishes now ({alarm_summary(alarm)}); "
            "with no data it never fires, and an action it runs is no longer the stack's",
            (_q("aws", "cloudwatch", "delete-alarms", "--alarm-names", name, "--region", region),)))
    return found


def _alarm_metrics(alarm: dict) -> list[str]:
    if alarm.get("MetricName"):
        return [metric_summary(alarm)]
    return [metric_summary(q["MetricStat"]["Metric"]) for q in alarm.get("Metrics", [])
            if q.get("MetricStat")]


def other_schedules(client: Client, region: str, function_arn: str,
                    declared_rules: set[str]) -> list[Leftover]:
    events = client("events")
    rules = _try(lambda: events.list_rule_names_by_target(TargetArn=function_arn)["RuleNames"],
                 [])
    found = []
    for rule in rules:
        if rule in declared_rules:
            continue
        targets = _try(lambda r=rule: events.list_targets_by_rule(Rule=r)["Targets"], [])
        ids = [t["Id"] for t in targets if t.get("Arn") == function_arn]
        found.append(Leftover(
            kinds.SCHEDULE, rule,
            "another rule that invokes the publisher: it would run twice as often",
            schedule_removal(rule, ids, region)))
    return found


def schedule_removal(rule: str, target_ids: list[str], region: str) -> tuple[str, str]:
    """The commands that stop a rule invoking the publisher and delete it (verify all prints
    the same)."""
    return (" ".join([_q("aws", "events", "remove-targets", "--rule", rule),
                      *values("--ids", target_ids), _q("--region", region)]),
            _q("aws", "events", "delete-rule", "--name", rule, "--region", region))


def worker_parameters(client: Client, region: str, prefix: str, declared: set[str],
                      workers_env: str) -> list[Leftover]:
    ssm = client("ssm")
    path = f"/{prefix}/workers/"
    params = _try(lambda: ssm.get_parameters_by_path(
        Path=path, Recursive=True, WithDecryption=True)["Parameters"],
                  [])
    found = []
    for param in params:
        name = param["Name"]
        if name in declared:
            continue
        if name == workers_env:
            flags = _flags(param.get("Value", ""))
            if flags:
                found.append(_flag_cleanup(ssm, region, name, param.get("Type", "String"),
                                           flags))
            continue
        found.append(Leftover(
            kinds.PARAMETER, name,
            "written by the old scale-in logic or scripts; the stack neither writes nor reads it",
            (_q("aws", "ssm", "delete-parameter", "--name", name, "--region", region),)))
    return found


def _flags(value: str) -> list[str]:
    """The old flags set in an env text, as the shell reads a line: `FLAG=...`, `export FLAG=`
    and (as an old script wrote them) spaces around `=`."""
    present = []
    for line in value.splitlines():
        found = _FLAG_LINE.match(line)
        if found and found.group(1) not in present:
            present.append(found.group(1))
    return present


_FLAG_LINE = re.compile(rf"^\s*(?:export\s+)?({'|'.join(OLD_FLAGS)})\s*=")
# The same lines for `grep -E` (POSIX classes: busybox and BSD grep know no `\s`).
_FLAG_GREP = "^[[:space:]]*(export[[:space:]]+)?({flags})[[:space:]]*="


def _flag_cleanup(ssm: Any, region: str, name: str, kind: str, flags: list[str]) -> Leftover:
    """Rewrite the parameter without the flag lines: the decrypted value goes to a private
    temp file (mktemp: mode 600) removed at the end, never to the working directory, and a
    SecureString keeps its KMS key."""
    key = _parameter_key(ssm, name) if kind == "SecureString" else None
    pattern = _FLAG_GREP.format(flags="|".join(flags))
    put = ["aws", "ssm", "put-parameter", "--name", name, "--overwrite", "--type", kind]
    if key:
        put += ["--key-id", key]
    put += ["--value", CliFile("file:///dev/stdin"), "--region", region]
    get = _q("aws", "ssm", "get-parameter", "--name", name, "--with-decryption", "--query",
             "Parameter.Value", "--output", "text", "--region", region)
    # `--output text` ends the value with one newline it did not have: the kept lines are
    # read with a sentinel (so `$(...)` strips nothing), and that one newline taken off before
    # the value goes back through stdin (printf is the shell's own: the value is in no argv).
    script = (f'f=$(mktemp) && {get} > "$f" && v=$(grep -v -E {quote(pattern)} "$f"; '
              f'printf x) && v=${{v%x}} && printf %s "${{v%?}}" | {_q(*put)}; rm -f "$f"')
    return Leftover(
        kinds.ENVIRONMENT_FLAG, f"{name}: {', '.join(flags)}",
        "flags of the old mode switch (incident #8); `videoMode` decides now, and nothing "
        "reads them: remove these lines from the workers' environment (the command keeps the "
        "other lines" + (f" and its KMS key {key}" if key else "") + ")",
        (script,))


def _parameter_key(ssm: Any, name: str) -> str | None:
    found = _try(lambda: ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"], [])
    return next((p.get("KeyId") for p in found if p.get("Name") == name and p.get("KeyId")),
                None)

"""Drift: what the first `pulumi up` after the import will change on an adopted resource.

Each compares one live attribute (as the AWS API returns it) with the program's declaration
mapped to the same API parameter by the registry (contract/aws_types.py), and says both. Only
attributes with a known meaning are compared (WATCH, and RULES for what needs a sentence): a
change is a sentence a person can act on, not a JSON diff.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jmespath
import pulumi

from contract.aws_types import aws_type
from verify.adopt.lookup import Live, numeric


@dataclass(frozen=True)
class Change:
    attribute: str
    live: Any
    declared: Any
    note: str = ""

    def sentence(self) -> str:
        text = f"{self.attribute}: {_show(self.live)} -> {_show(self.declared)}"
        return f"{text} ({self.note})" if self.note else text


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _last(arn: Any) -> Any:
    """A role by its name: the ARN's last segment (the program's ARN is known only after up)."""
    return str(arn).replace(":", "/").rsplit("/", 1)[-1] if arn else arn


def _same(live: Any, declared: Any) -> bool:
    return numeric(live) == numeric(declared) or str(numeric(live)) == str(numeric(declared))


def _compare(changes: list[Change], attribute: str, live: Any, declared: Any,
             note: str = "") -> None:
    if declared is not None and not _same(live, declared):
        changes.append(Change(attribute, numeric(live), numeric(declared), note))


def _policy_json(value: Any) -> Any:
    """IAM answers documents URL-encoded (or, in emulators, as objects)."""
    if isinstance(value, str):
        text = urllib.parse.unquote(value) if value.startswith("%7B") else value
        try:
            return json.loads(text)
        except ValueError:
            return text
    return value


def _get(data: dict, key: str) -> Any:
    """AWS answers PascalCase, the program declares camelCase."""
    return data.get(key, data.get(key[:1].lower() + key[1:]))


def metric_summary(metric: dict) -> str:
    """`Namespace/Name{K=V,...}` from an API metric or a declared one (camelCase)."""
    namespace = metric.get("Namespace") or metric.get("namespace") or ""
    name = metric.get("MetricName") or metric.get("metricName") or ""
    raw = metric.get("Dimensions") or metric.get("dimensions") or []
    if isinstance(raw, dict):
        pairs = sorted(raw.items())
    else:
        pairs = sorted((d.get("Name") or d.get("name"), d.get("Value") or d.get("value"))
                       for d in raw)
    dims = ",".join(f"{k}={v}" for k, v in pairs)
    return f"{namespace}/{name}" + (f"{{{dims}}}" if dims else "")


def tracking_summary(config: dict) -> str:
    """What a target-tracking policy reads and aims for, from the API or the declaration."""
    target = config.get("TargetValue", config.get("targetValue"))
    custom = (config.get("CustomizedMetricSpecification")
              or config.get("customizedMetricSpecification") or {})
    predefined = (config.get("PredefinedMetricSpecification")
                  or config.get("predefinedMetricSpecification"))
    if predefined:
        kind = predefined.get("PredefinedMetricType") or predefined.get("predefinedMetricType")
        return f"{kind}, target {numeric(target)}"
    queries = custom.get("Metrics") or custom.get("metrics")
    if queries:
        parts = []
        for q in queries:
            stat = q.get("MetricStat") or q.get("metricStat")
            if stat:
                parts.append(f"{q.get('Id') or q.get('id')}="
                             f"{metric_summary(stat.get('Metric') or stat.get('metric'))}")
            else:
                parts.append(f"{_get(q, 'Id')}={_get(q, 'Expression')}")
        return f"{'; '.join(parts)}, target {numeric(target)}"
    return f"{metric_summary(custom)}, target {numeric(target)}"


def alarm_summary(alarm: dict) -> str:
    queries = alarm.get("Metrics") or alarm.get("metricQueries")
    if queries:
        parts = []
        for q in queries:
            stat = q.get("MetricStat") or q.get("metric")
            if stat and (stat.get("Metric") or stat.get("metricName")):
                parts.append(f"{q.get('Id') or q.get('id')}="
                             f"{metric_summary(stat.get('Metric') or stat)}")
            else:
                parts.append(f"{_get(q, 'Id')}={_get(q, 'Expression')}")
        reads = "; ".join(parts)
    else:
        reads = metric_summary(alarm)
    threshold = alarm.get("Threshold", alarm.get("threshold"))
    return f"{reads} >= {numeric(threshold)}"


# ---- per type ----------------------------------------------------------------------------------
# The attributes compared as they are, by the API's own names: the declaration mapped to the
# API request by the registry, the live answer as the lookup read it; no Pulumi input spelled.

WATCH: dict[str, tuple[str, ...]] = {
    "aws:sqs/queue:Queue": ("VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled"),
    "aws:autoscaling/group:Group": ("MinSize", "MaxSize"),
    "aws:autoscaling/lifecycleHook:LifecycleHook": ("HeartbeatTimeout", "DefaultResult"),
    "aws:autoscaling/policy:Policy": ("PolicyType", "ScalingAdjustment", "AdjustmentType"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("ComparisonOperator",),
    "aws:cloudwatch/eventRule:EventRule": ("ScheduleExpression", "State"),
    "aws:lambda/function:Function": ("Runtime", "Handler", "Timeout", "MemorySize",
                                     "Architectures"),
    "aws:ssm/parameter:Parameter": ("Type",),
    "aws:batch/computeEnvironment:ComputeEnvironment": (
        "computeResources.maxvCpus", "computeResources.minvCpus", "state"),
    "aws:batch/jobQueue:JobQueue": ("priority", "state"),
    "aws:batch/jobDefinition:JobDefinition": (
        "containerProperties.image", "timeout.attemptDurationSeconds", "retryStrategy.attempts"),
}
REQUEST_PREFIX = {"aws:sqs/queue:Queue": "Attributes."}  # SQS takes them as one map
DEFAULTS = {"VisibilityTimeout": 30, "MessageRetentionPeriod": 345600}  # the provider's
LIVE_DEFAULTS = {"Architectures": ["x86_64"], "SqsManagedSseEnabled": "false"}  # none said
LABELS = {"containerProperties.image": "image", "timeout.attemptDurationSeconds": "timeout"}
NOTES = {"aws:batch/jobDefinition:JobDefinition": "a new revision"}


def _watched(typ: str, live: Live, d: dict) -> list[Change]:
    known = aws_type(typ)
    if known is None or typ not in WATCH:
        return []
    request = known.request(known.create, {k: v for k, v in d.items()
                                           if not isinstance(v, pulumi.Archive)})
    out: list[Change] = []
    for path in WATCH[typ]:
        declared = jmespath.search(REQUEST_PREFIX.get(typ, "") + path, request)
        found = jmespath.search(path, live.attributes)
        _compare(out, LABELS.get(path, path.rsplit(".", 1)[-1]),
                 LIVE_DEFAULTS.get(path) if found is None else found,
                 DEFAULTS.get(path) if declared is None else declared, NOTES.get(typ, ""))
    return out


def _queue(live: Live, d: dict) -> list[Change]:
    a, out = live.attributes, []
    declared = json.loads(d["redrivePolicy"]) if d.get("redrivePolicy") else None
    live_redrive = json.loads(a["RedrivePolicy"]) if a.get("RedrivePolicy") else None

    def show(p: dict | None) -> str | None:
        if not p:
            return None
        target = str(p.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1]
        return f"{target} after {numeric(p.get('maxReceiveCount'))}"

    if declared and show(live_redrive) != show(declared):
        out.append(Change("RedrivePolicy", show(live_redrive), show(declared)))
    return out


def _role(live: Live, d: dict) -> list[Change]:
    live_doc = _policy_json(live.attributes.get("AssumeRolePolicyDocument"))
    declared = _policy_json(d.get("assumeRolePolicy"))
    if declared is not None and live_doc != declared:
        return [Change("AssumeRolePolicyDocument", "the old trust policy", "the program's",
                       "who may assume the role")]
    return []


def _group(live: Live, d: dict) -> list[Change]:
    a, out = live.attributes, []
    if a.get("LaunchConfigurationName"):
        out.append(Change("launch", f"launch configuration {a['LaunchConfigurationName']}",
                          "the stack's launch template"))
    live_template = jmespath.search(
        "LaunchTemplate.LaunchTemplateName || MixedInstancesPolicy.LaunchTemplate."
        "LaunchTemplateSpecification.LaunchTemplateName", a)
    spec = d.get("launchTemplate") or jmespath.search(
        "mixedInstancesPolicy.launchTemplate.launchTemplateSpecification", d) or {}
    value = spec.get("name") or spec.get("launchTemplateName") or spec.get("id") or \
        spec.get("launchTemplateId")  # under the evaluator the template's id is its name
    declared = str(value) if value and not str(value).startswith("lt-") else None
    if live_template and declared and live_template != declared:
        out.append(Change("launch template", live_template, declared,
                          "new instances start from the stack's template"))
    live_metrics = sorted(m.get("Metric") for m in a.get("EnabledMetrics", []))
    declared_metrics = sorted(d.get("enabledMetrics") or [])
    if declared_metrics and live_metrics != declared_metrics:
        out.append(Change("EnabledMetrics", live_metrics or None, declared_metrics,
                          "backlog per instance divides by GroupInServiceInstances"))
    return out


def _policy(live: Live, d: dict) -> list[Change]:
    declared_tt = d.get("targetTrackingConfiguration")
    if declared_tt:
        was = tracking_summary(live.attributes.get("TargetTrackingConfiguration") or {})
        now = tracking_summary(declared_tt)
        if was != now:
            return [Change("target tracking", was, now)]
    return []


def _alarm(live: Live, d: dict) -> list[Change]:
    was, now = alarm_summary(live.attributes), alarm_summary(d)
    return [Change("reads", was, now)] if was != now else []


def _function(live: Live, d: dict) -> list[Change]:
    a, out = live.attributes, []
    _compare(out, "Role", _last(a.get("Role")), _last(d.get("role")))
    if d.get("sourceCodeHash") and a.get("CodeSha256") != d["sourceCodeHash"]:
        out.append(Change("CodeSha256", a.get("CodeSha256"), d["sourceCodeHash"],
                          "the stack's archive of lambda/queue_depth replaces the code"))
    live_env = (a.get("Environment") or {}).get("Variables") or {}
    declared_env = (d.get("environment") or {}).get("variables") or {}
    removed = sorted(set(live_env) - set(declared_env))
    added = sorted(set(declared_env) - set(live_env))
    changed = sorted(k for k in set(live_env) & set(declared_env)
                     if live_env[k] != declared_env[k])
    # Names only: an old environment may hold secrets (a key pasted into it).
    if removed:
        out.append(Change("environment removed", removed, None))
    if added:
        out.append(Change("environment added", None, added))
    if changed:
        out.append(Change("environment changed", changed, changed, "new values"))
    return out


def _log_group(live: Live, d: dict) -> list[Change]:
    out: list[Change] = []  # retention is its own call (PutRetentionPolicy), not the create's
    _compare(out, "retentionInDays", live.attributes.get("retentionInDays"),
             d.get("retentionInDays"))
    return out


def _parameter(live: Live, d: dict) -> list[Change]:
    if d.get("value") is None:
        return []
    return [Change("Value", "(not read)", "the stack's secret",
                   "the program's value replaces the old one")]


def _document(live: Live, d: dict) -> list[Change]:
    content = d.get("content")
    if content is None:
        return []
    declared_hash = hashlib.sha256(str(content).encode()).hexdigest()
    if live.attributes.get("Hash") and live.attributes["Hash"] != declared_hash:
        return [Change("Content", f"sha256 {live.attributes['Hash'][:12]}",
                       f"sha256 {declared_hash[:12]}", "a new document version")]
    return []


def _compute_environment(live: Live, d: dict) -> list[Change]:
    a = live.attributes.get("computeResources") or {}
    r = d.get("computeResources") or {}
    if r.get("instanceTypes") and sorted(a.get("instanceTypes", [])) != sorted(r["instanceTypes"]):
        return [Change("instanceTypes", sorted(a.get("instanceTypes", [])),
                       sorted(r["instanceTypes"]))]
    return []


def _job_queue(live: Live, d: dict) -> list[Change]:
    declared_timeouts = d.get("jobStateTimeLimitActions") or []
    if declared_timeouts and not live.attributes.get("jobStateTimeLimitActions"):
        return [Change("jobStateTimeLimitActions", None,
                       f"{len(declared_timeouts)} RUNNABLE cancel actions")]
    return []


# What a comparison of values cannot say in a sentence a person acts on.
RULES: dict[str, Callable[[Live, dict], list[Change]]] = {
    "aws:sqs/queue:Queue": _queue,
    "aws:iam/role:Role": _role,
    "aws:autoscaling/group:Group": _group,
    "aws:autoscaling/policy:Policy": _policy,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:lambda/function:Function": _function,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:ssm/parameter:Parameter": _parameter,
    "aws:ssm/document:Document": _document,
    "aws:batch/computeEnvironment:ComputeEnvironment": _compute_environment,
    "aws:batch/jobQueue:JobQueue": _job_queue,
}


def drift(typ: str, live: Live, declared_inputs: dict) -> list[Change]:
    rule = RULES.get(typ)
    return _watched(typ, live, declared_inputs) + (rule(live, declared_inputs) if rule else [])

"""Drift: what the first `pulumi up` after the import will change on an adopted resource.

Each rule compares one live attribute (as the AWS API returns it) with the program's declared
input, and says both. Only attributes with a known meaning are compared: a rule is a sentence a
person can act on, not a JSON diff.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def _queue(live: Live, d: dict, ctx: dict) -> list[Change]:
    a, out = live.attributes, []
    _compare(out, "VisibilityTimeout", a.get("VisibilityTimeout"),
             d.get("visibilityTimeoutSeconds", 30))
    _compare(out, "MessageRetentionPeriod", a.get("MessageRetentionPeriod"),
             d.get("messageRetentionSeconds", 345600))
    if "sqsManagedSseEnabled" in d:
        _compare(out, "SqsManagedSseEnabled", a.get("SqsManagedSseEnabled", "false"),
                 str(bool(d["sqsManagedSseEnabled"])).lower())
    declared = json.loads(d["redrivePolicy"]) if d.get("redrivePolicy") else None
    live_redrive = json.loads(a["RedrivePolicy"]) if a.get("RedrivePolicy") else None
    if declared and live_redrive != declared:
        def show(p: dict | None) -> str | None:
            if not p:
                return None
            target = str(p.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1]
            return f"{target} after {numeric(p.get('maxReceiveCount'))}"
        if show(live_redrive) != show(declared):
            out.append(Change("RedrivePolicy", show(live_redrive), show(declared)))
    return out


def _role(live: Live, d: dict, ctx: dict) -> list[Change]:
    live_doc = _policy_json(live.attributes.get("AssumeRolePolicyDocument"))
    declared = _policy_json(d.get("assumeRolePolicy"))
    if declared is not None and live_doc != declared:
        return [Change("AssumeRolePolicyDocument", "the old trust policy", "the program's",
                       "who may assume the role")]
    return []


def _group(live: Live, d: dict, ctx: dict) -> list[Change]:
    a, out = live.attributes, []
    _compare(out, "MinSize", a.get("MinSize"), d.get("minSize"))
    _compare(out, "MaxSize", a.get("MaxSize"), d.get("maxSize"))
    if a.get("LaunchConfigurationName"):
        out.append(Change("launch", f"launch configuration {a['LaunchConfigurationName']}",
                          "the stack's launch template"))
    live_template = _template_name(a)
    declared_template = _declared_template(d)
    if live_template and declared_template and live_template != declared_template:
        out.append(Change("launch template", live_template, declared_template,
                          "new instances start from the stack's template"))
    live_metrics = sorted(m.get("Metric") for m in a.get("EnabledMetrics", []))
    declared_metrics = sorted(d.get("enabledMetrics") or [])
    if declared_metrics and live_metrics != declared_metrics:
        out.append(Change("EnabledMetrics", live_metrics or None, declared_metrics,
                          "backlog per instance divides by GroupInServiceInstances"))
    return out


def _template_name(group: dict) -> str | None:
    spec = group.get("LaunchTemplate") or (
        ((group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {})
        .get("LaunchTemplateSpecification")) or {}
    return spec.get("LaunchTemplateName")


def _declared_template(d: dict) -> str | None:
    """The group's template as declared: under the evaluator the template's id is its name."""
    spec = d.get("launchTemplate") or (
        ((d.get("mixedInstancesPolicy") or {}).get("launchTemplate") or {})
        .get("launchTemplateSpecification")) or {}
    value = spec.get("name") or spec.get("launchTemplateName") or spec.get("id") or \
        spec.get("launchTemplateId")
    return str(value) if value and not str(value).startswith("lt-") else None


def _hook(live: Live, d: dict, ctx: dict) -> list[Change]:
    out: list[Change] = []
    _compare(out, "HeartbeatTimeout", live.attributes.get("HeartbeatTimeout"),
             d.get("heartbeatTimeout"))
    _compare(out, "DefaultResult", live.attributes.get("DefaultResult"), d.get("defaultResult"))
    return out


def _policy(live: Live, d: dict, ctx: dict) -> list[Change]:
    a, out = live.attributes, []
    _compare(out, "PolicyType", a.get("PolicyType"), d.get("policyType"))
    declared_tt = d.get("targetTrackingConfiguration")
    if declared_tt:
        was = tracking_summary(a.get("TargetTrackingConfiguration") or {})
        now = tracking_summary(declared_tt)
        if was != now:
            out.append(Change("target tracking", was, now))
    _compare(out, "ScalingAdjustment", a.get("ScalingAdjustment"), d.get("scalingAdjustment"))
    _compare(out, "AdjustmentType", a.get("AdjustmentType"), d.get("adjustmentType"))
    return out


def _alarm(live: Live, d: dict, ctx: dict) -> list[Change]:
    was, now = alarm_summary(live.attributes), alarm_summary(d)
    out = [Change("reads", was, now)] if was != now else []
    _compare(out, "ComparisonOperator", live.attributes.get("ComparisonOperator"),
             d.get("comparisonOperator"))
    return out


def _rule(live: Live, d: dict, ctx: dict) -> list[Change]:
    out: list[Change] = []
    _compare(out, "ScheduleExpression", live.attributes.get("ScheduleExpression"),
             d.get("scheduleExpression"))
    _compare(out, "State", live.attributes.get("State"), d.get("state"))
    return out


def _function(live: Live, d: dict, ctx: dict) -> list[Change]:
    a, out = live.attributes, []
    for attribute, key in (("Runtime", "runtime"), ("Handler", "handler"),
                           ("Timeout", "timeout"), ("MemorySize", "memorySize")):
        _compare(out, attribute, a.get(attribute), d.get(key))
    _compare(out, "Role", _last(a.get("Role")), _last(d.get("role")))
    _compare(out, "Architectures", a.get("Architectures", ["x86_64"]), d.get("architectures"))
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


def _log_group(live: Live, d: dict, ctx: dict) -> list[Change]:
    out: list[Change] = []
    _compare(out, "retentionInDays", live.attributes.get("retentionInDays"),
             d.get("retentionInDays"))
    return out


def _parameter(live: Live, d: dict, ctx: dict) -> list[Change]:
    out: list[Change] = []
    _compare(out, "Type", live.attributes.get("Type"), d.get("type"))
    if d.get("value") is not None:
        out.append(Change("Value", "(not read)", "the stack's secret",
                          "the program's value replaces the old one"))
    return out


def _document(live: Live, d: dict, ctx: dict) -> list[Change]:
    import hashlib

    content = d.get("content")
    if content is None:
        return []
    declared_hash = hashlib.sha256(str(content).encode()).hexdigest()
    if live.attributes.get("Hash") and live.attributes["Hash"] != declared_hash:
        return [Change("Content", f"sha256 {live.attributes['Hash'][:12]}",
                       f"sha256 {declared_hash[:12]}", "a new document version")]
    return []


def _compute_environment(live: Live, d: dict, ctx: dict) -> list[Change]:
    a, out = live.attributes.get("computeResources") or {}, []
    r = d.get("computeResources") or {}
    _compare(out, "maxvCpus", a.get("maxvCpus"), r.get("maxVcpus"))
    _compare(out, "minvCpus", a.get("minvCpus"), r.get("minVcpus"))
    if r.get("instanceTypes") and sorted(a.get("instanceTypes", [])) != sorted(r["instanceTypes"]):
        out.append(Change("instanceTypes", sorted(a.get("instanceTypes", [])),
                          sorted(r["instanceTypes"])))
    _compare(out, "state", live.attributes.get("state"), d.get("state"))
    return out


def _job_queue(live: Live, d: dict, ctx: dict) -> list[Change]:
    out: list[Change] = []
    _compare(out, "priority", live.attributes.get("priority"), d.get("priority"))
    _compare(out, "state", live.attributes.get("state"), d.get("state"))
    declared_timeouts = d.get("jobStateTimeLimitActions") or []
    if declared_timeouts and not live.attributes.get("jobStateTimeLimitActions"):
        out.append(Change("jobStateTimeLimitActions", None,
                          f"{len(declared_timeouts)} RUNNABLE cancel actions"))
    return out


def _job_definition(live: Live, d: dict, ctx: dict) -> list[Change]:
    a, out = live.attributes, []
    container = a.get("containerProperties") or {}
    declared = json.loads(d["containerProperties"]) if d.get("containerProperties") else {}
    _compare(out, "image", container.get("image"), declared.get("image"),
             "a new revision")
    _compare(out, "timeout", (a.get("timeout") or {}).get("attemptDurationSeconds"),
             (d.get("timeout") or {}).get("attemptDurationSeconds"), "a new revision")
    _compare(out, "retryStrategy.attempts", (a.get("retryStrategy") or {}).get("attempts"),
             (d.get("retryStrategy") or {}).get("attempts"), "a new revision")
    return out


RULES: dict[str, Callable[[Live, dict, dict], list[Change]]] = {
    "aws:sqs/queue:Queue": _queue,
    "aws:iam/role:Role": _role,
    "aws:autoscaling/group:Group": _group,
    "aws:autoscaling/lifecycleHook:LifecycleHook": _hook,
    "aws:autoscaling/policy:Policy": _policy,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/eventRule:EventRule": _rule,
    "aws:lambda/function:Function": _function,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:ssm/parameter:Parameter": _parameter,
    "aws:ssm/document:Document": _document,
    "aws:batch/computeEnvironment:ComputeEnvironment": _compute_environment,
    "aws:batch/jobQueue:JobQueue": _job_queue,
    "aws:batch/jobDefinition:JobDefinition": _job_definition,
}


def drift(typ: str, live: Live, declared_inputs: dict) -> list[Change]:
    rule = RULES.get(typ)
    return rule(live, declared_inputs, {}) if rule else []

"""`break FAULT` reproduces a seed incident in the running sandbox; `heal` undoes them all.

Each fault changes the running system the way it went wrong for the users (a hand-edited
nginx, a policy edited in the console, a deploy that did not update the code, a publisher
that cannot reach the API) and remembers what it changed in `.sandbox/faults.json`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from contract.lambda_archive import build_archive
from contract.nginx_config import INTERNAL_KEY_HEADER
from sandbox.deployer import deployment
from sandbox.ports import free_port
from sandbox.processes import ProcessRegistry
from sandbox.services.nginx_server import wait_workers_replaced, worker_pids
from sandbox.stack import (
    SandboxError,
    aws_client,
    aws_env,
    load_info,
    load_outputs,
    ssh_endpoint,
)
from sandbox.state import PROJECT_ROOT, SandboxState, sandbox_state

# The metric name the users' policy read at one point while the publisher published another.
MISMATCHED_METRIC_NAME = "VideoQueueDepthTotal"


def _faults_file(state: SandboxState) -> Path:
    return state.root / "faults.json"


def _load(state: SandboxState) -> dict[str, Any]:
    path = _faults_file(state)
    return json.loads(path.read_text()) if path.exists() else {}


def _save(state: SandboxState, faults: Mapping[str, Any]) -> None:
    deployment.write_json(_faults_file(state), dict(faults))


# ---- strip-internal-key: the proxy drops X-Internal-Key (incident #5) -----------------------


def _strip_internal_key(state: SandboxState, outputs: Mapping[str, Any]) -> dict[str, Any]:
    info = load_info(state)
    site = Path(info["nginx"]["site"])
    text = site.read_text()
    broken = "\n".join(line for line in text.splitlines()
                       if f"proxy_set_header {INTERNAL_KEY_HEADER} " not in line) + "\n"
    with _reloaded(state):
        site.write_text(broken)  # a hand edit on the host, as in the incident
        _run(info["nginx"]["reload_command"])
    return {}


def _heal_strip_internal_key(state: SandboxState, outputs: Mapping[str, Any], _: Any) -> None:
    info = load_info(state)
    with _reloaded(state):
        result = deployment.deliver(aws_env(state), outputs, ssh_endpoint(info))  # re-deliver
    if result.rc != 0:
        raise SandboxError(f"re-delivering the nginx config failed: {result.stderr.strip()}")


@contextlib.contextmanager
def _reloaded(state: SandboxState) -> Iterator[None]:
    """Returns once nginx serves only the new config (its old workers have exited)."""
    master = ProcessRegistry(state.pids_file).load()["nginx"].pid
    old = worker_pids(master)
    yield
    if not wait_workers_replaced(master, old):
        raise SandboxError("nginx did not replace its workers within 10s after the reload")


def _run(command: str) -> None:
    done = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)  # noqa: S602
    if done.returncode != 0:
        raise SandboxError(f"`{command}` failed: {done.stderr.strip()}")


# ---- metric-mismatch: a policy reads another metric than the publisher publishes (#1) ------


def _incident_type(types: Mapping[str, Mapping[str, Any]]) -> str:
    """The type the seeds' incidents happened to, by what it is: the one whose backlog is
    counted through the API (video in production), else the first listed."""
    return next((wt for wt, s in types.items() if s["backlog_source"] == "api"), next(iter(types)))


def _fleet_for_mismatch(outputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    fleets = {wt: s for wt, s in outputs["academy"]["worker_types"].items() if s["fleet"]}
    wt = _incident_type(fleets)
    return wt, fleets[wt]


def _policy(autoscaling: Any, group: str, name: str) -> dict[str, Any]:
    policies = autoscaling.describe_policies(AutoScalingGroupName=group, PolicyNames=[name])
    if not policies["ScalingPolicies"]:
        raise SandboxError(f"scaling policy {name} of {group} not found in the emulator")
    return policies["ScalingPolicies"][0]


def _put_policy(autoscaling: Any, policy: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    kwargs: dict[str, Any] = {
        "AutoScalingGroupName": policy["AutoScalingGroupName"],
        "PolicyName": policy["PolicyName"],
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingConfiguration": dict(config),
    }
    if policy.get("EstimatedInstanceWarmup") is not None:
        kwargs["EstimatedInstanceWarmup"] = policy["EstimatedInstanceWarmup"]
    autoscaling.put_scaling_policy(**kwargs)


def _metric_mismatch(state: SandboxState, outputs: Mapping[str, Any]) -> dict[str, Any]:
    wt, spec = _fleet_for_mismatch(outputs)
    autoscaling = aws_client(state, "autoscaling")
    policy = _policy(autoscaling, spec["fleet"]["group_name"], spec["fleet"]["policy_name"])
    original = policy["TargetTrackingConfiguration"]
    broken = copy.deepcopy(original)
    for query in broken["CustomizedMetricSpecification"]["Metrics"]:
        metric = query.get("MetricStat", {}).get("Metric", {})
        if metric.get("MetricName") == spec["metric"]["name"]:
            metric["MetricName"] = MISMATCHED_METRIC_NAME
    _put_policy(autoscaling, policy, broken)
    return {"worker_type": wt, "policy": {k: policy.get(k) for k in (
        "AutoScalingGroupName", "PolicyName", "EstimatedInstanceWarmup")}, "original": original}


def _heal_metric_mismatch(state: SandboxState, _: Mapping[str, Any], saved: Any) -> None:
    _put_policy(aws_client(state, "autoscaling"), saved["policy"], saved["original"])


# ---- legacy-policy: the seeds' own policy left beside the stack's (#1, #8) -----------------

# The users' policy as the seeds describe it: target tracking on the *total* queue depth.
LEGACY_POLICY_NAME = "video-backlogcount-tt"
LEGACY_METRIC = {"namespace": "Academy/VideoProcessing", "name": "VideoQueueDepthTotal"}


def _legacy_policy(state: SandboxState, outputs: Mapping[str, Any]) -> dict[str, Any]:
    _, spec = _fleet_for_mismatch(outputs)
    group = spec["fleet"]["group_name"]
    label = spec["label"]
    aws_client(state, "autoscaling").put_scaling_policy(
        AutoScalingGroupName=group, PolicyName=LEGACY_POLICY_NAME,
        PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
            "CustomizedMetricSpecification": {
                "Namespace": LEGACY_METRIC["namespace"], "MetricName": LEGACY_METRIC["name"],
                "Dimensions": [{"Name": "WorkerType", "Value": label},
                               {"Name": "AutoScalingGroupName", "Value": group}],
                "Statistic": "Average"},
            "TargetValue": 1.0})
    return {"group": group}


def _heal_legacy_policy(state: SandboxState, _: Mapping[str, Any], saved: Any) -> None:
    aws_client(state, "autoscaling").delete_policy(AutoScalingGroupName=saved["group"],
                                                   PolicyName=LEGACY_POLICY_NAME)


# ---- wake-alarm-drift: the wake-from-zero alarm re-pointed at the total metric --------------


def _wake_alarm_drift(state: SandboxState, outputs: Mapping[str, Any]) -> dict[str, Any]:
    woken = {wt: s for wt, s in outputs["academy"]["worker_types"].items()
             if s["fleet"] and s["fleet"].get("wake")}
    if not woken:
        raise SandboxError("wake-alarm-drift needs a fleet that wakes from zero: no fleet of "
                           "this stack has one (the production type on Batch does in asg mode: "
                           "`python -m sandbox up --mode asg`)")
    name = woken[_incident_type(woken)]["fleet"]["wake"]["alarm_name"]
    cloudwatch = aws_client(state, "cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    broken = copy.deepcopy(alarm["Metrics"])
    for query in broken:
        metric = query.get("MetricStat", {}).get("Metric", {})
        if metric.get("Namespace") != "AWS/AutoScaling":
            metric["MetricName"] = MISMATCHED_METRIC_NAME
    _put_alarm(cloudwatch, alarm, broken)
    return {"alarm": {k: alarm.get(k) for k in _ALARM_KEYS}, "metrics": alarm["Metrics"]}


# What put_metric_alarm needs back of a metric-math alarm (describe_alarms' names).
_ALARM_KEYS = ("AlarmName", "AlarmDescription", "AlarmActions", "EvaluationPeriods",
               "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData")


def _put_alarm(cloudwatch: Any, alarm: Mapping[str, Any], metrics: list[dict[str, Any]]) -> None:
    kwargs = {k: alarm[k] for k in _ALARM_KEYS if alarm.get(k) is not None}
    cloudwatch.put_metric_alarm(**kwargs, Metrics=metrics)


def _heal_wake_alarm_drift(state: SandboxState, _: Mapping[str, Any], saved: Any) -> None:
    _put_alarm(aws_client(state, "cloudwatch"), saved["alarm"], saved["metrics"])


# ---- stale-publisher: the deployed code is not the source's (#6) ---------------------------


def stale_archive(source_dir: Path) -> bytes:
    """The source's archive as an older build: same handler, one line different."""
    fresh = zipfile.ZipFile(io.BytesIO(build_archive(source_dir)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as stale:
        for item in fresh.infolist():
            data = fresh.read(item)
            if item.filename == "lambda_function.py":
                data += b"\n# build of an earlier commit: not what the source holds now\n"
            stale.writestr(item, data)
    return buffer.getvalue()


def _source_dir(outputs: Mapping[str, Any]) -> Path:
    return PROJECT_ROOT / outputs["academy"]["publisher"]["source_dir"]


def _stale_publisher(state: SandboxState, outputs: Mapping[str, Any]) -> dict[str, Any]:
    function = outputs["academy"]["publisher"]["function_name"]
    aws_client(state, "lambda").update_function_code(
        FunctionName=function, ZipFile=stale_archive(_source_dir(outputs)))
    return {"function": function}


def _heal_stale_publisher(state: SandboxState, outputs: Mapping[str, Any], saved: Any) -> None:
    aws_client(state, "lambda").update_function_code(
        FunctionName=saved["function"], ZipFile=build_archive(_source_dir(outputs)))


# ---- backlog-drift: the publisher cannot reach the API and falls back to SQS (#2, #5) -------


def _backlog_drift(state: SandboxState, outputs: Mapping[str, Any]) -> dict[str, Any]:
    from_api = [wt for wt, s in outputs["academy"]["worker_types"].items()
                if s["backlog_api"] and s["published"]]
    if not from_api:
        raise SandboxError("backlog-drift needs a published type whose backlog is counted "
                           "through the API: in batch mode that type runs on Batch and is not "
                           "published; in asg mode it is (`python -m sandbox up --mode asg`)")
    function = outputs["academy"]["publisher"]["function_name"]
    client = aws_client(state, "lambda")
    variables = client.get_function_configuration(FunctionName=function)["Environment"][
        "Variables"]
    unreachable = dict(variables, BACKLOG_API_BASE_URL=f"http://127.0.0.1:{free_port()}")
    client.update_function_configuration(FunctionName=function,
                                         Environment={"Variables": unreachable})
    return {"function": function, "base_url": variables["BACKLOG_API_BASE_URL"]}


def _heal_backlog_drift(state: SandboxState, _: Mapping[str, Any], saved: Any) -> None:
    client = aws_client(state, "lambda")
    variables = client.get_function_configuration(FunctionName=saved["function"])[
        "Environment"]["Variables"]
    variables["BACKLOG_API_BASE_URL"] = saved["base_url"]
    client.update_function_configuration(FunctionName=saved["function"],
                                         Environment={"Variables": variables})


Breaker = Callable[[SandboxState, Mapping[str, Any]], dict[str, Any]]
Healer = Callable[[SandboxState, Mapping[str, Any], Any], None]
FAULTS: Mapping[str, tuple[Breaker, Healer, str]] = {
    "strip-internal-key": (_strip_internal_key, _heal_strip_internal_key,
                           "nginx drops X-Internal-Key on the public path (403 there, 200 on "
                           "the host)"),
    "metric-mismatch": (_metric_mismatch, _heal_metric_mismatch,
                        "a fleet's scaling policy reads another metric than is published"),
    "legacy-policy": (_legacy_policy, _heal_legacy_policy,
                      "the seeds' video-backlogcount-tt (total VideoQueueDepthTotal, target 1) "
                      "sits beside the stack's policy on a fleet group"),
    "wake-alarm-drift": (_wake_alarm_drift, _heal_wake_alarm_drift,
                         "the wake-from-zero alarm reads VideoQueueDepthTotal, which nothing "
                         "publishes: a group at 0 never wakes"),
    "stale-publisher": (_stale_publisher, _heal_stale_publisher,
                        "the deployed function's code differs from the source"),
    "backlog-drift": (_backlog_drift, _heal_backlog_drift,
                      "the publisher cannot reach the API, falls back to SQS and disagrees "
                      "with the DB"),
}


def break_fault(fault: str, state_dir: Path | None = None) -> str:
    if fault not in FAULTS:
        raise SandboxError(f"unknown fault {fault!r}: expected one of {', '.join(FAULTS)}")
    state = sandbox_state(state_dir)
    outputs = load_outputs(state)
    faults = _load(state)
    if fault in faults:
        return f"{fault} is already in effect"
    faults[fault] = FAULTS[fault][0](state, outputs)
    _save(state, faults)
    return f"broke {fault}: {FAULTS[fault][2]}"


def heal(state_dir: Path | None = None) -> list[str]:
    state = sandbox_state(state_dir)
    outputs = load_outputs(state)
    faults = _load(state)
    healed = []
    for fault in reversed(list(faults)):
        FAULTS[fault][1](state, outputs, faults.pop(fault))
        _save(state, faults)
        healed.append(fault)
    return healed

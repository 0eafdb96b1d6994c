"""Worker fleets as declared by the real program: scaling policy, group, hook, template."""

from __future__ import annotations

import base64
import json

import pytest

from stack_settings.parse import parse_settings
from stack_settings.stack_files import REHEARSAL_VALUES, plain_settings, stack_config

GROUP = "aws:autoscaling/group:Group"
POLICY = "aws:autoscaling/policy:Policy"
HOOK = "aws:autoscaling/lifecycleHook:LifecycleHook"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTION = "aws:lambda/function:Function"


def _fleet_types(run) -> list[str]:
    return [wt for wt, e in run.academy["worker_types"].items() if e["fleet"] is not None]


def _settings(stack: str):
    return parse_settings(plain_settings(stack_config(stack, REHEARSAL_VALUES)), stack)


def _queries(policy) -> dict[str, dict]:
    spec = policy.inputs["targetTrackingConfiguration"]["customizedMetricSpecification"]
    return {q["id"]: q for q in spec["metrics"]}


def _publisher_targets(run) -> dict[str, dict]:
    (function,) = run.of_type(FUNCTION)
    targets = json.loads(function.inputs["environment"]["variables"]["BACKLOG_TARGETS"])
    return {t["worker_type"]: t for t in targets}


def test_fleets_are_exactly_the_published_worker_types(any_stack) -> None:
    # A fleet whose metric nobody publishes never scales (docs/INCIDENTS.md #1), and vice versa.
    assert sorted(_publisher_targets(any_stack)) == sorted(_fleet_types(any_stack))


def test_policy_reads_exactly_the_metric_its_worker_type_publishes(any_stack) -> None:
    settings = _settings(any_stack.stack)
    published = _publisher_targets(any_stack)
    for wt in _fleet_types(any_stack):
        spec = settings.workers[wt].metric
        group_name = settings.workers[wt].group_name
        policy = any_stack.one(POLICY, f"{wt}-fleet-backlog-per-instance")
        queries = _queries(policy)
        assert sorted(queries) == ["e1", "m1", "m2"]

        m1 = queries["m1"]["metricStat"]
        assert m1["metric"]["namespace"] == spec.namespace
        assert m1["metric"]["metricName"] == spec.name
        dims = {d["name"]: d["value"] for d in m1["metric"]["dimensions"]}
        assert dims == dict(spec.dimensions)
        assert m1["stat"] == spec.statistic == "Average"
        # ... and that is what the publisher is configured to publish and the output says.
        assert published[wt]["metric"] == {
            "namespace": m1["metric"]["namespace"], "name": m1["metric"]["metricName"],
            "dimensions": dims, "unit": spec.unit,
        }
        # The output adds how the policy reads it: verify judges capacity with that statistic.
        assert any_stack.academy["worker_types"][wt]["metric"] == {
            **published[wt]["metric"], "statistic": m1["stat"]}

        m2 = queries["m2"]["metricStat"]
        assert (m2["metric"]["namespace"], m2["metric"]["metricName"]) == (
            "AWS/AutoScaling", "GroupInServiceInstances"
        )
        assert m2["metric"]["dimensions"] == [
            {"name": "AutoScalingGroupName", "value": group_name}
        ]
        assert queries["e1"]["expression"].replace(" ", "") == "m1/m2"
        assert [q["id"] for q in queries.values() if q.get("returnData")] == ["e1"]


def test_policy_is_target_tracking_with_target_and_warmup_and_no_cooldown(any_stack) -> None:
    settings = _settings(any_stack.stack)
    for wt in _fleet_types(any_stack):
        worker = settings.workers[wt]
        policy = any_stack.one(POLICY, f"{wt}-fleet-backlog-per-instance")
        assert policy.inputs["policyType"] == "TargetTrackingScaling"
        assert policy.inputs["autoscalingGroupName"] == worker.group_name
        tracking = policy.inputs["targetTrackingConfiguration"]
        assert tracking["targetValue"] == worker.target_backlog_per_instance
        assert policy.inputs["estimatedInstanceWarmup"] == worker.instance_warmup_seconds
        assert not tracking.get("disableScaleIn")
        # EC2 target tracking has no cooldowns; none may be smuggled in anywhere.
        assert "cooldown" not in json.dumps(policy.inputs).lower()
        assert "predefinedMetricSpecification" not in tracking


def test_video_scales_one_instance_per_video_in_the_asg_example(prod_asg) -> None:
    policy = prod_asg.one(POLICY, "video-fleet-backlog-per-instance")
    assert policy.inputs["targetTrackingConfiguration"]["targetValue"] == 1


def test_group_collects_metrics_and_leaves_protection_to_workers(any_stack) -> None:
    settings = _settings(any_stack.stack)
    for wt in _fleet_types(any_stack):
        worker = settings.workers[wt]
        group = any_stack.one(GROUP, f"{wt}-fleet-group")
        assert group.inputs["name"] == worker.group_name
        assert "GroupInServiceInstances" in group.inputs["enabledMetrics"]
        assert group.inputs["metricsGranularity"] == "1Minute"
        assert group.inputs.get("protectFromScaleIn") is False
        assert (group.inputs["minSize"], group.inputs["maxSize"]) == (
            worker.min_size, worker.max_size
        )
        assert group.inputs["vpcZoneIdentifiers"] == list(settings.subnet_ids)
        assert "desiredCapacity" not in group.inputs  # scaling owns it, not each deploy


def test_termination_hook_holds_an_instance_for_its_job(any_stack) -> None:
    settings = _settings(any_stack.stack)
    for wt in _fleet_types(any_stack):
        worker = settings.workers[wt]
        hook = any_stack.one(HOOK, f"{wt}-fleet-terminating")
        assert hook.inputs["autoscalingGroupName"] == worker.group_name
        assert hook.inputs["lifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
        assert hook.inputs["heartbeatTimeout"] == min(worker.max_job_seconds, 7200)
        assert hook.inputs["defaultResult"] == "CONTINUE"


def test_launch_template_requires_imdsv2_and_tells_the_worker_its_queue(any_stack) -> None:
    settings = _settings(any_stack.stack)
    queues = {wt: e["queue"]["url"] for wt, e in any_stack.academy["worker_types"].items()}
    for wt in _fleet_types(any_stack):
        worker = settings.workers[wt]
        template = any_stack.one(TEMPLATE, f"{wt}-fleet-template")
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
        assert template.inputs["imageId"] == worker.image_id
        assert template.inputs["instanceType"] == worker.instance_types[0]
        assert template.inputs["vpcSecurityGroupIds"] == list(settings.security_group_ids)
        assert template.inputs["iamInstanceProfile"]["arn"].endswith(
            f"{worker.group_name}-profile"
        )
        script = base64.b64decode(template.inputs["userData"]).decode()
        assert f"ACADEMY_QUEUE_URL={queues[wt]}\n" in script
        assert f"ACADEMY_WORKER_TYPE={wt}\n" in script
        assert f"ACADEMY_GROUP_NAME={worker.group_name}\n" in script
        assert len(script) < 1024


def test_mixed_instances_only_with_more_than_one_type(prod_asg) -> None:
    video = prod_asg.one(GROUP, "video-fleet-group")  # two types in Pulumi.yaml
    overrides = video.inputs["mixedInstancesPolicy"]["launchTemplate"]["overrides"]
    assert [o["instanceType"] for o in overrides] == ["c7g.xlarge", "c6g.xlarge"]
    assert "launchTemplate" not in video.inputs
    ai = prod_asg.one(GROUP, "ai-fleet-group")  # one type
    assert "mixedInstancesPolicy" not in ai.inputs
    assert ai.inputs["launchTemplate"]["id"]


def test_wake_from_zero_alarm_starts_one_instance(prod_asg) -> None:
    alarm = prod_asg.one(ALARM, "video-fleet-wake-from-zero")
    policy = prod_asg.one(POLICY, "video-fleet-wake-from-zero")
    assert policy.inputs["policyType"] == "SimpleScaling"
    assert (policy.inputs["adjustmentType"], policy.inputs["scalingAdjustment"]) == (
        "ExactCapacity", 1
    )
    assert alarm.inputs["alarmActions"] == [policy.outputs["arn"]]
    assert alarm.inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm.inputs["threshold"] == 1
    assert (alarm.inputs["evaluationPeriods"], alarm.inputs["datapointsToAlarm"]) == (1, 1)
    assert alarm.inputs["treatMissingData"] == "notBreaching"
    queries = {q["id"]: q for q in alarm.inputs["metricQueries"]}
    assert queries["m1"]["metric"]["namespace"] == "Academy/VideoProcessing"
    assert queries["m1"]["metric"]["metricName"] == "BacklogCount"
    assert queries["m1"]["metric"]["dimensions"] == {"WorkerType": "Video"}
    assert queries["m2"]["metric"]["metricName"] == "GroupInServiceInstances"
    assert queries["m2"]["metric"]["dimensions"] == {
        "AutoScalingGroupName": "academy-video-worker-asg"
    }
    assert all(q["metric"]["period"] == 60 for q in (queries["m1"], queries["m2"]))
    assert "m1 > 0" in queries["e1"]["expression"] and "< 1" in queries["e1"]["expression"]
    assert [q["id"] for q in queries.values() if q.get("returnData")] == ["e1"]


def test_the_output_s_wake_block_is_the_deployed_alarm_and_policy(prod_asg) -> None:
    """verify compares the live alarm with this block: it must be what was deployed."""
    wake = prod_asg.academy["worker_types"]["video"]["fleet"]["wake"]
    alarm = prod_asg.one(ALARM, "video-fleet-wake-from-zero").inputs
    policy = prod_asg.one(POLICY, "video-fleet-wake-from-zero").inputs
    assert (alarm["name"], policy["name"]) == (wake["alarm_name"], wake["policy_name"])
    assert (alarm["threshold"], alarm["comparisonOperator"]) == (
        wake["threshold"], wake["comparison_operator"])
    assert [q["expression"] for q in alarm["metricQueries"] if q.get("returnData")] == [
        wake["expression"]]
    assert (policy["adjustmentType"], policy["scalingAdjustment"]) == (
        wake["adjustment_type"], wake["scaling_adjustment"])


def test_no_wake_alarm_where_the_fleet_never_reaches_zero(prod, prod_asg) -> None:
    for run in (prod, prod_asg):
        wake = {r.name for r in run.of_type(ALARM) if "wake" in r.name}
        assert wake == ({"video-fleet-wake-from-zero"} if run is prod_asg else set())


@pytest.mark.parametrize("stack", ["prod"])
def test_min_zero_with_wake_from_zero_is_deployable_for_ai(evaluate_stack, stack) -> None:
    run = evaluate_stack(stack, {"aiMinSize": 0, "aiWakeFromZero": True})
    assert run.one(GROUP, "ai-fleet-group").inputs["minSize"] == 0
    assert run.one(ALARM, "ai-fleet-wake-from-zero")
    assert run.academy["worker_types"]["ai"]["fleet"]["wake_from_zero"] is True

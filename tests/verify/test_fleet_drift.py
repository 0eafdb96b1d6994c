"""What the stack did not declare on a fleet group, or what drifted there, against a moto
server seeded by hand: a second scaling policy beside the stack's (the seeds' own
`video-backlogcount-tt`) and a re-pointed wake-from-zero alarm (issue 9, item 10)."""

from tests.verify.conftest import REGION, wake_alarm_metrics
from tests.verify.seeded_changes import LEGACY_POLICY, VIDEO_GROUP, put_legacy_policy
from verify.context import RunOptions
from verify.report import Status
from verify.suite import run_checks


def run(stack, check: str, **options) -> dict:
    settings = {"invoke": False, "timeout_s": 30.0, **options}
    report = run_checks(stack.typed(), [check], RunOptions(**settings), env=stack.env)
    return {result.target: result for result in report.checks}


def failures(results: dict) -> list:
    return [r for r in results.values() if r.status is Status.FAIL]


# -- a second policy on a fleet group ------------------------------------------------------

def test_a_healthy_group_holds_only_the_stack_s_policies(stack):
    results = run(stack, "scaling")
    policies = results.get(f"{VIDEO_GROUP} policies")
    assert policies is not None and policies.status is Status.PASS, results
    assert f"{VIDEO_GROUP}-backlog-per-instance" in policies.summary
    assert f"{VIDEO_GROUP}-wake-from-zero" in policies.summary


def test_the_legacy_policy_beside_the_stack_s_fails_naming_it_and_its_removal(stack):
    put_legacy_policy(stack)
    results = run(stack, "scaling")
    caught = [r for r in failures(results) if LEGACY_POLICY in r.summary]
    assert caught, results
    result = caught[0]
    assert "VideoQueueDepthTotal" in result.summary and "TargetValue 1" in result.summary
    assert "not the stack's" in result.summary
    assert (f"aws autoscaling delete-policy --auto-scaling-group-name {VIDEO_GROUP} "
            f"--policy-name {LEGACY_POLICY} --region {REGION}") in result.hint
    # The stack's own policy is still right: the other group and the policy itself pass.
    assert results[VIDEO_GROUP].status is Status.PASS
    assert results["academy-ai-worker-asg policies"].status is Status.PASS


def test_a_wake_policy_the_stack_did_not_declare_is_foreign(stack):
    stack.outputs["worker_types"]["ai"]["fleet"].update(wake_from_zero=False, wake=None)
    result = run(stack, "scaling")["academy-ai-worker-asg policies"]
    assert result.status is Status.FAIL
    assert "academy-ai-worker-asg-wake-from-zero (SimpleScaling" in result.summary
    assert "--policy-name academy-ai-worker-asg-wake-from-zero" in result.hint


# -- the wake-from-zero alarm ---------------------------------------------------------------

def _alarm(stack, group: str = VIDEO_GROUP) -> dict:
    name = stack.outputs["worker_types"]["video"]["fleet"]["wake"]["alarm_name"]
    return stack.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def _put_alarm(stack, alarm: dict, **changes) -> None:
    keys = ("AlarmName", "AlarmActions", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
            "ComparisonOperator", "TreatMissingData", "Metrics")
    kwargs = {k: alarm[k] for k in keys if alarm.get(k) is not None}
    kwargs.update(changes)
    stack.client("cloudwatch").put_metric_alarm(**{k: v for k, v in kwargs.items()
                                                   if v is not None})


def _wake_result(results: dict):
    return results.get(f"{VIDEO_GROUP}-wake-from-zero (alarm)")


def test_the_stack_s_wake_alarm_passes(stack):
    result = _wake_result(run(stack, "scaling"))
    assert result is not None and result.status is Status.PASS, result
    assert "IF(m1 > 0 AND FILL(m2, 0) < 1, 1, 0) >= 1" in result.summary
    assert "BacklogCount" in result.summary and f"{VIDEO_GROUP}-wake-from-zero" in result.summary


def test_a_wake_alarm_re_pointed_at_the_total_metric_fails(stack):
    video = stack.outputs["worker_types"]["video"]["metric"]
    metrics = wake_alarm_metrics({**video, "name": "VideoQueueDepthTotal"}, VIDEO_GROUP)
    _put_alarm(stack, _alarm(stack), Metrics=metrics)
    results = run(stack, "scaling")
    result = _wake_result(results)
    assert result is not None and result.status is Status.FAIL, results
    assert "VideoQueueDepthTotal" in result.summary and "instead of the published" in result.summary
    assert "a group at 0 never wakes" in result.summary and "pulumi up" in result.hint


def test_a_wake_alarm_on_a_single_metric_fails(stack):
    alarm = _alarm(stack)
    alarm.pop("Metrics")
    _put_alarm(stack, alarm, Namespace="Academy/VideoProcessing",
               MetricName="VideoQueueDepthTotal", Statistic="Average", Period=60,
               Dimensions=[{"Name": "WorkerType", "Value": "Video"}])
    result = _wake_result(run(stack, "scaling"))
    assert result is not None and result.status is Status.FAIL, result
    assert "a single metric" in result.summary and "VideoQueueDepthTotal" in result.summary


def test_a_wake_alarm_with_another_expression_threshold_or_action_fails(stack):
    metrics = _alarm(stack)["Metrics"]
    metrics[2]["Expression"] = "m1 / FILL(m2, 1)"
    _put_alarm(stack, _alarm(stack), Metrics=metrics, Threshold=5.0,
               AlarmActions=["arn:aws:sns:ap-northeast-2:123456789012:somewhere"])
    result = _wake_result(run(stack, "scaling"))
    assert result is not None and result.status is Status.FAIL, result
    assert "m1 / FILL(m2, 1)" in result.summary
    assert "threshold 5 != stack 1" in result.summary
    assert "does not run the wake policy" in result.summary


def test_a_missing_wake_alarm_fails(stack):
    stack.client("cloudwatch").delete_alarms(AlarmNames=[_alarm(stack)["AlarmName"]])
    result = _wake_result(run(stack, "scaling"))
    assert result is not None and result.status is Status.FAIL, result
    assert "does not exist" in result.summary and "never wakes" in result.summary


def test_the_emulator_s_missing_policy_fields_are_said(stack):
    """moto 5.2.5 answers DescribePolicies without `Enabled`: the check says it did not see it."""
    result = _wake_result(run(stack, "scaling"))
    assert result is not None
    assert "reports no Enabled flag" in result.summary

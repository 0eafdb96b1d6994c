"""`verify leftovers` against a moto server seeded by hand: an old alarm or policy on a metric
the stack does not publish, and a policy on the publisher's role the stack does not declare,
each a FAIL naming it with the command that removes it; gone, each PASSes (issue 11, item 4)."""

import json
import re
import shlex

import pytest

from contract.stack_output import Batch, to_plain
from tests.verify import seeded_changes
from tests.verify.conftest import PUBLISHER_ROLE, REGION, WORKER_BASE_POLICY, seed_role
from verify.context import RunOptions
from verify.leftover_kinds import KINDS
from verify.report import Status
from verify.suite import run_checks

OLD_ALARM = "academy-video-queue-wake"
OLD_GROUP = "academy-video-worker-asg-old"


def run(stack) -> dict:
    report = run_checks(stack.typed(), ["leftovers"], RunOptions(invoke=False, timeout_s=30.0),
                        env=stack.env)
    return {result.target: result for result in report.checks}


def statuses(results: dict) -> set[Status]:
    return {r.status for r in results.values()}


VIDEO_ROLE = "academy-video-worker-asg-role"
BATCH_SERVICE_ROLE = "video-batch-service-role-0a1b2c3"  # auto-named, as Pulumi does


def _with_batch(stack) -> None:
    """Batch declared (its roles with their one managed policy each), as in batch mode."""
    service = seed_role(stack, BATCH_SERVICE_ROLE, [], ["AWSBatchServiceRole"])
    instance = seed_role(stack, "video-batch-instance-role-4d5e6f7", [],
                         ["AmazonEC2ContainerServiceforEC2Role"])
    stack.outputs["batch"] = to_plain(Batch(
        "academy-video-batch-ce", "academy-video-batch-queue", "academy-video-batch-jobdef",
        "/aws/batch/academy-video", "arm64", 2, 14400, 1800,
        service_role=service, instance_role=instance))


def test_a_clean_account_passes(stack):
    _with_batch(stack)
    results = run(stack)
    assert statuses(results) == {Status.PASS}, results
    assert f"{PUBLISHER_ROLE} (publisher role) permissions" in results
    # Every role the stack declares is looked at, not only the publisher's.
    assert {f"{VIDEO_ROLE} (video fleet's instance role) permissions",
            "academy-ai-worker-asg-role (ai fleet's instance role) permissions",
            f"{BATCH_SERVICE_ROLE} (Batch service role) permissions",
            "video-batch-instance-role-4d5e6f7 (Batch instance role) permissions"} <= set(results)


@pytest.mark.parametrize(("role", "purpose"), [
    (VIDEO_ROLE, "video fleet's instance role"), (BATCH_SERVICE_ROLE, "Batch service role")])
def test_undeclared_policies_on_a_fleet_or_batch_role_fail_with_removals_that_run(
        stack, tmp_path, role, purpose, debian_aws):
    """verify adopt names an undeclared policy on any role the stack adopts; verify all fails
    on one on any role the stack declares, and its printed commands remove exactly it."""
    _with_batch(stack)
    iam = stack.client("iam")
    iam.put_role_policy(RoleName=role, PolicyName="ScaleVideo", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                "Action": "autoscaling:SetDesiredCapacity"}]}))
    arn = iam.create_policy(PolicyName="old extra", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*",
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)

    results = run(stack)
    result = results[f"{role} ({purpose}) permissions"]
    assert result.status is Status.FAIL, result
    assert role in result.summary and "ScaleVideo" in result.summary and arn in result.summary
    assert WORKER_BASE_POLICY not in result.summary  # the declared ones are not named extra
    assert (f"aws iam delete-role-policy --role-name {role} --policy-name ScaleVideo"
            in result.hint)
    assert (f"aws iam detach-role-policy --role-name {role} --policy-arn {shlex.quote(arn)}"
            in result.hint)
    others = [r for t, r in results.items() if t != result.target]
    assert {r.status for r in others} == {Status.PASS}  # the stack's own roles pass

    done = debian_aws.run("set -e; " + result.hint.split("remove them: ", 1)[1])
    assert done.returncode == 0, (result.hint, done.stderr)
    assert statuses(run(stack)) == {Status.PASS}


@pytest.mark.parametrize("dimension", ["Video", "AI-old"])
def test_an_alarm_on_an_unpublished_metric_fails_naming_its_removal(stack, dimension):
    stack.client("cloudwatch").put_metric_alarm(
        AlarmName=OLD_ALARM, Namespace="Academy/Workers", MetricName="QueueDepth",
        Dimensions=[{"Name": "WorkerType", "Value": dimension}], Statistic="Maximum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    result = run(stack)[f"alarm {OLD_ALARM}"]
    assert result.status is Status.FAIL
    assert f"Academy/Workers/QueueDepth{{WorkerType={dimension}}}" in result.summary
    assert (f"aws cloudwatch delete-alarms --alarm-names {OLD_ALARM} --region {REGION}"
            in result.hint)

    stack.client("cloudwatch").delete_alarms(AlarmNames=[OLD_ALARM])
    assert statuses(run(stack)) == {Status.PASS}


def test_an_alarm_on_a_published_metric_or_another_namespace_is_not_a_leftover(stack):
    cloudwatch = stack.client("cloudwatch")
    cloudwatch.put_metric_alarm(  # the stack publishes this one: someone's own alarm on it
        AlarmName="ai-backlog-high", Namespace="Academy/Workers", MetricName="QueueDepth",
        Dimensions=[{"Name": "WorkerType", "Value": "AI"}], Statistic="Maximum", Period=60,
        EvaluationPeriods=1, Threshold=100, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.put_metric_alarm(  # not the platform's namespace
        AlarmName="cpu", Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average",
        Period=60, EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold")
    assert statuses(run(stack)) == {Status.PASS}


def _make_stray_group(stack) -> None:
    """An old group the stack does not declare, with its old policy on an unpublished metric."""
    autoscaling = stack.client("autoscaling")
    subnet = stack.client("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
    autoscaling.create_launch_configuration(LaunchConfigurationName="old-lc",
                                            ImageId="ami-12c6146b", InstanceType="t3.micro")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=OLD_GROUP, MinSize=0, MaxSize=1,
                                          LaunchConfigurationName="old-lc",
                                          VPCZoneIdentifier=subnet)
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=OLD_GROUP, PolicyName="video-backlogcount-tt",
        PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
            "CustomizedMetricSpecification": {
                "Namespace": "Academy/VideoProcessing", "MetricName": "VideoQueueDepthTotal",
                "Dimensions": [{"Name": "WorkerType", "Value": "Video"}],
                "Statistic": "Average"}, "TargetValue": 1.0})


def test_a_policy_outside_the_fleets_on_an_unpublished_metric_fails(stack):
    _make_stray_group(stack)
    result = run(stack)[f"policy {OLD_GROUP}/video-backlogcount-tt"]
    assert result.status is Status.FAIL and "VideoQueueDepthTotal" in result.summary
    assert (f"aws autoscaling delete-policy --auto-scaling-group-name {OLD_GROUP} "
            f"--policy-name video-backlogcount-tt --region {REGION}") in result.hint


def test_undeclared_policies_on_the_publisher_role_fail_with_their_removal(stack):
    iam = stack.client("iam")
    iam.put_role_policy(RoleName=PUBLISHER_ROLE, PolicyName="ScaleVideo", PolicyDocument=(
        json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ssm:PutParameter", "Resource": "*"}]})))
    arn = iam.create_policy(PolicyName="old extra", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*",
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=PUBLISHER_ROLE, PolicyArn=arn)

    result = run(stack)[f"{PUBLISHER_ROLE} (publisher role) permissions"]

    assert result.status is Status.FAIL
    assert "ScaleVideo" in result.summary and arn in result.summary
    assert "publish," not in result.summary  # the declared one is not named as extra
    assert (f"aws iam delete-role-policy --role-name {PUBLISHER_ROLE} --policy-name ScaleVideo"
            in result.hint)
    assert (f"aws iam detach-role-policy --role-name {PUBLISHER_ROLE} --policy-arn "
            f"{shlex.quote(arn)}") in result.hint
    assert result.found == {"inline": ["publish", "ScaleVideo"], "attached": [arn]}

    iam.delete_role_policy(RoleName=PUBLISHER_ROLE, PolicyName="ScaleVideo")
    iam.detach_role_policy(RoleName=PUBLISHER_ROLE, PolicyArn=arn)
    assert statuses(run(stack)) == {Status.PASS}


HOSTILE = ["nl\nline", "--region", "-x", "rtl\u202eevil", "two  spaces", "zero\u200bwidth"]


def test_the_printed_removal_commands_run_as_printed_with_debians_aws_cli(
        stack, tmp_path, debian_aws):
    """Names with a newline, a leading dash, U+202E, two spaces: the hint as the table prints
    it, run by bash with Debian's AWS CLI (v1) against the moto server, removes exactly those
    policies (issue 15, item 11)."""
    from verify.report import render_table

    iam = stack.client("iam")
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]})
    for name in HOSTILE:
        iam.put_role_policy(RoleName=PUBLISHER_ROLE, PolicyName=name, PolicyDocument=document)
    report = run_checks(stack.typed(), ["leftovers"], RunOptions(invoke=False, timeout_s=30.0),
                        env=stack.env)
    table = render_table(report, width=200)
    (hint,) = [line.split("-> hint: remove them: ", 1)[1] for line in table.splitlines()
               if "-> hint: remove them: " in line]
    assert hint.isascii() and hint.isprintable(), hint
    assert "$'rtl\\xe2\\x80\\xaeevil'" in hint and "--policy-name=--region" in hint

    done = debian_aws.run(f"set -e; {hint}")
    assert done.returncode == 0, (hint, done.stderr)
    assert iam.list_role_policies(RoleName=PUBLISHER_ROLE)["PolicyNames"] == ["publish"]
    assert statuses(run(stack)) == {Status.PASS}


# -- every kind verify adopt names that changes behaviour is a verify all FAIL ---------------

SCHEDULE_RULE = "academy-queue-depth-every-minute-old"


def _second_schedule(stack) -> str:
    events, lam = stack.client("events"), stack.client("lambda")
    arn = lam.get_function_configuration(
        FunctionName=stack.outputs["publisher"]["function_name"])["FunctionArn"]
    events.put_rule(Name=SCHEDULE_RULE, ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule=SCHEDULE_RULE, Targets=[{"Id": "old", "Arn": arn}])
    return f"schedule {SCHEDULE_RULE}"


def test_a_second_schedule_invoking_the_publisher_fails_with_its_removal(
        stack, tmp_path, debian_aws):
    """verify adopt says it "would run twice as often"; verify all must fail on it too, and its
    printed commands remove it (Debian's AWS CLI against moto)."""
    target = _second_schedule(stack)
    result = run(stack)[target]
    assert result.status is Status.FAIL, result
    assert "twice" in result.summary
    done = debian_aws.run("set -e; " + result.hint.split("remove it: ", 1)[1])
    assert done.returncode == 0, (result.hint, done.stderr)
    assert statuses(run(stack)) == {Status.PASS}


def _second_fleet_policy(stack) -> tuple[str, str]:
    seeded_changes.put_legacy_policy(stack)
    return "scaling", f"{seeded_changes.VIDEO_GROUP} policies"


def _old_work(stack) -> tuple[str, str]:
    seeded_changes.make_batch(stack)
    seeded_changes.as_batch_mode(stack, draining=False)
    stack.client("sqs").send_message(QueueUrl=seeded_changes.video_url(stack), MessageBody="{}")
    seeded_changes.put_dispatch(stack, seeded_changes.batch_value())
    return "switch", "video retired path (asg)"


def _inline(stack) -> tuple[str, str]:
    stack.client("iam").put_role_policy(
        RoleName=PUBLISHER_ROLE, PolicyName="ScaleVideo", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                    "Action": "ssm:PutParameter"}]}))
    return "leftovers", f"{PUBLISHER_ROLE} (publisher role) permissions"


def _attached(stack) -> tuple[str, str]:
    iam = stack.client("iam")
    arn = iam.create_policy(PolicyName="old-extra", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*",
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=PUBLISHER_ROLE, PolicyArn=arn)
    return "leftovers", f"{PUBLISHER_ROLE} (publisher role) permissions"


def _alarm(stack) -> tuple[str, str]:
    stack.client("cloudwatch").put_metric_alarm(
        AlarmName=OLD_ALARM, Namespace="Academy/Workers", MetricName="QueueDepth",
        Dimensions=[{"Name": "WorkerType", "Value": "Video"}], Statistic="Maximum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    return "leftovers", f"alarm {OLD_ALARM}"


def _schedule(stack) -> tuple[str, str]:
    return "leftovers", _second_schedule(stack)


def _stray(stack) -> tuple[str, str]:
    _make_stray_group(stack)
    return "leftovers", f"policy {OLD_GROUP}/video-backlogcount-tt"


MAKE_KIND = {"scaling policy": _second_fleet_policy, "auto scaling group": _stray,
             "waiting work": _old_work, "inline policy": _inline,
             "attached policy": _attached, "alarm": _alarm, "schedule": _schedule}


@pytest.mark.parametrize("kind", sorted(k for k, v in KINDS.items() if v.verify_all))
def test_every_leftover_kind_adopt_names_that_changes_behaviour_fails_verify_all(stack, kind):
    """One list of kinds (verify/leftover_kinds.py) for adopt and verify all: each that still
    changes what the platform does is a FAIL of the check the list names (issue 15, item 10)."""
    assert kind in MAKE_KIND, f"no case for {kind}: add one"
    check, target = MAKE_KIND[kind](stack)
    assert check == KINDS[kind].verify_all
    report = run_checks(stack.typed(), [check], RunOptions(invoke=False, timeout_s=30.0),
                        env=stack.env)
    results = {r.target: r for r in report.checks}
    assert results[target].status is Status.FAIL, results


def test_the_kinds_that_change_nothing_say_why() -> None:
    for kind in KINDS.values():
        assert (kind.verify_all is None) == bool(kind.why_not), kind
    assert {k for k, v in KINDS.items() if v.verify_all is None} == {
        "role", "parameter", "environment flag"}


def test_names_the_cli_would_load_or_parse_are_removed_as_named(stack, tmp_path, debian_aws):
    """A policy named like an address or a file (`http://...`, `file://...`) and an alarm named
    like a JSON list: the AWS CLI (Debian's, v1) would fetch that address, read that file or
    parse that list, and delete what they name: the stack's own policy and wake alarm (red
    team, issue 15 item 11). The printed hints, run by bash, remove exactly the leftovers."""
    group = "academy-ai-worker-asg"
    ours = f"{group}-backlog-per-instance"
    named = tmp_path / "name"
    named.write_text(ours)
    autoscaling, cloudwatch = stack.client("autoscaling"), stack.client("cloudwatch")
    hostile = ["http://127.0.0.1:9/" + ours, f"file://{named}"]
    for name in hostile:
        autoscaling.put_scaling_policy(
            AutoScalingGroupName=group, PolicyName=name, PolicyType="SimpleScaling",
            AdjustmentType="ChangeInCapacity", ScalingAdjustment=1)
    wake = stack.typed().worker_types["video"].fleet.wake.alarm_name
    cloudwatch.put_metric_alarm(
        AlarmName=json.dumps([wake]), Namespace="Academy/Workers", MetricName="QueueDepth",
        Dimensions=[{"Name": "WorkerType", "Value": "Video"}], Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")

    report = run_checks(stack.typed(), ["scaling", "leftovers"],
                        RunOptions(invoke=False, timeout_s=30.0), env=stack.env)
    hints = [r.hint for r in report.checks if r.status is Status.FAIL and r.hint]
    printed = [part.strip() for hint in hints for part in re.split(r": |; ", hint)
               if part.strip().startswith("aws ")]
    assert len(printed) >= 3, hints

    for line in printed:
        done = debian_aws.run(f"set -e; {line}")
        assert done.returncode == 0, (line, done.stderr)
    left = {p["PolicyName"] for p in autoscaling.describe_policies(
        AutoScalingGroupName=group)["ScalingPolicies"]}
    assert ours in left and not left & set(hostile), left
    alarms = {a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert wake in alarms and json.dumps([wake]) not in alarms, alarms

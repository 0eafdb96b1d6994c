"""`verify leftovers` against a moto server seeded by hand: an old alarm or policy on a metric
the stack does not publish, and a policy on the publisher's role the stack does not declare,
each a FAIL naming it with the command that removes it; gone, each PASSes (issue 11, item 4)."""

import json
import shlex

import pytest

from tests.verify.conftest import PUBLISHER_ROLE, REGION
from verify.context import RunOptions
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


def test_a_clean_account_passes(stack):
    results = run(stack)
    assert statuses(results) == {Status.PASS}, results
    assert f"{PUBLISHER_ROLE} (publisher role) permissions" in results


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


def test_a_policy_outside_the_fleets_on_an_unpublished_metric_fails(stack):
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


def test_the_printed_removal_commands_run_as_printed_with_debians_aws_cli(stack, tmp_path):
    """Names with a newline, a leading dash, U+202E, two spaces: the hint as the table prints
    it, run by bash with Debian's AWS CLI (v1) against the moto server, removes exactly those
    policies (issue 15, item 11)."""
    import subprocess

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

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(
        f'#!/bin/sh\nexec /usr/bin/aws --endpoint-url {stack.env["AWS_ENDPOINT_URL"]} "$@"\n')
    (bin_dir / "aws").chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", f"set -e; {hint}"], capture_output=True, text=True, timeout=120,
        check=False, env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
                          "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                          "AWS_DEFAULT_REGION": REGION})
    assert done.returncode == 0, (hint, done.stderr)
    assert iam.list_role_policies(RoleName=PUBLISHER_ROLE)["PolicyNames"] == ["publish"]
    assert statuses(run(stack)) == {Status.PASS}

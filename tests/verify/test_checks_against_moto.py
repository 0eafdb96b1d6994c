"""Each check against a moto server seeded by hand: PASS when right, the right FAIL and hint
when wrong."""

import datetime
import json
import shlex
import socket
import time
from pathlib import Path

import pytest

from tests.verify import seeded_changes
from verify.context import RunOptions
from verify.report import Status
from verify.suite import build_context, run_checks, run_timeout
from verify.transports import TransportOptions
from verify.transports.ssh import SshOptions

KEY = "k3y-for-tests-0123456789abcdef"


def run(stack, check: str, **options) -> dict[str, object]:
    settings = {"invoke": False, "timeout_s": 30.0, **options}
    report = run_checks(stack.typed(), [check], RunOptions(**settings), env=stack.env)
    return {result.target: result for result in report.checks}


def assert_all(results: dict, status: Status) -> None:
    assert {t: r.status for t, r in results.items()} == {t: status for t in results}, results


# -- queues -----------------------------------------------------------------------------------

def test_queues_pass_when_right(stack):
    results = run(stack, "queues")
    assert set(results) == {"academy-ai-jobs", "academy-video-jobs"}
    assert_all(results, Status.PASS)
    assert "visibility 900s >= longest job 600s" in results["academy-ai-jobs"].summary


def test_a_visibility_timeout_shorter_than_the_longest_job_fails(stack):
    ai = stack.outputs["worker_types"]["ai"]
    stack.client("sqs").set_queue_attributes(QueueUrl=ai["queue"]["url"],
                                             Attributes={"VisibilityTimeout": "300"})
    result = run(stack, "queues")["academy-ai-jobs"]
    assert result.status is Status.FAIL
    assert "visibility timeout 300s is shorter than the longest job (600s)" in result.summary
    assert "pulumi up" in result.hint and "max_job_s=600" in result.hint


def test_redrive_to_another_queue_fails_and_a_full_dlq_warns(stack):
    sqs = stack.client("sqs")
    ai, video = stack.outputs["worker_types"]["ai"], stack.outputs["worker_types"]["video"]
    sqs.set_queue_attributes(QueueUrl=ai["queue"]["url"], Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": video["dlq"]["arn"], "maxReceiveCount": 5})})
    sqs.send_message(QueueUrl=video["dlq"]["url"], MessageBody="{}")
    results = run(stack, "queues")
    assert results["academy-ai-jobs"].status is Status.FAIL
    assert "redrive goes to" in results["academy-ai-jobs"].summary
    assert results["academy-video-jobs"].status is Status.WARN
    assert "academy-video-jobs-dlq holds 1 message" in results["academy-video-jobs"].summary
    assert "start-message-move-task" in results["academy-video-jobs"].hint


# -- publisher --------------------------------------------------------------------------------

def test_publisher_passes_when_deployed_from_this_source(stack):
    results = run(stack, "publisher")
    name = "academy-worker-queue-depth-metric"
    for part in ("code", "environment", "schedule"):
        target = f"{name}-schedule schedule" if part == "schedule" else f"{name} {part}"
        assert results[target].status is Status.PASS, results[target]
    errors = results[f"{name} errors"]
    assert errors.status is Status.WARN and "emulator" in errors.summary


def test_publisher_drift_fails_with_the_reason(stack):
    lam, events = stack.client("lambda"), stack.client("events")
    name = stack.outputs["publisher"]["function_name"]
    import io
    import zipfile

    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("lambda_function.py", "def handler(event, context):\n    return {}\n")
    lam.update_function_code(FunctionName=name, ZipFile=other.getvalue())
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    targets = json.loads(variables["BACKLOG_TARGETS"])
    targets[1]["metric"]["name"] = "VideoQueueDepthTotal"
    variables["BACKLOG_TARGETS"] = json.dumps(targets)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    events.disable_rule(Name=stack.outputs["publisher"]["schedule_rule"])
    results = run(stack, "publisher")
    code = results[f"{name} code"]
    assert code.status is Status.FAIL and "deployed CodeSha256" in code.summary
    assert "someone replaced the code" in code.summary
    env = results[f"{name} environment"]
    assert env.status is Status.FAIL
    assert "video publishes Academy/VideoProcessing/VideoQueueDepthTotal" in env.summary
    assert "BacklogCount" in env.summary
    schedule = results[f"{name}-schedule schedule"]
    assert schedule.status is Status.FAIL and "DISABLED" in schedule.summary
    assert "enable-rule" in schedule.hint


# -- scaling ----------------------------------------------------------------------------------

def test_scaling_passes_when_policies_read_the_published_metric(stack):
    results = run(stack, "scaling")
    assert_all(results, Status.PASS)
    assert "academy-ai-worker-asg" in results
    assert "expected desired 0, actual 0" in results["academy-ai-worker-asg capacity"].summary


def test_a_policy_reading_another_metric_fails(stack):
    group = "academy-video-worker-asg"
    metrics = [
        {"Id": "m1", "ReturnData": False, "MetricStat": {"Stat": "Average", "Metric": {
            "Namespace": "Academy/VideoProcessing", "MetricName": "VideoQueueDepthTotal",
            "Dimensions": [{"Name": "WorkerType", "Value": "Video"},
                           {"Name": "AutoScalingGroupName", "Value": group}]}}},
        {"Id": "m2", "ReturnData": False, "MetricStat": {"Stat": "Average", "Metric": {
            "Namespace": "AWS/AutoScaling", "MetricName": "GroupInServiceInstances",
            "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group}]}}},
        {"Id": "e1", "Expression": "m1 / m2", "ReturnData": True},
    ]
    autoscaling = stack.client("autoscaling")
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=group, PolicyName=f"{group}-backlog-per-instance",
        PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
            "CustomizedMetricSpecification": {"Metrics": metrics}, "TargetValue": 20.0})
    # moto replaces the list (and has no disable_metrics_collection): only another metric is on.
    autoscaling.enable_metrics_collection(AutoScalingGroupName="academy-ai-worker-asg",
                                          Granularity="1Minute", Metrics=["GroupMaxSize"])
    results = run(stack, "scaling")
    video = results[group]
    assert video.status is Status.FAIL
    assert "VideoQueueDepthTotal" in video.summary and "instead of the published" in video.summary
    assert "BacklogCount" in video.summary and "pulumi up" in video.hint
    ai = results["academy-ai-worker-asg"]
    assert ai.status is Status.FAIL and "lacks GroupInServiceInstances" in ai.summary


def test_a_total_backlog_policy_is_not_per_instance(stack):
    group = "academy-ai-worker-asg"
    stack.client("autoscaling").put_scaling_policy(
        AutoScalingGroupName=group, PolicyName=f"{group}-backlog-per-instance",
        PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
            "CustomizedMetricSpecification": {
                "Namespace": "Academy/Workers", "MetricName": "QueueDepth",
                "Dimensions": [{"Name": "WorkerType", "Value": "AI"}], "Statistic": "Average"},
            "TargetValue": 1.0})
    result = run(stack, "scaling")[group]
    assert result.status is Status.FAIL and "not per instance" in result.summary


def test_a_publisher_role_that_can_scale_fails(stack):
    stack.client("iam").put_role_policy(
        RoleName=stack.outputs["publisher"]["role_name"], PolicyName="wake",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "autoscaling:SetDesiredCapacity", "Resource": "*"}]}))
    result = run(stack, "scaling")["academy-worker-queue-depth-metric-role (publisher role)"]
    assert result.status is Status.FAIL
    assert "wake: autoscaling:SetDesiredCapacity" in result.summary


def test_capacity_that_differs_from_the_backlog_warns_with_why(stack):
    stack.client("cloudwatch").put_metric_data(Namespace="Academy/Workers", MetricData=[{
        "MetricName": "QueueDepth", "Dimensions": [{"Name": "WorkerType", "Value": "AI"}],
        "Value": 50}])
    result = run(stack, "scaling")["academy-ai-worker-asg capacity"]
    assert result.status is Status.WARN
    assert "backlog 50 (metric) / target 20 -> expected desired 3, actual 0" in result.summary
    assert "emulator" in result.summary and "describe-scaling-activities" in result.hint


def test_capacity_is_judged_with_the_policy_s_statistic(stack):
    """Two datapoints in one minute, 3 and 15: the policy reads Average (9), so the expected
    desired capacity is 9 at 1 per instance, not the Maximum's 15 (issue 15, item 6)."""
    ai = stack.outputs["worker_types"]["ai"]
    ai["fleet"]["target_backlog_per_instance"] = 1.0
    ai["fleet"]["max_size"] = 20
    assert stack.typed().worker_types["ai"].metric.statistic == "Average"
    cloudwatch = stack.client("cloudwatch")
    now = datetime.datetime.now(datetime.UTC).replace(second=1, microsecond=0)
    for value in (3, 15):
        cloudwatch.put_metric_data(Namespace="Academy/Workers", MetricData=[{
            "MetricName": "QueueDepth", "Dimensions": [{"Name": "WorkerType", "Value": "AI"}],
            "Value": value, "Timestamp": now}])
    result = run(stack, "scaling")["academy-ai-worker-asg capacity"]
    assert result.expected == {"desired_capacity": 9, "backlog": 9.0, "statistic": "Average"}
    assert result.found["desired_capacity"] == 0


# -- metric -----------------------------------------------------------------------------------

def _publish(stack, metric: dict, value: float) -> None:
    stack.client("cloudwatch").put_metric_data(Namespace=metric["namespace"], MetricData=[{
        "MetricName": metric["name"], "Value": value,
        "Dimensions": [{"Name": k, "Value": v} for k, v in metric["dimensions"].items()]}])


def test_metric_matches_the_queue_backlog(stack):
    ai = stack.outputs["worker_types"]["ai"]
    for _ in range(2):
        stack.client("sqs").send_message(QueueUrl=ai["queue"]["url"], MessageBody="{}")
    _publish(stack, ai["metric"], 2)
    results = run(stack, "metric")
    assert results["ai"].status is Status.PASS, results["ai"]
    assert "Academy/Workers/QueueDepth{WorkerType=AI} = 2" in results["ai"].summary
    assert results["video"].status is Status.FAIL  # nothing published for video
    assert "no datapoint" in results["video"].summary
    assert "verify publisher" in results["video"].hint


def test_a_metric_that_does_not_follow_the_backlog_fails(stack):
    ai = stack.outputs["worker_types"]["ai"]
    _publish(stack, ai["metric"], 7)
    result = run(stack, "metric")["ai"]
    assert result.status is Status.FAIL
    assert "= 7, but SQS backlog 0 before, 0 after" in result.summary


def test_metric_compares_with_the_api_count(stack_with_api):
    seeded = stack_with_api
    video = seeded.outputs["worker_types"]["video"]
    _publish(seeded, video["metric"], 3)
    result = run(seeded, "metric")["video"]
    assert result.status is Status.PASS and "API backlog 3 before, 3 after" in result.summary


# -- api --------------------------------------------------------------------------------------

def _api_stack(stack, backlog_api, hosts):
    stack.outputs["api"].update(local_base_url=backlog_api.local_url,
                                public_base_url=backlog_api.public_url, hosts=hosts)
    return stack


LOCAL_HOST = {"name": "web-local", "instance_id": None, "ssh": None}


def test_api_passes_when_local_and_public_agree(stack, backlog_api):
    results = run(_api_stack(stack, backlog_api, [LOCAL_HOST]), "api",
                  transport=TransportOptions(mode="local"))
    assert_all(results, Status.PASS)
    assert '200 {"backlog": 3}' in results["web-local"].summary
    assert all(KEY not in r.summary + r.hint for r in results.values())


def test_the_key_is_masked_even_when_the_api_repeats_it(stack, backlog_api):
    backlog_api.state["echo_key"] = True
    result = run(_api_stack(stack, backlog_api, [LOCAL_HOST]), "api",
                 transport=TransportOptions(mode="local"))["web-local"]
    assert result.status is Status.PASS
    assert KEY not in result.summary and '"key": "****"' in result.summary


def test_api_names_the_proxy_when_it_drops_the_key(stack, backlog_api):
    backlog_api.state["proxy_passes_key"] = False
    results = run(_api_stack(stack, backlog_api, [LOCAL_HOST]), "api",
                  transport=TransportOptions(mode="local"))
    host = results["web-local"]
    assert host.status is Status.FAIL and "the proxy drops X-Internal-Key" in host.summary
    assert "the key reached nginx but not the API" in host.summary
    assert "proxy_set_header X-Internal-Key $http_x_internal_key" in host.hint
    assert results["public key check"].status is Status.PASS


def test_api_says_the_key_was_lost_before_nginx_when_nginx_refuses_it(stack, backlog_api):
    backlog_api.state["edge_strips_key"] = True
    results = run(_api_stack(stack, backlog_api, [LOCAL_HOST]), "api",
                  transport=TransportOptions(mode="local"))
    host = results["web-local"]
    assert host.status is Status.FAIL
    assert "the key did not reach nginx (lost before it: client, CDN/Cloudflare)" in host.summary
    assert "X-Refused-By: nginx" in host.summary and "Cloudflare" in host.hint


def test_api_says_the_key_differs_when_both_paths_refuse_it(stack, backlog_api):
    backlog_api.state["key"] = "the-api-has-another-key"
    results = run(_api_stack(stack, backlog_api, [LOCAL_HOST]), "api",
                  transport=TransportOptions(mode="local"))
    host = results["web-local"]
    assert host.status is Status.FAIL
    assert "SSM /academy/workers/internal-api-key differs from the API's" in host.summary


def test_api_over_ssh_and_a_host_that_is_down(stack, backlog_api, sshd):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    hosts = [
        {"name": "web-1", "instance_id": None,
         "ssh": {"host": "127.0.0.1", "port": sshd.port, "user": sshd.user}},
        {"name": "web-down", "instance_id": None,
         "ssh": {"host": "127.0.0.1", "port": closed, "user": sshd.user}},
    ]
    ssh = SshOptions(key_file=str(sshd.endpoint.key_path),
                     known_hosts=str(sshd.endpoint.known_hosts_path), connect_timeout_s=3)
    results = run(_api_stack(stack, backlog_api, hosts), "api",
                  transport=TransportOptions(mode="auto", ssh=ssh))
    assert results["web-1"].status is Status.PASS, results["web-1"]
    assert results["web-down"].status is Status.ERROR
    assert "host unreachable" in results["web-down"].summary
    assert results["public key check"].status is Status.PASS


# -- nginx ------------------------------------------------------------------------------------

def _nginx_conf(directory: Path, body: str) -> tuple[Path, str]:
    conf = directory / "api.conf"
    conf.write_text(body)
    test = (f"nginx -t -q -c {shlex.quote(str(conf))} -e {shlex.quote(str(directory / 'e.log'))}"
            f" -g {shlex.quote(f'pid {directory}/n.pid;')}")
    return conf, test


GOOD_CONF = "events {}\nhttp {\n  server {\n    listen 127.0.0.1:1;\n  }\n}\n"


def test_nginx_passes_on_the_rendered_config_and_fails_on_drift(stack, tmp_path):
    import hashlib

    conf, test_command = _nginx_conf(tmp_path, GOOD_CONF)
    stack.outputs["api"]["hosts"] = [LOCAL_HOST]
    stack.outputs["api"]["nginx"].update(
        config_path=str(conf), config_sha256=hashlib.sha256(GOOD_CONF.encode()).hexdigest(),
        test_command=test_command, association_names=["academy-api-nginx-config-0"])
    local = TransportOptions(mode="local")
    assert run(stack, "nginx", transport=local)["web-local"].status is Status.PASS
    conf.write_text(GOOD_CONF.replace("listen", "lisen"))
    result = run(stack, "nginx", transport=local)["web-local"]
    assert result.status is Status.FAIL
    assert "sha256" in result.summary and "nginx -t" in result.summary
    assert "academy-api-nginx-config-0" in result.hint


# -- batch ------------------------------------------------------------------------------------

@pytest.fixture
def batch_stack(stack):
    seeded_changes.make_batch(stack, retry_attempts=1, timeout_s=14400)
    stack.outputs["mode"] = "batch"
    stack.outputs["worker_types"]["video"].update(published=False, fleet=None, runs_on="batch")
    stack.outputs["batch"] = {
        "compute_environment": "academy-video-batch-ce-v3",
        "job_queue": "academy-video-batch-queue", "job_definition": "academy-video-batch-jobdef",
        "log_group": "/aws/batch/academy-video-worker", "architecture": "arm64",
        "retry_attempts": 1, "timeout_s": 14400, "runnable_timeout_s": 5}
    return stack


def test_batch_passes_with_a_canary(batch_stack):
    results = run(batch_stack, "batch", canary=True)
    assert_all(results, Status.PASS)
    assert "arm64" in results["academy-video-batch-ce-v3"].summary
    assert "left RUNNABLE" in results["academy-video-batch-queue canary"].summary


def test_batch_fails_on_architecture_and_retry_drift(batch_stack):
    batch_stack.outputs["batch"].update(architecture="x86_64", retry_attempts=2)
    results = run(batch_stack, "batch")
    assert results["academy-video-batch-ce-v3"].status is Status.FAIL
    assert "the stack asked x86_64" in results["academy-video-batch-ce-v3"].summary
    definition = results["academy-video-batch-jobdef"]
    assert definition.status is Status.FAIL and "retry attempts 1 != stack 2" in definition.summary


def test_a_retained_video_queue_with_messages_warns_in_batch_mode(batch_stack):
    video = batch_stack.outputs["worker_types"]["video"]
    batch_stack.client("sqs").send_message(QueueUrl=video["queue"]["url"], MessageBody="{}")
    result = run(batch_stack, "queues")["academy-video-jobs"]
    assert result.status is Status.WARN and "runs on batch but the retained queue" in result.summary
    assert "purge-queue" in result.hint


class _SlowToStart:
    """Batch as on AWS with a compute environment at 0 vCPUs: the job stays RUNNABLE a while."""

    def __init__(self, real, runnable_s: float) -> None:
        self._real, self._until = real, time.monotonic() + runnable_s

    def describe_jobs(self, **kwargs):
        answer = self._real.describe_jobs(**kwargs)
        if time.monotonic() < self._until:
            for job in answer["jobs"]:
                job.update(status="RUNNABLE", statusReason="waiting for an instance")
                job.pop("startedAt", None)
        return answer

    def __getattr__(self, name: str):
        return getattr(self._real, name)


class _AwsWithSlowBatch:
    def __init__(self, aws, runnable_s: float) -> None:
        self._aws, self._batch = aws, _SlowToStart(aws.client("batch"), runnable_s)

    def client(self, service: str):
        return self._batch if service == "batch" else self._aws.client(service)


def test_the_canary_waits_by_its_own_bound_not_the_runs_timeout(batch_stack):
    options = RunOptions(invoke=False, canary=True, timeout_s=1.0, canary_timeout_s=8.0)
    ctx = build_context(batch_stack.typed(), options, batch_stack.env)
    ctx.aws = _AwsWithSlowBatch(ctx.aws, runnable_s=2.0)
    report = run_checks(batch_stack.typed(), ["batch"], options, context=ctx)
    canary = {r.target: r for r in report.checks}["academy-video-batch-queue canary"]
    assert canary.status is Status.PASS, canary
    assert "left RUNNABLE" in canary.summary and canary.duration_s >= 2.0
    assert run_timeout(options, ["batch"]) == 38.0  # canary-timeout + 30 > --timeout
    assert run_timeout(options, ["queues"]) == 1.0  # no canary in this run: --timeout as given


def test_the_canary_reports_batch_s_reason_when_its_own_bound_passes(batch_stack):
    options = RunOptions(invoke=False, canary=True, timeout_s=30.0, canary_timeout_s=1.0)
    ctx = build_context(batch_stack.typed(), options, batch_stack.env)
    ctx.aws = _AwsWithSlowBatch(ctx.aws, runnable_s=60.0)
    report = run_checks(batch_stack.typed(), ["batch"], options, context=ctx)
    canary = {r.target: r for r in report.checks}["academy-video-batch-queue canary"]
    assert canary.status is Status.FAIL, canary
    assert "still RUNNABLE" in canary.summary and "waiting for an instance" in canary.summary
    assert canary.duration_s < 5


def test_a_policy_reading_the_backlog_with_another_statistic_fails(stack):
    """The capacity check judges with the stack's statistic: a policy that reads another one
    (Maximum, edited in the console) is named, since the two would disagree."""
    from tests.verify.conftest import _policy_metrics

    group = "academy-ai-worker-asg"
    metrics = _policy_metrics(stack.outputs["worker_types"]["ai"]["metric"], group)
    metrics[0]["MetricStat"]["Stat"] = "Maximum"
    stack.client("autoscaling").put_scaling_policy(
        AutoScalingGroupName=group, PolicyName=f"{group}-backlog-per-instance",
        PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
            "CustomizedMetricSpecification": {"Metrics": metrics}, "TargetValue": 20.0})
    result = run(stack, "scaling")[group]
    assert result.status is Status.FAIL
    assert "as Maximum, the stack's statistic is Average" in result.summary


def test_two_fleets_whose_policies_read_one_metric_fail(stack):
    """Issue 15, item 5: a stack whose messaging label was `AI` exported both types with the
    AI metric and each policy read it: every policy row passed. The fleets' shared metric is a
    FAIL naming both groups."""
    from tests.verify.conftest import _policy_metrics

    ai_metric = stack.outputs["worker_types"]["ai"]["metric"]
    stack.outputs["worker_types"]["video"]["metric"] = dict(ai_metric)
    group = "academy-video-worker-asg"
    stack.client("autoscaling").put_scaling_policy(
        AutoScalingGroupName=group, PolicyName=f"{group}-backlog-per-instance",
        PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
            "CustomizedMetricSpecification": {"Metrics": _policy_metrics(ai_metric, group)},
            "TargetValue": 20.0})
    results = run(stack, "scaling")
    assert results[group].status is Status.PASS  # alone, each policy reads "its" metric
    shared = results["fleets' backlog metrics"]
    assert shared.status is Status.FAIL
    assert shared.found == {"Academy/Workers/QueueDepth{WorkerType=AI}": [
        "academy-ai-worker-asg", "academy-video-worker-asg"]}
    assert "Label" in shared.hint


def test_fleets_reading_their_own_metrics_pass_the_shared_metric_row(stack):
    shared = run(stack, "scaling")["fleets' backlog metrics"]
    assert shared.status is Status.PASS and shared.found == {}


def test_metric_during_a_drain_is_judged_against_the_fleet_s_own_queue(stack_with_api,
                                                                       backlog_api):
    """Issue 15, item 7: while a path drains the publisher counts the fleet's own queue
    (`backlog_api` false in the output), and so does verify's reference: the DB's count (here
    15, every video on Batch) is not the fleet's backlog. The queue holds 2 messages."""
    seeded = stack_with_api
    backlog_api.state["backlog"] = 15
    video = seeded.outputs["worker_types"]["video"]
    video["backlog_api"] = False  # as the program exports it while draining
    for _ in range(2):
        seeded.client("sqs").send_message(QueueUrl=video["queue"]["url"], MessageBody="{}")
    _publish(seeded, video["metric"], 2)
    result = run(seeded, "metric")["video"]
    assert result.status is Status.PASS, result
    assert result.expected["backlog_low"] == result.expected["backlog_high"] == 2
    assert result.expected["counted_from"] == "SQS"

"""Real parts for the verify tests: a moto server, an sshd, HTTP servers, all on loopback."""

import functools
import http.server
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from contract import stack_output
from contract.stack_output import (
    Api,
    Counting,
    DeadLetterQueue,
    Fleet,
    Metric,
    Nginx,
    Publisher,
    Queue,
    Role,
    StackOutput,
    WakeFromZero,
    Worker,
)
from sandbox.ports import LOOPBACK
from sandbox.services import moto_server
from tests.verify.preflight_plans import STACK, save_stack
from verify import cli

REGION = "ap-northeast-2"
ROOT = Path(__file__).resolve().parents[2]
KEY = "k3y-for-tests-0123456789abcdef"  # a test value, not a secret of any deployment


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real sshd on loopback (services/sshd_server.py): endpoint, client key, known_hosts."""
    from sandbox.services import sshd_server

    server = sshd_server.start(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_url: str) -> dict[str, str]:
    """A clean moto for each test, with Lambda and Batch switched off Docker."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    requests.post(
        f"{moto_url}/moto-api/config",
        json={"lambda": {"use_docker": False}, "batch": {"use_docker": False}},
        timeout=10,
    ).raise_for_status()
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_PROFILE": "",
    }


@dataclass
class BacklogApi:
    """A loopback backlog API (LOCAL) and a proxy in front of it (PUBLIC) that refuses keyless
    requests as nginx does and can drop the key (state: proxy_passes_key, edge_strips_key)."""

    local_url: str
    public_url: str
    state: dict


class _Api(http.server.BaseHTTPRequestHandler):
    state: dict = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.headers.get("X-Internal-Key") != self.state["key"]:
            self._answer(403, {"detail": "forbidden"})
        elif self.state.get("raw_body") is not None:  # bytes as they are, control bytes too
            self._answer_raw(200, self.state["raw_body"])
        elif self.state.get("echo_key"):  # a careless API that repeats the key it was sent
            self._answer(200, {"backlog": self.state["backlog"], "key": self.state["key"]})
        else:
            self._answer(200, {"backlog": self.state["backlog"]})

    def _answer(self, code: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self._answer_raw(code, json.dumps(body).encode(), headers)

    def _answer_raw(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _Proxy(_Api):
    def do_GET(self) -> None:  # noqa: N802
        if self.state.get("proxy_status"):
            self._answer(self.state["proxy_status"], {"error": "proxy"})
            return
        # Like Cloudflare with a rule that strips the header: the key never reaches the proxy.
        arrived = None if self.state.get("edge_strips_key") else self.headers.get("X-Internal-Key")
        if not arrived:  # like nginx/api.conf.template: a keyless request stops here
            self._answer(403, {"detail": "X-Internal-Key missing (refused by nginx)"},
                         {"X-Refused-By": "nginx"})
            return
        headers = {}
        if self.state.get("proxy_passes_key", True):
            headers["X-Internal-Key"] = arrived
        upstream = requests.get(self.state["upstream"] + self.path, headers=headers, timeout=5)
        self._answer_raw(upstream.status_code, upstream.content)  # passed on as it came


def _serve(handler: type, state: dict) -> tuple[http.server.ThreadingHTTPServer, str]:
    bound = type(handler.__name__, (handler,), {"state": state})
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), bound)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://{LOOPBACK}:{server.server_port}"


@pytest.fixture
def backlog_api() -> Iterator[BacklogApi]:
    state = {"key": KEY, "backlog": 3}
    api, local_url = _serve(_Api, state)
    state["upstream"] = local_url
    proxy, public_url = _serve(_Proxy, state)
    try:
        yield BacklogApi(local_url, public_url, state)
    finally:
        for server in (api, proxy):
            server.shutdown()
            server.server_close()


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[object, str], Path]:
    def write(document: object, name: str = "outputs.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return path

    return write


# -- a stack seeded by hand in moto, and its outputs as the program would export them ---------

FUNCTION = "academy-worker-queue-depth-metric"
PUBLISHER_ROLE = f"{FUNCTION}-role"
RULE = f"{FUNCTION}-schedule"
KEY_PARAMETER = "/academy/workers/internal-api-key"
FLEET_POLICY = "own-queue-and-group"  # each fleet role's inline policy, as the stack names it
WORKER_BASE_POLICY = "academy-worker-base"  # stands in for AmazonSSMManagedInstanceCore
WORKERS = {
    "ai": {"label": "AI", "max_job_s": 600, "visibility": 900, "backlog_api": False,
           "retained": False,
           "metric": {"namespace": "Academy/Workers", "name": "QueueDepth",
                      "dimensions": {"WorkerType": "AI"}, "unit": "Count"}},
    "video": {"label": "Video", "max_job_s": 7200, "visibility": 10800, "backlog_api": True,
              "retained": True,
              "metric": {"namespace": "Academy/VideoProcessing", "name": "BacklogCount",
                         "dimensions": {"WorkerType": "Video",
                                        "AutoScalingGroupName": "academy-video-worker-asg"},
                         "unit": "Count"}},
}


@dataclass
class SeededStack:
    outputs: dict  # the `academy` document (plain, so a test can change it), built typed
    env: dict[str, str]

    def typed(self) -> StackOutput:
        """The outputs as verify reads them (the contract's parser)."""
        return stack_output.parse(self.outputs, "the seeded stack")

    def client(self, service: str):
        return _client(service, self.env["AWS_ENDPOINT_URL"])


@functools.cache
def _client(service: str, endpoint_url: str):
    """One client per service and endpoint for the session (making one costs ~10 ms; a seeded
    stack asks for ~15)."""
    import boto3

    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def _policy_metrics(metric: dict, group: str) -> list[dict]:
    return [
        {"Id": "m1", "ReturnData": False, "MetricStat": {"Stat": "Average", "Metric": {
            "Namespace": metric["namespace"], "MetricName": metric["name"],
            "Dimensions": [{"Name": k, "Value": v} for k, v in metric["dimensions"].items()]}}},
        {"Id": "m2", "ReturnData": False, "MetricStat": {"Stat": "Average", "Metric": {
            "Namespace": "AWS/AutoScaling", "MetricName": "GroupInServiceInstances",
            "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group}]}}},
        {"Id": "e1", "Expression": "m1 / m2", "ReturnData": True},
    ]


def wake_alarm_metrics(metric: dict, group: str) -> list[dict]:
    """The wake-from-zero alarm's queries as components/fleet.py declares them."""
    from components.fleet import BACKLOG_STAT, WAKE_EXPRESSION

    def stat(namespace: str, name: str, dimensions: dict, statistic: str) -> dict:
        return {"Period": 60, "Stat": statistic, "Metric": {
            "Namespace": namespace, "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}}

    return [
        {"Id": "m1", "ReturnData": False, "MetricStat": stat(
            metric["namespace"], metric["name"], metric["dimensions"], BACKLOG_STAT)},
        {"Id": "m2", "ReturnData": False, "MetricStat": stat(
            "AWS/AutoScaling", "GroupInServiceInstances", {"AutoScalingGroupName": group},
            "Average")},
        {"Id": "e1", "Expression": WAKE_EXPRESSION, "ReturnData": True},
    ]


def _seed_wake_from_zero(stack: "SeededStack", group: str, metric: dict) -> WakeFromZero:
    """The wake policy and alarm as the fleet declares them; returns the output's `wake`."""
    from components.fleet import wake_from_zero_spec

    wake = wake_from_zero_spec(group)
    autoscaling = stack.client("autoscaling")
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=group, PolicyName=wake["policy_name"], PolicyType="SimpleScaling",
        AdjustmentType=wake["adjustment_type"], ScalingAdjustment=wake["scaling_adjustment"])
    arn = autoscaling.describe_policies(AutoScalingGroupName=group, PolicyNames=[
        wake["policy_name"]])["ScalingPolicies"][0]["PolicyARN"]
    stack.client("cloudwatch").put_metric_alarm(
        AlarmName=wake["alarm_name"], AlarmActions=[arn], EvaluationPeriods=1,
        DatapointsToAlarm=1, Threshold=wake["threshold"],
        ComparisonOperator=wake["comparison_operator"], TreatMissingData="notBreaching",
        Metrics=wake_alarm_metrics(metric, group))
    return WakeFromZero(**wake)


def seed_role(stack: "SeededStack", name: str, inline: list[str],
              managed: list[str]) -> Role:
    """A role with these inline policies and these customer managed policies (made when
    missing) attached; returns the output's `Role` declaring exactly them."""
    iam = stack.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sqs:GetQueueAttributes", "Resource": "*"}]})
    for policy in inline:
        iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=document)
    made = {p["PolicyName"]: p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]}
    arns = []
    for policy in managed:
        arn = made.get(policy) or iam.create_policy(
            PolicyName=policy, PolicyDocument=document)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        arns.append(arn)
    return Role(name, list(inline), arns)


def seed_stack(env: dict[str, str], api_urls: tuple[str, str] | None = None) -> SeededStack:
    """Create what `pulumi up` would in asg mode, by hand, and return matching outputs."""
    from contract.lambda_archive import build_archive, code_sha256

    stack = SeededStack({}, env)
    sqs, iam, lam = stack.client("sqs"), stack.client("iam"), stack.client("lambda")
    autoscaling, events = stack.client("autoscaling"), stack.client("events")
    worker_types, targets = {}, []
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="academy-workers", ImageId="ami-12c6146b", InstanceType="t3.micro")
    for wt, spec in WORKERS.items():
        dlq_url = sqs.create_queue(QueueName=f"academy-{wt}-jobs-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=f"academy-{wt}-jobs", Attributes={
            "VisibilityTimeout": str(spec["visibility"]),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        })["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        group = f"academy-{wt}-worker-asg"
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group, LaunchConfigurationName="academy-workers", MinSize=0,
            MaxSize=10, DesiredCapacity=0, AvailabilityZones=[f"{REGION}a"])
        autoscaling.enable_metrics_collection(
            AutoScalingGroupName=group, Granularity="1Minute", Metrics=["GroupInServiceInstances"])
        autoscaling.put_scaling_policy(
            AutoScalingGroupName=group, PolicyName=f"{group}-backlog-per-instance",
            PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
                "CustomizedMetricSpecification": {
                    "Metrics": _policy_metrics(spec["metric"], group)},
                "TargetValue": 20.0})
        wake = _seed_wake_from_zero(stack, group, spec["metric"])
        instance_role = seed_role(stack, f"{group}-role", [FLEET_POLICY], [WORKER_BASE_POLICY])
        uses_api = spec["backlog_api"] and api_urls is not None
        worker_types[wt] = Worker(
            label=spec["label"], runs_on="fleet", backlog_source="api" if uses_api else "sqs",
            queue=Queue(f"academy-{wt}-jobs", url, arn, spec["visibility"],
                        retained=spec["retained"]),
            dlq=DeadLetterQueue(f"academy-{wt}-jobs-dlq", dlq_url, dlq_arn, 5),
            max_job_s=spec["max_job_s"], metric=Metric(**spec["metric"]), published=True,
            counting=Counting(in_flight=True, delayed=False), backlog_api=uses_api,
            fleet=Fleet(group, 0, 10, 20.0, 120, f"{group}-backlog-per-instance", True, wake,
                        instance_role=instance_role),
        )
        targets.append({"worker_type": wt, "queue_url": url, "metric": spec["metric"],
                        "count_in_flight": True, "count_delayed": False,
                        "use_backlog_api": worker_types[wt].backlog_api})
    role_arn = iam.create_role(RoleName=PUBLISHER_ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "lambda.amazonaws.com"}}]
    }))["Role"]["Arn"]
    iam.put_role_policy(RoleName=PUBLISHER_ROLE, PolicyName="publish", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["sqs:GetQueueAttributes"], "Resource": "*"}]}))
    archive = build_archive(ROOT / "lambda" / "queue_depth")
    environment = {
        "BACKLOG_TARGETS": json.dumps(targets),
        "BACKLOG_API_BASE_URL": api_urls[1] if api_urls else "",
        "INTERNAL_KEY_PARAMETER": KEY_PARAMETER,
        "BACKLOG_API_TIMEOUT_S": "3"}
    function_arn = lam.create_function(
        FunctionName=FUNCTION, Runtime="python3.12", Role=role_arn,
        Handler="lambda_function.handler", Code={"ZipFile": archive},
        Environment={"Variables": environment},
    )["FunctionArn"]
    events.put_rule(Name=RULE, ScheduleExpression="rate(1 minute)", State="ENABLED")
    events.put_targets(Rule=RULE, Targets=[{"Id": "publisher", "Arn": function_arn}])
    stack.client("ssm").put_parameter(Name=KEY_PARAMETER, Value=KEY, Type="SecureString")
    local_url, public_url = api_urls or ("http://127.0.0.1:9", "http://127.0.0.1:9")
    stack.outputs = stack_output.to_plain(StackOutput(
        schema_version=stack_output.SCHEMA_VERSION, project="academy-workers", stack="test",
        mode="asg", region=REGION, worker_types=worker_types,
        publisher=Publisher(FUNCTION, PUBLISHER_ROLE, code_sha256(archive), KEY_PARAMETER, RULE,
                            errors_alarm="", source_dir="lambda/queue_depth",
                            environment=environment, inline_policies=["publish"]),
        batch=None,
        api=Api(public_url, local_url, host_tag=None, hosts=[],
                nginx=Nginx("/nonexistent", "0" * 64, "nginx -t", "nginx -s reload", "", [])),
    ))
    return stack


@pytest.fixture
def stack(aws_env: dict[str, str]) -> SeededStack:
    return seed_stack(aws_env)


@pytest.fixture
def stack_with_api(aws_env: dict[str, str], backlog_api: BacklogApi) -> SeededStack:
    """The same stack with the video backlog read from the loopback API."""
    return seed_stack(aws_env, (backlog_api.local_url, backlog_api.public_url))


# -- `verify preflight` (test_preflight.py, test_preflight_work.py) ----------------------------



@pytest.fixture
def aws(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The tests' moto (in this process)."""
    save_stack(tmp_path, monkeypatch, aws_env)
    return aws_env


@pytest.fixture
def preflight(tmp_path: Path, capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str]]:
    def run(plan: Any, *extra: str, raw: str | None = None) -> tuple[int, str]:
        path = tmp_path / "preview.json"
        path.write_text(raw if raw is not None else json.dumps(plan, indent=4))
        code = cli.main(["preflight", "--stack", STACK, "--plan", str(path), *extra])
        out = capsys.readouterr()
        return code, out.out + out.err
    return run


@pytest.fixture
def emulated(emulator: moto_server.MotoServer, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> dict:
    """The sandbox's emulator, clean, saved as stack `test`."""
    server = emulator
    requests.post(f"{server.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    moto_server.configure(server.endpoint_url)
    env = {**server.env(), "AWS_REGION": REGION}
    save_stack(tmp_path, monkeypatch, env)
    return env


@dataclass(frozen=True)
class DebianAwsCli:
    """Debian's AWS CLI (v1, /usr/bin/aws) as an operator runs a printed command: through a
    shell, pointed at the test's moto by a wrapper (CLI v1 reads no AWS_ENDPOINT_URL), with
    dummy credentials and nothing else of this process's environment."""

    bin_dir: Path
    home: Path

    def run(self, script: str, shell: str = "bash", cwd: Path | None = None,
            extra: dict[str, str] | None = None) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            [shell, "-c", script], capture_output=True, text=True, timeout=120, cwd=cwd,
            check=False, env={"PATH": f"{self.bin_dir}:/usr/bin:/bin", "HOME": str(self.home),
                              "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                              "AWS_DEFAULT_REGION": REGION, **(extra or {})})


@pytest.fixture
def debian_aws(aws_env: dict[str, str], tmp_path: Path) -> DebianAwsCli:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(
        f'#!/bin/sh\nexec /usr/bin/aws --endpoint-url {aws_env["AWS_ENDPOINT_URL"]} "$@"\n')
    (bin_dir / "aws").chmod(0o755)
    return DebianAwsCli(bin_dir, tmp_path)

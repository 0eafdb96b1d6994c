"""MotoMocks: a Pulumi program deployed into a real moto server, checked with boto3."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from contract.aws_types import TYPES
from pulumi_bridge.program_eval import run_program
from sandbox.deployer.moto_mocks import (
    MotoDeployError,
    MotoMocks,
    policy_document_json,
    unwrap_secrets,
)
from sandbox.services import moto_server
from stack_settings.parse import PROJECT
from stack_settings.stack_files import REHEARSAL_VALUES, stack_config

Aws = Callable[[str], Any]
TINY_PROGRAM = Path(__file__).resolve().parent / "tiny_program" / "__main__.py"
TINY_KEY = "tiny-secret-key-0000"


@dataclass
class Deployment:
    mocks: MotoMocks
    outputs: dict[str, Any]
    code: bytes


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny(moto: moto_server.MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    code = _function_zip()
    zip_path = tmp_path_factory.mktemp("tiny") / "fn.zip"
    zip_path.write_bytes(code)
    mocks = MotoMocks(moto.env())
    config = {
        f"{PROJECT}:subnetIds": json.dumps(list(mocks.network.subnet_ids[:2])),
        f"{PROJECT}:securityGroupIds": json.dumps(list(mocks.network.security_group_ids)),
        f"{PROJECT}:zipPath": str(zip_path),
        f"{PROJECT}:key": TINY_KEY,
    }
    run = run_program(mocks, "tiny", config, (f"{PROJECT}:key",), TINY_PROGRAM)
    return Deployment(mocks, run.outputs["tiny"], code)


def test_queue_and_dlq_exist_with_the_redrive_policy(tiny: Deployment, aws: Aws) -> None:
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName="tiny-jobs")["QueueUrl"]
    assert tiny.outputs["queue_url"] == url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "10800"
    assert attributes["QueueArn"] == tiny.outputs["queue_arn"]
    redrive = json.loads(attributes["RedrivePolicy"])
    dlq_url = sqs.get_queue_url(QueueName="tiny-jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    assert redrive["deadLetterTargetArn"] == dlq_arn["Attributes"]["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 3


def test_role_and_its_inline_policy_scoped_to_the_queue(tiny: Deployment, aws: Aws) -> None:
    iam = aws("iam")
    assert iam.get_role(RoleName="tiny-fn-role")["Role"]["Arn"] == tiny.outputs["role_arn"]
    document = iam.get_role_policy(RoleName="tiny-fn-role", PolicyName="read-queue")
    statement = document["PolicyDocument"]["Statement"][0]
    assert statement["Resource"] == tiny.outputs["queue_arn"]


def test_the_secret_parameter_holds_the_key(tiny: Deployment, aws: Aws) -> None:
    found = aws("ssm").get_parameter(Name="/tiny/internal-api-key", WithDecryption=True)
    assert found["Parameter"]["Type"] == "SecureString"
    assert found["Parameter"]["Value"] == TINY_KEY
    assert found["Parameter"]["ARN"] == tiny.outputs["key_arn"]
    assert TINY_KEY not in json.dumps(tiny.outputs)


def test_the_function_runs_the_archive_it_was_given(tiny: Deployment, aws: Aws) -> None:
    config = aws("lambda").get_function(FunctionName="tiny-fn")["Configuration"]
    expected = base64.b64encode(hashlib.sha256(tiny.code).digest()).decode()
    assert config["CodeSha256"] == expected == tiny.outputs["code_sha256"]
    assert config["Role"] == tiny.outputs["role_arn"]
    assert config["FunctionArn"] == tiny.outputs["function_arn"]
    assert config["Environment"]["Variables"] == {"QUEUE_URL": tiny.outputs["queue_url"]}
    assert config["Architectures"] == ["arm64"]


def test_the_group_collects_metrics_and_tracks_backlog_per_instance(
    tiny: Deployment, aws: Aws
) -> None:
    autoscaling = aws("autoscaling")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["tiny-asg"])[
        "AutoScalingGroups"
    ][0]
    assert group["AutoScalingGroupARN"] == tiny.outputs["group_arn"]
    assert group["LaunchTemplate"]["LaunchTemplateId"] == tiny.outputs["template_id"]
    assert (group["MinSize"], group["MaxSize"]) == (1, 4)
    assert [m["Metric"] for m in group["EnabledMetrics"]] == ["GroupInServiceInstances"]
    assert set(group["VPCZoneIdentifier"].split(",")) == set(tiny.mocks.network.subnet_ids[:2])

    policy = autoscaling.describe_policies(AutoScalingGroupName="tiny-asg")["ScalingPolicies"][0]
    tracking = policy["TargetTrackingConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["TargetValue"] == 20.0
    metrics = {m["Id"]: m for m in tracking["CustomizedMetricSpecification"]["Metrics"]}
    assert metrics["e1"]["Expression"] == "m1 / m2"
    assert metrics["e1"]["ReturnData"] is True
    backlog = metrics["m1"]["MetricStat"]["Metric"]
    assert (backlog["Namespace"], backlog["MetricName"]) == ("Academy/Workers", "QueueDepth")
    assert backlog["Dimensions"] == [{"Name": "WorkerType", "Value": "AI"}]
    in_service = metrics["m2"]["MetricStat"]["Metric"]["Dimensions"]
    assert in_service == [{"Name": "AutoScalingGroupName", "Value": "tiny-asg"}]


def test_records_what_was_created_and_lists_what_was_not(tiny: Deployment) -> None:
    created = {(c.typ, c.name): c.physical_id for c in tiny.mocks.created}
    assert created[("aws:sqs/queue:Queue", "jobs")] == tiny.outputs["queue_url"]
    assert created[("aws:ec2/launchTemplate:LaunchTemplate", "lt")].startswith("lt-")
    assert ("aws:autoscaling/policy:Policy", "backlog-per-instance") in created
    assert tiny.mocks.not_created == [("aws:sns/topic:Topic", "not-in-moto")]
    assert tiny.mocks.failed == []


def test_a_resource_moto_refuses_names_type_and_name(moto: moto_server.MotoServer) -> None:
    mocks = MotoMocks(moto.env(), dependency_wait_s=0)
    args = pulumi.runtime.MockResourceArgs(
        typ="aws:lambda/permission:Permission",
        name="orphan-permission",
        inputs={
            "function": "no-such-function",
            "action": "lambda:InvokeFunction",
            "principal": "events.amazonaws.com",
        },
        custom=True,
    )
    with pytest.raises(MotoDeployError, match="Permission 'orphan-permission'.*no-such-function"):
        mocks.new_resource(args)


def test_invokes_answer_from_moto(moto: moto_server.MotoServer) -> None:
    mocks = MotoMocks(moto.env())

    def call(token: str, **args: Any) -> dict[str, Any]:
        return mocks.call(pulumi.runtime.MockCallArgs(token, args, ""))[0]

    assert call("aws:index/getCallerIdentity:getCallerIdentity")["accountId"] == "123456789012"
    assert call("aws:index/getRegion:getRegion")["name"] == "ap-northeast-2"
    assert call("aws:index/getPartition:getPartition")["partition"] == "aws"
    document = call(
        "aws:iam/getPolicyDocument:getPolicyDocument",
        statements=[{"actions": ["sqs:SendMessage"], "resources": ["arn:q"]}],
    )
    assert json.loads(document["json"])["Statement"] == [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:q"}
    ]
    assert call("aws:index/getUnknown:getUnknown") == {}
    assert mocks.unhandled_calls == ["aws:index/getUnknown:getUnknown"]


def test_unwrap_secrets_reaches_nested_values() -> None:
    from pulumi_bridge.inprocess import secret

    secret = secret("s3cret")
    assert unwrap_secrets({"a": [secret], "b": secret}) == {"a": ["s3cret"], "b": "s3cret"}
    assert json.loads(policy_document_json({"statements": []}))["Statement"] == []


@pytest.fixture
def fresh_moto(tmp_path: Path) -> Iterator[moto_server.MotoServer]:
    server = moto_server.start(tmp_path / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("stack", ["prod", "prod-asg"])
def test_the_real_program_deploys_into_moto(stack: str, fresh_moto: moto_server.MotoServer) -> None:
    mocks = MotoMocks(fresh_moto.env())
    config = stack_config(
        stack, {**REHEARSAL_VALUES, "internalApiKey": "real-program-key",
                **mocks.network.config_overrides()}
    )
    run = run_program(mocks, stack, config)

    assert mocks.failed == []
    assert {typ for typ, _ in mocks.not_created} <= {"aws:ssm/association:Association"}
    academy = run.outputs["academy"]
    for worker in academy["worker_types"].values():
        assert worker["queue"]["url"].startswith(fresh_moto.endpoint_url)
    created_types = {c.typ for c in mocks.created}
    if academy["mode"] == "batch":
        assert "aws:batch/computeEnvironment:ComputeEnvironment" in created_types
    else:
        assert "aws:autoscaling/policy:Policy" in created_types


# ---- what an up run again after a kill relies on ------------------------------------------------

JOB_DEFINITION_INPUTS = {"type": "container", "containerProperties": json.dumps(
    {"image": "busybox", "vcpus": 1, "memory": 128, "command": ["true"]})}


def test_a_job_definition_reuses_its_identical_active_revision_and_keeps_one(
        moto: moto_server.MotoServer, aws: Aws) -> None:
    mocks = MotoMocks(moto.env())
    name = "jobdef-reused"
    inputs = {**JOB_DEFINITION_INPUTS, "name": name}
    jobdef = TYPES["aws:batch/jobDefinition:JobDefinition"]
    first, _ = mocks.create(jobdef, "jd", inputs)
    again, outputs = mocks.update(jobdef, "jd", inputs, first, {})  # run again, unchanged
    assert again == first and outputs["revision"] == 1

    def active() -> list[str]:
        return [d["jobDefinitionArn"] for d in aws("batch").describe_job_definitions(
            jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]]

    assert active() == [first]
    bigger = json.dumps({"image": "busybox", "vcpus": 2, "memory": 128, "command": ["true"]})
    changed, outputs = mocks.update(jobdef, "jd", {**inputs, "containerProperties": bigger},
                                    first, {})
    assert changed != first and outputs["revision"] == 2
    assert active() == [changed]  # the superseded revision deregistered, as a replace does


def test_a_create_begun_by_a_killed_up_is_found_by_its_name(
        moto: moto_server.MotoServer) -> None:
    mocks = MotoMocks(moto.env())
    role_type, queue_type = TYPES["aws:iam/role:Role"], TYPES["aws:sqs/queue:Queue"]
    role = {"name": "found-role", "assumeRolePolicy": json.dumps({"Version": "2012-10-17",
                                                                   "Statement": []})}
    queue = {"name": "found-queue"}
    assert mocks.find(role_type, "r", role) is None
    assert mocks.find(queue_type, "q", queue) is None
    mocks.create(role_type, "r", role)
    url, _ = mocks.create(queue_type, "q", queue)
    assert mocks.find(role_type, "r", role)[0] == "found-role"
    assert mocks.find(queue_type, "q", queue)[0] == url


def test_an_input_the_registry_cannot_map_stops_the_deploy_naming_type_and_key(
        moto: moto_server.MotoServer, aws: Aws) -> None:
    mocks = MotoMocks(moto.env(), dependency_wait_s=0)
    args = pulumi.runtime.MockResourceArgs(
        typ="aws:sqs/queue:Queue", name="unmapped",
        inputs={"name": "unmapped-queue", "visibilityTimeoutMinutes": 5}, custom=True)
    with pytest.raises(MotoDeployError, match=r"Queue 'unmapped'.*visibilityTimeoutMinutes"):
        mocks.new_resource(args)  # never created with the input silently dropped
    assert "unmapped-queue" not in json.dumps(aws("sqs").list_queues())

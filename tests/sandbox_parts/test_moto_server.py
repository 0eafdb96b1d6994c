"""A real moto server subprocess: no Docker for Lambda and Batch, an env file clients can source."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from sandbox import processes
from sandbox.services import moto_server

Aws = Callable[[str], Any]

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def test_docker_is_switched_off_for_lambda_and_batch(moto: moto_server.MotoServer) -> None:
    config = requests.get(f"{moto.endpoint_url}/moto-api/config", timeout=5).json()
    assert config["lambda"] == {"use_docker": False}
    assert config["batch"] == {"use_docker": False}


def test_the_env_file_points_boto3_at_moto(
    moto: moto_server.MotoServer, aws: Aws, tmp_path: Path
) -> None:
    aws("sqs").create_queue(QueueName="from-the-test")
    env_file = moto.write_env_file(tmp_path / "env")
    script = "import boto3; print(boto3.client('sqs').list_queues()['QueueUrls'])"
    result = subprocess.run(
        ["bash", "-c", f'source "{env_file}" && "{sys.executable}" -c "{script}"'],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_PROFILE": "someone-elses"},
    )
    assert result.returncode == 0, result.stderr
    assert "from-the-test" in result.stdout
    assert f"{moto_server.REGION}" in env_file.read_text()


def test_lambda_invoke_echoes_the_event_without_running_the_code(aws: Aws) -> None:
    """What the sandbox relies on: moto never runs a handler, so the sandbox runs it itself."""
    role = aws("iam").create_role(RoleName="fn-role", AssumeRolePolicyDocument=TRUST)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lambda_function.py", "def handler(event, context):\n    return 42\n")
    lam = aws("lambda")
    created = lam.create_function(
        FunctionName="echo",
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="lambda_function.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    assert created["State"] == "Active"

    answer = lam.invoke(FunctionName="echo", Payload=b'{"ping": 1}')

    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"ping": 1}


def test_a_batch_job_succeeds_at_once(aws: Aws) -> None:
    ec2, iam, batch = (aws(s) for s in ("ec2", "iam", "batch"))
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    service_role = iam.create_role(RoleName="batch-svc", AssumeRolePolicyDocument=TRUST)
    profile = iam.create_instance_profile(InstanceProfileName="batch-instance")
    env = batch.create_compute_environment(
        computeEnvironmentName="test-ce",
        type="MANAGED",
        state="ENABLED",
        serviceRole=service_role["Role"]["Arn"],
        computeResources={
            "type": "EC2",
            "minvCpus": 0,
            "maxvCpus": 4,
            "instanceTypes": ["c6g.large"],
            "subnets": [subnet],
            "securityGroupIds": [group],
            "instanceRole": profile["InstanceProfile"]["Arn"],
        },
    )
    batch.create_job_queue(
        jobQueueName="test-queue",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}],
    )
    batch.register_job_definition(
        jobDefinitionName="test-jobdef",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 512},
    )

    job = batch.submit_job(jobName="j", jobQueue="test-queue", jobDefinition="test-jobdef")

    assert batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["status"] == "SUCCEEDED"


def test_registered_start_and_stop(tmp_path: Path) -> None:
    registry = processes.ProcessRegistry(tmp_path / "pids.json")
    try:
        server = moto_server.start(tmp_path / "moto.log", registry=registry)
        assert registry.load()["moto"].pid == server.pid
    finally:
        report = registry.stop_all()
    assert report.stopped == ["moto"]
    assert not processes.is_alive(server.pid)

"""Plan files in Pulumi's format (PreviewDigest, ResourceV3 old states, the update plan,
`pulumi stack export`) and real resources holding work, for the `verify preflight` tests
(test_preflight.py, test_preflight_work.py; their fixtures are in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contract import stack_output
from sandbox.services import moto_server

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
STACK = "test"
PROJECT = "academy-workers"
QUEUE_T = "aws:sqs/queue:Queue"
JOB_QUEUE_T = "aws:batch/jobQueue:JobQueue"
CE_T = "aws:batch/computeEnvironment:ComputeEnvironment"
GROUP_T = "aws:autoscaling/group:Group"
PARENT = {QUEUE_T: "academy:queues:WorkerQueues", GROUP_T: "academy:fleet:WorkerFleet",
          JOB_QUEUE_T: "academy:video_batch:VideoBatch", CE_T: "academy:video_batch:VideoBatch"}


# -- plan files as `pulumi preview --json` writes them ----------------------------------------

def urn(typ: str, name: str, stack: str = STACK) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{PARENT.get(typ, 'pulumi:pulumi:Stack')}${typ}::{name}"


def state(typ: str, name: str, resource_id: str, outputs: dict, *, retain: bool = False,
          stack: str = STACK) -> dict:
    """apitype.ResourceV3 as the digest serialises it."""
    document = {
        "urn": urn(typ, name, stack), "custom": True, "id": resource_id, "type": typ,
        "inputs": {k: v for k, v in outputs.items() if k not in ("arn", "id")},
        "outputs": {**outputs, "id": resource_id},
        "parent": f"urn:pulumi:{stack}::{PROJECT}::{PARENT.get(typ)}::{name.split('-')[0]}",
        "provider": f"urn:pulumi:{stack}::{PROJECT}::pulumi:providers:aws::default_7_51_1::"
                    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "propertyDependencies": {}, "created": "2025-01-01T00:00:00Z",
        "modified": "2025-01-01T00:00:00Z",
    }
    if retain:
        document["retainOnDelete"] = True
    return document


def step(op: str, old: dict | None, new: dict | None = None) -> dict:
    entry: dict[str, Any] = {"op": op, "urn": (old or new)["urn"],
                             "provider": (old or new)["provider"]}
    if old is not None:
        entry["oldState"] = old
    if new is not None:
        entry["newState"] = new
    if op in ("replace", "create-replacement", "delete-replaced"):
        entry["replaceReasons"] = ["name"]
        entry["detailedDiff"] = {"name": {"kind": "update-replace", "inputDiff": True}}
    if op == "update":
        entry["diffReasons"] = ["tags"]
    return entry


def digest(*steps: dict) -> dict:
    summary: dict[str, int] = {}
    for s in steps:
        summary[s["op"]] = summary.get(s["op"], 0) + 1
    return {"config": {"aws:region": REGION, f"{PROJECT}:videoMode": "batch"},
            "steps": list(steps), "duration": 2140000000, "changeSummary": {**summary, "same": 12}}


def replaced(old: dict) -> dict:
    return {**old, "id": "", "outputs": {}}


def stack_export(*resources: dict, stack: str = STACK) -> dict:
    """`pulumi stack export` (apitype.UntypedDeployment, DeploymentV3) of a stack holding
    `resources` (ResourceV3; a pending delete carries `"delete": true`) besides its root
    stack resource and default provider."""
    root = {"urn": f"urn:pulumi:{stack}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{stack}",
            "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {},
            "created": "2025-01-01T00:00:00Z", "modified": "2025-01-01T00:00:00Z"}
    provider = {"urn": f"urn:pulumi:{stack}::{PROJECT}::pulumi:providers:aws::default_7_51_1",
                "custom": True, "id": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
                "type": "pulumi:providers:aws", "inputs": {"region": REGION, "version": "7.51.1"},
                "outputs": {"region": REGION, "version": "7.51.1"}}
    return {"version": 3, "deployment": {
        "manifest": {"time": "2025-01-01T00:00:00Z", "magic": "0123abcd", "version": "v3.272.0"},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}},
        "resources": [root, provider, *resources]}}


def save_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict) -> None:
    """Saved as stack `test` the way the sandbox saves itself (outputs unneeded), with its
    state: no pending delete."""
    stacks = tmp_path / "stacks"
    (stacks / STACK).mkdir(parents=True)
    (stacks / STACK / "env").write_text(moto_server.render_env_file(
        {k: v for k, v in env.items() if v}))
    (stacks / STACK / "state.json").write_text(json.dumps(stack_export(), indent=4))
    monkeypatch.setenv("ACADEMY_STACKS_DIR", str(stacks))


def client(env: dict, service: str) -> Any:
    return moto_server.client({**env, "AWS_DEFAULT_REGION": REGION}, service)


# -- real resources holding work --------------------------------------------------------------

def make_queue(env: dict, name: str = "academy-video-jobs") -> dict:
    sqs = client(env, "sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    return state(QUEUE_T, f"{name.removeprefix('academy-')}-queue", url,
                 {"arn": arn, "name": name, "url": url, "visibilityTimeoutSeconds": 10800})


def make_batch(env: dict) -> tuple[dict, dict]:
    """A compute environment and the job queue it serves, with a job definition."""
    ec2, iam, batch = client(env, "ec2"), client(env, "iam"), client(env, "batch")
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="batch-instance")[
        "InstanceProfile"]["Arn"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="b", VpcId=vpc)["GroupId"]
    ce_name = "academy-video-batch-ce-v3"
    ce_arn = batch.create_compute_environment(
        computeEnvironmentName=ce_name, type="MANAGED", state="ENABLED", serviceRole=role,
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 16,
                          "instanceTypes": ["c6g.xlarge"], "subnets": [subnet],
                          "securityGroupIds": [group], "instanceRole": profile},
    )["computeEnvironmentArn"]
    jq_name = "academy-video-batch-queue"
    jq_arn = batch.create_job_queue(
        jobQueueName=jq_name, state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce_arn}])["jobQueueArn"]
    batch.register_job_definition(
        jobDefinitionName="academy-video-batch-jobdef", type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 256, "command": ["true"]})
    ce = state(CE_T, "video-batch-ce", ce_name, {"arn": ce_arn, "name": ce_name,
                                                  "type": "MANAGED", "state": "ENABLED"})
    jq = state(JOB_QUEUE_T, "video-batch-queue", jq_arn, {
        "arn": jq_arn, "name": jq_name, "state": "ENABLED", "priority": 1,
        "computeEnvironmentOrders": [{"computeEnvironment": ce_arn, "order": 1}]})
    return ce, jq


def make_group(env: dict, protect: bool, name: str = "academy-video-worker-asg") -> dict:
    autoscaling = client(env, "autoscaling")
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="video", ImageId="ami-12c6146b", InstanceType="t3.micro")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchConfigurationName="video", MinSize=0, MaxSize=4,
        DesiredCapacity=2, AvailabilityZones=[f"{REGION}a"])
    instances = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"][0]["Instances"]
    assert len(instances) == 2
    if protect:
        autoscaling.set_instance_protection(
            AutoScalingGroupName=name, InstanceIds=[instances[0]["InstanceId"]],
            ProtectedFromScaleIn=True)
    arn = (f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:"
           f"0e2c1f4a-0000-4000-8000-000000000000:autoScalingGroupName/{name}")
    return state(GROUP_T, "video-fleet-group", name, {"arn": arn, "name": name, "minSize": 0,
                                                        "maxSize": 4})


def seeded_group(stack, wt: str = "video") -> dict:
    """The seeded stack's group of `wt` as its old state (its outputs saved as the stack's)."""
    name = stack.outputs["worker_types"][wt]["fleet"]["group_name"]
    (group,) = client(stack.env, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return state(GROUP_T, f"{wt}-fleet-group", name,
                 {"arn": group["AutoScalingGroupARN"], "name": name, "minSize": 0})


def update_plan(*destroyed: tuple[str, list[str]]) -> dict:
    return {"manifest": {"time": "2025-01-01T00:00:00Z", "magic": "x", "version": "v3.272.0"},
            "resourcePlans": {u: {"goal": {"type": "", "name": "", "custom": True},
                                  "steps": ops, "state": {}} for u, ops in destroyed},
            "config": {}}


def save_outputs(stack, tmp_path: Path, parameter: str) -> None:
    """The stack's outputs (the seeded stack's, in asg mode) naming `parameter` as dispatch."""
    stack.outputs["dispatch"] = {
        "parameter": parameter, "worker_type": "video", "mode": "asg",
        "queue_url": stack.outputs["worker_types"]["video"]["queue"]["url"], "job_queue": None,
        "job_definition": None}
    (tmp_path / "stacks" / STACK / "outputs.json").write_text(
        json.dumps({stack_output.OUTPUT_NAME: stack.outputs}))


"""API hosts selected by tag (production: `apiHostTag: Role=academy-api`, no listed hosts):
resolved to running instances in a real moto server and reached through SSM; no host at all
is a FAIL, never a pass by planning nothing."""

import pytest

from contract.stack_output import Host, SshAddress
from verify.checks import CHECKS
from verify.checks.hosts import api_hosts, merge_hosts
from verify.context import RunOptions
from verify.report import Status
from verify.suite import build_context, run_checks
from verify.transports.ssm import SsmTransport

TAG = "Role=academy-api"


def launch(stack, count: int, tags: dict[str, str]) -> list[str]:
    ec2 = stack.client("ec2")
    answer = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=count, MaxCount=count, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    return [instance["InstanceId"] for instance in answer["Instances"]]


def planned_targets(stack, check: str) -> list[str]:
    ctx = build_context(stack.typed(), RunOptions(invoke=False), stack.env)
    return [task.target for task in CHECKS[check].plan(ctx)]


def run(stack, check: str) -> dict:
    report = run_checks(stack.typed(), [check], RunOptions(invoke=False, timeout_s=30.0),
                        env=stack.env)
    return {result.target: result for result in report.checks}


@pytest.fixture
def tagged_stack(stack):
    stack.outputs["api"]["host_tag"] = TAG
    stack.outputs["api"]["hosts"] = []
    return stack


def test_the_host_tag_resolves_to_running_instances_reached_through_ssm(tagged_stack):
    stack = tagged_stack
    web = launch(stack, 2, {"Role": "academy-api", "Name": "web"})
    launch(stack, 1, {"Role": "academy-worker"})
    stopped = launch(stack, 1, {"Role": "academy-api"})
    stack.client("ec2").stop_instances(InstanceIds=stopped)

    assert planned_targets(stack, "nginx") == web
    assert planned_targets(stack, "api") == [*web, "public key check"]
    ctx = build_context(stack.typed(), RunOptions(invoke=False), stack.env)
    transports = [ctx.hosts.for_host(host) for host in api_hosts(ctx)]
    assert [(type(t), t.instance_id) for t in transports] == [(SsmTransport, i) for i in web]

    results = run(stack, "nginx")
    assert set(results) == set(web)
    # moto's Run Command runs nothing, so the probe finds no file: a FAIL, reached through SSM.
    assert {r.status for r in results.values()} == {Status.FAIL}
    sent = stack.client("ssm").list_commands()["Commands"]
    assert len(sent) == 2 and {c["DocumentName"] for c in sent} == {"AWS-RunShellScript"}


def test_tagged_instances_already_listed_are_not_checked_twice(tagged_stack):
    stack = tagged_stack
    web = launch(stack, 2, {"Role": "academy-api"})
    stack.outputs["api"]["hosts"] = [{"name": "web-listed", "instance_id": web[0], "ssh": None}]
    assert planned_targets(stack, "nginx") == ["web-listed", web[1]]


def test_a_tag_that_matches_no_running_instance_fails_api_and_nginx(tagged_stack):
    stack = tagged_stack
    launch(stack, 1, {"Role": "academy-worker"})
    for check in ("nginx", "api"):
        result = run(stack, check)["api hosts"]
        assert result.status is Status.FAIL, result
        assert result.summary == ("no API hosts: the outputs list none and the tag "
                                  "Role=academy-api matches no running instance")
        assert "apiHostInstanceIds" in result.hint and "apiHostTag" in result.hint
        assert "Name=tag:Role,Values=academy-api" in result.hint


def test_no_hosts_and_no_tag_fails(stack):
    stack.outputs["api"].update(hosts=[], host_tag=None)
    result = run(stack, "nginx")["api hosts"]
    assert result.status is Status.FAIL and "no host tag is set" in result.summary


def test_merge_keeps_listed_hosts_first_and_adds_each_instance_once():
    listed = [Host("web-1", "i-1", None), Host("web-ssh", None, SshAddress("10.0.0.5", 22, "u"))]
    merged = merge_hosts(listed, ["i-1", "i-2", "i-2"])
    assert [h.name for h in merged] == ["web-1", "web-ssh", "i-2"]
    assert merged[2] == Host("i-2", "i-2", None)

"""IAM as the real program declares it: no wildcard action, nothing outside its own resources."""

from __future__ import annotations

import json
from typing import Any

ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
GROUP = "aws:autoscaling/group:Group"
ACCOUNT, REGION = "123456789012", "ap-northeast-2"  # what the mocks answer
# Actions without resource-level permissions: allowed on "*" only under a Condition.
UNSCOPABLE = {"cloudwatch:PutMetricData"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(run) -> list[tuple[str, dict[str, Any]]]:
    return [(name, st) for name, doc in run.iam_documents() for st in doc["Statement"]]


def _group_pattern(group_name: str) -> str:
    return (
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:"
        f"autoScalingGroupName/{group_name}"
    )


def test_the_stack_declares_permission_documents(any_stack) -> None:
    names = {name for name, _ in any_stack.iam_documents()}
    fleets = [wt for wt, e in any_stack.academy["worker_types"].items() if e["fleet"]]
    assert {f"{wt}-fleet-own-queue-and-group" for wt in fleets} <= names


def test_no_wildcard_action_and_no_set_desired_capacity(any_stack) -> None:
    for name, st in _statements(any_stack):
        assert "NotAction" not in st and "NotResource" not in st, name
        assert st["Effect"] == "Allow", name
        for action in _as_list(st["Action"]):
            assert "*" not in action, (name, action)
            assert action.lower() != "autoscaling:setdesiredcapacity", name


def test_every_resource_is_one_of_the_stacks_own(any_stack) -> None:
    own = any_stack.arns()
    groups = {r.inputs["name"] for r in any_stack.of_type(GROUP)}
    patterns = {_group_pattern(g) for g in groups}
    for name, st in _statements(any_stack):
        for resource in _as_list(st["Resource"]):
            if resource == "*":
                assert set(_as_list(st["Action"])) <= UNSCOPABLE, (name, st["Action"])
                assert st.get("Condition"), f"{name}: '*' without a Condition"
                continue
            base = resource.removesuffix(":*")  # a log group's streams
            assert resource in own or base in own or resource in patterns, (name, resource)


def test_each_fleet_consumes_only_its_own_queue_and_touches_only_its_own_group(
    any_stack,
) -> None:
    for wt, entry in any_stack.academy["worker_types"].items():
        if entry["fleet"] is None:
            continue
        (doc,) = [d for n, d in any_stack.iam_documents() if n == f"{wt}-fleet-own-queue-and-group"]
        by_sid = {st["Sid"]: st for st in doc["Statement"]}
        assert set(by_sid) == {"ConsumeOwnQueue", "ProtectSelfInOwnGroup"}
        consume = by_sid["ConsumeOwnQueue"]
        assert consume["Resource"] == entry["queue"]["arn"]
        assert sorted(_as_list(consume["Action"])) == sorted([
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
        ])
        protect = by_sid["ProtectSelfInOwnGroup"]
        assert protect["Resource"] == _group_pattern(entry["fleet"]["group_name"])
        assert sorted(_as_list(protect["Action"])) == [
            "autoscaling:CompleteLifecycleAction",
            "autoscaling:RecordLifecycleActionHeartbeat",
            "autoscaling:SetInstanceProtection",
        ]


def test_roles_trust_one_service_and_attach_only_the_policies_they_need(prod) -> None:
    for role in prod.of_type(ROLE):
        trust = json.loads(role.inputs["assumeRolePolicy"])
        for st in trust["Statement"]:
            assert st["Action"] == "sts:AssumeRole", role.name
            assert set(st["Principal"]) == {"Service"}, role.name
    attached: dict[str, set[str]] = {}
    for a in prod.of_type(ATTACHMENT):
        attached.setdefault(a.inputs["role"], set()).add(a.inputs["policyArn"])
    ssm = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    assert attached["academy-ai-worker-asg-role"] == {ssm}
    assert attached["academy-messaging-worker-asg-role"] == {ssm}
    batch_roles = {r.name: r.outputs["name"] for r in prod.of_type(ROLE) if "batch" in r.name}
    assert attached[batch_roles["video-batch-service-role"]] == {
        "arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole"
    }
    assert attached[batch_roles["video-batch-instance-role"]] == {
        "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
    }


def test_extra_managed_policies_reach_only_their_worker_type(evaluate_stack) -> None:
    extra = "arn:aws:iam::123456789012:policy/academy-ai-models-read"
    run = evaluate_stack("prod", {"aiManagedPolicyArns": [extra]})
    holders = {a.inputs["role"] for a in run.of_type(ATTACHMENT) if a.inputs["policyArn"] == extra}
    assert holders == {"academy-ai-worker-asg-role"}

"""Every role the program declares is in the stack output with exactly the policies the stack
grants it (issue 15, item 10): `verify all`'s `leftovers` judges any other policy on any of
them, as `verify adopt` does, so the output must name them all."""

from __future__ import annotations

import pytest

from components.stack_output import declared_roles, parse

ROLE = "aws:iam/role:Role"
INLINE = "aws:iam/rolePolicy:RolePolicy"
ATTACHED = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def _declared(run) -> dict[str, tuple[set[str], set[str]]]:
    """role name -> (inline policy names, attached ARNs), from the resources themselves."""
    roles = {str(r.outputs["name"]): (set(), set()) for r in run.of_type(ROLE)}
    for r in run.of_type(INLINE):
        roles[str(r.inputs["role"])][0].add(str(r.outputs["name"]))
    for r in run.of_type(ATTACHED):
        roles[str(r.inputs["role"])][1].add(str(r.inputs["policyArn"]))
    return roles


@pytest.mark.parametrize("overrides", [
    {"videoMode": "asg"}, {"videoMode": "batch"},
    {"videoMode": "batch", "videoDrain": True}, {"videoMode": "asg", "videoDrain": True}],
    ids=["asg", "batch", "batch-draining", "asg-draining"])
@pytest.mark.parametrize("stack", ["prod", "prod-asg"])
def test_every_declared_role_is_in_the_output_with_its_policies(evaluate_stack, stack,
                                                                overrides) -> None:
    run = evaluate_stack(stack, overrides)
    output = parse({"academy": run.academy})
    named = {role.name: (set(role.inline_policies), set(role.managed_policy_arns))
             for _, role in declared_roles(output)}
    assert len(named) == len(declared_roles(output))  # one entry a role
    assert named == _declared(run)


def test_the_roles_say_what_they_are_for(evaluate_stack) -> None:
    run = evaluate_stack("prod", {"videoMode": "batch", "videoDrain": True})
    output = parse({"academy": run.academy})
    purposes = [what for what, _ in declared_roles(output)]
    assert purposes[0] == "publisher role"
    assert {"video fleet's instance role", "Batch service role",
            "Batch instance role"} <= set(purposes)
    video = output.worker_types["video"].fleet
    assert video is not None and video.instance_role is not None
    assert video.instance_role.name == "academy-video-worker-asg-role" or \
        video.instance_role.name.endswith("-role")
    assert any(a.endswith(":iam::aws:policy/AmazonSSMManagedInstanceCore")
               for a in video.instance_role.managed_policy_arns)
    assert output.batch is not None and output.batch.service_role is not None
    assert [a.rsplit("/", 1)[-1] for a in output.batch.service_role.managed_policy_arns] == [
        "AWSBatchServiceRole"]


def test_an_output_written_before_the_roles_still_parses(evaluate_stack) -> None:
    run = evaluate_stack("prod", {"videoMode": "batch", "videoDrain": True})
    old = run.academy
    old = {**old, "publisher": {k: v for k, v in old["publisher"].items()
                                if k not in ("inline_policies", "managed_policy_arns")},
           "batch": {k: v for k, v in old["batch"].items()
                     if k not in ("service_role", "instance_role")},
           "worker_types": {wt: {**w, "fleet": w["fleet"] and {
               k: v for k, v in w["fleet"].items() if k != "instance_role"}}
               for wt, w in old["worker_types"].items()}}
    output = parse({"academy": old})
    assert output.publisher.inline_policies == []
    assert [what for what, _ in declared_roles(output)] == ["publisher role"]


@pytest.mark.parametrize("overrides", [
    {"videoMode": "asg"}, {"videoMode": "batch", "videoDrain": True}], ids=["asg", "batch"])
def test_every_role_adopt_checks_is_one_verify_all_checks(evaluate_stack, overrides) -> None:
    """adopt names another policy on each role it checks; verify all must fail on it there
    too (leftover_kinds: "inline policy" and "attached policy" are `leftovers` FAILs)."""
    from verify.adopt import checked_roles

    run = evaluate_stack("prod", overrides)
    checked = checked_roles(run)
    assert len(checked) >= 3  # the publisher's and the fleets'
    assert checked <= {role.name for _, role in declared_roles(parse({"academy": run.academy}))}

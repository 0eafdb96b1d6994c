"""`verify preflight` judges what a step does to work, not only what it deletes (issue 15):
the last consumer of a queue holding messages removed (item 1), pending deletes in every form
Pulumi writes them (item 2: the default digest that hides them, --show-replacement-steps, the
update plan, `pulumi stack export`), and types spelt like one that holds work, names that
would forge a line (item 13). Plan files shaped as Pulumi writes them (see test_preflight)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.verify.preflight_plans import (
    QUEUE_T,
    client,
    digest,
    make_queue,
    replaced,
    save_outputs,
    seeded_group,
    stack_export,
    state,
    step,
    update_plan,
)

DISPATCH = "/academy/workers/video/dispatch"


def fill(stack_or_env, url: str, visible: int = 1, in_flight: int = 1, delayed: int = 1) -> None:
    env = getattr(stack_or_env, "env", stack_or_env)
    sqs = client(env, "sqs")
    for _ in range(in_flight):
        sqs.send_message(QueueUrl=url, MessageBody="{}")
    if in_flight:
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=in_flight,
                                   VisibilityTimeout=600)["Messages"]
    for _ in range(visible):
        sqs.send_message(QueueUrl=url, MessageBody="{}")
    for _ in range(delayed):
        sqs.send_message(QueueUrl=url, MessageBody="{}", DelaySeconds=900)


# -- item 1: the last consumer of a queue that holds work ------------------------------------

def test_deleting_the_fleet_that_consumes_a_queue_holding_messages_is_refused(
        aws, stack, preflight, tmp_path):
    """The group has no busy instance, and its queue is not deleted: the messages would be
    stranded all the same."""
    save_outputs(stack, tmp_path, DISPATCH)
    fill(stack, stack.outputs["worker_types"]["video"]["queue"]["url"])
    code, out = preflight(digest(step("delete", seeded_group(stack))), "--json")
    assert code == 1, out
    (refused,) = json.loads(out)["refused"]
    assert refused["physical_name"] == "academy-video-worker-asg"
    assert refused["consumes"] == ["academy-video-jobs"]
    assert refused["counts"]["consumes"]["academy-video-jobs"] == {
        "messages": 3, "visible": 1, "in_flight": 1, "delayed": 1}
    code, out = preflight(digest(step("delete", seeded_group(stack))))
    assert ("the last consumer of queue academy-video-jobs (video), which holds 3 message(s): "
            "1 visible, 1 in flight, 1 delayed") in out
    assert "let its workers finish academy-video-jobs first" in out


def test_retiring_a_draining_fleet_whose_retained_queue_holds_messages_is_refused(
        aws, stack, preflight, tmp_path):
    """The red team's case: asg -> batch with videoDrain true, then videoDrain false while the
    retained queue still holds messages (the outputs' `draining` names the pair)."""
    video = stack.outputs["worker_types"]["video"]
    group, url = video["fleet"]["group_name"], video["queue"]["url"]
    old = seeded_group(stack)
    video.update(fleet=None, runs_on="batch")
    stack.outputs["draining"] = {"from_mode": "asg", "worker_type": "video", "queue_url": url,
                                 "group_name": group, "job_queue": None,
                                 "compute_environment": None}
    save_outputs(stack, tmp_path, DISPATCH)
    fill(stack, url, visible=2, in_flight=0, delayed=0)
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert "REFUSED  delete academy-video-worker-asg" in out
    assert "academy-video-jobs (video), which holds 2 message(s): 2 visible" in out


def test_a_replaced_group_or_one_whose_queue_is_empty_passes(aws, stack, preflight, tmp_path):
    save_outputs(stack, tmp_path, DISPATCH)
    fill(stack, stack.outputs["worker_types"]["video"]["queue"]["url"])
    old = seeded_group(stack)
    code, out = preflight(digest(step("replace", old, replaced(old))))
    assert code == 0, out  # the replacement consumes the same queue
    code, out = preflight(digest(step("delete", seeded_group(stack, "ai"))))
    assert code == 0, out
    assert "academy-ai-jobs (ai), which holds 0 message(s)" in out


def test_a_group_whose_consumed_queue_cannot_be_told_refuses(aws, stack, preflight):
    """No outputs saved: which queue it consumes is not known; a guard that cannot see
    refuses."""
    code, out = preflight(digest(step("delete", seeded_group(stack))))
    assert code == 1, out
    assert "UNKNOWN  delete academy-video-worker-asg" in out
    assert "cannot tell which queue it consumes" in out


# -- item 2: pending deletes, in every form Pulumi writes them -------------------------------

def pending_queue(env: dict) -> dict:
    """The old queue an interrupted create-before-delete replacement left, holding work."""
    old = make_queue(env, "academy-video-jobs-old")
    fill(env, old["id"], visible=2, in_flight=0, delayed=0)
    return {**old, "delete": True}


def no_change() -> dict:
    """The default digest of an up that changes nothing: the pending delete is hidden (a
    non-logical delete-replaced, shown only with --show-replacement-steps) and uncounted."""
    return {"config": {"aws:region": "ap-northeast-2"}, "duration": 1000,
            "changeSummary": {"same": 12}}


def write(tmp_path: Path, name: str, document: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=4))
    return str(path)


def test_a_pending_delete_in_the_state_is_judged_as_a_delete(aws, preflight, tmp_path):
    old = pending_queue(aws)
    export = write(tmp_path, "state.json", stack_export(old))
    code, out = preflight(no_change(), "--state", export)
    assert code == 1, out
    assert ("REFUSED  delete pending delete academy-video-jobs-old (aws:sqs/queue:Queue): 2 "
            "message(s): 2 visible") in out


def test_the_saved_stacks_state_is_read_without_state(aws, preflight, tmp_path):
    old = pending_queue(aws)
    write(tmp_path / "stacks" / "test", "state.json", stack_export(old))
    code, out = preflight(no_change())
    assert code == 1 and "delete pending delete academy-video-jobs-old" in out, out


def test_a_default_digest_alone_cannot_see_pending_deletes_and_refuses(aws, preflight, tmp_path):
    (tmp_path / "stacks" / "test" / "state.json").unlink()
    code, out = preflight(no_change())
    assert code == 1, out
    assert "UNKNOWN  cannot see pending deletes" in out and "--state STATE.json" in out


def test_show_replacement_steps_shows_the_pending_delete(aws, preflight, tmp_path):
    """Its changeSummary counts logical steps only: 0 replaces, and 1 delete-replaced step."""
    (tmp_path / "stacks" / "test" / "state.json").unlink()
    old = pending_queue(aws)
    plan = {**no_change(), "steps": [step("delete-replaced", old)]}
    code, out = preflight(plan)
    assert code == 1, out
    assert "REFUSED  delete pending delete academy-video-jobs-old" in out


def test_the_update_plan_names_the_pending_delete_and_the_state_gives_its_id(
        aws, preflight, tmp_path):
    (tmp_path / "stacks" / "test" / "state.json").unlink()
    old = pending_queue(aws)
    plan = write(tmp_path, "plan.json", update_plan((old["urn"], ["same", "delete-replaced"])))
    code, out = preflight(no_change(), "--update-plan", plan)
    assert code == 1, out  # not exit 2 "write both with one preview"
    assert "UNKNOWN  delete pending delete" in out and old["urn"].rsplit("::", 1)[1] in out
    assert "pulumi stack export" in out
    export = write(tmp_path, "state.json", stack_export(old))
    code, out = preflight(no_change(), "--update-plan", plan, "--state", export)
    assert code == 1, out
    assert "REFUSED  delete pending delete academy-video-jobs-old" in out and "2 visible" in out


def test_a_pending_delete_holding_nothing_passes_in_every_form(aws, preflight, tmp_path):
    old = make_queue(aws, "academy-video-jobs-old")
    old["delete"] = True
    export = write(tmp_path, "state.json", stack_export(old))
    plan = write(tmp_path, "plan.json", update_plan((old["urn"], ["same", "delete-replaced"])))
    for extra in (["--state", export], ["--update-plan", plan, "--state", export]):
        code, out = preflight(no_change(), *extra)
        assert code == 0 and "ok       delete pending delete" in out, out
    code, out = preflight({**no_change(), "steps": [step("delete-replaced", old)]})
    assert code == 0, out


@pytest.mark.parametrize("document, said", [
    ({"resources": []}, "not the output of `pulumi stack export`"),
    ({"version": 9, "deployment": {}}, "deployment version 9"),
    (stack_export(stack="prod"), "the state of stack prod, not test"),
    ({"version": 3, "deployment": {"resources": [{**state(QUEUE_T, "q", "x", {}),
                                                  "delete": "yes"}]}}, "should be true or"),
])
def test_a_state_file_that_is_not_this_stacks_export_is_exit_2(aws, preflight, tmp_path,
                                                               document, said):
    code, out = preflight(no_change(), "--state", write(tmp_path, "bad.json", document))
    assert code == 2 and said in out, out


# -- item 13: types spelt like one that holds work; names that would forge a line -------------

@pytest.mark.parametrize("typ", [
    "aws:sqs:Queue", "aws-native:sqs:Queue", "aws:sqs/queue:Queue ", "AWS:SQS/Queue:Queue",
    "aws-native:batch:JobQueue", "aws-native:batch:ComputeEnvironment",
    "aws-native:autoscaling:AutoScalingGroup", "aws:autoscaling/group:group",
])
def test_an_unknown_type_spelt_like_a_work_holder_is_unknown(aws, preflight, typ):
    old = make_queue(aws)
    fill(aws, old["id"], visible=1, in_flight=0, delayed=0)
    odd = state(typ, "video-jobs-queue", old["id"], old["outputs"])
    code, out = preflight(digest(step("delete", odd)))
    assert code == 1, out
    assert "UNKNOWN  delete academy-video-jobs" in out and "a type preflight does not know" in out


@pytest.mark.parametrize("typ", ["aws:sqs/queuePolicy:QueuePolicy", "aws:iam/group:Group",
                                 "aws:ec2/securityGroup:SecurityGroup",
                                 "aws:cloudwatch/logGroup:LogGroup"])
def test_types_that_hold_no_work_still_pass(aws, preflight, typ):
    code, out = preflight(digest(step("delete", state(typ, "x", "x-1", {"name": "x"}))))
    assert code == 0, out


def test_a_name_with_a_newline_and_esc_cannot_forge_a_go_ahead_line(aws, preflight):
    old = make_queue(aws)
    fill(aws, old["id"], visible=1, in_flight=0, delayed=0)
    forged = ("academy-video-jobs\nnothing that would be deleted or replaced holds work: go "
              "ahead\x1b[1A\x1b[2K")
    old["outputs"]["name"] = forged
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert "\x1b" not in out and "\\x1b[1A" in out
    assert not any(line.startswith("nothing that would") for line in out.splitlines()), out

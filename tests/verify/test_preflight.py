"""`verify preflight` on plan files in Pulumi's format (PreviewDigest, ResourceV3 old states)
against a moto server holding real work: one test per kind of work-holding resource. Then the
red team's findings: what must not read as "gone already" (another account's credentials, an
empty or odd id, identifiers naming two regions), files it must not hang on or trust (FIFOs,
devices, huge files, NaN, duplicate keys, a changeSummary its steps do not match, a failed
preview, a malformed update plan, a type the URN contradicts) and the dispatch parameter."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from sandbox.ports import free_port
from sandbox.services import moto_server
from sandbox.services.batch_runner import BatchRunnerClient
from tests.verify.batch_jobs import EMULATED, NOT_EMULATED, hold_jobs, hold_jobs_in_process
from tests.verify.preflight_plans import (
    ACCOUNT,
    CE_T,
    GROUP_T,
    JOB_QUEUE_T,
    QUEUE_T,
    REGION,
    STACK,
    client,
    digest,
    make_batch,
    make_group,
    make_queue,
    replaced,
    save_outputs,
    seeded_group,
    state,
    step,
    update_plan,
    urn,
)
from verify import cli
from verify.probes.work import IN_FLIGHT_STATUSES

# -- a queue with messages: visible, in flight, delayed ---------------------------------------

@pytest.mark.parametrize("kind", ["visible", "in_flight", "delayed"])
def test_deleting_a_queue_with_messages_is_refused_with_the_count(aws, preflight, kind):
    old = make_queue(aws)
    sqs, url = client(aws, "sqs"), old["id"]
    sqs.send_message(QueueUrl=url, MessageBody="{}", DelaySeconds=900 if kind == "delayed" else 0)
    if kind == "in_flight":
        assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"]
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert "REFUSED  delete academy-video-jobs (aws:sqs/queue:Queue): 1 message(s)" in out
    assert f"1 {kind.replace('_', ' ')}" in out
    assert "start-message-move-task" in out


def test_an_empty_queue_may_be_deleted(aws, preflight):
    code, out = preflight(digest(step("delete", make_queue(aws))))
    assert code == 0, out
    assert "ok       delete academy-video-jobs" in out and "0 message(s)" in out


def test_a_retained_queue_the_stack_would_forget_with_messages_is_refused(aws, preflight):
    """retainOnDelete keeps the queue in AWS, but nothing would consume its messages."""
    old = make_queue(aws)
    old["retainOnDelete"] = True
    client(aws, "sqs").send_message(QueueUrl=old["id"], MessageBody="{}")
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert "forget (retainOnDelete) academy-video-jobs" in out
    assert "retained: AWS keeps it but the stack stops managing it" in out


# -- a Batch job queue with jobs in each in-flight status -------------------------------------

def test_every_in_flight_status_is_held_by_one_of_the_two_tests_below():
    assert sorted(EMULATED + NOT_EMULATED) == sorted(IN_FLIGHT_STATUSES)


@pytest.mark.parametrize("status", EMULATED)
def test_deleting_a_job_queue_with_a_job_in_flight_is_refused(emulated, preflight, status):
    _, jq = make_batch(emulated)
    hold_jobs(emulated, jq["id"], [status])
    _assert_job_queue_delete_refused(preflight, jq, status)


@pytest.mark.parametrize("status", NOT_EMULATED)
def test_deleting_a_job_queue_with_a_job_held_in_moto_is_refused(aws, preflight, status):
    _, jq = make_batch(aws)
    hold_jobs_in_process(aws, jq["id"], [status])
    _assert_job_queue_delete_refused(preflight, jq, status)


def _assert_job_queue_delete_refused(preflight, jq: dict, status: str) -> None:
    code, out = preflight(digest(step("delete", jq)))
    assert code == 1, out
    assert f"REFUSED  delete academy-video-batch-queue ({JOB_QUEUE_T}): 1 job(s): 1 {status}" \
        in out
    assert "terminates every job" in out and "--job-queue academy-video-batch-queue" in out


def test_every_job_is_counted_by_status(emulated, preflight):
    _, jq = make_batch(emulated)
    runner = BatchRunnerClient(emulated["AWS_ENDPOINT_URL"], REGION)
    for succeeded in (True, False):  # ended jobs are not counted
        hold_jobs(emulated, jq["id"], ["RUNNING"])
        (job,) = client(emulated, "batch").list_jobs(jobQueue=jq["id"], jobStatus="RUNNING")[
            "jobSummaryList"]
        runner.done(job["jobId"], succeeded=succeeded)
    hold_jobs(emulated, jq["id"], ["RUNNABLE", "RUNNABLE", "RUNNING", "STARTING"])
    code, out = preflight(digest(step("delete", jq)), "--json")
    assert code == 1, out
    (refused,) = json.loads(out)["refused"]
    assert refused["counts"] == {"jobs": 4, "SUBMITTED": 0, "PENDING": 0, "RUNNABLE": 2,
                                 "STARTING": 1, "RUNNING": 1}


def test_a_job_queue_whose_jobs_all_ended_may_be_deleted(emulated, preflight):
    _, jq = make_batch(emulated)
    hold_jobs(emulated, jq["id"], ["RUNNING"])
    (job,) = client(emulated, "batch").list_jobs(jobQueue=jq["id"], jobStatus="RUNNING")[
        "jobSummaryList"]
    BatchRunnerClient(emulated["AWS_ENDPOINT_URL"], REGION).done(job["jobId"], succeeded=True)
    code, out = preflight(digest(step("delete", jq)))
    assert code == 0, out


# -- a compute environment that serves such a queue -------------------------------------------

def test_deleting_a_compute_environment_serving_busy_jobs_is_refused(emulated, preflight):
    ce, jq = make_batch(emulated)
    hold_jobs(emulated, jq["id"], ["RUNNING", "STARTING"])
    code, out = preflight(digest(step("delete", ce)))
    assert code == 1, out
    assert ("REFUSED  delete academy-video-batch-ce-v3 "
            f"({CE_T}): serves academy-video-batch-queue with 2 job(s)") in out
    assert "1 STARTING" in out and "1 RUNNING" in out


def test_a_compute_environment_serving_an_idle_queue_may_be_deleted(aws, preflight):
    ce, jq = make_batch(aws)
    code, out = preflight(digest(step("delete", jq), step("delete", ce)))
    assert code == 0, out
    assert "serves academy-video-batch-queue with no job in flight" in out


# -- a group with busy workers (protected from scale-in) --------------------------------------

def test_deleting_a_group_with_a_protected_instance_is_refused(aws, preflight):
    old = make_group(aws, protect=True)
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert "REFUSED  delete academy-video-worker-asg" in out
    assert "1 instance(s) protected from scale-in (busy workers): i-" in out



def test_a_group_without_protected_instances_may_be_deleted(aws, stack, preflight, tmp_path):
    save_outputs(stack, tmp_path, "/academy/workers/video/dispatch")
    code, out = preflight(digest(step("delete", seeded_group(stack))))
    assert code == 0, out
    assert "no instance protected from scale-in" in out
    assert "the last consumer of queue academy-video-jobs (video), which holds 0 message(s)" in out


# -- replace vs delete vs update --------------------------------------------------------------

def test_a_replacement_is_refused_like_a_delete(aws, preflight):
    old = make_queue(aws)
    client(aws, "sqs").send_message(QueueUrl=old["id"], MessageBody="{}")
    code, out = preflight(digest(step("replace", old, replaced(old))))
    assert code == 1, out
    assert "REFUSED  replace academy-video-jobs" in out


def test_replacement_steps_shown_in_full_count_once(aws, preflight):
    """--show-replacement-steps adds create-replacement and delete-replaced to `replace`."""
    old = make_group(aws, protect=True)
    code, out = preflight(digest(step("create-replacement", old, replaced(old)),
                                 step("replace", old, replaced(old)),
                                 step("delete-replaced", old)), "--json")
    assert code == 1, out
    (refused,) = json.loads(out)["refused"]
    assert refused["action"] == "replace" and refused["counts"]["protected_instances"] == 1


def test_an_update_never_blocks(aws, preflight):
    queue, group = make_queue(aws), make_group(aws, protect=True)
    client(aws, "sqs").send_message(QueueUrl=queue["id"], MessageBody="{}")
    ce, jq = make_batch(aws)
    hold_jobs_in_process(aws, jq["id"], ["PENDING"])
    steps = [step("update", old, {**old, "inputs": {**old["inputs"], "tags": {"a": "b"}}})
             for old in (queue, group, jq, ce)]
    code, out = preflight(digest(*steps, step("same", queue, queue)))
    assert code == 0, out
    assert "deletes or replaces 0 resource(s)" in out


def test_a_plan_whose_deletes_hold_nothing_passes_and_other_types_are_not_counted(
        aws, stack, preflight, tmp_path):
    save_outputs(stack, tmp_path, "/academy/workers/video/dispatch")
    ce, jq = make_batch(aws)
    policy = state("aws:autoscaling/policy:Policy", "video-fleet-policy", "video-backlog",
                   {"name": "video-backlog"})
    gone = state(QUEUE_T, "old-queue", f"{aws['AWS_ENDPOINT_URL']}/{ACCOUNT}/gone",
                 {"arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:gone"})
    plan = digest(step("delete", make_queue(aws, "academy-old-jobs")), step("delete", jq),
                  step("delete", ce), step("delete", seeded_group(stack)),
                  step("delete", policy), step("delete", gone))
    code, out = preflight(plan)
    assert code == 0, out
    assert "deletes or replaces 6 resource(s), 5 of a kind that holds work" in out
    assert "gone already" in out and "video-backlog" not in out


def test_everything_refused_is_named_at_once(aws, preflight):
    queue = make_queue(aws)
    client(aws, "sqs").send_message(QueueUrl=queue["id"], MessageBody="{}")
    ce, jq = make_batch(aws)
    hold_jobs_in_process(aws, jq["id"], ["SUBMITTED"])
    plan = digest(step("delete", queue), step("delete", jq), step("delete", ce),
                  step("delete", make_group(aws, protect=True)))
    code, out = preflight(plan, "--json")
    assert code == 1
    names = [r["physical_name"] for r in json.loads(out)["refused"]]
    assert names == ["academy-video-jobs", "academy-video-batch-queue",
                     "academy-video-batch-ce-v3", "academy-video-worker-asg"]


def test_work_that_cannot_be_counted_refuses(aws, preflight, tmp_path):
    """A guard that cannot see must not wave the plan through."""
    old = make_queue(aws)
    env_file = tmp_path / "stacks" / STACK / "env"
    env_file.write_text(moto_server.render_env_file(
        {**{k: v for k, v in aws.items() if v},
         "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}))
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert "UNKNOWN  delete academy-video-jobs" in out
    assert "cannot tell which account this runner sees (sts get-caller-identity failed" in out


# -- the update plan `pulumi up --plan` runs --------------------------------------------------


def test_the_update_plan_must_destroy_only_what_the_preview_showed(aws, preflight, tmp_path):
    old = make_queue(aws)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(update_plan((old["urn"], ["delete"]))))
    code, out = preflight(digest(step("delete", old)), "--update-plan", str(plan_file))
    assert code == 0, out
    other = urn(GROUP_T, "video-fleet-group")
    for ops in (["delete"], ["create-replacement", "replace", "delete-replaced"]):
        plan_file.write_text(json.dumps(update_plan((old["urn"], ["delete"]), (other, ops))))
        code, out = preflight(digest(step("delete", old)), "--update-plan", str(plan_file))
        assert code == 2 and "does not show" in out and other in out


# -- not a preview digest: exit 2 -------------------------------------------------------------

@pytest.mark.parametrize("raw, said", [
    ("", "not JSON"),
    ("Previewing update (prod)\n", "not JSON"),
    ("[1, 2]", "a JSON list"),
    (json.dumps({"resources": []}), "no steps and no changeSummary"),
    (json.dumps(update_plan()), "is an update plan (`--save-plan`)"),
    (json.dumps({"steps": [{"op": "delete"}]}), "steps[0] has no op and urn"),
    (json.dumps({"steps": [{"op": "obliterate", "urn": urn(QUEUE_T, "q")}]}), "unknown to"),
    (json.dumps({"steps": [{"op": "delete", "urn": urn(QUEUE_T, "q")}]}), "carries no oldState"),
])
def test_a_file_that_is_not_a_preview_digest_is_exit_2(aws, preflight, raw, said):
    code, out = preflight(None, raw=raw)
    assert code == 2, out
    assert said in out and "Traceback" not in out


def test_a_plan_of_another_stack_or_no_file_is_exit_2(aws, preflight, tmp_path, capsys):
    old = state(QUEUE_T, "video-jobs-queue", "https://sqs/x", {}, stack="prod")
    code, out = preflight(digest(step("delete", old)))
    assert code == 2 and "a plan of stack prod, not test" in out
    code = cli.main(["preflight", "--stack", STACK, "--plan", str(tmp_path / "missing.json")])
    assert code == 2 and "cannot read --plan" in capsys.readouterr().err


def test_a_plan_without_changes_passes(aws, preflight):
    code, out = preflight({"config": {}, "changeSummary": {"same": 30}, "duration": 1})
    assert code == 0, out


# == red team: preflight =====================================================================

OTHER_ACCOUNT = "210987654321"
PARAMETER_T = "aws:ssm/parameter:Parameter"


def as_another_account(aws: dict, tmp_path: Path) -> None:
    """The saved stack's env now holds credentials of another account (moto: an assumed role
    there), as a runner with the wrong AWS profile would."""
    creds = client(aws, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/deployer", RoleSessionName="preflight")[
        "Credentials"]
    env = {**{k: v for k, v in aws.items() if v}, "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
           "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
           "AWS_SESSION_TOKEN": creds["SessionToken"]}
    (tmp_path / "stacks" / STACK / "env").write_text(moto_server.render_env_file(env))


# -- F1: the wrong account's "not found" is not "gone already" ---------------------------------

@pytest.mark.parametrize("kind", ["group", "queue"])
def test_another_accounts_credentials_refuse_instead_of_gone_already(aws, preflight, tmp_path,
                                                                     kind):
    if kind == "group":
        old = make_group(aws, protect=True)
    else:
        old = make_queue(aws)
        client(aws, "sqs").send_message(QueueUrl=old["id"], MessageBody="{}")
    as_another_account(aws, tmp_path)
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert "UNKNOWN" in out and "gone already" not in out
    assert f"checked as account {OTHER_ACCOUNT}, the plan's resource is in account {ACCOUNT}" \
        in out and "use the stack's credentials" in out


def test_an_account_that_cannot_be_known_refuses(aws, preflight, tmp_path):
    old = make_group(aws, protect=False)
    old["outputs"]["arn"] = old["outputs"]["arn"].replace(f":{ACCOUNT}:", "::")
    code, out = preflight(digest(step("delete", old)))
    assert code == 1 and "cannot tell its account and region" in out, out


def test_gone_already_in_the_right_account_still_passes(aws, preflight):
    old = make_group(aws, protect=False)
    client(aws, "autoscaling").delete_auto_scaling_group(
        AutoScalingGroupName=old["id"], ForceDelete=True)
    code, out = preflight(digest(step("delete", old)))
    assert code == 0 and "gone already" in out, out


# -- F2: an empty or odd id, a merge that kept the incomplete state, two regions --------------

def _no_id_queue(old: dict) -> dict:
    return {**old, "id": "", "outputs": {}}


@pytest.mark.parametrize("damage", [
    lambda old: _no_id_queue(old),
    lambda old: {**old, "id": "   ", "outputs": {**old["outputs"], "url": ""}},
    lambda old: {**old, "id": ["x"]},
    lambda old: {**old, "id": "not-a-url", "outputs": {}},
])
def test_a_queue_without_a_usable_id_is_unknown(aws, preflight, damage):
    old = damage(make_queue(aws))
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert "UNKNOWN" in out and "gone already" not in out


@pytest.mark.parametrize("which", ["job queue", "compute environment"])
def test_batch_resources_with_an_empty_id_are_unknown(aws, preflight, which):
    ce, jq = make_batch(aws)
    old = jq if which == "job queue" else ce
    old = {**old, "id": "", "outputs": {k: v for k, v in old["outputs"].items() if k != "arn"}}
    code, out = preflight(digest(step("delete", old)))
    assert code == 1 and "UNKNOWN" in out and "gone already" not in out, out


def test_nan_in_a_plan_is_exit_2(aws, preflight):
    old = make_queue(aws)
    raw = json.dumps(digest(step("delete", old))).replace(json.dumps(old["id"]), "NaN", 1)
    code, out = preflight(None, raw=raw)
    assert code == 2 and "NaN is not JSON" in out, out


def test_the_complete_old_state_counts_when_replacement_steps_disagree(aws, preflight):
    """create-replacement with an incomplete old state first, delete-replaced with the full."""
    old = make_group(aws, protect=True)
    code, out = preflight(digest(step("create-replacement", {**old, "id": "", "outputs": {}},
                                      replaced(old)),
                                 step("replace", old, replaced(old)),
                                 step("delete-replaced", old)))
    assert code == 1 and "REFUSED  replace academy-video-worker-asg" in out, out
    assert "1 instance(s) protected" in out


def test_replacement_steps_naming_two_ids_are_exit_2(aws, preflight):
    old = make_group(aws, protect=False)
    other = {**old, "id": "another-group"}
    code, out = preflight(digest(step("create-replacement", other, replaced(old)),
                                 step("replace", old, replaced(old)),
                                 step("delete-replaced", old)))
    assert code == 2 and "name different old ids" in out, out


def test_a_delete_replaced_of_another_id_than_the_replace_is_a_pending_delete(aws, preflight):
    """An earlier replacement's old resource (pending delete) beside this run's replacement:
    Pulumi writes both as delete-replaced of one URN; each is judged."""
    old = make_group(aws, protect=True)
    newer = {**old, "id": "academy-video-worker-asg-2", "outputs": {
        **old["outputs"], "name": "academy-video-worker-asg-2",
        "arn": old["outputs"]["arn"].replace("asg", "asg-2")}}
    code, out = preflight(digest(step("create-replacement", newer, replaced(old)),
                                 step("replace", newer, replaced(old)),
                                 step("delete-replaced", newer),
                                 step("delete-replaced", {**old, "delete": True})), "--json")
    assert code == 1, out
    (refused,) = json.loads(out)["refused"]
    assert refused["action"] == "delete pending delete"
    assert refused["physical_name"] == "academy-video-worker-asg"


def test_a_queue_arn_in_another_region_than_its_url_is_unknown(aws, preflight):
    old = make_queue(aws)
    old["id"] = old["outputs"]["url"] = \
        f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/academy-video-jobs"
    old["outputs"]["arn"] = f"arn:aws:sqs:us-east-1:{ACCOUNT}:academy-video-jobs"
    code, out = preflight(digest(step("delete", old)))
    assert code == 1 and "different regions" in out and "gone already" not in out, out


# -- F3: files preflight must not hang on or read whole ----------------------------------------

def _run_plan(path: str, capsys: pytest.CaptureFixture, flag: str = "--plan",
              plan: str | None = None) -> tuple[int, str]:
    argv = ["preflight", "--stack", STACK, "--plan", path if flag == "--plan" else plan]
    if flag == "--update-plan":
        argv += ["--update-plan", path]
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(cli.main(argv)), daemon=True)
    worker.start()
    worker.join(20)
    assert result, f"preflight {flag} {path} hung"
    out = capsys.readouterr()
    return result[0], out.out + out.err


@pytest.mark.parametrize("flag", ["--plan", "--update-plan"])
@pytest.mark.parametrize("kind", ["fifo", "zero", "huge"])
def test_a_fifo_a_device_or_a_huge_file_is_exit_2(aws, tmp_path, capsys, flag, kind):
    ok_plan = tmp_path / "ok.json"
    ok_plan.write_text(json.dumps(digest()))
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif kind == "zero":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "huge.json"
        with path.open("wb") as handle:
            handle.truncate(300 * 1024 * 1024)  # sparse: no disk used
    code, out = _run_plan(str(path), capsys, flag, str(ok_plan))
    assert code == 2, out
    assert ("not a regular file" in out) if kind != "huge" else ("larger than" in out)


# -- F4: a digest or update plan that does not add up ------------------------------------------

@pytest.mark.parametrize("steps", [None, "absent"])
def test_a_change_summary_with_deletes_but_no_steps_is_exit_2(aws, preflight, steps):
    plan: dict = {"config": {}, "changeSummary": {"delete": 2, "same": 3}}
    if steps is None:
        plan["steps"] = None
    code, out = preflight(plan)
    assert code == 2, out
    assert "changeSummary says 2 deletes but its steps show 0" in out


def test_a_change_summary_with_more_replaces_than_steps_is_exit_2(aws, preflight):
    plan = digest(step("delete", make_queue(aws)))
    plan["changeSummary"]["replace"] = 1
    code, out = preflight(plan)
    assert code == 2 and "says 1 replaces but its steps show 0" in out, out


def test_a_failed_preview_is_exit_2(aws, preflight):
    plan = {"config": {}, "diagnostics": [
        {"urn": urn(QUEUE_T, "video-jobs-queue"), "prefix": "error: ",
         "message": "aws:sqs:Queue resource 'video-jobs-queue' has a problem: bad name",
         "severity": "error"}], "changeSummary": {}}
    code, out = preflight(plan)
    assert code == 2 and "the preview failed: aws:sqs:Queue resource" in out, out


def test_the_type_comes_from_the_urn_and_the_old_state_must_agree(aws, preflight):
    old = make_group(aws, protect=True)
    old["type"] = "aws:autoscaling/group:GroupV2"
    code, out = preflight(digest(step("delete", old)))
    assert code == 2 and "its URN says 'aws:autoscaling/group:Group'" in out, out


def test_duplicate_keys_in_a_plan_are_exit_2(aws, preflight):
    old = make_queue(aws)
    raw = json.dumps(digest(step("delete", old)))
    raw = raw.replace('"op": "delete"', '"op": "delete", "op": "same"', 1)
    code, out = preflight(None, raw=raw)
    assert code == 2 and "appears twice" in out, out


@pytest.mark.parametrize("steps", ["delete", [["delete"]], [1], {"delete": 1}])
def test_a_malformed_update_plan_is_exit_2(aws, preflight, tmp_path, steps):
    old = make_queue(aws)
    plan_file = tmp_path / "plan.json"
    document = update_plan((old["urn"], ["delete"]))
    document["resourcePlans"][old["urn"]]["steps"] = steps
    plan_file.write_text(json.dumps(document))
    code, out = preflight(digest(step("delete", old)), "--update-plan", str(plan_file))
    assert code == 2 and "should be a list of ops" in out, out
    assert "internal error" not in out


# -- F4: the dispatch parameter ---------------------------------------------------------------
def dispatch_state(name: str) -> dict:
    return state(PARAMETER_T, "video-dispatch", name,
                 {"arn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}", "name": name,
                  "type": "String"})


def test_deleting_the_dispatch_parameter_is_refused(aws, stack, preflight, tmp_path):
    save_outputs(stack, tmp_path, "/academy/video/dispatch")
    old = dispatch_state("/academy/video/dispatch")
    code, out = preflight(digest(step("delete", old)))
    assert code == 1, out
    assert f"REFUSED  delete dispatch ({PARAMETER_T}): the dispatch parameter" in out
    assert "503 to every upload" in out and "point the API at it first" in out


def test_the_dispatch_parameter_replaced_under_its_name_or_another_parameter_passes(
        aws, stack, preflight, tmp_path):
    save_outputs(stack, tmp_path, "/academy/video/dispatch")
    old = dispatch_state("/academy/video/dispatch")
    code, out = preflight(digest(step("replace", old, replaced(old))))
    assert code == 0, out
    code, out = preflight(digest(step("delete", dispatch_state("/academy/other"))))
    assert code == 0, out

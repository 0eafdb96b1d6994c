"""videoDrain: while switching videoMode the old path of the Batch-capable type stays declared
and working until it is empty; the dispatch parameter already points at the new one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract.stack_output import parse
from stack_settings.parse import SettingsError, parse_settings
from stack_settings.stack_files import REHEARSAL_VALUES, plain_settings, stack_config

GROUP = "aws:autoscaling/group:Group"
POLICY = "aws:autoscaling/policy:Policy"
HOOK = "aws:autoscaling/lifecycleHook:LifecycleHook"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
CE = "aws:batch/computeEnvironment:ComputeEnvironment"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
JOB_DEF = "aws:batch/jobDefinition:JobDefinition"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FUNCTION = "aws:lambda/function:Function"
PARAMETER = "aws:ssm/parameter:Parameter"
DISPATCH = "/academy/workers/video/dispatch"
VIDEO_GROUP = "academy-video-worker-asg"


@pytest.fixture
def batch_draining_fleet(evaluate_stack):  # type: ignore[no-untyped-def]
    """Switched asg -> batch: new videos go to Batch, the fleet drains the retained queue."""
    return evaluate_stack("prod", {"videoDrain": True})


@pytest.fixture
def asg_draining_batch(evaluate_stack):  # type: ignore[no-untyped-def]
    """Switched batch -> asg: new videos go to the fleet, Batch finishes its jobs."""
    return evaluate_stack("prod-asg", {"videoDrain": True})


def _targets(run) -> dict[str, dict[str, Any]]:
    (function,) = run.of_type(FUNCTION)
    targets = json.loads(function.inputs["environment"]["variables"]["BACKLOG_TARGETS"])
    return {t["worker_type"]: t for t in targets}


def _dispatch(run) -> dict[str, Any]:
    (param,) = [r for r in run.of_type(PARAMETER) if r.inputs["name"] == DISPATCH]
    return json.loads(param.inputs["insecureValue"])


def _has_video_fleet(run) -> bool:
    return VIDEO_GROUP in {r.inputs["name"] for r in run.of_type(GROUP)}


def _has_batch(run) -> bool:
    return bool(run.of_type(CE) or run.of_type(JOB_QUEUE) or run.of_type(JOB_DEF))


def test_without_videodrain_only_the_current_path_is_declared(prod, prod_asg) -> None:
    assert _has_batch(prod) and not _has_video_fleet(prod)
    assert _has_video_fleet(prod_asg) and not _has_batch(prod_asg)
    assert prod.academy["draining"] is None and prod_asg.academy["draining"] is None


def test_batch_mode_draining_keeps_the_fleet_scaling_on_its_queue(batch_draining_fleet) -> None:
    run = batch_draining_fleet
    assert _has_batch(run) and _has_video_fleet(run)
    # The fleet as in asg mode: its policy reads the metric the publisher keeps publishing.
    policy = run.one(POLICY, "video-fleet-backlog-per-instance")
    assert policy.inputs["autoscalingGroupName"] == VIDEO_GROUP
    assert run.one(HOOK, "video-fleet-terminating").inputs["autoscalingGroupName"] == VIDEO_GROUP
    target = _targets(run)["video"]
    queue = run.one("aws:sqs/queue:Queue", "video-jobs-queue")
    assert target["queue_url"] == queue.outputs["url"]
    # Counted in SQS: the DB's count includes the videos Batch is working on.
    assert target["use_backlog_api"] is False
    # New work goes to Batch already.
    assert _dispatch(run)["mode"] == "batch"
    assert _dispatch(run)["job_queue"] == "academy-video-batch-queue"


def test_asg_mode_draining_keeps_batch_with_its_queue_and_ce(asg_draining_batch) -> None:
    run = asg_draining_batch
    assert _has_video_fleet(run)
    assert [r.inputs["name"] for r in run.of_type(CE)] == ["academy-video-batch-ce-v3"]
    (job_queue,) = run.of_type(JOB_QUEUE)
    assert job_queue.inputs["name"] == "academy-video-batch-queue"
    assert job_queue.inputs["state"] == "ENABLED"  # DISABLED would strand its RUNNABLE jobs
    assert job_queue.inputs["computeEnvironmentOrders"][0]["computeEnvironment"] == \
        run.one(CE, "video-batch-ce").outputs["arn"]
    assert [r.inputs["name"] for r in run.of_type(JOB_DEF)] == ["academy-video-batch-jobdef"]
    assert "/aws/batch/academy-video-worker" in {r.inputs["name"] for r in run.of_type(LOG_GROUP)}
    # New work goes to the fleet's queue already; the fleet is published as in asg mode.
    assert _dispatch(run)["mode"] == "asg"
    assert _dispatch(run)["queue_url"] == run.one("aws:sqs/queue:Queue",
                                                  "video-jobs-queue").outputs["url"]
    assert "video" in _targets(run)


def test_asg_mode_draining_batch_counts_the_fleet_s_own_queue(asg_draining_batch,
                                                             prod_asg) -> None:
    """Issue 15, item 7: during a batch -> asg drain the DB's backlog holds the videos still on
    Batch (15 published, all 15 on Batch): the fleet would scale out for work it never
    receives. While either path drains the fleet's backlog is its own queue, in SQS."""
    assert _targets(asg_draining_batch)["video"]["use_backlog_api"] is False
    video = parse({"academy": asg_draining_batch.academy}).worker_types["video"]
    assert video.backlog_source == "api" and video.backlog_api is False
    # Once Batch is retired (videoDrain false) the DB counts only the fleet's work again.
    assert _targets(prod_asg)["video"]["use_backlog_api"] is True
    assert parse({"academy": prod_asg.academy}).worker_types["video"].backlog_api is True


def test_the_output_says_what_drains(batch_draining_fleet, asg_draining_batch) -> None:
    fleet_drains = parse({"academy": batch_draining_fleet.academy})
    assert fleet_drains.mode == "batch"
    assert fleet_drains.draining is not None
    assert fleet_drains.draining.from_mode == "asg"
    assert fleet_drains.draining.worker_type == "video"
    assert fleet_drains.draining.group_name == VIDEO_GROUP
    assert fleet_drains.draining.queue_url == \
        fleet_drains.worker_types["video"].queue.url
    assert fleet_drains.draining.job_queue is None
    video = fleet_drains.worker_types["video"]
    assert video.runs_on == "batch"  # where NEW work runs
    assert video.fleet is not None and video.fleet.group_name == VIDEO_GROUP
    assert video.published is True and video.backlog_api is False
    assert fleet_drains.batch is not None
    assert fleet_drains.dispatch is not None and fleet_drains.dispatch.mode == "batch"

    batch_drains = parse({"academy": asg_draining_batch.academy})
    assert batch_drains.mode == "asg"
    assert batch_drains.draining is not None
    assert batch_drains.draining.from_mode == "batch"
    assert batch_drains.draining.job_queue == "academy-video-batch-queue"
    assert batch_drains.draining.compute_environment == "academy-video-batch-ce-v3"
    assert batch_drains.draining.queue_url is None and batch_drains.draining.group_name is None
    assert batch_drains.worker_types["video"].runs_on == "fleet"
    assert batch_drains.batch is not None  # still declared: describes what exists
    assert batch_drains.dispatch is not None and batch_drains.dispatch.mode == "asg"


def _problems(stack: str, **overrides: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        parse_settings(plain_settings(stack_config(stack, {**REHEARSAL_VALUES, **overrides})),
                       stack)
    return caught.value.problems


def test_videodrain_without_a_batch_capable_type_is_refused() -> None:
    problems = _problems("prod-asg", videoDrain=True, videoRunsOnBatch=False)
    assert len(problems) == 1
    assert problems[0].startswith("videoDrain = true but no worker type has <type>RunsOnBatch")


def test_draining_batch_still_needs_its_image() -> None:
    problems = _problems("prod-asg", videoDrain=True, videoBatchImage="")
    assert any(p.startswith("videoBatchImage is not set: videoDrain = true") for p in problems)


def test_a_draining_fleet_is_checked_like_a_fleet() -> None:
    # In batch mode the fleet's rules did not apply; while it drains it is a real fleet again.
    problems = _problems("prod", videoDrain=True, videoMinSize=0, videoWakeFromZero=False)
    assert any(p.startswith("videoMinSize = 0") for p in problems)

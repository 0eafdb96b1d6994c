"""Worker types are data: a type added to `workerTypes` with no other key gets everything a
type needs, and every behaviour that once named video comes from a trait."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.settings import Settings, SettingsError, parse_settings, physical_names
from components.stack_files import REHEARSAL_VALUES, plain_settings, schema, stack_config
from components.stack_output import parse

GROUP = "aws:autoscaling/group:Group"
POLICY = "aws:autoscaling/policy:Policy"
QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
DEFAULT_TYPES: list[str] = list(schema()["workerTypes"]["default"])
WITH_THUMBNAIL = [*DEFAULT_TYPES, "thumbnail"]


def _parse(stack: str = "prod", **overrides: Any) -> Settings:
    return parse_settings(
        plain_settings(stack_config(stack, {**REHEARSAL_VALUES, **overrides})), stack
    )


def _problems(stack: str = "prod", **overrides: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        _parse(stack, **overrides)
    return caught.value.problems


def _targets(run) -> dict[str, dict[str, Any]]:
    (function,) = run.of_type(FUNCTION)
    targets = json.loads(function.inputs["environment"]["variables"]["BACKLOG_TARGETS"])
    return {t["worker_type"]: t for t in targets}


def test_the_default_types_are_the_settings_data() -> None:
    assert DEFAULT_TYPES == ["ai", "messaging", "video"]
    assert tuple(_parse().workers) == tuple(DEFAULT_TYPES)


@pytest.mark.parametrize("stack", ["prod-asg", "prod"])
def test_thumbnail_through_settings_alone_gets_queue_dlq_fleet_policy_and_target(
    evaluate_stack, stack: str
) -> None:
    run = evaluate_stack(stack, {"workerTypes": WITH_THUMBNAIL})
    out = parse({"academy": run.academy})
    thumb = out.worker_types["thumbnail"]

    queues = {r.inputs["name"]: r for r in run.of_type(QUEUE)}
    assert thumb.queue.name == "academy-thumbnail-jobs" and thumb.queue.name in queues
    assert thumb.dlq.name == "academy-thumbnail-jobs-dlq" and thumb.dlq.name in queues
    redrive = json.loads(queues["academy-thumbnail-jobs"].inputs["redrivePolicy"])
    assert redrive["deadLetterTargetArn"] == thumb.dlq.arn
    # The generic defaults of Pulumi.yaml, nothing from another type.
    defaults = {k[len("workerDefault"):]: v["default"] for k, v in schema().items()
                if k.startswith("workerDefault")}
    assert queues[thumb.queue.name].inputs["visibilityTimeoutSeconds"] \
        == defaults["VisibilityTimeoutSeconds"]
    assert thumb.label == "Thumbnail"
    assert thumb.runs_on == "fleet" and thumb.backlog_source == "sqs"
    assert not thumb.queue.retained and not thumb.backlog_api and thumb.published

    assert thumb.fleet is not None
    group = thumb.fleet.group_name
    assert group == "academy-thumbnail-worker-asg"
    assert group in {r.inputs["name"] for r in run.of_type(GROUP)}
    (policy,) = [r for r in run.of_type(POLICY) if r.inputs["name"] == thumb.fleet.policy_name]
    assert policy.inputs["autoscalingGroupName"] == group
    assert (thumb.fleet.min_size, thumb.fleet.max_size) == (defaults["MinSize"],
                                                            defaults["MaxSize"])

    # The policy reads exactly the metric the publisher publishes for it.
    target = _targets(run)["thumbnail"]
    assert target["queue_url"] == thumb.queue.url
    assert target["metric"] == {"namespace": defaults["MetricNamespace"],
                                "name": defaults["MetricName"],
                                "dimensions": {"WorkerType": "Thumbnail"}, "unit": "Count"}
    stat = policy.inputs["targetTrackingConfiguration"]["customizedMetricSpecification"][
        "metrics"][0]["metricStat"]["metric"]
    assert (stat["namespace"], stat["metricName"]) == (defaults["MetricNamespace"],
                                                       defaults["MetricName"])
    assert stat["dimensions"] == [{"name": "WorkerType", "value": "Thumbnail"}]
    # The built-in types are unchanged by the addition.
    assert set(out.worker_types) == set(WITH_THUMBNAIL)


def test_the_type_that_runs_on_batch_is_a_trait(evaluate_stack) -> None:
    """Another type on Batch: its physical names, no fleet, not published; video on a fleet."""
    run = evaluate_stack("prod", {
        "workerTypes": ["ai", "video", "render"],
        "videoRunsOnBatch": False, "renderRunsOnBatch": True,
        "renderMaxJobSeconds": 3600, "renderVisibilityTimeoutSeconds": 3900,
        "renderInstanceTypes": ["c7g.xlarge"],
    })
    out = parse({"academy": run.academy})
    assert out.worker_types["render"].runs_on == "batch"
    assert out.worker_types["render"].fleet is None
    assert "render" not in _targets(run)
    assert out.worker_types["video"].runs_on == "fleet"
    assert out.batch is not None and out.batch.job_queue == "academy-render-batch-queue"
    assert [r.inputs["name"] for r in run.of_type(JOB_QUEUE)] == ["academy-render-batch-queue"]
    assert out.batch.timeout_s == 3600


def test_a_type_taken_out_of_the_list_has_nothing(evaluate_stack) -> None:
    run = evaluate_stack("prod", {"workerTypes": ["ai", "video"]})
    assert set(run.academy["worker_types"]) == {"ai", "video"}
    assert not any("messaging" in r.inputs.get("name", "") for r in run.of_type(QUEUE))
    assert set(_targets(run)) == {"ai"}


def test_retained_and_api_backlog_come_from_traits() -> None:
    s = _parse("prod-asg", workerTypes=WITH_THUMBNAIL, thumbnailRetainQueue=True,
               videoBacklogSource="sqs", thumbnailBacklogSource="api")
    assert s.retained_types == ("video", "thumbnail")
    assert [wt for wt in s.workers if s.uses_backlog_api(wt)] == ["thumbnail"]


def test_a_type_key_wins_over_the_generic_default() -> None:
    s = _parse("prod-asg", workerTypes=WITH_THUMBNAIL, thumbnailMaxSize=3,
               workerDefaultMinSize=2, workerDefaultMaxSize=7, thumbnailLabel="Thumbs")
    t = s.workers["thumbnail"]
    assert (t.min_size, t.max_size, t.label) == (2, 3, "Thumbs")
    # The built-in types declare only what differs from workerDefault*: ai takes both
    # defaults, video keeps the MaxSize it declares (and prod-asg's MinSize).
    assert (s.workers["ai"].min_size, s.workers["ai"].max_size) == (2, 7)
    assert (s.workers["video"].min_size, s.workers["video"].max_size) == (0, 20)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"workerTypes": ["ai", "Video"]}, "workerTypes has ['Video']: expected a list of worker "
                                       "type names"),
    ({"workerTypes": ["ai", "ai"]}, "workerTypes lists ['ai'] more than once"),
    ({"workerTypes": []}, "workerTypes = []: expected a list of worker type names"),
    ({"aiRunsOnBatch": True}, "aiRunsOnBatch, videoRunsOnBatch are all true: at most one "
                              "worker type runs on AWS Batch"),
    ({"videoRunsOnBatch": False}, "videoMode = 'batch' but no worker type has "
                                  "<type>RunsOnBatch = true"),
    ({"aiBacklogSource": "api"}, "aiBacklogSource, videoBacklogSource are all 'api'"),
    ({"aiBacklogSource": "db"}, "aiBacklogSource = 'db': expected 'sqs' or 'api'"),
    # thumbnail's value came from the generic default: the problem names the key it was in
    ({"workerTypes": WITH_THUMBNAIL, "workerDefaultMaxJobSeconds": "long"},
     "workerDefaultMaxJobSeconds = 'long': expected an integer"),
    ({"workerTypes": WITH_THUMBNAIL, "workerDefaultMaxJobSeconds": 5000},
     "thumbnailVisibilityTimeoutSeconds = 1200 is shorter than thumbnailMaxJobSeconds = 5000"),
    ({"workerTypes": WITH_THUMBNAIL, "thumbnailMinSise": 2},
     "thumbnailMinSise is not a setting of this project (did you mean 'thumbnailMinSize'?)"),
    ({"thumbnailMinSize": 2},
     "thumbnailMinSize is not a setting of this project ('thumbnail' is not in workerTypes"),
])
def test_worker_type_settings_are_checked(overrides: dict[str, Any], expected: str) -> None:
    problems = _problems("prod", **overrides)
    assert any(expected in p for p in problems), problems


def test_a_new_type_is_checked_like_the_others() -> None:
    """The rules of the settings (min <= max, visibility, name lengths) hold for any type."""
    problems = _problems("prod-asg", workerTypes=WITH_THUMBNAIL, thumbnailMinSize=5,
                         thumbnailMaxSize=2)
    assert any(p.startswith("thumbnailMinSize = 5 is greater than thumbnailMaxSize = 2")
               for p in problems), problems
    s = _parse("prod-asg", workerTypes=WITH_THUMBNAIL, thumbnailMinSize=0,
               thumbnailWakeFromZero=True)
    names = {n.value for n in physical_names(s)}
    assert {"academy-thumbnail-jobs", "academy-thumbnail-jobs-dlq",
            "academy-thumbnail-worker-asg-role",
            "academy-thumbnail-worker-asg-wake-from-zero"} <= names
    # The longest type name with the longest prefix still fits every AWS limit.
    parse_settings(plain_settings(stack_config("prod-asg", {
        **REHEARSAL_VALUES, "workerTypes": [*DEFAULT_TYPES, "t" * 16], "namePrefix": "a" * 29,
        "workerDefaultMinSize": 0, "workerDefaultWakeFromZero": True})), "prod-asg")

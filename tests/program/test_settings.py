"""Stack settings: every validation rule with the message it gives, and the schema's keys."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.settings import (
    SECRET_KEYS,
    Settings,
    SettingsError,
    all_keys,
    parse_settings,
)
from components.stack_files import REHEARSAL_VALUES, plain_settings, schema, stack_config

DEFAULT_TYPES = tuple(schema()["workerTypes"]["default"])


def _parse(stack: str = "prod", **overrides: Any) -> Settings:
    return parse_settings(
        plain_settings(stack_config(stack, {**REHEARSAL_VALUES, **overrides})), stack
    )


def _problems(stack: str = "prod", **overrides: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        _parse(stack, **overrides)
    return caught.value.problems


def test_both_stack_files_parse() -> None:
    assert _parse("prod").mode == "batch"
    assert _parse("prod-asg").mode == "asg"


def test_min_greater_than_max_is_refused() -> None:
    assert _problems(aiMinSize=5, aiMaxSize=2) == [
        "aiMinSize = 5 is greater than aiMaxSize = 2: the minimum must not exceed the maximum"
    ]


def test_visibility_timeout_shorter_than_the_longest_job_is_refused() -> None:
    # The incident: a 3 h visibility timeout under a 4 h transcode (docs/INCIDENTS.md #7).
    (problem,) = _problems(videoVisibilityTimeoutSeconds=10800, videoMaxJobSeconds=14400)
    assert problem.startswith(
        "videoVisibilityTimeoutSeconds = 10800 is shorter than videoMaxJobSeconds = 14400"
    )
    assert "raise it to at least 14400" in problem


def test_min_zero_without_wake_from_zero_is_refused_and_with_it_accepted() -> None:
    (problem,) = _problems(messagingMinSize=0)
    assert problem.startswith("messagingMinSize = 0 with a backlog-per-instance metric")
    assert "set messagingMinSize >= 1 or messagingWakeFromZero = true" in problem
    assert _parse(messagingMinSize=0, messagingWakeFromZero=True).workers[
        "messaging"
    ].min_size == 0


def test_video_min_zero_matters_only_when_video_runs_as_a_fleet() -> None:
    assert _parse("prod", videoMinSize=0, videoWakeFromZero=False).mode == "batch"
    (problem,) = _problems("prod-asg", videoWakeFromZero=False)
    assert problem.startswith("videoMinSize = 0 with a backlog-per-instance metric")


def test_a_bad_enum_names_what_is_allowed() -> None:
    assert _problems(videoMode="lambda") == ["videoMode = 'lambda': expected 'asg' or 'batch'"]
    assert _problems(aiArchitecture="arm") == [
        "aiArchitecture = 'arm': expected 'arm64' or 'x86_64'"
    ]


def test_bad_ids_are_refused() -> None:
    assert _problems(vpcId="vpc-1") == [
        "vpcId = 'vpc-1': expected a VPC id such as 'vpc-0123abcd'"
    ]
    (problem,) = _problems(subnetIds=["subnet-0a1b2c3d4e5f60711", "subnet-zzz"])
    assert problem.startswith("subnetIds has ['subnet-zzz']: expected a list of subnet ids")
    (problem,) = _problems(aiImageId="ami-123")
    assert problem.startswith("aiImageId = 'ami-123': expected an AMI id")


def test_an_unknown_key_is_refused_with_a_hint() -> None:
    assert _problems(aiminsize=2) == [
        "aiminsize is not a setting of this project (did you mean 'aiMinSize'?)"
    ]
    assert _problems(videoMaxJobSekunden=100) == [
        "videoMaxJobSekunden is not a setting of this project (did you mean "
        "'videoMaxJobSeconds'?)"
    ]
    assert _problems(zzz=1) == ["zzz is not a setting of this project (misspelt? see Pulumi.yaml)"]


def test_instance_types_must_match_the_architecture() -> None:
    (problem,) = _problems(aiInstanceTypes=["c7g.large", "c7i.large"])
    assert problem.startswith(
        "aiInstanceTypes has ['c7i.large'], which do not run aiArchitecture = 'arm64'"
    )
    # The default types and image are Graviton's.
    types, image = _problems(messagingArchitecture="x86_64")
    assert types.startswith("messagingInstanceTypes has ['t4g.small']")
    assert image.startswith("messagingImageId = ")
    x86_image = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    assert _parse(messagingArchitecture="x86_64", messagingInstanceTypes=["t3.small"],
                  messagingImageId=x86_image)


def test_batch_job_vcpus_above_the_environment_maximum_are_refused() -> None:
    assert _problems(videoBatchVcpus=16, videoBatchMaxVcpus=8) == [
        "videoBatchVcpus = 16 exceeds videoBatchMaxVcpus = 8: a job could never be placed"
    ]


def test_every_problem_is_reported_at_once_with_where_to_fix_it() -> None:
    with pytest.raises(SettingsError) as caught:
        _parse(videoMode="lambda", dlqMaxReceiveCount=0, aiTargetBacklogPerInstance="x")
    message = str(caught.value)
    assert message.startswith("3 invalid stack setting(s) in Pulumi.prod.yaml:")
    assert "dlqMaxReceiveCount = 0: expected an integer from 1 to 1000" in message
    assert "aiTargetBacklogPerInstance = 'x': expected an integer from 1 to 10000" in message
    assert "pulumi config set" in message


def test_the_program_refuses_bad_settings_before_declaring_anything(evaluate_stack) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        evaluate_stack("prod", {"aiMinSize": 5, "aiMaxSize": 2})
    assert "aiMinSize = 5 is greater than aiMaxSize = 2" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_pulumi_yaml_declares_exactly_the_keys_the_program_reads() -> None:
    # Every global and workerDefault* key; of the built-in types only what differs from
    # workerDefault* (tests/program/test_settings_spec.py), so nothing the program does not read.
    declared = schema()
    types = tuple(declared["workerTypes"]["default"])
    assert set(all_keys()) | set(SECRET_KEYS) <= set(declared)
    assert set(declared) <= set(all_keys(types)) | set(SECRET_KEYS)
    for key in SECRET_KEYS:
        assert declared[key].get("secret") is True, key
        assert "default" not in declared[key], key
    for key in set(declared) - set(SECRET_KEYS):
        assert declared[key].get("description"), f"{key} has no description"
        assert declared[key].get("type") in ("string", "integer", "boolean", "array"), key


def test_stack_files_set_only_declared_keys() -> None:
    for stack in ("prod", "prod-asg"):
        config = stack_config(stack)
        project_keys = {k.split(":", 1)[1] for k in config if k.startswith("academy-workers:")}
        assert project_keys <= set(all_keys(DEFAULT_TYPES)), stack


def test_a_misspelt_keyword_to_a_typed_args_class_raises() -> None:
    # Why the components use the typed *Args classes: a plain dict would drop the key silently.
    with pytest.raises(TypeError, match="estimated_instance_warm_up"):
        aws.autoscaling.PolicyArgs(
            autoscaling_group_name="g", estimated_instance_warm_up=300  # type: ignore[call-arg]
        )
    with pytest.raises(TypeError, match="scale_in_cooldown"):
        aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
            target_value=1.0, scale_in_cooldown=60  # type: ignore[call-arg]
        )
    with pytest.raises(TypeError, match="attempt_duration"):
        aws.batch.JobDefinitionTimeoutArgs(attempt_duration=14400)  # type: ignore[call-arg]


@pytest.mark.parametrize("schedule", ["rate(1 minutes)", "rate(5 minute)", "every minute"])
def test_a_schedule_eventbridge_would_refuse_is_refused(schedule: str) -> None:
    (problem,) = _problems(publisherSchedule=schedule)
    assert problem.startswith(f"publisherSchedule = {schedule!r}: expected 'rate(1 minute)'")


@pytest.mark.parametrize("schedule", ["rate(1 minute)", "rate(5 minutes)", "cron(0/2 * * * ? *)"])
def test_schedules_eventbridge_takes_are_accepted(schedule: str) -> None:
    assert _parse(publisherSchedule=schedule).publisher.schedule == schedule


def test_one_rule_tells_graviton_types_for_settings_and_verify() -> None:
    from components.settings import instance_architecture

    assert [instance_architecture(t) for t in ("c7g.large", "m6gd.xlarge", "a1.medium", "c7g")] \
        == ["arm64"] * 4
    assert [instance_architecture(t) for t in ("c5.large", "m7i.xlarge", "t3.micro")] \
        == ["x86_64"] * 3


def test_two_worker_types_publishing_one_metric_are_refused_naming_both() -> None:
    """Issue 15, item 5: `messagingLabel=AI` made the messaging fleet scale on the AI backlog
    (both publish Academy/Workers QueueDepth WorkerType=AI: the class of incident #1)."""
    problems = _problems(messagingLabel="AI")
    assert len(problems) == 1, problems
    (problem,) = problems
    assert "worker types ai and messaging" in problem
    assert "Academy/Workers/QueueDepth{WorkerType=AI}" in problem
    # The keys the values came from: both types take the metric from workerDefault*.
    assert "(ai: workerDefaultMetricNamespace, workerDefaultMetricName, aiLabel; messaging: " \
           "workerDefaultMetricNamespace, workerDefaultMetricName, messagingLabel)" in problem
    # A different name is enough to tell them apart; so is another label.
    _parse(messagingLabel="AI", messagingMetricName="MessagingDepth")
    _parse(messagingLabel="Msg")


def test_a_type_taking_another_s_metric_by_the_defaults_is_refused_naming_the_default_keys() \
        -> None:
    """A new type that sets nothing gets `workerDefault*`; with the label of a type that also
    uses the defaults, the problem names the keys the values came from."""
    types = '["ai", "messaging", "video", "thumbnail"]'
    problems = _problems(workerTypes=types, thumbnailLabel="AI")
    (problem,) = [p for p in problems if "the same metric" in p]
    assert "worker types ai and thumbnail" in problem
    assert "workerDefaultMetricNamespace" in problem and "thumbnailLabel" in problem


def test_the_program_refuses_two_types_on_one_metric_before_declaring_anything(
        evaluate_stack) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        evaluate_stack("prod-asg", {"messagingLabel": "AI"})
    assert "worker types ai and messaging" in str(caught.value)
    assert "Traceback" not in str(caught.value)

"""Issue 9, items 11-14: every setting is checked before any resource is declared, values AWS
or nginx would refuse are refused at preview naming the key, values only the user can know
are not shipped as fakes, and a misspelt key or namespace gets the closest known one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.settings import (
    SQS_MAX_VISIBILITY_S,
    Settings,
    SettingsError,
    parse_settings,
    physical_names,
    settings_from_config,
)
from components.stack_files import REHEARSAL_VALUES, ROOT, plain_settings, stack_config
from verify.program_eval import RecordingMocks, run_program

from .conftest import DUMMY_KEY, evaluate


def _config(stack: str, overrides: dict[str, Any]) -> dict[str, str]:
    return stack_config(stack, {**REHEARSAL_VALUES, **overrides})


def _parse(stack: str = "prod", **overrides: Any) -> Settings:
    return parse_settings(plain_settings(_config(stack, overrides)), stack)


def _problems(stack: str = "prod", **overrides: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        _parse(stack, **overrides)
    return caught.value.problems


def _refused_run(stack: str, config: dict[str, str]) -> tuple[str, int]:
    """Runs the program expecting a refusal: (its message, resources declared before it)."""
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(mocks, stack, config)
    return str(caught.value), len(mocks.resources)


# --- item 11: the internal key and the nginx parameters, before any resource -------------


def test_a_missing_internal_key_is_refused_before_any_resource() -> None:
    config = stack_config("prod", {"videoBatchImage": REHEARSAL_VALUES["videoBatchImage"]})
    assert "academy-workers:internalApiKey" not in config
    message, declared = _refused_run("prod", config)
    assert declared == 0
    assert "internalApiKey is not set" in message
    assert "pulumi config set --secret internalApiKey" in message
    assert "Traceback" not in message


def test_an_empty_internal_key_is_refused_before_any_resource() -> None:
    message, declared = _refused_run("prod", _config("prod", {"internalApiKey": ""}))
    assert declared == 0
    assert "internalApiKey is empty" in message


def test_the_internal_key_never_appears_in_a_refusal_or_in_the_settings() -> None:
    key = "k3y-that-must-stay-secret"
    message, _ = _refused_run("prod", _config("prod", {"internalApiKey": key, "aiMinSize": "x"}))
    assert "aiMinSize = 'x'" in message
    assert key not in message
    settings = _parse(internalApiKey=key)
    assert key not in repr(settings)
    assert settings.publisher.internal_api_key.reveal() == key


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"apiUpstream": "127.0.0.1:99999"}, "apiUpstream"),
        ({"apiUpstream": "127.0.0.1:0"}, "apiUpstream"),
        ({"nginxRuntimeDir": "/srv/nginx'x"}, "nginxRuntimeDir"),
        ({"nginxRuntimeDir": "/srv/nginx;x"}, "nginxRuntimeDir"),
    ],
)
def test_nginx_parameters_nginx_would_refuse_are_settings_errors(
    overrides: dict[str, str], key: str
) -> None:
    message, declared = _refused_run("prod", _config("prod", {"internalApiKey": DUMMY_KEY,
                                                              **overrides}))
    assert declared == 0
    assert f"{key} = {overrides[key]!r}" in message
    assert "invalid stack setting(s)" in message


# --- item 12: values AWS would refuse later -----------------------------------------------


def test_a_name_prefix_making_a_name_too_long_is_refused_naming_the_name() -> None:
    prefix = "a" * 30  # the EventBridge rule `<prefix>-worker-queue-depth-metric-schedule`: 65
    (problem,) = _problems(namePrefix=prefix)
    assert problem.startswith(f"namePrefix = {prefix!r} makes the EventBridge rule name")
    assert "65 characters; AWS allows at most 64" in problem
    assert "at most 29 characters" in problem
    assert _parse(namePrefix="a" * 29).name_prefix == "a" * 29


def test_every_physical_name_the_program_declares_is_checked(any_stack) -> None:
    settings = _parse(any_stack.stack)
    checked = {n.value for n in physical_names(settings)}
    declared = set()
    for r in any_stack.resources:
        for field in ("name", "associationName"):
            if isinstance(r.inputs.get(field), str):
                declared.add(r.inputs[field])
    assert declared <= checked, sorted(declared - checked)


def test_short_fleet_jobs_would_make_a_lifecycle_heartbeat_aws_refuses() -> None:
    (problem,) = _problems(aiMaxJobSeconds=20)
    assert problem.startswith("aiMaxJobSeconds = 20 makes the termination hook's heartbeat 20 s")
    assert "at least 30" in problem


def test_a_batch_attempt_timeout_under_60_s_is_refused() -> None:
    (problem,) = _problems("prod", videoMaxJobSeconds=45)
    assert problem.startswith("videoMaxJobSeconds = 45 is the Batch job's attempt timeout")
    assert "at least 60" in problem
    assert _parse("prod-asg", videoMaxJobSeconds=45).mode == "asg"


def test_a_metric_namespace_reserved_by_aws_is_refused() -> None:
    (problem,) = _problems(aiMetricNamespace="AWS/EC2")
    assert problem.startswith("aiMetricNamespace = 'AWS/EC2': namespaces starting with 'AWS/'")


@pytest.mark.parametrize(
    "schedule",
    ["rate(0 minutes)", "rate(1 hours)", "rate(2 hour)", "rate(01 minutes)", "cron(0 * * * *)",
     "cron(0 12 * * * *)", "cron(a b c d e f)", "cron(0 12 ? * MON-FRI * *)"],
)
def test_schedules_eventbridge_refuses_are_refused(schedule: str) -> None:
    (problem,) = _problems(publisherSchedule=schedule)
    assert problem.startswith(f"publisherSchedule = {schedule!r}: expected")


@pytest.mark.parametrize(
    "schedule",
    ["rate(1 hour)", "rate(3 hours)", "rate(1 day)", "rate(7 days)", "rate(10 minutes)",
     "cron(0 12 * * ? *)", "cron(0/5 8-17 ? * MON-FRI *)", "cron(15 10 ? * 6L 2030-2040)"],
)
def test_schedules_eventbridge_takes_are_accepted(schedule: str) -> None:
    assert _parse(publisherSchedule=schedule).publisher.schedule == schedule


@pytest.mark.parametrize(
    ("key", "value"),
    [("aiMinSize", "\u0662"), ("apiListenPort", "\u0668\u0660"),
     ("apiClientMaxBodySize", "\u0662g"), ("apiUpstream", "127.0.0.1:\u0668\u0660\u0660\u0660"),
     ("apiHostSsh", '["ec2-user@10.0.0.1:\u0662\u0662"]')],
)
def test_non_ascii_digits_are_refused(key: str, value: str) -> None:
    (problem,) = _problems(**{key: value})
    assert problem.startswith(key)


def test_a_batch_job_that_fits_no_allowed_instance_type_is_refused() -> None:
    (problem,) = _problems("prod", videoBatchVcpus=16)
    assert problem.startswith("videoBatchVcpus = 16 and videoBatchMemoryMib = 4096 fit no type")
    assert "c7g.xlarge (4 vCPUs" in problem
    (problem,) = _problems("prod", videoBatchMemoryMib=8192)  # 8 GiB installed, less usable
    assert problem.startswith("videoBatchVcpus = 2 and videoBatchMemoryMib = 8192 fit no type")
    ok = _parse("prod", videoBatchVcpus=16, videoInstanceTypes=["c7g.4xlarge"])
    assert ok.batch.vcpus == 16


def test_an_instance_type_of_unknown_size_is_accepted_with_a_warning() -> None:
    settings = _parse("prod", videoInstanceTypes=["c8g.xlarge"])
    (warning,) = settings.warnings
    assert "c8g.xlarge" in warning and "not checked" in warning


def test_absurdly_large_numbers_get_a_short_clear_error() -> None:
    (problem,) = _problems(aiMinSize="9" * 5000)
    assert problem.startswith("aiMinSize = '99999")
    assert "expected an integer from 0 to 1000" in problem
    assert len(problem) < 200
    (problem,) = _problems(dlqMaxReceiveCount="1" + "0" * 100)
    assert "expected an integer from 1 to 1000" in problem and len(problem) < 200


def test_deeply_nested_list_settings_get_a_clear_error() -> None:
    nested = "[" * 100_000 + "]" * 100_000
    (problem,) = _problems(subnetIds=nested)
    assert problem.startswith("subnetIds = '[[[[")
    assert "expected a list of subnet ids" in problem
    assert len(problem) < 200


def test_a_job_longer_than_sqs_can_hold_says_what_to_do_instead() -> None:
    (problem,) = _problems("prod-asg", videoMaxJobSeconds=50000,
                           videoVisibilityTimeoutSeconds=SQS_MAX_VISIBILITY_S)
    assert problem.startswith("videoMaxJobSeconds = 50000 is longer than SQS lets a message stay")
    assert "raise it" not in problem
    assert "12 hours from its receipt" in problem
    assert "videoMode = 'batch'" in problem


# --- item 13: no plausible fakes ---------------------------------------------------------


def test_no_stack_file_ships_a_made_up_ami_or_the_example_account() -> None:
    for path in [ROOT / "Pulumi.yaml", *ROOT.glob("Pulumi.*.yaml")]:
        text = path.read_text()
        assert "ami-0123456789abcdef0" not in text, path.name
        assert "123456789012" not in text, path.name


def test_image_ids_default_to_the_current_amazon_linux_of_their_architecture() -> None:
    for wt, worker in _parse().workers.items():
        assert worker.image_id == (
            "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-"
            f"{worker.architecture}"
        ), wt


def test_the_launch_template_resolves_the_ami_through_ssm(prod_asg) -> None:
    templates = prod_asg.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert templates and all(
        t.inputs["imageId"].startswith("resolve:ssm:/aws/service/") for t in templates
    )


def test_an_image_of_the_other_architecture_is_refused() -> None:
    (problem,) = _problems(aiArchitecture="x86_64", aiInstanceTypes=["c7i.large"])
    assert problem.startswith("aiImageId = 'resolve:ssm:/aws/service/ami-amazon-linux-latest/"
                              "al2023-ami-kernel-default-arm64' is an arm64 image")
    assert "al2023-ami-kernel-default-x86_64" in problem


def test_the_batch_image_is_required_in_batch_mode_with_how_to_find_it() -> None:
    config = stack_config("prod", {"internalApiKey": DUMMY_KEY})
    with pytest.raises(SettingsError) as caught:
        parse_settings(plain_settings(config), "prod")
    (problem,) = caught.value.problems
    assert problem.startswith("videoBatchImage is not set")
    assert "aws ecr describe-repositories" in problem
    asg = parse_settings(plain_settings(stack_config("prod-asg", {"internalApiKey": DUMMY_KEY})),
                         "prod-asg")
    assert asg.mode == "asg"


def test_the_example_account_is_refused_as_a_batch_image() -> None:
    image = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/academy-video-worker:latest"
    (problem,) = _problems(videoBatchImage=image)
    assert problem.startswith(f"videoBatchImage = {image!r}")
    assert "AWS's documentation example account" in problem


# --- item 14: the closest key, the closest namespace, the README's example ---------------


def test_a_misspelt_key_gets_the_closest_known_key() -> None:
    assert _problems(aiMinSise=2) == [
        "aiMinSise is not a setting of this project (did you mean 'aiMinSize'?)"
    ]
    assert _problems(videoMaxJobSecond=100) == [
        "videoMaxJobSecond is not a setting of this project (did you mean 'videoMaxJobSeconds'?)"
    ]


def test_a_misspelt_project_namespace_is_flagged_with_the_closest_one() -> None:
    config = _config("prod", {"internalApiKey": DUMMY_KEY, "academy-worker:aiMinSize": "2"})
    with pytest.raises(SettingsError) as caught:
        settings_from_config(config, "prod")
    assert caught.value.problems == [
        "academy-worker:aiMinSize: 'academy-worker' is neither this project's namespace nor a "
        "provider's (did you mean 'academy-workers:aiMinSize'?)"
    ]
    message, declared = _refused_run("prod", config)
    assert declared == 0 and "academy-worker:aiMinSize" in message


def test_the_readme_example_is_what_the_program_prints() -> None:
    readme = (Path(ROOT) / "README.md").read_text()
    section = readme.split("## Stack settings", 1)[1].split("\n## ", 1)[0]
    example = re.search(r"```\n(\d+ invalid stack setting.*?)\n```", section, re.S)
    assert example is not None
    with pytest.raises(SettingsError) as caught:
        _parse(videoVisibilityTimeoutSeconds=10800, aiMinSise=2)
    assert example.group(1) == str(caught.value)


def test_the_program_still_deploys_both_stacks() -> None:
    assert evaluate("prod").academy["mode"] == "batch"


# --- red-team follow-up: the internal key, base URLs, list bounds, instance types ---------

SECRET_SHAPES = [
    ("x", "shorter than 16 characters"),
    ("short-key-15chr", "shorter than 16 characters"),
    ("a-long-enough-internal-key\n", "starts or ends with whitespace or a newline"),
    ("\na-long-enough-internal-key", "starts or ends with whitespace or a newline"),
    (" a-long-enough-internal-key", "starts or ends with whitespace or a newline"),
    ("a-long-enough internal-key", "has a space or a control character"),
    ("a-long-enough-\tinternal-key", "has a space or a control character"),
    ("a-long-enough-intérnal-key", "printable ASCII"),
]


@pytest.mark.parametrize(("key", "says"), SECRET_SHAPES)
def test_an_internal_key_too_short_or_unfit_for_a_header_is_refused_unquoted(
    key: str, says: str
) -> None:
    (problem,) = _problems(internalApiKey=key)
    assert problem.startswith("internalApiKey ") and says in problem
    assert key.strip() not in problem
    assert "pulumi config set --secret internalApiKey" in problem


def test_a_trailing_newline_in_the_key_names_the_file_mistake() -> None:
    (problem,) = _problems(internalApiKey="a-long-enough-internal-key\n")
    assert "file://" in problem


def test_a_key_of_16_printable_characters_is_accepted() -> None:
    key = "0123456789abcdef"
    assert _parse(internalApiKey=key).publisher.internal_api_key.reveal() == key


BASE_URL_KEYS = ("backlogApiBaseUrl", "apiPublicBaseUrl", "apiLocalBaseUrl")


@pytest.mark.parametrize("key", BASE_URL_KEYS)
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://a.com/?x=1#f", "a query"),
        ("https://a.com/api?x=1", "a query"),
        ("https://a.com#f", "a fragment"),
        ("https://a.com/api#", "a fragment"),
        ("https://user:pw@a.com", "user info"),
        ("https://user@a.com/api", "user info"),
        ("https://a.com/ api", "whitespace"),
        ("https://a.com/api\n", "whitespace"),
        ("https://a.com:99999", "port is not 1 to 65535"),
        ("ftp://a.com", "scheme://host[:port][/path]"),
        ("https://a.com/a'b", "scheme://host[:port][/path]"),
    ],
)
def test_a_base_url_with_a_query_fragment_userinfo_or_space_is_refused(
    key: str, url: str, says: str
) -> None:
    (problem,) = _problems(**{key: url})
    assert problem.startswith(f"{key} = ") and says in problem
    assert "scheme://host[:port][/path]" in problem


@pytest.mark.parametrize("key", BASE_URL_KEYS)
@pytest.mark.parametrize("url", ["https://a.com", "http://127.0.0.1:8000", "https://a.com/api/",
                                 "https://a-b.example.com:8443/v1/base"])
def test_a_base_url_of_scheme_host_port_path_is_accepted(key: str, url: str) -> None:
    settings = _parse(**{key: url})
    assert url.rstrip("/") in (settings.publisher.backlog_api_base_url,
                               settings.api.public_base_url, settings.api.local_base_url)


def _subnet(n: int) -> str:
    return f"subnet-{n:017x}"


def _graviton_types(n: int) -> list[str]:
    from components.aws_limits import INSTANCE_SPECS
    from components.settings import instance_architecture

    types = [t for t in INSTANCE_SPECS if instance_architecture(t) == "arm64"]
    assert len(types) >= n
    return types[:n]


def test_more_subnets_than_the_groups_vpc_zone_identifier_holds_are_refused() -> None:
    (problem,) = _problems(subnetIds=[_subnet(n) for n in range(5000)])
    assert problem.startswith("subnetIds has 5000 subnets")
    assert "VPCZoneIdentifier" in problem and "5000 characters" in problem
    assert len(problem) < 400
    assert len(_parse(subnetIds=[_subnet(n) for n in range(200)]).subnet_ids) == 200


def test_more_instance_types_than_a_group_takes_are_refused() -> None:
    (problem,) = _problems(aiInstanceTypes=_graviton_types(41))
    assert problem.startswith("aiInstanceTypes has 41 entries")
    assert "at most 40" in problem and "Auto Scaling group" in problem
    assert len(_parse(aiInstanceTypes=_graviton_types(40)).workers["ai"].instance_types) == 40


def test_more_security_groups_than_an_interface_takes_are_refused() -> None:
    groups = [f"sg-{n:017x}" for n in range(17)]
    (problem,) = _problems(securityGroupIds=groups)
    assert problem.startswith("securityGroupIds has 17 entries") and "at most 16" in problem
    assert _parse(securityGroupIds=groups[:16]).security_group_ids == tuple(groups[:16])


def test_more_api_hosts_than_an_ssm_target_takes_are_refused() -> None:
    hosts = [f"i-{n:017x}" for n in range(51)]
    (problem,) = _problems(apiHostInstanceIds=hosts)
    assert problem.startswith("apiHostInstanceIds has 51 entries") and "at most 50" in problem


@pytest.mark.parametrize(
    ("key", "items"),
    [
        ("subnetIds", ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722",
                       "subnet-0a1b2c3d4e5f60711"]),
        ("securityGroupIds", ["sg-0a1b2c3d4e5f60711", "sg-0a1b2c3d4e5f60711"]),
        ("aiInstanceTypes", ["c7g.large", "c6g.large", "c7g.large"]),
    ],
)
def test_a_list_naming_an_item_twice_is_refused_naming_it(key: str, items: list[str]) -> None:
    (problem,) = _problems(**{key: items})
    assert problem == f"{key} lists [{items[0]!r}] more than once: list each once"


@pytest.mark.parametrize("bad", ["t4g.nope", "c7g", "c7g.", ".large", "c7g.larg", "c7g.2xl",
                                 "c7g.0xlarge", "C7G.large", "c7g.metal-xl"])
@pytest.mark.parametrize("stack", ["prod", "prod-asg"])
def test_an_instance_type_of_no_valid_form_is_refused_for_fleets_and_batch(
    stack: str, bad: str
) -> None:
    for key in ("aiInstanceTypes", "videoInstanceTypes"):
        (problem,) = _problems(stack, **{key: ["c7g.large", bad]})
        assert problem.startswith(f"{key} has [{bad!r}]")
        assert "family.size" in problem and "xlarge" in problem


def test_an_instance_type_of_an_unknown_family_is_accepted_with_a_warning_naming_it() -> None:
    settings = _parse("prod-asg", aiInstanceTypes=["c7g.large", "zz9g.large"])
    (warning,) = settings.warnings
    assert warning.startswith("aiInstanceTypes has ['zz9g.large']")
    assert "family" in warning and "ignore this" in warning


@pytest.mark.parametrize("stack", ["prod", "prod-asg"])
def test_the_stacks_instance_types_draw_no_warning(stack: str) -> None:
    assert _parse(stack).warnings == ()

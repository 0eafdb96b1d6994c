"""The publisher's reading of its environment (publisher_config.py): a bad value is named,
with what to do."""

from __future__ import annotations

import json

import pytest

from stack_settings.parse import BACKLOG_API_PATH

TARGET = {
    "worker_type": "ai",
    "queue_url": "https://sqs.ap-northeast-2.amazonaws.com/123456789012/academy-ai-jobs",
    "metric": {"namespace": "Academy/Workers", "name": "QueueDepth",
               "dimensions": {"WorkerType": "AI"}, "unit": "Count"},
    "count_in_flight": True,
    "count_delayed": False,
    "use_backlog_api": False,
}


def _env(**overrides: str) -> dict[str, str]:
    env = {
        "BACKLOG_TARGETS": json.dumps([TARGET]),
        "BACKLOG_API_BASE_URL": "https://api.hakwonplus.com/",
        "BACKLOG_API_PATH": BACKLOG_API_PATH,
        "INTERNAL_KEY_PARAMETER": "/academy/workers/internal-api-key",
        "BACKLOG_API_TIMEOUT_S": "2.5",
        "BACKLOG_API_MAX_COUNT": "5000",
    }
    env.update(overrides)
    return env


def test_contract_environment_is_parsed(config_module) -> None:
    settings = config_module.load_settings(_env())
    assert settings.api_base_url == "https://api.hakwonplus.com"
    assert settings.api_timeout_s == 2.5
    assert settings.api_max_count == 5000
    (target,) = settings.targets
    assert target.worker_type == "ai"
    assert target.metric.dimensions == {"WorkerType": "AI"}
    assert (target.count_in_flight, target.count_delayed, target.use_backlog_api) == (
        True, False, False
    )


def test_timeout_defaults_to_three_seconds(config_module) -> None:
    env = _env()
    del env["BACKLOG_API_TIMEOUT_S"]
    assert config_module.load_settings(env).api_timeout_s == 3.0


def test_max_count_defaults_to_the_settings_default(config_module) -> None:
    env = _env()
    del env["BACKLOG_API_MAX_COUNT"]
    assert config_module.load_settings(env).api_max_count == 100_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BACKLOG_TARGETS": "[{"}, "BACKLOG_TARGETS is not valid JSON"),
        ({"BACKLOG_TARGETS": "{}"}, "must be a JSON list"),
        ({"BACKLOG_TARGETS": json.dumps([{**TARGET, "queue_url": ""}])}, "'queue_url'"),
        ({"BACKLOG_TARGETS": json.dumps([{**TARGET, "count_delayed": "no"}])},
         "'count_delayed' must be true or false"),
        ({"BACKLOG_TARGETS": json.dumps([{**TARGET, "metric": {**TARGET["metric"],
                                                               "unit": None}}])},
         "entry 0 metric: 'unit'"),
        ({"BACKLOG_API_BASE_URL": "api.hakwonplus.com"}, "must start with https://"),
        ({"BACKLOG_API_PATH": ""}, "BACKLOG_API_PATH must be the backlog endpoint's path"),
        ({"BACKLOG_API_TIMEOUT_S": "soon"}, "BACKLOG_API_TIMEOUT_S must be a positive"),
        ({"BACKLOG_API_TIMEOUT_S": "0"}, "BACKLOG_API_TIMEOUT_S must be a positive"),
        ({"BACKLOG_API_MAX_COUNT": "0"}, "BACKLOG_API_MAX_COUNT must be a whole number from 1"),
        ({"BACKLOG_API_MAX_COUNT": "10000001"}, "BACKLOG_API_MAX_COUNT must be a whole"),
        ({"BACKLOG_API_MAX_COUNT": "1e5"}, "BACKLOG_API_MAX_COUNT must be a whole"),
        ({"BACKLOG_API_MAX_COUNT": "-5"}, "BACKLOG_API_MAX_COUNT must be a whole"),
    ],
    ids=["json", "not-list", "queue-url", "flag-type", "unit", "scheme", "path", "timeout",
         "zero", "max-zero", "max-over-limit", "max-float", "max-negative"],
)
def test_bad_environment_is_explained(config_module, overrides, message) -> None:
    with pytest.raises(config_module.PublisherConfigError, match=message):
        config_module.load_settings(_env(**overrides))


def test_the_handler_speaks_the_apis_header(handler_module) -> None:
    """The archive cannot import the settings module: its header name is guarded here."""
    from stack_settings.parse import INTERNAL_KEY_HEADER

    assert handler_module.KEY_HEADER == INTERNAL_KEY_HEADER

"""The publisher handler against a real moto server and a real HTTP backlog API.

Every value is read back from CloudWatch under the exact namespace, name, dimensions and
unit the target names; nothing is asserted on call lists alone.
"""

from __future__ import annotations

import json
import logging

import pytest


def test_api_count_is_published_with_source_api(publisher) -> None:
    publisher.aws.fill(publisher.url("ai"), visible=2)
    publisher.aws.fill(publisher.url("messaging"), visible=1, in_flight=1)
    publisher.aws.fill(publisher.url("video"), visible=4)
    publisher.api.answer({"backlog": 7})

    result = publisher.invoke()

    assert result["ok"] is True
    assert sorted(result["published"]) == ["ai", "messaging", "video"]
    video = result["worker_types"]["video"]
    assert (video["source"], video["api_count"], video["value"], video["visible"]) == (
        "api", 7, 7, 4
    )
    assert video["reason"] is None and video["error"] is None
    assert publisher.value("video") == 7
    assert publisher.value("ai") == 2
    assert publisher.value("messaging") == 2
    assert publisher.api.requests == [
        {"path": "/api/v1/internal/video/backlog-count/", "key": publisher.key}
    ]
    # Exactly the three metrics named by the targets, nothing else.
    assert publisher.aws.metrics() == {
        (m["namespace"], m["name"], frozenset(m["dimensions"].items()))
        for m in publisher.metrics.values()
    }


def test_an_answer_without_backlog_is_not_a_count(publisher) -> None:
    """The contract is {"backlog": N}, the one shape verify reads too."""
    publisher.api.answer({"count": 4})

    result = publisher.invoke()

    assert result["worker_types"]["video"]["source"] == "sqs"
    assert result["worker_types"]["video"]["reason"].startswith("bad response")


def test_a_rotated_key_is_picked_up_by_a_warm_container(publisher, aws_calls) -> None:
    """After `pulumi up` changes the key, a warm container's cached key gets a 403: it
    re-reads the parameter once instead of falling back to SQS until it is recycled."""
    publisher.api.answer({"backlog": 3})
    assert publisher.invoke()["worker_types"]["video"]["source"] == "api"
    publisher.aws.ssm.put_parameter(Name=publisher.key_parameter, Value="rotated-key",
                                    Type="SecureString", Overwrite=True)
    publisher.api.expected_key = "rotated-key"

    result = publisher.invoke()

    assert result["worker_types"]["video"]["source"] == "api"
    assert result["worker_types"]["video"]["value"] == 3
    assert aws_calls["ssm.GetParameter"] == 2
    assert [r["key"] for r in publisher.api.requests[-2:]] == [publisher.key, "rotated-key"]


def test_a_key_that_stays_wrong_is_asked_for_once_more_only(publisher, aws_calls) -> None:
    publisher.api.answer({"backlog": 3})
    publisher.invoke()
    publisher.api.expected_key = "a-key-nobody-has"

    result = publisher.invoke()

    assert result["worker_types"]["video"]["reason"] == (
        "HTTP 403: key rejected or dropped by a proxy")
    assert aws_calls["ssm.GetParameter"] == 2  # one re-read, no loop


@pytest.mark.parametrize(
    ("answer", "timeout_s", "reason"),
    [
        ({"status": 403}, 3.0, "HTTP 403: key rejected or dropped by a proxy"),
        ({"status": 403, "refused_by": "nginx"}, 3.0,
         "HTTP 403 from nginx: the key did not reach it (dropped before it)"),
        ({"status": 500}, 3.0, "HTTP 500"),
        ({"delay_s": 1.5}, 0.3, "timeout after 0.3s"),
        ({"body": b"<html>bad gateway</html>", "status": 200}, 3.0, "bad response"),
        ({"body": {"backlog": -1}, "status": 200}, 3.0, "bad response"),
        ({"status": 302, "location": "http://127.0.0.1:9/elsewhere"}, 3.0,
         "HTTP 302: redirect to 127.0.0.1:9 not followed"),
    ],
    ids=["403", "403-nginx", "500", "timeout", "not-json", "negative", "redirect"],
)
def test_api_failure_falls_back_to_sqs_and_says_why(
    publisher, answer: dict, timeout_s: float, reason: str
) -> None:
    publisher.configure(timeout_s=timeout_s)
    publisher.aws.fill(publisher.url("video"), visible=2, in_flight=1)
    publisher.api.answer(**answer)

    result = publisher.invoke()

    video = result["worker_types"]["video"]
    assert result["ok"] is True
    assert video["source"] == "sqs"
    assert video["reason"].startswith(reason)
    assert video["api_count"] is None
    assert video["value"] == 3
    assert publisher.value("video") == 3
    assert len(publisher.api.requests) == 1  # the redirect was not followed with the key


def test_key_dropped_by_a_proxy_is_reported_as_403(publisher) -> None:
    publisher.api.expected_key = "the-key-gunicorn-expects"  # the header never matches

    result = publisher.invoke()

    assert result["worker_types"]["video"]["reason"] == (
        "HTTP 403: key rejected or dropped by a proxy"
    )
    assert result["worker_types"]["video"]["source"] == "sqs"


def test_unreachable_api_falls_back_to_sqs(publisher) -> None:
    publisher.configure(api_base_url="http://127.0.0.1:9")  # discard port: nothing listens
    publisher.aws.fill(publisher.url("video"), visible=1)

    result = publisher.invoke()

    assert result["worker_types"]["video"]["source"] == "sqs"
    assert result["worker_types"]["video"]["reason"].startswith("unreachable")
    assert publisher.value("video") == 1


@pytest.mark.parametrize("breakage", ["deleted", "bad-url"])
def test_unreadable_queue_without_api_publishes_nothing_for_it(
    publisher, breakage: str
) -> None:
    publisher.aws.fill(publisher.url("messaging"), visible=3)
    publisher.api.answer({"backlog": 2})
    if breakage == "deleted":
        publisher.aws.sqs.delete_queue(QueueUrl=publisher.url("ai"))
    else:
        publisher.targets["ai"]["queue_url"] = publisher.url("ai") + "-no-such-queue"
        publisher.configure()

    payload = publisher.invoke_failing()

    ai = payload["worker_types"]["ai"]
    assert payload["ok"] is False
    assert sorted(payload["published"]) == ["messaging", "video"]
    assert ai["value"] is None and ai["source"] is None
    assert ai["error"].startswith("sqs: ")
    assert publisher.value("ai") is None  # no false zero
    assert publisher.value("messaging") == 3
    assert publisher.value("video") == 2


def test_video_with_no_source_at_all_publishes_nothing(publisher) -> None:
    publisher.api.answer(status=500)
    publisher.aws.sqs.delete_queue(QueueUrl=publisher.url("video"))

    payload = publisher.invoke_failing()

    video = payload["worker_types"]["video"]
    assert video["value"] is None
    assert "sqs: " in video["error"] and "HTTP 500" in video["error"]
    assert publisher.value("video") is None
    assert publisher.value("ai") == 0  # a real, readable zero is still published


def test_api_count_is_enough_when_the_queue_is_unreadable(publisher) -> None:
    publisher.api.answer({"backlog": 5})
    publisher.aws.sqs.delete_queue(QueueUrl=publisher.url("video"))

    result = publisher.invoke()

    assert result["ok"] is True
    assert result["worker_types"]["video"]["source"] == "api"
    assert publisher.value("video") == 5


def test_duplicate_in_flight_messages_do_not_inflate_the_video_backlog(
    publisher,
) -> None:
    # Incident #2 (docs/INCIDENTS.md): 3 videos became 5 in-flight messages and 5 instances ran.
    publisher.aws.fill(publisher.url("video"), visible=0, in_flight=5)
    publisher.api.answer({"backlog": 3})

    result = publisher.invoke()

    video = result["worker_types"]["video"]
    assert (video["visible"], video["in_flight"], video["api_count"], video["value"]) == (
        0, 5, 3, 3
    )
    assert publisher.value("video") == 3


@pytest.mark.parametrize(
    ("in_flight", "delayed", "expected"),
    [(False, False, 2), (True, False, 5), (False, True, 6), (True, True, 9)],
)
def test_counting_options_choose_what_counts(
    publisher, in_flight: bool, delayed: bool, expected: int
) -> None:
    publisher.targets["ai"].update(count_in_flight=in_flight, count_delayed=delayed)
    publisher.configure()
    publisher.aws.fill(publisher.url("ai"), visible=2, in_flight=3, delayed=4)

    result = publisher.invoke()

    ai = result["worker_types"]["ai"]
    assert (ai["visible"], ai["in_flight"], ai["delayed"]) == (2, 3, 4)
    assert ai["counting"] == {"in_flight": in_flight, "delayed": delayed}
    assert ai["value"] == expected
    assert publisher.value("ai") == expected


def test_video_without_api_base_url_counts_sqs_and_says_so(publisher) -> None:
    publisher.configure(api_base_url="")
    publisher.aws.fill(publisher.url("video"), visible=1, in_flight=1)

    result = publisher.invoke()

    assert result["worker_types"]["video"]["source"] == "sqs"
    assert result["worker_types"]["video"]["reason"] == "BACKLOG_API_BASE_URL is empty"
    assert publisher.value("video") == 2
    assert publisher.api.requests == []


def test_return_value_has_the_contract_shape(publisher) -> None:
    result = publisher.invoke()

    assert set(result) == {"ok", "published", "worker_types"}
    for entry in result["worker_types"].values():
        assert set(entry) == {
            "visible", "in_flight", "delayed", "api_count", "value", "source", "reason",
            "error", "counting",
        }
    json.dumps(result)


def test_one_json_log_line_per_invocation_and_never_the_key(
    publisher, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ok = publisher.invoke()
    publisher.api.answer(status=403)
    publisher.aws.sqs.delete_queue(QueueUrl=publisher.url("ai"))
    publisher.handler_module.reset_container()  # a cold start reads the key again
    with pytest.raises(publisher.handler_module.BacklogUnavailable) as raised:
        publisher.invoke()

    lines = [r for r in caplog.records if r.name == "queue_depth"]
    assert [r.levelname for r in lines] == ["INFO", "ERROR"]
    assert json.loads(lines[0].getMessage()) == ok
    assert json.loads(lines[1].getMessage()) == json.loads(str(raised.value))
    captured = capsys.readouterr()
    for text in (caplog.text, captured.out, captured.err, str(raised.value), json.dumps(ok)):
        assert publisher.key not in text


def test_key_is_read_from_ssm_once_per_container(publisher, aws_calls) -> None:
    publisher.api.answer({"backlog": 1})
    assert publisher.invoke()["worker_types"]["video"]["source"] == "api"
    assert aws_calls["ssm.GetParameter"] == 1

    publisher.aws.ssm.delete_parameter(Name=publisher.key_parameter)
    warm = publisher.invoke()
    assert warm["worker_types"]["video"]["source"] == "api"  # the cached key still works
    assert aws_calls["ssm.GetParameter"] == 1

    publisher.handler_module.reset_container()  # a new container must read it again
    cold = publisher.invoke()
    assert cold["worker_types"]["video"]["source"] == "sqs"
    assert cold["worker_types"]["video"]["reason"].startswith(
        "internal key unavailable: ssm: ParameterNotFound"
    )


def test_aws_calls_per_invocation(publisher, aws_calls) -> None:
    publisher.invoke()
    cold = dict(aws_calls)
    aws_calls.clear()
    publisher.invoke()

    assert cold == {
        "sqs.GetQueueAttributes": 3,
        "ssm.GetParameter": 1,
        "cloudwatch.PutMetricData": 2,  # two namespaces: Academy/Workers, Academy/VideoProcessing
    }
    assert dict(aws_calls) == {"sqs.GetQueueAttributes": 3, "cloudwatch.PutMetricData": 2}
    assert len(publisher.api.requests) == 2


def test_one_namespace_means_one_put_metric_data(publisher, aws_calls) -> None:
    video_metric = {**publisher.metrics["video"], "namespace": "Academy/Workers"}
    publisher.targets["video"]["metric"] = video_metric
    publisher.configure()
    publisher.api.answer({"backlog": 6})

    publisher.invoke()

    assert aws_calls["cloudwatch.PutMetricData"] == 1
    assert publisher.aws.published_value(video_metric) == 6
    assert publisher.value("ai") == 0

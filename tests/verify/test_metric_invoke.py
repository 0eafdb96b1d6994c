"""`verify metric` with the publisher invoked: its own value must match the backlog, and the
datapoint read back is the invoke's, not an older one (a moto server as CloudWatch; the
publisher's answer is given by the test, so the tests choose what it publishes)."""

import datetime as dt

import pytest

from verify.checks import metric as metric_check
from verify.context import RunOptions
from verify.probes import publisher as publisher_probe
from verify.report import Status
from verify.suite import run_checks


def _put(stack, metric: dict, value: float, minutes_ago: float = 0.0) -> None:
    datum = {"MetricName": metric["name"], "Value": value,
             "Dimensions": [{"Name": k, "Value": v} for k, v in metric["dimensions"].items()]}
    if minutes_ago:
        datum["Timestamp"] = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    stack.client("cloudwatch").put_metric_data(Namespace=metric["namespace"], MetricData=[datum])


@pytest.fixture
def publisher(stack_with_api, monkeypatch):
    """Replace the synchronous invoke: `publisher(answer=5, writes=5)` makes it put `writes`
    (None: nothing) into CloudWatch as the real handler does, and answer `answer`."""
    monkeypatch.setattr(metric_check, "READ_BACK_S", 1.0)
    stack = stack_with_api
    video = stack.outputs["worker_types"]["video"]
    ai = stack.outputs["worker_types"]["ai"]

    def configure(answer: int, writes: int | None) -> None:
        def invoke(ctx) -> dict:
            if writes is not None:
                _put(stack, video["metric"], writes)
            _put(stack, ai["metric"], 0)
            return {"ok": True, "published": ["ai", "video"], "worker_types": {
                "ai": {"value": 0, "source": "sqs", "reason": None, "error": None},
                "video": {"value": answer, "source": "api", "reason": None, "error": None}}}

        monkeypatch.setattr(publisher_probe, "invoke_publisher", invoke)

    return configure


def video_result(stack):
    report = run_checks(stack.typed(), ["metric"], RunOptions(invoke=True, timeout_s=30.0),
                        env=stack.env)
    return {r.target: r for r in report.checks}["video"]


def test_a_published_value_that_differs_from_the_db_fails_despite_an_older_fitting_point(
        stack_with_api, publisher):
    _put(stack_with_api, stack_with_api.outputs["worker_types"]["video"]["metric"], 3,
         minutes_ago=2)  # an older datapoint that equals the DB count (3)
    publisher(answer=5, writes=5)
    result = video_result(stack_with_api)
    assert result.status is Status.FAIL, result
    assert "the publisher published 5" in result.summary
    assert "API backlog 3 before, 3 after" in result.summary
    assert "another API or database" in result.hint


def test_the_invoke_s_own_datapoint_is_read_back_not_an_older_one(stack_with_api, publisher):
    _put(stack_with_api, stack_with_api.outputs["worker_types"]["video"]["metric"], 9,
         minutes_ago=2)  # stale and wrong: must not decide the verdict
    publisher(answer=3, writes=3)
    result = video_result(stack_with_api)
    assert result.status is Status.PASS, result
    assert "BacklogCount{AutoScalingGroupName=academy-video-worker-asg,WorkerType=Video} = 3 " \
           "(invoke: 3); API backlog 3 before, 3 after" in result.summary


def test_a_read_back_that_disagrees_with_the_invoke_says_so(stack_with_api, publisher):
    publisher(answer=3, writes=7)  # CloudWatch holds something else for the invoke's minute
    result = video_result(stack_with_api)
    assert result.status is Status.FAIL, result
    assert "the datapoint read back disagrees with the invoke" in result.summary
    assert "= 7 for the invoke's minute, the invoke published 3" in result.summary
    assert "something else publishes these exact dimensions" in result.hint


def test_an_invoke_datapoint_that_never_appears_warns_with_the_older_one(
        stack_with_api, publisher):
    _put(stack_with_api, stack_with_api.outputs["worker_types"]["video"]["metric"], 3,
         minutes_ago=2)
    publisher(answer=3, writes=None)
    result = video_result(stack_with_api)
    assert result.status is Status.WARN, result
    assert "did not appear in 1s" in result.summary and "is older (invoke: 3)" in result.summary
    assert "CloudWatch can lag" in result.hint

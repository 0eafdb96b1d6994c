"""The publisher's live configuration against what the stack declares: its environment
(API URL, key parameter, targets, any variable the stack did not set), and `verify metric`
naming the live and the stack's API URL when the publisher fell back to SQS (issue 9,
item 10)."""

import json

import pytest

from verify.context import RunOptions
from verify.probes import publisher as publisher_probe
from verify.report import Status
from verify.suite import run_checks


def run(stack, check: str, **options) -> dict:
    settings = {"invoke": False, "timeout_s": 30.0, **options}
    report = run_checks(stack.typed(), [check], RunOptions(**settings), env=stack.env)
    return {result.target: result for result in report.checks}


# -- the publisher's live environment ------------------------------------------------------

def _set_variable(stack, name: str, value: str | None) -> None:
    lam = stack.client("lambda")
    function = stack.outputs["publisher"]["function_name"]
    variables = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    if value is None:
        variables.pop(name)
    else:
        variables[name] = value
    lam.update_function_configuration(FunctionName=function,
                                      Environment={"Variables": variables})


ELSEWHERE = "http://127.0.0.1:9/elsewhere"


def test_a_changed_api_url_fails_the_publisher_naming_both_urls(stack_with_api):
    stack = stack_with_api
    declared = stack.outputs["publisher"]["environment"]["BACKLOG_API_BASE_URL"]
    _set_variable(stack, "BACKLOG_API_BASE_URL", ELSEWHERE)
    result = run(stack, "publisher")[f"{stack.outputs['publisher']['function_name']} environment"]
    assert result.status is Status.FAIL, result
    assert f"BACKLOG_API_BASE_URL is '{ELSEWHERE}', the stack's is '{declared}'" in result.summary


def test_variables_the_stack_did_not_declare_or_lost_fail_without_their_values(stack):
    _set_variable(stack, "SNEAKY_TOKEN", "value-that-must-not-show")
    _set_variable(stack, "BACKLOG_API_TIMEOUT_S", None)
    result = run(stack, "publisher")[f"{stack.outputs['publisher']['function_name']} environment"]
    assert result.status is Status.FAIL, result
    assert "SNEAKY_TOKEN is set but the stack does not declare it" in result.summary
    assert "value-that-must-not-show" not in result.summary + result.hint
    assert "BACKLOG_API_TIMEOUT_S is not set (the stack sets '3')" in result.summary


def test_a_changed_queue_url_in_the_targets_fails(stack):
    lam = stack.client("lambda")
    function = stack.outputs["publisher"]["function_name"]
    variables = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    targets = json.loads(variables["BACKLOG_TARGETS"])
    targets[0]["queue_url"] = "http://127.0.0.1:9/queue/old-ai-jobs"
    _set_variable(stack, "BACKLOG_TARGETS", json.dumps(targets))
    result = run(stack, "publisher")[f"{function} environment"]
    assert result.status is Status.FAIL, result
    assert "ai queue_url is 'http://127.0.0.1:9/queue/old-ai-jobs'" in result.summary


def _targets(stack) -> list:
    lam = stack.client("lambda")
    function = stack.outputs["publisher"]["function_name"]
    variables = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    return json.loads(variables["BACKLOG_TARGETS"])


@pytest.mark.parametrize(("change", "words"), [
    (lambda t: t + [dict(t[-1])],
     ["video appears 2 times in BACKLOG_TARGETS", "BACKLOG_TARGETS has 3 entries, the stack "
                                                  "declares 2"]),
    (lambda t: t + [None], ["BACKLOG_TARGETS entry 3 is null, not an object",
                            "BACKLOG_TARGETS has 3 entries, the stack declares 2"]),
    (lambda t: t + ["video"], ["BACKLOG_TARGETS entry 3 is a string, not an object"]),
    (lambda t: [*t[:1], {"metric": t[1]["metric"]}, t[1]],
     ["BACKLOG_TARGETS entry 2 has no worker_type"]),
    (lambda t: {"targets": t}, ["BACKLOG_TARGETS is not a JSON list"]),
])
def test_duplicate_or_non_object_targets_fail_naming_them(stack, change, words):
    """The publisher fails every run on these; the check used to skip them and pass (red
    team 4)."""
    function = stack.outputs["publisher"]["function_name"]
    _set_variable(stack, "BACKLOG_TARGETS", json.dumps(change(_targets(stack))))
    result = run(stack, "publisher")[f"{function} environment"]
    assert result.status is Status.FAIL, result
    for word in words:
        assert word in result.summary, result.summary


@pytest.fixture
def falls_back_to_sqs(stack_with_api, monkeypatch):
    """The publisher's answer when its API URL reaches nothing (the handler's own reason), and
    the zeros it publishes, as the real handler does (so the read-back finds them at once)."""
    def invoke(ctx) -> dict:
        for worker in stack_with_api.outputs["worker_types"].values():
            metric = worker["metric"]
            stack_with_api.client("cloudwatch").put_metric_data(
                Namespace=metric["namespace"], MetricData=[{
                    "MetricName": metric["name"], "Value": 0, "Dimensions": [
                        {"Name": k, "Value": v} for k, v in metric["dimensions"].items()]}])
        return {"ok": True, "published": ["ai", "video"], "worker_types": {
            "ai": {"value": 0, "source": "sqs", "reason": None, "error": None},
            "video": {"value": 0, "source": "sqs", "error": None,
                      "reason": "API unreachable: connection refused"}}}

    monkeypatch.setattr(publisher_probe, "invoke_publisher", invoke)


def test_metric_names_the_live_and_the_stack_s_api_url_when_they_differ(
        stack_with_api, falls_back_to_sqs):
    stack = stack_with_api
    declared = stack.outputs["publisher"]["environment"]["BACKLOG_API_BASE_URL"]
    _set_variable(stack, "BACKLOG_API_BASE_URL", ELSEWHERE)
    result = run(stack, "metric", invoke=True)["video"]
    assert result.status is Status.FAIL, result
    assert "fell back to SQS" in result.summary
    assert f"the publisher calls {ELSEWHERE}, the stack's API is {declared}" in result.summary
    assert "verify api` checks the stack's URL" in result.hint
    assert "check its key parameter" not in result.hint


def test_metric_still_points_at_the_key_when_the_url_is_the_stack_s(
        stack_with_api, falls_back_to_sqs):
    result = run(stack_with_api, "metric", invoke=True)["video"]
    assert result.status is Status.FAIL, result
    assert "key parameter" in result.hint and "the stack's API is" not in result.summary

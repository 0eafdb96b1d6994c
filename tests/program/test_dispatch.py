"""The dispatch parameter: its value's one shape (contract/dispatch.py), as CONTRACTS.md
shows it to the API's developers, and as the program declares it in both modes."""

from __future__ import annotations

import json
import re

import pytest

from contract.dispatch import (
    DISPATCH_SCHEMA_VERSION,
    FIELDS,
    DispatchError,
    DispatchValue,
    document_examples,
)
from stack_settings.stack_files import ROOT

CONTRACTS = ROOT / "docs" / "CONTRACTS.md"
BLOCK = re.compile(
    r"<!-- dispatch-value:begin -->\n```text\n(.*?)\n```\n<!-- dispatch-value:end -->", re.S
)


def test_contracts_md_shows_the_dispatch_value_as_the_code_writes_it() -> None:
    found = BLOCK.search(CONTRACTS.read_text())
    assert found, "docs/CONTRACTS.md lost its dispatch-value markers"
    assert found[1] == document_examples()
    for line in found[1].splitlines():
        value = json.loads(line)
        assert tuple(sorted(value)) == FIELDS
        assert DispatchValue.from_json(line).to_json() == line


def test_the_value_is_compact_json_with_sorted_keys_and_every_key() -> None:
    text = DispatchValue(mode="batch", worker_type="video", job_queue="q",
                         job_definition="d").to_json()
    assert text == ('{"job_definition":"d","job_queue":"q","mode":"batch","queue_url":null,'
                    f'"schema_version":{DISPATCH_SCHEMA_VERSION},"worker_type":"video"}}')


@pytest.mark.parametrize("fields", [
    {"mode": "asg", "worker_type": "video"},  # no queue URL
    {"mode": "asg", "worker_type": "video", "queue_url": "u", "job_queue": "q"},
    {"mode": "batch", "worker_type": "video", "job_queue": "q"},  # no job definition
    {"mode": "batch", "worker_type": "video", "job_queue": "q", "job_definition": "d",
     "queue_url": "u"},
    {"mode": "fleet", "worker_type": "video", "queue_url": "u"},
    {"mode": "asg", "worker_type": "", "queue_url": "u"},
])
def test_a_value_of_the_wrong_shape_is_refused(fields: dict[str, str]) -> None:
    with pytest.raises(DispatchError):
        DispatchValue(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    "not json", "[]", '{"mode": "asg"}',
    '{"job_definition":null,"job_queue":null,"mode":"asg","queue_url":"u",'
    '"schema_version":2,"worker_type":"video"}',
    '{"job_definition":null,"job_queue":null,"mode":"asg","queue_url":7,'
    '"schema_version":1,"worker_type":"video"}',
    '{"extra":1,"job_definition":null,"job_queue":null,"mode":"asg","queue_url":"u",'
    '"schema_version":1,"worker_type":"video"}',
])
def test_from_json_refuses_what_is_not_the_shape(text: str) -> None:
    with pytest.raises(DispatchError):
        DispatchValue.from_json(text)


ASG_FIELDS = ('"job_definition":null,"job_queue":null,"mode":"asg","queue_url":"u",'
              '"worker_type":"video"')


@pytest.mark.parametrize(("text", "said"), [
    # bool is an int in Python (True == 1): a JSON true is no schema version
    ('{' + ASG_FIELDS + ',"schema_version":true}', "schema_version is True"),
    ('{' + ASG_FIELDS + ',"schema_version":1.0}', "schema_version is 1.0"),
    # a duplicate key: one reader would take the first, json.loads the last
    ('{' + ASG_FIELDS + ',"schema_version":1,"mode":"batch"}', "duplicate key 'mode'"),
])
def test_from_json_refuses_a_lookalike_version_and_duplicate_keys(text: str, said: str) -> None:
    with pytest.raises(DispatchError, match=re.escape(said)):
        DispatchValue.from_json(text)


def test_a_value_built_with_a_bool_version_is_refused() -> None:
    with pytest.raises(DispatchError, match="schema_version"):
        DispatchValue(mode="asg", worker_type="video", queue_url="u",
                      schema_version=True)  # type: ignore[arg-type]


def test_for_worker_type_refuses_a_value_for_another_type() -> None:
    value = DispatchValue(mode="asg", worker_type="ai", queue_url="u")
    with pytest.raises(DispatchError, match="worker type 'ai'.*serves 'video'"):
        value.for_worker_type("video")
    assert DispatchValue.from_json(value.to_json()).for_worker_type("ai") == value


# ---- as the program declares it ----------------------------------------------------------

PARAMETER = "aws:ssm/parameter:Parameter"
NAME = "/academy/workers/video/dispatch"


def _dispatch_value(run) -> dict[str, object]:
    (param,) = [r for r in run.of_type(PARAMETER) if r.inputs["name"] == NAME]
    assert param.inputs["type"] == "String"
    return json.loads(param.inputs["insecureValue"])


def test_asg_mode_dispatches_to_the_video_queue(prod_asg) -> None:
    url = prod_asg.one("aws:sqs/queue:Queue", "video-jobs-queue").outputs["url"]
    assert _dispatch_value(prod_asg) == {
        "schema_version": 1, "mode": "asg", "worker_type": "video", "queue_url": url,
        "job_queue": None, "job_definition": None,
    }


def test_batch_mode_dispatches_to_the_job_queue_and_definition(prod) -> None:
    assert _dispatch_value(prod) == {
        "schema_version": 1, "mode": "batch", "worker_type": "video", "queue_url": None,
        "job_queue": "academy-video-batch-queue", "job_definition": "academy-video-batch-jobdef",
    }


def test_the_value_is_exactly_what_the_shape_module_writes(any_stack) -> None:
    (param,) = [r for r in any_stack.of_type(PARAMETER) if r.inputs["name"] == NAME]
    text = param.inputs["insecureValue"]
    assert DispatchValue.from_json(text).to_json() == text


def test_the_output_names_the_parameter_and_parse_reads_it(any_stack) -> None:
    from contract.stack_output import parse

    parsed = parse({"academy": any_stack.academy})
    assert parsed.dispatch is not None
    assert parsed.dispatch.parameter == NAME
    value = _dispatch_value(any_stack)
    assert parsed.dispatch.mode == value["mode"] == parsed.mode
    assert parsed.dispatch.worker_type == "video"
    for key in ("queue_url", "job_queue", "job_definition"):
        assert getattr(parsed.dispatch, key) == value[key], key
    assert parsed.draining is None


def test_an_older_output_without_dispatch_still_parses(prod) -> None:
    from contract.stack_output import parse

    older = {k: v for k, v in prod.academy.items() if k not in ("dispatch", "draining")}
    parsed = parse({"academy": older})
    assert parsed.dispatch is None and parsed.draining is None


def test_no_batch_capable_type_no_dispatch_parameter(evaluate_stack) -> None:
    run = evaluate_stack("prod-asg", {"videoRunsOnBatch": False})
    assert all(r.inputs["name"] != NAME for r in run.of_type(PARAMETER))
    assert run.academy["dispatch"] is None


@pytest.mark.parametrize("empty", ["job_queue", "job_definition"])
def test_what_a_mode_does_not_take_is_null_not_an_empty_string(empty: str) -> None:
    """The contract says null; an empty string passed (red team, issue 15.14)."""
    value = json.loads(DispatchValue(
        mode="asg", worker_type="video",
        queue_url="https://sqs.ap-northeast-2.amazonaws.com/111122223333/q").to_json())
    value[empty] = ""
    with pytest.raises(DispatchError, match="null"):
        DispatchValue.from_json(json.dumps(value))

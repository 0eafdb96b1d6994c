"""Every unreadable or ill-shaped outputs file is a usage error (exit 2) that names the place in
the document and what was expected (the contract's parser, contract/stack_output.py, says
it); never an internal error. An unknown schema_version too."""

import copy
import json
from pathlib import Path

import pytest

from contract.stack_output import SCHEMA_VERSION, Fleet, to_plain
from tests.verify.cli_run import assert_one_clear_line, minimal_outputs, verify, verify_process
from verify.errors import UsageError
from verify.outputs import load_file, validate


def fleet() -> dict:
    return to_plain(Fleet("g", 0, 2, 20.0, 120, "p", wake_from_zero=False, wake=None))


def with_fleet() -> dict:
    document = minimal_outputs()
    document["academy"]["worker_types"]["ai"]["fleet"] = fleet()
    return document


def test_the_minimal_outputs_with_a_fleet_are_valid():
    assert validate(with_fleet(), "f").worker_types["ai"].fleet.min_size == 0


def test_non_utf8_bytes_exit_2_naming_the_file(tmp_path: Path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"academy": "caf\xe9"}')
    done = verify("all", "--outputs", str(path))
    assert_one_clear_line(done, 2, "not UTF-8")
    assert str(path) in done.stderr


def test_json_nested_100000_deep_exit_2(tmp_path: Path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    done = verify("all", "--outputs", str(path))
    assert_one_clear_line(done, 2, "nested too deeply")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda a: a["worker_types"]["ai"].__setitem__("queue", 5),
         "'academy.worker_types.ai.queue' should be an object, got int"),
        (lambda a: a["worker_types"]["ai"].__setitem__("fleet", "x"),
         "'academy.worker_types.ai.fleet' should be an object, got 'x'"),
        (lambda a: a["worker_types"]["ai"]["fleet"].__setitem__("min_size", "1"),
         "'academy.worker_types.ai.fleet.min_size' should be an integer, got '1'"),
        (lambda a: a["worker_types"]["ai"]["fleet"].__setitem__("max_size", True),
         "'academy.worker_types.ai.fleet.max_size' should be an integer, got bool"),
        (lambda a: a["worker_types"]["ai"]["queue"].__setitem__("visibility_timeout_s", 9.5),
         "'academy.worker_types.ai.queue.visibility_timeout_s' should be an integer, got float"),
        (lambda a: a["worker_types"]["ai"]["metric"].__setitem__("dimensions", {"A": 1}),
         "'academy.worker_types.ai.metric.dimensions.A' should be a string, got int"),
        (lambda a: a["worker_types"]["ai"].__setitem__("published", "yes"),
         "'academy.worker_types.ai.published' should be true or false, got 'yes'"),
        (lambda a: a["api"].__setitem__("hosts", [{"name": "h", "instance_id": None,
                                                   "ssh": {"host": "h"}}]),
         "missing key 'academy.api.hosts[0].ssh.port'"),
        (lambda a: a["api"]["hosts"].append({"name": "h", "instance_id": None,
                                             "ssh": {"host": "h", "port": "22", "user": "u"}}),
         "'academy.api.hosts[0].ssh.port' should be an integer, got '22'"),
        (lambda a: a.__setitem__("worker_types", []),
         "'academy.worker_types' should be an object, got list"),
        (lambda a: a.__setitem__("stack", None), "'academy.stack' should be a string, got null"),
        (lambda a: a.__setitem__("mode", "ecs"), "'academy.mode' should be 'asg' or 'batch'"),
        (lambda a: a["worker_types"]["ai"].__setitem__("runs_on", "lambda"),
         "'academy.worker_types.ai.runs_on' should be 'fleet' or 'batch', got 'lambda'"),
        (lambda a: a["publisher"].pop("code_sha256"),
         "missing key 'academy.publisher.code_sha256'"),
        (lambda a: a["api"]["nginx"].__setitem__("association_names", "doc"),
         "'academy.api.nginx.association_names' should be a list, got 'doc'"),
    ],
)
def test_wrong_types_name_the_path_and_what_was_expected(change, words):
    document = with_fleet()
    change(document["academy"])
    with pytest.raises(UsageError) as raised:
        validate(document, "saved.json")
    assert words in str(raised.value)
    assert str(raised.value).startswith("saved.json: ")


def test_a_wrong_type_through_the_cli_is_exit_2_not_an_internal_error(write_json):
    document = with_fleet()
    document["academy"]["worker_types"]["ai"]["fleet"]["min_size"] = "1"
    done = verify("scaling", "--outputs", str(write_json(document)))
    assert_one_clear_line(done, 2, "fleet.min_size' should be an integer, got '1'")


@pytest.mark.parametrize("version", [None, SCHEMA_VERSION + 1, "1"])
def test_an_unknown_schema_version_is_exit_2_with_what_this_verify_reads(write_json, version):
    document = minimal_outputs()
    if version is None:
        del document["academy"]["schema_version"]
    else:
        document["academy"]["schema_version"] = version
    done = verify("all", "--outputs", str(write_json(document)))
    assert_one_clear_line(done, 2, "'academy.schema_version' is ")
    assert f"this verify reads version {SCHEMA_VERSION}" in done.stderr


def test_a_batch_block_with_wrong_types(write_json):
    document = minimal_outputs()
    academy = document["academy"]
    academy["mode"] = "batch"
    academy["batch"] = {"compute_environment": "ce", "job_queue": "q", "job_definition": "d",
                        "log_group": "l", "architecture": "arm64", "retry_attempts": [1],
                        "timeout_s": 14400, "runnable_timeout_s": 600}
    done = verify("batch", "--outputs", str(write_json(document)))
    assert_one_clear_line(done, 2, "'academy.batch.retry_attempts' should be an integer, got list")


def test_the_validator_does_not_change_a_valid_document():
    document = with_fleet()
    before = copy.deepcopy(document)
    validate(document, "f")
    assert document == before


def test_load_file_accepts_what_the_sandbox_and_the_tests_write(tmp_path: Path):
    path = tmp_path / "o.json"
    path.write_text(json.dumps(with_fleet()))
    assert load_file(path).stack == "cli"


# -- red team 3: numbers JSON has not, nonsense numbers, files that are not files -------------

@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_exit_2(tmp_path: Path, constant):
    text = json.dumps(with_fleet()).replace('"target_backlog_per_instance": 20.0',
                                            f'"target_backlog_per_instance": {constant}')
    assert constant in text
    path = tmp_path / "o.json"
    path.write_text(text)
    done = verify("scaling", "--outputs", str(path))
    assert_one_clear_line(done, 2, f"{constant} is not JSON")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("target_backlog_per_instance", 0, "target_backlog_per_instance' is 0, expected a number "
                                       "above 0"),
    ("target_backlog_per_instance", -5.0, "target_backlog_per_instance' is -5, expected"),
    ("min_size", -1, "fleet.min_size' is -1, expected"),
    ("max_size", 1, "fleet.max_size' is 1, below min_size 3"),
    ("instance_warmup_s", -10, "fleet.instance_warmup_s' is -10, expected"),
])
def test_nonsense_numbers_are_exit_2_naming_the_place(write_json, field, value, words):
    document = with_fleet()
    fleet_doc = document["academy"]["worker_types"]["ai"]["fleet"]
    if field == "max_size":
        fleet_doc["min_size"] = 3
    fleet_doc[field] = value
    done = verify("scaling", "--outputs", str(write_json(document)))
    assert_one_clear_line(done, 2, words)


@pytest.mark.parametrize(("path", "value", "words"), [
    (("queue", "visibility_timeout_s"), -1, "queue.visibility_timeout_s' is -1"),
    (("dlq", "max_receive_count"), 0, "dlq.max_receive_count' is 0"),
    (("max_job_s",), 0, "max_job_s' is 0"),
])
def test_nonsense_numbers_of_a_worker(write_json, path, value, words):
    document = with_fleet()
    place = document["academy"]["worker_types"]["ai"]
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    assert_one_clear_line(verify("queues", "--outputs", str(write_json(document))), 2, words)


def test_a_bad_backlog_bound_in_the_publishers_environment_is_exit_2(write_json):
    document = minimal_outputs()
    document["academy"]["publisher"]["environment"]["BACKLOG_API_MAX_COUNT"] = "-3"
    done = verify("api", "--outputs", str(write_json(document)))
    assert_one_clear_line(done, 2, "BACKLOG_API_MAX_COUNT")


@pytest.mark.parametrize(("change", "words"), [
    (lambda a: a["worker_types"]["ai"]["fleet"].__setitem__("wake", "oops"),
     "'academy.worker_types.ai.fleet.wake' should be an object, got 'oops'"),
    (lambda a: a["publisher"].__setitem__("environment", ["A=1"]),
     "'academy.publisher.environment' should be an object, got list"),
])
def test_wrong_types_deeper_are_exit_2(write_json, change, words):
    document = with_fleet()
    change(document["academy"])
    assert_one_clear_line(verify("all", "--outputs", str(write_json(document))), 2, words)


def test_dev_zero_is_refused_as_not_a_regular_file():
    done = verify_process("all", "--outputs", "/dev/zero", timeout=20)
    assert_one_clear_line(done, 2, "not a regular file")


def test_a_fifo_is_refused_without_waiting(tmp_path: Path):
    import os

    fifo = tmp_path / "outputs.fifo"
    os.mkfifo(fifo)
    done = verify_process("all", "--outputs", str(fifo), timeout=20)
    assert_one_clear_line(done, 2, "not a regular file")


def test_a_directory_is_refused(tmp_path: Path):
    assert_one_clear_line(verify("all", "--outputs", str(tmp_path)), 2, "not a regular file")


def test_an_outputs_file_over_the_size_cap_is_refused_unread(tmp_path: Path):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: 11 MB on paper, nothing on disk
        handle.truncate(11 * 1024 * 1024)
    done = verify_process("all", "--outputs", str(path), timeout=20)
    assert_one_clear_line(done, 2, "larger than 10 MB")

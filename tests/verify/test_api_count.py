"""LOCAL and PUBLIC agreeing on something that is not a count is a FAIL, never a PASS: the
only count is a JSON object {"backlog": N}, N an int (not bool) >= 0 (the publisher's rule)."""

import json

import pytest

from tests.verify.cli_run import KEY, minimal_outputs, verify
from verify.checks.api import diagnose_paths
from verify.probes.backlog_api import ApiAnswer, parse_backlog
from verify.report import Status
from verify.secrets import Masker

NOT_COUNTS = ["garbage", "-1", '"3"', "2.5", "null", "3", "[3]", "{}", '{"backlog": -1}',
              '{"backlog": "3"}', '{"backlog": 2.5}', '{"backlog": null}', '{"backlog": true}',
              '{"backlog": 3.0}', '{"backlog": ' + "9" * 5000 + "}", ""]


@pytest.mark.parametrize("body", NOT_COUNTS)
def test_agreeing_on_a_wrong_answer_fails(body):
    answer = ApiAnswer(200, body)
    verdict = diagnose_paths(answer, answer, bodies_match=True, masker=Masker())
    assert verdict.status is Status.FAIL
    assert "not a backlog count" in verdict.summary
    assert '{"backlog": <int >= 0>}' in verdict.hint


@pytest.mark.parametrize("body", NOT_COUNTS)
def test_only_an_object_with_a_non_negative_int_is_a_count(body):
    assert parse_backlog(body) is None


@pytest.mark.parametrize(("body", "count"), [('{"backlog": 0}', 0), ('{"backlog": 3}', 3),
                                             ('{"backlog": 7, "other": "x"}', 7)])
def test_counts(body, count):
    assert parse_backlog(body) == count
    verdict = diagnose_paths(ApiAnswer(200, body), ApiAnswer(200, body), bodies_match=True,
                             masker=Masker())
    assert verdict.status is Status.PASS


def test_a_public_answer_that_is_not_a_count_is_named(write_json):
    verdict = diagnose_paths(ApiAnswer(200, '{"backlog": 3}'), ApiAnswer(200, "<html>"),
                             bodies_match=False, masker=Masker())
    assert verdict.status is Status.FAIL and "PUBLIC answered 200 but not a backlog count" in (
        verdict.summary)


@pytest.mark.parametrize("backlog", [-1, "3", 2.5, None])
def test_the_api_check_fails_when_both_paths_agree_on_a_wrong_count(write_json, backlog_api,
                                                                     backlog):
    backlog_api.state["backlog"] = backlog
    document = minimal_outputs(backlog_api.public_url)
    document["academy"]["api"]["local_base_url"] = backlog_api.local_url
    document["academy"]["api"]["hosts"] = [{"name": "web", "instance_id": None, "ssh": None}]
    done = verify("api", "--outputs", str(write_json(document)), "--transport", "local",
                  "--json", "--timeout", "20", env={"ACADEMY_INTERNAL_KEY": KEY})
    rows = {c["target"]: c for c in json.loads(done.stdout)["checks"]}
    assert rows["web"]["status"] == "fail", rows["web"]
    assert "not a backlog count" in rows["web"]["summary"]
    assert rows["public key check"]["status"] == "pass"
    assert done.returncode == 1


# -- the publisher's bound: BACKLOG_API_MAX_COUNT and at most 20 digits (red team 2) ---------

@pytest.mark.parametrize(("body", "bound", "count"), [
    ('{"backlog": 100000}', 100000, 100000), ('{"backlog": 100001}', 100000, None),
    ('{"backlog": 500000}', 1000000, 500000), ('{"backlog": ' + "9" * 21 + "}", 10**7, None),
    ('{"backlog": ' + "1" * 400 + "}", 10**7, None), ('{"backlog": NaN}', 10**7, None),
    ('{"backlog": Infinity}', 10**7, None)])
def test_a_count_above_the_publishers_bound_is_not_a_count(body, bound, count):
    assert parse_backlog(body, max_count=bound) == count


@pytest.mark.parametrize(("backlog", "named"), [
    (500000, "above BACKLOG_API_MAX_COUNT (100000)"),
    (int("9" * 400), "400 digits"),
])
def test_the_api_check_fails_on_a_count_the_publisher_refuses(write_json, backlog_api, backlog,
                                                              named):
    backlog_api.state["backlog"] = backlog
    document = minimal_outputs(backlog_api.public_url)
    document["academy"]["api"]["local_base_url"] = backlog_api.local_url
    document["academy"]["api"]["hosts"] = [{"name": "web", "instance_id": None, "ssh": None}]
    done = verify("api", "--outputs", str(write_json(document)), "--transport", "local",
                  "--json", "--timeout", "20", env={"ACADEMY_INTERNAL_KEY": KEY})
    rows = {c["target"]: c for c in json.loads(done.stdout)["checks"]}
    assert rows["web"]["status"] == "fail", rows["web"]
    assert named in rows["web"]["summary"], rows["web"]
    assert done.returncode == 1


def test_the_bound_is_read_from_the_publishers_environment(write_json, backlog_api):
    backlog_api.state["backlog"] = 500000
    document = minimal_outputs(backlog_api.public_url)
    document["academy"]["api"]["local_base_url"] = backlog_api.local_url
    document["academy"]["api"]["hosts"] = [{"name": "web", "instance_id": None, "ssh": None}]
    document["academy"]["publisher"]["environment"]["BACKLOG_API_MAX_COUNT"] = "1000000"
    done = verify("api", "--outputs", str(write_json(document)), "--transport", "local",
                  "--json", "--timeout", "20", env={"ACADEMY_INTERNAL_KEY": KEY})
    rows = {c["target"]: c for c in json.loads(done.stdout)["checks"]}
    assert rows["web"]["status"] == "pass", rows["web"]

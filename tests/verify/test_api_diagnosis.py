"""The api check's diagnosis: LOCAL vs PUBLIC statuses -> verdict and hint."""

import pytest

from verify.checks.api import bodies_agree, diagnose_auth, diagnose_paths
from verify.checks.http_probe import ApiAnswer
from verify.report import Status

OK = ApiAnswer(200, '{"backlog": 3}')
DENIED = ApiAnswer(403, '{"detail": "forbidden"}')


@pytest.mark.parametrize(
    ("local", "public", "status", "summary", "hint"),
    [
        (OK, OK, Status.PASS, "agree", ""),
        (OK, DENIED, Status.FAIL, "the proxy drops X-Internal-Key",
         "proxy_set_header X-Internal-Key"),
        (DENIED, DENIED, Status.FAIL, "differs from the API's", "put-parameter"),
        (OK, ApiAnswer(502, "bad gateway"), Status.FAIL, "upstream (gunicorn) did not",
         "proxy_pass"),
        (OK, ApiAnswer(504, ""), Status.FAIL, "timed out waiting for the upstream", "gunicorn"),
        (OK, ApiAnswer(522, ""), Status.FAIL, "CDN could not get an answer from the origin",
         "security group"),
        (OK, ApiAnswer(None, "", "connection failed: refused"), Status.FAIL, "PUBLIC unreachable",
         "DNS"),
        (ApiAnswer(None, "", "Failed to connect"), OK, Status.FAIL, "does not answer on the host",
         "gunicorn"),
        (DENIED, OK, Status.FAIL, "LOCAL refuses the key but PUBLIC does not", "another API"),
        (ApiAnswer(500, "boom"), OK, Status.FAIL, "answers 500 on the host", "logs"),
    ],
)
def test_local_vs_public(local, public, status, summary, hint):
    verdict = diagnose_paths(local, public, bodies_match=True)
    assert verdict.status is status
    assert summary in verdict.summary
    assert hint in verdict.hint
    if status is not Status.PASS:
        assert verdict.hint


def test_same_status_but_other_body_fails():
    verdict = diagnose_paths(OK, ApiAnswer(200, '{"backlog": 9}'), bodies_match=False)
    assert verdict.status is Status.FAIL and "differ" in verdict.summary


@pytest.mark.parametrize(
    ("no_key", "wrong_key", "status", "words"),
    [
        (DENIED, DENIED, Status.PASS, "no key -> 403, wrong key -> 403"),
        (OK, DENIED, Status.FAIL, "open to the public"),
        (DENIED, OK, Status.FAIL, "open to the public"),
        (ApiAnswer(502, ""), ApiAnswer(502, ""), Status.FAIL, "expected 403"),
        (ApiAnswer(None, "", "timed out"), DENIED, Status.FAIL, "PUBLIC unreachable"),
    ],
)
def test_public_path_refuses_missing_and_wrong_keys(no_key, wrong_key, status, words):
    verdict = diagnose_auth(no_key, wrong_key)
    assert verdict.status is status
    assert words in verdict.summary


def test_a_count_that_moved_between_samples_still_agrees():
    before, after = ApiAnswer(200, '{"backlog": 3}'), ApiAnswer(200, '{"backlog": 5}')
    assert bodies_agree(before, ApiAnswer(200, '{"backlog": 4}'), after)
    assert not bodies_agree(before, ApiAnswer(200, '{"backlog": 7}'), after)
    assert bodies_agree(before, ApiAnswer(200, '{"backlog": 3}'), before)

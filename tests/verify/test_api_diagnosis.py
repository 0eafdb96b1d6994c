"""The api check's diagnosis: LOCAL vs PUBLIC statuses -> verdict and hint."""

import pytest

from verify.checks.api import bodies_agree, diagnose_auth, diagnose_paths
from verify.probes.backlog_api import ApiAnswer, kept_headers
from verify.report import Status
from verify.secrets import Masker

OK = ApiAnswer(200, '{"backlog": 3}')
DENIED = ApiAnswer(403, '{"detail": "forbidden"}')
REFUSED_BY_NGINX = ApiAnswer(403, '{"detail": "X-Internal-Key missing (refused by nginx)"}',
                             headers=(("x-refused-by", "nginx"),))


@pytest.mark.parametrize(
    ("local", "public", "status", "summary", "hint"),
    [
        (OK, OK, Status.PASS, "agree", ""),
        (OK, DENIED, Status.FAIL,
         "the key reached nginx but not the API: the proxy drops X-Internal-Key",
         "proxy_set_header X-Internal-Key"),
        (OK, REFUSED_BY_NGINX, Status.FAIL,
         "the key did not reach nginx (lost before it: client, CDN/Cloudflare)", "Cloudflare"),
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
    verdict = diagnose_paths(local, public, bodies_match=True, masker=Masker())
    assert verdict.status is status
    assert summary in verdict.summary
    assert hint in verdict.hint
    if status is not Status.PASS:
        assert verdict.hint


def test_same_status_but_other_body_fails():
    verdict = diagnose_paths(OK, ApiAnswer(200, '{"backlog": 9}'), bodies_match=False,
                             masker=Masker())
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
    verdict = diagnose_auth(no_key, wrong_key, masker=Masker())
    assert verdict.status is status
    assert words in verdict.summary


def test_a_count_that_moved_between_samples_still_agrees():
    before, after = ApiAnswer(200, '{"backlog": 3}'), ApiAnswer(200, '{"backlog": 5}')
    assert bodies_agree(before, ApiAnswer(200, '{"backlog": 4}'), after)
    assert not bodies_agree(before, ApiAnswer(200, '{"backlog": 7}'), after)
    assert bodies_agree(before, ApiAnswer(200, '{"backlog": 3}'), before)


def test_the_nginx_marker_tells_where_the_key_was_lost():
    lost_before = diagnose_paths(OK, REFUSED_BY_NGINX, bodies_match=True, masker=Masker())
    assert "did not reach nginx" in lost_before.summary
    assert "proxy drops" not in lost_before.summary
    assert "proxy_set_header" not in lost_before.hint  # nginx is not what to fix
    lost_inside = diagnose_paths(OK, DENIED, bodies_match=True, masker=Masker())
    assert "reached nginx but not the API" in lost_inside.summary
    assert "proxy_set_header X-Internal-Key" in lost_inside.hint


def test_the_marker_is_read_whatever_the_header_case():
    assert ApiAnswer(403, "", headers=(("x-refused-by", "Nginx"),)).refused_by_nginx
    assert not DENIED.refused_by_nginx
    assert kept_headers({"X-Refused-By": "nginx", "Set-Cookie": "a=b"}) == (
        ("x-refused-by", "nginx"),)


def test_a_key_from_the_environment_that_both_paths_refuse_is_named_not_the_parameter() -> None:
    """A stale $ACADEMY_INTERNAL_KEY wins over SSM: the hint must not send the user to
    overwrite the (correct) production parameter."""
    from verify.checks.api import diagnose_paths
    from verify.probes.backlog_api import ApiAnswer
    from verify.secrets import Masker

    refused = ApiAnswer(status=403, body='{"detail": "forbidden"}')
    verdict = diagnose_paths(refused, refused, None, masker=Masker(),
                             key_source="$ACADEMY_INTERNAL_KEY")
    assert "unset it" in verdict.hint and "put-parameter" not in verdict.hint
    from_ssm = diagnose_paths(refused, refused, None, masker=Masker(),
                              key_source="SSM /academy/workers/internal-api-key")
    assert "put-parameter" in from_ssm.hint

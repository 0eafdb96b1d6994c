"""Mask before truncating, everywhere: an API (or the publisher) that echoes the key in a long
answer must not leak any piece of it through a clipped excerpt."""

import io
import json
from types import SimpleNamespace

import pytest

from sandbox.stack import public_answer
from tests.verify.cli_run import minimal_outputs, verify
from tests.verify.leaks import LONG_KEY, fragments, leaked
from verify.errors import VerifyError
from verify.probes import publisher as publisher_probe
from verify.secrets import Masker


def test_the_fixture_key_has_43_characters_like_the_sandbox_key():
    assert len(LONG_KEY) == 43 and leaked(LONG_KEY) == fragments(LONG_KEY)


@pytest.fixture
def echoing_api(backlog_api):
    backlog_api.state.update(key=LONG_KEY, echo_key=True)  # {"backlog": 3, "key": <the key>}
    return backlog_api


@pytest.mark.parametrize("output", ["--json", "--table"])
def test_verify_api_never_prints_a_piece_of_an_echoed_key(write_json, echoing_api, tmp_path,
                                                          output):
    document = minimal_outputs(echoing_api.public_url)
    document["academy"]["api"]["local_base_url"] = echoing_api.local_url
    document["academy"]["api"]["hosts"] = [{"name": "web", "instance_id": None, "ssh": None}]
    junit = tmp_path / "verify.xml"
    args = ["api", "--outputs", str(write_json(document)), "--transport", "local",
            "--timeout", "20", "--junit", str(junit)]
    done = verify(*args, *([output] if output == "--json" else []),
                  env={"ACADEMY_INTERNAL_KEY": LONG_KEY})
    assert "web" in done.stdout and "agree" in done.stdout, done  # the echo was reported
    assert leaked(done.stdout + done.stderr + junit.read_text()) == set()


def test_sandbox_status_shows_the_answer_without_the_key(echoing_api):
    code, body = public_answer(echoing_api.public_url, LONG_KEY)
    assert code == 200 and '"backlog": 3' in body
    assert leaked(body) == set() and "****" in body


def test_the_publisher_echoing_the_key_in_a_long_error_is_masked_then_clipped():
    raw = "Traceback: " + "x" * 100 + f" key={LONG_KEY} " + "y" * 100  # not JSON
    masker = Masker()
    masker.add(LONG_KEY)
    lambda_client = SimpleNamespace(invoke=lambda **_: {"Payload": io.BytesIO(raw.encode())})
    publisher = SimpleNamespace(function_name="f")
    ctx = SimpleNamespace(outputs=SimpleNamespace(publisher=publisher), masker=masker,
                          aws=SimpleNamespace(client=lambda service: lambda_client))
    with pytest.raises(VerifyError) as raised:
        publisher_probe.invoke_publisher(ctx)
    assert "answered non-JSON" in str(raised.value)
    assert leaked(str(raised.value)) == set()
    error = json.dumps({"errorType": "E", "errorMessage": "z" * 150 + LONG_KEY})
    lambda_client.invoke = lambda **_: {"Payload": io.BytesIO(error.encode()),
                                        "FunctionError": "Unhandled"}
    with pytest.raises(VerifyError) as raised:
        publisher_probe.invoke_publisher(ctx)
    assert leaked(str(raised.value)) == set()


def test_masker_excerpt_masks_then_clips():
    masker = Masker()
    masker.add(LONG_KEY)
    text = "a" * 50 + LONG_KEY
    assert masker.excerpt(text, 60) == "a" * 50 + "****"
    assert masker.excerpt("b" * 100, 60) == "b" * 59 + "…"


def test_sandbox_status_masks_every_string_in_its_report():
    from sandbox.stack import masked

    masker = Masker()
    masker.add(LONG_KEY)
    report = {"last_invocation": {"payload": {"reason": f"HTTP 200: {LONG_KEY}"}},
              "internal_api": {"PUBLIC": (200, f'{{"key": "{LONG_KEY}"}}')}, "n": 3}
    shown = masked(report, masker)
    assert leaked(json.dumps(shown)) == set()
    assert shown["internal_api"]["PUBLIC"][0] == 200 and shown["n"] == 3


def test_expected_and_found_are_masked_in_the_json_report():
    from verify.report import RunReport, failed, to_json
    from verify.runner import masked

    masker = Masker()
    masker.add(LONG_KEY)
    row = failed("publisher", "f environment", "drifted", "pulumi up",
                 expected={"X": "safe"}, found={"X": f"a{LONG_KEY}b", LONG_KEY: [LONG_KEY]})
    text = to_json(RunReport("s", "asg", 0.1, [masked(row, masker)]))
    assert LONG_KEY not in text and leaked(text) == set()
    assert '"a****b"' in text

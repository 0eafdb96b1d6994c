"""A key parameter with a trailing newline (or tab, or a control character) must not leak the
key: requests refuses it as a header value and quotes it with repr(), so the text holds `\\n`
as two characters and the exact value no longer matches (issue 9, red team 1). Verify says the
key is not usable as a header value instead of blaming a path, and sends nothing."""

import json
import xml.etree.ElementTree as ET

import pytest

from sandbox.stack import public_answer
from tests.verify.cli_run import verify
from tests.verify.conftest import KEY_PARAMETER
from tests.verify.leaks import LONG_KEY, leaked
from verify.context import KeyProvider
from verify.errors import VerifyError
from verify.secrets import Masker

BROKEN = [LONG_KEY + "\n", LONG_KEY + "\t", LONG_KEY + "\r\n", " " + LONG_KEY,
          LONG_KEY[:20] + "\x01" + LONG_KEY[20:], LONG_KEY + "\x7f"]


@pytest.mark.parametrize("stored", BROKEN)
def test_the_masker_masks_the_stripped_and_the_repr_forms(stored):
    masker = Masker()
    masker.add(stored)
    for text in (stored, stored.strip(), repr(stored), repr(stored)[1:-1],
                 json.dumps(stored), repr(stored.encode()),
                 f"in header value: {stored!r}"):
        assert leaked(masker.mask(text)) == set(), text


def test_short_secrets_are_still_ignored_by_the_masker():
    masker = Masker()
    masker.add("abc")
    assert masker.mask("abc abcd") == "abc abcd"


def test_a_key_too_short_to_mask_is_refused():
    masker = Masker()
    provider = KeyProvider("/p", "SHORT_KEY", None, masker, {"SHORT_KEY": "abc"})  # type: ignore[arg-type]
    with pytest.raises(VerifyError) as raised:
        provider.get()
    assert "shorter than 4 characters" in str(raised.value)
    assert "abc" not in str(raised.value)


@pytest.fixture
def newline_key_stack(stack_with_api, backlog_api):
    """The key parameter holds the API's key plus "\\n" (a key pasted from a file)."""
    backlog_api.state["key"] = LONG_KEY
    stack_with_api.client("ssm").put_parameter(Name=KEY_PARAMETER, Value=LONG_KEY + "\n",
                                               Type="SecureString", Overwrite=True)
    stack_with_api.outputs["api"]["hosts"] = [{"name": "web", "instance_id": None, "ssh": None}]
    return stack_with_api


@pytest.mark.parametrize("output", ["--json", "--table"])
def test_verify_api_with_a_newline_in_the_key_parameter(newline_key_stack, write_json,
                                                        backlog_api, tmp_path, output):
    outputs = write_json({"academy": newline_key_stack.outputs})
    junit = tmp_path / "verify.xml"
    done = verify("api", "--outputs", str(outputs), "--transport", "local", "--timeout", "20",
                  "--junit", str(junit), *([output] if output == "--json" else []),
                  env={**newline_key_stack.env, "ACADEMY_INTERNAL_KEY": ""})
    everything = done.stdout + done.stderr + junit.read_text()
    assert leaked(everything) == set(), everything
    assert "not usable as a header value" in everything, everything
    assert "fix the parameter" in everything
    assert "LOCAL refuses the key" not in everything
    assert done.returncode == 1
    ET.parse(junit)  # noqa: S314 (our own file)


def test_sandbox_status_masks_a_key_with_a_newline(backlog_api):
    backlog_api.state["key"] = LONG_KEY
    code, shown = public_answer(backlog_api.public_url, LONG_KEY + "\n")
    assert code == 0 and "header" in shown, shown
    assert leaked(shown) == set(), shown

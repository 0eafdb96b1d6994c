"""The removal commands verify prints run exactly as printed (issue 15, item 11): one quoting
function whose output a real shell turns back into the exact name, whatever the name holds
(whitespace runs, a newline or tab, a quote, a leading dash, look-alike and invisible
characters), and whose output shows those characters visibly (printable ASCII only)."""

from __future__ import annotations

import subprocess

import pytest

from verify.report import printable, shown
from verify.shell_words import option, quote

NAMES = [
    "plain-name", "two  spaces", "nl\nline", "tab\there", "it's", 'say "hi"', "back\\slash",
    "--region", "-x", "", "dollar $HOME `id`", "rtl\u202eevil", "zero\u200bwidth",
    "caf\u00e9", "*glob?[a]", "~tilde", "trailing ", "\x1b[2Jesc", "bang!", "a\x7fdel",
]


def through_bash(*words: str) -> list[str]:
    """What bash hands a program for `printf %s\\n <words>`: one line per argument."""
    script = "printf '%s\\0' " + " ".join(words)
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=10, check=True,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    return done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]


@pytest.mark.parametrize("name", NAMES)
def test_bash_gives_the_exact_name_back(name: str) -> None:
    printed = quote(name)
    assert through_bash(printed) == [name], printed


@pytest.mark.parametrize("name", NAMES)
def test_what_is_printed_is_visible_and_survives_the_reports(name: str) -> None:
    printed = quote(name)
    assert printed.isascii() and printed.isprintable(), printed
    assert shown(printed) == printed, "a report prints it as it is"
    assert printable(f"run: {printed}") == f"run: {printed}", "a table keeps it whole"


def test_invisible_and_look_alike_characters_are_shown_as_escapes() -> None:
    assert quote("rtl\u202eevil") == "$'rtl\\xe2\\x80\\xaeevil'"
    assert quote("zero\u200bwidth") == "$'zero\\xe2\\x80\\x8bwidth'"
    assert quote("nl\nline") == "$'nl\\nline'"


@pytest.mark.parametrize("name", ["--region", "-x", "plain"])
def test_an_option_value_that_looks_like_an_option_is_attached(name: str) -> None:
    words = option("--policy-name", name)
    assert through_bash(*words)[-1].endswith(name)
    if name.startswith("-"):
        assert words == [quote(f"--policy-name={name}")]
    else:
        assert words == ["--policy-name", name]

"""Shell words for the commands verify prints, so that each runs exactly as printed.

`quote` is the one quoting function: a word of printable ASCII as `shlex.quote` gives it
(bare when safe, else in single quotes); any other word in bash's ANSI-C quoting, `$'...'`,
each character outside printable ASCII written as the `\\xHH` escapes of its UTF-8 bytes
(`\\n`, `\\t`, `\\r` by name). What is printed is then printable ASCII only: a newline cannot
start a forged line, a run of spaces or a tab cannot be collapsed away by a report, and an
invisible or look-alike character (U+202E, a zero-width space) shows as its escape; bash (and
zsh, ksh) turn it back into the exact name, whatever the locale.

`option` attaches a value that begins with `-` to its flag (`--policy-name=--region`): the
AWS CLI's parser would take such a value, given as a word of its own, for an option.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "'": "\\'"}


def _printable_ascii(text: str) -> bool:
    return all(" " <= c <= "~" for c in text)


def _ansi_c(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if " " <= char <= "~":
        return char
    return "".join(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))


def quote(word: str) -> str:
    """`word` as one shell word that a shell turns back into exactly `word`."""
    if _printable_ascii(word):
        return shlex.quote(word)
    return "$'" + "".join(_ansi_c(c) for c in word) + "'"


def option(flag: str, value: str) -> list[str]:
    """`flag value` as printed words; `flag=value` when the value looks like an option."""
    if value.startswith("-"):
        return [quote(f"{flag}={value}")]
    return [flag, quote(value)]


Word = str | tuple[str, str]


def command(*words: Word) -> str:
    """A printed command: a plain word is quoted, a (flag, value) pair goes through `option`."""
    printed: list[str] = []
    for word in words:
        printed += option(*word) if isinstance(word, tuple) else [quote(word)]
    return " ".join(printed)


def values(flag: str, items: Iterable[str]) -> list[str]:
    """A list option (`--ids a b`) as printed words; as one JSON value attached to the flag
    when an item looks like an option (the AWS CLI reads a list parameter given as JSON)."""
    import json

    items = list(items)
    if any(item.startswith("-") for item in items):
        return [quote(f"{flag}={json.dumps(items)}")]
    return [flag, *(quote(item) for item in items)]

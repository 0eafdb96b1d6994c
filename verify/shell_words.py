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

`command` also keeps the AWS CLI from reading a name as something else, after the shell is
done with it. The CLI loads a parameter whose value begins with `file://`, `fileb://`,
`http://` or `https://` from that file or address, and parses a list parameter's value that
begins with `[` as JSON: a policy named `http://host/n` would delete the policy that address
names. Which parameter is a list is read from botocore's model of the operation (the CLI's own
source of truth); a list goes as one JSON array attached to its flag, and a scalar that begins
with such a prefix goes in `--cli-input-json`, whose values the CLI takes verbatim.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Iterable

import botocore.session

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

# Values the AWS CLI replaces by a file's or an address's content (its "paramfile" prefixes).
LOADED_PREFIXES = ("file://", "fileb://", "http://", "https://")


class CliFile(str):
    """A value the printed command means the CLI to load (`file:///dev/stdin`): never a name."""


def loaded_by_the_cli(value: str) -> bool:
    return not isinstance(value, CliFile) and value.lstrip().lower().startswith(LOADED_PREFIXES)


@functools.cache
def _members(service: str, operation: str) -> dict[str, tuple[str, str]]:
    """{cli flag: (member, member type)} of an AWS CLI operation, from botocore's service
    model; empty when botocore does not know it."""
    try:
        model = botocore.session.get_session().get_service_model(service)
        name = "".join(part.capitalize() for part in operation.split("-"))
        shape = model.operation_model(name).input_shape
    except Exception:  # noqa: BLE001 - an unknown service or operation: no model to follow
        return {}
    if shape is None:
        return {}
    return {"--" + botocore.xform_name(member, "-"): (member, member_shape.type_name)
            for member, member_shape in shape.members.items()}


def command(*words: Word) -> str:
    """A printed command: a plain word is quoted, a (flag, value) pair goes through `option`;
    for `aws SERVICE OPERATION ...`, a value the CLI would load or parse goes as the model
    says (see the module's docstring)."""
    plain = [w for w in words if isinstance(w, str)]
    members = _members(plain[1], plain[2]) if len(plain) >= 3 and plain[0] == "aws" else {}
    printed: list[str] = []
    verbatim: dict[str, object] = {}
    for word in words:
        if not isinstance(word, tuple):
            printed.append(quote(word))
            continue
        flag, value = word
        member, kind = members.get(flag, (flag, None))
        if kind == "list":
            printed += values(flag, [value])
        elif kind is not None and loaded_by_the_cli(value):
            verbatim[member] = value
        else:
            printed += option(flag, value)
    if verbatim:
        as_json = json.dumps(verbatim, ensure_ascii=False, separators=(",", ":"))
        printed += ["--cli-input-json", quote(as_json)]
    return " ".join(printed)


def values(flag: str, items: Iterable[str]) -> list[str]:
    """A list option (`--ids a b`) as printed words; as one JSON array attached to the flag
    when an item looks like an option, begins with `[` (which the CLI parses as JSON) or with
    a prefix the CLI loads (the CLI reads a list parameter given as JSON verbatim)."""
    items = list(items)
    if any(item.startswith("-") or item.lstrip().startswith(("[", "{")) or
           loaded_by_the_cli(item) for item in items):
        listed = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
        return [quote(f"{flag}={listed}")]
    return [flag, *(quote(item) for item in items)]

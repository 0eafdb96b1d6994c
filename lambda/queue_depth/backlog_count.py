"""The publisher's count rule: what a worker type's backlog is, and what it believes.

From SQS, the backlog is the visible messages, plus those in flight and those delayed when the
worker type counts them (`sqs_backlog`). From the backlog API, it is only the body
`{"backlog": <integer 0..BACKLOG_API_MAX_COUNT>}` with no key twice (`parse_count`), in an
answer whose status line is HTTP/1.x and exactly three ASCII digits (`status_code`).

Pure: stdlib only, no I/O and nothing done at import, so verify imports this file alone
(verify/publisher_rules.py) without running the handler's setup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_COUNT = 100_000  # Pulumi.yaml's backlogApiMaxCount default (guarded by a test)
MAX_COUNT_LIMIT = 10_000_000  # the setting's own upper limit in stack_settings/parse.py
MAX_BODY_BYTES = 4096  # {"backlog": N} is a few bytes: a longer answer is not a count
MAX_INT_DIGITS = 20  # longer integers are never converted (int() refuses > 4300 digits)
QUEUE_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def sqs_backlog(visible: int, in_flight: int, delayed: int, *, count_in_flight: bool,
                count_delayed: bool) -> int:
    """The backlog SQS shows: the visible messages, plus the in-flight and the delayed ones
    when the worker type counts them."""
    return (visible + (in_flight if count_in_flight else 0)
            + (delayed if count_delayed else 0))


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [\t\x20-\x7e\x80-\xff]*)?")


def status_code(line: bytes) -> int | None:
    """The status of an HTTP/1.x status line (without its CRLF), or None when it is not one:
    exactly three ASCII digits, so not 0200, +200, 2_00 or fullwidth digits (verify's rule
    too, verify/publisher_rules.py)."""
    match = _STATUS_LINE.fullmatch(line)
    return None if match is None else int(match.group(1))


class NotACount(ValueError):
    """The body is not a count we believe; the message says why."""


@dataclass(frozen=True)
class _LongInteger:
    """An integer too long to convert: only its length is kept."""

    digits: int


def _parse_int(text: str) -> int | _LongInteger:
    digits = len(text.lstrip("-"))
    return _LongInteger(digits) if digits > MAX_INT_DIGITS else int(text)


def _refuse_constant(name: str) -> Any:
    raise NotACount(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, unless a key appears twice: Python's json keeps the last one silently, so
    {"backlog": 3, "backlog": 99999} would be believed as 99999 (verify/json_files.py too)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise NotACount(f"the key {key[:40]!r} appears twice in one object")
        found[key] = value
    return found


_KINDS = {bool: "a boolean", str: "a string", float: "a float", type(None): "null",
          list: "a list", dict: "an object"}


def parse_count(body: bytes, bound: int) -> int:
    """The count of a `{"backlog": N}` body with N a JSON integer, 0 <= N <= bound."""
    if len(body) > MAX_BODY_BYTES:
        raise NotACount(f"body over {MAX_BODY_BYTES} bytes")
    try:
        payload = json.loads(body, parse_int=_parse_int, parse_constant=_refuse_constant,
                             object_pairs_hook=_unique_keys)
    except NotACount:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, deep nesting
        raise NotACount("body is not JSON") from None
    shape = 'expected {"backlog": <integer>}'
    if not isinstance(payload, dict):
        raise NotACount(f"{shape}, got {_KINDS.get(type(payload), 'something else')}")
    if "backlog" not in payload:
        raise NotACount(f'{shape}, got no "backlog"')
    count = payload["backlog"]
    if isinstance(count, _LongInteger):
        raise NotACount(f"backlog has {count.digits} digits; at most {bound} is believed "
                         "(BACKLOG_API_MAX_COUNT)")
    if isinstance(count, bool) or not isinstance(count, int):
        kind = _KINDS.get(type(count), "something else")
        raise NotACount(f"backlog must be a JSON integer, got {kind}")
    if count < 0:
        raise NotACount(f"backlog {count} is negative")
    if count > bound:
        raise NotACount(f"backlog {count} is above BACKLOG_API_MAX_COUNT ({bound})")
    return count

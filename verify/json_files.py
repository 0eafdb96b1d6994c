"""The one reader for the files verify reads (stack outputs, saved stacks' config and env,
preview digests and update plans): regular files only (a FIFO or a device is refused without
waiting on it), a size cap, UTF-8, and JSON without NaN/Infinity or a key twice in one object.
Every refusal is a UsageError (exit 2) naming the file and what it is instead."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from verify.errors import UsageError

MB = 1024 * 1024


def read_regular_file(path: Path, what: str, limit: int, hint: str = "",
                      error: type[UsageError] = UsageError) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. A FIFO, a device or a directory is
    refused without waiting on it (opened non-blocking, then fstat), and a larger file unread."""
    after = f" ({hint})" if hint else ""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}{after}") from None
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):  # before fdopen, which refuses a directory itself
        os.close(fd)
        raise error(f"{what} {path} is not a regular file ({_kind(status.st_mode)}){after}")
    with os.fdopen(fd, "rb") as handle:
        if status.st_size > limit:
            raise error(f"{what} {path} is larger than {_size(limit)} ({status.st_size} bytes)"
                        f"{after}")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what} {path} is larger than {_size(limit)}{after}")
    return data


def read_text_file(path: Path, what: str, limit: int, hint: str = "",
                   error: type[UsageError] = UsageError) -> str:
    data = read_regular_file(path, what, limit, hint, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        after = f"; {hint}" if hint else ""
        raise error(f"{what} {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                    f"offset {exc.start}){after}") from None


def read_json_file(path: Path, what: str, limit: int, hint: str = "",
                   error: type[UsageError] = UsageError) -> Any:
    text = read_text_file(path, what, limit, hint, error)
    try:
        return parse_document(text, f"{what} {path}")
    except UsageError as exc:
        after = f"; {hint}" if hint else ""
        raise error(f"{exc}{after}") from None


class _NotJson(ValueError):
    pass


def parse_document(text: str, source: str) -> Any:
    """JSON text -> document; a syntax error, NaN/Infinity (Python's json takes them), a key
    twice in one object (Python's json keeps the last silently) or absurd nesting is a usage
    error."""
    def refuse(name: str) -> Any:
        raise _NotJson(f"{source}: {name} is not JSON (a number there must be finite)")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                raise _NotJson(f"{source}: the key {key[:80]!r} appears twice in one object "
                               "(which one counts is a guess)")
            document[key] = value
        return document

    try:
        return json.loads(text, parse_constant=refuse, object_pairs_hook=unique)
    except _NotJson as exc:
        raise UsageError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise UsageError(f"{source} is nested too deeply to be read") from None
    except ValueError as exc:  # e.g. an integer literal of more than 4,300 digits
        raise UsageError(f"{source} is not usable JSON: {exc}") from None


def _size(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB else f"{limit} bytes"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"

"""The video dispatch parameter as the sandbox reads it: which path a new video's job goes down.

The program writes the SSM String parameter `/{prefix}/workers/{type}/dispatch`; the value's
shape is components/dispatch.py's DispatchValue (parsed with its from_json). Here: finding
the parameter's name, and reading it at most every max_age_s so a switch is seen at once.
A missing, unreadable or malformed parameter is a DispatchError naming why, never a guess.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from components.dispatch import DispatchError as ValueShapeError
from components.dispatch import DispatchValue

Dispatch = DispatchValue
# The one worker type the sandbox's API and video worker serve: the type of the API's paths
# (`/api/v1/videos/`, `/api/v1/internal/video/backlog-count/`). A dispatch value for another
# type is refused (its path is that type's, never this one's).
SERVED_WORKER_TYPE = "video"


class DispatchError(RuntimeError):
    """No usable dispatch parameter; the message says why (missing, unreadable, malformed)."""


def parse(text: str, source: str = "the dispatch parameter",
          worker_type: str | None = SERVED_WORKER_TYPE) -> Dispatch:
    """The value, if of the shape and (unless worker_type is None) for `worker_type`."""
    try:
        value = DispatchValue.from_json(text)
        return value if worker_type is None else value.for_worker_type(worker_type)
    except (ValueShapeError, TypeError) as exc:
        raise DispatchError(f"{source}: {exc}") from None


def parameter_name(outputs: Mapping[str, Any]) -> str | None:
    """The parameter's name, as the stack output's `dispatch.parameter` names it (None when
    the stack declares none: no worker type runs on Batch)."""
    academy = outputs.get("academy", outputs)
    exported = (academy.get("dispatch") or {}).get("parameter")
    return exported if isinstance(exported, str) and exported else None


def ssm_reader(ssm: Any, name: str) -> Callable[[], str | None]:
    """Reads the parameter's value; None when it does not exist (not deployed yet)."""

    def read() -> str | None:
        try:
            return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            return None

    return read


class DispatchReader:
    """The current dispatch, read again when older than max_age_s, so a switch is seen at once."""

    def __init__(self, read: Callable[[], str | None], name: str, max_age_s: float = 1.0,
                 worker_type: str = SERVED_WORKER_TYPE) -> None:
        self._read, self.name, self.max_age_s = read, name, max_age_s
        self.worker_type = worker_type
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._value: Dispatch | DispatchError = DispatchError("not read yet")

    def current(self) -> Dispatch:
        """The dispatch, or DispatchError (missing, unreadable, malformed): never a guess."""
        with self._lock:
            if time.monotonic() - self._at >= self.max_age_s:
                self._value = self._fetch()
                self._at = time.monotonic()
            value = self._value
        if isinstance(value, DispatchError):
            raise value
        return value

    def _fetch(self) -> Dispatch | DispatchError:
        try:
            text = self._read()
        except Exception as exc:  # noqa: BLE001 - reported as the reason, never guessed around
            return DispatchError(f"cannot read the dispatch parameter {self.name}: "
                                 f"{type(exc).__name__}: {exc}")
        if text is None:
            return DispatchError(f"no dispatch parameter {self.name}")
        try:
            return parse(text, f"the dispatch parameter {self.name}", self.worker_type)
        except DispatchError as exc:
            return exc

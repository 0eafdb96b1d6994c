"""Where new work of the Batch-capable worker type goes: the dispatch parameter's value.

The program writes it to an SSM String parameter (its name:
`BatchSettings.dispatch_parameter_name`, in the stack output as `dispatch.parameter`); the API
reads it before it sends a job.
This module is the one definition of the value's shape; stdlib (and the stdlib-only
contract.stack_output) only, so verify, the sandbox
and its internal API import it too. docs/CONTRACTS.md shows `document_examples()` (a test
keeps the two equal).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from contract.stack_output import VIDEO_MODES, Mode

DISPATCH_SCHEMA_VERSION = 1
MODES: tuple[str, ...] = VIDEO_MODES
FIELDS: tuple[str, ...] = (
    "job_definition", "job_queue", "mode", "queue_url", "schema_version", "worker_type",
)


class DispatchError(ValueError):
    """A dispatch value that is not of this shape; the message says what is wrong."""


@dataclass(frozen=True)
class DispatchValue:
    """asg: new jobs are SQS messages on `queue_url`; batch: SubmitJob to `job_queue` with
    `job_definition` (names; SubmitJob takes a name or an ARN). The other fields are null."""

    mode: Mode
    worker_type: str
    queue_url: str | None = None
    job_queue: str | None = None
    job_definition: str | None = None
    schema_version: int = DISPATCH_SCHEMA_VERSION

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise DispatchError(problem)

    def to_json(self) -> str:
        """The parameter's value: compact JSON, keys sorted."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DispatchValue:
        """The parameter's value -> DispatchValue, or a DispatchError saying what is wrong."""
        try:
            value: Any = json.loads(text, object_pairs_hook=_refuse_duplicates)
        except DispatchError:
            raise
        except (ValueError, RecursionError) as exc:
            raise DispatchError(f"the dispatch value is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise DispatchError("the dispatch value is not a JSON object")
        version_problem = _version_problem(value.get("schema_version"))
        if version_problem:
            raise DispatchError(version_problem)
        missing = sorted(set(FIELDS) - set(value))
        extra = sorted(set(value) - set(FIELDS))
        if missing or extra:
            raise DispatchError(f"the dispatch value's keys: missing {missing}, unknown {extra}")
        for key in ("mode", "worker_type"):
            if not isinstance(value[key], str):
                raise DispatchError(f"{key} should be a string, got {value[key]!r}")
        for key in ("queue_url", "job_queue", "job_definition"):
            if value[key] is not None and not isinstance(value[key], str):
                raise DispatchError(f"{key} should be a string or null, got {value[key]!r}")
        return cls(**value)

    def for_worker_type(self, served: str) -> DispatchValue:
        """This value, if it is for `served`; else a DispatchError: a reader serves one worker
        type and never sends its work down another type's path."""
        if self.worker_type != served:
            raise DispatchError(f"the value is for worker type {self.worker_type!r}; this "
                                f"reader serves {served!r}")
        return self


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads keeps the last of two equal keys; another reader may keep the first."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DispatchError(f"the dispatch value has a duplicate key {key!r}")
        found[key] = value
    return found


def _version_problem(version: object) -> str | None:
    """`schema_version` must be the JSON integer 1: true and 1.0 equal 1 in Python, not here."""
    if type(version) is not int or version != DISPATCH_SCHEMA_VERSION:
        return f"schema_version is {version!r}, expected {DISPATCH_SCHEMA_VERSION}"
    return None


def _problem(d: DispatchValue) -> str | None:
    version = _version_problem(d.schema_version)
    if version:
        return version
    if d.mode not in MODES:
        return f"mode is {d.mode!r}, expected 'asg' or 'batch'"
    if not d.worker_type:
        return "worker_type is empty"
    # What a mode does not take is null (the contract), not an empty string.
    if d.mode == "asg" and (not d.queue_url or d.job_queue is not None or
                            d.job_definition is not None):
        return "mode 'asg' takes queue_url and null job_queue and job_definition"
    if d.mode == "batch" and (d.queue_url is not None or not d.job_queue or
                              not d.job_definition):
        return "mode 'batch' takes job_queue and job_definition and a null queue_url"
    return None


EXAMPLES: tuple[DispatchValue, ...] = (
    DispatchValue(mode="asg", worker_type="video",
             queue_url="https://sqs.ap-northeast-2.amazonaws.com/111122223333/academy-video-jobs"),
    DispatchValue(mode="batch", worker_type="video", job_queue="academy-video-batch-queue",
             job_definition="academy-video-batch-jobdef"),
)


def document_examples() -> str:
    """The value in each mode, as docs/CONTRACTS.md shows it (production names)."""
    return "\n".join(d.to_json() for d in EXAMPLES)

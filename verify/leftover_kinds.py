"""The kinds of leftover an old setup leaves around the stack: one list, shared by `verify
adopt` (which names each, with its removal command) and `verify all` (which FAILs while one
that still changes what the platform does is there).

Each kind says what it can still affect if left, and which check of `verify all` fails on it;
a kind that changes nothing once the stack runs says why instead (`verify all` does not look).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    affects: str  # "scaling", "permissions", "work" or "other"
    verify_all: str | None  # the check that FAILs while it is there; None: it changes nothing
    why_not: str = ""  # for verify_all None: why it changes nothing once the stack runs


SCALING_POLICY = Kind("scaling policy", "scaling", "scaling")  # a second policy on a fleet
STRAY_GROUP = Kind("auto scaling group", "scaling", "leftovers")  # its policies scale it
WAITING_WORK = Kind("waiting work", "work", "switch")  # stranded old work on a retired path
# An undeclared policy on a role the stack declares: adopt names it on every role it adopts,
# verify all on every role the stack output lists (components.stack_output.declared_roles).
INLINE_POLICY = Kind("inline policy", "permissions", "leftovers")
ATTACHED_POLICY = Kind("attached policy", "permissions", "leftovers")
ALARM = Kind("alarm", "scaling", "leftovers")
SCHEDULE = Kind("schedule", "other", "leftovers")  # runs the publisher a second time
OLD_ROLE = Kind("role", "permissions", None,
                "nothing runs as it after the first up (the function runs as the stack's role)")
PARAMETER = Kind("parameter", "other", None, "the stack neither writes nor reads it")
ENVIRONMENT_FLAG = Kind("environment flag", "other", None,
                        "nothing reads the flags: videoMode decides")

KINDS: dict[str, Kind] = {k.name: k for k in (
    SCALING_POLICY, STRAY_GROUP, WAITING_WORK, INLINE_POLICY, ATTACHED_POLICY, ALARM, SCHEDULE,
    OLD_ROLE, PARAMETER, ENVIRONMENT_FLAG)}

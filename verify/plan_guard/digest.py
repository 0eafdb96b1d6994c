"""Pulumi's preview digest (`pulumi preview --json`) and update plan (`--save-plan`), read for
what they would destroy.

A digest is `{"config", "steps": [{"op", "urn", "oldState", "newState", ...}], "diagnostics",
"changeSummary", ...}` (pulumi's display.PreviewDigest; `steps` and `changeSummary` are left
out when empty). States are apitype.ResourceV3: `urn, custom, delete, id, type, inputs,
outputs, retainOnDelete, ...`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.errors import UsageError
from verify.json_files import read_json_file

# Steps that end the old physical resource. `replace` is the logical step the digest shows by
# default; `create-replacement`/`delete-replaced` appear with --show-replacement-steps (and
# always in an update plan); `import-replacement` imports over the old one. Not here: `discard`
# and `discard-replaced` (a read resource is only forgotten), `remove-pending-replace`, `read*`,
# `refresh`, `same`, `create`, `update` and `import`: none deletes anything in AWS.
DESTROYING_OPS = frozenset({"delete", "replace", "create-replacement", "delete-replaced",
                            "import-replacement"})
KNOWN_OPS = DESTROYING_OPS | {
    "same", "create", "update", "read", "read-replacement", "refresh", "discard",
    "discard-replaced", "remove-pending-replace", "import"}


# A digest lists every resource's old and new state: megabytes for a large stack, never 64.
MAX_PLAN_BYTES = 64 * 1024 * 1024
PLAN_HINT = "write it with `pulumi preview --json --save-plan PLAN.json > PREVIEW.json`"


class PlanFileError(UsageError):
    """Not a file of the expected kind (exit 2); the message says what it is instead."""


@dataclass(frozen=True)
class Destroyed:
    """A resource a step would delete (or replace), as its old state describes it."""

    urn: str
    type: str  # from the URN (the old state must agree)
    id: Any  # as the old state has it: normally a string, "" or missing when unknown
    outputs: dict[str, Any]
    ops: tuple[str, ...]  # every destroying op the plan has for it
    retained: bool  # retainOnDelete: AWS keeps it, the stack forgets it
    new_name: str | None = None  # a replacement's name, from its new state

    @property
    def name(self) -> str:
        return urn_parts(self.urn)[3]

    @property
    def replaced(self) -> bool:
        return any(op != "delete" for op in self.ops)


def urn_parts(urn: str) -> tuple[str, str, str, str]:
    """`urn:pulumi:STACK::PROJECT::[PARENT$]TYPE::NAME` -> (stack, project, type, name); the
    type is the qualified type's last `$`-segment (a name may itself hold `::`)."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:") or not all(parts[1:3]):
        raise PlanFileError(f"{urn[:200]!r} is not a Pulumi URN "
                            "(urn:pulumi:STACK::PROJECT::TYPE::NAME)")
    return (parts[0].removeprefix("urn:pulumi:"), parts[1], parts[2].rsplit("$", 1)[-1],
            "::".join(parts[3:]))


def _completeness(state: dict[str, Any]) -> tuple[bool, int]:
    identifier = state.get("id")
    outputs = state.get("outputs")
    return (isinstance(identifier, str) and bool(identifier.strip()),
            len(outputs) if isinstance(outputs, dict) else 0)


@dataclass(frozen=True)
class Digest:
    steps: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)

    def stacks(self) -> set[str]:
        """The stack names in the steps' URNs (`urn:pulumi:STACK::PROJECT::TYPE::NAME`)."""
        return {urn_parts(s["urn"])[0] for s in self.steps}

    def destroyed(self) -> list[Destroyed]:
        """One entry per URN a destroying step names. With replacement steps shown, a URN
        has several steps (create-replacement's old state may be the incomplete one): the
        most complete old state counts, and two that name different ids refuse the file."""
        merged: dict[str, tuple[dict[str, Any], list[str], str | None]] = {}
        for step in self.steps:
            if step["op"] not in DESTROYING_OPS:
                continue
            urn = step["urn"]
            old = step.get("oldState")
            if not isinstance(old, dict):
                raise PlanFileError(f"step {step['op']} of {urn} carries no oldState: "
                                    "cannot tell what it destroys")
            new_name = _name_of(step.get("newState"))
            if urn not in merged:
                merged[urn] = (old, [step["op"]], new_name)
                continue
            state, ops, name = merged[urn]
            ids = {str(s.get("id")) for s in (state, old) if _completeness(s)[0]}
            if len(ids) > 1:
                raise PlanFileError(f"the steps for {urn} name different old ids "
                                    f"({', '.join(sorted(ids))}): not one preview's digest")
            if _completeness(old) > _completeness(state):
                state = old
            merged[urn] = (state, [*ops, step["op"]], name or new_name)
        return [Destroyed(urn, urn_parts(urn)[2], state.get("id"),
                          state.get("outputs") if isinstance(state.get("outputs"), dict) else {},
                          tuple(ops), state.get("retainOnDelete") is True, new_name)
                for urn, (state, ops, new_name) in merged.items()]


def _name_of(state: Any) -> str | None:
    if not isinstance(state, dict):
        return None
    for part in ("outputs", "inputs"):
        values = state.get(part)
        if isinstance(values, dict) and isinstance(values.get("name"), str) and values["name"]:
            return values["name"]
    return None


def _load_json(path: Path, flag: str) -> Any:
    return read_json_file(path, flag, MAX_PLAN_BYTES, PLAN_HINT, PlanFileError)


def _is_update_plan(document: dict[str, Any]) -> bool:
    inner = document.get("plan") if isinstance(document.get("plan"), dict) else document
    return "resourcePlans" in inner or "manifest" in inner


def read_digest(path: Path) -> Digest:
    document = _load_json(path, "--plan")
    where = f"--plan {path}"
    if not isinstance(document, dict):
        raise PlanFileError(f"{where}: a JSON {type(document).__name__}, not Pulumi's preview "
                            "digest (an object with steps and changeSummary)")
    if _is_update_plan(document):
        raise PlanFileError(f"{where} is an update plan (`--save-plan`); preflight reads the "
                            "preview digest `pulumi preview --json` prints (pass the plan with "
                            "--update-plan)")
    if "steps" not in document and "changeSummary" not in document:
        raise PlanFileError(f"{where}: no steps and no changeSummary: not the output of "
                            "`pulumi preview --json`")
    _refuse_failed_preview(document.get("diagnostics"), where)
    steps = document.get("steps") or []
    if not isinstance(steps, list):
        raise PlanFileError(f"{where}: steps should be a list")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str) \
                or not isinstance(step.get("urn"), str):
            raise PlanFileError(f"{where}: steps[{i}] has no op and urn")
        if step["op"] not in KNOWN_OPS:
            # An op this reader does not know may destroy: refuse rather than guess.
            raise PlanFileError(f"{where}: steps[{i}] has op {step['op']!r}, unknown to "
                                "preflight (a newer Pulumi?): update verify/plan_guard/digest.py")
        typ = urn_parts(step["urn"])[2]
        for key in ("oldState", "newState"):
            if step.get(key) is None:
                continue
            if not isinstance(step[key], dict):
                raise PlanFileError(f"{where}: steps[{i}].{key} should be an object")
            said = step[key].get("type")
            if said is not None and said != typ:
                raise PlanFileError(f"{where}: steps[{i}].{key} has type {str(said)[:100]!r} "
                                    f"but its URN says {typ!r}: not one resource's step")
    _same_counts(document.get("changeSummary"), steps, where)
    config = document.get("config") if isinstance(document.get("config"), dict) else {}
    return Digest(steps, config)


def _refuse_failed_preview(diagnostics: Any, where: str) -> None:
    """A preview that failed lists its errors as diagnostics; its steps may stop anywhere."""
    if diagnostics is None:
        return
    if not isinstance(diagnostics, list):
        raise PlanFileError(f"{where}: diagnostics should be a list")
    errors = [d for d in diagnostics if not isinstance(d, dict) or d.get("severity") == "error"]
    if errors:
        first = errors[0]
        message = str(first.get("message") if isinstance(first, dict) else first).strip()
        raise PlanFileError(f"{where}: the preview failed: {message[:300]} "
                            f"({len(errors)} error diagnostic(s)); fix it and preview again")


def _same_counts(summary: Any, steps: list[dict[str, Any]], where: str) -> None:
    """The changeSummary counts each deleted or replaced resource once: the steps must show
    as many, else what they leave out would pass unchecked."""
    if summary is None:
        return
    if not isinstance(summary, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in summary.values()):
        raise PlanFileError(f"{where}: changeSummary should map each op to a count")
    shown = {
        "delete": len({s["urn"] for s in steps if s["op"] == "delete"}),
        "replace": len({s["urn"] for s in steps
                        if s["op"] in DESTROYING_OPS and s["op"] != "delete"}),
    }
    for op, count in shown.items():
        said = summary.get(op, 0)
        if said != count:
            raise PlanFileError(f"{where}: the digest's changeSummary says {said} {op}s but its "
                                f"steps show {count}: not a whole preview digest")


def destroyed_by_update_plan(path: Path) -> dict[str, tuple[str, ...]]:
    """URN -> destroying ops of an update plan (`pulumi preview --save-plan FILE`: a
    DeploymentPlanV1 `{"manifest", "resourcePlans": {URN: {"goal", "steps", ...}}, ...}`)."""
    document = _load_json(path, "--update-plan")
    where = f"--update-plan {path}"
    if isinstance(document, dict) and isinstance(document.get("plan"), dict):
        document = document["plan"]  # the versioned envelope
    if not isinstance(document, dict) or not isinstance(document.get("resourcePlans", {}), dict) \
            or not _is_update_plan(document):
        raise PlanFileError(f"{where}: not an update plan written by "
                            "`pulumi preview --save-plan` (no resourcePlans)")
    found = {}
    for urn, plan in (document.get("resourcePlans") or {}).items():
        urn_parts(urn)
        if not isinstance(plan, dict):
            raise PlanFileError(f"{where}: the plan of {urn} should be an object")
        steps = plan.get("steps")
        if steps is None:
            continue
        if not isinstance(steps, list) or not all(isinstance(op, str) for op in steps):
            raise PlanFileError(f"{where}: the steps of {urn} should be a list of ops, got "
                                f"{json.dumps(steps)[:80]}")
        unknown = sorted(set(steps) - KNOWN_OPS)
        if unknown:
            raise PlanFileError(f"{where}: {urn} has op(s) {', '.join(unknown)}, unknown to "
                                "preflight (a newer Pulumi?): update verify/plan_guard/digest.py")
        ops = tuple(op for op in steps if op in DESTROYING_OPS)
        if ops:
            found[urn] = ops
    return found

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


class PlanFileError(UsageError):
    """Not a file of the expected kind (exit 2); the message says what it is instead."""


@dataclass(frozen=True)
class Destroyed:
    """A resource a step would delete (or replace), as its old state describes it."""

    urn: str
    type: str
    id: str
    outputs: dict[str, Any]
    ops: tuple[str, ...]  # every destroying op the plan has for it
    retained: bool  # retainOnDelete: AWS keeps it, the stack forgets it

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def replaced(self) -> bool:
        return any(op != "delete" for op in self.ops)


@dataclass(frozen=True)
class Digest:
    steps: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)

    def stacks(self) -> set[str]:
        """The stack names in the steps' URNs (`urn:pulumi:STACK::PROJECT::TYPE::NAME`)."""
        return {s["urn"].split(":", 3)[2].split("::", 1)[0] for s in self.steps
                if s["urn"].startswith("urn:pulumi:")}

    def destroyed(self) -> list[Destroyed]:
        merged: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for step in self.steps:
            if step["op"] not in DESTROYING_OPS:
                continue
            old = step.get("oldState")
            if not isinstance(old, dict):
                raise PlanFileError(f"step {step['op']} of {step['urn']} carries no oldState: "
                                    "cannot tell what it destroys")
            state, ops = merged.setdefault(step["urn"], (old, []))
            ops.append(step["op"])
        return [Destroyed(urn, str(state.get("type") or _urn_type(urn)), str(state.get("id") or ""),
                          state.get("outputs") if isinstance(state.get("outputs"), dict) else {},
                          tuple(ops), bool(state.get("retainOnDelete")))
                for urn, (state, ops) in merged.items()]


def _urn_type(urn: str) -> str:
    parts = urn.split("::")
    return parts[-2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def _load_json(path: Path, flag: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanFileError(f"{flag} {path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{flag} {path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PlanFileError(f"{flag} {path}: not JSON ({exc}); write it with "
                            "`pulumi preview --json > FILE` (nothing else on stdout)") from None


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
        for key in ("oldState", "newState"):
            if step.get(key) is not None and not isinstance(step[key], dict):
                raise PlanFileError(f"{where}: steps[{i}].{key} should be an object")
    config = document.get("config") if isinstance(document.get("config"), dict) else {}
    return Digest(steps, config)


def destroyed_by_update_plan(path: Path) -> dict[str, tuple[str, ...]]:
    """URN -> destroying ops of an update plan (`pulumi preview --save-plan FILE`: a
    DeploymentPlanV1 `{"manifest", "resourcePlans": {URN: {"goal", "steps", ...}}, ...}`)."""
    document = _load_json(path, "--update-plan")
    if isinstance(document, dict) and isinstance(document.get("plan"), dict):
        document = document["plan"]  # the versioned envelope
    if not isinstance(document, dict) or not isinstance(document.get("resourcePlans", {}), dict) \
            or not _is_update_plan(document):
        raise PlanFileError(f"--update-plan {path}: not an update plan written by "
                            "`pulumi preview --save-plan` (no resourcePlans)")
    found = {}
    for urn, plan in document.get("resourcePlans", {}).items():
        steps = plan.get("steps") if isinstance(plan, dict) else None
        ops = tuple(op for op in steps or [] if op in DESTROYING_OPS)
        if ops:
            found[urn] = ops
    return found

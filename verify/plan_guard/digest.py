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
# The steps a replacement in this run takes (the logical `replace` and its non-logical parts
# but `delete-replaced`, which also ends a pending delete of an earlier up).
REPLACING_OPS = frozenset({"replace", "create-replacement", "import-replacement"})
# Non-logical steps (pulumi's Step.Logical() false): a digest shows them only with
# --show-replacement-steps, and its changeSummary never counts them.
NON_LOGICAL_OPS = frozenset({"create-replacement", "delete-replaced", "import-replacement",
                             "read-replacement", "discard-replaced", "remove-pending-replace"})
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
    # A pending delete: the old resource an earlier create-before-delete replacement left
    # ("delete": true in the state), deleted by the next up whatever the program says.
    pending: bool = False
    # Where it was seen, when its old state is not known (an update plan holds only ops).
    unseen: str = ""

    @property
    def name(self) -> str:
        return urn_parts(self.urn)[3]

    @property
    def replaced(self) -> bool:
        return not self.pending and any(op != "delete" for op in self.ops)


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

    def shows_replacement_steps(self) -> bool:
        """Written with --show-replacement-steps: only then does a digest hold the
        non-logical steps (and only then a pending delete's `delete-replaced`)."""
        return any(s["op"] in NON_LOGICAL_OPS for s in self.steps)

    def destroyed(self) -> list[Destroyed]:
        """One entry per resource a destroying step ends. A replacement in this run (`replace`,
        with --show-replacement-steps also `create-replacement` and `delete-replaced`) is one
        entry: the most complete old state counts, and two that name different ids refuse the
        file. A `delete-replaced` of another id than its URN's replacement in this run (or of
        a URN this run does not replace) is a pending delete an earlier up left: its own
        entry, judged as a delete."""
        merged: dict[tuple[str, str], tuple[dict[str, Any], list[str], str | None]] = {}
        replacing: dict[str, str] = {}  # URN -> the id its replacement in this run ends
        for step in self.steps:
            if step["op"] in DESTROYING_OPS and not isinstance(step.get("oldState"), dict):
                raise PlanFileError(f"step {step['op']} of {step['urn']} carries no oldState: "
                                    "cannot tell what it destroys")
            if step["op"] in REPLACING_OPS:
                old = step["oldState"]
                if _completeness(old)[0]:
                    known = replacing.setdefault(step["urn"], str(old["id"]))
                    if known != str(old["id"]):
                        raise PlanFileError(
                            f"the steps for {step['urn']} name different old ids ({known}, "
                            f"{old['id']}): not one preview's digest")
        deletes_replaced: dict[str, int] = {}
        for step in self.steps:
            if step["op"] == "delete-replaced":
                deletes_replaced[step["urn"]] = deletes_replaced.get(step["urn"], 0) + 1
        replaced_here = {s["urn"] for s in self.steps if s["op"] in REPLACING_OPS}
        for step in self.steps:
            op, urn = step["op"], step["urn"]
            if op not in DESTROYING_OPS:
                continue
            old = step["oldState"]
            old_id = str(old.get("id")) if _completeness(old)[0] else ""
            if op == "delete":
                key = (urn, f"delete {old_id}")
            elif op in REPLACING_OPS or (urn in replacing and old_id == replacing[urn]) or (
                    urn not in replacing and urn in replaced_here and deletes_replaced[urn] == 1):
                # the last: the replacement's ids all incomplete, this delete is its own
                key = (urn, "replace")
            else:
                key = (urn, f"pending {old_id or len(merged)}")
            new_name = _name_of(step.get("newState"))
            if key not in merged:
                merged[key] = (old, [op], new_name)
                continue
            state, ops, name = merged[key]
            if _completeness(old) > _completeness(state):
                state = old
            merged[key] = (state, [*ops, op], name or new_name)
        return [Destroyed(urn, urn_parts(urn)[2], state.get("id"),
                          state.get("outputs") if isinstance(state.get("outputs"), dict) else {},
                          tuple(ops), state.get("retainOnDelete") is True, new_name,
                          pending=kind.startswith("pending"))
                for (urn, kind), (state, ops, new_name) in merged.items()]


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
    """The changeSummary counts the logical steps only (pulumi's engine counts a step when
    Step.Logical()): one `delete` per deleted resource, one `replace` per replacement; the
    non-logical `create-replacement` / `delete-replaced` (and a pending delete's
    `delete-replaced`) are never counted. The steps must show as many, else what they leave
    out would pass unchecked."""
    if summary is None:
        return
    if not isinstance(summary, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in summary.values()):
        raise PlanFileError(f"{where}: changeSummary should map each op to a count")
    shown = {
        "delete": len({s["urn"] for s in steps if s["op"] == "delete"}),
        "replace": len({s["urn"] for s in steps if s["op"] == "replace"}),
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


def pending_in_update_plan(ops: tuple[str, ...]) -> int:
    """How many pending deletes an update plan's ops for one URN end: each `replace` of this
    run ends one old resource with its `delete-replaced`; any other `delete-replaced` is a
    pending delete (pulumi's step generator: `NewDeleteReplacementStep` for every state
    resource marked `delete`)."""
    return max(0, ops.count("delete-replaced") - ops.count("replace"))


STATE_HINT = "write it with `pulumi stack export --stack NAME --file STATE.json`"
STATE_VERSIONS = (3, 4)  # apitype.DeploymentSchemaVersionCurrent and ...Latest


def read_state(path: Path, flag: str = "--state") -> tuple[set[str], list[Destroyed]]:
    """`pulumi stack export` (apitype.UntypedDeployment: `{"version": 3, "deployment":
    {"manifest", "resources": [ResourceV3 ...], ...}}`) -> (the stacks its URNs name, its
    pending deletes: the resources marked `"delete": true`, each as a delete of itself)."""
    document = read_json_file(path, flag, MAX_PLAN_BYTES, STATE_HINT, PlanFileError)
    where = f"{flag} {path}"
    if not isinstance(document, dict) or not isinstance(document.get("deployment"), dict):
        raise PlanFileError(f"{where}: not the output of `pulumi stack export` (an object with "
                            f"version and deployment); {STATE_HINT}")
    version = document.get("version")
    if version not in STATE_VERSIONS or isinstance(version, bool):
        raise PlanFileError(f"{where}: deployment version {json.dumps(version)[:20]}, not one "
                            f"this preflight reads ({', '.join(map(str, STATE_VERSIONS))})")
    resources = document["deployment"].get("resources") or []
    if not isinstance(resources, list):
        raise PlanFileError(f"{where}: deployment.resources should be a list")
    stacks: set[str] = set()
    pending = []
    for i, resource in enumerate(resources):
        if not isinstance(resource, dict) or not isinstance(resource.get("urn"), str):
            raise PlanFileError(f"{where}: deployment.resources[{i}] has no urn")
        stack, _, typ, _ = urn_parts(resource["urn"])
        stacks.add(stack)
        if resource.get("type") is not None and resource.get("type") != typ:
            raise PlanFileError(f"{where}: deployment.resources[{i}] has type "
                                f"{str(resource.get('type'))[:100]!r} but its URN says {typ!r}")
        marked = resource.get("delete", False)
        if not isinstance(marked, bool):
            raise PlanFileError(f"{where}: deployment.resources[{i}].delete should be true or "
                                f"false, got {json.dumps(marked)[:40]}")
        if marked:
            outputs = resource.get("outputs")
            pending.append(Destroyed(resource["urn"], typ, resource.get("id"),
                                     outputs if isinstance(outputs, dict) else {},
                                     ("delete-replaced",), resource.get("retainOnDelete") is True,
                                     pending=True))
    return stacks, pending

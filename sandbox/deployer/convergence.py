"""`pulumi preview` and `pulumi up` on the sandbox's existing stack, rehearsed by the deployer.

The deployer keeps what it deployed in `deployed.json` in the state directory (the stack's
config without the key, and per resource: type, logical name, URN, id, parent, retainOnDelete,
inputs and outputs, a secret as its digest), as Pulumi keeps a stack's state. Then:

- `preview`: the program evaluated with new settings against that state, without touching
  AWS (an existing resource answers with its recorded id and outputs; one to be replaced
  with outputs known only after the up, as Pulumi's unknowns), written as the PreviewDigest
  `pulumi preview --json` prints: steps create / same / update / replace / delete with
  oldState and newState (ResourceV3; diffReasons, replaceReasons), and a changeSummary.
  Each diff is the registry's (contract/aws_types.py). `verify preflight` reads it.
- `converge`: the program deployed with the new settings (MotoMocks): `same` is left alone,
  `update` calls the type's update operations, `replace` creates the replacement and deletes
  the old one after the program (deleted first when its physical name stays), what is new is
  created, and what is no longer declared is deleted (dependents first) or, when it carries
  retainOnDelete, forgotten.

The state is written as the up goes, as Pulumi checkpoints (`converge(checkpoint=...)`):
after every resource created, updated or deleted, atomically, with `pending` naming a create
begun and not yet recorded, and the old resource of a replacement kept as a pending delete
(`"delete": true` in the export, as Pulumi's) until it is deleted. A kill at any point leaves
a state the next up converges from: what was recorded is diffed again, a pending create is
found by its name (MotoMocks.find) and taken over, a pending delete is deleted, what is gone is
gone. The stack's outputs live in the same file and change
only when an up has finished; `outputs.json` (verify's saved stack) is a copy of them, written
after, and written again from here when a kill came between (`sync_outputs`).

Not rehearsed: providers, refresh (the state is trusted, as `pulumi up` without --refresh).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi

from contract.aws_types import TYPES
from pulumi_bridge.program_eval import run_program
from sandbox.deployer.deployment import STACK
from sandbox.deployer.moto_mocks import (
    CREATED_TYPES,
    MotoMocks,
    Registered,
    shown,
    state_value,
)
from sandbox.state import sandbox_state, write_atomic
from stack_settings.parse import PROJECT

STATE_FILE = "deployed.json"
KEY = f"{PROJECT}:internalApiKey"

Key = tuple[str, str]  # (type, logical name)


@dataclass(frozen=True)
class Resource:
    """One resource of the stack's state (a ResourceV3, as much of it as the sandbox keeps)."""

    urn: str
    type: str
    name: str
    id: str
    custom: bool
    parent: str | None  # the parent's URN; None: the stack
    retain_on_delete: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]

    @property
    def key(self) -> Key:
        return (self.type, self.name)

    def registered(self) -> Registered:
        return Registered(self.type, self.name, self.id, self.custom, self.inputs, self.outputs)

    def v3(self) -> dict[str, Any]:
        """The ResourceV3 of a digest's oldState/newState (secrets shown as `[secret]`)."""
        state: dict[str, Any] = {"urn": self.urn, "custom": self.custom, "type": self.type,
                                 "inputs": shown(self.inputs), "outputs": shown(self.outputs)}
        if self.custom:
            state["id"] = self.id
        if self.parent:
            state["parent"] = self.parent
        if self.retain_on_delete:
            state["retainOnDelete"] = True
        return state


@dataclass
class Deployment:
    """The stack's state: its config (no key) and its resources in the order they were done."""

    config: dict[str, str]
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] | None = None  # the stack's outputs after its last finished up
    pending: list[Key] = field(default_factory=list)  # creates begun, not recorded
    doomed: list[Resource] = field(default_factory=list)  # replaced, not yet deleted

    def by_key(self) -> dict[Key, Resource]:
        return {r.key: r for r in self.resources}

    def save(self, state_root: Path) -> Path:
        path = state_root / STATE_FILE
        document = {"stack": STACK, "config": {k: v for k, v in self.config.items() if k != KEY},
                    "resources": [asdict(r) for r in self.resources],
                    "outputs": self.outputs, "pending": sorted(list(k) for k in self.pending),
                    "doomed": [asdict(r) for r in self.doomed]}
        write_atomic(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
        export = sandbox_state(state_root).stack_state_file  # the saved stack's, for verify
        export.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(export, json.dumps(self.export(), indent=4) + "\n")
        return path

    def export(self) -> dict[str, Any]:
        """The state as `pulumi stack export` writes it (apitype.UntypedDeployment, a
        DeploymentV3 of ResourceV3s); the old resource of an unfinished replacement is a
        pending delete (`"delete": true`)."""
        return {"version": 3, "deployment": {
            "manifest": {"time": datetime.now(UTC).isoformat(timespec="seconds"),
                         "magic": "", "version": "sandbox"},
            "resources": [r.v3() for r in self.resources]
            + [{**r.v3(), "delete": True} for r in self.doomed]}}

    @classmethod
    def load(cls, state_root: Path) -> Deployment:
        path = state_root / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {STATE_FILE} in the sandbox's state: the stack was not "
                                    "deployed by this sandbox (`python -m sandbox up` writes it)")
        document = json.loads(path.read_text())
        return cls(dict(document["config"]), [Resource(**r) for r in document["resources"]],
                   document.get("outputs"),
                   [(str(t), str(n)) for t, n in document.get("pending") or []],
                   [Resource(**r) for r in document.get("doomed") or []])


def sync_outputs(state_root: Path, outputs_file: Path) -> dict[str, Any] | None:
    """The stack's outputs as the state holds them, `outputs_file` rewritten to match when a
    kill came between the two writes; None when the state holds none (an older sandbox)."""
    outputs = Deployment.load(state_root).outputs
    if outputs is None:
        return None
    text = json.dumps(outputs, indent=2, sort_keys=True) + "\n"
    if not outputs_file.is_file() or outputs_file.read_text() != text:
        write_atomic(outputs_file, text)
    return outputs


def urn(typ: str, name: str, parents: Mapping[Key, Key | None]) -> str:
    """`urn:pulumi:STACK::PROJECT::<parent types, $ joined, then the type>::NAME`."""
    chain = [typ]
    parent = parents.get((typ, name))
    while parent is not None:
        chain.insert(0, parent[0])
        parent = parents.get(parent)
    return f"urn:pulumi:{STACK}::{PROJECT}::{'$'.join(chain)}::{name}"


def resources_of(mocks: MotoMocks | PreviewMocks) -> list[Resource]:
    """The registered resources as state: URNs and parents from what note_parent saw."""
    return [resource_of(mocks, r) for r in mocks.registered]


def resource_of(mocks: MotoMocks | PreviewMocks, r: Registered) -> Resource:
    parents = {k: v[0] for k, v in mocks.options.items()}
    parent, retain = mocks.options.get((r.typ, r.name), (None, False))
    return Resource(urn(r.typ, r.name, parents), r.typ, r.name, r.physical_id, r.custom,
                    urn(parent[0], parent[1], parents) if parent else None, retain,
                    r.inputs, r.outputs)


def deployment_of(mocks: MotoMocks, config: Mapping[str, str]) -> Deployment:
    return Deployment(dict(config), resources_of(mocks))


# ---- preview -----------------------------------------------------------------------------------


class PreviewMocks(MotoMocks):
    """Evaluates the program against the recorded state (`deployed`), changing nothing: an
    existing resource answers with its id and outputs, a new or replaced one with a placeholder
    (as a preview's unknowns). Calls (caller identity, region) are read from the emulator."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        old = self.deployed.get((args.typ, args.name))
        inputs = state_value(args.inputs)
        if old is not None and diff(old, inputs)[0] == "replace":
            old = None  # its replacement's id and outputs are known only after the up
        physical = old.physical_id if old else f"{args.name}-(known after up)"
        outputs = dict(old.outputs) if old else {}
        self.registered.append(Registered(args.typ, args.name, physical, bool(args.custom),
                                          inputs, outputs))
        return physical, {**dict(args.inputs), **outputs}


def preview(env: Mapping[str, str], config: Mapping[str, str],
            previous: Deployment) -> dict[str, Any]:
    """What `pulumi preview --json` would print for deploying `config` over `previous`."""
    mocks = PreviewMocks(env, deployed={r.key: r.registered() for r in previous.resources})
    run_program(mocks, STACK, config)
    return digest(previous, resources_of(mocks), config)


def diff(old: Resource | Registered,
         inputs: Mapping[str, Any]) -> tuple[str, list[str], list[str]]:
    """(same | update | replace, the inputs that differ, those that force a replacement)."""
    typ = TYPES.get(old.type if isinstance(old, Resource) else old.typ)
    if typ is not None and old.custom:
        return typ.diff(old.inputs, inputs)
    changed = sorted(k for k in {*old.inputs, *inputs} if old.inputs.get(k) != inputs.get(k))
    return ("update" if changed else "same"), changed, []


def _kind(key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A detailedDiff's kind, as Pulumi names it (add, delete, update; `-replace` appended)."""
    return "add" if key not in old else "delete" if key not in new else "update"


def digest(previous: Deployment, declared: list[Resource],
           config: Mapping[str, str]) -> dict[str, Any]:
    """A PreviewDigest: a step per resource (create / same / update / replace / delete),
    Pulumi's order (as the program declares them, then the deletes, dependents first)."""
    old = previous.by_key()
    steps: list[dict[str, Any]] = []
    for new in declared:
        before = old.get(new.key)
        if before is None:
            steps.append({"op": "create", "urn": new.urn, "newState": new.v3(),
                          "detailedDiff": None})
            continue
        op, changed, forced = diff(before, new.inputs)
        after = Resource(**{**asdict(new), "id": "" if op == "replace" else before.id,
                            "outputs": {} if op == "replace" else before.outputs})
        step: dict[str, Any] = {"op": op, "urn": new.urn, "oldState": before.v3(),
                                "newState": after.v3(), "detailedDiff": None}
        if op != "same":
            step["diffReasons"] = changed
            step["detailedDiff"] = {k: {"kind": _kind(k, before.inputs, new.inputs) + (
                "-replace" if any(f.split(".")[0] == k for f in forced) else ""),
                "inputDiff": True} for k in changed}
        if op == "replace":
            step["replaceReasons"] = forced
        steps.append(step)
    declared_keys = {r.key for r in declared}
    for gone in reversed(previous.resources):
        if gone.key not in declared_keys:
            steps.append({"op": "delete", "urn": gone.urn, "oldState": gone.v3(),
                          "detailedDiff": None})
    summary: dict[str, int] = {}
    for step in steps:
        summary[step["op"]] = summary.get(step["op"], 0) + 1
    return {"config": {k: v for k, v in config.items() if k != KEY}, "steps": steps,
            "changeSummary": summary}


# ---- up ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Converged:
    outputs: dict[str, Any]
    deployment: Deployment
    created: list[str]
    updated: int
    deleted: list[str]
    forgotten: list[str]  # retainOnDelete: AWS keeps it, the stack no longer manages it
    replaced: list[str] = field(default_factory=list)
    same: int = 0


Checkpoint = Callable[[Deployment], None]


class Progress:
    """The state as an up goes: the previous resources, each replaced as it is done again or
    removed as it is deleted, new ones appended, creates begun marked pending, the old one of a
    replacement kept as a pending delete until deleted; written through `checkpoint` after
    every change (one at a time)."""

    def __init__(self, previous: Deployment, checkpoint: Checkpoint | None) -> None:
        self.config = dict(previous.config)
        self.outputs = previous.outputs
        self.resources: dict[Key, Resource] = {r.key: r for r in previous.resources}
        self.pending: set[Key] = set(previous.pending)
        self.doomed: list[Resource] = list(previous.doomed)
        self.checkpoint = checkpoint
        self.mocks: MotoMocks | None = None
        self._lock = threading.Lock()

    def note(self, event: str, typ: str, name: str, done: Registered | None) -> None:
        with self._lock:
            key = (typ, name)
            if event == "creating":
                self.pending.add(key)
            elif event == "replaced":
                if key in self.resources:
                    self.doomed.append(self.resources[key])
            elif done is not None and self.mocks is not None:
                resource = resource_of(self.mocks, done)
                if self.resources.get(key) == resource and key not in self.pending:
                    return  # recorded as it is: nothing to write
                self.resources[key] = resource  # a dict keeps the first place of a key
                self.pending.discard(key)
            self._write()

    def gone(self, resource: Resource) -> None:
        with self._lock:
            if resource in self.doomed:
                self.doomed.remove(resource)
            elif self.resources.get(resource.key) == resource:
                self.resources.pop(resource.key)
            self._write()

    def _write(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint(Deployment(self.config, list(self.resources.values()), self.outputs,
                                       sorted(self.pending), list(self.doomed)))


def converge(env: Mapping[str, str], config: Mapping[str, str], previous: Deployment,
             checkpoint: Checkpoint | None = None) -> Converged:
    """`pulumi up` of `config` over `previous`: only what differs is applied, replacements'
    old resources and what is gone deleted after; the state through `checkpoint` after every
    resource (see the module docstring)."""
    deployed = {r.key: r.registered() for r in previous.resources
                if r.custom and r.type in CREATED_TYPES}
    progress = Progress(previous, checkpoint)
    mocks = MotoMocks(env, deployed=deployed, maybe_created=frozenset(previous.pending),
                      on_progress=progress.note)
    progress.mocks = mocks
    outputs = run_program(mocks, STACK, config).outputs
    now = deployment_of(mocks, config)
    declared = {r.key for r in now.resources}
    replaced = {(r.typ, r.name, r.physical_id) for r in mocks.replaced}
    deleted, forgotten = [], []
    # Pending deletes of an earlier up first, then (dependents first) what is gone or replaced.
    for gone in list(reversed(previous.doomed)) + list(reversed(previous.resources)):
        if gone in previous.resources and gone.key in declared and (
                gone.type, gone.name, gone.id) not in replaced or not gone.custom:
            continue
        label = f"{gone.type} {gone.name}"
        if gone.type not in CREATED_TYPES or gone.retain_on_delete:
            forgotten.append(label)  # retained (replaced too: Pulumi's DeleteStep), or never made
        else:
            delete(mocks, gone)
            deleted.append(label)
        progress.gone(gone)
    now.outputs = outputs
    return Converged(outputs, now, [f"{c.typ} {c.name}" for c in mocks.created],
                     len(mocks.updated), deleted, forgotten,
                     [f"{r.typ} {r.name}" for r in mocks.replaced], len(mocks.same))


def delete(mocks: MotoMocks, resource: Resource) -> None:
    mocks.delete(resource.registered())

"""`pulumi preview` and `pulumi up` on the sandbox's existing stack, rehearsed by the deployer.

The deployer keeps what it deployed in `deployed.json` in the state directory (the stack's
config without the key, and per resource: type, logical name, URN, id, parent, retainOnDelete,
inputs and outputs with secrets blanked), as Pulumi keeps a stack's state. Then:

- `preview`: the program evaluated with new settings against that state, without touching
  AWS (an existing resource answers with its recorded id and outputs), written as the
  PreviewDigest `pulumi preview --json` prints: steps create / same / update / delete with
  oldState and newState (ResourceV3), and a changeSummary. `verify preflight` reads it.
- `converge`: the program deployed with the new settings (MotoMocks): what exists is updated
  in place (UPDATERS), what is new is created, and what is no longer declared is deleted
  (DELETERS, dependents first) or, when it carries retainOnDelete, forgotten.

The state is written as the up goes, as Pulumi checkpoints (`converge(checkpoint=...)`):
after every resource created, updated or deleted, atomically, with `pending` naming a create
begun and not yet recorded. A kill at any point leaves a state the next up converges from: what
was recorded is updated in place, a pending create is found by its name (moto_mocks.FINDERS)
and taken over, what is gone is gone. The stack's outputs live in the same file and change
only when an up has finished; `outputs.json` (verify's saved stack) is a copy of them, written
after, and written again from here when a kill came between (`sync_outputs`).

Not rehearsed: replacements (nothing a switch changes needs one here) and providers.
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
from botocore.exceptions import ClientError

from components.settings import PROJECT
from sandbox.deployment import STACK
from sandbox.moto_mocks import (
    CREATED_TYPES,
    DELETERS,
    MotoDeployError,
    MotoMocks,
    Registered,
    state_value,
)
from sandbox.state import sandbox_state, write_atomic
from verify.program_eval import run_program

STATE_FILE = "deployed.json"
KEY = f"{PROJECT}:internalApiKey"
_GONE = ("NotFound", "NoSuchEntity", "does not exist", "ResourceNotFound", "not found")

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

    def v3(self) -> dict[str, Any]:
        """The ResourceV3 of a digest's oldState/newState."""
        state: dict[str, Any] = {"urn": self.urn, "custom": self.custom, "type": self.type,
                                 "inputs": self.inputs, "outputs": self.outputs}
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

    def by_key(self) -> dict[Key, Resource]:
        return {r.key: r for r in self.resources}

    def save(self, state_root: Path) -> Path:
        path = state_root / STATE_FILE
        document = {"stack": STACK, "config": {k: v for k, v in self.config.items() if k != KEY},
                    "resources": [asdict(r) for r in self.resources],
                    "outputs": self.outputs, "pending": sorted(list(k) for k in self.pending)}
        write_atomic(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
        export = sandbox_state(state_root).stack_state_file  # the saved stack's, for verify
        export.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(export, json.dumps(self.export(), indent=4) + "\n")
        return path

    def export(self) -> dict[str, Any]:
        """The state as `pulumi stack export` writes it (apitype.UntypedDeployment, a
        DeploymentV3 of ResourceV3s); the deployer never leaves a pending delete (`"delete":
        true`): it rehearses no replacement."""
        return {"version": 3, "deployment": {
            "manifest": {"time": datetime.now(UTC).isoformat(timespec="seconds"),
                         "magic": "", "version": "sandbox"},
            "resources": [r.v3() for r in self.resources]}}

    @classmethod
    def load(cls, state_root: Path) -> Deployment:
        path = state_root / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {STATE_FILE} in the sandbox's state: the stack was not "
                                    "deployed by this sandbox (`python -m sandbox up` writes it)")
        document = json.loads(path.read_text())
        return cls(dict(document["config"]), [Resource(**r) for r in document["resources"]],
                   document.get("outputs"),
                   [(str(t), str(n)) for t, n in document.get("pending") or []])


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


@dataclass
class PreviewMocks(pulumi.runtime.Mocks):
    """Evaluates the program against the recorded state, changing nothing: an existing
    resource answers with its id and outputs, a new one with a placeholder (as a preview's
    unknowns). Calls (caller identity, region) are read from the emulator."""

    deployed: Mapping[Key, Resource]
    reader: MotoMocks
    registered: list[Registered] = field(default_factory=list)
    options: dict[Key, tuple[Key | None, bool]] = field(default_factory=dict)

    def note_parent(self, args: pulumi.ResourceTransformationArgs) -> None:
        opts = args.opts
        parent = opts.parent if opts else None
        key = None
        if parent is not None and parent.pulumi_resource_type != "pulumi:pulumi:Stack":
            key = (parent.pulumi_resource_type, parent.pulumi_resource_name)
        self.options[(args.type_, args.name)] = (key, bool(opts and opts.retain_on_delete))

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        old = self.deployed.get((args.typ, args.name))
        physical = old.id if old else f"{args.name}-(known after up)"
        outputs = dict(old.outputs) if old else {}
        self.registered.append(Registered(args.typ, args.name, physical, bool(args.custom),
                                          state_value(args.inputs), outputs))
        return physical, {**dict(args.inputs), **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        return self.reader.call(args)


def preview(env: Mapping[str, str], config: Mapping[str, str],
            previous: Deployment) -> dict[str, Any]:
    """What `pulumi preview --json` would print for deploying `config` over `previous`."""
    mocks = PreviewMocks(previous.by_key(), MotoMocks(env))
    run_program(mocks, STACK, config)
    return digest(previous, resources_of(mocks), config)


def digest(previous: Deployment, declared: list[Resource],
           config: Mapping[str, str]) -> dict[str, Any]:
    """A PreviewDigest: a step per resource (create / same / update / delete), Pulumi's order
    (creates and updates first, then deletes, dependents first)."""
    old = previous.by_key()
    steps: list[dict[str, Any]] = []
    for new in declared:
        before = old.get(new.key)
        if before is None:
            steps.append({"op": "create", "urn": new.urn, "newState": new.v3()})
            continue
        after = Resource(**{**asdict(new), "id": before.id, "outputs": before.outputs})
        op = "same" if before.inputs == new.inputs else "update"
        step: dict[str, Any] = {"op": op, "urn": new.urn, "oldState": before.v3(),
                                "newState": after.v3()}
        if op == "update":
            step["diffReasons"] = sorted(k for k in {*before.inputs, *new.inputs}
                                         if before.inputs.get(k) != new.inputs.get(k))
        steps.append(step)
    declared_keys = {r.key for r in declared}
    for gone in reversed(previous.resources):
        if gone.key not in declared_keys:
            steps.append({"op": "delete", "urn": gone.urn, "oldState": gone.v3()})
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


Checkpoint = Callable[[Deployment], None]


class Progress:
    """The state as an up goes: the previous resources, each replaced as it is done again or
    removed as it is deleted, new ones appended, creates begun marked pending; written through
    `checkpoint` after every change (one at a time)."""

    def __init__(self, previous: Deployment, checkpoint: Checkpoint | None) -> None:
        self.config = dict(previous.config)
        self.outputs = previous.outputs
        self.resources: dict[Key, Resource] = {r.key: r for r in previous.resources}
        self.pending: set[Key] = set(previous.pending)
        self.checkpoint = checkpoint
        self.mocks: MotoMocks | None = None
        self._lock = threading.Lock()

    def note(self, event: str, typ: str, name: str, done: Registered | None) -> None:
        with self._lock:
            key = (typ, name)
            if event == "creating":
                self.pending.add(key)
            elif done is not None and self.mocks is not None:
                resource = resource_of(self.mocks, done)
                if self.resources.get(key) == resource and key not in self.pending:
                    return  # recorded as it is: nothing to write
                self.resources[key] = resource  # a dict keeps the first place of a key
                self.pending.discard(key)
            self._write()

    def gone(self, key: Key) -> None:
        with self._lock:
            self.resources.pop(key, None)
            self._write()

    def _write(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint(Deployment(self.config, list(self.resources.values()), self.outputs,
                                       sorted(self.pending)))


def converge(env: Mapping[str, str], config: Mapping[str, str], previous: Deployment,
             checkpoint: Checkpoint | None = None) -> Converged:
    """`pulumi up` of `config` over `previous`: update, create, then delete what is gone;
    the state through `checkpoint` after every resource (see the module docstring)."""
    ids = {r.key: r.id for r in previous.resources if r.custom and r.type in CREATED_TYPES}
    progress = Progress(previous, checkpoint)
    mocks = MotoMocks(env, deployed_ids=ids, maybe_created=frozenset(previous.pending),
                      on_progress=progress.note)
    progress.mocks = mocks
    outputs = run_program(mocks, STACK, config).outputs
    now = deployment_of(mocks, config)
    declared = {r.key for r in now.resources}
    deleted, forgotten = [], []
    for gone in reversed(previous.resources):  # dependents were done after what they use
        if gone.key in declared or not gone.custom:
            continue
        label = f"{gone.type} {gone.name}"
        if gone.retain_on_delete or gone.type not in CREATED_TYPES:
            forgotten.append(label)  # retained, or never created in the emulator
            progress.gone(gone.key)
            continue
        delete(mocks, gone)
        progress.gone(gone.key)
        deleted.append(label)
    now.outputs = outputs
    return Converged(outputs, now, [f"{c.typ} {c.name}" for c in mocks.created],
                     len(mocks.updated), deleted, forgotten)


def delete(mocks: MotoMocks, resource: Resource) -> None:
    deleter = DELETERS.get(resource.type)
    if deleter is None:
        raise MotoDeployError(f"{resource.type} '{resource.name}' is no longer declared but the "
                              "sandbox's deployer cannot delete this type")
    record = Registered(resource.type, resource.name, resource.id, resource.custom,
                        resource.inputs, resource.outputs)
    try:
        deleter(mocks, record)
    except ClientError as exc:
        if not any(word in str(exc) for word in _GONE):
            raise MotoDeployError(f"moto refused to delete {resource.type} '{resource.name}' "
                                  f"({resource.id}): {exc}") from exc

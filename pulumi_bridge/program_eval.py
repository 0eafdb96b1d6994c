"""Evaluates the real Pulumi program (`__main__.py`) in-process under mocks and records what
it declares: no Pulumi CLI needed.

Tests, the benchmarks and the sandbox evaluate the program this way, with the config the
CLI would hand it (stack_settings.stack_files); `verify adopt` does too. Pulumi's private calls
this needs live in pulumi_bridge/inprocess.py, nowhere else.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from pulumi_bridge import inprocess as pulumi_inprocess
from stack_settings.parse import PROJECT
from verify.project import find_project_dir

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class DeclaredResource:
    """One resource the program declared; `parent` is (type, name), None for the stack."""

    typ: str
    name: str
    inputs: dict[str, Any]
    physical_id: str
    outputs: dict[str, Any]
    parent: tuple[str, str] | None = None


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that remember every resource declared; ids and ARNs are made up locally."""

    resources: list[DeclaredResource] = field(default_factory=list)
    account: str = "123456789012"
    region: str = "ap-northeast-2"
    # (type, name) -> parent (type, name), filled while the program declares resources
    parents: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        physical = args.inputs.get("name") or f"{args.name}-id"
        outputs = dict(args.inputs)
        outputs.setdefault("name", physical)  # the engine names what the program left unnamed
        service = args.typ.split(":")[1].split("/")[0]
        outputs.setdefault("arn", f"arn:aws:{service}:{self.region}:{self.account}:{physical}")
        if args.typ == "aws:sqs/queue:Queue":
            outputs["url"] = f"https://sqs.{self.region}.amazonaws.com/{self.account}/{physical}"
        self.resources.append(DeclaredResource(
            args.typ, args.name, dict(args.inputs), str(physical), outputs,
            self.parents.get((args.typ, args.name)),
        ))
        return str(physical), outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account, "arn": f"arn:aws:iam::{self.account}:root",
                    "userId": "AIDEXAMPLE", "id": self.account}, []
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        return {}, []

    def note_parent(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        """A stack transformation that changes nothing and remembers each resource's parent."""
        parent = args.opts.parent if args.opts else None
        key = None
        if parent is not None and parent.pulumi_resource_type != STACK_TYPE:
            key = (parent.pulumi_resource_type, parent.pulumi_resource_name)
        self.parents[(args.type_, args.name)] = key
        return None

    def of_type(self, typ: str) -> list[DeclaredResource]:
        return [r for r in self.resources if r.typ == typ]


@dataclass
class ProgramRun:
    outputs: dict[str, Any]
    mocks: pulumi.runtime.Mocks


@dataclass
class Evaluation:
    """What one evaluation of the program produced: resolved outputs and declared resources."""

    stack: str
    outputs: dict[str, Any]
    resources: list[DeclaredResource]

    def of_type(self, typ: str) -> list[DeclaredResource]:
        return [r for r in self.resources if r.typ == typ]


def _program_path(project_dir: Path | None) -> Path:
    root = project_dir or find_project_dir()
    if root is None:
        raise FileNotFoundError(
            "no academy-workers project here: run from the project's directory (the one with "
            "Pulumi.yaml and __main__.py) or set ACADEMY_PROJECT_DIR"
        )
    return root / "__main__.py"


def run_program(
    mocks: pulumi.runtime.Mocks,
    stack: str,
    config: Mapping[str, str],
    secret_keys: tuple[str, ...] = (f"{PROJECT}:internalApiKey",),
    program: Path | None = None,
) -> ProgramRun:
    """Evaluates the program and returns its resolved stack outputs.

    `program` defaults to the project's `__main__.py` (verify.project). Raises whatever the
    program raises (a `pulumi.RunError` for bad settings).
    """
    program = program or _program_path(None)
    pulumi_inprocess.reset_runtime()
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    root = pulumi.runtime.get_root_resource()
    note_parent = getattr(mocks, "note_parent", None)  # mocks that keep parents (and URNs)
    if callable(note_parent):
        pulumi.runtime.register_stack_transformation(note_parent)
    resolved: dict[str, Any] = {}
    cwd = os.getcwd()
    sys.path.insert(0, str(program.parent))

    def body() -> None:
        runpy.run_path(str(program), run_name="__main__")
        outputs = pulumi.Output.from_input(dict(root.outputs))  # type: ignore[union-attr]
        resolved.update(pulumi_inprocess.resolve(outputs) or {})

    try:
        os.chdir(program.parent)  # the program reads files relative to the project
        pulumi_inprocess.run(body)
    finally:
        os.chdir(cwd)
        sys.path.remove(str(program.parent))
    return ProgramRun(outputs=resolved, mocks=mocks)


def evaluate(
    stack: str, config: Mapping[str, str], project_dir: Path | None = None
) -> Evaluation:
    """The program evaluated for `stack` with `config` (as `stack_settings.stack_files.stack_config`
    builds it): its resolved outputs and every resource it declared, in declaration order."""
    mocks = RecordingMocks()
    run = run_program(mocks, stack, config, program=_program_path(project_dir))
    return Evaluation(stack, run.outputs, mocks.resources)

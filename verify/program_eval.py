"""Runs the real Pulumi program (`__main__.py`) under `pulumi.runtime.set_mocks`.

There is no Pulumi CLI here: tests, the benchmarks and the sandbox all evaluate the
program this way, with the config the CLI would hand it (components.stack_files).
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
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.settings import PROJECT
from components.stack_files import ROOT


@dataclass
class DeclaredResource:
    typ: str
    name: str
    inputs: dict[str, Any]
    physical_id: str
    outputs: dict[str, Any]


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that remember every resource declared; ids and ARNs are made up locally."""

    resources: list[DeclaredResource] = field(default_factory=list)
    account: str = "123456789012"
    region: str = "ap-northeast-2"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        physical = args.inputs.get("name") or f"{args.name}-id"
        outputs = dict(args.inputs)
        outputs.setdefault("name", physical)  # the engine names what the program left unnamed
        service = args.typ.split(":")[1].split("/")[0]
        outputs.setdefault("arn", f"arn:aws:{service}:{self.region}:{self.account}:{physical}")
        if args.typ == "aws:sqs/queue:Queue":
            outputs["url"] = f"https://sqs.{self.region}.amazonaws.com/{self.account}/{physical}"
        self.resources.append(
            DeclaredResource(args.typ, args.name, dict(args.inputs), str(physical), outputs)
        )
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

    def of_type(self, typ: str) -> list[DeclaredResource]:
        return [r for r in self.resources if r.typ == typ]


@dataclass
class ProgramRun:
    outputs: dict[str, Any]
    mocks: pulumi.runtime.Mocks


def _reset_runtime() -> None:
    """A fresh root stack and config for each run, so runs in one process don't mix."""
    pulumi_settings.ROOT.set(None)
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()


def run_program(
    mocks: pulumi.runtime.Mocks,
    stack: str,
    config: Mapping[str, str],
    secret_keys: tuple[str, ...] = (f"{PROJECT}:internalApiKey",),
    program: Path = ROOT / "__main__.py",
) -> ProgramRun:
    """Evaluates the program and returns its resolved stack outputs.

    Raises whatever the program raises (a `pulumi.RunError` for bad settings).
    """
    _reset_runtime()
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    root = pulumi_settings.get_root_resource()
    resolved: dict[str, Any] = {}
    cwd = os.getcwd()
    sys.path.insert(0, str(program.parent))

    def body() -> None:
        runpy.run_path(str(program), run_name="__main__")
        outputs = pulumi.Output.from_input(dict(root.outputs))  # type: ignore[union-attr]
        resolved.update(_sync_await(outputs.future()) or {})

    try:
        os.chdir(program.parent)  # the program reads files relative to the project
        _sync_await(run_pulumi_func(body))
    finally:
        os.chdir(cwd)
        sys.path.remove(str(program.parent))
    return ProgramRun(outputs=resolved, mocks=mocks)

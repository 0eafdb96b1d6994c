"""Runs the real Pulumi program (`__main__.py`) under Pulumi's mocks, per stack file.

No Pulumi CLI exists here: `pulumi_bridge.program_eval` evaluates the program with the config the
CLI would hand it (`stack_settings.stack_files.stack_config`) and records every resource.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pulumi_bridge.inprocess import registered_urns  # noqa: E402
from pulumi_bridge.program_eval import DeclaredResource, RecordingMocks, run_program  # noqa: E402
from stack_settings.stack_files import REHEARSAL_VALUES, stack_config  # noqa: E402

DUMMY_KEY = "test-internal-key-not-a-secret"


@dataclass
class StackRun:
    """One evaluation of the program: its stack output and what it declared."""

    stack: str
    academy: dict[str, Any]
    resources: list[DeclaredResource]
    urns: list[str]

    def of_type(self, typ: str) -> list[DeclaredResource]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str) -> DeclaredResource:
        found = [r for r in self.resources if r.typ == typ and r.name == name]
        assert len(found) == 1, f"expected one {typ} named {name}, found {len(found)}"
        return found[0]

    def names(self, typ: str) -> set[str]:
        return {r.name for r in self.of_type(typ)}

    def iam_documents(self) -> list[tuple[str, dict[str, Any]]]:
        """Every IAM permission document the stack declares (inline and managed)."""
        docs = []
        for r in self.resources:
            if r.typ in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
                docs.append((r.name, json.loads(r.inputs["policy"])))
        return docs

    def children_of(self, component_type: str) -> list[tuple[str, str]]:
        """(type, name) of every resource whose parent is a component of this type."""
        found = []
        for urn in self.urns:
            qualified, name = urn.split("::")[2], urn.split("::")[3]
            chain = qualified.split("$")
            if len(chain) >= 2 and chain[-2] == component_type:
                found.append((chain[-1], name))
        return found

    def arns(self) -> set[str]:
        return {str(r.outputs["arn"]) for r in self.resources if "arn" in r.outputs}


def evaluate(stack: str, overrides: Mapping[str, Any] | None = None) -> StackRun:
    config = stack_config(
        stack, {**REHEARSAL_VALUES, "internalApiKey": DUMMY_KEY, **(overrides or {})}
    )
    mocks = RecordingMocks()
    run = run_program(mocks, stack, config)
    urns = registered_urns()
    return StackRun(stack, run.outputs["academy"], mocks.resources, urns)


@pytest.fixture(scope="session")
def prod() -> StackRun:
    """The users' production stack: video on AWS Batch."""
    return evaluate("prod")


@pytest.fixture(scope="session")
def prod_asg() -> StackRun:
    """The example stack: video on an Auto Scaling group fed by SQS."""
    return evaluate("prod-asg")


@pytest.fixture(params=["prod", "prod-asg"])
def any_stack(request: pytest.FixtureRequest) -> StackRun:
    return request.getfixturevalue(request.param.replace("-", "_"))


@pytest.fixture
def evaluate_stack() -> Iterator[Callable[..., StackRun]]:
    """Evaluates a stack with overrides (each call is a fresh program run)."""
    yield evaluate

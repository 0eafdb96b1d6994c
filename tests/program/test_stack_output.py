"""The stack output is built from the typed contract: it parses with `parse()` for every stack
file in both modes, and docs/CONTRACTS.md shows exactly `shape()`."""

from __future__ import annotations

import os
import re

import pytest

from contract.stack_output import SCHEMA_VERSION, StackOutput, parse, shape, to_plain
from stack_settings.stack_files import ROOT

CONTRACTS = ROOT / "docs" / "CONTRACTS.md"
BLOCK = re.compile(
    r"(<!-- stack-output-shape:begin -->\n```text\n)(.*?)(\n```\n<!-- stack-output-shape:end -->)",
    re.S,
)
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


@pytest.mark.parametrize("mode", ["asg", "batch"])
@pytest.mark.parametrize("stack", STACKS)
def test_the_export_parses_with_the_contract(evaluate_stack, stack: str, mode: str) -> None:
    run = evaluate_stack(stack, {"videoMode": mode})
    parsed = parse({"academy": run.academy}, source=f"stack {stack}")
    assert isinstance(parsed, StackOutput)
    assert parsed.schema_version == SCHEMA_VERSION
    assert parsed.mode == mode
    # Nothing lost or added on the way: the parsed object is the export, field for field.
    assert to_plain(parsed) == _floats(run.academy)
    assert (parsed.batch is not None) == (mode == "batch")
    for wt, worker in parsed.worker_types.items():
        assert (worker.fleet is None) == (worker.runs_on == "batch"), wt
        assert worker.published == (worker.runs_on == "fleet"), wt


def test_the_stack_files_are_the_ones_the_tests_know() -> None:
    assert {"prod", "prod-asg"} <= set(STACKS)


def _floats(value: object) -> object:
    """The export as `parse` returns it: the contract's float fields hold floats."""
    if isinstance(value, dict):
        return {k: (float(v) if k in ("threshold", "target_backlog_per_instance")
                    and isinstance(v, int) else _floats(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


def test_contracts_md_shows_the_contract_shape() -> None:
    text = CONTRACTS.read_text()
    found = BLOCK.search(text)
    assert found, "docs/CONTRACTS.md lost its stack-output-shape markers"
    if os.environ.get("REGENERATE_CONTRACTS"):
        CONTRACTS.write_text(BLOCK.sub(lambda m: m[1] + shape() + m[3], text))
        return
    assert found[2] == shape(), (
        "docs/CONTRACTS.md's stack output differs from components/stack_output.shape(); "
        "regenerate it: REGENERATE_CONTRACTS=1 .venv/bin/python -m pytest "
        "tests/program/test_stack_output.py -k contracts_md"
    )

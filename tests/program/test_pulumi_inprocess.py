"""Guards pulumi_bridge/inprocess.py: the only place that uses Pulumi's private SDK API.

When one of these fails after a Pulumi upgrade, the program evaluator (tests, sandbox,
benchmarks, `verify adopt`) is broken: fix pulumi_bridge/inprocess.py for the new SDK
before anything else.
"""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pulumi
import pytest

from pulumi_bridge import inprocess as pulumi_inprocess
from pulumi_bridge import program_eval
from stack_settings.stack_files import REHEARSAL_VALUES, stack_config

UPGRADE_HINT = "a Pulumi upgrade changed what pulumi_bridge/inprocess.py relies on"

TINY_PROGRAM = textwrap.dedent('''
    import pulumi

    config = pulumi.Config()
    size = config.require_int("size")

    class Box(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("academy:test:Box", name, None, opts)
            self.child = pulumi.CustomResource(
                "test:index:Thing", f"{name}-thing", {"size": size},
                opts=pulumi.ResourceOptions(parent=self))
            self.register_outputs({})

    box = Box("box")
    pulumi.export("size", box.child.urn.apply(lambda _: size))
    pulumi.export("secret", config.require_secret("key"))
''')


def _tiny(tmp_path: Path, size: int) -> program_eval.Evaluation:
    program = tmp_path / "__main__.py"
    program.write_text(TINY_PROGRAM)
    mocks = program_eval.RecordingMocks()
    run = program_eval.run_program(
        mocks, "tiny", {"academy-workers:size": str(size), "academy-workers:key": "s3cret"},
        program=program,
    )
    return program_eval.Evaluation("tiny", run.outputs, mocks.resources)


@pytest.mark.parametrize(("module", "name"), pulumi_inprocess.PRIVATE_NAMES)
def test_the_private_names_still_exist(module: str, name: str) -> None:
    try:
        found = hasattr(importlib.import_module(module), name)
    except ImportError as exc:
        pytest.fail(f"{UPGRADE_HINT}: cannot import {module} ({exc})")
    assert found, f"{UPGRADE_HINT}: {module}.{name} is gone"


def test_the_settings_it_resets_still_have_their_shape() -> None:
    settings = importlib.import_module("pulumi.runtime.settings")
    assert hasattr(settings.ROOT, "set"), f"{UPGRADE_HINT}: settings.ROOT is no ContextVar"
    for attribute in ("rpc_manager", "outputs"):
        value = getattr(settings.SETTINGS, attribute, None)
        assert hasattr(value, "clear"), f"{UPGRADE_HINT}: SETTINGS.{attribute} has no clear()"


def test_two_runs_in_one_process_give_each_its_own_outputs_and_resources(
    tmp_path: Path,
) -> None:
    first = _tiny(tmp_path, 3)
    second = _tiny(tmp_path, 5)
    for run, size in ((first, 3), (second, 5)):
        assert run.outputs.get("size") == size, (
            f"{UPGRADE_HINT}: outputs of run {size} resolved to {run.outputs!r}"
        )
        assert run.outputs.get("secret") == "s3cret", f"{UPGRADE_HINT}: secret not resolved"
        assert [(r.typ, r.name, r.parent) for r in run.resources] == [
            ("academy:test:Box", "box", None),
            ("test:index:Thing", "box-thing", ("academy:test:Box", "box")),
        ], f"{UPGRADE_HINT}: declared resources {run.resources!r}"
        assert run.resources[1].inputs == {"size": size}


def test_a_failing_program_raises_its_own_error_and_the_next_run_still_works(
    tmp_path: Path,
) -> None:
    program = tmp_path / "__main__.py"
    program.write_text("import pulumi\npulumi.Config().require('missing')\n")
    with pytest.raises(pulumi.ConfigMissingError):
        program_eval.run_program(program_eval.RecordingMocks(), "tiny", {}, program=program)
    assert _tiny(tmp_path, 7).outputs["size"] == 7, f"{UPGRADE_HINT}: a failed run leaked state"


def test_evaluate_runs_the_real_program_with_parents() -> None:
    config = stack_config("prod", {**REHEARSAL_VALUES})
    run = program_eval.evaluate("prod", config)
    assert run.outputs["academy"]["mode"] in ("asg", "batch")
    components = [r for r in run.resources if r.typ.startswith("academy:")]
    assert components and all(r.parent is None for r in components)
    children = [r for r in run.resources if r.parent is not None]
    assert children, "no resource recorded a parent component"
    declared = {(r.typ, r.name) for r in run.resources}
    assert all(r.parent in declared for r in children)

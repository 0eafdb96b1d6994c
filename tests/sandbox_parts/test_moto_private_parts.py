"""moto's private parts, pinned: the sandbox reaches into moto only in the Batch runner, only
for the parts it lists (sandbox/services/batch_runner.MOTO_PRIVATE), and only on the moto
version it pins; each listed part exists in that version (the runner's behaviour on it is
tests/sandbox_parts/test_batch_runner.py). Upgrading moto fails here first, naming the part."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import moto

from sandbox.services import batch_runner

ROOT = Path(__file__).resolve().parents[2]
OWN = {"self", "cls", "api", "handle", "held", "child"}  # our own objects' private parts


def private_parts_used() -> dict[str, set[str]]:
    """file -> the `_name`s it reads off objects not its own, and private modules it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = set()
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in OWN)):
                names.add(node.attr)
            if isinstance(node, ast.ImportFrom) and node.module and "._" in node.module:
                names.update(alias.name for alias in node.names)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    "moto") and any(a.name.endswith("_backends") for a in node.names):
                names.update(a.name for a in node.names)
        if names:
            found[str(path.relative_to(ROOT))] = names
    return found


def test_moto_is_the_pinned_version() -> None:
    pins = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(rf"^moto\[server\]=={re.escape(batch_runner.MOTO_VERSION)}$", pins, re.M)
    assert moto.__version__ == batch_runner.MOTO_VERSION


def test_only_the_batch_runner_uses_moto_private_parts_and_only_those_it_lists() -> None:
    listed = {key.split(":", 1)[1] for key in batch_runner.MOTO_PRIVATE}
    used = private_parts_used()
    runner = used.pop("sandbox/services/batch_runner.py", set())
    assert runner - {"urls"} <= listed | {"batch_backends"}, runner - listed
    assert used == {}, f"moto's private parts outside the Batch runner: {used}"


def test_each_listed_part_exists_in_the_pinned_moto() -> None:
    for key in batch_runner.MOTO_PRIVATE:
        module_name, name = key.split(":", 1)
        module = importlib.import_module(module_name)
        source = inspect.getsource(module)
        assert hasattr(module, name) or f"self.{name}" in source or f"def {name}" in source, key


def test_the_patched_calls_keep_moto_s_signatures() -> None:
    from moto.batch.models import BatchBackend
    from moto.batch_simple.models import BatchSimpleBackend

    original = inspect.signature(BatchBackend.submit_job).parameters
    assert list(original) == list(inspect.signature(BatchSimpleBackend.submit_job).parameters)
    assert list(inspect.signature(BatchBackend.delete_job_queue).parameters) == [
        "self", "queue_name"]

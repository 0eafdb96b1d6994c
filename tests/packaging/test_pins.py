"""One source for every pin: requirements.txt (runtime) and requirements-dev.txt (dev extra),
which pyproject.toml reads; the build backend's pin agrees with the dev file's."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS = {"moto", "pytest", "pytest-timeout", "pytest-xdist", "ruff", "zizmor", "gixy-ng",
         "setuptools"}


def _lines(name: str) -> list[str]:
    return [line.strip() for line in (ROOT / name).read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~!; ]", requirement, maxsplit=1)[0].lower()


def test_every_requirement_is_pinned_exactly() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        loose = [line for line in _lines(name) if "==" not in line]
        assert not loose, f"{name}: not pinned with ==: {loose}"


def test_tests_and_linters_are_not_runtime_dependencies() -> None:
    assert not TOOLS & {_name(r) for r in _lines("requirements.txt")}
    assert {_name(r) for r in _lines("requirements-dev.txt")} == TOOLS


def test_pyproject_reads_the_requirement_files_and_pins_the_same_backend() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}
    assert dynamic["optional-dependencies"]["dev"] == {"file": ["requirements-dev.txt"]}
    dev = {_name(r): r for r in _lines("requirements-dev.txt")}
    assert pyproject["build-system"]["requires"] == [dev["setuptools"]]

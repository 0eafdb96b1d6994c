"""`--stack org/prod` (pulumi/actions' fully qualified form, as the workflow passes it) goes to
Pulumi; it is not refused as a bad name, and never read from a saved-stacks directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_verify(*args: str, env_path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "verify", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=False,
                          env={"PATH": env_path, "HOME": "/nonexistent"})


def test_an_organization_qualified_stack_is_asked_of_pulumi(tmp_path: Path) -> None:
    done = run_verify("all", "--stack", "academy-org/prod", env_path=str(tmp_path))
    assert done.returncode == 2
    assert "is not a stack name" not in done.stderr
    assert "pulumi CLI" in done.stderr and "Traceback" not in done.stderr


def test_a_path_is_still_not_a_stack_name(tmp_path: Path) -> None:
    done = run_verify("all", "--stack", "../etc", env_path=str(tmp_path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr

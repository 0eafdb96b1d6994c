"""Shared names defined once: the video modes (components.stack_output.VIDEO_MODES) and the
physical names (components/physical_names.py), which the components and tools import."""

from __future__ import annotations

import re
from pathlib import Path

from components.stack_output import VIDEO_MODES

ROOT = Path(__file__).resolve().parents[2]
CODE = ("components", "verify", "sandbox", "bench", "lambda")


def _sources(*dirs: str) -> list[Path]:
    return [p for d in dirs for p in sorted((ROOT / d).rglob("*.py"))] + [ROOT / "__main__.py"]


# ("asg", "batch") or ["batch", "asg"], as a tuple or a list, quoted either way.
MODES_WRITTEN_OUT = re.compile(
    r"""[(\[]\s*(["'])(asg|batch)\1\s*,\s*(["'])(asg|batch)\3\s*,?\s*[)\]]""")


def test_the_video_modes_are_written_out_only_in_the_stack_output() -> None:
    assert VIDEO_MODES == ("asg", "batch")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in _sources(*CODE)
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if MODES_WRITTEN_OUT.search(line) and p.name != "stack_output.py"]
    assert found == [], f"use components.stack_output.VIDEO_MODES: {found}"


# How a physical name is spelt when it is written out by hand (a component's logical names,
# `f"{name}-role"`, are not physical and are not matched).
PHYSICAL_NAME_SPELLINGS = re.compile(
    r"""-worker-asg|-worker-queue-depth-metric|-jobs-dlq|-batch-queue|-batch-jobdef"""
    r"""|-api-nginx-config|/aws/lambda/|/aws/batch/|/workers/|\{group_name\}-"""
    r"""|\{settings\.function_name\}-|\{fn\}-""")


def test_physical_names_are_spelt_only_in_their_module() -> None:
    found = [f"{p.relative_to(ROOT)}:{n}" for p in _sources("components")
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if PHYSICAL_NAME_SPELLINGS.search(line) and not line.lstrip().startswith("#")
             and p.name not in ("physical_names.py", "dispatch.py", "settings_spec.py")]
    assert found == [], f"use components/physical_names.py: {found}"

"""Where the academy-workers project is: the directory with its Pulumi.yaml.

verify reads project files at run time (the publisher's source for the expected CodeSha256,
saved stacks, the program for `adopt`). Run from a checkout, that is the checkout; run as an
installed `academy-verify`, it is $ACADEMY_PROJECT_DIR, else the current directory or the
nearest parent holding the project's Pulumi.yaml.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_DIR_ENV = "ACADEMY_PROJECT_DIR"
PROJECT_NAME = "academy-workers"
# The publisher's sources as the wheel ships them (pyproject.toml maps lambda/queue_depth here).
PACKAGED_PUBLISHER_SOURCE = Path(__file__).resolve().parent / "publisher_source"
PUBLISHER_SOURCE_DIR = "lambda/queue_depth"

_NAME_LINE = re.compile(rf"^name:\s*['\"]?{re.escape(PROJECT_NAME)}['\"]?\s*$", re.MULTILINE)


def is_project_dir(path: Path) -> bool:
    """True when `path` holds this project's Pulumi.yaml (`name: academy-workers`)."""
    try:
        return bool(_NAME_LINE.search((path / "Pulumi.yaml").read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def find_project_dir(start: Path | None = None) -> Path | None:
    """$ACADEMY_PROJECT_DIR if set; else the checkout this code runs from; else `start` (the
    current directory) or its nearest parent that is the project; else None."""
    named = os.environ.get(PROJECT_DIR_ENV, "").strip()
    if named:
        return Path(named).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if is_project_dir(checkout):
        return checkout
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if is_project_dir(d)), None)


def project_root() -> Path:
    """The project directory, or the current directory when there is none (so messages name a
    path the user can act on: `no ... at <cwd>/...`)."""
    return find_project_dir() or Path.cwd()


def publisher_source(root: Path, source_dir: str) -> Path:
    """The publisher's sources: `root/source_dir`, or the copy in the installed package when
    there is no project here and the stack names the standard source directory."""
    local = root / source_dir
    if local.is_dir() or source_dir != PUBLISHER_SOURCE_DIR:
        return local
    return PACKAGED_PUBLISHER_SOURCE if PACKAGED_PUBLISHER_SOURCE.is_dir() else local

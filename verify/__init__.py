"""The verify toolkit: `python -m verify all --stack NAME` proves a deployed stack works.

Library use (what the CLI does): load the outputs, pick checks, run them, read the report.

    from verify.outputs import load_file
    from verify.suite import run_checks, select_checks
    from verify.context import RunOptions

    outputs = load_file(path)
    report = run_checks(outputs, select_checks(outputs, "all"), RunOptions(invoke=False))
"""

from importlib import metadata as _metadata
from pathlib import Path as _Path

DISTRIBUTION = "academy-workers"


def _version() -> str:
    """The checkout's pyproject.toml when run from one (it is the truth there), else the
    installed distribution's metadata."""
    pyproject = _Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            project = {}
        if project.get("name") == DISTRIBUTION and isinstance(project.get("version"), str):
            return project["version"]
    try:
        return _metadata.version(DISTRIBUTION)
    except _metadata.PackageNotFoundError:
        return "unknown"


__version__ = _version()

"""Every use of Pulumi's private Python SDK API in this project, and nothing else.

Why private at all: there is no Pulumi CLI here, and `verify adopt` evaluates the program
without one. Pulumi's public testing API (`@pulumi.runtime.test`) only runs inside a test
runner's event loop; running a whole program in-process and reading its resolved outputs
needs the SDK's own program runner (`run_pulumi_func`), its sync bridge (`_sync_await`) and
a reset of its per-process globals between runs. tests/program/test_pulumi_inprocess.py
fails with a clear message when a Pulumi upgrade removes or changes any of these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import settings as _settings
from pulumi.runtime.stack import run_pulumi_func as _run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

# What this module touches, checked by the test above: (module, attribute).
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    ("pulumi.runtime.stack", "run_pulumi_func"),
    ("pulumi.runtime.sync_await", "_sync_await"),
    ("pulumi.runtime.settings", "ROOT"),
    ("pulumi.runtime.settings", "SETTINGS"),
)


def reset_runtime() -> None:
    """Forget the previous run's root stack, pending RPCs and outputs (globals per process)."""
    _settings.ROOT.set(None)
    _settings.SETTINGS.rpc_manager.clear()
    _settings.SETTINGS.outputs.clear()


def run(body: Callable[[], None]) -> None:
    """Runs `body` as a Pulumi program and waits until every resource it declared is done.

    Raises what the program raised (e.g. `pulumi.RunError`).
    """
    _sync_await(_run_pulumi_func(body))


def resolve(output: pulumi.Output[Any]) -> Any:
    """The value of an Output, from inside `run`'s body (secrets unwrapped)."""
    return _sync_await(output.future())

"""Every use of Pulumi's private Python SDK API in this project, and nothing else.

Why private at all: there is no Pulumi CLI here, and `verify adopt` evaluates the program
without one. Pulumi's public testing API (`@pulumi.runtime.test`) only runs inside a test
runner's event loop; running a whole program in-process and reading its resolved outputs
needs the SDK's own program runner (`run_pulumi_func`), its sync bridge (`_sync_await`) and
a reset of its per-process globals between runs. The program reads its stack's config
through the SDK's config store (`stack_config`), the sandbox's deployer tells a serialized
secret by the SDK's signature (`is_secret`, `secret`), and the program tests list what the mock
monitor registered (`registered_urns`). tests/program/test_pulumi_inprocess.py fails with a
clear message when a Pulumi upgrade removes or changes any of these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime.config import CONFIG as _CONFIG
from pulumi.runtime.config import get_config_env as _get_config_env
from pulumi.runtime.stack import run_pulumi_func as _run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

# What this module touches, checked by the test above: (module, attribute).
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    ("pulumi.runtime.stack", "run_pulumi_func"),
    ("pulumi.runtime.sync_await", "_sync_await"),
    ("pulumi.runtime.settings", "ROOT"),
    ("pulumi.runtime.settings", "SETTINGS"),
    ("pulumi.runtime.config", "CONFIG"),
    ("pulumi.runtime.config", "get_config_env"),
    ("pulumi.runtime.rpc", "_special_sig_key"),
    ("pulumi.runtime.rpc", "_special_secret_sig"),
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


def stack_config() -> dict[str, Any]:
    """The running stack's config as the engine passed it (environment, then the store)."""
    return {**_get_config_env(), **_CONFIG.get()}


def is_secret(value: object) -> bool:
    """True for an input the SDK serialized as a secret (`{sig: secret-sig, "value": ...}`)."""
    return isinstance(value, dict) and value.get(_rpc._special_sig_key) == _rpc._special_secret_sig


def secret(value: object) -> dict[str, object]:
    """`value` serialized as the SDK serializes a secret input."""
    return {_rpc._special_sig_key: _rpc._special_secret_sig, "value": value}


def registered_urns() -> list[str]:
    """The URNs the mock monitor registered in this process's last run."""
    return list(_settings.SETTINGS.monitor.get_registered_resources())

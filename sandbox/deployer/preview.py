"""`python -m sandbox preview [--set KEY=VALUE ...] [--json FILE]`: what `sandbox up` (or a
switch's up) would change, before it changes it.

The deployer's own preview (sandbox/deployer/convergence.py: the program evaluated with the new
settings against the state the sandbox keeps, nothing touched), written as the PreviewDigest
`pulumi preview --json` prints, so a user and `verify preflight` can read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox import stack
from sandbox.deployer import convergence, deployment
from sandbox.deployer.convergence import KEY, Deployment
from sandbox.services import moto_server
from sandbox.state import sandbox_state
from stack_settings.parse import PROJECT, SettingsError, settings_from_config
from stack_settings.stack_files import as_config_string


class PreviewUsageError(ValueError):
    """Bad input (a setting that is not one, a value the program refuses) or no sandbox."""


def changed_config(previous: Deployment, key: str,
                   settings: Mapping[str, Any]) -> dict[str, str]:
    """The deployed stack's config with `settings` (plain keys or namespaced) over it, as
    `pulumi config set` would leave it; refused (PreviewUsageError) when the program would
    refuse it."""
    config = {**previous.config, KEY: key}
    for name, value in settings.items():
        config[name if ":" in name else f"{PROJECT}:{name}"] = as_config_string(value)
    try:
        settings_from_config(config, deployment.STACK)
    except SettingsError as exc:
        problems = "\n".join(f"  - {p}" for p in exc.problems)
        raise PreviewUsageError(f"{len(exc.problems)} invalid setting(s) with your --set "
                                f"values:\n{problems}") from None
    return config


def preview(settings: Mapping[str, Any], state_dir: Path | None = None) -> dict[str, Any]:
    """The PreviewDigest of deploying `settings` over the running sandbox's stack."""

    state = sandbox_state(state_dir)
    try:
        info = stack.load_info(state)
        outputs = stack.load_outputs(state)
        previous = Deployment.load(state.root)
    except (stack.SandboxError, FileNotFoundError) as exc:
        raise PreviewUsageError(f"{exc}") from None
    if info.get("legacy"):
        raise PreviewUsageError("this sandbox holds the old account, no stack: "
                                "`python -m sandbox adopt` first")
    env = moto_server.client_env(stack.aws_env(state)["AWS_ENDPOINT_URL"])
    key = moto_server.client(env, "ssm").get_parameter(
        Name=outputs["academy"]["publisher"]["key_parameter"], WithDecryption=True)[
        "Parameter"]["Value"]
    return convergence.preview(env, changed_config(previous, key, settings), previous)

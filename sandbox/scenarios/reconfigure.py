"""`python -m sandbox up --set KEY=VALUE ...` on a running sandbox: `pulumi config set`, then the
deploy workflow's `pulumi preview` -> `verify preflight` -> `pulumi up` (the switch's steps,
scenarios/switch.up_with). Refused by preflight, nothing is changed (exit 1). Only the diff is
applied; the nginx config is delivered again when it changed, and the processes that read a
name from the outputs at start are restarted when it changed (stack.restart_readers).

Rolling back is the same command with the previous values (`--set namePrefix=academy`): one
more converge, as in production (the commit before, the same preview -> preflight -> up).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox import stack
from sandbox.console import say
from sandbox.deployer import convergence, deployment
from sandbox.deployer.convergence import Deployment
from sandbox.deployer.preview import changed_config
from sandbox.scenarios.switch import SwitchReport, SwitchStopped, up_with
from sandbox.services import moto_server
from sandbox.state import sandbox_state


class ReconfigureRefused(RuntimeError):
    """verify preflight refused the plan: nothing was changed (exit 1)."""


def reconfigure(settings: Mapping[str, Any], state_dir: Path | None = None) -> dict[str, Any]:
    """Converges the running sandbox's stack to its settings with `settings` over them."""
    state = sandbox_state(state_dir)
    info = stack.load_info(state)
    if info.get("legacy"):
        raise stack.SandboxError("this sandbox holds the old account, no stack: "
                                 "`python -m sandbox adopt` first")
    previous = Deployment.load(state.root)
    before = convergence.sync_outputs(state.root, state.outputs_file) or \
        stack.load_outputs(state)
    env = moto_server.client_env(stack.aws_env(state)["AWS_ENDPOINT_URL"])
    key = moto_server.client(env, "ssm").get_parameter(
        Name=before["academy"]["publisher"]["key_parameter"], WithDecryption=True)[
        "Parameter"]["Value"]
    config = changed_config(previous, key, settings)  # PreviewUsageError: bad settings
    report = SwitchReport(from_mode=info["mode"], to_mode=info["mode"])
    say("sandbox up: the stack is running: preview -> verify preflight -> up")
    try:
        _, after = up_with(state, previous, config, False, report, step="up")
    except SwitchStopped as exc:
        raise ReconfigureRefused(str(exc)) from None
    if after["academy"]["api"]["nginx"] != before["academy"]["api"]["nginx"]:
        delivered = deployment.deliver(env, after, stack.ssh_endpoint(info))
        if delivered.rc != 0:
            raise stack.SandboxError(f"the delivery script failed on the API host (exit "
                                     f"{delivered.rc}): {delivered.stderr.strip()}")
    restarted = stack.restart_readers(state, before, after)
    return {"created": report.created, "deleted": report.deleted,
            "forgotten": report.forgotten, "restarted": restarted,
            "timings_s": report.timings_s}

"""`python -m sandbox adopt`: verify adopt, then the rehearsed `pulumi import --file` and
`pulumi up` of the old account `up --legacy` made (scenarios/adoption.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox import stack
from sandbox.console import say
from sandbox.deployer import convergence, deployment
from sandbox.deployer.moto_mocks import MotoMocks
from sandbox.processes import ProcessRegistry
from sandbox.scenarios.adoption import (
    CONFIG_FILE,
    IMPORT_FILE,
    KEY,
    apply_settings,
    imported_ids,
    key_parameter_name,
    run_verify_adopt,
)
from sandbox.services import moto_server
from sandbox.state import PROJECT_ROOT, sandbox_state


def adopt(state_dir: Path | None = None,
          settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """verify adopt, then the rehearsed `pulumi import --file` and `pulumi up`; `settings`
    (`--set KEY=VALUE`) are set on the stack first, as `pulumi config set` would."""
    state = sandbox_state(state_dir)
    info = stack.load_info(state)
    if not info.get("legacy"):
        raise stack.SandboxError("this sandbox holds no old account: bring it up with "
                                 "`python -m sandbox up --legacy`")
    if state.outputs_file.exists():
        raise stack.SandboxError("the stack is already deployed (adopted); `python -m verify "
                                 "all --stack sandbox` checks it")
    apply_settings(state.stack_dir, settings or {})
    timings: dict[str, float] = {}
    started = time.monotonic()
    import_path = state.stack_dir / IMPORT_FILE
    say("sandbox: verify adopt --stack sandbox ...")
    run_verify_adopt(state.verify_env(), import_path, PROJECT_ROOT)
    timings["verify adopt"] = round(time.monotonic() - started, 2)

    env = moto_server.client_env(stack.aws_env(state)["AWS_ENDPOINT_URL"])
    config = json.loads((state.stack_dir / CONFIG_FILE).read_text())
    mocks = MotoMocks(env, adopted_ids=imported_ids(json.loads(import_path.read_text())))
    config[KEY] = mocks.client("ssm").get_parameter(
        Name=key_parameter_name(config), WithDecryption=True)["Parameter"]["Value"]
    t0 = time.monotonic()
    say("sandbox: pulumi import --file + pulumi up (rehearsed: adopted resources "
               "updated to the program, the rest created) ...")
    outputs = deployment.deploy(mocks, config)
    timings["import + up"] = round(time.monotonic() - t0, 2)
    done = convergence.deployment_of(mocks, config)
    done.outputs = outputs
    done.save(state.root)  # the stack's state (with its outputs), for switch; then verify's copy
    deployment.write_json(state.outputs_file, outputs)

    delivered = deployment.deliver(env, outputs, stack.ssh_endpoint(info))
    if delivered.rc != 0:
        raise stack.SandboxError(f"the delivery script failed on the API host (exit "
                                 f"{delivered.rc}): {delivered.stderr.strip()}")

    def step(name: str, action: Any) -> Any:
        t = time.monotonic()
        say(f"sandbox: {name} ...")
        result = action()
        timings[name] = round(time.monotonic() - t, 2)
        return result

    registry = ProcessRegistry(state.pids_file)
    stack.start_schedule(state, registry, env, outputs, float(info.get("schedule_every_s") or
                                                              stack.SCHEDULE_EVERY_S), step)
    summary = mocks.summary()
    timings["total"] = round(time.monotonic() - started, 2)
    info.update({"legacy": False, "adopted_from_legacy": True, "deployment": summary,
                 "adoption_timings_s": timings})
    deployment.write_json(state.root / "sandbox.json", info)
    return {"adopted": sum(summary["adopted"].values()),
            "created": sum(summary["created"].values()),
            "import_file": str(import_path), "timings_s": timings}

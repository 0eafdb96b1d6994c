"""`up --legacy` and `adopt`: the sandbox rehearses taking over the account the old scripts made.

`up --legacy` makes the PowerShell-era account in moto (sandbox/legacy.py), saves the stack's
config beside the saved stack (`config.json`, no key in it) so `verify adopt --stack sandbox`
can evaluate the program, and puts the internal key into the parameter the stack will declare
(the old setup kept the key somewhere too; adoption takes that parameter over).

`adopt` runs `python -m verify adopt` as a user would, then rehearses what Pulumi does with the
file it wrote: `pulumi import --file` (the deployer takes each listed resource over by its id)
and `pulumi up` (the program deployed with MotoMocks, which updates an adopted resource to the
declaration and creates the rest). Nothing here decides what is adopted: verify does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.api_proxy import document_content, document_script, nginx_params
from components.nginx_config import config_sha256, render_site
from components.settings import PROJECT, Settings, SettingsError, settings_from_config
from sandbox import legacy, moto_server
from sandbox.deployment import STACK
from sandbox.internal_api import VideoStore
from sandbox.moto_mocks import MotoMocks
from sandbox.state import write_atomic
from verify.adopt.command import EVALUATION_KEY

CONFIG_FILE = "config.json"  # verify/adopt/command.py reads it for a saved stack
IMPORT_FILE = "import.json"  # where `sandbox adopt` has verify write the bulk import file
KEY = f"{PROJECT}:internalApiKey"
LEGACY_MESSAGES = 2  # per queue, so that adoption can be seen to keep them
LEGACY_TITLE = "uploaded before the adoption"  # the old fleet's videos in the API's DB


class AdoptionRefused(RuntimeError):
    """verify adopt found a declared resource that cannot be taken over; nothing was imported."""


def _settings(config: Mapping[str, str]) -> Settings:
    """The settings of a config that may lack the key (the saved one leaves it out)."""
    return settings_from_config({KEY: EVALUATION_KEY, **config}, STACK)


def key_parameter_name(config: Mapping[str, str]) -> str:
    return _settings(config).publisher.key_parameter_name


def dispatch_parameter_name(config: Mapping[str, str]) -> str | None:
    """The name the program gives the dispatch parameter (settings derive it once); None
    when no worker type runs on Batch."""
    batch = _settings(config).batch
    return batch.dispatch_parameter_name if batch else None


def save_config(stack_dir: Path, config: Mapping[str, str]) -> Path:
    """The stack's config as verify reads a saved stack's; the key is left out (adopt
    evaluates without it, `sandbox adopt` reads it back from its parameter)."""
    path = stack_dir / CONFIG_FILE
    write_atomic(path, json.dumps({k: v for k, v in config.items() if k != KEY}, indent=2,
                                  sort_keys=True) + "\n")
    return path


def make_legacy_account(mocks: MotoMocks, config: Mapping[str, str], key: str) -> list[str]:
    """The old scripts' account in moto, and the key in the parameter the stack will declare."""
    settings = _settings(config)
    net = mocks.network
    made = legacy.create(mocks.client, legacy.LegacyNames.from_settings(settings),
                         net.subnet_ids[0], net.security_group_ids[0], net.image_id,
                         settings.mode)
    mocks.client("ssm").put_parameter(Name=settings.publisher.key_parameter_name,
                                      Type="SecureString", Value=key)
    made.append(f"ssm {settings.publisher.key_parameter_name} (the internal key)")
    return made


def rendered_delivery_script(config: Mapping[str, str]) -> str:
    """The SSM document's script with the association's parameters, rendered from the settings
    alone: what the stack's document will run, before the stack exists."""
    api = _settings(config).api
    text = render_site(nginx_params(api))
    return document_script(document_content(text), {
        "TargetPath": api.nginx_config_path, "ReloadCommand": api.nginx_reload_command,
        "TestCommand": api.nginx_test_command, "ConfigSha256": config_sha256(text)})


def seed_legacy_queues(sqs: Any, config: Mapping[str, str],
                       store: VideoStore) -> dict[str, dict[str, int]]:
    """A few messages in each old queue: adoption must keep them (and the queue's URL). The
    video queue's are uploads the old fleet had not worked yet: videos in the API's DB, each
    dispatched to the fleet's queue, that must end DONE (adopting into batch mode drains them
    with videoDrain, never purges them)."""
    settings = _settings(config)
    names = legacy.LegacyNames.from_settings(settings)
    video = settings.batch.worker_type if settings.batch else None
    seeded = {}
    for wt in names.worker_types:
        url = sqs.get_queue_url(QueueName=names.queue(wt))["QueueUrl"]
        for n in range(LEGACY_MESSAGES):
            if wt != video:
                sqs.send_message(QueueUrl=url, MessageBody=f'{{"job": "legacy-{wt}-{n}"}}')
                continue
            video_id = store.add_video(f"{LEGACY_TITLE} {n}")
            sent = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"video_id": video_id}))
            store.record_dispatch(video_id, "asg", sent["MessageId"], None)
        seeded[wt] = {"visible": LEGACY_MESSAGES, "in_flight": 0}
    return seeded


def imported_ids(document: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """`pulumi import --file`'s reading of the bulk import file: (type, logical name) -> id;
    components carry no id (Pulumi makes them empty)."""
    return {(r["type"], r.get("logicalName") or r["name"]): r["id"]
            for r in document.get("resources", []) if not r.get("component")}


def run_verify_adopt(stacks_env: Mapping[str, str], import_path: Path, cwd: Path) -> None:
    """`python -m verify adopt --stack sandbox --import-file PATH`, its report passed through."""
    env = {**os.environ, **stacks_env}
    done = subprocess.run(
        [sys.executable, "-m", "verify", "adopt", "--stack", STACK, "--import-file",
         str(import_path)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    sys.stdout.flush()
    if done.returncode == 1:
        raise AdoptionRefused("verify adopt: a declared resource cannot be adopted (see above); "
                              "nothing was imported or deployed")
    if done.returncode != 0:
        raise RuntimeError(f"verify adopt failed (exit {done.returncode})")


class AdoptionUsageError(ValueError):
    """A `--set` that is not a valid stack setting (exit 2, nothing changed)."""


def apply_settings(stack_dir: Path, settings: Mapping[str, Any]) -> dict[str, str]:
    """`pulumi config set KEY VALUE` on the saved stack, before verify adopt reads it (e.g.
    `videoDrain true`, which verify adopt asks for when the old fleet's queue holds work):
    the whole config checked first, so a bad value changes nothing."""
    path = stack_dir / CONFIG_FILE
    config = json.loads(path.read_text())
    for key, value in settings.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        config[full] = ("true" if value else "false") if isinstance(value, bool) else (
            json.dumps(value) if isinstance(value, list | dict) else str(value))
    try:
        _settings(config)
    except SettingsError as exc:
        raise AdoptionUsageError("; ".join(exc.problems)) from None
    if settings:
        save_config(stack_dir, config)
    return config


def adopt(state_dir: Path | None = None,
          settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """verify adopt, then the rehearsed `pulumi import --file` and `pulumi up`; `settings`
    (`--set KEY=VALUE`) are set on the stack first, as `pulumi config set` would."""
    from sandbox import deployment, stack
    from sandbox.processes import ProcessRegistry
    from sandbox.state import PROJECT_ROOT, sandbox_state

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
    stack._say("sandbox: verify adopt --stack sandbox ...")
    run_verify_adopt(state.verify_env(), import_path, PROJECT_ROOT)
    timings["verify adopt"] = round(time.monotonic() - started, 2)

    env = moto_server.client_env(stack.aws_env(state)["AWS_ENDPOINT_URL"])
    config = json.loads((state.stack_dir / CONFIG_FILE).read_text())
    mocks = MotoMocks(env, adopted_ids=imported_ids(json.loads(import_path.read_text())))
    config[KEY] = mocks.client("ssm").get_parameter(
        Name=key_parameter_name(config), WithDecryption=True)["Parameter"]["Value"]
    t0 = time.monotonic()
    stack._say("sandbox: pulumi import --file + pulumi up (rehearsed: adopted resources "
               "updated to the program, the rest created) ...")
    outputs = deployment.deploy(mocks, config)
    timings["import + up"] = round(time.monotonic() - t0, 2)
    from sandbox import convergence

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
        stack._say(f"sandbox: {name} ...")
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

"""`up --legacy` and `adopt`: the sandbox rehearses taking over the account the old scripts made.

`up --legacy` makes the PowerShell-era account in moto (scenarios/legacy.py), saves the stack's
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.api_proxy import document_content, document_script, nginx_params
from contract.nginx_config import config_sha256, render_site
from sandbox.deployer.deployment import STACK
from sandbox.deployer.moto_mocks import MotoMocks
from sandbox.scenarios import legacy
from sandbox.services.internal_api import VideoStore
from sandbox.state import write_atomic
from stack_settings.parse import PROJECT, Settings, SettingsError, settings_from_config
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

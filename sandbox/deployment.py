"""Deploys the real program into the sandbox's moto server and delivers the nginx config.

The stack is one of the project's own (`prod` for batch mode, `prod-asg` for asg mode)
with the sandbox's addresses and moto's network put in its place, and any settings the user
adds (`up --set workerTypes='[...]'`); the program runs under `MotoMocks`, so every resource
it declares of a type moto knows is created there for real.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.api_proxy import document_script
from components.settings import PROJECT, SettingsError, settings_from_config
from components.stack_files import REHEARSAL_VALUES, stack_config
from sandbox import moto_server
from sandbox.moto_mocks import MotoMocks
from sandbox.nginx_server import NginxFiles
from sandbox.sshd_server import SshEndpoint
from verify.program_eval import run_program
from verify.transports.base import CommandResult
from verify.transports.ssh import SshEndpoint as SshAddress
from verify.transports.ssh import SshOptions, SshTransport

STACK = "sandbox"
BASE_STACKS = {"batch": "prod", "asg": "prod-asg"}
HOST_TAG = "Role=academy-api-sandbox"


@dataclass(frozen=True)
class SandboxAddresses:
    nginx_port: int
    api_port: int
    ssh: SshEndpoint  # the first API host: the delivery script runs there
    hosts: tuple[SshEndpoint, ...]  # every API host, each at its own loopback address

    @property
    def public_base_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def local_base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def sandbox_config(
    mode: str, addresses: SandboxAddresses, nginx: NginxFiles, mocks: MotoMocks, key: str,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The base stack's config with the sandbox's addresses, paths and moto's network, then
    the user's `settings` (plain keys, e.g. `workerTypes`)."""
    net = mocks.network
    overrides: dict[str, Any] = {
        **net.config_overrides(),
        "videoMode": mode,
        # moto's Batch runs no container; the stacks carry no image (it is the user's).
        "videoBatchImage": REHEARSAL_VALUES["videoBatchImage"],
        "backlogApiBaseUrl": addresses.public_base_url,  # the Lambda calls the public path
        "apiServerName": "localhost",
        "apiPublicBaseUrl": addresses.public_base_url,
        "apiLocalBaseUrl": addresses.local_base_url,
        "apiUpstream": f"127.0.0.1:{addresses.api_port}",
        "apiListenPort": addresses.nginx_port,
        "apiHostInstanceIds": [],
        "apiHostTag": HOST_TAG,
        "apiHostSsh": [f"{h.user}@{h.host}:{h.port}" for h in addresses.hosts],
        "nginxConfigPath": str(nginx.site),
        "nginxReloadCommand": nginx.reload_command,
        "nginxTestCommand": nginx.test_command,
        "nginxRuntimeDir": str(nginx.root),
        "internalApiKey": key,
    }
    config = stack_config(BASE_STACKS[mode], {**overrides, **(settings or {})})
    # moto knows only its own AMIs: every image key (each type's and the generic default,
    # so a type added by settings alone gets it too) names moto's.
    for full in [k for k in config if k.startswith(f"{PROJECT}:") and k.endswith("ImageId")]:
        config[full] = net.image_id
    try:
        settings_from_config(config, STACK)
    except SettingsError as exc:  # named as the sandbox's, not a Pulumi.sandbox.yaml
        problems = "\n".join(f"  - {p}" for p in exc.problems)
        raise ValueError(
            f"{len(exc.problems)} invalid sandbox setting(s) (Pulumi.{BASE_STACKS[mode]}.yaml "
            f"with the sandbox's addresses and your `up --set` values):\n{problems}\n"
            "Fix the --set values (JSON for lists: workerTypes='[\"ai\",\"video\"]').") from None
    return config


def parse_setting(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` of `up --set`: the value as JSON when it is JSON (lists, numbers,
    booleans), else the string itself."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set {text!r}: expected KEY=VALUE, e.g. "
                         "workerTypes='[\"ai\",\"messaging\",\"video\",\"thumbnail\"]'")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def deploy(mocks: MotoMocks, config: Mapping[str, str]) -> dict[str, Any]:
    """Runs the program into moto; returns the stack output (`{"academy": {...}}`)."""
    return run_program(mocks, STACK, config).outputs


def ssh_transport(ssh: SshEndpoint) -> SshTransport:
    """The API host as the verify toolkit reaches it: pinned host key, key-only login."""
    options = SshOptions(key_file=str(ssh.key_path), known_hosts=str(ssh.known_hosts_path))
    return SshTransport(SshAddress(ssh.host, ssh.port, ssh.user), options)


def delivery_script(env: Mapping[str, str], outputs: Mapping[str, Any]) -> str:
    """The script of the deployed SSM document with the association's parameters.

    The document is read back from the emulator, so what runs is what the program deployed.
    moto has no SSM associations: their parameters come from the stack output, which the
    program fills from the same settings.
    """
    ssm = moto_server.client(env, "ssm")
    nginx = outputs["academy"]["api"]["nginx"]
    content = json.loads(ssm.get_document(Name=nginx["document_name"])["Content"])
    parameters = {
        "TargetPath": nginx["config_path"],
        "ReloadCommand": nginx["reload_command"],
        "TestCommand": nginx["test_command"],
        "ConfigSha256": nginx["config_sha256"],
    }
    return document_script(content, parameters)


def deliver(env: Mapping[str, str], outputs: Mapping[str, Any], ssh: SshEndpoint) -> CommandResult:
    """Runs the deployed document's script on the API host over SSH, as SSM would."""
    return run_delivery(delivery_script(env, outputs), ssh)


def run_delivery(script: str, ssh: SshEndpoint) -> CommandResult:
    """Runs a delivery script on the API host over SSH, as SSM would on a real host."""
    transport = ssh_transport(ssh)
    try:
        return transport.run("sh -s", timeout=30, stdin=script)
    finally:
        transport.close()


def write_json(path: Path, data: Any) -> None:
    """A state file, written atomically (sandbox.state.write_atomic)."""
    from sandbox.state import write_atomic

    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

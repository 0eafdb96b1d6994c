"""The sandbox's AWS: a moto server on loopback, configured so Lambda and Batch need no Docker.

With `use_docker: false` moto 5.2.5 switches Lambda to its "simple" backend, a separate store:
functions created before the switch are not seen after it, so configure before creating anything.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from sandbox import processes
from sandbox.ports import LOOPBACK, free_port, wait_for_port
from sandbox.state import PROJECT_ROOT

REGION = "ap-northeast-2"
DUMMY_CREDENTIAL = "testing"
NO_DOCKER_CONFIG = {"batch": {"use_docker": False}, "lambda": {"use_docker": False}}
# AWS managed policies (arn:aws:iam::aws:policy/...) exist only with this set; the program
# attaches some (AmazonSSMManagedInstanceCore, AWSBatchServiceRole).
SERVER_ENV = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
MOTO_MODULE = "moto.server"


class MotoServerError(RuntimeError):
    """moto did not start or refused its configuration."""


def client_env(endpoint_url: str, region: str = REGION) -> dict[str, str]:
    """Environment for boto3 and the AWS CLI to talk to the moto server and nothing else."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
        "AWS_PAGER": "",
        # Everything of the sandbox is on loopback: never through a proxy of the shell.
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def client(env: Mapping[str, str], service: str) -> Any:
    """A boto3 client of the emulator described by `env` (as `client_env` returns it)."""
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@contextlib.contextmanager
def in_process() -> Iterator[str]:
    """A moto server in a thread of this process, on a free loopback port (tests, benches)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def render_env_file(env: dict[str, str]) -> str:
    lines = ["# Source me: `source .sandbox/env`, then use boto3 or the AWS CLI on the sandbox."]
    # A profile or session token from the user's shell would otherwise override the dummies.
    lines.append("unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN")
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    return "\n".join(lines) + "\n"


@dataclass
class MotoServer:
    port: int
    pid: int
    command: list[str]
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        return client_env(self.endpoint_url)

    def write_env_file(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_env_file(self.env()))
        return path

    def stop(self, timeout_s: float = 5.0) -> None:
        processes.terminate(self.pid, self._process, timeout_s)


def configure(endpoint_url: str, timeout_s: float = 20.0) -> dict[str, object]:
    """POST the no-Docker config, retrying until the server answers; returns moto's config."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = requests.post(
                f"{endpoint_url}/moto-api/config", json=NO_DOCKER_CONFIG, timeout=5
            )
            response.raise_for_status()
            applied = response.json()
        except requests.RequestException as exc:
            if time.monotonic() > deadline:
                raise MotoServerError(f"moto at {endpoint_url} did not answer: {exc}") from exc
            time.sleep(0.1)
            continue
        for service, wanted in NO_DOCKER_CONFIG.items():
            if applied.get(service) != wanted:
                raise MotoServerError(f"moto kept {service}={applied.get(service)}, not {wanted}")
        return applied


def start(
    log_path: Path,
    port: int | None = None,
    timeout_s: float = 30.0,
    registry: processes.ProcessRegistry | None = None,
    name: str = "moto",
    module: str = MOTO_MODULE,
) -> MotoServer:
    """Start `python -m moto.server` on 127.0.0.1:port, wait for it and switch off Docker.

    `module` may name a wrapper taking moto.server's arguments (sandbox.services.aws_emulator);
    it runs from the project root so `sandbox.*` imports.
    """
    port = port or free_port()
    command = [sys.executable, "-m", module, "-H", LOOPBACK, "-p", str(port)]
    env = {**os.environ, **SERVER_ENV}
    child = processes.launch(name, command, log_path, registry, env=env, cwd=PROJECT_ROOT)
    server = MotoServer(port, child.pid, command, log_path, child)
    try:
        if not wait_for_port(port, timeout_s) or child.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise MotoServerError(
                f"moto did not answer on {LOOPBACK}:{port} within {timeout_s}s; log:\n{tail}"
            )
        configure(server.endpoint_url)
    except BaseException:
        if registry is not None:
            registry.stop(name)
        server.stop()
        raise
    return server

"""The sandbox for end-to-end tests: up once per mode per test session, always torn down.

Imported by tests/conftest.py; lives in a private state directory so a sandbox the user
runs in `.sandbox/` is never touched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox import stack
from sandbox.processes import ProcessRegistry, is_alive
from sandbox.state import ENV_VAR, PROJECT_ROOT, SandboxState, sandbox_state

# What `sandbox upload` prints for each video.
UPLOADED = re.compile(r"^video (\d+): (asg|batch), (message|job) (\S+)$")


@dataclass
class RunningSandbox:
    mode: str
    state: SandboxState
    info: dict[str, Any]

    @property
    def outputs(self) -> dict[str, Any]:
        return json.loads(self.state.outputs_file.read_text())

    @property
    def academy(self) -> dict[str, Any]:
        return self.outputs["academy"]

    def client(self, service: str) -> Any:
        return stack.aws_client(self.state, service)

    def env(self) -> dict[str, str]:
        """The environment a user gets from `source .sandbox/env`, and where verify finds this
        sandbox's saved stack (`--stack sandbox`)."""
        from verify.outputs import parse_env_file

        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(parse_env_file(self.state.env_file))
        env[ENV_VAR] = str(self.state.root)
        env.update(self.state.verify_env())
        return env

    def invoke_publisher(self) -> tuple[str | None, dict[str, Any]]:
        answer = self.client("lambda").invoke(
            FunctionName=self.academy["publisher"]["function_name"], Payload=b"{}")
        return answer.get("FunctionError"), json.loads(answer["Payload"].read())


def start(mode: str, root: Path, hosts: int = 1,
          settings: dict[str, Any] | None = None) -> Iterator[RunningSandbox]:
    state = sandbox_state(root)
    try:
        info = stack.up(stack.UpOptions(mode=mode, hosts=hosts, settings=settings or {}), root)
        yield RunningSandbox(mode, state, info)
    finally:
        records = ProcessRegistry(state.pids_file).load() if state.pids_file.exists() else {}
        stack.down(root)
        left = [f"{r.name} (pid {r.pid})" for r in records.values() if is_alive(r.pid)]
        if left:
            pytest.fail(f"`down` left processes running: {', '.join(left)}")


def cli(sb: RunningSandbox, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", "--dir", str(sb.state.root), *args],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=timeout,
                          check=False)


def upload(sb: RunningSandbox, count: int) -> list[re.Match[str]]:
    done = cli(sb, "upload", str(count))
    assert done.returncode == 0, done.stderr
    found = [UPLOADED.match(line) for line in done.stdout.strip().splitlines()]
    assert len(found) == count and all(found), done.stdout
    return [m for m in found if m]

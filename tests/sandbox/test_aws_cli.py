"""The README's AWS CLI commands against the sandbox, with Debian's `awscli` (v2 before 2.13,
which ignores AWS_ENDPOINT_URL): `source .sandbox/env`, then `--endpoint-url`.

These stay although they run Debian's CLI: what they check is ours, the env file the sandbox
writes and the commands the README gives, which a CLI without AWS_ENDPOINT_URL support would
otherwise send to real AWS. They share the run's sandboxes, so they cost seconds."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from sandbox import stack
from tests.sandbox_e2e import RunningSandbox

DEBIAN_AWS = Path("/usr/bin/aws")


def aws(sandbox: RunningSandbox, command: str) -> subprocess.CompletedProcess[str]:
    """`source <env> && aws --endpoint-url "$AWS_ENDPOINT_URL" ...`, as the README says."""
    script = (f"source {shlex.quote(str(sandbox.state.env_file))} && "
              f'{DEBIAN_AWS} --endpoint-url "$AWS_ENDPOINT_URL" --output json {command}')
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


@pytest.fixture(autouse=True)
def _debian_cli() -> None:
    if not DEBIAN_AWS.exists():
        pytest.fail("Debian's awscli is missing: run `make system` (scripts/system-packages.sh)")


def test_the_cli_lists_the_sandbox_queues(sandbox: RunningSandbox) -> None:
    done = aws(sandbox, "sqs list-queues")
    assert done.returncode == 0, done.stderr
    urls = json.loads(done.stdout)["QueueUrls"]
    for worker in sandbox.academy["worker_types"].values():
        assert worker["queue"]["url"] in urls


def test_the_cli_reads_the_publisher_log_lines(sandbox: RunningSandbox) -> None:
    sandbox.invoke_publisher()
    function = sandbox.academy["publisher"]["function_name"]

    done = aws(sandbox, f"logs filter-log-events --log-group-name /aws/lambda/{function} "
                        "--filter-pattern '\"worker_types\"'")

    assert done.returncode == 0, done.stderr
    lines = [e["message"] for e in json.loads(done.stdout)["events"]]
    assert lines and all('"worker_types"' in line for line in lines)
    key = stack.internal_key(sandbox.state, sandbox.outputs)
    assert key not in "\n".join(lines)

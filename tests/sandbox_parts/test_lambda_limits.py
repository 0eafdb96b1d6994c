"""The sandbox's Lambda runtime holds a function to its MemorySize and Timeout, as Lambda does:
past its memory the runtime is killed ("Runtime exited with error: signal: killed"), past its
timeout the invocation is ended ("Task timed out after N seconds"); both are errors in the
answer, in AWS/Lambda Errors and in the function's log."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import pytest

from sandbox.services import lambda_runtime, memory_limit, moto_server
from tests.moto_reset import reset

HANDLER = '''
import time

def handler(event, context):
    held = []
    for _ in range(event.get("mb", 0)):
        chunk = bytearray(1024 * 1024)
        for i in range(0, len(chunk), 4096):
            chunk[i] = 1  # touched: resident, counted
        held.append(chunk)
    time.sleep(event.get("sleep", 0))
    return {"mb": len(held)}
'''
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
MEMORY_MB = 128


@pytest.fixture(scope="module")
def emulator(emulator: moto_server.MotoServer) -> dict[str, str]:
    """The session's emulator (tests/conftest.py), clean for this module."""
    reset(emulator)
    return emulator.env()

@pytest.fixture
def cgroups() -> None:
    reason = memory_limit.unavailable_reason()
    if reason:
        pytest.skip(f"no memory cgroup can be made on this machine: {reason}")


def deploy(env: dict[str, str], name: str, memory_mb: int = MEMORY_MB, timeout_s: int = 30
           ) -> Any:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lambda_function.py", HANDLER)
    role = moto_server.client(env, "iam").create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST)
    lam = moto_server.client(env, "lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role["Role"]["Arn"],
                        Handler="lambda_function.handler", MemorySize=memory_mb,
                        Timeout=timeout_s, Code={"ZipFile": archive.getvalue()})
    return lam


def log_text(env: dict[str, str], name: str) -> str:
    found = moto_server.client(env, "logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")
    return "\n".join(e["message"] for e in found["events"])


def errors_recorded(env: dict[str, str], name: str) -> float:
    cloudwatch = moto_server.client(env, "cloudwatch")
    now = time.time()
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=now - 600, EndTime=now + 600, Period=60, Statistics=["Sum"])["Datapoints"]
    return sum(p["Sum"] for p in points)


def test_a_function_within_its_memory_size_runs(emulator, cgroups) -> None:
    lam = deploy(emulator, "mem-within")

    answer = lam.invoke(FunctionName="mem-within", Payload=json.dumps({"mb": 40}).encode())

    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"mb": 40}
    assert f"Memory Size: {MEMORY_MB} MB" in log_text(emulator, "mem-within")


def test_a_function_past_its_memory_size_is_killed_as_lambda_does(emulator, cgroups) -> None:
    lam = deploy(emulator, "mem-past")

    answer = lam.invoke(FunctionName="mem-past", Payload=json.dumps({"mb": 300}).encode())

    assert answer.get("FunctionError") == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert error["errorMessage"].startswith("RequestId: ")
    assert error["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    text = log_text(emulator, "mem-past")
    assert "Runtime exited with error: signal: killed" in text
    assert f"Memory Size: {MEMORY_MB} MB\tMax Memory Used: {MEMORY_MB} MB" in text
    assert errors_recorded(emulator, "mem-past") == 1


def test_a_larger_memory_size_is_a_larger_limit(emulator, cgroups) -> None:
    lam = deploy(emulator, "mem-larger", memory_mb=512)

    answer = lam.invoke(FunctionName="mem-larger", Payload=json.dumps({"mb": 300}).encode())

    assert json.loads(answer["Payload"].read()) == {"mb": 300}


def test_a_function_past_its_timeout_is_ended_as_lambda_does(emulator) -> None:
    lam = deploy(emulator, "slow", timeout_s=1)

    started = time.monotonic()
    answer = lam.invoke(FunctionName="slow", Payload=json.dumps({"sleep": 30}).encode())
    took = time.monotonic() - started

    assert took < 10, f"the invocation ran {took:.1f}s past its 1 s timeout"
    assert answer.get("FunctionError") == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].startswith("RequestId: ")
    assert error["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    assert "Task timed out after 1.00 seconds" in log_text(emulator, "slow")
    assert errors_recorded(emulator, "slow") == 1


def _archive() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lambda_function.py", HANDLER)
    return archive.getvalue()


def test_without_cgroups_the_log_says_the_size_is_not_enforced(monkeypatch) -> None:
    def refuse(limit_mb: int, prefix: str = "") -> memory_limit.MemoryCgroup:
        raise memory_limit.MemoryLimitUnavailable("no cgroup v1 memory controller")

    monkeypatch.setattr(memory_limit, "create", refuse)
    lines: list[str] = []

    done = lambda_runtime.invoke_deployed_code(
        _archive(), "lambda_function.handler", {}, b'{"mb": 1}', 30, log=lines)

    assert (done.succeeded, json.loads(done.payload)) == (True, {"mb": 1})
    assert lines[0] == ("[WARNING] sandbox: memory size not enforced: "
                        "no cgroup v1 memory controller")


def test_a_cgroup_v2_is_made_under_the_own_one_with_memory_max(tmp_path, monkeypatch) -> None:
    """The unified hierarchy's files, as the kernel lays them out (no v2 memory controller on
    this machine to try it on)."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    own = tmp_path / "user.slice" / "test"
    own.mkdir(parents=True)
    (own / "cgroup.subtree_control").write_text("\n")
    (tmp_path / "self-cgroup").write_text("0::/user.slice/test\n")
    monkeypatch.setattr(memory_limit, "V2_ROOTS", (tmp_path,))
    monkeypatch.setattr(memory_limit, "PROC_SELF_CGROUP", tmp_path / "self-cgroup")

    group = memory_limit.create(128)

    assert (group.version, group.path.parent) == (2, own)
    assert (own / "cgroup.subtree_control").read_text() == "+memory"
    assert (group.path / "memory.max").read_text() == str(128 * 1024 * 1024)
    assert (group.path / "memory.swap.max").read_text() == "0"
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_killed()

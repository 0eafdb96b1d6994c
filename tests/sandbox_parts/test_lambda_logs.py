"""The sandbox's AWS emulator runs the deployed code and, as Lambda does, writes what the
handler logged to `/aws/lambda/<function>`: `aws logs filter-log-events` shows real lines."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from sandbox.services import moto_server
from tests.moto_reset import reset

HANDLER = '''
import json, logging
logger = logging.getLogger("queue_depth")
logger.setLevel(logging.INFO)

def handler(event, context):
    logger.info(json.dumps({"ok": True, "worker_types": {"video": {"value": 3}}}))
    if event.get("fail"):
        raise RuntimeError("backlog unavailable")
    return {"value": 3}
'''
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def emulator(emulator: moto_server.MotoServer) -> dict[str, str]:
    """The session's emulator (tests/conftest.py), clean for this module."""
    reset(emulator)
    return emulator.env()

def deploy(env: dict[str, str], name: str) -> Any:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lambda_function.py", HANDLER)
    role = moto_server.client(env, "iam").create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST)
    lam = moto_server.client(env, "lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role["Role"]["Arn"],
                        Handler="lambda_function.handler",
                        Code={"ZipFile": archive.getvalue()})
    return lam


def messages(env: dict[str, str], name: str, pattern: str = "") -> list[str]:
    logs = moto_server.client(env, "logs")
    kwargs = {"filterPattern": pattern} if pattern else {}
    found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", **kwargs)
    return [e["message"] for e in found["events"]]


def test_an_invocation_writes_its_log_lines_to_the_function_log_group(
    emulator: dict[str, str],
) -> None:
    lam = deploy(emulator, "logs-ok")

    answer = lam.invoke(FunctionName="logs-ok", Payload=b"{}")

    assert json.loads(answer["Payload"].read()) == {"value": 3}
    lines = messages(emulator, "logs-ok")
    assert lines[0].startswith("START RequestId: ")
    request_id = lines[0].split()[2]
    assert lines[-2] == f"END RequestId: {request_id}"
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}")
    logged = [line for line in lines if '"worker_types"' in line]
    assert len(logged) == 1 and logged[0].startswith("[INFO]\t") and request_id in logged[0]
    assert messages(emulator, "logs-ok", '"worker_types"') == logged


def test_a_failed_invocation_logs_its_traceback(emulator: dict[str, str]) -> None:
    lam = deploy(emulator, "logs-fail")

    answer = lam.invoke(FunctionName="logs-fail", Payload=b'{"fail": true}')

    assert answer.get("FunctionError") == "Unhandled"
    text = "\n".join(messages(emulator, "logs-fail"))
    assert "RuntimeError: backlog unavailable" in text
    assert '"worker_types"' in text


def test_the_logs_of_two_invocations_share_the_group(emulator: dict[str, str]) -> None:
    lam = deploy(emulator, "logs-twice")
    for _ in range(2):
        lam.invoke(FunctionName="logs-twice", Payload=b"{}")
    starts = [m for m in messages(emulator, "logs-twice") if m.startswith("START ")]
    assert len(starts) == 2 and starts[0] != starts[1]


"""A local Lambda runtime for the sandbox's moto server: Invoke runs the deployed code.

moto without Docker answers every Invoke with a canned string. The sandbox needs the real
thing (the forced datapoint of `verify metric`, the schedule, a stale deployment), so this
patches moto's Docker-less backend: Invoke unpacks the function's deployed zip (the bytes
moto holds, whose hash is its CodeSha256), runs `module.handler(event, context)` in a
fresh Python process with the function's environment, and answers like Lambda does:
the handler's JSON on success, `X-Amz-Function-Error: Unhandled` with errorMessage and
errorType on an exception. Each invocation also records AWS/Lambda Invocations and
Errors, which real Lambda publishes and `verify publisher` reads, and writes what the
handler logged to `/aws/lambda/<function>` (START, the log lines, END, REPORT), as Lambda
does, so `aws logs filter-log-events` and verify's hints show real lines.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

# Runs inside the child: import the handler module from the unpacked code and call it.
# Logging is set up as the Python runtime of Lambda does: the root logger writes
# "[LEVEL]\ttime\trequest id\tmessage" lines to the function's log.
_CHILD = r"""
import importlib, json, logging, sys, traceback
module_name, function_name, request_id = sys.argv[1].rsplit(".", 1) + [sys.argv[2]]
logging.basicConfig(
    stream=sys.stderr, level=logging.INFO,
    format="[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t" + request_id + "\t%(message)s",
    datefmt="%Y-%m-%dT%H:%M:%S")
logging.Formatter.converter = __import__("time").gmtime
event = json.loads(sys.stdin.read() or "{}")
try:
    handler = getattr(importlib.import_module(module_name), function_name)
    result = handler(event, None)
    sys.stdout.write("\n@@RESULT@@" + json.dumps(result))
except Exception as exc:
    sys.stderr.write(traceback.format_exc())
    error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    sys.stdout.write("\n@@ERROR@@" + json.dumps(error))
"""
MARKERS = ("\n@@RESULT@@", "\n@@ERROR@@")


def run_deployed_code(
    code_zip: bytes, handler: str, env: dict[str, str], event: bytes, timeout_s: float,
    request_id: str = "", log: list[str] | None = None,
) -> tuple[bool, bytes]:
    """Runs the handler of a deployment package; returns (succeeded, payload). The lines the
    handler wrote to stderr (its log) are appended to `log` when one is given."""
    with tempfile.TemporaryDirectory(prefix="lambda-task-") as task_root:
        zipfile.ZipFile(io.BytesIO(code_zip)).extractall(task_root)
        child_env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PATH"))}
        child_env.update(env)
        child_env.update({"PYTHONPATH": task_root, "PYTHONDONTWRITEBYTECODE": "1"})
        try:
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, handler, request_id or str(uuid.uuid4())],
                input=event or b"{}",
                capture_output=True,
                cwd=task_root,
                env=child_env,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            error = {"errorMessage": f"Task timed out after {timeout_s:.2f} seconds",
                     "errorType": "Sandbox.Timedout"}
            if log is not None:
                log.append(f"{request_id} {error['errorMessage']}")
            return False, json.dumps(error).encode()
    if log is not None:
        log.extend(line for line in done.stderr.decode(errors="replace").splitlines() if line)
    out = done.stdout.decode(errors="replace")
    for marker in MARKERS:
        if marker in out:
            return marker == MARKERS[0], out.rsplit(marker, 1)[1].encode()
    error = {"errorMessage": f"runtime exited with {done.returncode}: "
             f"{done.stderr.decode(errors='replace')[-500:]}", "errorType": "Runtime.ExitError"}
    return False, json.dumps(error).encode()


def _record_invocation(fn: Any, failed: bool) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[fn.account_id][fn.region]
    data = [  # no Timestamp: moto stamps the datum itself, in the form it compares against
        {"MetricName": name, "Value": value, "Unit": "Count",
         "Dimensions": [{"Name": "FunctionName", "Value": fn.function_name}]}
        for name, value in (("Invocations", 1.0), ("Errors", 1.0 if failed else 0.0))
    ]
    backend.put_metric_data("AWS/Lambda", data)


def _write_log(fn: Any, request_id: str, lines: list[str], started: float) -> None:
    """Appends one invocation's lines to the function's log group, creating the group and
    a stream as Lambda does on a container's first invocation."""
    from moto.logs.models import logs_backends

    backend = logs_backends[fn.account_id][fn.region]
    group = f"/aws/lambda/{fn.function_name}"
    if group not in backend.groups:
        backend.create_log_group(group, {})
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    stream = f"{day}/[$LATEST]{uuid.uuid5(uuid.NAMESPACE_URL, fn.function_arn).hex}"
    if stream not in backend.groups[group].streams:
        backend.create_log_stream(group, stream)
    elapsed_ms = (time.time() - started) * 1000
    framed = [f"START RequestId: {request_id} Version: $LATEST", *lines,
              f"END RequestId: {request_id}",
              f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms"]
    now_ms = int(time.time() * 1000)
    backend.put_log_events(group, stream, [{"timestamp": now_ms, "message": m} for m in framed])


def install() -> None:
    """Patches moto's Docker-less Lambda backend so Invoke runs the deployed code."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any,
               headers: Any, response_headers: dict[str, str]) -> bytes:
        fn = self.get_function(function_name, qualifier)
        endpoint = os.environ.get("SANDBOX_SELF_URL", "")
        env = {
            **(fn.environment_vars or {}),
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        if endpoint:
            env["AWS_ENDPOINT_URL"] = endpoint
        event = body.encode() if isinstance(body, str) else (body or b"")
        request_id, lines, started = str(uuid.uuid4()), [], time.time()
        ok, payload = run_deployed_code(
            fn.code_bytes, fn.handler, env, event, float(fn.timeout or 30), request_id, lines
        )
        _write_log(fn, request_id, lines, started)
        if not ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        _record_invocation(fn, failed=not ok)
        response_headers["Content-Length"] = str(len(payload))
        return payload

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

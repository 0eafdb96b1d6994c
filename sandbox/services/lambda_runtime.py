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

The function's MemorySize and Timeout hold as on Lambda: the runtime runs in a memory cgroup
of its own limited to MemorySize MB (sandbox/services/memory_limit.py; without cgroups the log says
the size is not enforced), and past it the kernel kills it: "Runtime exited with error:
signal: killed" (Runtime.OutOfMemory). At Timeout everything in the invocation is killed:
"Task timed out after N.00 seconds" (Sandbox.Timedout). REPORT carries Memory Size and Max
Memory Used.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.services import memory_limit

DEFAULT_MEMORY_MB = 128  # Lambda's default MemorySize
# Go's names (Lambda's runtime reports "signal: killed"), for the signals a runtime dies of.
_SIGNAL_NAMES = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault",
                 signal.SIGABRT: "aborted", signal.SIGTERM: "terminated"}

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


@dataclass
class Invocation:
    """What one run of the handler came to: Lambda's answer and its REPORT figures."""

    succeeded: bool
    payload: bytes
    memory_mb: int
    max_memory_mb: int | None = None
    limit: str = ""  # how the memory size was enforced, or why it was not


def _limited(limit_mb: int) -> tuple[memory_limit.MemoryCgroup | None, str]:
    try:
        group = memory_limit.create(limit_mb)
    except memory_limit.MemoryLimitUnavailable as exc:
        return None, f"memory size not enforced: {exc}"
    return group, f"memory cgroup v{group.version}"


def _kill_all(process: subprocess.Popen[bytes], group: memory_limit.MemoryCgroup | None) -> None:
    """End the runtime and anything it started (everything in its cgroup), as Lambda ends
    the whole sandbox."""
    pids = {process.pid}
    if group is not None:
        with contextlib.suppress(OSError, ValueError):
            pids |= {int(p) for p in group.procs.read_text().split()}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _lambda_error(request_id: str, what: str, error_type: str) -> bytes:
    return json.dumps({"errorMessage": f"RequestId: {request_id} Error: {what}",
                       "errorType": error_type}).encode()


def run_deployed_code(
    code_zip: bytes, handler: str, env: dict[str, str], event: bytes, timeout_s: float,
    request_id: str = "", log: list[str] | None = None, memory_mb: int = DEFAULT_MEMORY_MB,
) -> tuple[bool, bytes]:
    """Runs the handler of a deployment package; returns (succeeded, payload)."""
    done = invoke_deployed_code(code_zip, handler, env, event, timeout_s, request_id, log,
                                memory_mb)
    return done.succeeded, done.payload


def invoke_deployed_code(
    code_zip: bytes, handler: str, env: dict[str, str], event: bytes, timeout_s: float,
    request_id: str = "", log: list[str] | None = None, memory_mb: int = DEFAULT_MEMORY_MB,
) -> Invocation:
    """Runs the handler of a deployment package as Lambda would: in a process held to
    `memory_mb` (a memory cgroup of its own; killed past it) and ended at `timeout_s`. The
    lines the handler wrote to stderr (its log) are appended to `log` when one is given."""
    request_id = request_id or str(uuid.uuid4())
    lines: list[str] = log if log is not None else []
    group, how = _limited(memory_mb)
    if group is None:
        lines.append(f"[WARNING] sandbox: {how}")
    try:
        with tempfile.TemporaryDirectory(prefix="lambda-task-") as task_root:
            zipfile.ZipFile(io.BytesIO(code_zip)).extractall(task_root)
            child_env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PATH"))}
            child_env.update(env)
            child_env.update({"PYTHONPATH": task_root, "PYTHONDONTWRITEBYTECODE": "1",
                              "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)})
            command = [sys.executable, "-c", _CHILD, handler, request_id]
            if group is not None:  # the shell joins the cgroup, then becomes the runtime
                command = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group.procs),
                           *command]
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, cwd=task_root, env=child_env)
            try:
                out_b, err_b = process.communicate(event or b"{}", timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_all(process, group)
                process.communicate()
                what = f"Task timed out after {timeout_s:.2f} seconds"
                lines.append(f"{datetime.now(UTC).isoformat()} {request_id} {what}")
                return Invocation(False, _lambda_error(request_id, what, "Sandbox.Timedout"),
                                  memory_mb, group.peak_mb() if group else None, how)
        lines.extend(line for line in err_b.decode(errors="replace").splitlines() if line)
        peak = group.peak_mb() if group else None
        out = out_b.decode(errors="replace")
        for marker in MARKERS:
            if marker in out:
                payload = out.rsplit(marker, 1)[1].encode()
                return Invocation(marker == MARKERS[0], payload, memory_mb, peak, how)
        code = process.returncode
        status = (f"signal: {_SIGNAL_NAMES.get(-code, str(-code))}" if code < 0
                  else f"exit status {code}")
        what = f"Runtime exited with error: {status}"
        error_type = ("Runtime.OutOfMemory" if group is not None and group.oom_killed()
                      else "Runtime.ExitError")
        lines.extend([f"RequestId: {request_id} Error: {what}", error_type])
        return Invocation(False, _lambda_error(request_id, what, error_type), memory_mb,
                          memory_mb if error_type == "Runtime.OutOfMemory" else peak, how)
    finally:
        if group is not None:
            group.remove()


@functools.cache
def _self_client(service: str, region: str) -> Any:
    """A client of this same emulator through its public API (never moto's backends)."""
    import boto3

    return boto3.client(service, endpoint_url=os.environ["SANDBOX_SELF_URL"], region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _record_invocation(fn: Any, failed: bool) -> None:
    """Invocations and Errors, as Lambda publishes them (PutMetricData)."""
    _self_client("cloudwatch", fn.region).put_metric_data(Namespace="AWS/Lambda", MetricData=[
        # no Timestamp: moto stamps the datum itself, in the form it compares against
        {"MetricName": name, "Value": value, "Unit": "Count",
         "Dimensions": [{"Name": "FunctionName", "Value": fn.function_name}]}
        for name, value in (("Invocations", 1.0), ("Errors", 1.0 if failed else 0.0))])


def _write_log(fn: Any, request_id: str, lines: list[str], started: float,
               done: Invocation | None = None) -> None:
    """Appends one invocation's lines to the function's log group, creating the group and
    a stream as Lambda does on a container's first invocation (the Logs API)."""
    logs = _self_client("logs", fn.region)
    group = f"/aws/lambda/{fn.function_name}"
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    stream = f"{day}/[$LATEST]{uuid.uuid5(uuid.NAMESPACE_URL, fn.function_arn).hex}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    elapsed_ms = (time.time() - started) * 1000
    framed = [f"START RequestId: {request_id} Version: $LATEST", *lines,
              f"END RequestId: {request_id}",
              f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms"
              + (f"\tMemory Size: {done.memory_mb} MB" if done else "")
              + (f"\tMax Memory Used: {done.max_memory_mb} MB"
                 if done and done.max_memory_mb is not None else "")]
    now_ms = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": now_ms, "message": m} for m in framed])


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
        done = invoke_deployed_code(
            fn.code_bytes, fn.handler, env, event, float(fn.timeout or 3), request_id, lines,
            int(fn.memory_size or DEFAULT_MEMORY_MB),
        )
        ok, payload = done.succeeded, done.payload
        _write_log(fn, request_id, lines, started, done)
        if not ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        _record_invocation(fn, failed=not ok)
        response_headers["Content-Length"] = str(len(payload))
        return payload

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

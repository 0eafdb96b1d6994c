"""The publisher's schedule in the sandbox: moto never fires EventBridge rules.

Runs as its own process (`python -m sandbox.services.scheduler --function NAME --every S --state F`)
and invokes the deployed function every S seconds, as `rate(1 minute)` would, writing the
latest answer to F for `python -m sandbox status`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3


def invoke_once(client: object, function: str) -> dict[str, object]:
    started = time.monotonic()
    response = client.invoke(FunctionName=function, Payload=b"{}")  # type: ignore[attr-defined]
    payload = response["Payload"].read().decode(errors="replace")
    try:
        body: object = json.loads(payload)
    except json.JSONDecodeError:
        body = payload
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "function_error": response.get("FunctionError"),
        "payload": body,
        "duration_s": round(time.monotonic() - started, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.services.scheduler")
    parser.add_argument("--function", required=True)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    client = boto3.client("lambda")
    while not stopping:
        try:
            result = invoke_once(client, args.function)
        except Exception as exc:  # noqa: BLE001 - keep ticking; report what failed
            result = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "error": str(exc)}
        partial = args.state.with_suffix(".partial")
        partial.write_text(json.dumps(result, indent=2))
        partial.replace(args.state)
        deadline = time.monotonic() + args.every
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

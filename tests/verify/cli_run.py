"""`python -m verify` run as a user runs it, and the smallest valid outputs document: shared by
the CLI tests (test_cli.py and the tests of one rule through the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from contract import stack_output
from contract.stack_output import (
    Api,
    Counting,
    DeadLetterQueue,
    Metric,
    Nginx,
    Publisher,
    Queue,
    StackOutput,
    Worker,
)

ROOT = Path(__file__).resolve().parents[2]
KEY = "k3y-for-tests-0123456789abcdef"


def verify(*args: str, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "verify", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})}, check=False,
    )


def assert_one_clear_line(done: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert done.returncode == code, done
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr


def minimal_outputs(public_url: str = "http://127.0.0.1:9") -> dict:
    """The smallest valid document (`pulumi stack output --json`), built with the contract."""
    worker = Worker(
        label="AI", runs_on="fleet", backlog_source="sqs",
        queue=Queue("q", "http://127.0.0.1:9/q", "arn:q", 900, retained=False),
        dlq=DeadLetterQueue("d", "http://127.0.0.1:9/d", "arn:d", 5), max_job_s=600,
        metric=Metric("Academy/Workers", "QueueDepth", {"WorkerType": "AI"}, "Count"),
        published=True, counting=Counting(in_flight=True, delayed=False), backlog_api=False,
        fleet=None)
    outputs = StackOutput(
        schema_version=stack_output.SCHEMA_VERSION, project="academy-workers", stack="cli",
        mode="asg", region="ap-northeast-2", worker_types={"ai": worker},
        publisher=Publisher("f", "r", "x", "/academy/workers/internal-api-key", "s", "",
                            "lambda/queue_depth", {}),
        batch=None,
        api=Api(public_url, "http://127.0.0.1:9", None, [],
                Nginx("/x", "0" * 64, "nginx -t", "nginx -s reload", "", [])),
    )
    return {stack_output.OUTPUT_NAME: stack_output.to_plain(outputs)}

"""`python -m verify` as a user runs it, and the smallest valid outputs document: shared by the
CLI tests (test_cli.py and the tests of one rule through the CLI).

`verify(...)` runs the CLI's `main` in this process, with its own argv, environment, working
directory, stdout and stderr: what `python -m verify` runs (verify/__main__.py is
`sys.exit(main())`) without paying a Python start and the imports per call. `verify_process(...)`
starts the real process, for the tests of the process itself (the entry point, hanging inputs).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
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


@contextlib.contextmanager
def _environment(env: dict[str, str], clean: bool) -> Iterator[None]:
    saved = dict(os.environ)
    if clean:
        os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _Stream(io.StringIO):
    """A captured stream that is not a terminal (as under `subprocess.run(capture_output=True)`)."""

    def isatty(self) -> bool:
        return False


def verify(*args: str, env: dict[str, str] | None = None,
           clean: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m verify ARGS` in this process: the exit code main() returns (or argparse's
    SystemExit), and what it wrote. `env` is added to this process's environment, or with
    `clean` is all of it. An exception escaping main() fails the test, as the traceback it
    would print in a process does."""
    from verify import cli

    out, err = _Stream(), _Stream()
    with (_environment(env or {}, clean), contextlib.chdir(ROOT), contextlib.redirect_stdout(out),
          contextlib.redirect_stderr(err)):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    return subprocess.CompletedProcess(["verify", *args], code, out.getvalue(), err.getvalue())


def verify_process(*args: str, env: dict[str, str] | None = None,
                   timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m verify ARGS` as a process of its own."""
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

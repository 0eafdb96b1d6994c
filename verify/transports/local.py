"""Run commands on this machine (the runner is the API host, or tests)."""

import subprocess

from verify.errors import TransportError
from verify.transports.base import RawResult, Transport


class LocalTransport(Transport):
    name = "local"

    def __init__(self, target: str = "localhost", default_timeout_s: float = 20.0) -> None:
        super().__init__(default_timeout_s)
        self.target = target

    def _execute(self, command: str, timeout: float, stdin: bytes | None) -> RawResult:
        try:
            done = subprocess.run(
                ["/bin/sh", "-c", command],
                input=stdin if stdin is not None else b"",
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TransportError(
                f"timed out after {timeout:g}s running a command on {self.target}",
                "the command hung; run it by hand on the host to see why",
            ) from exc
        return done.returncode, done.stdout, done.stderr

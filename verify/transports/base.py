"""The narrow interface every host transport implements: run a command, get rc/stdout/stderr.

Quoting, default timeouts and decoding live here once; subclasses only move bytes.
"""

import shlex
from dataclasses import dataclass

DEFAULT_COMMAND_TIMEOUT_S = 20.0
# The checks' commands print a few lines; a host that floods must not exhaust verify's memory.
MAX_OUTPUT_BYTES = 4 * 2**20  # stdout and stderr together
RawResult = tuple[int, bytes, bytes]  # rc, stdout, stderr before decoding


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def command_text(command: str | list[str]) -> str:
    """A list is quoted word by word; a string is passed to the remote shell as written."""
    if isinstance(command, str):
        return command
    return shlex.join(command)


def decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


class Transport:
    """Runs shell commands on one host. `stdin` carries data (like the internal key) that
    must not appear on a command line."""

    name = "transport"
    target = ""

    def __init__(self, default_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S) -> None:
        self.default_timeout_s = default_timeout_s

    def run(
        self,
        command: str | list[str],
        timeout: float | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        text = command_text(command)
        limit = self.default_timeout_s if timeout is None else max(0.1, float(timeout))
        data = stdin.encode("utf-8") if stdin is not None else None
        rc, out, err = self._execute(text, limit, data)
        return CommandResult(rc, decode(out), decode(err))

    def _execute(self, command: str, timeout: float, stdin: bytes | None) -> RawResult:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; safe to call twice."""

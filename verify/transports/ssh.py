"""SSH with paramiko: each command is a channel on the host's shared connection.

The connection itself (key file or agent, optional jump host, pinned host keys) is made in
ssh_connections.py, once per host per run.
"""

import select
import time

import paramiko

from verify.errors import TransportError
from verify.transports.base import MAX_OUTPUT_BYTES, RawResult, Transport
from verify.transports.ssh_connections import (
    SshConnections,
    SshEndpoint,
    SshOptions,
    parse_endpoint,
    resolve_user,
)

__all__ = ["SshEndpoint", "SshOptions", "SshTransport", "parse_endpoint"]

_CHUNK = 65536


class _Timeout(Exception):
    """The command's deadline passed; turned into a TransportError that names the host."""


class _TooMuchOutput(Exception):
    pass


def _read_to_eof(channel: paramiko.Channel, deadline: float) -> tuple[bytes, bytes]:
    """Both streams until EOF, within the deadline and the output bound.

    The exit status may arrive before the last output (sshd sends it when the command exits,
    while its pipe, or a child still writing, has more), so the end is EOF, never the status.
    """
    channel.settimeout(0.0)  # recv: data, b"" at EOF, or socket.timeout when nothing yet
    readers = {"stdout": channel.recv, "stderr": channel.recv_stderr}
    chunks: dict[str, list[bytes]] = {name: [] for name in readers}
    open_streams = set(readers)
    size = 0
    while open_streams:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout
        # The channel's fileno is readable while either stream has data or is at EOF.
        readable, _, _ = select.select([channel], [], [], remaining)
        if not readable:
            continue
        for name in sorted(open_streams):
            try:
                data = readers[name](_CHUNK)
            except TimeoutError:
                continue
            if not data:
                open_streams.discard(name)
                continue
            chunks[name].append(data)
            size += len(data)
            if size > MAX_OUTPUT_BYTES:
                raise _TooMuchOutput
    return b"".join(chunks["stdout"]), b"".join(chunks["stderr"])


def _send_eof(channel: paramiko.Channel) -> None:
    """channel.shutdown_write(), but sent under the channel's lock: paramiko builds the EOF
    under it and sends it after, so a quick command's CLOSE, answered meanwhile by paramiko's
    own thread, can go first; sshd then drops the whole shared connection ("ieof packet
    referred to nonexistent channel", paramiko issues 1115 and 1705)."""
    with channel.lock:
        message = channel._send_eof()  # noqa: SLF001 (the fix needs the message under the lock)
        if message is not None:
            channel.transport._send_user_message(message)  # noqa: SLF001


def _exit_status(channel: paramiko.Channel, deadline: float) -> int:
    # status_event is set by the exit-status message or by the channel closing (then -1).
    if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
        raise _Timeout
    return channel.recv_exit_status()


class SshTransport(Transport):
    name = "ssh"

    def __init__(
        self,
        endpoint: SshEndpoint,
        options: SshOptions,
        default_timeout_s: float = 20.0,
        connections: SshConnections | None = None,
    ) -> None:
        """`connections` is the run's pool (shared, closed by its owner); without one the
        transport keeps a private connection and close() ends it."""
        super().__init__(default_timeout_s)
        self.endpoint = resolve_user(endpoint, options)
        self.options = options
        self.target = str(self.endpoint)
        self._owns_connections = connections is None
        self._connections = connections if connections is not None else SshConnections()

    def _execute(self, command: str, timeout: float, stdin: bytes | None) -> RawResult:
        deadline = time.monotonic() + timeout
        try:
            with self._connections.session(self.endpoint, self.options, timeout) as channel:
                channel.exec_command(command)
                if stdin:
                    channel.settimeout(max(0.001, deadline - time.monotonic()))
                    channel.sendall(stdin)
                _send_eof(channel)
                out, err = _read_to_eof(channel, deadline)
                return _exit_status(channel, deadline), out, err
        except (_Timeout, TimeoutError):
            raise TransportError(
                f"timed out after {timeout:g}s running a command on {self.target}",
                "the command hung (or a child it started kept its output open); "
                "run it by hand on the host to see why",
            ) from None
        except _TooMuchOutput:
            raise TransportError(
                f"a command on {self.target} printed more than "
                f"{MAX_OUTPUT_BYTES // 2**20} MiB; its output was not read to the end",
                "the checks' commands print a few lines: run it by hand on the host "
                "to see what floods the output",
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(
                f"ssh session to {self.target} failed: {exc}", "check the host's sshd"
            ) from exc

    def close(self) -> None:
        if self._owns_connections:
            self._connections.close()

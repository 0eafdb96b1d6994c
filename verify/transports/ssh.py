"""SSH with paramiko: key file or agent, optional jump host, pinned host keys.

Unknown host keys are refused unless the caller opted in (`accept_new_host_keys`); a key
that differs from the pinned one is always refused.
"""

import getpass
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from verify.errors import TransportError
from verify.transports.base import RawResult, Transport

_POLL_S = 0.003


@dataclass(frozen=True)
class SshEndpoint:
    host: str
    port: int = 22
    user: str | None = None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}"


@dataclass(frozen=True)
class SshOptions:
    key_file: str | None = None
    user: str | None = None
    known_hosts: str | None = None
    accept_new_host_keys: bool = False
    jump_host: SshEndpoint | None = None
    connect_timeout_s: float = 10.0


def parse_endpoint(text: str, default_port: int = 22) -> SshEndpoint:
    """`[user@]host[:port]`, the form of --jump-host."""
    user, _, rest = text.rpartition("@")
    host, sep, port = rest.partition(":")
    if not host or (sep and not port.isdigit()):
        raise ValueError(f"expected [user@]host[:port], got {text!r}")
    return SshEndpoint(host, int(port) if sep else default_port, user or None)


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, host: str, key: paramiko.PKey) -> None:
        super().__init__(f"unknown host key for {host}")
        self.host = host
        self.fingerprint = key.fingerprint


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):  # noqa: ANN001 (paramiko's signature)
        raise _UnknownHostKey(hostname, key)


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Trust a key never seen before for this run only; the known_hosts file is not written."""

    def missing_host_key(self, client, hostname, key):  # noqa: ANN001
        client.get_host_keys().add(hostname, key.get_name(), key)


class SshTransport(Transport):
    name = "ssh"

    def __init__(
        self, endpoint: SshEndpoint, options: SshOptions, default_timeout_s: float = 20.0
    ) -> None:
        super().__init__(default_timeout_s)
        user = options.user or endpoint.user or getpass.getuser()
        self.endpoint = SshEndpoint(endpoint.host, endpoint.port, user)
        self.options = options
        self.target = str(self.endpoint)
        self._lock = threading.Lock()
        self._clients: list[paramiko.SSHClient] = []
        self._transport: paramiko.Transport | None = None
        self._failure: TransportError | None = None

    # -- connection -------------------------------------------------------------------
    def _new_client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.options.known_hosts:
            path = Path(self.options.known_hosts).expanduser()
            if path.exists():
                client.load_host_keys(str(path))
            elif not self.options.accept_new_host_keys:
                raise TransportError(
                    f"known_hosts file {path} does not exist",
                    "pass --known-hosts FILE with the hosts' keys, or --accept-new-host-keys",
                )
        else:
            client.load_system_host_keys()
        client.set_missing_host_key_policy(
            _AcceptNew() if self.options.accept_new_host_keys else _RejectUnknown()
        )
        self._clients.append(client)
        return client

    def _connect_client(
        self, client: paramiko.SSHClient, endpoint: SshEndpoint, sock: object | None = None
    ) -> None:
        timeout = self.options.connect_timeout_s
        key_file = self.options.key_file
        try:
            client.connect(
                endpoint.host,
                port=endpoint.port,
                username=endpoint.user or self.endpoint.user,
                key_filename=key_file,
                allow_agent=key_file is None,
                look_for_keys=key_file is None,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                sock=sock,
            )
        except _UnknownHostKey as exc:
            raise TransportError(
                f"unknown host key for {exc.host} (pass --accept-new-host-keys to trust it)",
                f"check the fingerprint {exc.fingerprint} out of band, then add it to the "
                f"known_hosts file (ssh-keyscan -p {endpoint.port} {endpoint.host} >> FILE)",
            ) from None
        except paramiko.BadHostKeyException as exc:
            raise TransportError(
                f"host key mismatch for {endpoint.host}: it differs from the pinned key",
                "if the host was rebuilt, replace its line in the known_hosts file; "
                "otherwise treat it as an attack",
            ) from exc
        except paramiko.AuthenticationException as exc:
            raise TransportError(
                f"key refused by {endpoint}",
                "check --ssh-key/--ssh-user and the host's authorized_keys",
            ) from exc
        except paramiko.ssh_exception.NoValidConnectionsError as exc:
            raise TransportError(
                f"host unreachable: {endpoint.host}:{endpoint.port} refused the connection",
                "is sshd running and the port open (security group)? or use --transport ssm",
            ) from exc
        except TimeoutError as exc:
            raise TransportError(
                f"timed out connecting to {endpoint.host}:{endpoint.port} after {timeout:g}s",
                "the host is down or a firewall drops the traffic; or use --transport ssm",
            ) from exc
        except OSError as exc:
            raise TransportError(
                f"host unreachable: {endpoint.host}:{endpoint.port} ({exc.strerror or exc})",
                "check the address, DNS and routing, or use --jump-host / --transport ssm",
            ) from exc
        except (paramiko.SSHException, EOFError, ValueError) as exc:
            # A server that accepts but never speaks SSH: the banner wait ends the session.
            session = client.get_transport()
            if session is None or not session.is_active() or not session.remote_version:
                raise TransportError(
                    f"timed out waiting for an SSH banner from {endpoint.host}:{endpoint.port} "
                    f"after {timeout:g}s",
                    "something answers on that port but it is not a working sshd",
                ) from exc
            if "authentication methods" in str(exc):
                raise TransportError(
                    f"key refused by {endpoint}: no key to offer",
                    "pass --ssh-key FILE or load the key into ssh-agent",
                ) from exc
            raise TransportError(
                f"ssh to {endpoint} failed: {exc}",
                "check the key file and the host's sshd",
            ) from exc

    def _connected(self) -> paramiko.Transport:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._transport is not None and self._transport.is_active():
                return self._transport
            try:
                sock = None
                if self.options.jump_host is not None:
                    jump = self._new_client()
                    self._connect_client(jump, self.options.jump_host)
                    try:
                        sock = jump.get_transport().open_channel(
                            "direct-tcpip",
                            (self.endpoint.host, self.endpoint.port),
                            ("127.0.0.1", 0),
                            timeout=self.options.connect_timeout_s,
                        )
                    except (paramiko.SSHException, OSError) as exc:
                        raise TransportError(
                            f"host unreachable: jump host {self.options.jump_host} could not "
                            f"open a channel to {self.endpoint.host}:{self.endpoint.port} ({exc})",
                            "check the target address from the jump host and its firewall",
                        ) from exc
                client = self._new_client()
                self._connect_client(client, self.endpoint, sock)
            except TransportError as exc:
                # Remembered so every later check on this host fails at once with the same reason.
                self._failure = exc
                raise
            self._transport = client.get_transport()
            return self._transport

    # -- commands ---------------------------------------------------------------------
    def _execute(self, command: str, timeout: float, stdin: bytes | None) -> RawResult:
        transport = self._connected()
        deadline = time.monotonic() + timeout
        try:
            channel = transport.open_session(timeout=timeout)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out: list[bytes] = []
            err: list[bytes] = []
            while True:
                if channel.recv_ready():
                    out.append(channel.recv(65536))
                elif channel.recv_stderr_ready():
                    err.append(channel.recv_stderr(65536))
                elif channel.exit_status_ready():
                    break
                elif time.monotonic() > deadline:
                    channel.close()
                    raise TransportError(
                        f"timed out after {timeout:g}s running a command on {self.target}",
                        "the command hung; run it by hand on the host to see why",
                    )
                else:
                    time.sleep(_POLL_S)
            rc = channel.recv_exit_status()
            channel.close()
            return rc, b"".join(out), b"".join(err)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(
                f"ssh session to {self.target} failed: {exc}", "check the host's sshd"
            ) from exc

    def close(self) -> None:
        with self._lock:
            for client in reversed(self._clients):
                client.close()
            self._clients.clear()
            self._transport = None

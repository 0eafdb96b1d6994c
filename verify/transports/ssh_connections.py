"""The run's SSH connections: one per host, shared by every check that needs that host.

A host is its address as SSH sees it (user, host, port, the jump host, the key options), not
its name in the stack outputs: two entries for one address share one connection, and every
target behind one jump host shares one connection to it. Checks run in parallel threads; each
command is its own channel on the shared paramiko Transport.

Unknown host keys are refused unless the caller opted in (`accept_new_host_keys`); a key
that differs from the pinned one is always refused.
"""

from __future__ import annotations

import getpass
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import paramiko

from verify.errors import TransportError

# OpenSSH refuses more than MaxSessions (default 10) open sessions on one connection; a refused
# channel would be a false FAIL, so commands beyond this many at once wait for a free one.
SESSIONS_PER_CONNECTION = 8


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


def resolve_user(endpoint: SshEndpoint, options: SshOptions) -> SshEndpoint:
    """The login actually used: --ssh-user, else the host entry's, else the local user."""
    user = options.user or endpoint.user or getpass.getuser()
    return SshEndpoint(endpoint.host, endpoint.port, user)


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


def _new_client(options: SshOptions) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if options.known_hosts:
        path = Path(options.known_hosts).expanduser()
        if path.exists():
            client.load_host_keys(str(path))
        elif not options.accept_new_host_keys:
            raise TransportError(
                f"known_hosts file {path} does not exist",
                "pass --known-hosts FILE with the hosts' keys, or --accept-new-host-keys",
            )
    else:
        client.load_system_host_keys()
    client.set_missing_host_key_policy(
        _AcceptNew() if options.accept_new_host_keys else _RejectUnknown()
    )
    return client


def _connect(
    client: paramiko.SSHClient, endpoint: SshEndpoint, options: SshOptions,
    sock: paramiko.Channel | None = None,
) -> None:
    """Log in, or raise a TransportError that says what failed and what to do."""
    timeout = options.connect_timeout_s
    key_file = options.key_file
    try:
        client.connect(
            endpoint.host,
            port=endpoint.port,
            username=endpoint.user,
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


def _open_session(transport: paramiko.Transport, deadline: float) -> paramiko.Channel:
    pause = 0.01
    while True:
        try:
            return transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
        except paramiko.SSHException:
            # sshd frees a session a moment after our close arrives, so a new channel can
            # still meet MaxSessions; nothing ran on the refused one, so opening again is safe.
            # (Under concurrency paramiko may hand the refusal's reason to another thread and
            # raise a bare SSHException here, hence not only ChannelException.)
            if not transport.is_active() or time.monotonic() + pause >= deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, 0.2)


@dataclass
class _Connection:
    """One host's connection; its lock lets other hosts connect at the same time."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(SESSIONS_PER_CONNECTION)
    )
    client: paramiko.SSHClient | None = None
    # Remembered so every later command on this host fails at once with the same reason.
    failure: TransportError | None = None


class SshConnections:
    """Opens at most one connection per host and keeps it until close() (the end of the run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[tuple[SshEndpoint, SshOptions], _Connection] = {}
        self._opened: list[paramiko.SSHClient] = []  # in order, so close() ends targets first

    def _entry(self, endpoint: SshEndpoint, options: SshOptions) -> _Connection:
        with self._lock:
            return self._connections.setdefault((endpoint, options), _Connection())

    def transport(self, endpoint: SshEndpoint, options: SshOptions) -> paramiko.Transport:
        """The live connection to `endpoint` (with its user resolved), opened on first use."""
        entry = self._entry(endpoint, options)
        with entry.lock:
            if entry.failure is not None:
                raise entry.failure
            if entry.client is not None:
                live = entry.client.get_transport()
                if live is not None and live.is_active():
                    return live
            try:
                entry.client = self._open(endpoint, options)
            except TransportError as exc:
                entry.failure = exc
                raise
            return entry.client.get_transport()

    def _open(self, endpoint: SshEndpoint, options: SshOptions) -> paramiko.SSHClient:
        sock = None
        jump = options.jump_host
        if jump is not None:
            jump = SshEndpoint(jump.host, jump.port, jump.user or endpoint.user)
            # The jump host's own connection is pooled too: every target reuses it.
            through = self.transport(jump, replace(options, jump_host=None, user=None))
            try:
                sock = through.open_channel(
                    "direct-tcpip",
                    (endpoint.host, endpoint.port),
                    ("127.0.0.1", 0),
                    timeout=options.connect_timeout_s,
                )
            except (paramiko.SSHException, OSError) as exc:
                raise TransportError(
                    f"host unreachable: jump host {options.jump_host} could not "
                    f"open a channel to {endpoint.host}:{endpoint.port} ({exc})",
                    "check the target address from the jump host and its firewall",
                ) from exc
        client = _new_client(options)
        with self._lock:
            self._opened.append(client)
        _connect(client, endpoint, options, sock)
        raw = client.get_transport().sock
        if isinstance(raw, socket.socket):
            # Nagle's algorithm holds paramiko's small writes for the server's delayed ACK:
            # about 40 ms on every command's channel open, measured on loopback.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

    @contextmanager
    def session(
        self, endpoint: SshEndpoint, options: SshOptions, timeout: float
    ) -> Iterator[paramiko.Channel]:
        """A new channel on the host's shared connection, closed on leaving the block."""
        entry = self._entry(endpoint, options)
        transport = self.transport(endpoint, options)
        if not entry.sessions.acquire(timeout=timeout):
            raise TransportError(
                f"timed out after {timeout:g}s waiting for a free SSH session on {endpoint}",
                f"each host runs at most {SESSIONS_PER_CONNECTION} commands at once; "
                "lower --parallel or raise --timeout",
            )
        try:
            channel = _open_session(transport, time.monotonic() + timeout)
            try:
                yield channel
            finally:
                channel.close()
        finally:
            entry.sessions.release()

    def close(self) -> None:
        """Close every connection; safe to call twice. A later command would reconnect."""
        with self._lock:
            opened, self._opened = self._opened, []
            self._connections.clear()
        for client in reversed(opened):
            client.close()

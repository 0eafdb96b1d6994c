"""Pick a transport for an API host entry (the contract's `Host`: name, instance_id, ssh).

Checks call `HostTransports.for_host(entry)` and never see paramiko or the SSM client.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contract.stack_output import Host
from verify.errors import TransportError
from verify.transports.base import CommandResult, Transport
from verify.transports.local import LocalTransport
from verify.transports.ssh import SshEndpoint, SshOptions, SshTransport
from verify.transports.ssh_connections import SshConnections
from verify.transports.ssm import SsmTransport

__all__ = [
    "CommandResult",
    "HostTransports",
    "Transport",
    "TransportError",
    "TransportOptions",
    "transport_for",
]

MODES = ("auto", "ssh", "ssm", "local")


@dataclass(frozen=True)
class TransportOptions:
    mode: str = "auto"
    ssh: SshOptions = field(default_factory=SshOptions)
    command_timeout_s: float = 20.0


def transport_for(
    host: Host,
    options: TransportOptions,
    ssm_client: Callable[[], Any] | None = None,
    ssh_connections: SshConnections | None = None,
) -> Transport:
    name = host.name or host.instance_id or "host"
    ssh = host.ssh
    instance_id = host.instance_id
    mode = options.mode
    if mode == "auto":
        mode = "ssh" if ssh else "ssm" if instance_id else ""
    if mode == "local":
        return LocalTransport(name, options.command_timeout_s)
    if mode == "ssh":
        if not ssh:
            raise TransportError(
                f"host {name} has no ssh address in the stack outputs",
                "use --transport ssm (it has an instance_id) or add ssh to the host entry",
            )
        endpoint = SshEndpoint(ssh.host, ssh.port or 22, ssh.user or None)
        return SshTransport(endpoint, options.ssh, options.command_timeout_s, ssh_connections)
    if mode == "ssm":
        if not instance_id:
            raise TransportError(
                f"host {name} has no instance_id in the stack outputs",
                "use --transport ssh (with an ssh address) or --transport local",
            )
        if ssm_client is None:
            raise TransportError("no SSM client available", "check AWS configuration")
        return SsmTransport(instance_id, ssm_client(), max(options.command_timeout_s, 30.0))
    raise TransportError(
        f"host {name} has neither an ssh address nor an instance_id",
        "the stack outputs' api.hosts entries need one of them",
    )


class HostTransports:
    """One transport per host entry for the whole run; over SSH they share one connection per
    host address (entries that name the same address included), closed by close()."""

    def __init__(self, options: TransportOptions, ssm_client: Callable[[], Any] | None = None):
        self.options = options
        self._ssm_client = ssm_client
        self._lock = threading.Lock()
        self._by_host: dict[str, Transport] = {}
        self._ssh = SshConnections()

    def for_host(self, host: Host) -> Transport:
        key = str(host.name or host.instance_id or host.ssh)
        with self._lock:
            if key not in self._by_host:
                self._by_host[key] = transport_for(
                    host, self.options, self._ssm_client, self._ssh
                )
            return self._by_host[key]

    def close(self) -> None:
        with self._lock:
            for transport in self._by_host.values():
                transport.close()
            self._by_host.clear()
        self._ssh.close()

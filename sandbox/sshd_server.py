"""A real sshd on loopback: the sandbox API hosts, with a pinned host key and a client key.

Each API host is its own sshd at its own loopback address (127.0.0.1, 127.0.0.2, ...: Linux
routes all of 127.0.0.0/8 to lo), on one port, so N hosts are N SSH servers to a client
(verify opens one connection per address) and cost N handshakes. One sshd per address, not
one with N ListenAddress lines: sshd listens on at most 16 sockets (MAX_LISTEN_SOCKS). The
hosts share the state directory's keys; the known_hosts file pins the host key for each
address, and each sshd logs (LogLevel VERBOSE) the address each connection came in on.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import processes
from sandbox.ports import LOOPBACK, free_port_on, loopback_addresses, wait_for_port

SSHD_BINARY = Path("/usr/sbin/sshd")
SSH_KEYGEN = "ssh-keygen"
# sshd's privilege separation chroots here; it must exist before sshd starts.
PRIVSEP_DIR = Path("/run/sshd")


class SshdError(RuntimeError):
    """sshd could not be prepared or did not come up; the message says what to do."""


@dataclass(frozen=True)
class SshEndpoint:
    """What a client needs to reach the host: address, login, key and the pinned host key."""

    host: str
    port: int
    user: str
    key_path: Path
    known_hosts_path: Path


@dataclass(frozen=True)
class SshdFiles:
    """The files of one sshd instance, all inside its state directory."""

    state_dir: Path
    host_key: Path
    client_key: Path
    authorized_keys: Path
    known_hosts: Path
    config: Path
    pid_file: Path
    log: Path

    @classmethod
    def under(cls, state_dir: Path, name: str = "sshd") -> SshdFiles:
        """The shared keys of `state_dir`, and the config, pid file and log of sshd `name`."""
        d = state_dir.resolve()
        return cls(
            state_dir=d,
            host_key=d / "ssh_host_ed25519_key",
            client_key=d / "client_ed25519_key",
            authorized_keys=d / "authorized_keys",
            known_hosts=d / "known_hosts",
            config=d / f"{name}_config",
            pid_file=d / f"{name}.pid",
            log=d / f"{name}.log",
        )


@dataclass
class SshdServer:
    """A running sshd started by this process; stop() ends it by its PID."""

    files: SshdFiles
    port: int
    user: str
    pid: int
    command: list[str]
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    address: str = LOOPBACK

    @property
    def endpoint(self) -> SshEndpoint:
        return SshEndpoint(
            host=self.address,
            port=self.port,
            user=self.user,
            key_path=self.files.client_key,
            known_hosts_path=self.files.known_hosts,
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        processes.terminate(self.pid, self._process, timeout_s)


def current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _keygen(path: Path, comment: str) -> None:
    if path.exists():
        return
    result = subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SshdError(f"ssh-keygen failed for {path}: {result.stderr.strip()}")


def _public_key(private_key: Path) -> str:
    return Path(f"{private_key}.pub").read_text().strip()


def render_config(files: SshdFiles, port: int, address: str = LOOPBACK) -> str:
    return "\n".join(
        [
            f"ListenAddress {address}",
            f"Port {port}",
            f"HostKey {files.host_key}",
            f"PidFile {files.pid_file}",
            f"AuthorizedKeysFile {files.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            # The key files may live under a world-writable directory such as /tmp.
            "StrictModes no",
            "UsePAM no",
            "PrintMotd no",
            # VERBOSE: "Connection from ... on ADDRESS port PORT", the host each login reached.
            "LogLevel VERBOSE",
            # Fleet measurements open many sessions at once.
            "MaxStartups 100:30:200",
            # bash run by sshd reads ~/.bashrc only at shell level 1: the developer's
            # interactive setup (pyenv init here) is not part of the API host being modelled.
            "SetEnv SHLVL=1",
            "",
        ]
    )


def pin_host_keys(files: SshdFiles, port: int, addresses: tuple[str, ...]) -> None:
    """known_hosts: the host key pinned for port on each of `addresses`."""
    key_type, key = _public_key(files.host_key).split()[:2]
    files.known_hosts.write_text(
        "".join(f"[{address}]:{port} {key_type} {key}\n" for address in addresses))


def prepare(state_dir: Path, port: int, address: str = LOOPBACK, name: str = "sshd") -> SshdFiles:
    """Generate keys (once) and write authorized_keys, known_hosts (this address) and the
    config of sshd `name` for address:port."""
    files = SshdFiles.under(state_dir, name)
    files.state_dir.mkdir(parents=True, exist_ok=True)
    _keygen(files.host_key, "academy-sandbox-host")
    _keygen(files.client_key, "academy-sandbox-client")
    files.authorized_keys.write_text(_public_key(files.client_key) + "\n")
    files.authorized_keys.chmod(0o600)
    pin_host_keys(files, port, (address,))
    files.config.write_text(render_config(files, port, address))
    return files


def _ensure_privsep_dir() -> None:
    if PRIVSEP_DIR.is_dir():
        return
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
    except OSError as exc:
        raise SshdError(
            f"sshd needs the directory {PRIVSEP_DIR} and it could not be created ({exc}); "
            f"run `sudo mkdir -p {PRIVSEP_DIR}` once"
        ) from exc


def start(
    state_dir: Path,
    port: int | None = None,
    timeout_s: float = 10.0,
    registry: processes.ProcessRegistry | None = None,
    name: str = "sshd",
    address: str = LOOPBACK,
) -> SshdServer:
    """Start `sshd -D -e -f CONFIG` on address:port (free port when None) and wait for it.

    With a registry the PID is recorded as `name` as soon as sshd starts.
    """
    if not SSHD_BINARY.exists():
        raise SshdError(f"{SSHD_BINARY} not found; run `apt-get install openssh-server`")
    port = port or free_port_on((address,))
    files = prepare(state_dir, port, address, name)
    _ensure_privsep_dir()
    check = subprocess.run(
        [str(SSHD_BINARY), "-t", "-f", str(files.config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise SshdError(f"sshd rejected its config {files.config}: {check.stderr.strip()}")
    command = [str(SSHD_BINARY), "-D", "-e", "-f", str(files.config)]
    process = processes.launch(name, command, files.log, registry)
    server = SshdServer(files, port, current_user(), process.pid, command, process, address)
    if not wait_for_port(port, timeout_s, address) or process.poll() is not None:
        if registry is not None:
            registry.stop(name)
        server.stop()
        tail = files.log.read_text(errors="replace")[-2000:]
        raise SshdError(
            f"sshd did not answer on {address}:{port} within {timeout_s}s; log:\n{tail}"
        )
    return server


def host_name(n: int) -> str:
    """The registry name (and file stem) of the sshd of API host n (1-based)."""
    return "sshd" if n == 1 else f"sshd-{n}"


def start_hosts(
    state_dir: Path,
    hosts: int,
    registry: processes.ProcessRegistry | None = None,
    timeout_s: float = 10.0,
) -> list[SshdServer]:
    """`hosts` API hosts: an sshd on one free port of 127.0.0.1, 127.0.0.2, ..., sharing the
    keys; known_hosts pins the host key at every address. Stops those started on failure."""
    addresses = loopback_addresses(hosts)
    port = free_port_on(addresses)
    servers: list[SshdServer] = []
    try:
        for n, address in enumerate(addresses, start=1):
            servers.append(start(state_dir, port, timeout_s, registry, host_name(n), address))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    pin_host_keys(servers[0].files, port, addresses)
    return servers


def logs(state_dir: Path) -> list[Path]:
    """The log of every sshd started under `state_dir`."""
    return sorted(state_dir.glob("sshd*.log"))

"""A real sshd on loopback (services/sshd_server.py): key login works, known_hosts pins its host
key at its port, and it is stopped. That OpenSSH refuses a stranger's key and paramiko a wrong
host key is theirs to test, not ours: verify's own refusals through this sshd are in
tests/verify/test_ssh_transport.py (a changed host key, a refused key named)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from sandbox import processes
from sandbox.services import sshd_server


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd_server.SshdServer]:
    server = sshd_server.start(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


def _client(endpoint: sshd_server.SshEndpoint) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(endpoint.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def test_key_login_runs_a_command_with_the_pinned_host_key(sshd: sshd_server.SshdServer) -> None:
    endpoint = sshd.endpoint
    client = _client(endpoint)
    try:
        client.connect(
            endpoint.host,
            port=endpoint.port,
            username=endpoint.user,
            key_filename=str(endpoint.key_path),
            look_for_keys=False,
            allow_agent=False,
            timeout=5,
        )
        _, stdout, _ = client.exec_command("echo hi", timeout=5)
        assert stdout.read().decode().strip() == "hi"
        assert stdout.channel.recv_exit_status() == 0
    finally:
        client.close()
def test_known_hosts_pins_the_loopback_port(sshd: sshd_server.SshdServer) -> None:
    line = sshd.endpoint.known_hosts_path.read_text().strip()
    assert line.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")


def test_stop_ends_the_process(tmp_path: Path) -> None:
    server = sshd_server.start(tmp_path / "sshd")
    try:
        assert Path(f"/proc/{server.pid}").exists()
    finally:
        server.stop()
    assert not Path(f"/proc/{server.pid}").exists()


def test_a_registered_sshd_is_stopped_by_the_registry(tmp_path: Path) -> None:
    registry = processes.ProcessRegistry(tmp_path / "pids.json")
    try:
        server = sshd_server.start(tmp_path / "sshd", registry=registry)
        assert registry.load()["sshd"].pid == server.pid
    finally:
        report = registry.stop_all()
    assert report.stopped == ["sshd"]
    assert not processes.is_alive(server.pid)

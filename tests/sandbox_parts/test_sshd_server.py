"""A real sshd on loopback: key login works, the host key is pinned, a wrong key is refused."""

from __future__ import annotations

import subprocess
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


def test_a_key_not_in_authorized_keys_is_refused(
    sshd: sshd_server.SshdServer, tmp_path: Path
) -> None:
    endpoint = sshd.endpoint
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    client = _client(endpoint)
    try:
        with pytest.raises(paramiko.AuthenticationException):
            client.connect(
                endpoint.host,
                port=endpoint.port,
                username=endpoint.user,
                key_filename=str(stranger),
                look_for_keys=False,
                allow_agent=False,
                timeout=5,
            )
    finally:
        client.close()


def test_an_unknown_host_key_is_rejected(sshd: sshd_server.SshdServer, tmp_path: Path) -> None:
    endpoint = sshd.endpoint
    other_host = tmp_path / "other_host"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_host)], check=True
    )
    key_type, key_b64 = Path(f"{other_host}.pub").read_text().split()[:2]
    wrong_known_hosts = tmp_path / "known_hosts"
    wrong_known_hosts.write_text(f"[{endpoint.host}]:{endpoint.port} {key_type} {key_b64}\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(wrong_known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        with pytest.raises(paramiko.BadHostKeyException):
            client.connect(
                endpoint.host,
                port=endpoint.port,
                username=endpoint.user,
                key_filename=str(endpoint.key_path),
                look_for_keys=False,
                allow_agent=False,
                timeout=5,
            )
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

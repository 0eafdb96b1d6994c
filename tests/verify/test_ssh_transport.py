"""The SSH transport against a real sshd on loopback (sandbox/sshd_server.py)."""

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sandbox import sshd_server
from sandbox.ports import LOOPBACK
from verify.errors import TransportError
from verify.transports.ssh import SshEndpoint, SshOptions, SshTransport


def _transport(server: sshd_server.SshdServer, **options: object) -> SshTransport:
    endpoint = server.endpoint
    settings = {"key_file": str(endpoint.key_path), "known_hosts": str(endpoint.known_hosts_path),
                "connect_timeout_s": 3.0, **options}
    return SshTransport(SshEndpoint(endpoint.host, endpoint.port, endpoint.user),
                        SshOptions(**settings))


def test_runs_a_command_with_stdin_and_exit_code(sshd):
    transport = _transport(sshd)
    try:
        result = transport.run(["sh", "-c", "cat; echo err >&2; exit 4"], stdin="key line\n")
        assert (result.rc, result.stdout, result.stderr) == (4, "key line\n", "err\n")
        assert transport.run(["printf", "%s", "a b $HOME"]).stdout == "a b $HOME"
    finally:
        transport.close()


def test_unknown_host_key_is_refused_unless_opted_in(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    refused = _transport(sshd, known_hosts=str(empty))
    with pytest.raises(TransportError) as caught:
        refused.run("true")
    assert "unknown host key" in caught.value.reason
    assert "--accept-new-host-keys" in caught.value.reason
    assert "ssh-keyscan" in caught.value.hint
    accepted = _transport(sshd, known_hosts=str(empty), accept_new_host_keys=True)
    try:
        assert accepted.run("echo ok").stdout == "ok\n"
    finally:
        accepted.close()
    assert empty.read_text() == ""  # trusting for one run does not write the file


def test_a_changed_host_key_is_refused_even_with_the_opt_in(sshd, tmp_path):
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, blob = Path(f"{other}.pub").read_text().split()[:2]
    pinned = tmp_path / "known_hosts"
    pinned.write_text(f"[{LOOPBACK}]:{sshd.port} {kind} {blob}\n")
    with pytest.raises(TransportError, match="host key mismatch"):
        _transport(sshd, known_hosts=str(pinned), accept_new_host_keys=True).run("true")


def test_a_refused_key_names_the_reason(sshd, tmp_path):
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True)
    transport = _transport(sshd, key_file=str(stranger))
    with pytest.raises(TransportError, match="key refused"):
        transport.run("true")
    started = time.monotonic()
    with pytest.raises(TransportError, match="key refused"):  # remembered: no second attempt
        transport.run("true")
    assert time.monotonic() - started < 0.1


def test_an_unreachable_port_fails_quickly(sshd):
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        closed_port = probe.getsockname()[1]
    endpoint = SshEndpoint(LOOPBACK, closed_port, sshd.user)
    transport = SshTransport(endpoint, SshOptions(connect_timeout_s=3.0))
    started = time.monotonic()
    with pytest.raises(TransportError, match="host unreachable"):
        transport.run("true")
    assert time.monotonic() - started < 1.0


def test_a_silent_server_times_out():
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    try:
        endpoint = SshEndpoint(LOOPBACK, listener.getsockname()[1], "nobody")
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            SshTransport(endpoint, SshOptions(connect_timeout_s=0.5)).run("true")
        assert time.monotonic() - started < 2.0
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_hanging_command_times_out(sshd):
    transport = _transport(sshd)
    try:
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            transport.run("sleep 5", timeout=0.5)
        assert time.monotonic() - started < 2.0
    finally:
        transport.close()


def test_through_a_jump_host(sshd):
    endpoint = sshd.endpoint
    jump = SshEndpoint(endpoint.host, endpoint.port, endpoint.user)
    transport = _transport(sshd, jump_host=jump)
    try:
        assert transport.run("echo via-jump").stdout == "via-jump\n"
        assert len(transport._clients) == 2  # the jump connection and the target over it
    finally:
        transport.close()

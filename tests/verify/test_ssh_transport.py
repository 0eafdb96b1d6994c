"""The SSH transport against a real sshd on loopback (sandbox/services/sshd_server.py)."""

import hashlib
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from contract.stack_output import Host, SshAddress, to_plain
from sandbox.ports import LOOPBACK
from sandbox.services import sshd_server
from verify.context import RunOptions
from verify.errors import TransportError
from verify.report import Status
from verify.suite import run_checks
from verify.transports import HostTransports, TransportOptions
from verify.transports.ssh import SshEndpoint, SshOptions, SshTransport


def accepted_logins(server: sshd_server.SshdServer) -> int:
    """Connections the sshd accepted, from its own log (sshd -e, LogLevel INFO)."""
    log = server.files.log.read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "Accepted publickey for" in line)


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
    before = accepted_logins(sshd)
    transport = _transport(sshd, jump_host=jump)
    try:
        assert transport.run("echo via-jump").stdout == "via-jump\n"
        assert transport.run("echo again").stdout == "again\n"
    finally:
        transport.close()
    assert accepted_logins(sshd) - before == 2  # the jump connection and the target over it


# -- the read loop: every byte the command wrote, whenever it arrives (issue 9, item 8) --------

def test_output_that_arrives_after_the_exit_status_is_kept(sshd):
    # The shell exits (sshd sends exit-status) while a child still holds stdout and writes.
    transport = _transport(sshd)
    try:
        result = transport.run("(sleep 0.05; echo late) & echo early")
        assert (result.rc, result.stdout) == (0, "early\nlate\n")
    finally:
        transport.close()


def _expected_outputs() -> list[tuple[str, int, str, str]]:
    """Commands with the output they must give: the curl probe's shape, both streams, sizes
    around and beyond the SSH window (64 KB+)."""
    body = '{"backlog": 3}'
    return [
        (f"printf '%s\\n%s' '{body}' 200", 0, f"{body}\n200", ""),
        ("echo out; echo err >&2; exit 7", 7, "out\n", "err\n"),
        ("seq 1 20000", 0, "".join(f"{i}\n" for i in range(1, 20001)), ""),
        ("head -c 70000 /dev/zero | tr '\\0' x", 0, "x" * 70000, ""),
        ("head -c 300000 /dev/zero | tr '\\0' y >&2; echo z", 0, "z\n", "y" * 300000),
    ]


def test_300_commands_return_every_byte(sshd):
    transport = _transport(sshd)
    cases = _expected_outputs()
    wrong = []
    try:
        for i in range(300):
            command, rc, stdout, stderr = cases[i % len(cases)]
            result = transport.run(command)
            if (result.rc, result.stdout, result.stderr) != (rc, stdout, stderr):
                wrong.append((command, result.rc, len(result.stdout), len(result.stderr)))
    finally:
        transport.close()
    assert wrong == []


def test_output_beyond_the_bound_is_an_error_and_the_connection_survives(sshd):
    from verify.transports.base import MAX_OUTPUT_BYTES

    transport = _transport(sshd)
    try:
        with pytest.raises(TransportError, match="more than") as caught:
            transport.run(f"head -c {MAX_OUTPUT_BYTES + 1} /dev/zero")
        assert "MiB" in caught.value.reason and caught.value.hint
        assert transport.run("echo still-here").stdout == "still-here\n"
    finally:
        transport.close()


def test_a_child_that_keeps_the_output_open_times_out(sshd):
    transport = _transport(sshd)
    try:
        with pytest.raises(TransportError, match="timed out"):
            transport.run("sleep 3 & echo started", timeout=0.5)
    finally:
        transport.close()


# -- one connection per host per run (issue 9, item 9) -----------------------------------------

@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory):
    """Two API hosts: two sshds with one client key; a known_hosts file that pins both."""
    first = sshd_server.start(tmp_path_factory.mktemp("host-a"))
    second_dir = tmp_path_factory.mktemp("host-b")
    for name in ("client_ed25519_key", "ssh_host_ed25519_key"):  # the same keys, so one login
        for suffix in ("", ".pub"):
            shutil.copy(first.files.state_dir / f"{name}{suffix}", second_dir / f"{name}{suffix}")
    second = sshd_server.start(second_dir)
    known_hosts = tmp_path_factory.mktemp("pins") / "known_hosts"
    known_hosts.write_text(first.files.known_hosts.read_text()
                           + second.files.known_hosts.read_text())
    options = SshOptions(key_file=str(first.files.client_key), known_hosts=str(known_hosts),
                         connect_timeout_s=3.0)
    try:
        yield first, second, options
    finally:
        first.stop()
        second.stop()


def _host(name: str, server: sshd_server.SshdServer) -> Host:
    return Host(name, None, SshAddress(LOOPBACK, server.port, server.user))


def test_one_verify_run_opens_one_connection_per_host(stack_with_api, two_hosts, tmp_path):
    first, second, options = two_hosts
    conf = tmp_path / "api.conf"
    conf.write_text("server {}\n")
    outputs = stack_with_api.outputs
    # web-3 is web-1's address under another name: the same host, so the same connection.
    outputs["api"]["hosts"] = to_plain([_host("web-1", first), _host("web-2", second),
                                        _host("web-3", first)])
    outputs["api"]["nginx"].update(config_path=str(conf), test_command="true",
                                   config_sha256=hashlib.sha256(conf.read_bytes()).hexdigest())
    before = accepted_logins(first), accepted_logins(second)
    report = run_checks(stack_with_api.typed(), ["api", "nginx"], RunOptions(
        invoke=False, timeout_s=30.0, transport=TransportOptions(mode="ssh", ssh=options)),
        env=stack_with_api.env)
    statuses = {(r.id, r.target): r.status for r in report.checks}
    for name in ("web-1", "web-2", "web-3"):
        assert statuses[("api", name)] is Status.PASS, report.checks
        assert statuses[("nginx", name)] is Status.PASS, report.checks
    after = accepted_logins(first), accepted_logins(second)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_targets_behind_one_jump_host_share_its_connection(two_hosts):
    jump, target, options = two_hosts
    hosts = HostTransports(TransportOptions(mode="ssh", ssh=replace(
        options, jump_host=SshEndpoint(LOOPBACK, jump.port, jump.user))))
    before = accepted_logins(jump), accepted_logins(target)
    try:
        for name in ("web-1", "web-2"):  # two names, one address behind the jump host
            assert hosts.for_host(_host(name, target)).run("echo hi").stdout == "hi\n"
    finally:
        hosts.close()
    after = accepted_logins(jump), accepted_logins(target)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_more_commands_at_once_than_sshd_allows_sessions_all_succeed(sshd):
    # OpenSSH's MaxSessions (10) bounds the channels open at once on one connection.
    hosts = HostTransports(TransportOptions(mode="ssh", ssh=SshOptions(
        key_file=str(sshd.endpoint.key_path), known_hosts=str(sshd.endpoint.known_hosts_path))))
    transports = [hosts.for_host(_host(f"web-{i}", sshd)) for i in range(24)]
    results: dict[int, object] = {}

    def run(i: int) -> None:
        try:  # one long command, so that all are open at once, then quick ones: churn
            outputs = [transports[i].run(f"sleep 0.3; echo {i}").stdout]
            outputs += [transports[i].run(f"echo {i}").stdout for _ in range(5)]
            results[i] = "".join(sorted(set(outputs)))
        except TransportError as exc:
            results[i] = exc.reason

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(transports))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        hosts.close()
    assert results == {i: f"{i}\n" for i in range(len(transports))}

"""`sandbox up --hosts N`: N API hosts at N loopback addresses, so N hosts cost N SSH logins.

Linux routes all of 127.0.0.0/8 to lo, so the sandbox runs one sshd on each of 127.0.0.1,
127.0.0.2, ...: each host of the stack outputs is its own address with its own pinned
known_hosts line, and verify (one connection per host address) opens one connection per host.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from sandbox import sshd_server
from sandbox.state import PROJECT_ROOT
from tests.sandbox_e2e import RunningSandbox, start

HOSTS = 3
# sshd (LogLevel VERBOSE) names the local address each connection came in on.
CONNECTION = re.compile(r"Connection from \S+ port \d+ on (\S+) port (\d+)")


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    yield from start("asg", tmp_path_factory.mktemp("sandbox-hosts"), hosts=HOSTS)


def _ssh_addresses(sb: RunningSandbox) -> list[tuple[str, int, str]]:
    return [(h["ssh"]["host"], h["ssh"]["port"], h["ssh"]["user"])
            for h in sb.academy["api"]["hosts"] if h["ssh"]]


def _sshd_logs(sb: RunningSandbox) -> dict[Path, str]:
    return {log: log.read_text(errors="replace") for log in sshd_server.logs(sb.state.sshd_dir)}


def test_each_host_is_its_own_loopback_address(three_hosts: RunningSandbox) -> None:
    addresses = _ssh_addresses(three_hosts)
    assert len(addresses) == HOSTS
    assert len({(host, port) for host, port, _ in addresses}) == HOSTS, addresses
    assert all(host.startswith("127.") for host, _, _ in addresses), addresses


def test_each_address_answers_ssh_with_its_pinned_key(three_hosts: RunningSandbox) -> None:
    ssh = three_hosts.info["ssh"]
    pins = paramiko.HostKeys(ssh["known_hosts_path"])
    seen = set()
    for host, port, user in _ssh_addresses(three_hosts):
        client = paramiko.SSHClient()
        client.load_host_keys(ssh["known_hosts_path"])
        client.set_missing_host_key_policy(paramiko.RejectPolicy())  # only the pinned key
        try:
            client.connect(host, port=port, username=user, key_filename=ssh["key_path"],
                           allow_agent=False, look_for_keys=False, timeout=5)
            _, out, _ = client.exec_command("echo up")
            assert out.read().strip() == b"up"
            key = client.get_transport().get_remote_server_key()
        finally:
            client.close()
        pinned = pins.lookup(f"[{host}]:{port}")
        assert pinned is not None and pinned[key.get_name()] == key, (host, port)
        seen.add((host, port))
    assert len(seen) == HOSTS


def test_verify_opens_one_connection_per_host(three_hosts: RunningSandbox) -> None:
    before = {log: len(text) for log, text in _sshd_logs(three_hosts).items()}
    assert len(before) == HOSTS  # one sshd per host
    done = subprocess.run(
        [sys.executable, "-m", "verify", "all", "--stack", "sandbox", "--json"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=three_hosts.env(), timeout=120,
        check=False)
    report = json.loads(done.stdout)
    assert done.returncode == 0, [c for c in report["checks"] if c["status"] in ("fail", "error")]
    log = "".join(text[before.get(path, 0):] for path, text in _sshd_logs(three_hosts).items())
    arrived = Counter(CONNECTION.findall(log))
    wanted = {(host, str(port)) for host, port, _ in _ssh_addresses(three_hosts)}
    assert arrived == Counter({address: 1 for address in wanted}), arrived
    assert log.count("Accepted publickey for") == HOSTS


def test_known_hosts_pins_every_address(three_hosts: RunningSandbox) -> None:
    lines = Path(three_hosts.info["ssh"]["known_hosts_path"]).read_text().splitlines()
    pinned = {line.split()[0] for line in lines if line.strip()}
    assert pinned == {f"[{host}]:{port}" for host, port, _ in _ssh_addresses(three_hosts)}

"""Stress of the SSH transport against a real sshd: commands whose output is known, run from
several threads over the one shared connection; counts wrong results (rc, stdout or stderr
not exactly as expected, or an error). Goal: none wrong, one connection.

Usage: python bench/ssh_stress.py [--commands N] [--threads T]; exits 1 if any is wrong.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.services import sshd_server  # noqa: E402
from verify.errors import TransportError  # noqa: E402
from verify.transports.ssh import SshEndpoint, SshOptions, SshTransport  # noqa: E402

BODY = '{"backlog": 3}'
# (command, rc, stdout, stderr): the api probe's shape, both streams, output that outlives
# the exit status, and sizes beyond the SSH window.
CASES = [
    (f"printf '%s\\n%s' '{BODY}' 200", 0, f"{BODY}\n200", ""),
    ("echo out; echo err >&2; exit 7", 7, "out\n", "err\n"),
    ("(sleep 0.02; echo late) & echo early", 0, "early\nlate\n", ""),
    ("seq 1 20000", 0, "".join(f"{i}\n" for i in range(1, 20001)), ""),
    ("head -c 70000 /dev/zero | tr '\\0' x", 0, "x" * 70000, ""),
    ("head -c 300000 /dev/zero | tr '\\0' y >&2; echo z", 0, "z\n", "y" * 300000),
]


def accepted_logins(server: sshd_server.SshdServer) -> int:
    log = server.files.log.read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "Accepted publickey for" in line)


def run_one(transport: SshTransport, i: int) -> str | None:
    """None when right, else what was wrong."""
    command, rc, stdout, stderr = CASES[i % len(CASES)]
    try:
        got = transport.run(command, timeout=30)
    except TransportError as exc:
        return f"{command}: {exc.reason}"
    if (got.rc, got.stdout, got.stderr) != (rc, stdout, stderr):
        return (f"{command}: rc {got.rc}, {len(got.stdout)} B stdout, "
                f"{len(got.stderr)} B stderr (expected {rc}, {len(stdout)}, {len(stderr)})")
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=1200)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp:
        server = sshd_server.start(Path(tmp))
        try:
            e = server.endpoint
            transport = SshTransport(
                SshEndpoint(e.host, e.port, e.user),
                SshOptions(key_file=str(e.key_path), known_hosts=str(e.known_hosts_path)),
            )
            started = time.perf_counter()
            try:
                with ThreadPoolExecutor(args.threads) as pool:
                    wrong = [w for w in pool.map(lambda i: run_one(transport, i),
                                                 range(args.commands)) if w]
            finally:
                transport.close()
            elapsed = time.perf_counter() - started
            connections = accepted_logins(server)
        finally:
            server.stop()
    print(f"ssh stress: {len(wrong)} wrong of {args.commands} commands against a real sshd "
          f"({args.threads} threads, {connections} SSH connection(s), "
          f"{args.commands / elapsed:.0f} commands/s; goal: 0 wrong, 1 connection)")
    for line in wrong[:10]:
        print(f"  wrong: {line}")
    return 1 if wrong or connections != 1 else 0


if __name__ == "__main__":
    sys.exit(main())

"""The deployed nginx config's SHA-256 and `nginx -t`'s answer on a host, in one command."""

import shlex
from dataclasses import dataclass

from verify.transports import Transport

_MARK = "@@verify-sha256sum-rc="


@dataclass(frozen=True)
class NginxProbe:
    sum_rc: int
    sum_output: str
    test_rc: int
    test_output: str

    @property
    def deployed_sha256(self) -> str | None:
        first = self.sum_output.strip().split()
        if self.sum_rc == 0 and first and len(first[0]) == 64:
            return first[0].lower()
        return None


def probe_script(config_path: str, test_command: str) -> str:
    """One remote command for both facts: each command on a host costs a session (~0.1 s)."""
    return (f"sha256sum -- {shlex.quote(config_path)} 2>&1; echo {_MARK}$?; "
            f"( {test_command} ) 2>&1")


def parse_probe(rc: int, stdout: str) -> NginxProbe:
    before, found, after = stdout.partition(_MARK)
    if not found:
        return NginxProbe(127, before.strip() or "the host did not run sha256sum", rc, "")
    code, _, rest = after.partition("\n")
    return NginxProbe(int(code.strip() or 1), before, rc, rest)


def read_nginx(transport: Transport, config_path: str, test_command: str,
               timeout_s: float) -> NginxProbe:
    done = transport.run(probe_script(config_path, test_command), timeout=timeout_s)
    return parse_probe(done.rc, done.stdout + done.stderr)

"""`nginx`: each API host runs the config the stack rendered, and nginx accepts it."""

import shlex
from dataclasses import dataclass

from verify.checks.hosts import per_host_tasks
from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed

CHECK_ID = "nginx"
DEFAULT_TEST_COMMAND = "nginx -t"


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


def _redeliver_hint(nginx: dict) -> str:
    names = nginx.get("association_names") or [nginx.get("association_name")]
    names = [n for n in names if n]
    how = (
        f"rerun the SSM association ({', '.join(names)}) with `aws ssm "
        "start-associations-once --association-ids <its id>`"
        if names
        else "redeliver it"
    )
    return f"the host runs another config than the stack rendered: `pulumi up`, or {how}"


def _host_task(ctx: CheckContext, host: dict) -> Task:
    nginx = ctx.outputs["api"]["nginx"]
    target = host.get("name") or host.get("instance_id") or "host"

    def run() -> CheckResult:
        transport = ctx.hosts.for_host(host)
        path = nginx["config_path"]
        test_command = nginx.get("test_command") or DEFAULT_TEST_COMMAND
        done = transport.run(probe_script(path, test_command), timeout=ctx.call_timeout())
        probe = parse_probe(done.rc, done.stdout + done.stderr)
        if probe.sum_rc != 0:
            reason = (probe.sum_output.strip().splitlines() or [f"exit {probe.sum_rc}"])[-1]
            return failed(CHECK_ID, target, f"cannot read {path}: {reason}",
                          _redeliver_hint(nginx))
        deployed = probe.deployed_sha256
        expected = str(nginx["config_sha256"]).lower()
        problems = []
        hint = ""
        if deployed != expected:
            problems.append(f"{path} sha256 {str(deployed)[:12]} != stack {expected[:12]}")
            hint = _redeliver_hint(nginx)
        if probe.test_rc != 0:
            lines = probe.test_output.strip().splitlines()
            problems.append(f"`{test_command}` failed: {lines[-1] if lines else probe.test_rc}")
            hint = hint or (
                f"fix the config on the host (run `{test_command}` there for the full error); "
                "nginx keeps serving the old config until a reload succeeds"
            )
        if problems:
            return failed(CHECK_ID, target, "; ".join(problems), hint)
        return passed(
            CHECK_ID, target,
            f"{path} sha256 {expected[:12]} matches the stack; `{test_command}` ok",
        )

    return Task(CHECK_ID, target, run)


def tasks(ctx: CheckContext) -> list[Task]:
    return per_host_tasks(ctx, CHECK_ID, _host_task)

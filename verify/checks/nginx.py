"""`nginx`: each API host runs the config the stack rendered, and nginx accepts it."""

from contract.stack_output import Host, Nginx
from verify.checks.hosts import per_host_tasks
from verify.context import CheckContext, Task
from verify.probes.nginx import NginxProbe, read_nginx
from verify.report import CheckResult, failed, passed

CHECK_ID = "nginx"
DEFAULT_TEST_COMMAND = "nginx -t"


def _redeliver_hint(nginx: Nginx) -> str:
    names = [n for n in nginx.association_names if n]
    how = (
        f"rerun the SSM association ({', '.join(names)}) with `aws ssm "
        "start-associations-once --association-ids <its id>`"
        if names
        else "redeliver it"
    )
    return f"the host runs another config than the stack rendered: `pulumi up`, or {how}"


def judge_nginx(target: str, nginx: Nginx, probe: NginxProbe) -> CheckResult:
    path = nginx.config_path
    test_command = nginx.test_command or DEFAULT_TEST_COMMAND
    expected_sha = nginx.config_sha256.lower()
    expected = {"config_sha256": expected_sha, "test_rc": 0}
    found = {"config_sha256": probe.deployed_sha256, "test_rc": probe.test_rc}
    if probe.sum_rc != 0:
        reason = (probe.sum_output.strip().splitlines() or [f"exit {probe.sum_rc}"])[-1]
        return failed(CHECK_ID, target, f"cannot read {path}: {reason}", _redeliver_hint(nginx),
                      expected=expected, found={"config_sha256": None, "error": reason})
    deployed = probe.deployed_sha256
    problems = []
    hint = ""
    if deployed != expected_sha:
        problems.append(f"{path} sha256 {str(deployed)[:12]} != stack {expected_sha[:12]}")
        hint = _redeliver_hint(nginx)
    if probe.test_rc != 0:
        lines = probe.test_output.strip().splitlines()
        problems.append(f"`{test_command}` failed: {lines[-1] if lines else probe.test_rc}")
        hint = hint or (
            f"fix the config on the host (run `{test_command}` there for the full error); "
            "nginx keeps serving the old config until a reload succeeds"
        )
    if problems:
        return failed(CHECK_ID, target, "; ".join(problems), hint, expected=expected,
                      found=found)
    return passed(CHECK_ID, target,
                  f"{path} sha256 {expected_sha[:12]} matches the stack; `{test_command}` ok",
                  expected=expected, found=found)


def _host_task(ctx: CheckContext, host: Host) -> Task:
    nginx = ctx.outputs.api.nginx
    target = host.name or host.instance_id or "host"

    def run() -> CheckResult:
        probe = read_nginx(ctx.hosts.for_host(host), nginx.config_path,
                           nginx.test_command or DEFAULT_TEST_COMMAND, ctx.call_timeout())
        return judge_nginx(target, nginx, probe)

    return Task(CHECK_ID, target, run)


def tasks(ctx: CheckContext) -> list[Task]:
    return per_host_tasks(ctx, CHECK_ID, _host_task)

"""`nginx`: each API host runs the config the stack rendered, and nginx accepts it."""

from verify.context import CheckContext, Task
from verify.report import CheckResult, failed, passed

CHECK_ID = "nginx"
DEFAULT_TEST_COMMAND = "nginx -t"


def parse_sha256sum(stdout: str) -> str | None:
    first = stdout.strip().split()
    if first and len(first[0]) == 64 and all(c in "0123456789abcdef" for c in first[0].lower()):
        return first[0].lower()
    return None


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
        summed = transport.run(["sha256sum", "--", path], timeout=ctx.call_timeout())
        if summed.rc != 0:
            reason = (summed.stderr.strip().splitlines() or [f"exit {summed.rc}"])[-1]
            return failed(CHECK_ID, target, f"cannot read {path}: {reason}",
                          _redeliver_hint(nginx))
        deployed = parse_sha256sum(summed.stdout)
        expected = str(nginx["config_sha256"]).lower()
        test_command = nginx.get("test_command") or DEFAULT_TEST_COMMAND
        tested = transport.run(test_command, timeout=ctx.call_timeout())
        problems = []
        hint = ""
        if deployed != expected:
            problems.append(f"{path} sha256 {str(deployed)[:12]} != stack {expected[:12]}")
            hint = _redeliver_hint(nginx)
        if tested.rc != 0:
            lines = (tested.stderr + tested.stdout).strip().splitlines()
            problems.append(f"`{test_command}` failed: {lines[-1] if lines else tested.rc}")
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
    return [_host_task(ctx, host) for host in ctx.outputs["api"]["hosts"]]

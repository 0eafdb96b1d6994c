"""The API hosts: those the outputs list, plus the running instances their host tag selects.

Production selects the hosts by tag only (`apiHostTag`), so `api.hosts` can be empty: the tag
is resolved with `ec2.describe_instances` and each instance is reached through SSM. A check
with no host at all fails; it never passes by planning nothing.
"""

from collections.abc import Callable

from contract.stack_output import Host, StackOutput
from verify.context import CheckContext, Task
from verify.probes.hosts import api_hosts, merge_hosts, parse_tag, tagged_instances
from verify.report import CheckResult, failed

NO_HOSTS_TARGET = "api hosts"
__all__ = ["parse_tag", "tagged_instances", "merge_hosts", "api_hosts", "per_host_tasks"]


def no_hosts(check_id: str, outputs: StackOutput) -> CheckResult:
    tag = outputs.api.host_tag
    if tag:
        key, _, value = tag.partition("=")
        return failed(
            check_id, NO_HOSTS_TARGET,
            f"no API hosts: the outputs list none and the tag {tag} matches no running instance",
            "set apiHostInstanceIds or apiHostTag in the stack settings and `pulumi up`; check "
            f"the API instances are running and tagged {tag} (aws ec2 describe-instances "
            f"--filters Name=tag:{key},Values={value} Name=instance-state-name,Values=running)",
        )
    return failed(
        check_id, NO_HOSTS_TARGET,
        "no API hosts: the outputs list none and no host tag is set",
        "set apiHostInstanceIds or apiHostTag in the stack settings and `pulumi up`",
    )


def per_host_tasks(ctx: CheckContext, check_id: str,
                   make: Callable[[CheckContext, Host], Task]) -> list[Task]:
    """One task per API host; one FAIL task when there is none. When the tag cannot be
    resolved (AWS unreachable, no permission), the listed hosts are still checked and the
    resolution's error becomes one ERROR row (raised again inside a task, where the runner
    reports it)."""
    try:
        hosts = api_hosts(ctx)
    except Exception as exc:  # noqa: BLE001 (reported as the task's ERROR by the runner)
        error = exc
        tag = ctx.outputs.api.host_tag

        def resolve_failed() -> CheckResult:
            raise error

        listed = [make(ctx, host) for host in ctx.outputs.api.hosts]
        return listed + [Task(check_id, f"hosts tagged {tag}" if tag else NO_HOSTS_TARGET,
                              resolve_failed)]
    if not hosts:
        return [Task(check_id, NO_HOSTS_TARGET, lambda: no_hosts(check_id, ctx.outputs))]
    return [make(ctx, host) for host in hosts]

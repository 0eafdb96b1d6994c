"""The library entry: run named checks against loaded outputs and return a RunReport."""

import time
from collections.abc import Iterable

from contract.stack_output import StackOutput
from verify.checks import CHECKS
from verify.context import (
    CANARY_MARGIN_S,
    AwsClients,
    CheckContext,
    KeyProvider,
    RunOptions,
    Task,
)
from verify.errors import UsageError
from verify.preflight import Dependencies
from verify.report import RunReport
from verify.runner import Progress, masked, run_tasks
from verify.secrets import Masker
from verify.transports import HostTransports


def select_checks(outputs: StackOutput, requested: str) -> list[str]:
    """`all` -> every check that applies to the stack; a single name must apply."""
    if requested == "all":
        return [name for name, spec in CHECKS.items() if spec.applies(outputs)]
    spec = CHECKS.get(requested)
    if spec is None:
        raise UsageError(f"unknown check {requested!r}; choose from {', '.join(CHECKS)}")
    if not spec.applies(outputs):
        raise UsageError(
            f"check {requested!r} does not apply to stack {outputs.stack!r} "
            f"(mode {outputs.mode}): {spec.about}"
        )
    return [requested]


def run_timeout(options: RunOptions, names: Iterable[str]) -> float:
    """The run's bound: --timeout, raised to cover the Batch canary's own wait when it runs."""
    if options.canary and "batch" in names:
        return max(options.timeout_s, options.canary_timeout_s + CANARY_MARGIN_S)
    return options.timeout_s


def build_context(outputs: StackOutput, options: RunOptions, env: dict[str, str] | None = None,
                  masker: Masker | None = None) -> CheckContext:
    masker = masker or Masker()
    reach = Dependencies()
    aws = AwsClients(outputs.region, env, options.call_timeout_s, reach)
    key = KeyProvider(outputs.publisher.key_parameter, options.internal_key_env, aws, masker, env)
    hosts = HostTransports(options.transport, lambda: aws.client("ssm"))
    return CheckContext(outputs, options, aws, hosts, key, masker, reach=reach)


def run_checks(
    outputs: StackOutput,
    names: Iterable[str],
    options: RunOptions,
    env: dict[str, str] | None = None,
    progress: Progress | None = None,
    context: CheckContext | None = None,
    extra_tasks: list[Task] | None = None,
    masker: Masker | None = None,
) -> RunReport:
    started = time.monotonic()
    ctx = context or build_context(outputs, options, env, masker)
    names = list(names)
    ctx.deadline = started + run_timeout(options, names)
    ctx.aws.deadline = ctx.deadline
    ctx.reach.start(ctx.deadline, run_timeout(options, names))
    try:
        tasks: list[Task] = []
        for name in names:
            tasks += CHECKS[name].plan(ctx)
        tasks += extra_tasks or []
        results = run_tasks(tasks, ctx.deadline, options.parallel, ctx.masker, progress)
        # the dependencies that did not answer come first: they explain the rows after them
        results = [masked(row, ctx.masker) for row in ctx.reach.rows()] + results
    finally:
        ctx.hosts.close()
    return RunReport(outputs.stack, outputs.mode, time.monotonic() - started, results)

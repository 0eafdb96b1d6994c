"""Command line: parse options, load the outputs, run the checks, print, map to exit codes.

Exit status: 0 nothing failed or errored, 1 something did, 2 bad usage or an unreadable or
ill-shaped outputs file (README, "The verify toolkit").
"""

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from verify import __version__, junit_file
from verify.adopt import command as adopt_command
from verify.checks import CHECKS
from verify.context import CALL_TIMEOUT_S, CANARY_TIMEOUT_S, DEFAULT_KEY_ENV, RunOptions
from verify.errors import UsageError, VerifyError
from verify.outputs import PROJECT_ROOT
from verify.plan_guard import command as preflight_command
from verify.report import ProgressLine, printable, render_table, to_json, to_junit
from verify.secrets import Masker
from verify.stacks import load
from verify.suite import run_checks, select_checks
from verify.transports import MODES, TransportOptions
from verify.transports.ssh import SshOptions, parse_endpoint

DESCRIPTION = """Prove a deployed academy-workers stack works: every check reads the stack's
outputs and the live resources, and says PASS / WARN / FAIL / ERROR with a hint.

Read-only, except two things: `metric` invokes the publisher once (it only publishes a
datapoint; skip with --no-invoke), and `batch --canary` submits a short job (then terminates
it if it is still queued). A real canary takes minutes: Batch starts an instance for it."""


def _shared_options() -> argparse.ArgumentParser:
    shared = argparse.ArgumentParser(add_help=False)
    source = shared.add_argument_group("where the stack's outputs come from")
    source.add_argument("--stack", metavar="NAME",
                        help="the outputs saved for NAME in .academy/stacks/NAME/ (or "
                             "$ACADEMY_STACKS_DIR/NAME/; the sandbox saves itself as `sandbox`), "
                             "else `pulumi stack output --json` of NAME")
    source.add_argument("--outputs", metavar="FILE", type=Path,
                        help="a saved `pulumi stack output --json`")
    report = shared.add_argument_group("report")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--junit", metavar="FILE", type=Path, help="also write JUnit XML here")
    run = shared.add_argument_group("run")
    run.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                     help="bound for the whole run (default 60; with batch --canary at least "
                          "--canary-timeout + 30); unfinished checks are ERROR")
    run.add_argument("--parallel", type=int, default=8, metavar="N",
                     help="checks and hosts run at once (default 8)")
    run.add_argument("--no-invoke", action="store_true",
                     help="metric: read the latest datapoint instead of invoking the publisher")
    run.add_argument("--canary", action="store_true",
                     help="batch: submit a short job and wait for it to leave RUNNABLE; on AWS "
                          "a real canary takes minutes (a compute environment at 0 vCPUs must "
                          "start an instance first)")
    run.add_argument("--canary-timeout", type=float, default=CANARY_TIMEOUT_S, metavar="SECONDS",
                     help=f"batch --canary: how long the job may take to start (default "
                          f"{CANARY_TIMEOUT_S:g}); the run's --timeout is raised to cover it")
    run.add_argument("--internal-key-env", default=DEFAULT_KEY_ENV, metavar="NAME",
                     help=f"env var holding the internal key, for runners without SSM read "
                          f"access (default {DEFAULT_KEY_ENV}); when set it is used instead "
                          "of the SSM parameter; the key is never printed")
    hosts = shared.add_argument_group("reaching the API hosts")
    hosts.add_argument("--transport", choices=MODES, default="auto",
                       help="auto: ssh when the host has an ssh address, else ssm")
    hosts.add_argument("--ssh-key", metavar="FILE", help="private key (default: agent, ~/.ssh)")
    hosts.add_argument("--ssh-user", metavar="USER", help="overrides the hosts' ssh user")
    hosts.add_argument("--jump-host", metavar="[USER@]HOST[:PORT]", help="reach hosts through it")
    hosts.add_argument("--known-hosts", metavar="FILE",
                       help="pinned host keys (default ~/.ssh/known_hosts)")
    hosts.add_argument("--accept-new-host-keys", action="store_true",
                       help="trust host keys not in known_hosts for this run (explicit opt-in)")
    return shared


def build_parser() -> argparse.ArgumentParser:
    shared = _shared_options()
    parser = argparse.ArgumentParser(
        prog="python -m verify", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"academy-verify {__version__}")
    commands = parser.add_subparsers(dest="check", required=True, metavar="CHECK")
    commands.add_parser("all", parents=[shared], help="every check that applies to the stack")
    for name, spec in CHECKS.items():
        commands.add_parser(name, parents=[shared], help=spec.about)
    adopt_command.add_arguments(commands.add_parser(
        "adopt", help="before the first deploy: what exists already, its drift and leftovers; "
                      "writes the bulk import file for `pulumi import --file`"))
    preflight_command.add_arguments(commands.add_parser(
        "preflight", help="between preview and up: refuse a plan that deletes or replaces a "
                          "queue, job queue, compute environment or group still holding work"))
    return parser


def _options(args: argparse.Namespace, env: dict[str, str]) -> RunOptions:
    def setting(flag: str | None, name: str) -> str | None:
        return flag or env.get(name) or os.environ.get(name) or None

    for flag, seconds in (("--timeout", args.timeout), ("--canary-timeout", args.canary_timeout)):
        if not math.isfinite(seconds) or seconds <= 0:  # nan passes every comparison
            raise UsageError(f"{flag} must be a positive number of seconds, got {seconds:g}")
    if args.parallel < 1:
        raise UsageError(f"--parallel must be at least 1, got {args.parallel}")
    jump = setting(args.jump_host, "VERIFY_JUMP_HOST")
    try:
        jump_host = parse_endpoint(jump) if jump else None
    except ValueError as exc:
        raise UsageError(f"--jump-host: {exc}") from None
    key_file = setting(args.ssh_key, "VERIFY_SSH_KEY")
    if key_file and not Path(key_file).expanduser().is_file():
        raise UsageError(f"--ssh-key: no such file {key_file}")
    known_hosts = setting(args.known_hosts, "VERIFY_KNOWN_HOSTS")
    ssh = SshOptions(
        key_file=str(Path(key_file).expanduser()) if key_file else None,
        user=setting(args.ssh_user, "VERIFY_SSH_USER"),
        known_hosts=known_hosts,
        accept_new_host_keys=args.accept_new_host_keys,
        jump_host=jump_host,
        connect_timeout_s=min(CALL_TIMEOUT_S, args.timeout),
    )
    return RunOptions(
        invoke=not args.no_invoke,
        canary=args.canary,
        canary_timeout_s=args.canary_timeout,
        timeout_s=args.timeout,
        parallel=args.parallel,
        internal_key_env=args.internal_key_env,
        transport=TransportOptions(mode=args.transport, ssh=ssh),
    )


def run(argv: list[str] | None = None, masker: Masker | None = None) -> int:
    """`masker` learns the key when a check reads it; everything printed goes through it."""
    masker = masker or Masker()
    args = build_parser().parse_args(argv)
    if args.check == "adopt":
        return adopt_command.run(args, PROJECT_ROOT, adopt_command.boto3_clients)
    if args.check == "preflight":
        return preflight_command.run(args, PROJECT_ROOT, adopt_command.boto3_clients)
    loaded = load(args.stack, args.outputs)
    outputs, env = loaded.outputs, loaded.env
    names = select_checks(outputs, args.check)
    options = _options(args, env)
    # A key given in the environment is known from the start, so even early errors mask it.
    masker.add(env.get(options.internal_key_env) or os.environ.get(options.internal_key_env))
    if args.junit is not None:
        junit_file.check_writable(args.junit)
    progress = ProgressLine()
    try:
        report = run_checks(
            outputs, names, options, env, masker=masker,
            progress=lambda done, total, running: progress.update(
                done, total, [masker.mask(line) for line in running]),
        )
    finally:
        progress.clear()
    if args.junit is not None:
        junit_file.write(args.junit,
                         masker.mask(to_junit(report).decode("utf-8")).encode("utf-8"))
    print(masker.mask(to_json(report) if args.json else render_table(report)))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    # paramiko logs connection failures with tracebacks; the report already says why.
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    logging.getLogger("paramiko").propagate = False
    masker = Masker()  # the one masker of the run: the key is registered here once read
    try:
        return run(argv, masker)
    except VerifyError as exc:
        print(f"verify: error: {printable(masker.mask(str(exc)))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("verify: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 (no traceback reaches the user)
        print(f"verify: internal error: {type(exc).__name__}: "
              f"{printable(masker.mask(str(exc)))}", file=sys.stderr)
        return 1

"""`python -m sandbox up | down | status | break FAULT | heal | upload N | switch --mode M |
preview [--set KEY=VALUE ...] [--json FILE] | demo`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from contract.stack_output import VIDEO_MODES
from sandbox import stack
from sandbox.deployer import preview
from sandbox.deployer.deployment import parse_setting, write_json
from sandbox.scenarios import adopt, adoption, faults, reconfigure, switch, uploads
from sandbox.scenarios.faults import FAULTS
from sandbox.state import PROJECT_ROOT, sandbox_state

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def _parser() -> argparse.ArgumentParser:

    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="The whole stack on one machine: moto, nginx, sshd, an internal API.",
    )
    parser.add_argument("--dir", type=Path, default=None,
                        help="state directory (default .sandbox/ or $ACADEMY_SANDBOX_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything and deploy the program into moto; on a "
                                   "running sandbox: preview -> verify preflight -> up of the "
                                   "--set values (only the diff is applied)")
    up.add_argument("--mode", choices=VIDEO_MODES, default=None,
                    help="video's mode (default batch); on a running sandbox `switch` changes it")
    up.add_argument("--hosts", type=int, default=1, help="API hosts listed in the outputs")
    up.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                    help="a stack setting over the base stack's (JSON values parsed), e.g. "
                         "workerTypes='[\"ai\",\"messaging\",\"video\",\"thumbnail\"]'")
    up.add_argument("--legacy", action="store_true",
                    help="instead of deploying the stack, make the account the PowerShell "
                         "scripts left (then `python -m sandbox adopt`)")
    adopt = sub.add_parser("adopt", help="after `up --legacy`: verify adopt, then rehearse "
                                         "`pulumi import --file` and `pulumi up` (adopted "
                                         "resources updated, the rest created)")
    adopt.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       dest="settings", help="`pulumi config set KEY VALUE` on the stack first, "
                                             "e.g. videoDrain=true when verify adopt finds "
                                             "waiting work")
    sub.add_parser("down", help="stop every process the sandbox started")
    status = sub.add_parser("status", help="what runs where, latest datapoints, API answers")
    status.add_argument("--json", action="store_true")
    fault = sub.add_parser("break", help="reproduce an incident in the running sandbox")
    fault.add_argument("fault", choices=sorted(FAULTS),
                       help="; ".join(f"{k}: {v[2]}" for k, v in FAULTS.items()))
    sub.add_parser("heal", help="undo every fault")
    upload = sub.add_parser("upload", help="add N videos through POST /api/v1/videos/ (each "
                                           "job sent down the dispatch parameter's path)")
    upload.add_argument("count", metavar="N", help="how many videos (1 to 1000)")
    upload.add_argument("--through", choices=("public", "local"), default="public",
                        help="through nginx (public, default) or straight to the internal API")
    switch = sub.add_parser("switch", help="rehearse a video mode switch: videoMode X with "
                                           "videoDrain true (up), wait until the old path is "
                                           "empty, then videoDrain false (preflight, up)")
    switch.add_argument("--mode", required=True, metavar="asg|batch",
                        help="the mode to switch video to")
    switch.add_argument("--drain-timeout", type=float, default=600.0, metavar="S",
                        help="seconds to wait for the old path to empty (default 600); on "
                             "timeout the drain stays in place (exit 1)")
    preview = sub.add_parser("preview", help="what an up with these settings would change, as "
                                             "`pulumi preview --json` prints it (PreviewDigest; "
                                             "`verify preflight` reads it), changing nothing")
    preview.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         dest="settings", help="a setting over the deployed stack's (JSON values "
                                               "parsed), e.g. videoDrain=false")
    preview.add_argument("--json", type=Path, default=None, metavar="FILE", dest="json_file",
                         help="write the digest to FILE instead of printing it")
    demo = sub.add_parser("demo", help="up, status and verify in batch then asg mode, then down")
    demo.add_argument("--no-verify", action="store_true")
    return parser


def print_status(report: dict[str, Any]) -> None:
    out = sys.stdout
    for name, proc in report["processes"].items():
        state = "running" if proc["running"] else "STOPPED"
        out.write(f"  {name:<13} pid {proc['pid']:<8} {state}\n")
    if not report.get("running") and "mode" not in report:
        out.write("  the sandbox is not running\n")
        return
    if report.get("legacy"):
        out.write(f"  mode          {report['mode']}, an old account (the PowerShell scripts' "
                  "state); no stack deployed yet: `python -m sandbox adopt` takes it over\n"
                  f"  AWS endpoint  {report['aws_endpoint']}  (source .sandbox/env)\n"
                  f"  PUBLIC        {report['public_base_url']}  (nginx)\n"
                  f"  LOCAL         {report['local_base_url']}  (the internal API, on the host)\n"
                  "  the old account holds:\n")
        for line in report["resources"]["legacy"]:
            out.write(f"                  {line}\n")
        for side, (code, body) in report["internal_api"].items():
            out.write(f"  internal API {side:<6} {code} {body[:80]}\n")
        return
    out.write(f"  mode          {report['mode']}\n"
              f"  AWS endpoint  {report['aws_endpoint']}  (source .sandbox/env)\n"
              f"  API host      ssh {report['api_host_ssh']}\n"
              f"  PUBLIC        {report['public_base_url']}  (nginx)\n"
              f"  LOCAL         {report['local_base_url']}  (the internal API, on the host)\n")
    for verb in ("adopted", "created"):
        found = report["resources"].get(verb) or {}
        if verb == "adopted" and not found:
            continue
        out.write(f"  resources     {sum(found.values())} {verb} in moto:\n")
        for typ, count in sorted(found.items()):
            out.write(f"                  {count:>2} {typ}\n")
    if report["resources"]["not_created"]:
        out.write("  not created (the emulator has no API for them; the sandbox runs the "
                  "association's document over SSH itself): "
                  f"{', '.join(report['resources']['not_created'])}\n")
    out.write("  CloudWatch datapoints (latest minute, average):\n")
    for wt, point in report["latest_datapoints"].items():
        shown = f"{point['value']:g} at {point['at']}" if point else "none yet"
        out.write(f"                  {wt:<10} {shown}\n")
    last = report.get("last_invocation") or {}
    payload = last.get("payload")
    if isinstance(payload, dict) and "worker_types" in payload:
        out.write("  last publisher run (value, source):\n")
        for wt, item in payload["worker_types"].items():
            out.write(f"                  {wt:<10} {item.get('value')!s:<5} "
                      f"{item.get('source') or '-':<4} {item.get('reason') or ''}\n")
    elif last:
        out.write(f"  last publisher run: {last.get('function_error') or last.get('error')} "
                  f"{str(payload)[:200]}\n")
    for side, (code, body) in report["internal_api"].items():
        out.write(f"  internal API {side:<6} {code} {body[:80]}\n")
    if report.get("faults"):
        out.write(f"  faults in effect: {', '.join(report['faults'])}\n")


def _demo(args: argparse.Namespace) -> int:

    failed = False
    for mode in sorted(VIDEO_MODES, reverse=True):  # batch, the default, first
        sys.stdout.write(f"\n=== sandbox in {mode} mode ===\n")
        try:
            info = stack.up(stack.UpOptions(mode=mode), args.dir)
            sys.stdout.write(f"up in {info['timings_s']['total']} s\n")
            print_status(stack.status(args.dir))
            if not args.no_verify:
                done = subprocess.run([sys.executable, "-m", "verify", "all", "--stack",
                                       "sandbox"], cwd=PROJECT_ROOT, check=False)
                failed |= done.returncode != 0
        except Exception as exc:  # noqa: BLE001 - one line per failure, then tear down
            sys.stderr.write(f"sandbox demo ({mode}): {exc}\n")
            failed = True
        finally:
            stack.down(args.dir)
    sys.stdout.write("\ndemo " + ("FAILED\n" if failed else "passed: both modes up and verified\n"))
    return EXIT_FAILED if failed else 0


def run(args: argparse.Namespace) -> int:

    if args.command == "up":

        try:
            settings = dict(parse_setting(s) for s in args.settings)
        except ValueError as exc:
            sys.stderr.write(f"python -m sandbox up: {exc}\n")
            return EXIT_USAGE
        if stack.is_running(args.dir) and not args.legacy:
            args.converging = True
            return _converge(args, settings)
        info = stack.up(stack.UpOptions(mode=args.mode or "batch", hosts=args.hosts,
                                        settings=settings, legacy=args.legacy), args.dir)
        what = "an old account, no stack yet" if args.legacy else f"{info['mode']} mode"
        sys.stdout.write(f"sandbox up ({what}) in {info['timings_s']['total']} s; "
                         "`python -m sandbox status` shows it, `source .sandbox/env` reaches "
                         "its AWS\n")
        if args.legacy:
            sys.stdout.write("next: `python -m verify adopt --stack sandbox --import-file F` "
                             "shows what adoption finds; `python -m sandbox adopt` does it\n")
        return 0
    if args.command == "adopt":

        try:
            settings = dict(parse_setting(s) for s in args.settings)
        except ValueError as exc:
            sys.stderr.write(f"python -m sandbox adopt: {exc}\n")
            return EXIT_USAGE
        try:
            done = adopt.adopt(args.dir, settings)
        except adoption.AdoptionUsageError as exc:
            sys.stderr.write(f"python -m sandbox adopt: --set: {exc}\n")
            return EXIT_USAGE
        except adoption.AdoptionRefused as exc:
            sys.stderr.write(f"sandbox adopt: {exc}\n")
            return EXIT_FAILED
        sys.stdout.write(f"\nsandbox adopt: {done['adopted']} adopted (taken over by id and "
                         f"updated), {done['created']} created, in {done['timings_s']['total']} "
                         "s. The leftovers above are still there: `python -m verify all --stack "
                         "sandbox` names those that matter; run their commands to remove them\n")
        return 0
    if args.command == "down":
        report = stack.down(args.dir)
        sys.stdout.write(f"stopped: {', '.join(report['stopped']) or 'nothing was running'}\n")
        if report["not_ours"]:
            sys.stdout.write(f"left alone (PID now belongs to another process): "
                             f"{', '.join(report['not_ours'])}\n")
        return 0
    if args.command == "status":
        report = stack.status(args.dir)
        if args.json:
            sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
        else:
            print_status(report)
        return 0 if report.get("running") else EXIT_FAILED
    if args.command == "break":
        sys.stdout.write(faults.break_fault(args.fault, args.dir) + "\n")
        return 0
    if args.command == "heal":
        healed = faults.heal(args.dir)
        sys.stdout.write(f"healed: {', '.join(healed) or 'nothing was broken'}\n")
        return 0
    if args.command == "upload":
        return _upload(args)
    if args.command == "switch":
        return _switch(args)
    if args.command == "preview":
        return _preview(args)
    return _demo(args)


def _converge(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    """`up --set ...` on a running sandbox (scenarios/reconfigure.py)."""
    info = stack.load_info(sandbox_state(args.dir))
    if args.mode is not None and args.mode != info.get("mode"):
        sys.stderr.write(f"python -m sandbox up: the sandbox runs in {info.get('mode')} mode; "
                         f"`python -m sandbox switch --mode {args.mode}` changes it\n")
        return EXIT_USAGE
    try:
        done = reconfigure.reconfigure(settings, args.dir)
    except preview.PreviewUsageError as exc:
        sys.stderr.write(f"python -m sandbox up: {exc}\n")
        return EXIT_USAGE
    except reconfigure.ReconfigureRefused as exc:
        sys.stderr.write(f"sandbox up: {exc}\n")
        return EXIT_FAILED
    sys.stdout.write(f"sandbox up: converged: {len(done['created'])} created, "
                     f"{len(done['deleted'])} deleted"
                     + (f", restarted {', '.join(done['restarted'])}" if done["restarted"] else "")
                     + "\n")
    return 0


def _preview(args: argparse.Namespace) -> int:

    try:
        settings = dict(parse_setting(s) for s in args.settings)
        if args.json_file is not None and args.json_file.is_dir():
            raise ValueError(f"--json {args.json_file}: a directory; name a file to write")
        if args.json_file is not None and not args.json_file.parent.is_dir():
            raise ValueError(f"--json {args.json_file}: no directory {args.json_file.parent}")
        digest = preview.preview(settings, args.dir)
    except (ValueError, preview.PreviewUsageError) as exc:
        sys.stderr.write(f"python -m sandbox preview: {exc}\n")
        return EXIT_USAGE
    if args.json_file is None:
        sys.stdout.write(json.dumps(digest, indent=4) + "\n")
        return 0
    write_json(args.json_file, digest)
    summary = ", ".join(f"{n} {op}" for op, n in sorted(digest["changeSummary"].items()))
    sys.stdout.write(f"sandbox preview: {summary} written to {args.json_file}; `python -m "
                     f"verify preflight --stack sandbox --plan {args.json_file}` checks it\n")
    return 0


def _switch(args: argparse.Namespace) -> int:

    try:
        report = switch.switch(args.mode, args.drain_timeout, args.dir)
    except switch.SwitchUsageError as exc:
        sys.stderr.write(f"python -m sandbox switch: {exc}\n")
        return EXIT_USAGE
    except switch.SwitchStopped as exc:
        sys.stderr.write(f"sandbox switch: {exc}\n")
        return EXIT_FAILED
    except switch.SwitchInterrupted as exc:
        sys.stderr.write(f"sandbox switch: {exc}\n")
        return exc.exit_code
    sys.stdout.write(switch.describe(report) + "\n")
    return 0


def _upload(args: argparse.Namespace) -> int:

    try:
        count = uploads.parse_count(args.count)
    except ValueError as exc:
        sys.stderr.write(f"python -m sandbox upload: {exc}\n")
        return EXIT_USAGE
    try:
        answers = uploads.upload(count, args.through, args.dir)
    except uploads.UploadError as exc:
        sys.stderr.write(f"sandbox upload: {exc}\n")
        return EXIT_FAILED
    for answer in answers:
        sys.stdout.write(uploads.describe(answer) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:  # `switch` stops at a safe point itself (SwitchInterrupted)
        converging = args.command == "up" and getattr(args, "converging", False)
        sys.stderr.write(f"sandbox {args.command}: interrupted (SIGINT)"
                         + ("; the stack's state was written as the up went: run it again to "
                            "converge" if converging else
                            "; everything it started was stopped: run it again"
                            if args.command == "up" else "") + "\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the user gets one clear line, never a traceback
        sys.stderr.write(f"sandbox {args.command}: {exc}\n")
        return EXIT_FAILED

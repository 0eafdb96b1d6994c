"""`python -m verify preflight --stack NAME --plan PREVIEW.json [--update-plan PLAN.json]`.

Run between `pulumi preview --json --save-plan PLAN.json > PREVIEW.json` and `pulumi up --plan
PLAN.json`. Exit 0: nothing the plan deletes or replaces holds work. 1: something does (each
named with its count), or its work could not be counted. 2: bad usage, a file that is not a
preview digest (or update plan), a plan of another stack, or an update plan that destroys
what the digest does not show.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from verify.errors import UsageError
from verify.outputs import read_env_file
from verify.plan_guard import (
    COMPUTE_ENVIRONMENT,
    GROUP,
    JOB_QUEUE,
    PARAMETER,
    QUEUE,
    WORK_HOLDING,
    Clients,
    Verdict,
    judge,
)
from verify.plan_guard.digest import (
    Destroyed,
    PlanFileError,
    destroyed_by_update_plan,
    read_digest,
)
from verify.stacks import ENV_FILE, load, saved_stack_dir

REGION_SHAPE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")

DEFAULT_REGION = "ap-northeast-2"
WHAT_TO_DO = {
    QUEUE: "let the workers finish its messages (or move them: aws sqs start-message-move-task) "
           "and preview again; a retired video path stays declared while videoDrain=true",
    JOB_QUEUE: "wait until its jobs finish (aws batch list-jobs --job-queue {name} --job-status "
               "RUNNABLE, and RUNNING ...), keeping videoDrain=true meanwhile, then preview again",
    COMPUTE_ENVIRONMENT: "wait until the job queues it serves have no job in flight (keep "
                         "videoDrain=true meanwhile), then preview again",
    GROUP: "wait until its busy workers finish (a worker lifts its scale-in protection when its "
           "job ends), keeping videoDrain=true meanwhile, then preview again",
    PARAMETER: "keep the dispatch parameter declared while the API reads it (the program writes "
               "it in both modes); to rename it, create the new one and point the API at it "
               "first, and delete the old one in a later up",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, metavar="NAME",
                        help="the stack the plan is for (org/NAME or NAME; a saved stack's env "
                             "file says how to reach its AWS)")
    parser.add_argument("--plan", required=True, type=Path, metavar="PREVIEW.json",
                        help="what `pulumi preview --json` printed")
    parser.add_argument("--update-plan", type=Path, metavar="PLAN.json",
                        help="the `--save-plan` file `pulumi up --plan` will run: refused unless "
                             "everything it destroys is in the preview checked")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def stack_env(stack: str, root: Path) -> dict[str, str]:
    """A saved stack's env file (the sandbox's endpoint and credentials); {} otherwise."""
    short = stack.strip("/").rsplit("/", 1)[-1]
    if "/" in stack.strip("/"):
        return {}  # org/NAME: a Pulumi Cloud stack, reached with the runner's own credentials
    return read_env_file(saved_stack_dir(short, root) / ENV_FILE)


def regional_clients(env: Mapping[str, str], default_region: str,
                     make_client: Callable[[dict[str, str], str], Callable[[str], Any]]) -> Clients:
    by_region: dict[str, Callable[[str], Any]] = {}

    def clients(service: str, region: str | None) -> Any:
        region = region or default_region
        if region not in by_region:
            by_region[region] = make_client(dict(env), region)
        return by_region[region](service)

    return clients


def run(args: argparse.Namespace, root: Path,
        make_client: Callable[[dict[str, str], str], Callable[[str], Any]]) -> int:
    stack = args.stack.strip("/")
    if not stack:
        raise UsageError("--stack: say which stack the plan is for")
    short = stack.rsplit("/", 1)[-1]
    digest = read_digest(args.plan)
    others = digest.stacks() - {short}
    if others:
        raise PlanFileError(f"--plan {args.plan} is a plan of stack {', '.join(sorted(others))}, "
                            f"not {short}")
    destroyed = digest.destroyed()
    if args.update_plan is not None:
        _same_preview(destroyed, destroyed_by_update_plan(args.update_plan), args)
    env = stack_env(stack, root)
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
              or str(digest.config.get("aws:region") or "")
              or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or DEFAULT_REGION)
    if not REGION_SHAPE.fullmatch(region):
        raise UsageError(f"the region {region[:60]!r} (from the stack's env, the plan's "
                         "aws:region or AWS_REGION) is not an AWS region such as ap-northeast-2")

    def dispatch_parameter() -> str:
        dispatch = load(stack, None, root).outputs.dispatch
        return dispatch.parameter if dispatch is not None else ""

    verdicts = judge(destroyed, regional_clients(env, region, make_client), dispatch_parameter)
    if args.json:
        print(json.dumps(as_json(short, destroyed, verdicts), indent=2))
    else:
        print(as_text(short, destroyed, verdicts))
    return 1 if any(v.blocks for v in verdicts) else 0


def _same_preview(destroyed: list[Destroyed], planned: dict[str, tuple[str, ...]],
                  args: argparse.Namespace) -> None:
    """The up runs the update plan; the check read the digest: they must be one preview's."""
    shown = {d.urn for d in destroyed}
    unseen = sorted(urn for urn in planned if urn not in shown)
    if unseen:
        raise PlanFileError(
            f"--update-plan {args.update_plan} destroys {len(unseen)} resource(s) the preview "
            f"{args.plan} does not show ({', '.join(unseen[:5])}): write both with one "
            "`pulumi preview --json --save-plan PLAN.json > PREVIEW.json`")


def as_json(stack: str, destroyed: list[Destroyed], verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "stack": stack,
        "ok": not any(v.blocks for v in verdicts),
        "destroyed": [{"urn": d.urn, "type": d.type, "id": d.id, "ops": list(d.ops),
                       "retain_on_delete": d.retained} for d in destroyed],
        "checked": [v.as_dict() for v in verdicts],
        "refused": [v.as_dict() for v in verdicts if v.blocks],
    }


def as_text(stack: str, destroyed: list[Destroyed], verdicts: list[Verdict]) -> str:
    holding = [d for d in destroyed if d.type in WORK_HOLDING]
    lines = [f"preflight {stack}: the plan deletes or replaces {len(destroyed)} resource(s), "
             f"{len(holding)} of a kind that holds work (queue, job queue, compute environment, "
             "group)"]
    for v in verdicts:
        word = "REFUSED" if v.holds_work else "UNKNOWN" if v.holds_work is None else "ok"
        lines.append(f"  {word:<8} {v.action} {v.physical} ({v.type}): {v.summary}")
    refused = [v for v in verdicts if v.blocks]
    if not refused:
        lines.append("nothing that would be deleted or replaced holds work: go ahead "
                     "(`pulumi up --plan` runs exactly this plan)")
        return "\n".join(lines)
    lines.append(f"\nREFUSED: {len(refused)} resource(s) would lose work or could not be "
                 "counted. What to do:")
    for v in refused:
        if v.holds_work is None:
            lines.append(f"  {v.physical}: make it readable to this runner (or check it by hand), "
                         "then run preflight again")
        else:
            lines.append(f"  {v.physical}: {WHAT_TO_DO[v.type].format(name=v.physical)}")
    return "\n".join(lines)

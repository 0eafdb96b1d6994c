"""`python -m verify preflight --stack NAME --plan PREVIEW.json [--update-plan PLAN.json]
[--state STATE.json]`.

Run between `pulumi preview --json --save-plan PLAN.json > PREVIEW.json` and `pulumi up --plan
PLAN.json`. Exit 0: nothing the plan deletes or replaces holds work, and no consumer of a queue
holding work is removed. 1: something does (each named with its count), or its work could not
be counted, or pending deletes could not be seen. 2: bad usage, a file that is not a preview
digest (or update plan, or stack export), a plan of another stack, or an update plan that
destroys what the digest does not show.

Pending deletes (the old resource of an interrupted create-before-delete replacement, marked
`"delete": true` in the state; the next up deletes it whatever the program says): a default
digest hides them (a non-logical `delete-replaced`, shown only with --show-replacement-steps).
They are seen in the stack's state (`--state`, else a saved stack's `state.json`), in a digest
written with --show-replacement-steps, or (by URN only) in the update plan. When none of these
is at hand, preflight cannot tell whether the up deletes one: that refuses (UNKNOWN).
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
    REPLACING_OPS,
    Destroyed,
    Digest,
    PlanFileError,
    destroyed_by_update_plan,
    pending_in_update_plan,
    read_digest,
    read_state,
    urn_parts,
)
from verify.report import escape_controls, shown
from verify.stacks import ENV_FILE, STATE_FILE, load, saved_stack_dir

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
    parser.add_argument("--state", type=Path, metavar="STATE.json",
                        help="`pulumi stack export` of the stack: its pending deletes (resources "
                             "marked \"delete\": true, which the next up deletes) are judged as "
                             "deletes (default: a saved stack's state.json)")
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
    blind = _add_pending_deletes(destroyed, digest, args, root, short)
    env = stack_env(stack, root)
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
              or str(digest.config.get("aws:region") or "")
              or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or DEFAULT_REGION)
    if not REGION_SHAPE.fullmatch(region):
        raise UsageError(f"the region {region[:60]!r} (from the stack's env, the plan's "
                         "aws:region or AWS_REGION) is not an AWS region such as ap-northeast-2")

    loaded: list[Any] = []

    def outputs() -> Any:
        if not loaded:
            loaded.append(load(stack, None, root).outputs)
        return loaded[0]

    verdicts = judge(destroyed, regional_clients(env, region, make_client), outputs)
    if blind is not None:
        verdicts.append(blind)
    if args.json:
        print(json.dumps(as_json(short, destroyed, verdicts), indent=2))
    else:
        print(as_text(short, destroyed, verdicts))
    return 1 if any(v.blocks for v in verdicts) else 0


PENDING = "pending deletes"


def _add_pending_deletes(destroyed: list[Destroyed], digest: Digest, args: argparse.Namespace,
                         root: Path, short: str) -> Verdict | None:
    """Adds to `destroyed` the pending deletes the state, the digest or the update plan
    show; a verdict when none of them can tell whether there are any."""
    state_file = args.state
    if state_file is None and "/" not in args.stack.strip("/"):
        saved = saved_stack_dir(short, root) / STATE_FILE
        state_file = saved if saved.is_file() else None
    from_state: list[Destroyed] | None = None
    if state_file is not None:
        stacks, from_state = read_state(state_file)
        if stacks - {short}:
            raise PlanFileError(f"--state {state_file} is the state of stack "
                                f"{', '.join(sorted(stacks - {short}))}, not {short}")
    seen = {(d.urn, str(d.id)) for d in destroyed if d.pending}
    for resource in from_state or []:
        if (resource.urn, str(resource.id)) not in seen:
            destroyed.append(resource)
            seen.add((resource.urn, str(resource.id)))
    if args.update_plan is not None:
        planned = destroyed_by_update_plan(args.update_plan)
        _same_preview(destroyed, planned, args)
        for urn, ops in planned.items():
            known = sum(1 for u, _ in seen if u == urn)
            for _ in range(pending_in_update_plan(ops) - known):
                where = ("the update plan" if from_state is None else
                         f"the update plan (but not the state {state_file}: an older export?)")
                destroyed.append(Destroyed(urn, urn_parts(urn)[2], None, {},
                                           ("delete-replaced",), False, pending=True,
                                           unseen=where))
        return None
    if from_state is not None or digest.shows_replacement_steps():
        return None
    return Verdict("", "(stack state)", PENDING, "cannot see", None,
                   "a digest without --show-replacement-steps hides pending deletes (old "
                   "resources of an interrupted replacement, deleted by the next up): pass "
                   "--state STATE.json (`pulumi stack export`) or --update-plan PLAN.json")


def _same_preview(destroyed: list[Destroyed], planned: dict[str, tuple[str, ...]],
                  args: argparse.Namespace) -> None:
    """The up runs the update plan; the check read the digest: they must be one preview's.
    A pending delete the digest hides is no mismatch (the caller judges it)."""
    shown_urns = {d.urn for d in destroyed if not d.pending}
    unseen = sorted(urn for urn, ops in planned.items()
                    if urn not in shown_urns and any(op == "delete" or op in REPLACING_OPS
                                                     for op in ops))
    if unseen:
        raise PlanFileError(
            f"--update-plan {args.update_plan} deletes or replaces {len(unseen)} resource(s) "
            f"the preview {args.plan} does not show ({', '.join(unseen[:5])}): write both with "
            "one `pulumi preview --json --save-plan PLAN.json > PREVIEW.json`")


def as_json(stack: str, destroyed: list[Destroyed], verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "stack": stack,
        "ok": not any(v.blocks for v in verdicts),
        "destroyed": [{"urn": d.urn, "type": d.type, "id": d.id, "ops": list(d.ops),
                       "retain_on_delete": d.retained, "pending_delete": d.pending}
                      for d in destroyed],
        "checked": [v.as_dict() for v in verdicts],
        "refused": [v.as_dict() for v in verdicts if v.blocks],
    }


def as_text(stack: str, destroyed: list[Destroyed], verdicts: list[Verdict]) -> str:
    """The report; every name from the plan, the state or AWS escaped (verify.report.shown),
    so a name with a newline or ESC cannot forge a line of it."""
    holding = [d for d in destroyed if d.type in WORK_HOLDING]
    pending = sum(1 for d in destroyed if d.pending)
    lines = [f"preflight {shown(stack)}: the plan deletes or replaces {len(destroyed)} "
             f"resource(s){f' ({pending} pending delete(s))' if pending else ''}, "
             f"{len(holding)} of a kind that holds work (queue, job queue, compute environment, "
             "group)"]
    for v in verdicts:
        word = "REFUSED" if v.holds_work else "UNKNOWN" if v.holds_work is None else "ok"
        lines.append(f"  {word:<8} {v.action} {shown(v.physical)} ({shown(v.type)}): "
                     f"{escape_controls(v.summary)}")
    refused = [v for v in verdicts if v.blocks]
    if not refused:
        lines.append("nothing that would be deleted or replaced holds work: go ahead "
                     "(`pulumi up --plan` runs exactly this plan)")
        return "\n".join(lines)
    lines.append(f"\nREFUSED: {len(refused)} resource(s) would lose work or could not be "
                 "counted. What to do:")
    for v in refused:
        name = shown(v.physical)
        if v.physical == PENDING and v.type == "(stack state)":
            lines.append(f"  {name}: preview again with --show-replacement-steps, or pass "
                         "--update-plan or --state, then run preflight again")
        elif v.holds_work is None:
            lines.append(f"  {name}: make it readable to this runner (or check it by hand), "
                         "then run preflight again")
        elif v.consumes and v.type == GROUP:
            queues = ", ".join(shown(q) for q in v.consumes)
            lines.append(f"  {name}: let its workers finish {queues} first (keep videoDrain="
                         "true until `python -m verify switch` says the old path is empty, or "
                         "move the messages: aws sqs start-message-move-task), then preview "
                         "again")
        else:
            lines.append(f"  {name}: {WHAT_TO_DO[v.type].format(name=name)}")
    return "\n".join(lines)

"""Which stack's outputs verify reads: the one place `--outputs` and `--stack` are resolved.

In this order (README, "The verify toolkit"):
1. `--outputs FILE`: a saved `pulumi stack output --json`; no environment with it.
2. `--stack NAME` with a saved stack: `<stacks dir>/NAME/outputs.json`, and beside it an
   optional `env` file (`export KEY=VALUE` lines: the AWS endpoint, region, credentials or
   SSH settings that reach that stack). The stacks dir is `$ACADEMY_STACKS_DIR`, else
   `.academy/stacks` at the project root. Anything may save a stack there: the sandbox saves
   itself as `sandbox`; `pulumi stack output --json > .academy/stacks/prod/outputs.json`
   pins what a run of `prod` reads.
3. `--stack NAME` otherwise: `pulumi stack output --json --stack NAME`.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from contract.stack_output import StackOutput
from verify.errors import UsageError
from verify.outputs import PROJECT_ROOT, load_file, load_pulumi_stack, read_env_file

STACKS_DIR_ENV = "ACADEMY_STACKS_DIR"
DEFAULT_STACKS_DIR = Path(".academy") / "stacks"
OUTPUTS_FILE = "outputs.json"
ENV_FILE = "env"
STATE_FILE = "state.json"  # optional: its `pulumi stack export` (`verify preflight` reads it)


@dataclass(frozen=True)
class LoadedStack:
    outputs: StackOutput
    env: dict[str, str]  # the saved stack's env file; empty for the other sources
    source: str  # where the outputs were read, for messages


def stacks_dir(root: Path = PROJECT_ROOT) -> Path:
    """Where saved stacks live: $ACADEMY_STACKS_DIR, else <project>/.academy/stacks."""
    moved = os.environ.get(STACKS_DIR_ENV, "").strip()
    return Path(moved).resolve() if moved else root / DEFAULT_STACKS_DIR


def saved_stack_dir(name: str, root: Path = PROJECT_ROOT) -> Path:
    """The directory a saved stack NAME lives in (it may not exist)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise UsageError(f"--stack {name!r} is not a stack name")
    return stacks_dir(root) / name


def load(stack: str | None, outputs_file: Path | None,
         root: Path = PROJECT_ROOT) -> LoadedStack:
    if outputs_file is not None:
        return LoadedStack(load_file(outputs_file), {}, str(outputs_file))
    if not stack:
        raise UsageError("say which stack: --stack NAME (e.g. --stack sandbox) or --outputs FILE")
    if "/" in stack.strip("/") and ".." not in stack:
        # `org/stack` (as pulumi/actions names it): only Pulumi knows an organization's stack.
        return LoadedStack(load_pulumi_stack(stack), {}, f"stack {stack}")
    saved = saved_stack_dir(stack, root)
    outputs_path = saved / OUTPUTS_FILE
    if outputs_path.is_file():
        env = read_env_file(saved / ENV_FILE)
        return LoadedStack(load_file(outputs_path), env, str(outputs_path))
    return LoadedStack(load_pulumi_stack(stack, saved_in=outputs_path), {}, f"stack {stack}")

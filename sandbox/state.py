"""Where the sandbox keeps its state: `.sandbox/` at the project root, or ACADEMY_SANDBOX_DIR;
and where it saves itself as a stack for verify (verify/stacks.py's convention: the stack
`sandbox` in the saved-stacks directory, `outputs.json` and `env`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from verify.stacks import ENV_FILE as STACK_ENV_FILE
from verify.stacks import OUTPUTS_FILE, STACKS_DIR_ENV, STATE_FILE, stacks_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "ACADEMY_SANDBOX_DIR"
DEFAULT_DIR_NAME = ".sandbox"
STACK_NAME = "sandbox"  # `python -m verify all --stack sandbox`


@dataclass(frozen=True)
class SandboxState:
    """The paths of one sandbox: its own files under `root`, its saved stack (the outputs and
    the env verify reads) under `stacks_dir`."""

    root: Path
    stacks_dir: Path

    @property
    def stack_dir(self) -> Path:
        return self.stacks_dir / STACK_NAME

    @property
    def outputs_file(self) -> Path:
        return self.stack_dir / OUTPUTS_FILE

    @property
    def stack_state_file(self) -> Path:
        """The stack's state as `pulumi stack export` writes it, beside the outputs."""
        return self.stack_dir / STATE_FILE

    @property
    def stack_env_file(self) -> Path:
        """A copy of `env` beside the outputs, where verify reads a saved stack's env."""
        return self.stack_dir / STACK_ENV_FILE

    def verify_env(self) -> dict[str, str]:
        """What a verify process needs to find this sandbox as `--stack sandbox`."""
        return {STACKS_DIR_ENV: str(self.stacks_dir)}

    @property
    def pids_file(self) -> Path:
        return self.root / "pids.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "up.lock"

    @property
    def env_file(self) -> Path:
        return self.root / "env"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def sshd_dir(self) -> Path:
        return self.root / "sshd"

    @property
    def nginx_dir(self) -> Path:
        return self.root / "nginx"

    @property
    def db_path(self) -> Path:
        return self.root / "videos.sqlite3"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def ensure(self) -> SandboxState:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        self.stack_dir.mkdir(parents=True, exist_ok=True)
        return self


def write_atomic(path: Path, text: str) -> None:
    """Replaces `path` with `text` or leaves it as it was, never half written: a temporary file
    in the same directory, flushed to disk, then renamed over it (and the directory synced, so
    the rename survives a crash too)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def sandbox_dir(override: Path | str | None = None) -> Path:
    """The state directory: the argument, else $ACADEMY_SANDBOX_DIR, else <project>/.sandbox."""
    if override is not None:
        return Path(override).resolve()
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).resolve()
    return PROJECT_ROOT / DEFAULT_DIR_NAME


def saved_stacks_dir(root: Path) -> Path:
    """Where this sandbox saves itself as a stack: $ACADEMY_STACKS_DIR when set; else verify's
    default (`.academy/stacks`) for the default sandbox, and `<root>/stacks` for one elsewhere,
    so that a private sandbox (tests, benchmarks) never replaces the user's."""
    if os.environ.get(STACKS_DIR_ENV, "").strip() or root == PROJECT_ROOT / DEFAULT_DIR_NAME:
        return stacks_dir(PROJECT_ROOT)
    return root / "stacks"


def sandbox_state(override: Path | str | None = None) -> SandboxState:
    root = sandbox_dir(override)
    return SandboxState(root, saved_stacks_dir(root))

"""Where the sandbox keeps its state: `.sandbox/` at the project root, or ACADEMY_SANDBOX_DIR."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "ACADEMY_SANDBOX_DIR"
DEFAULT_DIR_NAME = ".sandbox"


@dataclass(frozen=True)
class SandboxState:
    """The paths of one sandbox; every file the sandbox writes lives under `root`."""

    root: Path

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
    def outputs_file(self) -> Path:
        return self.root / "outputs.json"

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
        return self


def sandbox_dir(override: Path | str | None = None) -> Path:
    """The state directory: the argument, else $ACADEMY_SANDBOX_DIR, else <project>/.sandbox."""
    if override is not None:
        return Path(override).resolve()
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).resolve()
    return PROJECT_ROOT / DEFAULT_DIR_NAME


def sandbox_state(override: Path | str | None = None) -> SandboxState:
    return SandboxState(sandbox_dir(override))

"""A real nginx on loopback: the sandbox API host's proxy, run from a private state directory.

Layout under the state directory: nginx.conf (standalone, includes conf.d/*.conf), the site file
conf.d/academy-api.conf (what deliver.sh replaces), pid, logs and temp dirs.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from contract.nginx_config import NginxParams, render
from sandbox.ports import LOOPBACK, wait_for_port
from sandbox.processes import ProcessRegistry, launch, terminate

SITE_FILE_NAME = "academy-api.conf"


class NginxError(RuntimeError):
    """nginx is missing, rejected its config, or did not come up; the message says what to do."""


def nginx_binary() -> Path:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise NginxError("nginx not found; run `make system` (installs Debian's nginx)")
    return Path(found)


@dataclass(frozen=True)
class NginxFiles:
    """The files of one nginx instance, all absolute, inside its state directory."""

    root: Path

    @classmethod
    def under(cls, state_dir: Path) -> NginxFiles:
        return cls(state_dir.resolve())

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def site_dir(self) -> Path:
        return self.root / "conf.d"

    @property
    def site(self) -> Path:
        return self.site_dir / SITE_FILE_NAME

    @property
    def pid_file(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    @property
    def temp_dir(self) -> Path:
        return self.root / "temp"

    @property
    def test_command(self) -> str:
        """deliver.sh's TEST_COMMAND (the stack setting nginxTestCommand) for this directory."""
        return shlex.join(check_command_args(self.conf, self.error_log))

    @property
    def reload_command(self) -> str:
        """deliver.sh's RELOAD_COMMAND: `nginx -s reload` finds the master through the pid file."""
        return shlex.join(
            [str(nginx_binary()), "-s", "reload", "-c", str(self.conf), "-e", str(self.error_log)]
        )

    def site_params(self, port: int, upstream: str, server_name: str = "localhost") -> NginxParams:
        """The delivered site file's params: the production template, loopback and private logs."""
        return NginxParams(
            server_name=server_name,
            upstream=upstream,
            listen_address=LOOPBACK,
            listen_port=port,
            access_log=str(self.access_log),
            error_log=str(self.error_log),
        )

    def main_params(self, port: int, upstream: str, server_name: str = "localhost") -> NginxParams:
        """The standalone nginx.conf's params: own pid and temp paths, includes conf.d/*.conf."""
        return replace(
            self.site_params(port, upstream, server_name),
            standalone=True,
            pid_file=str(self.pid_file),
            temp_dir=str(self.temp_dir),
            site_include=str(self.site_dir / "*.conf"),
            worker_user=worker_user(),
        )

    def prepare(self, port: int, upstream: str, server_name: str = "localhost") -> NginxFiles:
        """Write nginx.conf and the initial site file for 127.0.0.1:port -> upstream."""
        self.site_dir.mkdir(parents=True, exist_ok=True)
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(render(self.main_params(port, upstream, server_name)))
        self.site.write_text(render(self.site_params(port, upstream, server_name)))
        return self


def worker_user() -> str | None:
    """The user nginx's workers must run as to use this process's private files (None: not root).

    Only a root master switches users; it would pick nobody, locked out of our state directory.
    """
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(os.geteuid()).pw_name


def check_config(conf: Path, error_log: Path | None = None) -> str:
    """`nginx -t -c CONF`; returns nginx's report, raises NginxError with it when refused."""
    result = subprocess.run(
        check_command_args(conf, error_log), capture_output=True, text=True, check=False
    )
    report = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise NginxError(f"nginx -t refused {conf}:\n{report}")
    return report


def check_command_args(conf: Path, error_log: Path | None = None) -> list[str]:
    args = [str(nginx_binary()), "-t", "-c", str(conf)]
    # -e: nginx opens its compiled-in error log before reading the config; keep it private.
    return args + (["-e", str(error_log)] if error_log else [])


@dataclass
class NginxServer:
    """A running nginx master started by this process; stop() ends it by its PID."""

    conf: Path
    error_log: Path
    port: int
    pid: int
    command: list[str]
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        conf: Path,
        port: int,
        error_log: Path,
        timeout_s: float = 10.0,
        registry: ProcessRegistry | None = None,
        name: str = "nginx",
    ) -> NginxServer:
        """`nginx -c CONF -e ERROR_LOG -g 'daemon off;'`, then wait until 127.0.0.1:port answers."""
        conf, error_log = conf.resolve(), error_log.resolve()
        check_config(conf, error_log)
        # Otherwise wait_for_port below would be answered by whoever already holds the port.
        if wait_for_port(port, timeout_s=0.05):
            raise NginxError(f"{LOOPBACK}:{port} is already in use; pick a free port")
        command = [str(nginx_binary()), "-c", str(conf), "-e", str(error_log), "-g", "daemon off;"]
        process = launch(name, command, error_log, registry)
        server = cls(conf, error_log, port, process.pid, command, process)
        if not wait_for_port(port, timeout_s) or process.poll() is not None:
            server.stop()
            tail = error_log.read_text(errors="replace")[-2000:] if error_log.exists() else ""
            raise NginxError(
                f"nginx did not answer on {LOOPBACK}:{port} within {timeout_s}s; "
                f"error log {error_log}:\n{tail}"
            )
        return server

    def reload(self) -> None:
        """SIGHUP to the master: it re-reads the config and replaces its workers (asynchronous)."""
        os.kill(self.pid, signal.SIGHUP)

    def stop(self, timeout_s: float = 5.0) -> None:
        terminate(self.pid, self._process, timeout_s)

    def test_config(self) -> str:
        return check_config(self.conf, self.error_log)

    @property
    def test_command(self) -> str:
        """deliver.sh's TEST_COMMAND for this instance."""
        return shlex.join(check_command_args(self.conf, self.error_log))

    @property
    def reload_command(self) -> str:
        """deliver.sh's RELOAD_COMMAND for this instance (the master's PID, not a name)."""
        return f"kill -HUP {self.pid}"


def worker_pids(master_pid: int) -> set[int]:
    """The master's worker processes (its children), from /proc."""
    workers = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            workers.add(int(stat.parent.name))
    return workers


def wait_workers_replaced(master_pid: int, old: set[int], timeout_s: float = 10.0) -> bool:
    """After a reload, True once every worker that served the old config has exited.

    A reload is asynchronous: until then an old worker may still answer with the old config.
    """
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = worker_pids(master_pid)
        if current and not (current & old):
            return True
        time.sleep(0.05)
    return False

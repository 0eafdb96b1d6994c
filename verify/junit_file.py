"""The --junit file: refused before any check runs when it cannot be written (the run would
otherwise invoke the publisher and then lose the report), written whole at the end.

Only a regular file (or a new one) is taken: a FIFO would block the run and a device or a
directory takes no report. Writability is tested by writing, since opening for append writes
nothing (/dev/full accepts the open). Missing directories are never created."""

import os
import stat
import tempfile
from pathlib import Path

from verify.errors import UsageError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _refuse(path: Path, why: str) -> UsageError:
    return UsageError(f"cannot write --junit {path}: {why}")


def check_writable(path: Path) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc)) from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        raise _refuse(path, f"it is {kind}, not a regular file")
    directory = path.parent
    if not directory.is_dir():
        raise _refuse(path, f"directory {directory} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".verify-junit-") as probe:
            probe.write(b"<?xml?>")
            probe.flush()
            os.fsync(probe.fileno())
        if mode is not None and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc)) from None


def write(path: Path, data: bytes) -> None:
    """Write the report beside `path`, then rename it over `path`: never a half-written file,
    and never a FIFO or device put there since the check (the rename replaces the name)."""
    written: str | None = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".verify-junit-",
                                         delete=False) as handle:
            written = handle.name
            handle.write(data)
        os.chmod(written, 0o644)
        os.replace(written, path)
    except OSError as exc:
        if written is not None:
            Path(written).unlink(missing_ok=True)
        raise _refuse(path, exc.strerror or str(exc)) from None

"""Deterministic zip of the publisher's sources (lambda/queue_depth/).

Same sources -> same bytes -> same CodeSha256, so `pulumi up` shows no diff for unchanged
code and the verify toolkit can compute the expected hash locally. Pure stdlib: the verify
toolkit and the sandbox import it too.

The bytes also depend on the zlib deflate implementation; CPython's bundled/system zlib
is stable, but a build linked against zlib-ng would produce different (equally valid) bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from pathlib import Path

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest timestamp a zip entry can hold
FILE_MODE = 0o644
COMPRESS_LEVEL = 9


class ArchiveError(ValueError):
    """The source directory cannot be archived (missing or holds no Python sources)."""


def source_files(src_dir: Path) -> list[Path]:
    """The *.py files under src_dir (recursively, no __pycache__), sorted by archive name."""
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise ArchiveError(f"Lambda source directory not found: {src_dir}")
    files = [
        path
        for path in src_dir.rglob("*.py")
        if path.is_file() and "__pycache__" not in path.relative_to(src_dir).parts
    ]
    if not files:
        raise ArchiveError(f"no *.py files under {src_dir}; nothing to put in the Lambda archive")
    return sorted(files, key=lambda p: p.relative_to(src_dir).as_posix())


def build_archive(src_dir: Path) -> bytes:
    """Zip the sources with sorted entries, a fixed timestamp and fixed permissions."""
    src_dir = Path(src_dir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in source_files(src_dir):
            info = zipfile.ZipInfo(path.relative_to(src_dir).as_posix(), FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr is read as a file mode
            info.external_attr = (0o100000 | FILE_MODE) << 16
            archive.writestr(info, path.read_bytes(), compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    """Base64 of the SHA-256 digest: the format of Lambda's CodeSha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def write_archive(src_dir: Path, dest: Path) -> str:
    """Write the archive to dest only when its bytes changed; return its CodeSha256."""
    data = build_archive(src_dir)
    dest = Path(dest)
    if not dest.is_file() or dest.read_bytes() != data:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        partial.write_bytes(data)
        os.replace(partial, dest)
    return code_sha256(data)

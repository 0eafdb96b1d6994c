"""The publisher's archive: same sources, same bytes, same CodeSha256."""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from contract.lambda_archive import (
    ArchiveError,
    build_archive,
    code_sha256,
    write_archive,
)

HANDLER_DIR = Path(__file__).resolve().parents[2] / "lambda" / "queue_depth"
# The handler and its parts: the count rule, the bounded HTTP read, the configuration.
PARTS = ("lambda_function.py", "backlog_count.py", "backlog_http.py", "publisher_config.py")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A copy of the handler sources, plus the clutter a working tree accumulates."""
    copy = tmp_path / "queue_depth"
    shutil.copytree(HANDLER_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "lambda_function.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (copy / "__pycache__" / "stray.py").write_text("x = 1\n")
    (copy / "README.md").write_text("notes\n")
    (copy / ".env").write_text("SECRET=1\n")
    return copy


def _entries(data: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(data)).infolist()


def test_two_builds_are_byte_identical() -> None:
    assert build_archive(HANDLER_DIR) == build_archive(HANDLER_DIR)


def test_bytes_do_not_depend_on_file_times_or_modes(src: Path, tmp_path: Path) -> None:
    before = build_archive(src)
    handler = src / "lambda_function.py"
    handler.chmod(0o755)
    handler.touch()
    os.utime(handler, (2_000_000_000, 2_000_000_000))
    assert build_archive(src) == before


@pytest.mark.parametrize("part", PARTS)
def test_changed_source_changes_the_bytes_and_hash(src: Path, part: str) -> None:
    before = build_archive(src)
    with (src / part).open("a") as f:
        f.write("\n# changed\n")
    after = build_archive(src)
    assert after != before
    assert code_sha256(after) != code_sha256(before)


def test_archive_holds_only_the_handler_sources(src: Path) -> None:
    entries = _entries(build_archive(src))
    expected = sorted(p.relative_to(HANDLER_DIR).as_posix() for p in HANDLER_DIR.rglob("*.py")
                      if "__pycache__" not in p.parts)
    assert [e.filename for e in entries] == expected
    assert set(PARTS) <= set(expected)
    for entry in entries:
        assert entry.date_time == (1980, 1, 1, 0, 0, 0)
        assert entry.external_attr >> 16 == 0o100644
        assert entry.compress_type == zipfile.ZIP_DEFLATED


def test_entries_are_sorted_and_nested_sources_kept(src: Path) -> None:
    (src / "zeta.py").write_text("Z = 1\n")
    (src / "alpha").mkdir()
    (src / "alpha" / "beta.py").write_text("B = 1\n")
    names = [e.filename for e in _entries(build_archive(src))]
    assert names == sorted(names)
    assert "alpha/beta.py" in names and "zeta.py" in names


def test_code_sha256_is_lambdas_format() -> None:
    data = build_archive(HANDLER_DIR)
    assert code_sha256(data) == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert len(code_sha256(data)) == 44


def test_write_archive_writes_only_when_bytes_change(src: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "queue_depth.zip"
    digest = write_archive(src, dest)
    assert digest == code_sha256(dest.read_bytes())
    stamp = dest.stat().st_mtime_ns
    os.utime(dest, ns=(stamp - 10**9, stamp - 10**9))
    assert write_archive(src, dest) == digest
    assert dest.stat().st_mtime_ns == stamp - 10**9  # untouched
    (src / "lambda_function.py").write_text("def handler(event, context):\n    return 1\n")
    changed = write_archive(src, dest)
    assert changed != digest and changed == code_sha256(dest.read_bytes())


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_nothing_to_archive_is_a_clear_error(tmp_path: Path, layout: str) -> None:
    target = tmp_path / "queue_depth"
    if layout == "empty":
        target.mkdir()
        (target / "README.md").write_text("no code\n")
    with pytest.raises(ArchiveError, match="queue_depth"):
        build_archive(target)


def test_unpacked_archive_imports_and_exposes_handler(tmp_path: Path) -> None:
    zipfile.ZipFile(io.BytesIO(build_archive(HANDLER_DIR))).extractall(tmp_path)
    probe = (
        "import lambda_function as m; "
        "assert callable(m.handler) and issubclass(m.BacklogUnavailable, Exception); "
        "assert m.parse_count(b'{\"backlog\": 3}', 5) == 3"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr


def test_handler_imports_only_stdlib_and_the_aws_sdk() -> None:
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore"}
    for path in HANDLER_DIR.rglob("*.py"):
        local = {p.stem for p in HANDLER_DIR.rglob("*.py")}
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in allowed | local, f"{path.name} imports {root}"

"""`pip install .` works, installs the runtime only, and `academy-verify` runs from anywhere.

Offline: the wheel is built with the setuptools already installed (no build isolation), from
a copy of the sources (the checkout stays clean), and installed into a fresh venv without its
dependencies; the venv reaches them through a .pth line naming this interpreter's
site-packages, so nothing is downloaded.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from contract.lambda_archive import build_archive, code_sha256

ROOT = Path(__file__).resolve().parent.parent.parent
RUNTIME = {"pulumi", "pulumi-aws", "boto3", "requests", "paramiko", "pyyaml"}
# The toolkit's packages (what verify imports), and the files the build reads.
PACKAGES = ("verify", "components", "contract", "stack_settings", "pulumi_bridge")
SOURCES = ("pyproject.toml", "README.md", "requirements.txt", "requirements-dev.txt",
           *PACKAGES, "lambda")


def _pins(path: Path) -> dict[str, str]:
    """name (lowercase, no extras) -> the whole requirement line."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pins[re.split(r"[\[=<>~!; ]", line, maxsplit=1)[0].lower()] = line
    return pins


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pinned = _pins(ROOT / "requirements-dev.txt")["setuptools"]
    try:
        have = f"setuptools=={metadata.version('setuptools')}"
    except metadata.PackageNotFoundError:
        have = "no setuptools"
    assert have == pinned, f"{have} here, the build needs {pinned}: run `make venv`"
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "--no-index", "--disable-pip-version-check", "-w", str(dist), str(source)], cwd=source)
    (built,) = dist.glob("academy_workers-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=venv).stdout.strip()
    # The dependencies, from this interpreter's site-packages (after the venv's own).
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    Path(purelib, "academy-deps.pth").write_text("".join(f"{p}\n" for p in deps))
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
          "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)], cwd=venv)
    return venv / "bin"


def _elsewhere(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ACADEMY_PROJECT_DIR")}
    env["HOME"] = str(tmp_path)
    return env


def test_academy_verify_help_and_version_run_from_another_directory(
    installed: Path, tmp_path: Path,
) -> None:
    env = _elsewhere(tmp_path)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    helped = _run([str(installed / "academy-verify"), "--help"], cwd=tmp_path, env=env)
    assert "Prove a deployed academy-workers stack works" in helped.stdout
    for command in ([str(installed / "academy-verify"), "--version"],
                    [str(installed / "python"), "-m", "verify", "--version"]):
        assert _run(command, cwd=tmp_path, env=env).stdout.strip() == f"academy-verify {version}"


def test_the_installed_copy_runs_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = _run([str(installed / "python"), "-c", "import verify; print(verify.__file__)"],
                 cwd=tmp_path, env=_elsewhere(tmp_path)).stdout.strip()
    assert Path(where).is_relative_to(installed.parent), where


def test_with_no_project_around_a_stack_command_says_what_to_do(
    installed: Path, tmp_path: Path,
) -> None:
    done = subprocess.run([str(installed / "academy-verify"), "all", "--stack", "sandbox"],
                          cwd=tmp_path, env=_elsewhere(tmp_path), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("verify: error:"), done.stderr


def test_the_packaged_publisher_source_builds_the_same_archive(
    installed: Path, tmp_path: Path,
) -> None:
    script = ("from pathlib import Path; from verify.project import publisher_source; "
              "from contract.lambda_archive import build_archive, code_sha256; "
              "print(code_sha256(build_archive(publisher_source(Path.cwd(), "
              "'lambda/queue_depth'))))")
    packaged = _run([str(installed / "python"), "-c", script], cwd=tmp_path,
                    env=_elsewhere(tmp_path)).stdout.strip()
    assert packaged == code_sha256(build_archive(ROOT / "lambda" / "queue_depth"))


def test_the_installed_verify_reads_the_packaged_count_rule_alone(
    installed: Path, tmp_path: Path,
) -> None:
    """Away from any checkout, verify's count rule is the packaged publisher's, read without
    running its handler module."""
    script = ("import sys; from verify import publisher_rules as r; "
              "print(r.read_count(b'{\"backlog\": 4}', 9)[0], r.status_code(b'HTTP/1.1 403'), "
              "r.count_rule().__file__, "
              "any(getattr(m, '__file__', '') and m.__file__.endswith('lambda_function.py') "
              "for m in list(sys.modules.values())))")
    found = _run([str(installed / "python"), "-c", script], cwd=tmp_path,
                 env=_elsewhere(tmp_path)).stdout.split()
    count, status, source, handler_ran = found
    assert (count, status, handler_ran) == ("4", "403", "False")
    assert Path(source).is_relative_to(installed.parent), source
    assert Path(source).parent.name == "publisher_source"


def test_the_wheel_requires_the_runtime_pins_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
    required = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    runtime = _pins(ROOT / "requirements.txt")
    assert {re.split(r"[\[=<>~!; ]", r, maxsplit=1)[0].lower() for r in required} == RUNTIME
    assert sorted(r.replace(" ", "") for r in required) == sorted(runtime.values())


def test_the_wheel_holds_every_package_of_the_toolkit(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = {str(Path(n).parent) for n in archive.namelist() if n.endswith(".py")}
    on_disk = {str(p.parent.relative_to(ROOT)) for top in PACKAGES
               for p in (ROOT / top).rglob("__init__.py")}
    missing = sorted(on_disk - shipped)
    assert not missing, (f"packages not in the wheel: {missing}; add them to "
                         "[tool.setuptools] packages in pyproject.toml")
    assert "verify/publisher_source" in shipped

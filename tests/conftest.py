"""Fixtures shared by the end-to-end tests (the sandbox, brought up once per mode per run), and
the one place each test is given its tier and its xdist group.

Tiers (markers registered in pyproject.toml), assigned here by path and fixture, never by hand:
- `e2e`: the sandbox end to end (tests/sandbox, tests/verify_e2e): real moto, nginx, sshd, the
  internal API and the worker as processes.
- `parts`: one real part at a time (real nginx, real sshd, a moto server or the emulator run as a
  process, the package installed into a fresh venv, `verify adopt` evaluating the program in a
  process of its own).
Everything else is the fast loop: `make test-fast` runs `-m "not e2e and not parts"`.

Groups (`make test` runs `--dist loadgroup`, scheduled by `_scope` below): a test using the
shared `sandbox` fixture joins the group of its mode, so each mode comes up once per run on one
worker (the two modes on the two workers at once); the heavy files whose tests each bring up
their own sandbox or evaluation are not grouped, so their tests spread over both workers; every
other file is one group (what `--dist loadfile` did), so a module's fixtures are set up once.
End-to-end tests are put first so the long ones start while the short ones fill the other
worker.
"""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.services import moto_server
from tests.sandbox_e2e import RunningSandbox, start

TESTS = Path(__file__).parent
E2E_DIRS = ("sandbox", "verify_e2e")
PARTS_DIRS = ("nginx", "sandbox_parts", "packaging")
# Fixtures that start or run a real part as a process: sshd, the sandbox's emulator (here and
# `emulated` in tests/verify/conftest.py), Debian's AWS CLI (`debian_aws`).
PARTS_FIXTURES = frozenset({"sshd", "emulator", "emulated", "debian_aws"})
# Files that run the whole program as a user does: `verify adopt` as a process, which evaluates
# the Pulumi program on each call (5-45 s a test).
PARTS_FILES = frozenset({"verify/test_adopt.py"})
# Files whose tests share no module fixture and each cost tens of seconds (their own sandbox,
# their own evaluation): one test per unit, so they spread over both workers.
SPREAD_FILES = frozenset({"sandbox/test_switch.py", "sandbox/test_adoption.py",
                          "verify/test_adopt.py"})


def _tier(item: pytest.Item) -> str | None:
    relative = Path(str(item.path)).relative_to(TESTS)
    if relative.parts[0] in E2E_DIRS:
        return "e2e"
    if (relative.parts[0] in PARTS_DIRS or relative.as_posix() in PARTS_FILES
            or PARTS_FIXTURES & set(getattr(item, "fixturenames", ()))):
        return "parts"
    return None


# Files whose tests use the shared `sandbox` fixture (checked against the fixture at collection).
SANDBOX_FILES = frozenset({"sandbox/test_sandbox.py", "sandbox/test_video_uploads.py",
                           "sandbox/test_aws_cli.py", "verify_e2e/test_nginx_refusal_marker.py",
                           "verify_e2e/test_verify_sandbox.py"})
MODES = ("batch", "asg")


def _scope(nodeid: str) -> str:
    """The unit xdist sends to one worker: a test of the shared sandbox goes with its mode's
    group, a test of a spread file alone, any other test with its file."""
    path, _, name = nodeid.partition("::")
    relative = path.removeprefix("tests/")
    if relative in SANDBOX_FILES and "[" in name:
        mode = name.split("[", 1)[1].split("-", 1)[0].rstrip("]")
        if mode in MODES:
            return f"sandbox-{mode}"
    if relative in SPREAD_FILES:
        return nodeid
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` by `_scope` (xdist 3.8 marks groups by rewriting a node id, which
    pytest 9 no longer reads, so its own xdist_group marks would group nothing)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return ScopeScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shared = set()
    for item in items:
        tier = _tier(item)
        if tier:
            item.add_marker(getattr(pytest.mark, tier))
        if "sandbox" in getattr(item, "fixturenames", ()):
            shared.add(Path(str(item.path)).relative_to(TESTS).as_posix())
    if not shared <= SANDBOX_FILES:
        raise pytest.UsageError(
            f"tests/conftest.py: add {sorted(shared - SANDBOX_FILES)} to SANDBOX_FILES, so "
            "their tests share one sandbox per mode")
    # Stable: the order within a tier (and so the sandbox's batch-then-asg) is kept.
    items.sort(key=lambda item: _tier(item) != "e2e")


@pytest.fixture(scope="session", params=["batch", "asg"])
def sandbox(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A running sandbox (one mode at a time; pytest finishes one mode before the next)."""
    yield from start(request.param, tmp_path_factory.mktemp(f"sandbox-{request.param}"))


@pytest.fixture(scope="session")
def asg_sandbox(sandbox: RunningSandbox) -> RunningSandbox:
    if sandbox.mode != "asg":
        pytest.skip("applies to asg mode only")
    return sandbox


# -- the AWS stand-ins, one of each per session (per xdist worker) -----------------------------
# A test that needs a clean account resets it first (tests/moto_reset.py, or the reset in
# tests/verify/conftest.py `aws_env` / `emulated`, tests/publisher/conftest.py `aws`).

@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server in a thread of this process."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with moto_server.in_process() as url:
        yield url


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[moto_server.MotoServer]:
    """The sandbox's own AWS as a process (services/aws_emulator.py: Lambda runs, Batch jobs are
    held)."""
    server = moto_server.start(tmp_path_factory.mktemp("emulator") / "moto.log",
                               module="sandbox.services.aws_emulator")
    try:
        yield server
    finally:
        server.stop()

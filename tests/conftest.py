"""Fixtures shared by the end-to-end tests: the sandbox, brought up once per mode."""

from collections.abc import Iterator

import pytest

from tests.sandbox_e2e import RunningSandbox, start


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

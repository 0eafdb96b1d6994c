"""One moto server for the sandbox-part tests, always stopped at the end (the emulator is
the session's, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.services import moto_server


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[moto_server.MotoServer]:
    server = moto_server.start(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws(moto: moto_server.MotoServer) -> Callable[[str], Any]:
    """aws("sqs") -> a boto3 client of the test moto server."""
    env = moto.env()

    def client(service: str) -> Any:
        return moto_server.client(env, service)

    return client

"""A clean account in the session's moto or emulator (tests/conftest.py starts one of each)."""

from __future__ import annotations

import requests

from sandbox.services import moto_server


def reset(server: moto_server.MotoServer | str) -> None:
    """Forget every resource in a moto server (the emulator's held jobs included)."""
    url = server if isinstance(server, str) else server.endpoint_url
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()


"""`python -m sandbox upload N`: N videos through the API, as the users' uploads arrive.

Each is a `POST /api/v1/videos/` with the internal key (read from its SSM parameter, as
`status` does), through nginx (`--through public`, the default) or straight to the internal
API (`--through local`). The API creates the video UPLOADED and sends its job down the path
the dispatch parameter names; the answer says which path and which message or job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from sandbox import stack
from sandbox.services.internal_api import KEY_HEADER, UPLOAD_PATH
from sandbox.state import sandbox_state
from verify.secrets import Masker

MAX_UPLOADS = 1000
THROUGH = ("public", "local")


class UploadError(RuntimeError):
    """An upload was refused or did not arrive; the message says which and why."""


def parse_count(text: str) -> int:
    """N as typed: a whole number from 1 to MAX_UPLOADS (ValueError saying what is wrong)."""
    if not text.isdigit() or len(text) > 4 or not 1 <= int(text) <= MAX_UPLOADS:
        raise ValueError(f"N {text[:20]!r}: expected a whole number from 1 to {MAX_UPLOADS}")
    return int(text)


def upload(count: int, through: str = "public", state_dir: Path | None = None,
           title: str = "sandbox upload") -> list[dict[str, Any]]:
    """POSTs `count` videos; returns the API's answers (id, mode, message_id or job_id).
    Stops at the first refusal with UploadError (the answers so far in its message)."""
    if through not in THROUGH:
        raise ValueError(f"--through {through!r}: expected one of {', '.join(THROUGH)}")
    state = sandbox_state(state_dir)
    info = stack.load_info(state)
    key = stack.internal_key(state, stack.load_outputs(state))
    masker = Masker()
    masker.add(key)
    base = info["public_base_url"] if through == "public" else info["local_base_url"]
    session = requests.Session()
    session.trust_env = False  # loopback only, never a proxy of the shell
    done: list[dict[str, Any]] = []
    for n in range(count):
        try:
            answer = session.post(base.rstrip("/") + UPLOAD_PATH, json={"title": f"{title} "
                                  f"{n + 1}"}, headers={KEY_HEADER: key}, timeout=10)
        except requests.RequestException as exc:
            raise UploadError(_after(done, f"{base} did not answer: {type(exc).__name__}")) \
                from exc
        try:
            body = answer.json()
        except ValueError:
            body = {"detail": answer.text[:200]}
        if answer.status_code != 201:
            detail = body.get("detail") if isinstance(body, dict) else None
            raise UploadError(_after(done, masker.mask(
                f"{answer.status_code} from {through}: {detail or answer.reason}")))
        done.append(body)
    return done


def _after(done: list[dict[str, Any]], problem: str) -> str:
    made = f" ({len(done)} uploaded first: ids {', '.join(str(d['id']) for d in done)})" \
        if done else ""
    return problem + made


def describe(answer: dict[str, Any]) -> str:
    """One line: the video, its path and what carries its job."""
    if answer.get("mode") == "batch":
        return f"video {answer['id']}: batch, job {answer.get('job_id')}"
    return f"video {answer['id']}: {answer.get('mode')}, message {answer.get('message_id')}"

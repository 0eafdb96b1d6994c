"""The publisher's own rules, used by verify rather than written again: what counts as a
backlog count (`parse_count`) and what an HTTP status line is (`status_code`). The handler
stays a self-contained, stdlib + boto3 file (its archive cannot import the project), so
verify loads it from the publisher's source: the checkout's lambda/queue_depth, or the copy
an installed verify carries."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

from verify.project import PUBLISHER_SOURCE_DIR, project_root, publisher_source

HANDLER_FILE = "lambda_function.py"
_lock = threading.Lock()
_module: ModuleType | None = None


def handler_module() -> ModuleType:
    """The publisher's handler module, loaded once under a name of its own."""
    global _module
    with _lock:
        if _module is None:
            path = publisher_source(project_root(), PUBLISHER_SOURCE_DIR) / HANDLER_FILE
            _module = _load(path)
        return _module


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("academy_publisher_handler", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the publisher's handler from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def read_count(body: str | bytes, bound: int) -> tuple[int | None, str]:
    """(count, "") when the publisher would believe `body`, else (None, its reason)."""
    handler = handler_module()
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    try:
        return handler.parse_count(raw, bound), ""
    except handler.NotACount as exc:
        return None, str(exc)


def status_code(line: bytes) -> int | None:
    """The status of an HTTP/1.x status line (no CRLF) as the publisher reads it, else None."""
    return handler_module().status_code(line)

"""The publisher's own rules, used by verify rather than written again: what counts as a
backlog count (`parse_count`, its bounds) and what an HTTP status line is (`status_code`).

They live in the publisher's count-rule file (backlog_count.py, pure stdlib, nothing done at
import); the archive cannot import the project, so verify loads that one file from the
publisher's source: the checkout's lambda/queue_depth, or the copy an installed verify
carries. The handler module (boto3 clients, logging setup) is never loaded here.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

from verify.project import PUBLISHER_SOURCE_DIR, project_root, publisher_source

COUNT_RULE_FILE = "backlog_count.py"
_lock = threading.Lock()
_module: ModuleType | None = None


def count_rule() -> ModuleType:
    """The publisher's count-rule module, loaded once under a name of its own."""
    global _module
    with _lock:
        if _module is None:
            path = publisher_source(project_root(), PUBLISHER_SOURCE_DIR) / COUNT_RULE_FILE
            _module = _load(path)
        return _module


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("academy_publisher_count_rule", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the publisher's count rule from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def read_count(body: str | bytes, bound: int) -> tuple[int | None, str]:
    """(count, "") when the publisher would believe `body`, else (None, its reason)."""
    rule = count_rule()
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    try:
        return rule.parse_count(raw, bound), ""
    except rule.NotACount as exc:
        return None, str(exc)


def status_code(line: bytes) -> int | None:
    """The status of an HTTP/1.x status line (no CRLF) as the publisher reads it, else None."""
    return count_rule().status_code(line)

"""A requests session that reads status lines by the publisher's rule.

http.client takes the status with int(), so "HTTP/1.1 0200", "+200" and "2_00" read as 200,
where the publisher (and curl, on the LOCAL path) refuse them: verify would pass an answer
the publisher does not believe. This session's connections read the status line themselves
with the publisher's `status_code` (verify/publisher_rules.py); anything else is a
BadStatusLine, which requests reports as a failed connection. Everything else (proxies, TLS,
timeouts) is requests' own.
"""

from __future__ import annotations

import http.client
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager, ProxyManager

from verify import publisher_rules

MAX_STATUS_LINE = 65536  # http.client's own bound on a line


class StrictStatusResponse(http.client.HTTPResponse):
    def _read_status(self) -> tuple[str, int, str]:
        raw = self.fp.readline(MAX_STATUS_LINE + 1)
        if not raw:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        line = raw[:-1] if raw.endswith(b"\n") else raw
        line = line[:-1] if line.endswith(b"\r") else line
        status = publisher_rules.status_code(line) if len(raw) <= MAX_STATUS_LINE else None
        if status is None:
            raise http.client.BadStatusLine(repr(line[:40].decode("latin-1")))
        reason = line[13:].decode("latin-1")  # after "HTTP/1.x NNN "
        return line[:8].decode("ascii"), status, reason


class _Connection(HTTPConnection):
    response_class = StrictStatusResponse


class _TlsConnection(HTTPSConnection):
    response_class = StrictStatusResponse


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _TlsConnection


_POOLS = {"http": _Pool, "https": _TlsPool}


def _strict(manager: PoolManager) -> PoolManager:
    if type(manager) in (PoolManager, ProxyManager):  # a SOCKS manager keeps its own pools
        manager.pool_classes_by_scheme = dict(_POOLS)
    return manager


class StrictStatusAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _strict(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        return _strict(super().proxy_manager_for(proxy, **proxy_kwargs))


def session() -> requests.Session:
    """A session whose every answer's status line passed the publisher's rule."""
    found = requests.Session()
    for prefix in ("http://", "https://"):
        found.mount(prefix, StrictStatusAdapter())
    return found


def refused_status_line(exc: BaseException) -> str | None:
    """The quoted status line a failed request was refused for, if that was why."""
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        if isinstance(found, http.client.BadStatusLine):
            return found.line
        nested = [a for a in getattr(found, "args", ()) if isinstance(a, BaseException)]
        found = found.__cause__ or found.__context__ or (nested[-1] if nested else None)
    return None

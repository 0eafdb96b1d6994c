"""The run's outside dependencies (the AWS endpoint, the public URL): each is probed once,
before its first use, within a short bound. One that does not answer becomes one ERROR row
naming its address; whatever needs it then fails at once with a pointer to that row instead
of waiting out the run's deadline, and the checks that do not need it go on."""

import math
import threading
import time
from dataclasses import dataclass

from verify.errors import VerifyError
from verify.report import CheckResult, errored

CHECK_ID = "preflight"
AWS_ENDPOINT = "AWS endpoint"
PUBLIC_URL = "public URL"
PROBE_TIMEOUT_S = 5.0  # a live endpoint answers a HEAD in well under a second
PROBE_SHARE = 3  # a probe gets at most a third of --timeout, so the checks keep the rest
JOIN_GRACE_S = 0.25  # lets requests' own timeout name the phase that hung

HINTS = {
    AWS_ENDPOINT: "check AWS_ENDPOINT_URL (unset it for AWS itself), the proxy variables and the "
                  "network path to AWS; the checks that need AWS were not run",
    PUBLIC_URL: "check DNS, the CDN (Cloudflare) and that nginx listens and answers; the "
                "public side of the api check was not asked",
}


class Unreachable(VerifyError):
    """A dependency that did not answer its probe; raised where something needs it."""


@dataclass(frozen=True)
class Probe:
    label: str
    address: str
    error: str | None  # None: it answered (any HTTP status)


def probe(address: str, budget_s: float) -> str | None:
    """None when `address` answers a HEAD with any HTTP status within `budget_s` in all (a
    thread bounds the whole exchange: requests' timeouts are per socket operation), else why."""
    import requests

    outcome: list[str | None] = []

    def ask() -> None:
        try:
            requests.head(address, timeout=budget_s, allow_redirects=False).close()
            outcome.append(None)
        except requests.exceptions.ConnectTimeout:
            outcome.append(f"did not accept a connection within {budget_s:g}s")
        except requests.exceptions.ReadTimeout:
            outcome.append(f"accepted the connection but did not answer within {budget_s:g}s")
        except requests.exceptions.ConnectionError as exc:
            outcome.append(_reason(exc))
        except requests.exceptions.RequestException as exc:
            outcome.append(f"did not answer with HTTP ({type(exc).__name__})")

    thread = threading.Thread(target=ask, daemon=True, name="verify-probe")
    thread.start()
    thread.join(budget_s + JOIN_GRACE_S)
    if not outcome:  # e.g. an answer dripped byte by byte
        return f"did not answer within {budget_s:g}s"
    return outcome[0]


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "refused the connection"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "its host name does not resolve"
    return f"could not be reached ({type(exc).__name__})"


class Dependencies:
    """Probe results shared by the run's threads: one probe per address, ever."""

    def __init__(self) -> None:
        self.deadline = math.inf
        self.run_timeout_s = math.inf
        self._lock = threading.Lock()
        self._address_locks: dict[str, threading.Lock] = {}
        self._found: dict[str, Probe] = {}

    def start(self, deadline: float, run_timeout_s: float) -> None:
        self.deadline, self.run_timeout_s = deadline, run_timeout_s

    def budget(self) -> float:
        remaining = self.deadline - time.monotonic()
        share = round(self.run_timeout_s / PROBE_SHARE, 2)
        return max(0.1, min(PROBE_TIMEOUT_S, share, remaining))

    def check(self, label: str, address: str) -> Probe:
        with self._lock:
            lock = self._address_locks.setdefault(address, threading.Lock())
        with lock:
            if address not in self._found:
                self._found[address] = Probe(label, address, probe(address, self.budget()))
            return self._found[address]

    def require(self, label: str, address: str) -> None:
        found = self.check(label, address)
        if found.error is not None:
            raise Unreachable(
                f"not run: it needs the {label} {address}, which {found.error} (see the "
                f"{CHECK_ID} row)", HINTS[label])

    def rows(self) -> list[CheckResult]:
        """One ERROR row per dependency that did not answer, in the order they were probed."""
        with self._lock:
            found = list(self._found.values())
        return [errored(CHECK_ID, item.label, f"{item.address} {item.error}", HINTS[item.label])
                for item in found if item.error is not None]

"""Ask the backlog API over HTTP: from the runner (PUBLIC) or on a host through its transport
(LOCAL, with curl). The key travels in a header fed on stdin, never on a command line."""

import json
from collections.abc import Mapping
from dataclasses import dataclass

from components.settings import BACKLOG_API_PATH, INTERNAL_KEY_HEADER
from verify.secrets import Masker
from verify.transports import Transport

BACKLOG_PATH = BACKLOG_API_PATH  # the one definition, in the settings module
KEY_HEADER = INTERNAL_KEY_HEADER


# The response headers the diagnosis reads; nginx marks its own refusal of a keyless request.
KEPT_HEADERS = ("x-refused-by",)
BODY_CHARS = 60  # of an answer's body in evidence
ERROR_CHARS = 160  # of an error
REFUSED_BY = "X-Refused-By"


@dataclass(frozen=True)
class ApiAnswer:
    status: int | None  # None: no HTTP answer at all (error says why)
    body: str = ""
    error: str = ""
    headers: tuple[tuple[str, str], ...] = ()  # (lower-case name, value), KEPT_HEADERS only

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def refused_by_nginx(self) -> bool:
        return (self.header(REFUSED_BY) or "").strip().lower() == "nginx"

    def backlog(self) -> int | None:
        return parse_backlog(self.body)

    def evidence(self, masker: Masker) -> str:
        """Status and the start of the body (or the error), masked before they are clipped."""
        if self.status is None:
            return f"no answer ({masker.excerpt(self.error, ERROR_CHARS)})"
        return f"{self.status} {masker.excerpt(self.body, BODY_CHARS)}"


COUNT_SHAPE = '{"backlog": <int >= 0>}'


def parse_backlog(body: str) -> int | None:
    """The count, or None unless the body is a JSON object whose "backlog" is an int (not a
    bool) >= 0: the publisher's rule (lambda/ keeps its own copy: it must stay self-contained)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # ValueError covers ints of more than 4,300 digits
        return None
    value = document.get("backlog") if isinstance(document, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def backlog_url(base_url: str) -> str:
    return base_url.rstrip("/") + BACKLOG_PATH


def curl_command(url: str, timeout_s: float, send_key: bool = True) -> list[str]:
    command = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", f"{timeout_s:g}"]
    if send_key:
        command += ["-H", "@-"]  # header lines read from stdin
    return command + [url]


def parse_curl(rc: int, stdout: str, stderr: str) -> ApiAnswer:
    if rc == 127:
        return ApiAnswer(None, "", "curl is not installed on the host")
    body, _, code = stdout.rpartition("\n")
    if rc != 0 or not code.strip().isdigit() or code.strip() == "000":
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"curl exit {rc}"
        return ApiAnswer(None, body, reason)
    return ApiAnswer(int(code), body)


def ask_on_host(transport: Transport, base_url: str, key: str, timeout_s: float) -> ApiAnswer:
    url = backlog_url(base_url)
    result = transport.run(
        curl_command(url, max(1.0, timeout_s - 1)), timeout=timeout_s + 2,
        stdin=f"{KEY_HEADER}: {key}\n",
    )
    return parse_curl(result.rc, result.stdout, result.stderr)


def ask_public(base_url: str, key: str | None, timeout_s: float) -> ApiAnswer:
    import requests

    headers = {KEY_HEADER: key} if key is not None else {}
    try:
        response = requests.get(
            backlog_url(base_url), headers=headers, timeout=timeout_s, allow_redirects=False
        )
    except requests.exceptions.Timeout:
        return ApiAnswer(None, "", f"timed out after {timeout_s:g}s")
    except requests.exceptions.SSLError as exc:
        return ApiAnswer(None, "", f"TLS failed: {_short(exc)}")
    except requests.exceptions.ConnectionError as exc:
        return ApiAnswer(None, "", f"connection failed: {_short(exc)}")
    except requests.exceptions.RequestException as exc:
        return ApiAnswer(None, "", _short(exc))
    return ApiAnswer(response.status_code, response.text, headers=kept_headers(response.headers))


def kept_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    found = {name.lower(): value for name, value in headers.items()}
    return tuple((name, found[name]) for name in KEPT_HEADERS if name in found)


def _short(exc: Exception) -> str:
    """The telling part of a requests error; clipped only where it is shown, after masking."""
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Name or service not known"):
        if marker in text:
            return text[text.index(marker):].rstrip("'\")")
    return text

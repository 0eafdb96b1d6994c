"""The API server's nginx config: typed parameters, rendering, SHA-256, and a proxy-header check."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from stack_settings.parse import BACKLOG_API_PATH, INTERNAL_KEY_HEADER

NGINX_DIR = Path(__file__).resolve().parent.parent / "nginx"
SITE_TEMPLATE = NGINX_DIR / "api.conf.template"
STANDALONE_TEMPLATE = NGINX_DIR / "standalone.conf.template"
DELIVER_SCRIPT = NGINX_DIR / "deliver.sh"

DEFAULT_UPSTREAM = "127.0.0.1:8000"
# nginx's keyless-403 defence and the key allow-list are bound to this prefix.
INTERNAL_PATH_PREFIX = "/api/v1/internal/"


def check_internal_prefix(prefix: str, path: str) -> None:
    """Raise unless path lies under prefix: an internal path outside it would lose nginx's guard."""
    if not path.startswith(prefix):
        raise RuntimeError(
            f"stack_settings.parse.BACKLOG_API_PATH = {path!r} is not under nginx's "
            f"INTERNAL_PATH_PREFIX = {prefix!r} (contract/nginx_config.py): nginx would "
            "neither refuse keyless calls to it nor restrict its headers; move the endpoint "
            "under the prefix or change INTERNAL_PATH_PREFIX to cover it"
        )


check_internal_prefix(INTERNAL_PATH_PREFIX, BACKLOG_API_PATH)


@dataclass(frozen=True)
class ForwardedValue:
    """An http-level `map`: the value the CDN sent in a header, else nginx's own variable."""

    variable: str
    sent: str
    fallback: str

    def map_block(self) -> str:
        return (
            f"map {self.sent} {self.variable} {{\n"
            f"    default {self.sent};\n"
            f'    "" {self.fallback};\n'
            "}"
        )


# Behind Cloudflare this nginx speaks plain HTTP and sees the edge's address, not the client's.
FORWARDED_PROTO = ForwardedValue(
    "$academy_forwarded_proto", "$http_x_forwarded_proto", "$scheme"
)
REAL_IP = ForwardedValue("$academy_real_ip", "$http_cf_connecting_ip", "$remote_addr")
FORWARDING_MAPS: tuple[ForwardedValue, ...] = (FORWARDED_PROTO, REAL_IP)

# Written into every proxying location: nginx drops inherited proxy_set_header lines in any
# location that sets one of its own, so none are set at server level.
PROXY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "$host"),
    ("X-Real-IP", REAL_IP.variable),
    ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
    ("X-Forwarded-Proto", FORWARDED_PROTO.variable),
    (INTERNAL_KEY_HEADER, "$http_x_internal_key"),
)
# info and debug write whole invalid header lines (values included) to the error log.
QUIET_ERROR_LOG_LEVELS = ("notice", "warn", "error", "crit", "alert", "emerg")

_SERVER_NAME = re.compile(r"^[A-Za-z0-9*_.-]+( [A-Za-z0-9*_.-]+)*$")
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
_UNIX_SOCKET = re.compile(r"^unix:/[^\s;{}'\"$#]+$")
_SAFE_PATH = re.compile(r"^/[^\s;{}'\"$#\\]*$")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_BODY_SIZE = re.compile(r"^\d+[kKmMgG]?$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class NginxParams:
    """What the config depends on. standalone=True renders a whole nginx.conf for the sandbox."""

    server_name: str
    upstream: str = DEFAULT_UPSTREAM
    listen_port: int = 80
    listen_address: str | None = None
    access_log: str = "/var/log/nginx/academy-api.access.log"
    error_log: str = "/var/log/nginx/academy-api.error.log"
    error_log_level: str = "warn"
    client_max_body_size: str = "1m"
    standalone: bool = False
    pid_file: str | None = None
    temp_dir: str | None = None
    # standalone only: include this file (or glob) instead of inlining the server block,
    # so deliver.sh can replace the site file while the main conf stays put.
    site_include: str | None = None
    # standalone only: the workers' user when nginx starts as root (else they run as nobody,
    # who cannot enter a private state directory to buffer request bodies and responses).
    worker_user: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def listen(self) -> str:
        if self.listen_address is None:
            return str(self.listen_port)
        address = self.listen_address
        if ":" in address:
            address = f"[{address}]"
        return f"{address}:{self.listen_port}"


def _fail(field: str, value: object, expected: str) -> ValueError:
    return ValueError(f"NginxParams.{field} = {value!r} is not valid: expected {expected}")


def _check_path(field: str, value: object) -> None:
    if not isinstance(value, str) or not _SAFE_PATH.match(value):
        raise _fail(
            field, value, "an absolute path without spaces, quotes, ';', '{', '}', '$' or '#'"
        )


def _check_upstream(value: object) -> None:
    if isinstance(value, str) and _UNIX_SOCKET.match(value):
        return
    match = _HOST_PORT.match(value) if isinstance(value, str) else None
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise _fail(
            "upstream", value, "HOST:PORT (port 1-65535), e.g. '127.0.0.1:8000', or 'unix:/path'"
        )


def _validate(p: NginxParams) -> None:
    if not isinstance(p.server_name, str) or not _SERVER_NAME.match(p.server_name):
        raise _fail(
            "server_name", p.server_name, "host names separated by single spaces, e.g. 'api.x.com'"
        )
    _check_upstream(p.upstream)
    if (
        isinstance(p.listen_port, bool)
        or not isinstance(p.listen_port, int)
        or not (1 <= p.listen_port <= 65535)
    ):
        raise _fail("listen_port", p.listen_port, "an integer port 1-65535")
    if p.listen_address is not None:
        try:
            ipaddress.ip_address(p.listen_address)
        except ValueError:
            raise _fail(
                "listen_address", p.listen_address, "an IP address such as '127.0.0.1', or None"
            ) from None
    _check_path("access_log", p.access_log)
    _check_path("error_log", p.error_log)
    if p.error_log_level not in QUIET_ERROR_LOG_LEVELS:
        raise _fail(
            "error_log_level",
            p.error_log_level,
            f"one of {', '.join(QUIET_ERROR_LOG_LEVELS)} (info and debug log header values, "
            "which can include the internal key)",
        )
    if not isinstance(p.client_max_body_size, str) or not _BODY_SIZE.match(p.client_max_body_size):
        raise _fail(
            "client_max_body_size", p.client_max_body_size, "a size like '1m', '512k' or '0'"
        )
    if not p.standalone:
        for field in ("pid_file", "temp_dir", "site_include", "worker_user"):
            if getattr(p, field) is not None:
                raise _fail(field, getattr(p, field), "None unless standalone=True")
        return
    for field in ("pid_file", "temp_dir"):
        value = getattr(p, field)
        if value is None:
            raise _fail(field, value, "an absolute path when standalone=True")
        _check_path(field, value)
    if p.site_include is not None:
        _check_path("site_include", p.site_include)
    if p.worker_user is not None and not (
        isinstance(p.worker_user, str) and _USER_NAME.match(p.worker_user)
    ):
        raise _fail("worker_user", p.worker_user, "a user name such as 'root', or None")


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace {{name}} placeholders; every placeholder must have a value (nginx owns `$`)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder {{{{{name}}}}} has no value")
        return values[name]

    return _PLACEHOLDER.sub(one, template)


def proxy_header_lines(indent: str = "        ") -> str:
    return f"\n{indent}".join(f"proxy_set_header {name} {value};" for name, value in PROXY_HEADERS)


def render_site(params: NginxParams) -> str:
    """The file delivered to a real host's /etc/nginx/conf.d: log_format plus one server block."""
    return _fill(
        SITE_TEMPLATE.read_text(),
        {
            "listen": params.listen,
            "server_name": params.server_name,
            "client_max_body_size": params.client_max_body_size,
            "access_log": params.access_log,
            "error_log": params.error_log,
            "error_log_level": params.error_log_level,
            "forwarding_maps": "\n\n".join(m.map_block() for m in FORWARDING_MAPS),
            "proxy_headers": proxy_header_lines(),
            "upstream": params.upstream,
            "internal_prefix": INTERNAL_PATH_PREFIX,
        },
    )


def render_standalone(params: NginxParams) -> str:
    """A whole nginx.conf with its own pid, logs and temp paths (daemon off comes from -g)."""
    if not params.standalone:
        raise ValueError("render_standalone needs NginxParams(standalone=True, pid_file=..., ...)")
    if params.site_include is not None:
        site = f"    include {params.site_include};"
    else:
        site = "\n".join(f"    {line}" if line else "" for line in render_site(params).splitlines())
    return _fill(
        STANDALONE_TEMPLATE.read_text(),
        {
            "worker_user": f"user {params.worker_user};" if params.worker_user else "",
            "pid_file": str(params.pid_file),
            "error_log": params.error_log,
            "error_log_level": params.error_log_level,
            "temp_dir": str(params.temp_dir).rstrip("/"),
            "site": site,
        },
    )


def render(params: NginxParams) -> str:
    """The config text for these params: the standalone nginx.conf or the conf.d site file."""
    return render_standalone(params) if params.standalone else render_site(params)


def config_sha256(text: str) -> str:
    """Hex SHA-256 of the file's bytes, as `sha256sum` prints it on the host."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- A small nginx config reader, enough to check proxy headers in a rendered file ---


@dataclass
class Directive:
    name: str
    args: list[str]
    line: int
    children: list[Directive] | None = None


def _tokens(text: str) -> list[tuple[str, int]]:
    """Words, quoted strings (unquoted), ';', '{' and '}', with line numbers; comments dropped."""
    out: list[tuple[str, int]] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch in ";{}":
            out.append((ch, line))
            i += 1
        elif ch in "'\"":
            start_line, j, buf = line, i + 1, []
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            out.append(("".join(buf), start_line))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in ";{}":
                j += 1
            out.append((text[i:j], line))
            i = j
    return out


def parse(text: str) -> list[Directive]:
    """Parse nginx config text into a directive tree; ValueError on unbalanced braces."""
    stack: list[list[Directive]] = [[]]
    words: list[tuple[str, int]] = []
    for word, line in _tokens(text):
        if word == ";":
            if words:
                stack[-1].append(Directive(words[0][0], [w for w, _ in words[1:]], words[0][1]))
            words = []
        elif word == "{":
            if not words:
                raise ValueError(f"line {line}: '{{' without a directive")
            block = Directive(words[0][0], [w for w, _ in words[1:]], words[0][1], [])
            stack[-1].append(block)
            stack.append(block.children)  # type: ignore[arg-type]
            words = []
        elif word == "}":
            if len(stack) == 1:
                raise ValueError(f"line {line}: unmatched '}}'")
            stack.pop()
        else:
            words.append((word, line))
    if len(stack) != 1:
        raise ValueError("unbalanced braces: a block is not closed")
    return stack[0]


def missing_proxy_headers(
    text: str,
    required: tuple[tuple[str, str], ...] = PROXY_HEADERS,
    maps: tuple[ForwardedValue, ...] = FORWARDING_MAPS,
) -> list[str]:
    """One message per proxy_pass block whose effective proxy_set_header lines lack a required one,
    and one per required value whose `map` is missing or maps something else.

    Applies nginx's inheritance rule: a block with any proxy_set_header of its own uses only its
    own; a block with none inherits its parent's effective set.
    """
    problems: list[str] = []
    tree = parse(text)

    def walk(directives: list[Directive], inherited: dict[str, str], where: str) -> None:
        own = {
            d.args[0].lower(): " ".join(d.args[1:])
            for d in directives
            if d.name == "proxy_set_header" and d.args
        }
        effective = own if own else inherited
        if any(d.name == "proxy_pass" for d in directives):
            for name, value in required:
                got = effective.get(name.lower())
                if got is None:
                    problems.append(f"{where}: proxy_pass without proxy_set_header {name}")
                elif got != value:
                    problems.append(f"{where}: proxy_set_header {name} is {got!r}, not {value!r}")
        for d in directives:
            if d.children is not None:
                label = " ".join([d.name, *d.args])
                walk(d.children, effective, f"{label} (line {d.line})")

    walk(tree, {}, "top level")
    used = {value for _, value in required}
    defined = _map_blocks(tree)
    for wanted in maps:
        if wanted.variable not in used:
            continue
        expected = {"default": wanted.sent, "": wanted.fallback}
        found = defined.get(wanted.variable)
        if found is None:
            problems.append(
                f"no `map {wanted.sent} {wanted.variable}` at http level "
                f"(it should give {wanted.sent} when sent, else {wanted.fallback})"
            )
        elif found != (wanted.sent, expected):
            source, entries = found
            problems.append(
                f"map {source} {wanted.variable} (entries {entries}) is not "
                f"`map {wanted.sent} {wanted.variable}` with entries {expected}"
            )
    return problems


def _map_blocks(directives: list[Directive]) -> dict[str, tuple[str, dict[str, str]]]:
    """Every `map SOURCE $VAR { KEY VALUE; ... }` in the tree: $VAR -> (SOURCE, entries)."""
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for d in directives:
        if d.name == "map" and len(d.args) == 2 and d.children is not None:
            entries = {c.name: " ".join(c.args) for c in d.children}
            found[d.args[1]] = (d.args[0], entries)
        elif d.children is not None:
            found.update(_map_blocks(d.children))
    return found

"""A real nginx with the rendered config in front of a real upstream that echoes what it got."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable

import pytest

from contract.nginx_config import (
    INTERNAL_PATH_PREFIX,
    PROXY_HEADERS,
    NginxParams,
    missing_proxy_headers,
    render,
)
from sandbox.services.nginx_server import NginxError, check_command_args, check_config
from stack_settings.parse import BACKLOG_API_PATH

BACKLOG_PATH = BACKLOG_API_PATH  # the path the publisher calls, not a copy
CLIENT_IP = "203.0.113.7"
PUBLIC_HOST = "api.hakwonplus.com"


def assert_key_passthrough(running, key: str, path: str = BACKLOG_PATH) -> dict[str, str]:
    """The check behind incident #5: what the client sent on the internal path reaches gunicorn."""
    reply = running.get(
        path + "?probe=1",
        [("Host", PUBLIC_HOST), ("X-Internal-Key", key), ("X-Forwarded-For", CLIENT_IP)],
    )
    assert reply.status == 200, f"nginx answered {reply.status}: {reply.body[:200]!r}"
    seen = dict(reply.json()["headers"])
    assert seen.get("x-internal-key") == key, (
        f"X-Internal-Key did not reach the upstream on {path}; it received {sorted(seen)}"
    )
    expected = {
        "host": PUBLIC_HOST,
        "x-real-ip": "127.0.0.1",
        "x-forwarded-for": f"{CLIENT_IP}, 127.0.0.1",
        "x-forwarded-proto": "http",
    }
    lost = {k: (v, seen.get(k)) for k, v in expected.items() if seen.get(k) != v}
    assert not lost, f"forwarding headers lost on {path} (expected, got): {lost}"
    return seen


@pytest.fixture(scope="module")
def key() -> str:
    return "key-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def good(nginx_factory, upstream):
    return nginx_factory.start("good", upstream.address)


def test_internal_path_carries_the_key_and_the_forwarding_headers(good, key) -> None:
    seen = assert_key_passthrough(good, key)
    # The internal location sets Content-Type of its own and still forwards the key (checked
    # above); the path travels in the request line only, never in a header (issue 9).
    assert "x-request-path" not in seen
    assert good.get(BACKLOG_PATH + "?probe=1", [("X-Internal-Key", key)]).json()["path"] == (
        BACKLOG_PATH + "?probe=1"
    )


def test_internal_path_forwards_only_the_allow_list(good, key) -> None:
    reply = good.get(
        BACKLOG_PATH, [("X-Internal-Key", key), ("Cookie", "session=abc"), ("X-Debug", "1")]
    )
    names = {k for k, _ in reply.json()["headers"]}
    allowed = {h.lower() for h, _ in PROXY_HEADERS} | {"connection"}
    assert names <= allowed, names - allowed


def test_public_path_carries_the_key_and_the_client_headers(good, key) -> None:
    seen = assert_key_passthrough(good, key, path="/api/v1/videos/")
    reply = good.get("/api/v1/videos/", [("Cookie", "session=abc")])
    assert dict(reply.json()["headers"])["cookie"] == "session=abc"
    assert "x-request-path" not in seen


def test_nginx_refuses_internal_path_without_a_key_and_says_so(good, upstream) -> None:
    before = len(upstream.seen)
    for headers in ([], [("X-Internal-Key", "")]):
        reply = good.get(BACKLOG_PATH, headers)
        assert reply.status == 403
        assert reply.headers.get("x-refused-by") == "nginx"
        assert reply.json() == {"detail": "X-Internal-Key missing (refused by nginx)"}
    assert len(upstream.seen) == before, "a keyless internal request reached the upstream"


def assert_edge_values(running, path: str, sent: list[tuple[str, str]], proto: str, ip: str):
    """What gunicorn hears about the scheme and the client, given what Cloudflare sent."""
    reply = running.get(path, [("X-Internal-Key", "k"), *sent])
    assert reply.status == 200, f"nginx answered {reply.status}: {reply.body[:200]!r}"
    seen = dict(reply.json()["headers"])
    got = (seen.get("x-forwarded-proto"), seen.get("x-real-ip"))
    assert got == (proto, ip), f"{path} with {sent}: (X-Forwarded-Proto, X-Real-IP) = {got}"


EDGE_HEADERS = [("X-Forwarded-Proto", "https"), ("CF-Connecting-IP", CLIENT_IP)]


@pytest.mark.parametrize("path", [BACKLOG_PATH, "/api/v1/videos/"])
def test_behind_cloudflare_gunicorn_hears_https_and_the_client_address(good, path) -> None:
    assert_edge_values(good, path, EDGE_HEADERS, "https", CLIENT_IP)
    # Straight to nginx, nothing sent: nginx's own scheme and peer.
    assert_edge_values(good, path, [], "http", "127.0.0.1")
    assert_edge_values(good, path, [("X-Forwarded-Proto", ""), ("CF-Connecting-IP", "")],
                       "http", "127.0.0.1")


def test_scheme_and_remote_addr_alone_would_lie_about_the_edge(nginx_factory, upstream) -> None:
    """The config before the maps: the same check fails, so it can catch a regression."""

    def edge_blind(text: str) -> str:
        return text.replace("$academy_forwarded_proto;", "$scheme;").replace(
            "$academy_real_ip;", "$remote_addr;"
        )

    running = nginx_factory.start("edge-blind", upstream.address, edit_site=edge_blind)
    problems = missing_proxy_headers(running.files.site.read_text())
    assert any("X-Forwarded-Proto" in p for p in problems)
    with pytest.raises(AssertionError, match=r"= \('http', '127.0.0.1'\)"):
        assert_edge_values(running, BACKLOG_PATH, EDGE_HEADERS, "https", CLIENT_IP)


def test_a_wrong_key_is_for_the_api_to_judge(good) -> None:
    seen = assert_key_passthrough(good, "not-the-key")
    assert seen["x-internal-key"] == "not-the-key"


def test_underscore_spelling_never_arrives_as_the_key(good, upstream) -> None:
    secret = "underscore-" + secrets.token_hex(8)
    before = len(upstream.seen)
    reply = good.get(BACKLOG_PATH, [("X_Internal_Key", secret)])
    assert reply.status == 403 and reply.headers.get("x-refused-by") == "nginx"
    assert len(upstream.seen) == before

    reply = good.get("/api/v1/videos/", [("X_Internal_Key", secret)])
    assert reply.status == 200, (reply.status, reply.body[:300])  # the upstream's echo
    names = {k for k, _ in reply.json()["headers"]}
    assert not names & {"x-internal-key", "x_internal_key"}
    assert secret not in reply.body.decode()

    # Both spellings at once: the dashed one is the key, the underscored one is dropped.
    reply = good.get(BACKLOG_PATH, [("X-Internal-Key", "dashed"), ("X_Internal_Key", secret)])
    assert reply.status == 200, (reply.status, reply.body[:300])
    assert [v for k, v in reply.json()["headers"] if "internal" in k] == ["dashed"]


def test_logs_never_contain_the_key(good, key, poll) -> None:
    underscored = "underscore-" + secrets.token_hex(8)
    good.get(BACKLOG_PATH, [("X-Internal-Key", key)])
    good.get("/api/v1/videos/", [("X-Internal-Key", key), ("X_Internal_Key", underscored)])
    good.get(BACKLOG_PATH, [("X_Internal_Key", underscored)])
    marker = "/log-probe-" + secrets.token_hex(4)
    good.get(marker, [("X-Internal-Key", key)])
    access = good.files.access_log
    poll(lambda: marker in access.read_text(), what="the access log line for the probe")
    logs = access.read_text() + good.files.error_log.read_text()
    assert BACKLOG_PATH in logs  # the requests were logged ...
    assert key not in logs and underscored not in logs  # ... without the key


BROKEN: dict[str, Callable[[str], str]] = {}


def broken(name: str):
    def register(fn: Callable[[str], str]) -> Callable[[str], str]:
        BROKEN[name] = fn
        return fn

    return register


@broken("key line stripped")
def _strip_key_line(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "X-Internal-Key $http_" not in line)


@broken("internal location sets its own header without the shared block")
def _own_header_only(text: str) -> str:
    head, internal = text.split(f"location {INTERNAL_PATH_PREFIX}", 1)
    shared = {f"proxy_set_header {h} {v};" for h, v in PROXY_HEADERS}
    kept = [line for line in internal.splitlines() if line.strip() not in shared]
    return head + f"location {INTERNAL_PATH_PREFIX}" + "\n".join(kept)


@broken("headers at server level, shadowed by the location's own")
def _server_level(text: str) -> str:
    shared = [f"proxy_set_header {h} {v};" for h, v in PROXY_HEADERS]
    lines = [line for line in text.splitlines() if line.strip() not in shared]
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("server_name"))
    return "\n".join(lines[: at + 1] + [f"    {s}" for s in shared] + lines[at + 1 :])


@pytest.mark.parametrize("variant", sorted(BROKEN))
def test_a_broken_config_makes_the_passthrough_check_fail(
    variant, good, nginx_factory, upstream, key
) -> None:
    edit = BROKEN[variant]
    name = f"broken-{len(nginx_factory.started)}"
    running = nginx_factory.start(name, upstream.address, edit_site=edit)
    text = running.files.site.read_text()
    assert text != render(running.files.site_params(running.port, upstream.address))
    # nginx itself accepts the broken file: only these checks catch it.
    assert "syntax is ok" in running.server.test_config()
    assert any(INTERNAL_PATH_PREFIX in p for p in missing_proxy_headers(text))
    with pytest.raises(AssertionError, match="X-Internal-Key did not reach the upstream"):
        assert_key_passthrough(running, key)
    assert_key_passthrough(good, key)  # the same check passes on the rendered config


def test_nginx_accepts_production_params_inside_a_minimal_main_conf(tmp_path) -> None:
    site = tmp_path / "conf.d" / "academy-api.conf"
    site.parent.mkdir()
    (tmp_path / "temp").mkdir()
    # Production params, logs redirected so the test writes nothing under /var/log.
    prod = NginxParams(
        server_name=PUBLIC_HOST,
        access_log=f"{tmp_path}/access.log",
        error_log=f"{tmp_path}/error.log",
    )
    site.write_text(render(prod))
    assert "listen 80;" in site.read_text()
    main = tmp_path / "nginx.conf"
    wrapper = NginxParams(
        server_name=PUBLIC_HOST,
        access_log=prod.access_log,
        error_log=prod.error_log,
        standalone=True,
        pid_file=f"{tmp_path}/nginx.pid",
        temp_dir=f"{tmp_path}/temp",
        site_include=str(site),
    )
    main.write_text(render(wrapper))
    result = subprocess.run(
        check_command_args(main, tmp_path / "error.log"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_accepts_the_sandbox_standalone_conf_and_refuses_a_broken_one(good) -> None:
    assert "syntax is ok" in good.server.test_config()
    standalone = good.files.conf.read_text()
    assert "include " in standalone
    broken_conf = good.files.root / "broken.conf"
    broken_conf.write_text(standalone.replace("http {", "http {\n    proxy_pass_header;", 1))
    with pytest.raises(NginxError, match="nginx -t refused"):
        check_config(broken_conf, good.files.error_log)

"""The rendered config as text: headers in every proxying location, no key in logs."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from contract.nginx_config import (
    INTERNAL_PATH_PREFIX,
    PROXY_HEADERS,
    NginxParams,
    check_internal_prefix,
    config_sha256,
    missing_proxy_headers,
    parse,
    render,
)
from stack_settings.parse import BACKLOG_API_PATH

REPO_ROOT = Path(__file__).resolve().parents[2]

PROD = NginxParams(server_name="api.hakwonplus.com")
KEY_LINE = "proxy_set_header X-Internal-Key $http_x_internal_key;"


def locations(text: str) -> dict[str, list[str]]:
    server = next(d for d in parse(text) if d.name == "server")
    return {
        " ".join(d.args): [" ".join([c.name, *c.args]) for c in d.children or []]
        for d in server.children or []
        if d.name == "location"
    }


def test_every_proxying_location_sets_every_proxy_header() -> None:
    text = render(PROD)
    locs = locations(text)
    assert set(locs) == {"/", INTERNAL_PATH_PREFIX}
    for name, lines in locs.items():
        assert any(line.startswith("proxy_pass ") for line in lines), name
        for header, value in PROXY_HEADERS:
            assert f"proxy_set_header {header} {value}" in lines, (name, header)
    assert missing_proxy_headers(text) == []
    # Pinned literally, not through PROXY_HEADERS, so a change there cannot hide the key's loss.
    assert text.count(KEY_LINE) == 2


def test_no_proxy_headers_at_server_level_where_a_location_could_shadow_them() -> None:
    server = next(d for d in parse(render(PROD)) if d.name == "server")
    assert [d for d in server.children or [] if d.name == "proxy_set_header"] == []


def test_internal_location_forwards_an_allow_list_and_no_decoded_value() -> None:
    lines = locations(render(PROD))[INTERNAL_PATH_PREFIX]
    assert "proxy_pass_request_headers off" in lines
    # $uri and friends are decoded: a %0d%0a in them writes header lines upstream (issue 9).
    header_values = " ".join(line for line in lines if line.startswith("proxy_set_header "))
    assert not re.search(r"\$(uri|document_uri|args|arg_\w+|query_string|is_args)\b",
                         header_values), header_values


def test_server_tokens_off_and_the_access_log_escapes_deliberately() -> None:
    text = render(PROD)
    server = next(d for d in parse(text) if d.name == "server")
    assert [d.args for d in server.children or [] if d.name == "server_tokens"] == [["off"]]
    formats = [d for d in parse(text) if d.name == "log_format"]
    assert formats[0].args[1] == "escape=default"


def test_underscored_headers_stay_invalid_and_the_key_is_never_logged() -> None:
    text = render(PROD)
    assert "underscores_in_headers off;" in text
    assert "underscores_in_headers on" not in text
    formats = [d for d in parse(text) if d.name == "log_format"]
    assert [d.args[0] for d in formats] == ["academy_api"]
    logged_vars = set(re.findall(r"\$(\w+)", " ".join(formats[0].args[1:])))
    assert {v for v in logged_vars if v.startswith("http_")} == {"http_user_agent"}
    assert re.search(r"access_log \S+ academy_api;", text)


def test_broken_variants_are_reported_by_the_static_check() -> None:
    text = render(PROD)
    stripped = "\n".join(line for line in text.splitlines() if KEY_LINE not in line)
    problems = missing_proxy_headers(stripped)
    assert len(problems) == 2 and all("X-Internal-Key" in p for p in problems)

    # nginx's rule: the location's own proxy_set_header hides the server-level ones.
    header_lines = {f"proxy_set_header {h} {v};" for h, v in PROXY_HEADERS}
    body = [line for line in text.splitlines() if line.strip() not in header_lines]
    at = next(i for i, line in enumerate(body) if line.strip().startswith("server_name"))
    moved = "\n".join(body[: at + 1] + [f"    {h}" for h in sorted(header_lines)] + body[at + 1 :])
    problems = missing_proxy_headers(moved)
    assert problems and all(INTERNAL_PATH_PREFIX in p for p in problems)
    assert any("X-Internal-Key" in p for p in problems)
    assert not any("location / " in p for p in problems)


def test_forwarded_values_come_from_http_level_maps() -> None:
    text = render(PROD)
    maps = {d.args[1]: d for d in parse(text) if d.name == "map"}
    assert set(maps) == {"$academy_forwarded_proto", "$academy_real_ip"}
    proto, real_ip = maps["$academy_forwarded_proto"], maps["$academy_real_ip"]
    assert proto.args[0] == "$http_x_forwarded_proto"
    assert [(c.name, c.args) for c in proto.children or []] == [
        ("default", ["$http_x_forwarded_proto"]),
        ("", ["$scheme"]),
    ]
    assert real_ip.args[0] == "$http_cf_connecting_ip"
    assert [(c.name, c.args) for c in real_ip.children or []] == [
        ("default", ["$http_cf_connecting_ip"]),
        ("", ["$remote_addr"]),
    ]
    for lines in locations(text).values():
        assert "proxy_set_header X-Forwarded-Proto $academy_forwarded_proto" in lines
        assert "proxy_set_header X-Real-IP $academy_real_ip" in lines


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("Proto $academy_forwarded_proto;", "Proto $scheme;"),
            "proxy_set_header X-Forwarded-Proto is '$scheme', not '$academy_forwarded_proto'",
        ),
        (
            lambda t: t.replace("X-Real-IP $academy_real_ip;", "X-Real-IP $remote_addr;"),
            "proxy_set_header X-Real-IP is '$remote_addr', not '$academy_real_ip'",
        ),
        (
            lambda t: t.replace("default $http_cf_connecting_ip;", "default $remote_addr;"),
            "map $http_cf_connecting_ip $academy_real_ip (entries",
        ),
        (
            lambda t: t.replace("map $http_x_forwarded_proto", "map $http_x_scheme"),
            "map $http_x_scheme $academy_forwarded_proto (entries",
        ),
        (
            lambda t: t.replace('"" $scheme;', "https https;"),
            "map $http_x_forwarded_proto $academy_forwarded_proto (entries",
        ),
        (
            lambda t: t.replace("map $http_cf_connecting_ip $academy_real_ip", "map $x $other"),
            "no `map $http_cf_connecting_ip $academy_real_ip` at http level",
        ),
    ],
)
def test_the_check_catches_an_edge_blind_config(edit, message) -> None:
    text = render(PROD)
    edited = edit(text)
    assert edited != text
    problems = missing_proxy_headers(edited)
    assert any(message in p for p in problems), problems


def test_the_internal_prefix_covers_the_backlog_endpoint() -> None:
    assert BACKLOG_API_PATH.startswith(INTERNAL_PATH_PREFIX)
    assert f"location {INTERNAL_PATH_PREFIX} {{" in render(PROD)
    check_internal_prefix(INTERNAL_PATH_PREFIX, BACKLOG_API_PATH)
    with pytest.raises(RuntimeError, match=r"BACKLOG_API_PATH = '/api/v1/video/backlog/' is not"):
        check_internal_prefix(INTERNAL_PATH_PREFIX, "/api/v1/video/backlog/")


def test_importing_the_config_fails_when_the_endpoint_leaves_the_prefix() -> None:
    """The guard runs at import time: a moved endpoint stops the program, not nginx's defence."""
    moved = (
        "import stack_settings.parse as s; s.BACKLOG_API_PATH = '/api/v2/backlog/'; "
        "import contract.nginx_config"
    )
    result = subprocess.run(
        [sys.executable, "-c", moved], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "BACKLOG_API_PATH = '/api/v2/backlog/' is not under nginx's INTERNAL_PATH_PREFIX" in (
        result.stderr
    )


def test_the_check_reads_a_wrong_value_as_a_loss() -> None:
    text = render(PROD).replace(KEY_LINE, 'proxy_set_header X-Internal-Key "";', 1)
    assert missing_proxy_headers(text) == [
        "location / (line "
        + str(text[: text.index("location / {")].count("\n") + 1)
        + "): proxy_set_header X-Internal-Key is '', not '$http_x_internal_key'"
    ]


def test_render_is_deterministic_and_sha256_is_of_the_file_bytes() -> None:
    text = render(PROD)
    assert render(NginxParams(server_name="api.hakwonplus.com")) == text
    assert config_sha256(text) == hashlib.sha256(text.encode()).hexdigest()
    assert config_sha256(render(NginxParams(server_name="api.example.com"))) != config_sha256(text)
    assert "listen 80;" in text and "proxy_pass http://127.0.0.1:8000;" in text
    assert "{{" not in text and text.endswith("}\n")


def test_standalone_inlines_or_includes_the_same_server_block(tmp_path) -> None:
    paths = {
        "access_log": f"{tmp_path}/access.log",
        "error_log": f"{tmp_path}/error.log",
    }
    site = render(NginxParams(server_name="localhost", **paths))
    base = {"standalone": True, "pid_file": f"{tmp_path}/nginx.pid", "temp_dir": f"{tmp_path}/t"}
    inline = render(NginxParams(server_name="localhost", **paths, **base))
    assert f"pid {tmp_path}/nginx.pid;" in inline
    assert f"proxy_temp_path {tmp_path}/t/proxy;" in inline
    assert "daemon" not in [d.name for d in parse(inline)]  # given on the command line
    assert "user" not in [d.name for d in parse(inline)]  # nginx's default unless one is named
    as_root = render(NginxParams(server_name="localhost", **paths, **base, worker_user="root"))
    assert [d.args for d in parse(as_root) if d.name == "user"] == [["root"]]
    assert missing_proxy_headers(inline) == []
    assert [line.strip() for line in site[site.index("log_format") :].splitlines() if line] == [
        line.strip()
        for line in inline[inline.index("log_format") :].splitlines()[:-1]
        if line.strip()
    ]
    included = render(
        NginxParams(server_name="localhost", **paths, **base, site_include=f"{tmp_path}/*.conf")
    )
    assert f"include {tmp_path}/*.conf;" in included and "server {" not in included


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"server_name": "api.x.com; include /etc/passwd"}, "server_name"),
        ({"server_name": ""}, "server_name"),
        ({"upstream": "127.0.0.1"}, "upstream"),
        ({"upstream": "127.0.0.1:70000"}, "upstream"),
        ({"listen_port": 0}, "listen_port"),
        ({"listen_port": True}, "listen_port"),
        ({"listen_address": "localhost"}, "listen_address"),
        ({"access_log": "logs/access.log"}, "access_log"),
        ({"error_log": "/var/log/a b.log"}, "error_log"),
        ({"error_log_level": "info"}, "error_log_level"),
        ({"error_log_level": "debug"}, "error_log_level"),
        ({"client_max_body_size": "lots"}, "client_max_body_size"),
        ({"pid_file": "/tmp/nginx.pid"}, "pid_file"),
        ({"standalone": True, "temp_dir": "/tmp/t"}, "pid_file"),
        ({"standalone": True, "pid_file": "/tmp/p", "temp_dir": "t"}, "temp_dir"),
        ({"worker_user": "root"}, "worker_user"),
        (
            {"standalone": True, "pid_file": "/p", "temp_dir": "/t", "worker_user": "root; x"},
            "worker_user",
        ),
    ],
)
def test_bad_params_name_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^NginxParams\.{field} = .* expected "):
        NginxParams(**{"server_name": "api.hakwonplus.com", **changes})


def test_good_params_are_accepted() -> None:
    params = NginxParams(
        server_name="api.hakwonplus.com www.api.hakwonplus.com",
        upstream="unix:/run/gunicorn.sock",
        listen_address="::1",
        listen_port=8443,
        error_log_level="error",
        client_max_body_size="0",
    )
    text = render(params)
    assert "listen [::1]:8443;" in text and "proxy_pass http://unix:/run/gunicorn.sock;" in text

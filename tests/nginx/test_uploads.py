"""The stack's apiClientMaxBodySize reaches the rendered site: video uploads pass this nginx."""

from __future__ import annotations

import os

import pytest

from contract.nginx_config import render
from sandbox.services.nginx_server import NginxFiles
from stack_settings.parse import ApiSettings, parse_settings
from stack_settings.stack_files import REHEARSAL_VALUES, plain_settings, stack_config

UPLOAD = os.urandom(3 * 1024 * 1024)  # over nginx's own default of 1m


def stack_api(stack: str, overrides: dict[str, object] | None = None) -> ApiSettings:
    """The API settings a stack file (Pulumi.yaml defaults included) gives the program."""
    config = stack_config(stack, {**REHEARSAL_VALUES, **(overrides or {})})
    return parse_settings(plain_settings(config), stack).api


def site_from_the_program(upstream: str, body_size: str | None = None):
    """The site file as components/api_proxy.py renders it for the sandbox's settings."""
    from components.api_proxy import nginx_params  # imports pulumi; only these tests need it

    def site(files: NginxFiles, port: int) -> str:
        overrides: dict[str, object] = {
            "apiServerName": "localhost",
            "apiUpstream": upstream,
            "apiListenPort": port,
            "nginxRuntimeDir": str(files.root),
        }
        if body_size is not None:
            overrides["apiClientMaxBodySize"] = body_size
        return render(nginx_params(stack_api("prod", overrides)))

    return site


def test_both_branches_of_nginx_params_carry_the_stack_setting(tmp_path) -> None:
    from components.api_proxy import nginx_params

    default = stack_api("prod")
    assert default.client_max_body_size == "2g"
    assert "client_max_body_size 2g;" in render(nginx_params(default))

    sandbox = stack_api("prod", {"nginxRuntimeDir": str(tmp_path), "apiClientMaxBodySize": "5m"})
    params = nginx_params(sandbox)
    assert params.access_log == f"{tmp_path}/access.log"
    assert "client_max_body_size 5m;" in render(params)


def test_an_upload_over_1m_passes_with_the_stack_default(nginx_factory, upstream) -> None:
    running = nginx_factory.start(
        "uploads-default", upstream.address, site=site_from_the_program(upstream.address)
    )
    assert "client_max_body_size 2g;" in running.files.site.read_text()
    reply = running.post("/api/v1/videos/upload/", UPLOAD, [("Content-Type", "video/mp4")])
    assert reply.status == 200, f"nginx answered {reply.status}: {reply.body[:200]!r}"
    assert reply.json()["body_length"] == len(UPLOAD)


@pytest.mark.parametrize(("body_size", "status"), [("4m", 200), ("2m", 413)])
def test_nginx_enforces_the_configured_limit(nginx_factory, upstream, body_size, status) -> None:
    running = nginx_factory.start(
        f"uploads-{body_size}",
        upstream.address,
        site=site_from_the_program(upstream.address, body_size),
    )
    reply = running.post("/api/v1/videos/upload/", UPLOAD)
    assert reply.status == status, f"{body_size}: nginx answered {reply.status}"

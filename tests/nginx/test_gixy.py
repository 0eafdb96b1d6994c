"""gixy-ng, the outside authority on nginx configs, finds nothing in any config the program renders.

Every variant is written as nginx would read it (the site file inside the standalone main conf,
as the sandbox and these tests run it), gixy's JSON report is parsed, and any finding not in
FALSE_FINDINGS fails the test with gixy's own words.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from contract.nginx_config import render
from sandbox.services.nginx_server import NginxFiles
from stack_settings.parse import parse_settings
from stack_settings.stack_files import REHEARSAL_VALUES, plain_settings, stack_config

# Findings judged false, as (plugin, gixy's reason) -> why it does not apply here.
FALSE_FINDINGS: dict[tuple[str, str], str] = {
    ("if_is_evil", 'Directive "add_header" is not safe to use in "if in location" context'): (
        "the keyless refusal's `if` only adds its marker header and returns; nothing of the "
        "location runs after it, and test_passthrough's keyless test sees the 403 and the header"
    ),
}
STACKS = ("prod", "prod-asg")
UPSTREAM = "127.0.0.1:8000"


def gixy_binary() -> Path:
    return Path(sys.executable).parent / "gixy"


def gixy_findings(conf: Path) -> list[dict]:
    """gixy's findings for the main conf at conf (includes followed), from its JSON report."""
    result = subprocess.run(
        [str(gixy_binary()), "--format", "json", str(conf)], capture_output=True, text=True
    )
    # gixy exits 1 when it has findings; anything else, or no JSON list, is gixy failing.
    assert result.returncode in (0, 1), f"gixy exited {result.returncode}: {result.stderr}"
    findings = json.loads(result.stdout)
    assert isinstance(findings, list), result.stdout[:500]
    return findings


def unexplained(findings: list[dict]) -> list[str]:
    """One line per finding that FALSE_FINDINGS does not account for."""
    return [
        f"{f['plugin']} ({f['severity']}) {f['file']}:{f['line']}: {f['reason']} -- {f['summary']}"
        for f in findings
        if (f["plugin"], f["reason"]) not in FALSE_FINDINGS
    ]


def program_site(stack: str, runtime_dir: str) -> str:
    """The site file components/api_proxy.py renders for the stack (sandbox: runtime dir set)."""
    from components.api_proxy import nginx_params  # imports pulumi; only these tests need it

    overrides = {**REHEARSAL_VALUES, "nginxRuntimeDir": runtime_dir}
    api = parse_settings(plain_settings(stack_config(stack, overrides)), stack).api
    return render(nginx_params(api))


def as_nginx_reads_it(root: Path, site: str) -> Path:
    """The site under conf.d/ and the standalone main conf that includes it, as the sandbox has
    them; the returned main conf is what gixy (like nginx) starts from."""
    files = NginxFiles.under(root)
    files.prepare(8080, UPSTREAM)
    files.site.write_text(site)
    return files.conf


def variants(root: Path) -> dict[str, tuple[Path, Path]]:
    """Every config the program renders: name -> (main conf, the file holding the server)."""
    out: dict[str, tuple[Path, Path]] = {}
    for stack in STACKS:
        for runtime in ("", "sandbox"):
            name = f"{stack}, nginxRuntimeDir {'set' if runtime else 'unset'}"
            state = root / f"{stack}-{runtime or 'host'}"
            site = program_site(stack, str(state) if runtime else "")
            conf = as_nginx_reads_it(state, site)
            out[name] = (conf, NginxFiles.under(state).site)
    # The standalone conf with the site inlined rather than included.
    inline = root / "inline"
    inline.mkdir()
    params = NginxFiles.under(inline).main_params(8080, UPSTREAM)
    conf = inline / "nginx.conf"
    conf.write_text(render(replace(params, site_include=None)))
    out["standalone, site inlined"] = (conf, conf)
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    return variants(tmp_path_factory.mktemp("gixy"))


@pytest.mark.parametrize(
    "variant",
    [f"{s}, nginxRuntimeDir {r}" for s in STACKS for r in ("set", "unset")]
    + ["standalone, site inlined"],
)
def test_gixy_finds_nothing_in_the_rendered_config(rendered, variant) -> None:
    conf, server_file = rendered[variant]
    findings = gixy_findings(conf)
    assert unexplained(findings) == []
    # gixy read the server block (the allow-listed finding is in it), so silence means something.
    assert {f["file"] for f in findings} == {str(server_file)}, findings


def test_every_false_finding_still_occurs(rendered) -> None:
    """An allow-list entry gixy no longer reports is stale: it must go, not linger as a hole."""
    conf, _ = rendered["prod, nginxRuntimeDir unset"]
    seen = {(f["plugin"], f["reason"]) for f in gixy_findings(conf)}
    assert set(FALSE_FINDINGS) <= seen, set(FALSE_FINDINGS) - seen


def test_a_new_finding_fails_the_check(rendered) -> None:
    conf, server_file = rendered["prod, nginxRuntimeDir unset"]
    good = server_file.read_text()
    bad = good.replace(
        "proxy_pass_request_headers off;",
        "proxy_pass_request_headers off;\n        proxy_set_header X-Request-Path $uri;",
    ).replace("server_tokens off;", "server_tokens on;")
    assert bad != good
    server_file.write_text(bad)
    try:
        problems = unexplained(gixy_findings(conf))
    finally:
        server_file.write_text(good)
    assert any(p.startswith("http_splitting") and "$uri" in p for p in problems), problems
    assert any(p.startswith("version_disclosure") for p in problems), problems

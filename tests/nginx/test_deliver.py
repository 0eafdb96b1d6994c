"""nginx/deliver.sh run for real against a local nginx: install, no-op, refuse, roll back."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from contract.nginx_config import DELIVER_SCRIPT, config_sha256, render
from stack_settings.parse import BACKLOG_API_PATH

BACKLOG_PATH = BACKLOG_API_PATH


@pytest.fixture(scope="module")
def host(nginx_factory, upstream):
    return nginx_factory.start("deliver", upstream.address)


def deliver(
    host,
    text: str | bytes,
    reload: str | None = None,
    target: Path | None = None,
    test: str | None = None,
    tmpdir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs deliver.sh; tmpdir (TMPDIR) shows whether its own temporary directory is cleaned."""
    data = text if isinstance(text, str) else text.decode()
    env = None
    if tmpdir is not None:
        tmpdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run(
        [
            "sh",
            str(DELIVER_SCRIPT),
            str(target or host.files.site),
            reload or host.server.reload_command,
            test or host.server.test_command,
        ],
        input=data,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def served_by(host, poll, name: str) -> None:
    def answers() -> bool:
        reply = host.get(BACKLOG_PATH, [("X-Internal-Key", "k")])
        return reply.status == 200 and reply.json()["upstream"] == name

    poll(answers, what=f"nginx proxying to {name}")


def site_for(host, upstream) -> str:
    return render(host.files.site_params(host.port, upstream.address))


def leftovers(host) -> list[str]:
    return sorted(p.name for p in host.files.site_dir.iterdir() if p.name.startswith("."))


def test_a_good_config_is_installed_and_served(host, upstream, upstream_b, poll) -> None:
    served_by(host, poll, "gunicorn-a")
    text = site_for(host, upstream_b)
    result = deliver(host, text)
    assert result.returncode == 0, result.stderr
    assert f"installed {host.files.site} (sha256 {config_sha256(text)}) and reloaded" in (
        result.stdout
    )
    assert host.files.site.read_text() == text
    served_by(host, poll, "gunicorn-b")
    assert leftovers(host) == []


def test_the_sandbox_commands_from_the_files_alone_deliver_too(
    host, upstream, upstream_b, poll
) -> None:
    """The stack settings cannot know nginx's PID: reload through the pid file instead."""
    for target in (upstream_b, upstream):
        result = subprocess.run(
            [
                "sh",
                str(DELIVER_SCRIPT),
                str(host.files.site),
                host.files.reload_command,
                host.files.test_command,
            ],
            input=site_for(host, target),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        served_by(host, poll, target.name)


def test_the_same_config_again_changes_nothing(host, upstream_b, tmp_path) -> None:
    text = site_for(host, upstream_b)
    assert deliver(host, text).returncode == 0
    marker = tmp_path / "reloaded"
    result = deliver(host, text, reload=f"touch {marker} && {host.server.reload_command}")
    assert result.returncode == 0, result.stderr
    assert "unchanged" in result.stdout and "no reload needed" in result.stdout
    assert not marker.exists()


def test_a_bad_config_is_refused_and_the_previous_one_keeps_serving(
    host, upstream_b, poll, tmp_path
) -> None:
    good = site_for(host, upstream_b)
    assert deliver(host, good).returncode == 0
    served_by(host, poll, "gunicorn-b")
    marker = tmp_path / "reloaded"
    bad = good + "\nthis_is_not_a_directive on;\n"
    result = deliver(host, bad, reload=f"touch {marker} && {host.server.reload_command}")
    assert result.returncode == 1
    assert 'unknown directive "this_is_not_a_directive"' in result.stderr
    assert "refused the new config" in result.stderr
    assert f"{host.files.site} was not touched" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists(), "nginx was reloaded after nginx -t refused the config"
    assert host.files.site.read_text() == good
    assert leftovers(host) == []
    # Still serving, and the file on disk survives a reload: nginx is not left on a broken file.
    served_by(host, poll, "gunicorn-b")
    assert "syntax is ok" in host.server.test_config()


def test_a_failed_reload_puts_the_previous_config_back(
    host, upstream, upstream_b, poll, tmp_path
) -> None:
    good = site_for(host, upstream_b)
    assert deliver(host, good).returncode == 0
    flag = tmp_path / "failed-once"
    # Fails the first time (the new config), works the second (reloading the previous one).
    reload = f"if [ -e {flag} ]; then {host.server.reload_command}; else touch {flag}; exit 1; fi"
    result = deliver(host, site_for(host, upstream), reload=reload)
    assert result.returncode == 3
    assert "failed" in result.stderr and "reloaded with the previous config" in result.stderr
    assert host.files.site.read_text() == good
    assert leftovers(host) == []
    served_by(host, poll, "gunicorn-b")


def test_a_refused_first_install_leaves_no_file(host, upstream_b, poll) -> None:
    target = host.files.site_dir / "extra.conf"
    result = deliver(host, "server { listen\n", target=target)
    assert result.returncode == 1
    assert f"{target} was not created" in result.stderr
    assert not target.exists() and leftovers(host) == []
    served_by(host, poll, "gunicorn-b")


def test_a_broken_file_is_refused_before_it_is_moved(host, upstream_b, poll, tmp_path) -> None:
    """nginx -t on the file alone, at its temporary path: the installed file is never touched."""
    good = site_for(host, upstream_b)
    assert deliver(host, good).returncode == 0
    before = host.files.site.stat()
    whole_config_tested = tmp_path / "whole-config-tested"
    reloaded = tmp_path / "reloaded"
    result = deliver(
        host,
        good.replace("proxy_pass_request_headers off;", "proxy_pass_request_headers off", 1),
        reload=f"touch {reloaded}",
        test=f"touch {whole_config_tested} && {host.server.test_command}",
        tmpdir=tmp_path / "tmp",
    )
    assert result.returncode == 1, result.stderr
    after = host.files.site.stat()
    assert host.files.site.read_text() == good
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), (
        "the installed file was replaced (and put back) instead of never being touched"
    )
    assert not whole_config_tested.exists(), "the candidate got as far as the whole-config test"
    assert not reloaded.exists()
    assert "refused the new config" in result.stderr and "before any move" in result.stderr
    assert "Traceback" not in result.stderr
    assert leftovers(host) == [] and list((tmp_path / "tmp").iterdir()) == []
    served_by(host, poll, "gunicorn-b")


def test_a_conflict_only_the_whole_config_shows_is_rolled_back(
    host, upstream, upstream_b, poll, tmp_path
) -> None:
    """Fine on its own, refused next to the host's other files: move, TEST_COMMAND, restore."""
    good = site_for(host, upstream_b)
    assert deliver(host, good).returncode == 0
    other = host.files.site_dir / "other.conf"
    other.write_text("log_format other_site '$status';\n")
    try:
        clashing = site_for(host, upstream) + "log_format other_site '$status';\n"
        result = deliver(host, clashing, tmpdir=tmp_path / "tmp")
    finally:
        other.unlink()
    assert result.returncode == 1, result.stderr
    assert 'duplicate "log_format" name "other_site"' in result.stderr
    assert "the previous" in result.stderr and "is back in place" in result.stderr
    assert host.files.site.read_text() == good
    assert leftovers(host) == [] and list((tmp_path / "tmp").iterdir()) == []
    served_by(host, poll, "gunicorn-b")


def test_the_test_directory_is_cleaned_after_an_install(host, upstream, upstream_b, tmp_path):
    for target in (upstream, upstream_b):
        result = deliver(host, site_for(host, target), tmpdir=tmp_path / "tmp")
        assert result.returncode == 0, result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["conf.d/site.conf", "true"], "x", "TARGET_PATH must be an absolute path"),
        (["/nonexistent-dir/site.conf", "true"], "x", "directory /nonexistent-dir does not exist"),
        (["{site}", "true"], "", "the new config on stdin is empty"),
        (["{site}", ""], "x", "RELOAD_COMMAND is empty"),
        (["{site}"], "x", "usage: deliver.sh TARGET_PATH RELOAD_COMMAND [TEST_COMMAND]"),
    ],
)
def test_bad_usage_says_what_to_do_and_changes_nothing(host, args, stdin, message) -> None:
    before = host.files.site.read_text()
    argv = [a.replace("{site}", str(host.files.site)) for a in args]
    result = subprocess.run(
        ["sh", str(DELIVER_SCRIPT), *argv], input=stdin, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("deliver.sh: ") and message in result.stderr
    assert host.files.site.read_text() == before and leftovers(host) == []


def test_the_ssm_document_script_delivers_with_its_parameters(host, upstream, poll) -> None:
    """components/api_proxy.py's document, its parameters filled in as SSM does, run for real."""
    from components import api_proxy  # imports pulumi; only this test needs it

    text = site_for(host, upstream)
    parameters = {
        "TargetPath": str(host.files.site),
        "ReloadCommand": host.server.reload_command,
        "TestCommand": host.server.test_command,
        "ConfigSha256": config_sha256(text),
    }
    script = api_proxy.document_script(api_proxy.document_content(text), parameters)
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert config_sha256(text) in result.stdout
    assert host.files.site.read_text() == text
    served_by(host, poll, "gunicorn-a")

    refused = api_proxy.document_script(api_proxy.document_content(text + "bogus;\n"), parameters)
    result = subprocess.run(["sh", "-c", refused], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "refused the new config" in result.stderr
    assert host.files.site.read_text() == text
    assert leftovers(host) == []

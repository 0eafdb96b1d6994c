"""Command building and quoting of each transport, and the local transport for real."""

import shlex
import time

import pytest

from contract.stack_output import Host, SshAddress
from verify.errors import TransportError
from verify.probes.backlog_api import curl_command, parse_curl
from verify.transports import TransportOptions, transport_for
from verify.transports.base import command_text
from verify.transports.local import LocalTransport
from verify.transports.ssh import SshEndpoint, SshTransport, parse_endpoint
from verify.transports.ssm import DOCUMENT, SsmTransport, send_command_args, with_stdin


def test_a_list_is_quoted_word_by_word_and_a_string_is_left_alone():
    assert command_text(["sha256sum", "--", "/etc/nginx/a b.conf"]) == (
        "sha256sum -- '/etc/nginx/a b.conf'"
    )
    assert command_text(["echo", "$(rm -rf /)"]) == "echo '$(rm -rf /)'"
    assert command_text("nginx -t && echo ok") == "nginx -t && echo ok"


def test_local_transport_runs_quoted_words_literally():
    result = LocalTransport().run(["printf", "%s|", "a b", "$HOME", "it's"])
    assert result.rc == 0
    assert result.stdout == "a b|$HOME|it's|"


def test_local_transport_feeds_stdin_and_reports_exit_codes():
    transport = LocalTransport()
    assert transport.run("cat", stdin="secret line\n").stdout == "secret line\n"
    failed = transport.run("echo oops >&2; exit 3")
    assert (failed.rc, failed.stderr) == (3, "oops\n")


def test_local_transport_times_out_with_a_reason():
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        LocalTransport().run("sleep 5", timeout=0.3)
    assert time.monotonic() - started < 2


def test_ssm_send_command_uses_run_shell_script_with_one_command():
    args = send_command_args("i-0abc", "sha256sum -- /etc/nginx/x.conf", 20)
    assert args["DocumentName"] == DOCUMENT == "AWS-RunShellScript"
    assert args["InstanceIds"] == ["i-0abc"]
    assert args["Parameters"]["commands"] == ["sha256sum -- /etc/nginx/x.conf"]
    assert args["TimeoutSeconds"] >= 30  # the API's minimum
    assert args["Parameters"]["executionTimeout"] == [str(args["TimeoutSeconds"])]


def test_ssm_stdin_is_piped_from_base64_and_survives_shell_quoting():
    data = b"X-Internal-Key: a'b\"c $(x) `y`\n"
    script = with_stdin("cat", data)
    assert "$(x)" not in script  # nothing the remote shell would expand
    assert LocalTransport().run(script).stdout == data.decode()
    assert with_stdin("nginx -t", None) == "nginx -t"


def test_curl_reads_the_key_header_from_stdin_not_argv():
    command = curl_command("http://127.0.0.1:8000/api/v1/internal/video/backlog-count/", 3)
    assert command[command.index("-H") + 1] == "@-"
    assert not any("X-Internal-Key" in word for word in command)
    assert shlex.split(shlex.join(command)) == command


def test_curl_output_parsing():
    assert parse_curl(0, '{"backlog": 3}\n200', "").status == 200
    assert parse_curl(0, '{"backlog": 3}\n200', "").backlog() == 3
    down = parse_curl(7, "\n000", "curl: (7) Failed to connect to 127.0.0.1 port 8000\n")
    assert down.status is None and "Failed to connect" in down.error
    assert "not installed" in parse_curl(127, "", "sh: curl: not found").error


def test_transport_choice_follows_the_host_entry():
    ssh_host = Host("web-1", None, SshAddress("10.0.0.5", 2222, "ec2-user"))
    ssm_host = Host("i-1", "i-1", None)
    chosen = transport_for(ssh_host, TransportOptions())
    assert isinstance(chosen, SshTransport) and chosen.target == "ec2-user@10.0.0.5:2222"
    assert isinstance(transport_for(ssm_host, TransportOptions(), lambda: object()), SsmTransport)
    assert isinstance(transport_for(ssm_host, TransportOptions(mode="local")), LocalTransport)
    with pytest.raises(TransportError, match="no ssh address"):
        transport_for(ssm_host, TransportOptions(mode="ssh"))
    with pytest.raises(TransportError, match="no instance_id"):
        transport_for(ssh_host, TransportOptions(mode="ssm"), lambda: object())


def test_jump_host_parsing():
    assert parse_endpoint("ops@bastion:2200") == SshEndpoint("bastion", 2200, "ops")
    assert parse_endpoint("bastion") == SshEndpoint("bastion", 22, None)
    with pytest.raises(ValueError):
        parse_endpoint("bastion:ssh")


def test_nginx_probe_is_one_command_and_parses_back(tmp_path):
    from verify.probes.nginx import parse_probe, probe_script

    conf = tmp_path / "a b.conf"
    conf.write_text("x")
    script = probe_script(str(conf), "echo testing; exit 3")
    done = LocalTransport().run(script)
    probe = parse_probe(done.rc, done.stdout + done.stderr)
    assert probe.sum_rc == 0 and probe.deployed_sha256 == (
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")
    assert (probe.test_rc, probe.test_output) == (3, "testing\n")
    missing = LocalTransport().run(probe_script(str(tmp_path / "none"), "true"))
    probe = parse_probe(missing.rc, missing.stdout)
    assert probe.sum_rc == 1 and "No such file" in probe.sum_output and probe.test_rc == 0

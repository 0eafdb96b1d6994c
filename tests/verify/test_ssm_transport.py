"""The SSM transport against a real moto server (moto's send_command runs nothing)."""

import time

import boto3
import pytest

from verify.errors import TransportError
from verify.transports.ssm import SsmTransport


@pytest.fixture
def ssm(aws_env):
    return boto3.client(
        "ssm",
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name=aws_env["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_happy_path_returns_what_the_service_reports(ssm):
    result = SsmTransport("i-0123456789abcdef0", ssm).run(["sha256sum", "--", "/etc/x.conf"])
    assert (result.rc, result.stdout, result.stderr) == (0, "", "")  # moto's canned Success
    sent = ssm.list_commands()["Commands"]
    assert sent[0]["DocumentName"] == "AWS-RunShellScript"
    assert sent[0]["Parameters"]["commands"] == ["sha256sum -- /etc/x.conf"]


def test_an_invocation_that_never_appears_times_out_with_the_command_id(ssm):
    # The plugin name matches no step, so every poll answers InvocationDoesNotExist, which is
    # what AWS answers while a command has not reached an instance yet.
    transport = SsmTransport("i-0123456789abcdef0", ssm, plugin_name="aws:notAStep")
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        transport.run("nginx -t", timeout=1.0)
    elapsed = time.monotonic() - started
    command_id = ssm.list_commands()["Commands"][0]["CommandId"]
    assert "timed out" in caught.value.reason and command_id in caught.value.reason
    assert command_id in caught.value.hint
    assert 0.9 < elapsed < 2.5


def test_the_key_fed_on_stdin_is_not_in_the_command_as_plain_text(ssm):
    SsmTransport("i-0123456789abcdef0", ssm).run("cat", stdin="X-Internal-Key: plain-secret\n")
    sent = ssm.list_commands()["Commands"][0]["Parameters"]["commands"][0]
    assert "plain-secret" not in sent and "base64 -d" in sent

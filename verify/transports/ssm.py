"""AWS Systems Manager Run Command: `AWS-RunShellScript`, polled to a deadline."""

import base64
import shlex
import time
from typing import Any

from verify.errors import TransportError
from verify.transports.base import RawResult, Transport

DOCUMENT = "AWS-RunShellScript"
_PENDING = {"Pending", "InProgress", "Delayed"}
_TIMED_OUT = {"TimedOut", "DeliveryTimedOut", "Delivery Timed Out", "ExecutionTimedOut"}
_FIRST_POLL_S = 0.2
_MAX_POLL_S = 2.0


def with_stdin(command: str, stdin: bytes | None) -> str:
    """Run Command has no stdin: pipe the data in from a base64 literal inside the script.

    Base64 keeps quoting safe; the script text is stored in the command history, so
    callers keep secrets out of it where they can.
    """
    if not stdin:
        return command
    encoded = base64.b64encode(stdin).decode("ascii")
    return f"printf %s {shlex.quote(encoded)} | base64 -d | ( {command} )"


def send_command_args(instance_id: str, command: str, timeout_s: float) -> dict[str, Any]:
    seconds = max(30, int(timeout_s) + 1)
    return {
        "InstanceIds": [instance_id],
        "DocumentName": DOCUMENT,
        "Comment": "academy verify",
        "TimeoutSeconds": seconds,
        "Parameters": {"commands": [command], "executionTimeout": [str(seconds)]},
    }


class SsmTransport(Transport):
    name = "ssm"

    def __init__(
        self,
        instance_id: str,
        client: Any,
        default_timeout_s: float = 60.0,
        plugin_name: str | None = None,
    ) -> None:
        super().__init__(default_timeout_s)
        self.instance_id = instance_id
        self.target = instance_id
        self._client = client
        self._plugin_name = plugin_name

    def _execute(self, command: str, timeout: float, stdin: bytes | None) -> RawResult:
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + timeout
        try:
            sent = self._client.send_command(
                **send_command_args(self.instance_id, with_stdin(command, stdin), timeout)
            )
        except ClientError as exc:
            raise TransportError(
                f"ssm send_command to {self.instance_id} refused: {_error_text(exc)}",
                "is the instance managed by SSM (agent online) and may this role send commands?",
            ) from exc
        except BotoCoreError as exc:
            raise TransportError(f"ssm unreachable: {exc}", "check credentials") from exc
        command_id = sent["Command"]["CommandId"]
        delay = _FIRST_POLL_S
        status = "Pending"
        while True:
            try:
                args = {"CommandId": command_id, "InstanceId": self.instance_id}
                if self._plugin_name:
                    args["PluginName"] = self._plugin_name
                invocation = self._client.get_command_invocation(**args)
                status = invocation.get("Status", "Pending")
            except ClientError as exc:
                # Right after send_command the invocation may not exist yet.
                if exc.response.get("Error", {}).get("Code") != "InvocationDoesNotExist":
                    raise TransportError(
                        f"ssm get_command_invocation failed: {_error_text(exc)}",
                        "check the role's ssm:GetCommandInvocation permission",
                    ) from exc
                invocation, status = {}, "Pending"
            except BotoCoreError as exc:
                raise TransportError(f"ssm unreachable: {exc}", "check AWS credentials") from exc
            if status not in _PENDING:
                return self._finish(command_id, status, invocation)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(
                    f"timed out after {timeout:g}s waiting for SSM command {command_id} on "
                    f"{self.instance_id} (last status {status})",
                    f"aws ssm get-command-invocation --command-id {command_id} "
                    f"--instance-id {self.instance_id}",
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 1.6, _MAX_POLL_S)

    def _finish(self, command_id: str, status: str, invocation: dict) -> RawResult:
        out = invocation.get("StandardOutputContent", "").encode()
        err = invocation.get("StandardErrorContent", "").encode()
        code = int(invocation.get("ResponseCode", -1))
        if status == "Success":
            return code, out, err
        if status == "Failed" and code >= 0:
            return code, out, err  # it ran and exited non-zero: a result, not a transport fault
        if status in _TIMED_OUT:
            raise TransportError(
                f"timed out: SSM command {command_id} on {self.instance_id} ended {status}",
                "the instance's SSM agent did not answer in time; is it online?",
            )
        raise TransportError(
            f"host unreachable: SSM command {command_id} on {self.instance_id} ended {status} "
            f"({invocation.get('StatusDetails', '')})",
            "check the instance is running and its SSM agent is online "
            "(aws ssm describe-instance-information)",
        )


def _error_text(exc: Exception) -> str:
    error = getattr(exc, "response", {}).get("Error", {})
    return f"{error.get('Code', '')}: {error.get('Message', exc)}"

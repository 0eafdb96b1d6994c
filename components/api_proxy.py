"""Delivers the rendered nginx config to the API hosts through SSM.

A Command document carries `nginx/deliver.sh` and the config (base64); an association
runs it on the API hosts and runs again whenever the config changes (its hash is one of
the association's parameters). The target path and the reload and test commands are
document parameters, so the same script runs on a real host and in the sandbox.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import physical_names as names
from components.nginx_config import DELIVER_SCRIPT, NginxParams, config_sha256, render_site
from components.settings import ApiSettings
from components.stack_output import Api, Host, Nginx, SshAddress

DOCUMENT_PARAMETERS = ("TargetPath", "ReloadCommand", "TestCommand", "ConfigSha256")
_PARAMETER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def nginx_params(api: ApiSettings) -> NginxParams:
    """The site config's parameters from the stack settings (sandbox: its own log paths)."""
    if api.nginx_runtime_dir:
        return NginxParams(
            server_name=api.server_name,
            upstream=api.upstream,
            listen_port=api.listen_port,
            listen_address="127.0.0.1",
            access_log=f"{api.nginx_runtime_dir}/access.log",
            error_log=f"{api.nginx_runtime_dir}/error.log",
            client_max_body_size=api.client_max_body_size,
        )
    return NginxParams(
        server_name=api.server_name,
        upstream=api.upstream,
        listen_port=api.listen_port,
        client_max_body_size=api.client_max_body_size,
    )


def document_content(config_text: str) -> dict[str, object]:
    """The SSM Command document (schema 2.2) that installs config_text with deliver.sh."""
    encoded = base64.b64encode(config_text.encode()).decode()
    script = DELIVER_SCRIPT.read_text()
    return {
        "schemaVersion": "2.2",
        "description": "Install the academy API nginx config: nginx -t, move, reload; "
        "restore the previous file on any failure.",
        "parameters": {
            "TargetPath": {"type": "String", "description": "Where nginx includes the file"},
            "ReloadCommand": {"type": "String", "description": "Reloads nginx"},
            "TestCommand": {"type": "String", "description": "Validates nginx's config"},
            "ConfigSha256": {"type": "String", "description": "Hash of the config (reruns)"},
        },
        "mainSteps": [{
            "action": "aws:runShellScript",
            "name": "deliverNginxConfig",
            "inputs": {"runCommand": [
                "set -eu",
                "script=$(mktemp)",
                "trap 'rm -f \"$script\"' EXIT",
                "cat >\"$script\" <<'ACADEMY_DELIVER_SH'",
                *script.rstrip("\n").splitlines(),
                "ACADEMY_DELIVER_SH",
                f"echo '{encoded}' | base64 -d | sh \"$script\" "
                "'{{ TargetPath }}' '{{ ReloadCommand }}' '{{ TestCommand }}'",
            ]},
        }],
    }


def document_script(content: Mapping[str, object], parameters: Mapping[str, str]) -> str:
    """The shell script the document runs, with its parameters substituted as SSM does."""
    for name, value in parameters.items():
        if "'" in value:
            raise ValueError(f"document parameter {name} must not contain a single quote")
    steps = content["mainSteps"]
    lines: list[str] = steps[0]["inputs"]["runCommand"]  # type: ignore[index]
    return "\n".join(_PARAMETER.sub(lambda m: parameters[m.group(1)], line) for line in lines)


@dataclass(frozen=True)
class ApiProxyArgs:
    api: ApiSettings
    name_prefix: str


class ApiProxy(pulumi.ComponentResource):
    config_text: str
    config_sha256: str

    def __init__(
        self, name: str, args: ApiProxyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("academy:api_proxy:ApiProxy", name, None, opts)
        api = self.api = args.api
        child = pulumi.ResourceOptions(parent=self)
        self.config_text = render_site(nginx_params(api))
        self.config_sha256 = config_sha256(self.config_text)
        self.document = aws.ssm.Document(
            f"{name}-document",
            aws.ssm.DocumentArgs(
                name=names.nginx_document(args.name_prefix),
                document_type="Command",
                document_format="JSON",
                content=json.dumps(document_content(self.config_text)),
            ),
            opts=child,
        )
        targets = []
        if api.host_instance_ids:
            targets.append(aws.ssm.AssociationTargetArgs(
                key="InstanceIds", values=list(api.host_instance_ids)))
        if api.host_tag is not None:
            targets.append(aws.ssm.AssociationTargetArgs(
                key=f"tag:{api.host_tag[0]}", values=[api.host_tag[1]]))
        self.associations = [
            aws.ssm.Association(
                f"{name}-association-{i}",
                aws.ssm.AssociationArgs(
                    name=self.document.name,
                    association_name=names.nginx_association(args.name_prefix, i),
                    document_version=self.document.latest_version,
                    targets=[target],
                    # Drift is put right every 30 minutes; a new hash reruns it at once.
                    schedule_expression="rate(30 minutes)",
                    parameters={
                        "TargetPath": api.nginx_config_path,
                        "ReloadCommand": api.nginx_reload_command,
                        "TestCommand": api.nginx_test_command,
                        "ConfigSha256": self.config_sha256,
                    },
                ),
                opts=child,
            )
            for i, target in enumerate(targets)
        ]
        self.register_outputs({"config_sha256": self.config_sha256})

    def describe(self) -> Api:
        """The API's part of the stack output: where verify finds the hosts and the config."""
        api = self.api
        return Api(
            public_base_url=api.public_base_url,
            local_base_url=api.local_base_url,
            host_tag="=".join(api.host_tag) if api.host_tag else None,
            hosts=api_hosts(api),
            nginx=Nginx(
                config_path=api.nginx_config_path,
                config_sha256=self.config_sha256,
                test_command=api.nginx_test_command,
                reload_command=api.nginx_reload_command,
                document_name=self.document.name,  # type: ignore[arg-type]
                association_names=[a.association_name for a in self.associations],  # type: ignore[misc]
            ),
        )


def api_hosts(api: ApiSettings) -> list[Host]:
    """Hosts by instance id (reached through SSM) and by SSH address."""
    hosts = [Host(name=i, instance_id=i, ssh=None) for i in api.host_instance_ids]
    for n, entry in enumerate(api.host_ssh, start=1):
        user, _, address = entry.partition("@")
        host, _, port = address.partition(":")
        ssh = SshAddress(host=host, port=int(port or 22), user=user)
        hosts.append(Host(name=f"ssh-{n}", instance_id=None, ssh=ssh))
    return hosts

"""The API hosts: those the outputs list, plus the running instances their host tag selects
(EC2)."""

from typing import Any

from contract.stack_output import Host
from verify.context import CheckContext
from verify.errors import VerifyError


def parse_tag(tag: str) -> tuple[str, str]:
    key, sep, value = tag.partition("=")
    if not sep or not key:
        raise VerifyError(
            f"api.host_tag {tag!r} is not Key=Value",
            "set apiHostTag to Key=Value (e.g. Role=academy-api) and `pulumi up`",
        )
    return key, value


def tagged_instances(ec2: Any, tag: str) -> list[str]:
    """Ids of the running instances carrying the tag, in the order EC2 lists them."""
    key, value = parse_tag(tag)
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": f"tag:{key}", "Values": [value]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ])
    return [instance["InstanceId"]
            for page in pages
            for reservation in page.get("Reservations", [])
            for instance in reservation.get("Instances", [])]


def merge_hosts(listed: list[Host], instance_ids: list[str]) -> list[Host]:
    """The listed hosts, then each tagged instance not already among them (reached by SSM)."""
    hosts = list(listed)
    known = {h.instance_id for h in listed if h.instance_id}
    for instance_id in instance_ids:
        if instance_id not in known:
            known.add(instance_id)
            hosts.append(Host(instance_id, instance_id, None))
    return hosts


def api_hosts(ctx: CheckContext) -> list[Host]:
    """Resolved once per run; the api, nginx and metric checks share the answer."""
    def resolve() -> list[Host]:
        api = ctx.outputs.api
        tag = api.host_tag
        tagged = tagged_instances(ctx.aws.client("ec2"), tag) if tag else []
        return merge_hosts(api.hosts, tagged)

    return ctx.once("api-hosts", resolve)

"""The running instances an API host tag selects (EC2)."""

from typing import Any

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

"""Probes for adoption: does a declared resource already exist in the account, by its physical
name, and under which import id? Read from the registry (contract/aws_types.py): the call that
finds a type by its name (`READS`), the import id's form, which inputs AWS cannot change in place.

Each id takes the form of the "Import" section of that type's pulumi-aws page (the same text is
in the installed pulumi_aws package; tests/verify/test_adopt.py reads it from there).
A lookup answers `Live` (the id and the live attributes drift is judged on), None (not there:
the first `pulumi up` creates it) or raises NotAdoptable (there, but in a form the program
cannot take over: an input no update can change, which the first up would replace).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jmespath
from botocore import xform_name
from botocore.exceptions import ClientError

from contract.aws_types import READS, aws_type

Client = Callable[[str], Any]
MISSING = ("NotFound", "NoSuchEntity", "NonExistentQueue", "QueueDoesNotExist",
           "ResourceNotFoundException", "ParameterNotFound", "InvalidDocument")
HOOK = "aws:autoscaling/lifecycleHook:LifecycleHook"  # its group missing: a ValidationError


class NotAdoptable(Exception):
    """The resource exists, but the program could not take it over as it is."""


class Unsupported(Exception):
    """The endpoint cannot answer for this type (an emulator's gap); said, never skipped."""


@dataclass(frozen=True)
class Live:
    id: str  # the import id, in the form of the type's Import section
    attributes: dict[str, Any] = field(default_factory=dict)


def numeric(value: Any) -> Any:
    """Mocks hand numbers over as floats (300.0 -> 300); SQS answers them as text ("300")."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return value


# Inputs AWS cannot change in place (the registry's replacing inputs) that an old resource may
# hold otherwise: (input, where the live value is, the program's value when it declares none).
FIXED: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "aws:sqs/queue:Queue": (("fifoQueue", "FifoQueue", False),),
    "aws:iam/role:Role": (("path", "Path", "/"),),
    "aws:batch/computeEnvironment:ComputeEnvironment": (
        ("type", "type", "MANAGED"), ("computeResources.type", "computeResources.type", None)),
}
HINTS = {"computeResources.type": ": set videoBatchSpot to match or use a new "
                                  "videoBatchComputeEnvName",
         "path": ": a replacement would need the same name"}


def _declared(inputs: dict, path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _refuse_fixed(typ: str, inputs: dict, live: dict) -> None:
    for key, where, default in FIXED.get(typ, ()):
        declared = _declared(inputs, key)
        declared = default if declared is None else declared
        found = jmespath.search(where, live)
        if declared is None or found is None:
            continue
        if str(found).lower() != str(declared).lower():
            raise NotAdoptable(f"its {key} is {found!r}, the program's {declared!r}: AWS cannot "
                               "change that in place, so the first `pulumi up` would replace it "
                               f"(and lose what it holds){HINTS.get(key, '')}")


def _extra(typ: str, client: Client, inputs: dict, found: Any) -> dict[str, Any]:
    """What one call does not say: a queue's attributes, a function's permission statement."""
    if typ == "aws:sqs/queue:Queue":
        return client("sqs").get_queue_attributes(QueueUrl=found, AttributeNames=["All"])[
            "Attributes"]
    if typ == "aws:lambda/permission:Permission":
        sids = {s.get("Sid") for s in json.loads(found).get("Statement", [])}
        return {"Sid": inputs["statementId"]} if inputs["statementId"] in sids else {}
    return found if isinstance(found, dict) else {}


def look_up(typ: str, client: Client, inputs: dict) -> Live | None:
    """The resource the program declares, as the account holds it (see the module docstring)."""
    read, known = READS[typ], aws_type(typ)
    assert known is not None
    service = known.service
    try:
        answer = getattr(client(service), xform_name(read.op))(**read.request(inputs))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if any(word in code for word in MISSING) or (typ == HOOK and code == "ValidationError"):
            return None
        if typ == "aws:ssm/association:Association":
            raise Unsupported(f"ListAssociations failed: {code or exc}") from None
        raise
    except Exception as exc:  # moto answers associations with an HTML error page
        if typ == "aws:ssm/association:Association":
            raise Unsupported(f"the endpoint has no SSM associations ({type(exc).__name__})") \
                from None
        raise
    found = jmespath.search(read.path(inputs), answer)
    if not found:
        return None
    attributes = _extra(typ, client, inputs, found)
    if typ == "aws:lambda/permission:Permission" and not attributes:
        return None
    _refuse_fixed(typ, inputs, attributes)
    if typ == "aws:lambda/function:Function" and attributes.get("PackageType", "Zip") != "Zip":
        raise NotAdoptable(f"it is deployed as a container image ({attributes['PackageType']}); "
                           "the program deploys a zip, and a function's package type cannot "
                           "change")
    if typ == "aws:ssm/document:Document" and str(attributes.get("Owner")).startswith("Amazon"):
        raise NotAdoptable("it is an AWS-owned document")
    own_id = str(jmespath.search(read.id, found)) if read.id else ""
    return Live(known.import_id_of(inputs, own_id), attributes)


def _lookup(typ: str) -> Callable[[Client, dict], Live | None]:
    return lambda client, inputs: look_up(typ, client, inputs)


LOOKUPS: dict[str, Callable[[Client, dict], Live | None]] = {t: _lookup(t) for t in READS}


def named(typ: str, inputs: dict) -> bool:
    """The program gave it a physical name (else Pulumi names it, with a random suffix)."""
    known = aws_type(typ)
    return known.named(inputs) if known else bool(inputs.get("name"))


def physical_name(typ: str, inputs: dict) -> str:
    known = aws_type(typ)
    return known.physical_name(inputs) if known else str(inputs.get("name") or "(named by Pulumi)")

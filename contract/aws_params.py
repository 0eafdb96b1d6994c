"""Pulumi inputs (camelCase, Pulumi's shapes) to an AWS API request, driven by botocore's models.

Every key is matched to a member of the operation's input shape (exactly, by a rename, or by
case: `visibilityTimeoutSeconds` -> `VisibilityTimeoutSeconds`), recursively, and every value
converted to the member's type: numbers to integers, a dict of tags to `[{Key, Value}]` where
the API wants a list, a JSON string to a structure, a list to a comma-joined string. A key
with no member is `Unmappable`, naming the type and the key: nothing is dropped silently.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import botocore.session


class Unmappable(ValueError):
    """A declared input the registry cannot map to the API: names the type and the key."""


@functools.cache
def service_model(service: str) -> Any:
    """botocore's model of `service` (what `client.meta.service_model` holds)."""
    return botocore.session.get_session().get_service_model(service)


def operation_shape(service: str, operation: str) -> Any:
    return service_model(service).operation_model(operation).input_shape


def member_name(shape: Any, key: str, renames: Mapping[str, str]) -> str | None:
    """The member of `shape` a Pulumi key names: renamed, exact, or equal but for case."""
    lowered = {m.lower(): m for m in shape.members}
    for wanted in (renames.get(key), key):  # a rename first; else the key itself, any case
        if wanted and wanted.lower() in lowered:
            return lowered[wanted.lower()]
    return None


def _pair_list(value: Mapping[str, Any], member: Any) -> list[dict[str, Any]] | None:
    """A dict (tags, dimensions) as the `[{Key, Value}]` / `[{Name, Value}]` list AWS takes."""
    fields = set(member.members) if member.type_name == "structure" else set()
    for key_name in ("Key", "Name", "key", "name"):
        value_name = "Value" if key_name[0].isupper() else "value"
        if {key_name, value_name} <= fields:
            return [{key_name: str(k), value_name: str(v)} for k, v in value.items()]
    return None


def convert(value: Any, shape: Any, renames: Mapping[str, str], where: str) -> Any:
    """`value` as the API takes it for `shape`; Unmappable names `where` and the key."""
    kind = shape.type_name
    if value is None or (value == "" and kind in ("integer", "long", "double", "float")):
        return None
    if kind == "structure":
        if isinstance(value, str):
            value = json.loads(value)  # a JSON document declared as a string
        if not isinstance(value, Mapping):
            raise Unmappable(f"{where}: expected an object for {shape.name}, got {value!r}")
        out = {}
        for key, item in value.items():
            member = member_name(shape, key, renames)
            if member is None:
                raise Unmappable(f"{where}.{key}: no parameter of {shape.name} takes it")
            converted = convert(item, shape.members[member], renames, f"{where}.{key}")
            if converted is not None:
                out[member] = converted
        return out
    if kind == "list":
        if isinstance(value, Mapping):
            pairs = _pair_list(value, shape.member)
            if pairs is None:
                raise Unmappable(f"{where}: an object where {shape.name} is a list")
            return pairs
        if not isinstance(value, list | tuple):
            value = [value]  # one value where the API takes a list (SSM's parameters)
        return [convert(v, shape.member, renames, where) for v in value]
    if kind == "map":
        return {str(k): convert(v, shape.value, renames, where) for k, v in value.items()}
    if kind in ("integer", "long"):
        return int(float(value))
    if kind in ("double", "float"):
        return float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        if isinstance(value, dict):
            return json.dumps(value)
        return str(value)
    return value  # blob, timestamp: as given


def request(service: str, operation: str, inputs: Mapping[str, Any],
            renames: Mapping[str, str], where: str) -> dict[str, Any]:
    """The request of `operation` from `inputs` (all of them must map)."""
    return convert(dict(inputs), operation_shape(service, operation), renames, where)


def enum_name(service: str, shape: Any, key: str, renames: Mapping[str, str]) -> str | None:
    """The entry of a map keyed by an enum (SQS's Attributes) a Pulumi key names."""
    name = renames.get(key, key[:1].upper() + key[1:])
    return name if name in service_model(service).shape_for(shape.key.name).enum else None


def accepts(service: str, operation: str, key: str, renames: Mapping[str, str],
            nest: str | None = None) -> bool:
    """Whether `operation` takes the Pulumi input `key` (under `nest`, but for the top keys)."""
    shape = operation_shape(service, operation)
    if member_name(shape, key, renames) is not None or nest not in shape.members:
        return member_name(shape, key, renames) is not None
    shape = shape.members[nest]
    shape = shape.member if shape.type_name == "list" else shape
    if shape.type_name == "map":
        return enum_name(service, shape, key, renames) is not None
    return member_name(shape, key, renames) is not None

"""The dispatch parameter as SSM holds it: its value now, and the last value it had in a mode
(its history names the path a switch retired)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contract.dispatch import DispatchError, DispatchValue
from verify.context import CheckContext


@dataclass(frozen=True)
class DispatchReading:
    name: str
    raw: str | None  # None: no such parameter
    value: DispatchValue | None  # None: missing or not of the shape (problem says why)
    problem: str | None


def read_dispatch(ctx: CheckContext, name: str) -> DispatchReading:
    from botocore.exceptions import ClientError

    try:
        raw = ctx.aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return DispatchReading(name, None, None, "no such parameter")
        raise
    try:
        return DispatchReading(name, raw, DispatchValue.from_json(raw), None)
    except DispatchError as exc:
        return DispatchReading(name, raw, None, str(exc))


def last_value_in_mode(ctx: CheckContext, name: str, mode: str) -> DispatchValue | None:
    """The newest earlier value of the parameter in `mode` (GetParameterHistory, oldest
    first, every page), or None when it never had one of that shape."""
    from botocore.exceptions import ClientError

    found = None
    try:
        for page in ctx.aws.client("ssm").get_paginator("get_parameter_history").paginate(
                Name=name):
            for version in page.get("Parameters", []):
                try:
                    value = DispatchValue.from_json(version.get("Value", ""))
                except DispatchError:
                    continue
                if value.mode == mode:
                    found = value
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    return found


def moved_to_mode_at(ctx: CheckContext, name: str, mode: str) -> datetime | None:
    """When the parameter last started sending work to `mode`: the LastModifiedDate of the
    first version of its newest run of values in that mode (GetParameterHistory, oldest first).
    None when it never had such a value or the history gives no date."""
    from botocore.exceptions import ClientError

    moved: datetime | None = None
    try:
        for page in ctx.aws.client("ssm").get_paginator("get_parameter_history").paginate(
                Name=name):
            for version in page.get("Parameters", []):
                try:
                    in_mode = DispatchValue.from_json(version.get("Value", "")).mode == mode
                except DispatchError:
                    in_mode = False
                if not in_mode:
                    moved = None
                elif moved is None:
                    moved = version.get("LastModifiedDate")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    return moved

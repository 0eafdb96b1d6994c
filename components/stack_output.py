"""The stack output's one typed contract: the `academy` output the program exports and verify
reads.

The program builds a `StackOutput` and exports `to_plain(...)` of it (values known only after
the deploy, names, URLs and ARNs, are pulumi Outputs of the declared type until then);
verify, the sandbox and the tests read it back with `parse(...)`, which checks every field's
type and names the first misfit by its path. docs/CONTRACTS.md shows `shape()` of it (a test
keeps the two equal). Change the shape here only, and raise SCHEMA_VERSION when a reader of
the old shape would misread the new one. A field added with a default (None) is optional in
the document: outputs written before it existed still parse.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

SCHEMA_VERSION = 1
OUTPUT_NAME = "academy"  # pulumi.export(OUTPUT_NAME, ...); `pulumi stack output --json`'s key

Mode = Literal["asg", "batch"]
# The video modes, defined here once: settings, dispatch, verify, the sandbox and bench use it.
VIDEO_MODES: tuple[Mode, ...] = typing.get_args(Mode)
Runner = Literal["fleet", "batch"]  # where a worker type's jobs run in this mode
BacklogSource = Literal["sqs", "api"]  # where its backlog is counted (api: the DB, SQS fallback)


class ContractError(ValueError):
    """The document is not a stack output of this shape; the message names where."""


@dataclass(frozen=True)
class Queue:
    name: str
    url: str
    arn: str
    visibility_timeout_s: int
    retained: bool  # kept when the program stops declaring it (it may still hold jobs)


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str
    url: str
    arn: str
    max_receive_count: int


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: dict[str, str]
    unit: str
    # The statistic the fleet's policy reads it with (BacklogMetricSpec.statistic); outputs
    # written before this field existed were built with the same default.
    statistic: str = "Average"


@dataclass(frozen=True)
class Counting:
    in_flight: bool
    delayed: bool


@dataclass(frozen=True)
class WakeFromZero:
    """The alarm that starts one instance while backlog waits and none is in service."""

    policy_name: str
    alarm_name: str
    expression: str
    threshold: float
    comparison_operator: str
    adjustment_type: str
    scaling_adjustment: int


@dataclass(frozen=True)
class Role:
    """An IAM role the stack declares and every policy it grants the role: any other policy
    on it is a leftover `verify all` fails on (`leftovers`)."""

    name: str
    inline_policies: list[str] = dataclasses.field(default_factory=list)
    managed_policy_arns: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Fleet:
    group_name: str
    min_size: int
    max_size: int
    target_backlog_per_instance: float
    instance_warmup_s: int
    policy_name: str
    wake_from_zero: bool
    wake: WakeFromZero | None
    instance_role: Role | None = None  # added later: older outputs name no role


@dataclass(frozen=True)
class Worker:
    label: str  # the metric's WorkerType dimension
    runs_on: Runner
    backlog_source: BacklogSource
    queue: Queue
    dlq: DeadLetterQueue
    max_job_s: int
    metric: Metric
    published: bool
    counting: Counting
    backlog_api: bool  # the publisher asks the DB through the internal API
    fleet: Fleet | None


@dataclass(frozen=True)
class Publisher:
    function_name: str
    role_name: str
    code_sha256: str
    key_parameter: str  # the SSM parameter's name; never the key
    schedule_rule: str
    errors_alarm: str
    source_dir: str
    environment: dict[str, str]  # the function's declared environment (no secret in it)
    # What the stack grants its role: any other policy there is a leftover verify fails on.
    inline_policies: list[str] = dataclasses.field(default_factory=list)
    managed_policy_arns: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Batch:
    compute_environment: str
    job_queue: str
    job_definition: str
    log_group: str
    architecture: str
    retry_attempts: int
    timeout_s: int
    runnable_timeout_s: int
    # The roles the Batch environment runs as (it declares no job role); added later.
    service_role: Role | None = None
    instance_role: Role | None = None


@dataclass(frozen=True)
class SshAddress:
    host: str
    port: int
    user: str


@dataclass(frozen=True)
class Host:
    name: str
    instance_id: str | None
    ssh: SshAddress | None


@dataclass(frozen=True)
class Nginx:
    config_path: str
    config_sha256: str
    test_command: str
    reload_command: str
    document_name: str
    association_names: list[str]


@dataclass(frozen=True)
class Api:
    public_base_url: str
    local_base_url: str
    host_tag: str | None  # "Key=Value"
    hosts: list[Host]
    nginx: Nginx


@dataclass(frozen=True)
class Dispatch:
    """The SSM parameter telling the API where new work of `worker_type` goes (its value:
    components.dispatch.DispatchValue, these same fields as JSON)."""

    parameter: str  # the SSM parameter's name
    worker_type: str
    mode: Mode
    queue_url: str | None  # mode "asg"
    job_queue: str | None  # mode "batch" (names, as SubmitJob takes them)
    job_definition: str | None


@dataclass(frozen=True)
class Draining:
    """The old path of `worker_type`, kept declared (videoDrain) until it is empty."""

    from_mode: Mode
    worker_type: str
    queue_url: str | None  # the retained queue, when the old path is the fleet
    group_name: str | None  # the fleet, when the old path is "asg"
    job_queue: str | None  # when the old path is "batch"
    compute_environment: str | None


@dataclass(frozen=True)
class StackOutput:
    schema_version: int
    project: str
    stack: str
    mode: Mode
    region: str
    worker_types: dict[str, Worker]
    publisher: Publisher
    batch: Batch | None
    api: Api
    # Added later in schema version 1: outputs without them still parse.
    dispatch: Dispatch | None = None  # None: no type runs on Batch
    draining: Draining | None = None  # None: not draining (videoDrain false)


def declared_roles(output: StackOutput) -> list[tuple[str, Role]]:
    """Every role the stack declares, with what it is for ("publisher role", "video fleet's
    instance role", "Batch service role"): the publisher's, each fleet's (a draining fleet's
    too), Batch's. A role an older output does not name is not listed."""
    p = output.publisher
    roles = [("publisher role", Role(p.role_name, p.inline_policies, p.managed_policy_arns))]
    for wt, worker in output.worker_types.items():
        if worker.fleet is not None and worker.fleet.instance_role is not None:
            roles.append((f"{wt} fleet's instance role", worker.fleet.instance_role))
    if output.batch is not None:
        for what, role in (("service", output.batch.service_role),
                           ("instance", output.batch.instance_role)):
            if role is not None:
                roles.append((f"Batch {what} role", role))
    return roles


# ---- to and from plain JSON values -----------------------------------------------------------


def to_plain(value: Any) -> Any:
    """Dataclasses -> dicts, recursively, leaving leaves (pulumi Outputs included) as they are
    (dataclasses.asdict would deep-copy them)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def parse(document: Any, source: str = "the stack output") -> StackOutput:
    """`pulumi stack output --json`'s document (or its `academy` value) -> StackOutput, or a
    ContractError naming the path of the first field that does not fit."""
    path = OUTPUT_NAME
    if isinstance(document, dict) and OUTPUT_NAME in document:
        document = document[OUTPUT_NAME]
    if not isinstance(document, dict):
        raise ContractError(f"{source}: '{path}' should be an object, got {_kind(document)} "
                            "(expected the output of `pulumi stack output --json`)")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        found = "none" if version is None else repr(version)
        raise ContractError(
            f"{source}: '{path}.schema_version' is {found}; this verify reads version "
            f"{SCHEMA_VERSION}: deploy the program and verify from the same commit "
            "(`pulumi up`, then verify from that checkout)")
    return _read(document, StackOutput, path, source)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is list:
        return "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "an object"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[hint]


def _read(value: Any, hint: Any, path: str, source: str) -> Any:
    def misfit() -> ContractError:
        got = repr(value)[:40] if isinstance(value, str) else _kind(value)
        return ContractError(f"{source}: '{path}' should be {_describe(hint)}, got {got}")

    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        if value is None:
            raise misfit()
        return _read(value, inner, path, source)
    if origin is Literal:
        if not isinstance(value, str) or value not in typing.get_args(hint):
            raise misfit()
        return value
    if origin is list:
        if not isinstance(value, list):
            raise misfit()
        (item,) = typing.get_args(hint)
        return [_read(v, item, f"{path}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise misfit()
        _, item = typing.get_args(hint)
        return {str(k): _read(v, item, f"{path}.{k}", source) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise misfit()
        hints = typing.get_type_hints(hint)
        fields = {}
        for f in dataclasses.fields(hint):
            if f.name not in value and f.default is not dataclasses.MISSING:
                fields[f.name] = f.default  # added later in the same schema version
                continue
            if f.name not in value and f.default_factory is not dataclasses.MISSING:
                fields[f.name] = f.default_factory()
                continue
            if f.name not in value:
                raise ContractError(f"{source}: missing key '{path}.{f.name}' "
                                    f"({_describe(hints[f.name])})")
            fields[f.name] = _read(value[f.name], hints[f.name], f"{path}.{f.name}", source)
        return hint(**fields)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise misfit()
        return float(value)
    if hint is int and isinstance(value, bool):
        raise misfit()
    if not isinstance(value, hint):
        raise misfit()
    return value


# ---- the documented shape (docs/CONTRACTS.md) ------------------------------------------------


def shape(hint: Any = StackOutput, indent: str = "") -> str:
    """The contract as indented text, one field a line: `name: type`."""
    lines = []
    for f in dataclasses.fields(hint):
        field_hint = typing.get_type_hints(hint)[f.name]
        nested = _nested_dataclass(field_hint)
        lines.append(f"{indent}{f.name}: {_spell(field_hint)}")
        if nested is not None:
            lines.append(shape(nested, indent + "  "))
    return "\n".join(lines)


def _nested_dataclass(hint: Any) -> Any:
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        found = _nested_dataclass(arg)
        if found is not None:
            return found
    return None


def _spell(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(a).replace("'", '"') for a in typing.get_args(hint))
    if origin in (types.UnionType, typing.Union):
        return " | ".join(_spell(a) for a in typing.get_args(hint))
    if origin is list:
        return f"list[{_spell(typing.get_args(hint)[0])}]"
    if origin is dict:
        key, item = typing.get_args(hint)
        return f"dict[{_spell(key)}, {_spell(item)}]"
    if hint is type(None):
        return "null"
    return hint.__name__

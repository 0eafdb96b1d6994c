"""`verify adopt`: take over the account the old scripts made.

Evaluates the program for a stack's settings (no Pulumi CLI), finds each declared resource that
already exists by its physical name, and returns what a person needs before the first deploy:
what will be adopted (the bulk import file `pulumi import --file` reads), the drift the first
`pulumi up` after the import will apply, and the leftovers the stack will not manage, each with
the command that removes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from verify.adopt import leftovers as find
from verify.adopt.drift import Change, drift, metric_summary, tracking_summary
from verify.adopt.lookup import LOOKUPS, NotAdoptable, Unsupported, named, physical_name
from verify.program_eval import DeclaredResource, Evaluation

Client = Callable[[str], Any]
COMPONENT_PREFIX = "academy:"
AWS_PREFIX = "aws:"


def provider_version() -> str:
    """The pulumi-aws version the program runs with (the installed package, pinned in
    requirements.txt): the version its default provider registers, so the import's is it too."""
    from importlib.metadata import version

    return version("pulumi-aws")


@dataclass(frozen=True)
class Adopted:
    typ: str
    name: str  # the program's logical name
    physical: str
    id: str
    parent: tuple[str, str] | None
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Refused:
    typ: str
    name: str
    physical: str
    why: str


@dataclass
class Adoption:
    stack: str
    adopted: list[Adopted] = field(default_factory=list)
    created: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, physical)
    refused: list[Refused] = field(default_factory=list)
    unchecked: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, why)
    leftovers: list[find.Leftover] = field(default_factory=list)
    components: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.refused


def adopt(evaluation: Evaluation, client: Client, region: str,
          group_names: tuple[str, ...] = (), workers_env: str | None = None) -> Adoption:
    """Looks up every declared resource, then the leftovers around them. `group_names`: every
    worker type's group name, fleet or not in this mode (a group the mode no longer declares
    is a leftover)."""
    result = Adoption(evaluation.stack)
    for resource in evaluation.resources:
        if resource.typ.startswith(COMPONENT_PREFIX):
            result.components[(resource.typ, resource.name)] = resource.parent
            continue
        _look_up(resource, client, result)
    _scaling_drift(evaluation, client, result)
    academy = evaluation.outputs.get("academy") or {}
    result.leftovers = _leftovers(evaluation, academy, client, region, group_names, workers_env,
                                  result)
    return result


def _look_up(resource: DeclaredResource, client: Client, result: Adoption) -> None:
    lookup = LOOKUPS.get(resource.typ)
    physical = physical_name(resource.typ, resource.inputs)
    if not named(resource.typ, resource.inputs):
        # Pulumi names it at create time (a random suffix): nothing old can carry that name.
        result.created.append((resource.typ, resource.name, physical))
        return
    if lookup is None:
        result.unchecked.append((resource.typ, resource.name,
                                 "no lookup for this type: it is created, never adopted"))
        return
    try:
        live = lookup(client, resource.inputs)
    except NotAdoptable as exc:
        result.refused.append(Refused(resource.typ, resource.name, physical, str(exc)))
        return
    except Unsupported as exc:
        result.unchecked.append((resource.typ, resource.name, str(exc)))
        return
    except (ClientError, BotoCoreError) as exc:
        result.unchecked.append((resource.typ, resource.name, f"lookup failed: {exc}"))
        return
    if live is None:
        result.created.append((resource.typ, resource.name, physical))
        return
    changes = tuple(drift(resource.typ, live, resource.inputs))
    result.adopted.append(Adopted(resource.typ, resource.name, physical, live.id,
                                  resource.parent, changes))


def _scaling_drift(evaluation: Evaluation, client: Client, result: Adoption) -> None:
    """On an adopted group, what scaling reads now (any policy, whatever its name) against
    what it reads after the first up: the change a person cares about (incidents #1 and #4)."""
    declared: dict[str, list[str]] = {}
    for r in evaluation.of_type("aws:autoscaling/policy:Policy"):
        tracking = r.inputs.get("targetTrackingConfiguration")
        if tracking:
            declared.setdefault(r.inputs["autoscalingGroupName"], []).append(
                f"{r.inputs['name']}: {tracking_summary(tracking)}")
    for index, adopted in enumerate(result.adopted):
        if adopted.typ != "aws:autoscaling/group:Group":
            continue
        try:
            policies = client("autoscaling").describe_policies(
                AutoScalingGroupName=adopted.physical)["ScalingPolicies"]
        except (ClientError, BotoCoreError):
            continue
        live = [f"{p['PolicyName']}: {tracking_summary(p['TargetTrackingConfiguration'])}"
                for p in policies if p.get("TargetTrackingConfiguration")]
        now = sorted(declared.get(adopted.physical, []))
        if sorted(live) != now:
            change = Change("scaling reads", "; ".join(sorted(live)) or None,
                            "; ".join(now) or None,
                            "the old policies stay beside the stack's until removed "
                            "(leftovers)" if live else "")
            result.adopted[index] = replace(adopted, changes=(*adopted.changes, change))


def _leftovers(evaluation: Evaluation, academy: Mapping[str, Any], client: Client,
               region: str, group_names: tuple[str, ...], workers_env: str | None,
               result: Adoption) -> list[find.Leftover]:
    found = _Found(result)
    declared_policies: dict[str, set[str]] = {}
    for r in evaluation.of_type("aws:autoscaling/policy:Policy"):
        declared_policies.setdefault(r.inputs["autoscalingGroupName"], set()).add(r.inputs["name"])
    declared_groups = {r.inputs["name"] for r in evaluation.of_type("aws:autoscaling/group:Group")}
    for group in sorted(declared_groups):
        found.add(f"policies on {group}", lambda g=group: find.group_policies(
            client, region, g, declared_policies.get(g, set())))
    for group in sorted(set(group_names) - declared_groups):
        found.add(f"group {group}", lambda g=group: find.stray_group(client, region, g))

    roles = checked_roles(evaluation)
    inline = {(r.inputs["role"], r.inputs.get("name") or "")
              for r in evaluation.of_type("aws:iam/rolePolicy:RolePolicy")}
    attached = {(r.inputs["role"], r.inputs["policyArn"])
                for r in evaluation.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    for role in sorted(roles):
        found.add(f"policies on role {role}", lambda r=role: find.role_extras(
            client, region, r, {n for (x, n) in inline if x == r},
            {a for (x, a) in attached if x == r}))

    publisher = academy.get("publisher") or {}
    function = publisher.get("function_name")
    if function:
        found.add(f"the publisher {function}'s old role and schedules",
                  lambda: _publisher_leftovers(client, region, function, publisher, roles,
                                               evaluation))

    specs = [w.get("metric") or {} for w in (academy.get("worker_types") or {}).values()]
    published = {metric_summary(s) for s, w in zip(specs, (academy.get("worker_types") or {})
                                                   .values(), strict=True) if w.get("published")}
    namespaces = {s.get("namespace") for s in specs if s.get("namespace")}
    declared_alarms = {r.inputs["name"]
                       for r in evaluation.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    found.add("alarms on the platform's namespaces", lambda: find.unread_alarms(
        client, region, namespaces, published, declared_alarms))

    adopted_queues = {a.physical: a.id for a in result.adopted
                      if a.typ == "aws:sqs/queue:Queue"}
    for worker in (academy.get("worker_types") or {}).values():
        queue = worker.get("queue") or {}
        if queue.get("retained") and not worker.get("fleet") and \
                queue.get("name") in adopted_queues:
            found.add(f"work waiting in {queue['name']}", lambda q=queue: find.waiting_work(
                client, region, adopted_queues[q["name"]], q["name"],
                str(academy.get("mode"))))

    key_parameter = publisher.get("key_parameter", "")
    prefix = key_parameter.strip("/").split("/", 1)[0] if key_parameter else ""
    if prefix:
        declared_params = {r.inputs["name"]
                           for r in evaluation.of_type("aws:ssm/parameter:Parameter")}
        env = workers_env or f"/{prefix}/workers/env"
        found.add(f"parameters under /{prefix}/workers/", lambda: find.worker_parameters(
            client, region, prefix, declared_params, env))
    return found.leftovers


def checked_roles(evaluation: Evaluation) -> set[str]:
    """The roles whose other policies adopt names: every role the program names (it may
    exist already). `verify all` checks these and the roles the engine names (the stack
    output's `declared_roles`)."""
    return {r.inputs["name"] for r in evaluation.of_type("aws:iam/role:Role")
            if r.inputs.get("name")}


class _Found:
    """Leftovers as each lookup finds them; a lookup that got no answer is said as not
    checked (never taken for "none there")."""

    def __init__(self, result: Adoption) -> None:
        self.result = result
        self.leftovers: list[find.Leftover] = []

    def add(self, what: str, lookup: Callable[[], list[find.Leftover]]) -> None:
        try:
            self.leftovers += lookup()
        except find.LookupFailed as exc:
            self.result.unchecked.append(("leftovers", what, f"lookup failed: {exc}"))


def _publisher_leftovers(client: Client, region: str, function: str, publisher: Mapping,
                         roles: set[str], evaluation: Evaluation) -> list[find.Leftover]:
    found: list[find.Leftover] = []
    try:
        config = client("lambda").get_function_configuration(FunctionName=function)
    except (ClientError, BotoCoreError):
        return found
    live_role = str(config.get("Role", "")).rsplit("/", 1)[-1]
    if live_role and live_role not in roles:
        found += find.old_role(client, live_role)
    rules = {r.inputs["name"] for r in evaluation.of_type("aws:cloudwatch/eventRule:EventRule")}
    found += find.other_schedules(client, region, config["FunctionArn"], rules)
    return found


# ---- the bulk import file --------------------------------------------------------------------


def import_file(adoption: Adoption) -> dict[str, Any]:
    """Pulumi's bulk import file: components as `"component": true` parents (Pulumi >= 3.94
    creates them empty), each adopted resource under its parent by name, ids in the form of
    the type's Import section, and the provider `version` the program pins, as Pulumi's own
    generator writes it (else the import uses an unversioned default provider and the first
    up moves every resource to the program's)."""
    wanted: set[tuple[str, str]] = set()
    for resource in adoption.adopted:
        parent = resource.parent
        while parent is not None:
            wanted.add(parent)
            parent = adoption.components.get(parent)
    keys: dict[tuple[str, str], str] = {}
    used: set[str] = set()

    def key_for(typ: str, name: str) -> str:
        key, n = name, 1
        while key in used:
            n += 1
            key = f"{name}-{n}"
        used.add(key)
        keys[(typ, name)] = key
        return key

    aws_version = provider_version()
    entries: list[dict[str, Any]] = []
    for component in adoption.components:  # declaration order: parents before children
        if component not in wanted:
            continue
        entry: dict[str, Any] = {"type": component[0], "name": key_for(*component),
                                 "component": True}
        _set_parent(entry, adoption.components.get(component), keys, component[1])
        entries.append(entry)
    for resource in adoption.adopted:
        entry = {"type": resource.typ, "name": key_for(resource.typ, resource.name),
                 "id": resource.id}
        _set_parent(entry, resource.parent, keys, resource.name)
        if resource.typ.startswith(AWS_PREFIX):
            entry["version"] = aws_version
        entries.append(entry)
    return {"nameTable": {}, "resources": entries}


def _set_parent(entry: dict[str, Any], parent: tuple[str, str] | None,
                keys: Mapping[tuple[str, str], str], logical: str) -> None:
    if parent is not None:
        entry["parent"] = keys[parent]
    if entry["name"] != logical:
        entry["logicalName"] = logical

"""Pulumi mocks that deploy into a running moto server: the real program, real ids and ARNs.

Under `pulumi.runtime.set_mocks(MotoMocks(env), preview=False)` every resource of a type in
`CREATED_TYPES` is created in moto through boto3, and moto's own ids, ARNs and URLs become
the resource's outputs, so what the program exports points at things that exist. Other
types get a made-up id and are listed in `not_created`, never hidden; component resources
and providers are neither.

The AWS calls come from one registry (contract/aws_types.py: operations, identity, which inputs
an update takes, inputs mapped through botocore's models); this module adds per type only what
the registry cannot say (sandbox/deployer/aws_hooks.py: the outputs read back, side calls). Given
the stack's previous state (`deployed`), a resource is diffed as Pulumi's engine does: `same`
(no call at all), `update` (the update operations), or `replace` (the replacement created, the
old one deleted after the program, `replaced`; deleted first when its physical name stays).

moto needs real VPC, subnet and security group ids for launch templates, groups and Batch.
`MotoMocks.network` holds moto's default VPC, its subnets, its default security group and
an AMI, handed to the program as config:

    mocks = MotoMocks(moto.env())
    config = stack_config("prod", mocks.network.config_overrides())

What moto 5.2.5 keeps but never acts on: scaling policies (stored and described verbatim,
metric math unchecked, no alarms made, no scaling), lifecycle hooks (accepted even for a
group that does not exist), alarms (start OK, never evaluated), Batch job-state time limits
(dropped). SSM associations are not implemented at all, so they land in `not_created`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pulumi
from botocore import xform_name
from botocore.exceptions import ClientError

from contract.aws_types import TYPES, AwsType, Op
from pulumi_bridge.inprocess import is_secret
from sandbox.deployer.aws_hooks import HOOKS, MotoDeployError, Registered, auto_name
from sandbox.services.moto_server import REGION

__all__ = ["MotoDeployError", "Registered"]

Inputs = dict[str, Any]
Key = tuple[str, str]  # (type, logical name)
Created = tuple[str, dict[str, Any]]

# A dependency declared by a literal name (not an Output) may be registered before the
# resource it names exists; such "not found" errors are retried for a while.
_GONE = ("NotFound", "NoSuchEntity", "does not exist", "ResourceNotFound", "not found")
_MISSING_DEPENDENCY = re.compile(
    r"not ?found|does not exist|cannot be found|could not find|no such|NoSuchEntity", re.I
)


@dataclass(frozen=True)
class MotoNetwork:
    """The default network moto provides, for the program's vpcId/subnetIds/securityGroupIds."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    image_id: str

    def config_overrides(self) -> dict[str, Any]:
        return {
            "vpcId": self.vpc_id,
            "subnetIds": list(self.subnet_ids[:2]),
            "securityGroupIds": list(self.security_group_ids),
        }


@dataclass(frozen=True)
class CreatedResource:
    typ: str
    name: str
    physical_id: str


# moto 5.2.5 has no SSM associations (CreateAssociation is not implemented): not created.
CREATED_TYPES = frozenset(HOOKS)

_NETWORKS: dict[str, MotoNetwork] = {}  # endpoint -> its network (DescribeImages takes seconds)
_NETWORKS_LOCK = threading.Lock()


def discover_network(ec2: Any) -> MotoNetwork:
    vpc = next(v for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault"))
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    subnets = ec2.describe_subnets(Filters=vpc_filter)["Subnets"]
    groups = ec2.describe_security_groups(
        Filters=[*vpc_filter, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return MotoNetwork(
        vpc_id=vpc["VpcId"],
        subnet_ids=tuple(sorted(s["SubnetId"] for s in subnets)),
        security_group_ids=tuple(g["GroupId"] for g in groups),
        image_id=image,
    )


# ---- values as the state keeps them -----------------------------------------------------------


def unwrap_secrets(value: Any) -> Any:
    """The plain value of inputs that may hold Pulumi's serialized secrets."""
    if isinstance(value, dict):
        if is_secret(value):
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


SECRET = "[secret]"  # how Pulumi's JSON shows a secret
_SECRET_DIGEST = SECRET + " sha256:"  # how the state keeps one: compared, never readable


def state_value(value: Any) -> Any:
    """A value as the sandbox's state file keeps it: plain JSON, a secret as the digest of its
    value (a rotated key diffs as a change; the value is never on disk), archives as the digest
    of their content (a zip's bytes carry timestamps)."""
    if isinstance(value, dict):
        if is_secret(value):
            plain = json.dumps(unwrap_secrets(value.get("value")), sort_keys=True)
            return _SECRET_DIGEST + hashlib.sha256(
                b"academy-sandbox-state\0" + plain.encode()).hexdigest()
        return {str(k): state_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [state_value(v) for v in value]
    if isinstance(value, pulumi.Archive | pulumi.Asset):
        return {"archive_sha256": _content_digest(value)}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def shown(value: Any) -> Any:
    """A state value as Pulumi's JSON shows it: a secret is `[secret]`."""
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return SECRET if isinstance(value, str) and value.startswith(_SECRET_DIGEST) else value


def _content_digest(value: Any) -> str:
    digest = hashlib.sha256()
    if isinstance(value, pulumi.AssetArchive):
        for name, asset in sorted(value.assets.items()):
            digest.update(name.encode() + b"\0" + _content_digest(asset).encode())
    elif isinstance(value, pulumi.StringAsset):
        digest.update(value.text.encode())
    elif isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        path = Path(value.path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
            digest.update(file.read_bytes())
    else:
        digest.update(repr(value).encode())
    return digest.hexdigest()


def policy_document_json(args: Mapping[str, Any]) -> str:
    """aws.iam.get_policy_document's `json` from its (camelCase) arguments."""
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        out["Effect"] = st.get("effect") or "Allow"
        for key, aws_key in (("actions", "Action"), ("notActions", "NotAction"),
                             ("resources", "Resource"), ("notResources", "NotResource")):
            if st.get(key):
                values = list(st[key])
                out[aws_key] = values[0] if len(values) == 1 else values
        for key, aws_key in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if st.get(key):
                out[aws_key] = {p["type"]: (p["identifiers"][0] if len(p["identifiers"]) == 1
                                            else p["identifiers"]) for p in st[key]}
        if st.get("conditions"):
            condition: dict[str, dict[str, Any]] = {}
            for c in st["conditions"]:
                values = list(c["values"])
                condition.setdefault(c["test"], {})[c["variable"]] = (
                    values[0] if len(values) == 1 else values)
            out["Condition"] = condition
        statements.append(out)
    return json.dumps({"Version": args.get("version") or "2012-10-17", "Statement": statements})


# ---- the mocks -----------------------------------------------------------------------------


@dataclass
class MotoMocks(pulumi.runtime.Mocks):
    """Creates the program's resources in moto; see the module docstring."""

    env: Mapping[str, str]
    strict: bool = True
    dependency_wait_s: float = 15.0
    code_base: Path | None = None
    # `pulumi import --file`, rehearsed: (type, logical name) -> the id taken over. Such a
    # resource is updated to its declaration, as the first `pulumi up` would.
    adopted_ids: Mapping[Key, str] = field(default_factory=dict)
    # `pulumi up` on an existing stack: the stack's previous state, diffed against.
    deployed: Mapping[Key, Registered] = field(default_factory=dict)
    # A resource whose create an interrupted up had begun (the state's `pending`): it may exist
    # without its id recorded. Found by its name (`find`), it is updated instead of created.
    maybe_created: frozenset[Key] = frozenset()
    # Told ("creating", typ, name, None) before a create, ("replaced", typ, name, old) when
    # a replacement leaves the old one to delete, ("done", typ, name, registered) after every
    # resource, so the deployer can record its state as it goes (as Pulumi does).
    on_progress: Callable[[str, str, str, Registered | None], None] | None = None
    created: list[CreatedResource] = field(default_factory=list)
    adopted: list[CreatedResource] = field(default_factory=list)
    updated: list[CreatedResource] = field(default_factory=list)
    same: list[CreatedResource] = field(default_factory=list)
    replaced: list[Registered] = field(default_factory=list)  # the old ones, deleted after
    # Every resource registered (components too), in the order it was done: a valid
    # dependency order, so deleting in reverse removes dependents first.
    registered: list[Registered] = field(default_factory=list)
    # (type, name) -> (the parent's (type, name) or None, retainOnDelete), from note_parent.
    options: dict[Key, tuple[Key | None, bool]] = field(default_factory=dict)
    not_created: list[Key] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    unhandled_calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.region = self.env.get("AWS_DEFAULT_REGION", REGION)
        self._session = boto3.session.Session(
            aws_access_key_id=self.env.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=self.env.get("AWS_SECRET_ACCESS_KEY", "testing"),
            region_name=self.region,
        )
        self._endpoint = self.env["AWS_ENDPOINT_URL"]
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.account = self.client("sts").get_caller_identity()["Account"]

    @property
    def network(self) -> MotoNetwork:
        """moto's default network; discovered on first use, once per emulator (it never
        changes, and DescribeImages takes seconds)."""
        with _NETWORKS_LOCK:
            if self._endpoint not in _NETWORKS:
                _NETWORKS[self._endpoint] = discover_network(self.client("ec2"))
            return _NETWORKS[self._endpoint]

    def client(self, service: str) -> Any:
        """One boto3 client per service, made on first use (boto3 clients are thread-safe)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(service, endpoint_url=self._endpoint)
            return self._clients[service]

    # -- Mocks interface --

    def note_parent(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        """A stack transformation that changes nothing and remembers each resource's parent
        and retainOnDelete (mocks are not told them), for the URNs and the state kept."""
        opts = args.opts
        parent = opts.parent if opts else None
        key = None
        if parent is not None and parent.pulumi_resource_type != "pulumi:pulumi:Stack":
            key = (parent.pulumi_resource_type, parent.pulumi_resource_name)
        with self._lock:
            self.options[(args.type_, args.name)] = (key, bool(opts and opts.retain_on_delete))
        return None

    def _register(self, args: pulumi.runtime.MockResourceArgs, physical_id: str,
                  outputs: Mapping[str, Any]) -> None:
        done = Registered(args.typ, args.name, physical_id, bool(args.custom),
                          state_value(args.inputs), state_value(outputs))
        with self._lock:
            self.registered.append(done)
        self._tell("done", args.typ, args.name, done)

    def _tell(self, event: str, typ: str, name: str, what: Registered | None) -> None:
        if self.on_progress is not None:
            self.on_progress(event, typ, name, what)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        if not args.custom or args.typ.startswith("pulumi:providers:"):
            self._register(args, f"{args.name}-id", {})
            return f"{args.name}-id", inputs
        if args.typ not in CREATED_TYPES:
            with self._lock:
                self.not_created.append((args.typ, args.name))
            self._register(args, f"{args.name}-not-created", {})
            return f"{args.name}-not-created", inputs
        try:
            verb, (physical_id, outputs) = self._with_dependency_wait(
                lambda: self._apply(args, unwrap_secrets(inputs)))
        except (ClientError, MotoDeployError, OSError, KeyError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if self.strict:
                raise MotoDeployError(f"moto refused {args.typ} '{args.name}': {reason}") from exc
            with self._lock:
                self.failed.append((args.typ, args.name, reason))
            return f"{args.name}-failed", inputs
        with self._lock:
            made = CreatedResource(args.typ, args.name, physical_id)
            {"adopted": self.adopted, "updated": self.updated, "same": self.same}.get(
                verb, self.created).append(made)
        self._register(args, physical_id, outputs)
        return physical_id, {**inputs, **outputs}

    def _apply(self, args: pulumi.runtime.MockResourceArgs, plain: Inputs) -> tuple[str, Created]:
        """What the engine does with one declared resource: (verb, its id and outputs)."""
        typ, key = TYPES[args.typ], (args.typ, args.name)
        if key in self.adopted_ids:
            return "adopted", self.update(typ, args.name, plain, self.adopted_ids[key], {})
        old = self.deployed.get(key)
        found = self.find(typ, args.name, plain) if key in self.maybe_created else None
        if old is None:
            if found is not None:
                return "updated", self.update(typ, args.name, plain, found[0], found[1])
            self._tell("creating", args.typ, args.name, None)
            return "created", self.create(typ, args.name, plain)
        verdict, _, _ = typ.diff(old.inputs, state_value(args.inputs))
        if verdict == "same":
            return "same", (old.physical_id, dict(old.outputs))
        if verdict == "update":
            return "updated", self.update(typ, args.name, plain, old.physical_id, old.outputs)
        if found is not None and found[0] != old.physical_id:  # a replacement a kill cut short
            self._tell("replaced", args.typ, args.name, old)
            with self._lock:
                self.replaced.append(old)
            return "created", self.update(typ, args.name, plain, found[0], found[1])
        # The sandbox names what Pulumi would auto-name without a random part: such a
        # replacement, like one under a fixed physical name, must delete the old one first.
        if typ.delete_before_replace(old.inputs, plain) or not typ.named(plain):
            if not self.options.get(key, (None, False))[1]:  # retainOnDelete: only forgotten
                self.delete(old)
        else:
            self._tell("replaced", args.typ, args.name, old)
            with self._lock:
                self.replaced.append(old)
        self._tell("creating", args.typ, args.name, None)
        return "created", self.create(typ, args.name, plain)

    # -- the engine's calls, from the registry --

    def _invoke(self, typ: AwsType, op: Op, request: Mapping[str, Any]) -> Any:
        return getattr(self.client(typ.service), xform_name(op.name))(**request)

    def _named(self, typ: AwsType, logical: str, i: Inputs,
               outputs: Mapping[str, Any] | None = None) -> Inputs:
        """The inputs with the physical name the engine gives what the program left unnamed."""
        if "name" not in typ.name_keys or i.get("name"):
            return i
        if outputs and outputs.get("name"):
            return {**i, "name": outputs["name"]}
        suffix = ".fifo" if typ.token == "aws:sqs/queue:Queue" and i.get("fifoQueue") else ""
        return {**i, "name": auto_name(logical) + suffix}

    def create(self, typ: AwsType, logical: str, i: Inputs) -> Created:
        hooks = HOOKS[typ.token]
        i = hooks.prepare(self, logical, self._named(typ, logical, i), True)
        if hooks.apply is not None:
            return hooks.apply(self, i)
        self._invoke(typ, typ.create, typ.request(typ.create, i))
        hooks.side(self, i, None, {}, True)
        return hooks.read(self, i, None)

    def update(self, typ: AwsType, logical: str, i: Inputs, physical_id: str,
               outputs: Mapping[str, Any]) -> Created:
        hooks = HOOKS[typ.token]
        i = hooks.prepare(self, logical, self._named(typ, logical, i, outputs), False)
        if hooks.apply is not None:
            return hooks.apply(self, i)
        outputs = outputs or dict(hooks.read(self, i, physical_id)[1])
        for op in typ.updates:
            if any(k not in typ.name_keys and k not in typ.replaces and typ.takes(op, k)
                   for k in i):
                try:
                    self._invoke(typ, op, typ.call_request(op, i, physical_id, outputs))
                except ClientError as exc:
                    if not any(code in str(exc) for code in hooks.unchanged):
                        raise
        hooks.side(self, i, physical_id, outputs, False)
        return hooks.read(self, i, physical_id)

    def find(self, typ: AwsType, logical: str, i: Inputs) -> Created | None:
        """The id and outputs of a resource an interrupted up may have created; None if absent."""
        hooks = HOOKS[typ.token]
        named = hooks.prepare(self, logical, self._named(typ, logical, i), False)
        try:
            return hooks.read(self, named, None)
        except (ClientError, IndexError, StopIteration, KeyError, ValueError, MotoDeployError):
            return None

    def delete(self, resource: Registered) -> None:
        """`pulumi up`'s delete of a resource no longer declared (or replaced)."""
        typ = TYPES[resource.typ]
        identity = {k: resource.outputs.get(k) or resource.inputs.get(k)
                    for k in typ.name_keys}
        try:
            HOOKS[resource.typ].before_delete(self, resource)
            self._invoke(typ, typ.delete, typ.call_request(
                typ.delete, {k: v for k, v in identity.items() if v}, resource.physical_id,
                resource.outputs))
        except ClientError as exc:  # already gone (a kill after the delete, before the state)
            if not any(word in str(exc) for word in _GONE):
                raise MotoDeployError(f"moto refused to delete {resource.typ} "
                                      f"'{resource.name}' ({resource.physical_id}): {exc}") from exc

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        token, a = args.token, unwrap_secrets(dict(args.args))
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            me = self.client("sts").get_caller_identity()
            answer = {"accountId": me["Account"], "arn": me["Arn"], "userId": me["UserId"]}
            return {**answer, "id": me["Account"]}, []
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region,
                    "endpoint": f"ec2.{self.region}.amazonaws.com",
                    "description": self.region}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com",
                    "reverseDnsPrefix": "com.amazonaws", "id": "aws"}, []
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = self.client("ec2").describe_availability_zones()["AvailabilityZones"]
            return {"names": [z["ZoneName"] for z in zones],
                    "zoneIds": [z["ZoneId"] for z in zones], "id": self.region}, []
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            document = policy_document_json(a)
            digest = hashlib.sha256(document.encode()).hexdigest()
            return {"json": document, "minifiedJson": document, "id": digest}, []
        if token == "aws:ssm/getParameter:getParameter":
            found = self.client("ssm").get_parameter(
                Name=a["name"], WithDecryption=a.get("withDecryption", True))["Parameter"]
            return {"name": found["Name"], "value": found["Value"],
                    "insecureValue": found["Value"], "type": found["Type"],
                    "arn": found["ARN"], "version": found["Version"], "id": found["Name"]}, []
        with self._lock:
            self.unhandled_calls.append(token)
        return {}, []

    def _with_dependency_wait(self, apply: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.dependency_wait_s
        while True:
            try:
                return apply()
            except ClientError as exc:
                if time.monotonic() > deadline or not _MISSING_DEPENDENCY.search(str(exc)):
                    raise
                time.sleep(0.2)

    # -- what the sandbox reports --

    def summary(self) -> dict[str, Any]:
        def counts(resources: list[CreatedResource]) -> dict[str, int]:
            found: dict[str, int] = {}
            for c in resources:
                found[c.typ] = found.get(c.typ, 0) + 1
            return found

        return {
            "created": counts(self.created),
            "adopted": counts(self.adopted),
            "updated": counts(self.updated),
            "not_created": [f"{typ} {name}" for typ, name in self.not_created],
            "failed": [f"{typ} {name}: {why}" for typ, name, why in self.failed],
            "unhandled_calls": sorted(set(self.unhandled_calls)),
        }



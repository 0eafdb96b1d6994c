"""Pulumi mocks that deploy into a running moto server: the real program, real ids and ARNs.

Under `pulumi.runtime.set_mocks(MotoMocks(env), preview=False)` every resource of a type in
`CREATED_TYPES` is created in moto through boto3, and moto's own ids, ARNs and URLs become
the resource's outputs, so what the program exports points at things that exist. Other
types get a made-up id and are listed in `not_created`, never hidden; component resources
and providers are neither.

moto needs real VPC, subnet and security group ids for launch templates, groups and Batch.
`MotoMocks.network` holds moto's default VPC, its subnets, its default security group and
an AMI. Either hand them to the program as config (preferred):

    mocks = MotoMocks(moto.env())
    config = stack_config("prod", mocks.network.config_overrides())

or keep the stack's placeholder ids and map them, applied to every input string:

    MotoMocks(env, substitutions={"subnet-0a1b...": net.subnet_ids[0], "ami-0123...": net.image_id})

What moto 5.2.5 keeps but never acts on: scaling policies (stored and described verbatim,
metric math unchecked, no alarms made, no scaling), lifecycle hooks (accepted even for a
group that does not exist), alarms (start OK, never evaluated), Batch job-state time limits
(dropped). SSM associations are not implemented at all, so they land in `not_created`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pulumi
from botocore.exceptions import ClientError
from pulumi.runtime import rpc

from sandbox.moto_server import REGION

Inputs = dict[str, Any]
# On each job definition revision the deployer registers: the digest of its request, so an up
# run again finds the identical ACTIVE revision instead of registering another.
JOB_SPEC_TAG = "academy-sandbox:request-sha256"
Created = tuple[str, dict[str, Any]]

# A dependency declared by a literal name (not an Output) may be registered before the
# resource it names exists; such "not found" errors are retried for a while.
_MISSING_DEPENDENCY = re.compile(
    r"not ?found|does not exist|cannot be found|could not find|no such|NoSuchEntity", re.I
)


class MotoDeployError(RuntimeError):
    """moto refused a resource; the message names the type, the Pulumi name and moto's reason."""


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


@dataclass(frozen=True)
class Registered:
    """A resource as the deployer left it: what `pulumi up` keeps in the stack's state (its id,
    inputs and outputs, secrets blanked), so the next up can update, keep or delete it."""

    typ: str
    name: str
    physical_id: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]


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


# ---- input helpers -------------------------------------------------------------------------


def unwrap_secrets(value: Any) -> Any:
    """The plain value of inputs that may hold Pulumi's serialized secrets."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


SECRET = "[secret]"


def state_value(value: Any) -> Any:
    """A value as the sandbox's state file keeps it: plain JSON, secrets blanked (never on
    disk), archives as the digest of their content (a zip's bytes carry timestamps)."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET
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


def _substitute(value: Any, table: Mapping[str, str]) -> Any:
    if not table:
        return value
    if isinstance(value, str):
        return table.get(value, value)
    if isinstance(value, dict):
        return {k: _substitute(v, table) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, table) for v in value]
    return value


def _num(value: Any) -> Any:
    """Pulumi hands numbers over as floats; AWS wants integers for counts and seconds."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _pascal(value: Any, renames: Mapping[str, str] | None = None) -> Any:
    """camelCase keys (Pulumi) to PascalCase (AWS APIs), recursively; numbers made integral."""
    renames = renames or {}
    if isinstance(value, dict):
        return {
            renames.get(k, k[:1].upper() + k[1:]): _pascal(v, renames)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_pascal(v, renames) for v in value]
    return _num(value)


def _camel_keys(value: Any, renames: Mapping[str, str] | None = None) -> Any:
    """Pulumi's camelCase to an API that is itself camelCase (Batch): renames and integers."""
    renames = renames or {}
    if isinstance(value, dict):
        return {
            renames.get(k, k): _camel_keys(v, renames) for k, v in value.items() if v is not None
        }
    if isinstance(value, list):
        return [_camel_keys(v, renames) for v in value]
    return _num(value)


def _kwargs(**values: Any) -> dict[str, Any]:
    """Keyword arguments without the Nones (boto3 rejects None)."""
    return {k: _num(v) for k, v in values.items() if v is not None}


def _tag_list(tags: Mapping[str, str] | None) -> list[dict[str, str]] | None:
    return [{"Key": k, "Value": str(v)} for k, v in tags.items()] if tags else None


def _dimensions(dims: Any) -> list[dict[str, str]] | None:
    if not dims:
        return None
    if isinstance(dims, dict):
        return [{"Name": k, "Value": str(v)} for k, v in dims.items()]
    return [{"Name": d["name"], "Value": str(d["value"])} for d in dims]


def _sqs_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(_num(value))


def _queue_attributes(i: Inputs) -> dict[str, str]:
    """A queue's declared attributes, as SQS names them."""
    mapping = {
        "visibilityTimeoutSeconds": "VisibilityTimeout",
        "messageRetentionSeconds": "MessageRetentionPeriod",
        "delaySeconds": "DelaySeconds",
        "maxMessageSize": "MaximumMessageSize",
        "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
        "redrivePolicy": "RedrivePolicy",
        "redriveAllowPolicy": "RedriveAllowPolicy",
        "policy": "Policy",
        "kmsMasterKeyId": "KmsMasterKeyId",
        "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
        "sqsManagedSseEnabled": "SqsManagedSseEnabled",
        "fifoQueue": "FifoQueue",
        "contentBasedDeduplication": "ContentBasedDeduplication",
        "deduplicationScope": "DeduplicationScope",
        "fifoThroughputLimit": "FifoThroughputLimit",
    }
    return {aws: _sqs_value(i[key]) for key, aws in mapping.items() if i.get(key) is not None}


def _function_outputs(fn: Mapping[str, Any], name: str, i: Inputs, region: str) -> dict[str, Any]:
    """A function's outputs from Lambda's answer (create or update)."""
    arn, version = fn["FunctionArn"], fn.get("Version", "$LATEST")
    invoke_arn = (
        f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
    )
    outputs = {
        "arn": arn,
        "name": name,
        "invokeArn": invoke_arn,
        "qualifiedArn": f"{arn}:{version}",
        "qualifiedInvokeArn": invoke_arn.replace(arn, f"{arn}:{version}"),
        "codeSha256": fn["CodeSha256"],
        "sourceCodeSize": fn["CodeSize"],
        "version": version,
        "lastModified": fn["LastModified"],
        "architectures": fn.get("Architectures", ["x86_64"]),
        "id": name,
    }
    if not i.get("sourceCodeHash"):
        outputs["sourceCodeHash"] = fn["CodeSha256"]
    return outputs


def _group_settings(name: str, i: Inputs) -> dict[str, Any]:
    """What CreateAutoScalingGroup and UpdateAutoScalingGroup share, from the declaration."""
    launch_template = None
    if i.get("launchTemplate"):
        lt = i["launchTemplate"]
        launch_template = _kwargs(
            LaunchTemplateId=lt.get("id"),
            LaunchTemplateName=None if lt.get("id") else lt.get("name"),
            Version=lt.get("version"),
        )
    mixed = None
    if i.get("mixedInstancesPolicy"):
        mixed = _pascal(i["mixedInstancesPolicy"])
        spec = mixed.get("LaunchTemplate", {}).get("LaunchTemplateSpecification", {})
        if spec.get("LaunchTemplateId"):
            spec.pop("LaunchTemplateName", None)
    return _kwargs(
        AutoScalingGroupName=name,
        MinSize=i["minSize"],
        MaxSize=i["maxSize"],
        DesiredCapacity=i.get("desiredCapacity"),
        LaunchTemplate=launch_template,
        MixedInstancesPolicy=mixed,
        VPCZoneIdentifier=",".join(i["vpcZoneIdentifiers"]) if i.get("vpcZoneIdentifiers")
        else None,
        HealthCheckType=i.get("healthCheckType"),
        HealthCheckGracePeriod=i.get("healthCheckGracePeriod"),
        DefaultCooldown=i.get("defaultCooldown"),
        DefaultInstanceWarmup=i.get("defaultInstanceWarmup"),
        NewInstancesProtectedFromScaleIn=i.get("protectFromScaleIn"),
        TerminationPolicies=i.get("terminationPolicies"),
        CapacityRebalance=i.get("capacityRebalance"),
        MaxInstanceLifetime=i.get("maxInstanceLifetime"),
    )


def _group_tags(name: str, i: Inputs) -> list[dict[str, Any]]:
    return [
        {
            "Key": t["key"],
            "Value": str(t["value"]),
            "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
        }
        for t in i.get("tags") or []
    ]


def _template_data(i: Inputs) -> dict[str, Any]:
    """A launch template's LaunchTemplateData, from the declaration."""
    return _kwargs(
        ImageId=i.get("imageId"),
        InstanceType=i.get("instanceType"),
        UserData=i.get("userData"),
        KeyName=i.get("keyName"),
        SecurityGroupIds=i.get("vpcSecurityGroupIds"),
        SecurityGroups=i.get("securityGroupNames"),
        EbsOptimized=(str(i["ebsOptimized"]).lower() == "true")
        if i.get("ebsOptimized") is not None
        else None,
        InstanceInitiatedShutdownBehavior=i.get("instanceInitiatedShutdownBehavior"),
        IamInstanceProfile=_pascal(i["iamInstanceProfile"])
        if i.get("iamInstanceProfile")
        else None,
        MetadataOptions=_pascal(i["metadataOptions"]) if i.get("metadataOptions") else None,
        Monitoring=_pascal(i["monitoring"]) if i.get("monitoring") else None,
        CreditSpecification=_pascal(i["creditSpecification"])
        if i.get("creditSpecification")
        else None,
        BlockDeviceMappings=_pascal(i["blockDeviceMappings"])
        if i.get("blockDeviceMappings")
        else None,
        TagSpecifications=[
            {"ResourceType": t["resourceType"], "Tags": _tag_list(t.get("tags")) or []}
            for t in i.get("tagSpecifications") or []
        ]
        or None,
    )


def archive_bytes(code: Any, base: Path | None = None) -> bytes:
    """The zip of a Lambda `code` input: a FileArchive (zip file or directory) or AssetArchive."""
    base = base or Path.cwd()
    if isinstance(code, pulumi.FileArchive) or (isinstance(code, dict) and "path" in code):
        path = Path(code.path if isinstance(code, pulumi.FileArchive) else code["path"])
        path = path if path.is_absolute() else base / path
        if path.is_dir():
            return _zip_directory(path)
        return path.read_bytes()
    if isinstance(code, pulumi.AssetArchive):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, asset in sorted(code.assets.items()):
                if isinstance(asset, pulumi.StringAsset):
                    archive.writestr(name, asset.text)
                elif isinstance(asset, pulumi.FileAsset):
                    archive.write(Path(asset.path), name)
                else:
                    raise MotoDeployError(f"unsupported asset {type(asset).__name__} in {name}")
        return buffer.getvalue()
    raise MotoDeployError(f"unsupported Lambda code input {type(code).__name__}")


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _auto_name(logical: str) -> str:
    """Like Pulumi's auto-naming (name + 7 hex), but stable across runs."""
    return f"{logical}-{hashlib.sha1(logical.encode()).hexdigest()[:7]}"  # noqa: S324 (not security)


def policy_document_json(args: Mapping[str, Any]) -> str:
    """aws.iam.get_policy_document's `json` from its (camelCase) arguments."""
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        out["Effect"] = st.get("effect") or "Allow"
        for key, aws_key in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            if st.get(key):
                values = list(st[key])
                out[aws_key] = values[0] if len(values) == 1 else values
        for key, aws_key in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if st.get(key):
                out[aws_key] = {
                    p["type"]: (
                        p["identifiers"][0] if len(p["identifiers"]) == 1 else p["identifiers"]
                    )
                    for p in st[key]
                }
        if st.get("conditions"):
            condition: dict[str, dict[str, Any]] = {}
            for c in st["conditions"]:
                values = list(c["values"])
                condition.setdefault(c["test"], {})[c["variable"]] = (
                    values[0] if len(values) == 1 else values
                )
            out["Condition"] = condition
        statements.append(out)
    return json.dumps({"Version": args.get("version") or "2012-10-17", "Statement": statements})


# ---- the mocks -----------------------------------------------------------------------------


@dataclass
class MotoMocks(pulumi.runtime.Mocks):
    """Creates the program's resources in moto; see the module docstring."""

    env: Mapping[str, str]
    substitutions: Mapping[str, str] = field(default_factory=dict)
    strict: bool = True
    dependency_wait_s: float = 15.0
    code_base: Path | None = None
    # `pulumi import --file`, rehearsed: (type, logical name) -> the id taken over. Such a
    # resource is updated to its declaration (UPDATERS), as the first `pulumi up` would.
    adopted_ids: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # `pulumi up` on an existing stack: (type, logical name) -> the id deployed before; such a
    # resource is updated in place (UPDATERS) and listed in `updated`.
    deployed_ids: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # A resource whose create an interrupted up had begun (the state's `pending`): it may exist
    # without its id recorded. Found by its name (FINDERS), it is updated instead of created.
    maybe_created: frozenset[tuple[str, str]] = frozenset()
    # Told ("creating", typ, name, None) before a create and ("done", typ, name, registered)
    # after every resource, so the deployer can record its state as it goes (as Pulumi does).
    on_progress: Callable[[str, str, str, Registered | None], None] | None = None
    created: list[CreatedResource] = field(default_factory=list)
    adopted: list[CreatedResource] = field(default_factory=list)
    updated: list[CreatedResource] = field(default_factory=list)
    # Every resource registered (components too), in the order it was done: a valid
    # dependency order, so deleting in reverse removes dependents first.
    registered: list[Registered] = field(default_factory=list)
    # (type, name) -> (the parent's (type, name) or None, retainOnDelete), from note_parent.
    options: dict[tuple[str, str], tuple[tuple[str, str] | None, bool]] = field(
        default_factory=dict)
    not_created: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    unhandled_calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.region = self.env.get("AWS_DEFAULT_REGION", REGION)
        session = boto3.session.Session(
            aws_access_key_id=self.env.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=self.env.get("AWS_SECRET_ACCESS_KEY", "testing"),
            region_name=self.region,
        )
        self._session = session
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
        if self.on_progress is not None:
            self.on_progress("done", args.typ, args.name, done)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if not args.custom or args.typ.startswith("pulumi:providers:"):
            self._register(args, f"{args.name}-id", {})
            return f"{args.name}-id", dict(args.inputs)
        inputs = _substitute(dict(args.inputs), self.substitutions)
        adopted_id = self.adopted_ids.get((args.typ, args.name))
        deployed_id = self.deployed_ids.get((args.typ, args.name))
        known_id = adopted_id if adopted_id is not None else deployed_id
        creator = CREATORS.get(args.typ)
        if (known_id is None and creator is not None
                and (args.typ, args.name) in self.maybe_created and args.typ in FINDERS):
            deployed_id = known_id = FINDERS[args.typ](self, args.name, unwrap_secrets(inputs))
        if known_id is not None and creator is not None:
            updater = UPDATERS.get(args.typ)
            if updater is None:
                raise MotoDeployError(f"{args.typ} '{args.name}' exists (id {known_id}) but the "
                                      "sandbox's deployer cannot update this type")
            creator = lambda mocks, name, i: updater(mocks, name, i, known_id)  # noqa: E731
        if creator is None:
            with self._lock:
                self.not_created.append((args.typ, args.name))
            self._register(args, f"{args.name}-not-created", {})
            return f"{args.name}-not-created", inputs
        plain = unwrap_secrets(inputs)
        if known_id is None and self.on_progress is not None:
            self.on_progress("creating", args.typ, args.name, None)
        try:
            physical_id, outputs = self._with_dependency_wait(
                lambda: creator(self, args.name, plain)
            )
        except (ClientError, MotoDeployError, OSError, KeyError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if self.strict:
                raise MotoDeployError(f"moto refused {args.typ} '{args.name}': {reason}") from exc
            with self._lock:
                self.failed.append((args.typ, args.name, reason))
            return f"{args.name}-failed", inputs
        with self._lock:
            made = CreatedResource(args.typ, args.name, physical_id)
            (self.adopted if adopted_id is not None else self.updated if deployed_id is not None
             else self.created).append(made)
        self._register(args, physical_id, outputs)
        return physical_id, {**inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        token, a = args.token, unwrap_secrets(dict(args.args))
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            me = self.client("sts").get_caller_identity()
            answer = {"accountId": me["Account"], "arn": me["Arn"], "userId": me["UserId"]}
            return {**answer, "id": me["Account"]}, []
        if token == "aws:index/getRegion:getRegion":
            endpoint = f"ec2.{self.region}.amazonaws.com"
            return {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": endpoint,
                "description": self.region,
            }, []
        if token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = self.client("ec2").describe_availability_zones()["AvailabilityZones"]
            names = [z["ZoneName"] for z in zones]
            ids = [z["ZoneId"] for z in zones]
            return {"names": names, "zoneIds": ids, "id": self.region}, []
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            document = policy_document_json(a)
            digest = hashlib.sha256(document.encode()).hexdigest()
            return {"json": document, "minifiedJson": document, "id": digest}, []
        if token == "aws:ssm/getParameter:getParameter":
            found = self.client("ssm").get_parameter(
                Name=a["name"], WithDecryption=a.get("withDecryption", True)
            )["Parameter"]
            return {
                "name": found["Name"],
                "value": found["Value"],
                "insecureValue": found["Value"],
                "type": found["Type"],
                "arn": found["ARN"],
                "version": found["Version"],
                "id": found["Name"],
            }, []
        with self._lock:
            self.unhandled_calls.append(token)
        return {}, []

    def _with_dependency_wait(self, create: Callable[[], Created]) -> Created:
        deadline = time.monotonic() + self.dependency_wait_s
        while True:
            try:
                return create()
            except ClientError as exc:
                if time.monotonic() > deadline or not _MISSING_DEPENDENCY.search(str(exc)):
                    raise
                time.sleep(0.2)

    # -- what the sandbox reports --

    def created_of(self, typ: str) -> list[CreatedResource]:
        return [c for c in self.created if c.typ == typ]

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

    # -- creators, one per type --

    def _sqs_queue(self, logical: str, i: Inputs) -> Created:
        sqs = self.client("sqs")
        name = i.get("name") or _auto_name(logical) + (".fifo" if i.get("fifoQueue") else "")
        request: dict[str, Any] = {"QueueName": name, "Attributes": _queue_attributes(i)}
        if i.get("tags"):
            request["tags"] = {k: str(v) for k, v in i["tags"].items()}
        return self._queue_outputs(sqs.create_queue(**request)["QueueUrl"], name)

    def _queue_outputs(self, url: str, name: str) -> Created:
        arn = self.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {"url": url, "arn": arn, "name": name, "id": url}

    def _sqs_redrive_policy(self, logical: str, i: Inputs) -> Created:
        self.client("sqs").set_queue_attributes(
            QueueUrl=i["queueUrl"], Attributes={"RedrivePolicy": i["redrivePolicy"]}
        )
        return i["queueUrl"], {"id": i["queueUrl"]}

    def _iam_role(self, logical: str, i: Inputs) -> Created:
        iam = self.client("iam")
        name = i.get("name") or _auto_name(logical)
        role = iam.create_role(
            **_kwargs(
                RoleName=name,
                AssumeRolePolicyDocument=i["assumeRolePolicy"],
                Path=i.get("path"),
                Description=i.get("description"),
                MaxSessionDuration=i.get("maxSessionDuration"),
                PermissionsBoundary=i.get("permissionsBoundary"),
                Tags=_tag_list(i.get("tags")),
            )
        )["Role"]
        for arn in i.get("managedPolicyArns") or []:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for inline in i.get("inlinePolicies") or []:
            if inline.get("name") and inline.get("policy"):
                iam.put_role_policy(
                    RoleName=name, PolicyName=inline["name"], PolicyDocument=inline["policy"]
                )
        return name, {
            "arn": role["Arn"],
            "name": name,
            "uniqueId": role["RoleId"],
            "createDate": role["CreateDate"].isoformat(),
            "id": name,
        }

    def _iam_role_policy(self, logical: str, i: Inputs) -> Created:
        name = i.get("name") or _auto_name(logical)
        self.client("iam").put_role_policy(
            RoleName=i["role"], PolicyName=name, PolicyDocument=i["policy"]
        )
        return f"{i['role']}:{name}", {"name": name}

    def _iam_policy(self, logical: str, i: Inputs) -> Created:
        name = i.get("name") or _auto_name(logical)
        policy = self.client("iam").create_policy(
            **_kwargs(
                PolicyName=name,
                PolicyDocument=i["policy"],
                Path=i.get("path"),
                Description=i.get("description"),
                Tags=_tag_list(i.get("tags")),
            )
        )["Policy"]
        return policy["Arn"], {
            "arn": policy["Arn"],
            "name": name,
            "policyId": policy["PolicyId"],
            "attachmentCount": 0,
            "id": policy["Arn"],
        }

    def _iam_role_policy_attachment(self, logical: str, i: Inputs) -> Created:
        self.client("iam").attach_role_policy(RoleName=i["role"], PolicyArn=i["policyArn"])
        return f"{i['role']}-{_auto_name(i['policyArn'])[-7:]}", {}

    def _iam_instance_profile(self, logical: str, i: Inputs) -> Created:
        iam = self.client("iam")
        name = i.get("name") or _auto_name(logical)
        profile = iam.create_instance_profile(
            **_kwargs(InstanceProfileName=name, Path=i.get("path"), Tags=_tag_list(i.get("tags")))
        )["InstanceProfile"]
        if i.get("role"):
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=i["role"])
        return name, {
            "arn": profile["Arn"],
            "name": name,
            "uniqueId": profile["InstanceProfileId"],
            "createDate": profile["CreateDate"].isoformat(),
            "id": name,
        }

    def _lambda_function(self, logical: str, i: Inputs) -> Created:
        name = i.get("name") or _auto_name(logical)
        code = archive_bytes(i["code"], self.code_base)
        env_vars = (i.get("environment") or {}).get("variables")
        fn = self.client("lambda").create_function(
            **_kwargs(
                FunctionName=name,
                Role=i["role"],
                Handler=i.get("handler"),
                Runtime=i.get("runtime"),
                Code={"ZipFile": code},
                Description=i.get("description"),
                Timeout=i.get("timeout"),
                MemorySize=i.get("memorySize"),
                Publish=i.get("publish"),
                Architectures=i.get("architectures"),
                Environment={"Variables": env_vars} if env_vars else None,
                Layers=i.get("layers"),
                Tags={k: str(v) for k, v in (i.get("tags") or {}).items()} or None,
            )
        )
        return name, _function_outputs(fn, name, i, self.region)

    def _lambda_permission(self, logical: str, i: Inputs) -> Created:
        statement_id = i.get("statementId") or _auto_name(logical)
        self.client("lambda").add_permission(
            **_kwargs(
                FunctionName=i["function"],
                StatementId=statement_id,
                Action=i["action"],
                Principal=i["principal"],
                SourceArn=i.get("sourceArn"),
                SourceAccount=i.get("sourceAccount"),
                Qualifier=i.get("qualifier"),
                EventSourceToken=i.get("eventSourceToken"),
                PrincipalOrgID=i.get("principalOrgId"),
            )
        )
        return statement_id, {"statementId": statement_id}

    def _ssm_parameter(self, logical: str, i: Inputs) -> Created:
        ssm = self.client("ssm")
        name = i.get("name") or logical
        overwrite = bool(i.get("overwrite"))
        ssm.put_parameter(
            **_kwargs(
                Name=name,
                Value=str(i.get("value") if i.get("value") is not None else i.get("insecureValue")),
                Type=i.get("type") or "String",
                Description=i.get("description"),
                KeyId=i.get("keyId"),
                AllowedPattern=i.get("allowedPattern"),
                Tier=i.get("tier"),
                DataType=i.get("dataType"),
                Overwrite=overwrite or None,
                # AWS refuses Tags together with Overwrite.
                Tags=None if overwrite else _tag_list(i.get("tags")),
            )
        )
        found = ssm.get_parameter(Name=name)["Parameter"]
        return name, {
            "arn": found["ARN"],
            "name": name,
            "version": found["Version"],
            "type": found["Type"],
            "id": name,
        }

    def _ssm_document(self, logical: str, i: Inputs) -> Created:
        name = i.get("name") or _auto_name(logical)
        doc = self.client("ssm").create_document(
            **_kwargs(
                Name=name,
                Content=i["content"],
                DocumentType=i.get("documentType") or "Command",
                DocumentFormat=i.get("documentFormat") or "JSON",
                TargetType=i.get("targetType"),
                VersionName=i.get("versionName"),
                Tags=_tag_list(i.get("tags")),
            )
        )["DocumentDescription"]
        return name, {
            "arn": f"arn:aws:ssm:{self.region}:{self.account}:document/{name}",
            "name": name,
            "hash": doc.get("Hash"),
            "hashType": doc.get("HashType"),
            "latestVersion": doc.get("LatestVersion"),
            "defaultVersion": doc.get("DefaultVersion"),
            "documentVersion": doc.get("DocumentVersion"),
            "status": doc.get("Status"),
            "owner": doc.get("Owner"),
            "schemaVersion": doc.get("SchemaVersion"),
            "platformTypes": doc.get("PlatformTypes", []),
            "createdDate": str(doc.get("CreatedDate", "")),
            "id": name,
        }

    def _event_rule(self, logical: str, i: Inputs) -> Created:
        name = i.get("name") or _auto_name(logical)
        state = i.get("state") or ("DISABLED" if i.get("isEnabled") is False else "ENABLED")
        arn = self.client("events").put_rule(
            **_kwargs(
                Name=name,
                ScheduleExpression=i.get("scheduleExpression"),
                EventPattern=i.get("eventPattern"),
                State=state,
                Description=i.get("description"),
                RoleArn=i.get("roleArn"),
                EventBusName=i.get("eventBusName"),
                Tags=_tag_list(i.get("tags")),
            )
        )["RuleArn"]
        return name, {"arn": arn, "name": name, "state": state, "id": name}

    def _event_target(self, logical: str, i: Inputs) -> Created:
        target_id = i.get("targetId") or _auto_name(logical)
        target = _kwargs(
            Id=target_id,
            Arn=i["arn"],
            Input=i.get("input"),
            InputPath=i.get("inputPath"),
            RoleArn=i.get("roleArn"),
        )
        answer = self.client("events").put_targets(
            **_kwargs(Rule=i["rule"], EventBusName=i.get("eventBusName"), Targets=[target])
        )
        if answer.get("FailedEntryCount"):
            raise MotoDeployError(f"put_targets failed: {answer.get('FailedEntries')}")
        return f"{i['rule']}-{target_id}", {"targetId": target_id}

    def _metric_alarm(self, logical: str, i: Inputs) -> Created:
        cloudwatch = self.client("cloudwatch")
        name = i.get("name") or _auto_name(logical)
        queries = None
        if i.get("metricQueries"):
            queries = []
            for q in i["metricQueries"]:
                query = _kwargs(
                    Id=q["id"],
                    Expression=q.get("expression"),
                    Label=q.get("label"),
                    ReturnData=q.get("returnData"),
                    Period=q.get("period"),
                    AccountId=q.get("accountId"),
                )
                if q.get("metric"):
                    m = q["metric"]
                    query["MetricStat"] = _kwargs(
                        Metric=_kwargs(
                            Namespace=m.get("namespace"),
                            MetricName=m["metricName"],
                            Dimensions=_dimensions(m.get("dimensions")),
                        ),
                        Period=m.get("period"),
                        Stat=m.get("stat"),
                        Unit=m.get("unit"),
                    )
                queries.append(query)
        cloudwatch.put_metric_alarm(
            **_kwargs(
                AlarmName=name,
                AlarmDescription=i.get("alarmDescription"),
                ActionsEnabled=i.get("actionsEnabled"),
                AlarmActions=i.get("alarmActions"),
                OKActions=i.get("okActions"),
                InsufficientDataActions=i.get("insufficientDataActions"),
                MetricName=i.get("metricName"),
                Namespace=i.get("namespace"),
                Statistic=i.get("statistic"),
                ExtendedStatistic=i.get("extendedStatistic"),
                Dimensions=_dimensions(i.get("dimensions")),
                Period=i.get("period"),
                Unit=i.get("unit"),
                EvaluationPeriods=i["evaluationPeriods"],
                DatapointsToAlarm=i.get("datapointsToAlarm"),
                Threshold=i.get("threshold"),
                ThresholdMetricId=i.get("thresholdMetricId"),
                ComparisonOperator=i["comparisonOperator"],
                TreatMissingData=i.get("treatMissingData"),
                EvaluateLowSampleCountPercentile=i.get("evaluateLowSampleCountPercentiles"),
                Metrics=queries,
                Tags=_tag_list(i.get("tags")),
            )
        )
        alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        return name, {"arn": alarm["AlarmArn"], "name": name, "id": name}

    def _log_group(self, logical: str, i: Inputs) -> Created:
        logs = self.client("logs")
        name = i.get("name") or _auto_name(logical)
        logs.create_log_group(
            **_kwargs(
                logGroupName=name,
                kmsKeyId=i.get("kmsKeyId"),
                logGroupClass=i.get("logGroupClass"),
                tags={k: str(v) for k, v in (i.get("tags") or {}).items()} or None,
            )
        )
        if i.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=_num(i["retentionInDays"]))
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        arn = next(g["arn"] for g in groups if g["logGroupName"] == name)
        return name, {"arn": arn.removesuffix(":*"), "name": name, "id": name}

    def _launch_template(self, logical: str, i: Inputs) -> Created:
        name = i.get("name") or _auto_name(logical)
        data = _template_data(i)
        tags = _tag_list(i.get("tags"))
        template = self.client("ec2").create_launch_template(
            **_kwargs(
                LaunchTemplateName=name,
                LaunchTemplateData=data,
                TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags}]
                if tags
                else None,
            )
        )["LaunchTemplate"]
        template_id = template["LaunchTemplateId"]
        return template_id, {
            "arn": f"arn:aws:ec2:{self.region}:{self.account}:launch-template/{template_id}",
            "name": name,
            "latestVersion": template["LatestVersionNumber"],
            "defaultVersion": template["DefaultVersionNumber"],
            "id": template_id,
        }

    def _autoscaling_group(self, logical: str, i: Inputs) -> Created:
        autoscaling = self.client("autoscaling")
        name = i.get("name") or _auto_name(logical)
        tags = _group_tags(name, i)
        hooks = [
            _kwargs(
                LifecycleHookName=h["name"],
                LifecycleTransition=h["lifecycleTransition"],
                HeartbeatTimeout=h.get("heartbeatTimeout"),
                DefaultResult=h.get("defaultResult"),
                NotificationMetadata=h.get("notificationMetadata"),
                NotificationTargetARN=h.get("notificationTargetArn"),
                RoleARN=h.get("roleArn"),
            )
            for h in i.get("initialLifecycleHooks") or []
        ]
        autoscaling.create_auto_scaling_group(
            **_group_settings(name, i),
            **_kwargs(AvailabilityZones=i.get("availabilityZones"),
                      LifecycleHookSpecificationList=hooks or None, Tags=tags or None),
        )
        return self._group_after(name, i)

    def _group_after(self, name: str, i: Inputs) -> Created:
        """Metrics collection and suspended processes (their own calls), then the outputs."""
        autoscaling = self.client("autoscaling")
        if i.get("enabledMetrics"):
            autoscaling.enable_metrics_collection(
                AutoScalingGroupName=name,
                Metrics=list(i["enabledMetrics"]),
                Granularity=i.get("metricsGranularity") or "1Minute",
            )
        if i.get("suspendedProcesses"):
            autoscaling.suspend_processes(
                AutoScalingGroupName=name, ScalingProcesses=list(i["suspendedProcesses"])
            )
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ][0]
        return name, {
            "arn": group["AutoScalingGroupARN"],
            "name": name,
            "desiredCapacity": group["DesiredCapacity"],
            "id": name,
        }

    def _autoscaling_policy(self, logical: str, i: Inputs) -> Created:
        autoscaling = self.client("autoscaling")
        name = i.get("name") or _auto_name(logical)
        steps = [
            _kwargs(
                ScalingAdjustment=s["scalingAdjustment"],
                MetricIntervalLowerBound=_float_or_none(s.get("metricIntervalLowerBound")),
                MetricIntervalUpperBound=_float_or_none(s.get("metricIntervalUpperBound")),
            )
            for s in i.get("stepAdjustments") or []
        ]
        tracking = None
        if i.get("targetTrackingConfiguration"):
            tracking = _pascal(i["targetTrackingConfiguration"], {"metricDimensions": "Dimensions"})
        autoscaling.put_scaling_policy(
            **_kwargs(
                AutoScalingGroupName=i["autoscalingGroupName"],
                PolicyName=name,
                PolicyType=i.get("policyType") or "SimpleScaling",
                AdjustmentType=i.get("adjustmentType"),
                ScalingAdjustment=i.get("scalingAdjustment"),
                Cooldown=i.get("cooldown"),
                MinAdjustmentMagnitude=i.get("minAdjustmentMagnitude"),
                MetricAggregationType=i.get("metricAggregationType"),
                EstimatedInstanceWarmup=i.get("estimatedInstanceWarmup"),
                StepAdjustments=steps or None,
                TargetTrackingConfiguration=tracking,
                Enabled=i.get("enabled"),
            )
        )
        # moto's PutScalingPolicy answer carries no PolicyARN; read it back.
        policy = autoscaling.describe_policies(
            AutoScalingGroupName=i["autoscalingGroupName"], PolicyNames=[name]
        )["ScalingPolicies"][0]
        return name, {"arn": policy["PolicyARN"], "name": name, "id": name}

    def _lifecycle_hook(self, logical: str, i: Inputs) -> Created:
        name = i.get("name") or _auto_name(logical)
        self.client("autoscaling").put_lifecycle_hook(
            **_kwargs(
                LifecycleHookName=name,
                AutoScalingGroupName=i["autoscalingGroupName"],
                LifecycleTransition=i["lifecycleTransition"],
                HeartbeatTimeout=i.get("heartbeatTimeout"),
                DefaultResult=i.get("defaultResult"),
                NotificationMetadata=i.get("notificationMetadata"),
                NotificationTargetARN=i.get("notificationTargetArn"),
                RoleARN=i.get("roleArn"),
            )
        )
        return name, {"name": name, "id": name}

    def _batch_compute_environment(self, logical: str, i: Inputs) -> Created:
        batch = self.client("batch")
        name = i.get("name") or _auto_name(logical)
        resources = None
        if i.get("computeResources"):
            resources = _camel_keys(
                i["computeResources"],
                {
                    "maxVcpus": "maxvCpus",
                    "minVcpus": "minvCpus",
                    "desiredVcpus": "desiredvCpus",
                    "ec2Configurations": "ec2Configuration",
                },
            )
            resources.setdefault("desiredvCpus", resources.get("minvCpus", 0))
        batch.create_compute_environment(
            **_kwargs(
                computeEnvironmentName=name,
                type=i["type"],
                state=i.get("state"),
                serviceRole=i.get("serviceRole"),
                computeResources=resources,
                tags={k: str(v) for k, v in (i.get("tags") or {}).items()} or None,
            )
        )
        env = batch.describe_compute_environments(computeEnvironments=[name])[
            "computeEnvironments"
        ][0]
        return name, {
            "arn": env["computeEnvironmentArn"],
            "name": name,
            "ecsClusterArn": env.get("ecsClusterArn"),
            "status": env.get("status"),
            "statusReason": env.get("statusReason", ""),
            "state": env.get("state"),
            "id": name,
        }

    def _batch_job_queue(self, logical: str, i: Inputs) -> Created:
        batch = self.client("batch")
        name = i.get("name") or _auto_name(logical)
        orders = [
            {"order": _num(o["order"]), "computeEnvironment": o["computeEnvironment"]}
            for o in i.get("computeEnvironmentOrders") or []
        ]
        queue = batch.create_job_queue(
            **_kwargs(
                jobQueueName=name,
                state=i.get("state") or "ENABLED",
                priority=i["priority"],
                computeEnvironmentOrder=orders,
                schedulingPolicyArn=i.get("schedulingPolicyArn"),
                jobStateTimeLimitActions=_camel_keys(i["jobStateTimeLimitActions"])
                if i.get("jobStateTimeLimitActions")
                else None,
                tags={k: str(v) for k, v in (i.get("tags") or {}).items()} or None,
            )
        )
        arn = queue["jobQueueArn"]
        return arn, {"arn": arn, "name": name, "id": arn}

    def _batch_job_definition(self, logical: str, i: Inputs) -> Created:
        name = i.get("name") or _auto_name(logical)

        def parsed(key: str) -> Any:
            value = i.get(key)
            return json.loads(value) if isinstance(value, str) else value

        retry = None
        if i.get("retryStrategy"):
            retry = _camel_keys(i["retryStrategy"], {"evaluateOnExits": "evaluateOnExit"})
        request = _kwargs(
            jobDefinitionName=name,
            type=i["type"],
            parameters=i.get("parameters"),
            containerProperties=parsed("containerProperties"),
            nodeProperties=parsed("nodeProperties"),
            ecsProperties=parsed("ecsProperties"),
            eksProperties=parsed("eksProperties"),
            retryStrategy=retry,
            timeout=_camel_keys(i["timeout"]) if i.get("timeout") else None,
            platformCapabilities=i.get("platformCapabilities"),
            propagateTags=i.get("propagateTags"),
            schedulingPriority=i.get("schedulingPriority"),
            tags={k: str(v) for k, v in (i.get("tags") or {}).items()} or None,
        )
        arn, revision = self._job_definition_revision(request)
        return arn, {
            "arn": arn,
            "arnPrefix": arn.rsplit(":", 1)[0],
            "revision": revision,
            "name": name,
            "id": arn,
        }

    def _job_definition_revision(self, request: dict[str, Any]) -> tuple[str, int]:
        """(ARN, revision) of the ACTIVE revision registered from exactly this request (its
        digest in the JOB_SPEC_TAG tag), registering it when there is none; every other ACTIVE
        revision of the name is deregistered, as Pulumi's replacement of a JobDefinition
        does. So an up run again (after a kill, or with nothing changed) leaves one ACTIVE
        revision, never a pile."""
        batch = self.client("batch")
        name = request["jobDefinitionName"]
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode())
        spec = digest.hexdigest()
        active = batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")[
            "jobDefinitions"]
        same = [d for d in active if (d.get("tags") or {}).get(JOB_SPEC_TAG) == spec]
        if same:
            kept = max(same, key=lambda d: int(d["revision"]))
            arn, revision = kept["jobDefinitionArn"], int(kept["revision"])
        else:
            job = batch.register_job_definition(
                **{**request, "tags": {**request.get("tags", {}), JOB_SPEC_TAG: spec}})
            arn, revision = job["jobDefinitionArn"], int(job["revision"])
        for old in active:
            if old["jobDefinitionArn"] != arn:
                batch.deregister_job_definition(jobDefinition=old["jobDefinitionArn"])
        return arn, revision

    # -- updaters: an imported resource brought to its declaration, as the first `pulumi up`
    # after `pulumi import` does (same id; the types whose create is an upsert reuse it) --

    def _update_sqs_queue(self, logical: str, i: Inputs, url: str) -> Created:
        attributes = _queue_attributes(i)
        attributes.pop("FifoQueue", None)  # fixed at creation (verify adopt refuses a change)
        self.client("sqs").set_queue_attributes(QueueUrl=url, Attributes=attributes)
        if i.get("tags"):
            self.client("sqs").tag_queue(QueueUrl=url, Tags={k: str(v) for k, v in
                                                              i["tags"].items()})
        return self._queue_outputs(url, i.get("name") or url.rsplit("/", 1)[-1])

    def _update_iam_role(self, logical: str, i: Inputs, name: str) -> Created:
        iam = self.client("iam")
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=i["assumeRolePolicy"])
        if i.get("description") is not None or i.get("maxSessionDuration") is not None:
            iam.update_role(**_kwargs(RoleName=name, Description=i.get("description"),
                                      MaxSessionDuration=i.get("maxSessionDuration")))
        for arn in i.get("managedPolicyArns") or []:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for inline in i.get("inlinePolicies") or []:
            if inline.get("name") and inline.get("policy"):
                iam.put_role_policy(RoleName=name, PolicyName=inline["name"],
                                    PolicyDocument=inline["policy"])
        role = iam.get_role(RoleName=name)["Role"]
        return name, {"arn": role["Arn"], "name": name, "uniqueId": role["RoleId"],
                      "createDate": role["CreateDate"].isoformat(), "id": name}

    def _update_instance_profile(self, logical: str, i: Inputs, name: str) -> Created:
        iam = self.client("iam")
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        for role in profile.get("Roles", []):
            if role["RoleName"] != i.get("role"):
                iam.remove_role_from_instance_profile(InstanceProfileName=name,
                                                      RoleName=role["RoleName"])
        if i.get("role") and i["role"] not in {r["RoleName"] for r in profile.get("Roles", [])}:
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=i["role"])
        return name, {"arn": profile["Arn"], "name": name,
                      "uniqueId": profile["InstanceProfileId"],
                      "createDate": profile["CreateDate"].isoformat(), "id": name}

    def _update_lambda_function(self, logical: str, i: Inputs, name: str) -> Created:
        lam = self.client("lambda")
        env_vars = (i.get("environment") or {}).get("variables") or {}
        lam.update_function_configuration(**_kwargs(
            FunctionName=name, Role=i["role"], Handler=i.get("handler"),
            Runtime=i.get("runtime"), Description=i.get("description"),
            Timeout=i.get("timeout"), MemorySize=i.get("memorySize"),
            Environment={"Variables": env_vars}, Layers=i.get("layers")))
        fn = lam.update_function_code(**_kwargs(
            FunctionName=name, ZipFile=archive_bytes(i["code"], self.code_base),
            Architectures=i.get("architectures"), Publish=i.get("publish")))
        return name, _function_outputs(fn, name, i, self.region)

    def _update_lambda_permission(self, logical: str, i: Inputs, statement_id: str) -> Created:
        with contextlib.suppress(ClientError):  # already gone: add it as declared
            self.client("lambda").remove_permission(FunctionName=i["function"],
                                                    StatementId=statement_id)
        return self._lambda_permission(logical, {**i, "statementId": statement_id})

    def _update_ssm_parameter(self, logical: str, i: Inputs, name: str) -> Created:
        return self._ssm_parameter(logical, {**i, "name": name, "overwrite": True})

    def _update_ssm_document(self, logical: str, i: Inputs, name: str) -> Created:
        ssm = self.client("ssm")
        try:
            doc = ssm.update_document(**_kwargs(
                Name=name, Content=i["content"], DocumentVersion="$LATEST",
                DocumentFormat=i.get("documentFormat") or "JSON"))["DocumentDescription"]
            ssm.update_document_default_version(Name=name,
                                                DocumentVersion=doc["DocumentVersion"])
        except ClientError as exc:
            if "DuplicateDocumentContent" not in str(exc):
                raise
        doc = ssm.describe_document(Name=name)["Document"]
        return name, {"arn": f"arn:aws:ssm:{self.region}:{self.account}:document/{name}",
                      "name": name, "hash": doc.get("Hash"), "hashType": doc.get("HashType"),
                      "latestVersion": doc.get("LatestVersion"),
                      "defaultVersion": doc.get("DefaultVersion"),
                      "documentVersion": doc.get("DocumentVersion"), "status": doc.get("Status"),
                      "owner": doc.get("Owner"), "schemaVersion": doc.get("SchemaVersion"),
                      "platformTypes": doc.get("PlatformTypes", []), "id": name}

    def _update_log_group(self, logical: str, i: Inputs, name: str) -> Created:
        logs = self.client("logs")
        if i.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=_num(i["retentionInDays"]))
        else:
            logs.delete_retention_policy(logGroupName=name)
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        arn = next(g["arn"] for g in groups if g["logGroupName"] == name)
        return name, {"arn": arn.removesuffix(":*"), "name": name, "id": name}

    def _update_launch_template(self, logical: str, i: Inputs, template_id: str) -> Created:
        ec2 = self.client("ec2")
        version = ec2.create_launch_template_version(
            LaunchTemplateId=template_id, LaunchTemplateData=_template_data(i))[
            "LaunchTemplateVersion"]["VersionNumber"]
        template = ec2.modify_launch_template(
            LaunchTemplateId=template_id, DefaultVersion=str(version))["LaunchTemplate"]
        return template_id, {
            "arn": f"arn:aws:ec2:{self.region}:{self.account}:launch-template/{template_id}",
            "name": template["LaunchTemplateName"], "latestVersion": version,
            "defaultVersion": version, "id": template_id}

    def _update_autoscaling_group(self, logical: str, i: Inputs, name: str) -> Created:
        autoscaling = self.client("autoscaling")
        autoscaling.update_auto_scaling_group(**_group_settings(name, i))
        if i.get("tags"):
            autoscaling.create_or_update_tags(Tags=_group_tags(name, i))
        return self._group_after(name, i)

    def _update_batch_compute_environment(self, logical: str, i: Inputs, name: str) -> Created:
        batch = self.client("batch")
        resources = _camel_keys(i.get("computeResources") or {}, {
            "maxVcpus": "maxvCpus", "minVcpus": "minvCpus", "desiredVcpus": "desiredvCpus"})
        # What UpdateComputeEnvironment takes; moto 5.2.5 accepts and ignores all of it.
        updatable = {k: v for k, v in resources.items() if k in (
            "minvCpus", "maxvCpus", "desiredvCpus", "subnets", "securityGroupIds",
            "instanceTypes", "instanceRole", "tags", "allocationStrategy", "bidPercentage")}
        batch.update_compute_environment(**_kwargs(
            computeEnvironment=name, state=i.get("state"), serviceRole=i.get("serviceRole"),
            computeResources=updatable or None))
        env = batch.describe_compute_environments(computeEnvironments=[name])[
            "computeEnvironments"][0]
        return name, {"arn": env["computeEnvironmentArn"], "name": name,
                      "ecsClusterArn": env.get("ecsClusterArn"), "status": env.get("status"),
                      "statusReason": env.get("statusReason", ""), "state": env.get("state"),
                      "id": name}

    def _update_batch_job_queue(self, logical: str, i: Inputs, arn: str) -> Created:
        orders = [{"order": _num(o["order"]), "computeEnvironment": o["computeEnvironment"]}
                  for o in i.get("computeEnvironmentOrders") or []]
        self.client("batch").update_job_queue(**_kwargs(
            jobQueue=arn, state=i.get("state") or "ENABLED", priority=i["priority"],
            computeEnvironmentOrder=orders or None,
            schedulingPolicyArn=i.get("schedulingPolicyArn"),
            jobStateTimeLimitActions=_camel_keys(i["jobStateTimeLimitActions"])
            if i.get("jobStateTimeLimitActions") else None))
        return arn, {"arn": arn, "name": i.get("name") or arn.rsplit("/", 1)[-1], "id": arn}


def _float_or_none(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


CREATORS: dict[str, Callable[[MotoMocks, str, Inputs], Created]] = {
    "aws:sqs/queue:Queue": MotoMocks._sqs_queue,
    "aws:sqs/redrivePolicy:RedrivePolicy": MotoMocks._sqs_redrive_policy,
    "aws:iam/role:Role": MotoMocks._iam_role,
    "aws:iam/rolePolicy:RolePolicy": MotoMocks._iam_role_policy,
    "aws:iam/policy:Policy": MotoMocks._iam_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": MotoMocks._iam_role_policy_attachment,
    "aws:iam/instanceProfile:InstanceProfile": MotoMocks._iam_instance_profile,
    "aws:lambda/function:Function": MotoMocks._lambda_function,
    "aws:lambda/permission:Permission": MotoMocks._lambda_permission,
    "aws:ssm/parameter:Parameter": MotoMocks._ssm_parameter,
    "aws:ssm/document:Document": MotoMocks._ssm_document,
    "aws:cloudwatch/eventRule:EventRule": MotoMocks._event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": MotoMocks._event_target,
    "aws:cloudwatch/metricAlarm:MetricAlarm": MotoMocks._metric_alarm,
    "aws:cloudwatch/logGroup:LogGroup": MotoMocks._log_group,
    "aws:ec2/launchTemplate:LaunchTemplate": MotoMocks._launch_template,
    "aws:autoscaling/group:Group": MotoMocks._autoscaling_group,
    "aws:autoscaling/policy:Policy": MotoMocks._autoscaling_policy,
    "aws:autoscaling/lifecycleHook:LifecycleHook": MotoMocks._lifecycle_hook,
    "aws:batch/computeEnvironment:ComputeEnvironment": MotoMocks._batch_compute_environment,
    "aws:batch/jobQueue:JobQueue": MotoMocks._batch_job_queue,
    "aws:batch/jobDefinition:JobDefinition": MotoMocks._batch_job_definition,
}
# moto 5.2.5 has no SSM associations (CreateAssociation is not implemented): listed as not created.
CREATED_TYPES = frozenset(CREATORS)

Updater = Callable[[MotoMocks, str, Inputs, str], Created]


def _upsert(creator: Callable[[MotoMocks, str, Inputs], Created]) -> Updater:
    """A type whose create call is an upsert (Put*, Attach*, Register* a new revision)."""
    return lambda mocks, logical, i, _id: creator(mocks, logical, i)


UPDATERS: dict[str, Updater] = {
    "aws:sqs/queue:Queue": MotoMocks._update_sqs_queue,
    "aws:sqs/redrivePolicy:RedrivePolicy": _upsert(MotoMocks._sqs_redrive_policy),
    "aws:iam/role:Role": MotoMocks._update_iam_role,
    "aws:iam/rolePolicy:RolePolicy": _upsert(MotoMocks._iam_role_policy),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
        _upsert(MotoMocks._iam_role_policy_attachment),
    "aws:iam/instanceProfile:InstanceProfile": MotoMocks._update_instance_profile,
    "aws:lambda/function:Function": MotoMocks._update_lambda_function,
    "aws:lambda/permission:Permission": MotoMocks._update_lambda_permission,
    "aws:ssm/parameter:Parameter": MotoMocks._update_ssm_parameter,
    "aws:ssm/document:Document": MotoMocks._update_ssm_document,
    "aws:cloudwatch/eventRule:EventRule": _upsert(MotoMocks._event_rule),
    "aws:cloudwatch/eventTarget:EventTarget": _upsert(MotoMocks._event_target),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _upsert(MotoMocks._metric_alarm),
    "aws:cloudwatch/logGroup:LogGroup": MotoMocks._update_log_group,
    "aws:ec2/launchTemplate:LaunchTemplate": MotoMocks._update_launch_template,
    "aws:autoscaling/group:Group": MotoMocks._update_autoscaling_group,
    "aws:autoscaling/policy:Policy": _upsert(MotoMocks._autoscaling_policy),
    "aws:autoscaling/lifecycleHook:LifecycleHook": _upsert(MotoMocks._lifecycle_hook),
    "aws:batch/computeEnvironment:ComputeEnvironment":
        MotoMocks._update_batch_compute_environment,
    "aws:batch/jobQueue:JobQueue": MotoMocks._update_batch_job_queue,
    # A job definition is never changed in place: the update registers a new revision.
    "aws:batch/jobDefinition:JobDefinition": _upsert(MotoMocks._batch_job_definition),
}


# ---- finders: the id of a resource an interrupted up may have created (its name is known) ----

Finder = Callable[[MotoMocks, str, Inputs], str | None]


def _found(call: Callable[[], Any], answer: Callable[[Any], Any]) -> str | None:
    """The id `answer` reads from `call()`'s answer; None when AWS says it does not exist."""
    try:
        found = answer(call())
    except (ClientError, IndexError, StopIteration):
        return None
    return str(found) if found else None


def _named(logical: str, i: Inputs) -> str:
    return str(i.get("name") or _auto_name(logical))


# Types whose create is not an upsert; the others are simply created again.
FINDERS: dict[str, Finder] = {
    "aws:sqs/queue:Queue": lambda m, n, i: _found(lambda: m.client("sqs").get_queue_url(
        QueueName=_named(n, i) + (".fifo" if i.get("fifoQueue") and not i.get("name") else "")),
        lambda a: a["QueueUrl"]),
    "aws:iam/role:Role": lambda m, n, i: _found(
        lambda: m.client("iam").get_role(RoleName=_named(n, i)), lambda a: a["Role"]["RoleName"]),
    "aws:iam/policy:Policy": lambda m, n, i: _found(lambda: m.client("iam").get_policy(
        PolicyArn=f"arn:aws:iam::{m.account}:policy{i.get('path') or '/'}{_named(n, i)}"),
        lambda a: a["Policy"]["Arn"]),
    "aws:iam/instanceProfile:InstanceProfile": lambda m, n, i: _found(
        lambda: m.client("iam").get_instance_profile(InstanceProfileName=_named(n, i)),
        lambda a: a["InstanceProfile"]["InstanceProfileName"]),
    "aws:lambda/function:Function": lambda m, n, i: _found(
        lambda: m.client("lambda").get_function(FunctionName=_named(n, i)),
        lambda a: a["Configuration"]["FunctionName"]),
    # Their updaters put or remove-then-add whether or not they exist.
    "aws:lambda/permission:Permission": lambda m, n, i: str(
        i.get("statementId") or _auto_name(n)),
    "aws:ssm/parameter:Parameter": lambda m, n, i: str(i.get("name") or n),
    "aws:ssm/document:Document": lambda m, n, i: _found(
        lambda: m.client("ssm").describe_document(Name=_named(n, i)),
        lambda a: a["Document"]["Name"]),
    "aws:cloudwatch/logGroup:LogGroup": lambda m, n, i: _found(
        lambda: m.client("logs").describe_log_groups(logGroupNamePrefix=_named(n, i)),
        lambda a: next(g["logGroupName"] for g in a["logGroups"]
                       if g["logGroupName"] == _named(n, i))),
    "aws:ec2/launchTemplate:LaunchTemplate": lambda m, n, i: _found(
        lambda: m.client("ec2").describe_launch_templates(LaunchTemplateNames=[_named(n, i)]),
        lambda a: a["LaunchTemplates"][0]["LaunchTemplateId"]),
    "aws:autoscaling/group:Group": lambda m, n, i: _found(
        lambda: m.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[_named(n, i)]),
        lambda a: a["AutoScalingGroups"][0]["AutoScalingGroupName"]),
    "aws:batch/computeEnvironment:ComputeEnvironment": lambda m, n, i: _found(
        lambda: m.client("batch").describe_compute_environments(
            computeEnvironments=[_named(n, i)]),
        lambda a: a["computeEnvironments"][0]["computeEnvironmentName"]),
    "aws:batch/jobQueue:JobQueue": lambda m, n, i: _found(
        lambda: m.client("batch").describe_job_queues(jobQueues=[_named(n, i)]),
        lambda a: a["jobQueues"][0]["jobQueueArn"]),
}


# ---- deleters: what `pulumi up` does to a resource the program no longer declares ----------

Deleter = Callable[[MotoMocks, Registered], None]


def _delete_role(mocks: MotoMocks, r: Registered) -> None:
    """IAM refuses to delete a role with policies or instance profiles: remove those first."""
    iam = mocks.client("iam")
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=r.physical_id):
        for policy in page["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=r.physical_id, PolicyArn=policy["PolicyArn"])
    for name in iam.list_role_policies(RoleName=r.physical_id)["PolicyNames"]:
        iam.delete_role_policy(RoleName=r.physical_id, PolicyName=name)
    for profile in iam.list_instance_profiles_for_role(RoleName=r.physical_id)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"],
                                              RoleName=r.physical_id)
    iam.delete_role(RoleName=r.physical_id)


def _delete_instance_profile(mocks: MotoMocks, r: Registered) -> None:
    iam = mocks.client("iam")
    profile = iam.get_instance_profile(InstanceProfileName=r.physical_id)["InstanceProfile"]
    for role in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=r.physical_id,
                                              RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=r.physical_id)


def _disable_then(update: str, delete: str, key: str) -> Deleter:
    """AWS deletes a Batch job queue or compute environment only once it is DISABLED."""

    def deleter(mocks: MotoMocks, r: Registered) -> None:
        batch = mocks.client("batch")
        getattr(batch, update)(**{key: r.physical_id, "state": "DISABLED"})
        getattr(batch, delete)(**{key: r.physical_id})

    return deleter


DELETERS: dict[str, Deleter] = {
    "aws:sqs/queue:Queue": lambda m, r: m.client("sqs").delete_queue(QueueUrl=r.physical_id),
    "aws:sqs/redrivePolicy:RedrivePolicy": lambda m, r: m.client("sqs").set_queue_attributes(
        QueueUrl=r.physical_id, Attributes={"RedrivePolicy": ""}),
    "aws:iam/role:Role": _delete_role,
    "aws:iam/rolePolicy:RolePolicy": lambda m, r: m.client("iam").delete_role_policy(
        RoleName=r.inputs["role"], PolicyName=r.physical_id.split(":", 1)[1]),
    "aws:iam/policy:Policy": lambda m, r: m.client("iam").delete_policy(PolicyArn=r.physical_id),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": lambda m, r: m.client(
        "iam").detach_role_policy(RoleName=r.inputs["role"], PolicyArn=r.inputs["policyArn"]),
    "aws:iam/instanceProfile:InstanceProfile": _delete_instance_profile,
    "aws:lambda/function:Function": lambda m, r: m.client("lambda").delete_function(
        FunctionName=r.physical_id),
    "aws:lambda/permission:Permission": lambda m, r: m.client("lambda").remove_permission(
        FunctionName=r.inputs["function"], StatementId=r.physical_id),
    "aws:ssm/parameter:Parameter": lambda m, r: m.client("ssm").delete_parameter(
        Name=r.physical_id),
    "aws:ssm/document:Document": lambda m, r: m.client("ssm").delete_document(
        Name=r.physical_id),
    "aws:cloudwatch/eventRule:EventRule": lambda m, r: m.client("events").delete_rule(
        Name=r.physical_id),
    "aws:cloudwatch/eventTarget:EventTarget": lambda m, r: m.client("events").remove_targets(
        Rule=r.inputs["rule"], Ids=[r.outputs["targetId"]]),
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda m, r: m.client("cloudwatch").delete_alarms(
        AlarmNames=[r.physical_id]),
    "aws:cloudwatch/logGroup:LogGroup": lambda m, r: m.client("logs").delete_log_group(
        logGroupName=r.physical_id),
    "aws:ec2/launchTemplate:LaunchTemplate": lambda m, r: m.client("ec2").delete_launch_template(
        LaunchTemplateId=r.physical_id),
    # ForceDelete: its instances go with it (preflight refused the plan while any was busy).
    "aws:autoscaling/group:Group": lambda m, r: m.client("autoscaling").delete_auto_scaling_group(
        AutoScalingGroupName=r.physical_id, ForceDelete=True),
    "aws:autoscaling/policy:Policy": lambda m, r: m.client("autoscaling").delete_policy(
        AutoScalingGroupName=r.inputs["autoscalingGroupName"], PolicyName=r.physical_id),
    "aws:autoscaling/lifecycleHook:LifecycleHook": lambda m, r: m.client(
        "autoscaling").delete_lifecycle_hook(
        AutoScalingGroupName=r.inputs["autoscalingGroupName"], LifecycleHookName=r.physical_id),
    "aws:batch/computeEnvironment:ComputeEnvironment": _disable_then(
        "update_compute_environment", "delete_compute_environment", "computeEnvironment"),
    "aws:batch/jobQueue:JobQueue": _disable_then("update_job_queue", "delete_job_queue",
                                                 "jobQueue"),
    "aws:batch/jobDefinition:JobDefinition": lambda m, r: m.client(
        "batch").deregister_job_definition(jobDefinition=r.physical_id),
}

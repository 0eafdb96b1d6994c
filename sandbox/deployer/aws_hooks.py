"""What the registry (contract/aws_types.py) cannot say about a type, for the sandbox's deployer:
how its outputs are read back (`read`: also how a create an interrupted up began is found),
the inputs prepared for the API (names, the code's zip), the side calls some inputs need (a
role's managed policies, a group's metrics) and what a delete needs first (a role emptied,
a Batch queue disabled). The calls themselves come from the registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jmespath
import pulumi
from botocore import xform_name
from botocore.exceptions import ClientError

from contract.aws_types import READS, TYPES

Inputs = dict[str, Any]
Created = tuple[str, dict[str, Any]]
Mocks = Any  # the MotoMocks calling (sandbox/deployer/moto_mocks.py)
# On each job definition revision the deployer registers: the digest of its request, so an up
# run again finds the identical ACTIVE revision instead of registering another.
JOB_SPEC_TAG = "academy-sandbox:request-sha256"


class MotoDeployError(RuntimeError):
    """moto refused a resource; the message names the type, the Pulumi name and moto's reason."""


@dataclass(frozen=True)
class Registered:
    """A resource as the deployer left it: what `pulumi up` keeps in the stack's state (its id,
    inputs and outputs, secrets as their digest), so the next up can diff it."""

    typ: str
    name: str
    physical_id: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]


def _same(m: Mocks, logical: str, i: Inputs, creating: bool) -> Inputs:
    return i


def _nothing(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    read: Callable[[Mocks, Inputs, str | None], Created]  # raises when it does not exist
    prepare: Callable[[Mocks, str, Inputs, bool], Inputs] = _same
    side: Callable[[Mocks, Inputs, str | None, Mapping[str, Any], bool], None] = _nothing
    apply: Callable[[Mocks, Inputs], Created] | None = None  # one call creates and updates
    before_delete: Callable[[Mocks, Registered], None] = _nothing
    unchanged: tuple[str, ...] = ()  # an update's error that means "nothing to change"


def auto_name(logical: str) -> str:
    """Like Pulumi's auto-naming (name + 7 hex), but stable across runs."""
    return f"{logical}-{hashlib.sha1(logical.encode()).hexdigest()[:7]}"  # noqa: S324 (not security)


def archive_bytes(code: Any, base: Path | None = None) -> bytes:
    """The zip of a Lambda `code` input: a FileArchive (zip file or directory) or AssetArchive."""
    base = base or Path.cwd()
    if isinstance(code, pulumi.FileArchive) or (isinstance(code, dict) and "path" in code):
        path = Path(code.path if isinstance(code, pulumi.FileArchive) else code["path"])
        path = path if path.is_absolute() else base / path
        if not path.is_dir():
            return path.read_bytes()
        files = {p.relative_to(path).as_posix(): p for p in path.rglob("*") if p.is_file()}
    elif isinstance(code, pulumi.AssetArchive):
        files = {}
        for name, asset in code.assets.items():
            if not isinstance(asset, pulumi.StringAsset | pulumi.FileAsset):
                raise MotoDeployError(f"unsupported asset {type(asset).__name__} in {name}")
            files[name] = asset
    else:
        raise MotoDeployError(f"unsupported Lambda code input {type(code).__name__}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, item in sorted(files.items()):
            if isinstance(item, pulumi.StringAsset):
                archive.writestr(name, item.text)
            else:
                archive.write(Path(item.path) if isinstance(item, pulumi.FileAsset) else item, name)
    return buffer.getvalue()


# ---- per type ----------------------------------------------------------------------------------


def _read(token: str, **outputs: Any) -> Callable[[Mocks, Inputs, str | None], Created]:
    """The type's read from the registry (READS, as `verify adopt` finds it): its id, and its
    outputs at the JMESPaths given (`{...}`: a format of region, account, id; or a function)."""
    typ, read = TYPES[token], READS[token]

    def read_back(m: Mocks, i: Inputs, _: str | None) -> Created:
        answer = getattr(m.client(typ.service), xform_name(read.op))(**read.request(i))
        found = jmespath.search(read.path(i), answer)
        if not found:
            raise MotoDeployError(f"{token} {typ.physical_name(i)} does not exist")
        own = jmespath.search(read.id, found) if read.id else None
        pid = str(own) if own else typ.import_id_of(i, "")
        values = {k: p(found, m) if callable(p) else p.format(
            region=m.region, account=m.account, id=pid) if "{" in p else jmespath.search(p, found)
            for k, p in outputs.items()}
        values = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}
        return pid, {**({"name": i["name"]} if i.get("name") else {}), **values, "id": pid}

    return read_back


def _queue(m: Mocks, i: Inputs, url: str | None) -> Created:
    sqs = m.client("sqs")
    url = url or sqs.get_queue_url(QueueName=i["name"])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    return url, {"url": url, "arn": arn, "name": url.rsplit("/", 1)[-1], "id": url}


def _redrive(m: Mocks, i: Inputs, _: str | None) -> Created:
    m.client("sqs").get_queue_attributes(QueueUrl=i["queueUrl"], AttributeNames=[
        "RedrivePolicy"])["Attributes"]["RedrivePolicy"]  # KeyError: none
    return i["queueUrl"], {"id": i["queueUrl"]}


def _role_policies(m: Mocks, i: Inputs, *_: Any) -> None:
    iam = m.client("iam")
    for arn in i.get("managedPolicyArns") or []:
        iam.attach_role_policy(RoleName=i["name"], PolicyArn=arn)
    for inline in i.get("inlinePolicies") or []:
        if inline.get("name") and inline.get("policy"):
            iam.put_role_policy(RoleName=i["name"], PolicyName=inline["name"],
                                PolicyDocument=inline["policy"])


def _empty_role(m: Mocks, r: Registered) -> None:
    """IAM refuses to delete a role with policies or instance profiles: remove those first."""
    iam, name = m.client("iam"), r.physical_id
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for policy in page["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=name)


def _policy(m: Mocks, i: Inputs, arn: str | None) -> Created:
    arn = arn or f"arn:aws:iam::{m.account}:policy{i.get('path') or '/'}{i['name']}"
    policy = m.client("iam").get_policy(PolicyArn=arn)["Policy"]
    return arn, {"arn": arn, "name": i["name"], "policyId": policy["PolicyId"],
                 "attachmentCount": policy.get("AttachmentCount", 0), "id": arn}


def _profile_role(m: Mocks, i: Inputs, *_: Any) -> None:
    iam, name = m.client("iam"), i["name"]
    roles = {r["RoleName"] for r in
             iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]}
    for role in roles - {i.get("role")}:
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
    if i.get("role") and i["role"] not in roles:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=i["role"])


def _empty_profile(m: Mocks, r: Registered) -> None:
    _profile_role(m, {"name": r.physical_id})


def _function_code(m: Mocks, logical: str, i: Inputs, creating: bool) -> Inputs:
    return {**i, "code": {"zipFile": archive_bytes(i["code"], m.code_base)}}


def _function(m: Mocks, i: Inputs, _: str | None) -> Created:
    fn = m.client("lambda").get_function_configuration(FunctionName=i["name"])
    arn, version, name = fn["FunctionArn"], fn.get("Version", "$LATEST"), i["name"]
    invoke = f"arn:aws:apigateway:{m.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
    outputs = {"arn": arn, "name": name, "invokeArn": invoke, "qualifiedArn": f"{arn}:{version}",
               "qualifiedInvokeArn": invoke.replace(arn, f"{arn}:{version}"),
               "codeSha256": fn["CodeSha256"], "sourceCodeSize": fn["CodeSize"],
               "version": version, "lastModified": fn["LastModified"],
               "architectures": fn.get("Architectures", ["x86_64"]), "id": name}
    if not i.get("sourceCodeHash"):
        outputs["sourceCodeHash"] = fn["CodeSha256"]
    return name, outputs


def _function_update_code(m: Mocks, i: Inputs, name: str | None, _: Any, creating: bool) -> None:
    if not creating:
        m.client("lambda").update_function_code(
            FunctionName=i["name"], ZipFile=i["code"]["zipFile"],
            **{k: v for k, v in (("Architectures", i.get("architectures")),
                                 ("Publish", i.get("publish"))) if v is not None})


def _statement_id(m: Mocks, logical: str, i: Inputs, creating: bool) -> Inputs:
    return {**i, "statementId": i.get("statementId") or auto_name(logical)}


def _permission(m: Mocks, i: Inputs, _: str | None) -> Created:
    policy = json.loads(m.client("lambda").get_policy(FunctionName=i["function"])["Policy"])
    if i["statementId"] not in {s.get("Sid") for s in policy.get("Statement", [])}:
        raise MotoDeployError(f"no statement {i['statementId']} on {i['function']}")
    return i["statementId"], {"statementId": i["statementId"]}


def _parameter_value(m: Mocks, logical: str, i: Inputs, creating: bool) -> Inputs:
    i = {**i, "name": i.get("name") or logical}
    return {k: v for k, v in i.items() if k != "tags"} if i.get("overwrite") else i


def _document_default(m: Mocks, i: Inputs, name: str | None, _: Any, creating: bool) -> None:
    if not creating:
        ssm = m.client("ssm")
        latest = ssm.describe_document(Name=i["name"])["Document"]["LatestVersion"]
        with contextlib.suppress(ClientError):
            ssm.update_document_default_version(Name=i["name"], DocumentVersion=latest)


def _target_id(m: Mocks, logical: str, i: Inputs, creating: bool) -> Inputs:
    return {**i, "targetId": i.get("targetId") or auto_name(logical)}


def _retention(m: Mocks, i: Inputs, name: str | None, _: Any, creating: bool) -> None:
    logs = m.client("logs")
    if i.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=i["name"],
                                  retentionInDays=int(i["retentionInDays"]))
    elif not creating:
        logs.delete_retention_policy(logGroupName=i["name"])


def _template_default(m: Mocks, i: Inputs, tid: str | None, _: Any, creating: bool) -> None:
    if creating or tid is None:
        return
    ec2 = m.client("ec2")
    latest = ec2.describe_launch_templates(LaunchTemplateIds=[tid])["LaunchTemplates"][0][
        "LatestVersionNumber"]
    ec2.modify_launch_template(LaunchTemplateId=tid, DefaultVersion=str(latest))
    if i.get("tags"):
        ec2.create_tags(Resources=[tid], Tags=[{"Key": k, "Value": str(v)}
                                               for k, v in i["tags"].items()])


def _group_template(m: Mocks, logical: str, i: Inputs, creating: bool) -> Inputs:
    """A launch template named by its id carries no name (AWS takes one or the other)."""
    i = dict(i)
    if (i.get("launchTemplate") or {}).get("id"):
        i["launchTemplate"] = {k: v for k, v in i["launchTemplate"].items() if k != "name"}
    mixed = i.get("mixedInstancesPolicy")
    spec = ((mixed or {}).get("launchTemplate") or {}).get("launchTemplateSpecification")
    if spec and spec.get("launchTemplateId"):
        spec = {k: v for k, v in spec.items() if k != "launchTemplateName"}
        i["mixedInstancesPolicy"] = {**mixed, "launchTemplate": {
            **mixed["launchTemplate"], "launchTemplateSpecification": spec}}
    return i


def _group_side(m: Mocks, i: Inputs, name: str | None, _: Any, creating: bool) -> None:
    autoscaling, name = m.client("autoscaling"), i["name"]
    if i.get("enabledMetrics"):
        autoscaling.enable_metrics_collection(
            AutoScalingGroupName=name, Metrics=list(i["enabledMetrics"]),
            Granularity=i.get("metricsGranularity") or "1Minute")
    if i.get("suspendedProcesses"):
        autoscaling.suspend_processes(AutoScalingGroupName=name,
                                      ScalingProcesses=list(i["suspendedProcesses"]))
    if i.get("tags") and not creating:
        autoscaling.create_or_update_tags(Tags=[
            {"Key": t["key"], "Value": str(t["value"]), "ResourceId": name,
             "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
             "ResourceType": "auto-scaling-group"} for t in i["tags"]])


def _desired_vcpus(m: Mocks, logical: str, i: Inputs, creating: bool) -> Inputs:
    resources = i.get("computeResources")
    if creating and resources and resources.get("desiredVcpus") is None:
        return {**i, "computeResources": {**resources,
                                          "desiredVcpus": resources.get("minVcpus", 0)}}
    return i


def _disable(update: str, key: str) -> Callable[[Mocks, Registered], None]:
    """AWS deletes a Batch job queue or compute environment only once it is DISABLED."""
    return lambda m, r: getattr(m.client("batch"), update)(
        **{key: r.physical_id, "state": "DISABLED"})


def _job_definition(m: Mocks, i: Inputs) -> Created:
    """The ACTIVE revision registered from exactly this request (its digest in JOB_SPEC_TAG),
    registered when there is none; every other ACTIVE revision of the name deregistered, as
    Pulumi's update of a JobDefinition does. So an up run again (after a kill, or with nothing
    changed) leaves one ACTIVE revision, never a pile."""
    typ = TYPES["aws:batch/jobDefinition:JobDefinition"]
    batch, request = m.client("batch"), typ.request(typ.create, i)
    spec = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    active = batch.describe_job_definitions(jobDefinitionName=i["name"], status="ACTIVE")[
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
    return arn, {"arn": arn, "arnPrefix": arn.rsplit(":", 1)[0], "revision": revision,
                 "name": i["name"], "id": arn}


HOOKS: dict[str, Hooks] = {
    "aws:sqs/queue:Queue": Hooks(_queue),
    "aws:sqs/redrivePolicy:RedrivePolicy": Hooks(_redrive),
    "aws:iam/role:Role": Hooks(
        _read("aws:iam/role:Role", arn="Arn", uniqueId="RoleId", createDate="CreateDate"),
        side=_role_policies, before_delete=_empty_role),
    "aws:iam/rolePolicy:RolePolicy": Hooks(_read("aws:iam/rolePolicy:RolePolicy")),
    "aws:iam/policy:Policy": Hooks(_policy),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": Hooks(
        _read("aws:iam/rolePolicyAttachment:RolePolicyAttachment")),
    "aws:iam/instanceProfile:InstanceProfile": Hooks(_read(
        "aws:iam/instanceProfile:InstanceProfile", arn="Arn", uniqueId="InstanceProfileId",
        createDate="CreateDate"), side=_profile_role,
                                                     before_delete=_empty_profile),
    "aws:lambda/function:Function": Hooks(_function, _function_code, _function_update_code),
    "aws:lambda/permission:Permission": Hooks(_permission, _statement_id),
    "aws:ssm/parameter:Parameter": Hooks(_read(
        "aws:ssm/parameter:Parameter", version="Version", type="Type", arn=lambda f, m: f.get(
            "ARN") or f"arn:aws:ssm:{m.region}:{m.account}:parameter/{f['Name'].lstrip('/')}"),
        _parameter_value),
    "aws:ssm/document:Document": Hooks(_read(
        "aws:ssm/document:Document", arn="arn:aws:ssm:{region}:{account}:document/{id}",
        hash="Hash", hashType="HashType", latestVersion="LatestVersion", status="Status",
        defaultVersion="DefaultVersion", documentVersion="DocumentVersion", owner="Owner",
        schemaVersion="SchemaVersion", platformTypes="PlatformTypes"), side=_document_default,
                                       unchanged=("DuplicateDocumentContent",)),
    "aws:cloudwatch/eventRule:EventRule": Hooks(_read("aws:cloudwatch/eventRule:EventRule",
                                                      arn="Arn", state="State")),
    "aws:cloudwatch/eventTarget:EventTarget": Hooks(_read(
        "aws:cloudwatch/eventTarget:EventTarget", targetId="Id"), _target_id),
    "aws:cloudwatch/metricAlarm:MetricAlarm": Hooks(_read(
        "aws:cloudwatch/metricAlarm:MetricAlarm", arn="AlarmArn")),
    "aws:cloudwatch/logGroup:LogGroup": Hooks(_read(  # Pulumi's ARN has no `:*`
        "aws:cloudwatch/logGroup:LogGroup", arn=lambda f, m: f["arn"].removesuffix(":*")),
        side=_retention),
    "aws:ec2/launchTemplate:LaunchTemplate": Hooks(_read(
        "aws:ec2/launchTemplate:LaunchTemplate", name="LaunchTemplateName",
        latestVersion="LatestVersionNumber", defaultVersion="DefaultVersionNumber",
        arn="arn:aws:ec2:{region}:{account}:launch-template/{id}"), side=_template_default),
    "aws:autoscaling/group:Group": Hooks(_read(
        "aws:autoscaling/group:Group", arn="AutoScalingGroupARN",
        desiredCapacity="DesiredCapacity"), _group_template, _group_side),
    "aws:autoscaling/policy:Policy": Hooks(_read(
        "aws:autoscaling/policy:Policy", arn="PolicyARN")),
    "aws:autoscaling/lifecycleHook:LifecycleHook": Hooks(
        _read("aws:autoscaling/lifecycleHook:LifecycleHook")),
    "aws:batch/computeEnvironment:ComputeEnvironment": Hooks(
        _read("aws:batch/computeEnvironment:ComputeEnvironment", arn="computeEnvironmentArn",
              ecsClusterArn="ecsClusterArn", status="status", statusReason="statusReason",
              state="state"), _desired_vcpus,
        before_delete=_disable("update_compute_environment", "computeEnvironment")),
    "aws:batch/jobQueue:JobQueue": Hooks(
        _read("aws:batch/jobQueue:JobQueue", arn="jobQueueArn", name="jobQueueName"),
        before_delete=_disable("update_job_queue", "jobQueue")),
    "aws:batch/jobDefinition:JobDefinition": Hooks(_read(
        "aws:batch/jobDefinition:JobDefinition", arn="jobDefinitionArn", revision="revision",
        arnPrefix=lambda f, m: f["jobDefinitionArn"].rsplit(":", 1)[0]), apply=_job_definition),
}

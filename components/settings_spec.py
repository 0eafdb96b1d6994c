"""The one table of the stack settings: every key with its type, default, bounds and words.

`Pulumi.yaml`'s `config:` block is generated from this table (`python -m
components.settings_spec --write`; a test fails when the file differs), and
`components/settings.py` takes each key's bounds and choices from here. To add a setting:
add a `Key` to `GLOBAL` (or a field to `WORKER_FIELDS`), regenerate Pulumi.yaml, and read it
where it is used.

Worker types are data: the list `workerTypes` and, per type, `<type><Field>`; a type that
does not set a field gets `workerDefault<Field>`. The built-in types (`BUILTIN_TYPES`) state
only what differs from those defaults.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from components.aws_limits import SQS_MAX_VISIBILITY_S
from components.stack_output import VIDEO_MODES

PROJECT = "academy-workers"
WORKER_TYPES_KEY = "workerTypes"
WORKER_DEFAULT = "workerDefault"  # `workerDefault<Field>`: what a type that sets no key gets
WORKER_TYPE_NAME = r"[a-z][a-z0-9]{0,15}"
BACKLOG_SOURCES = ("sqs", "api")
ARCHITECTURES = ("arm64", "x86_64")
AL2023_AMI = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"

Type = Literal["string", "integer", "boolean", "array"]  # Pulumi.yaml's types; arrays of strings


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()  # a key the user must set (or a worker field only a type sets)


@dataclass(frozen=True)
class Key:
    """One setting (or, in WORKER_FIELDS, one field `<type><Field>` / `workerDefault<Field>`)."""

    name: str
    type: Type
    description: str
    default: Any = NO_DEFAULT
    bounds: tuple[int, int] | None = None  # integers: the least and the most accepted
    choices: tuple[str, ...] = ()  # strings: the values accepted, the first the fallback
    secret: bool = False


URL_FORM = "scheme://host[:port][/path], no query, fragment or user info."

GLOBAL: tuple[Key, ...] = (
    Key(WORKER_TYPES_KEY, "array",
        "The worker types, each with its queue, DLQ and (unless it runs on Batch) fleet and "
        "publisher target. Names: lower-case letters and digits, a letter first, at most 16.",
        ["ai", "messaging", "video"]),
    Key("videoMode", "string",
        "'asg' (every type on an Auto Scaling group fed by SQS) or 'batch' (the type with "
        "<type>RunsOnBatch on AWS Batch). Named after video, the type that runs on Batch. Where "
        "NEW work of that type goes (the dispatch parameter /<namePrefix>/workers/<type>/"
        "dispatch).", "batch", choices=VIDEO_MODES),
    Key("videoDrain", "boolean",
        "While switching videoMode, keep the other mode's path of the Batch-capable type (its "
        "fleet, or its Batch environment) declared and working until it is empty; set it back "
        "to false to retire that path (verify preflight refuses a retirement that would lose "
        "work). Refused when no type has <type>RunsOnBatch.", False),
    Key("namePrefix", "string",
        "Prefix of every physical name (queues, groups, function, Batch, parameters).",
        "academy"),
    Key("vpcId", "string", "The existing VPC the fleets and Batch run in."),
    Key("subnetIds", "array",
        "Existing subnets for the fleets and the Batch compute environment, each once (an Auto "
        "Scaling group takes them as one comma-separated string of at most 5000 characters)."),
    Key("securityGroupIds", "array",
        "Existing security groups for worker instances and Batch, each once, at most 16 "
        "(security groups per network interface)."),
    Key("dlqMaxReceiveCount", "integer",
        "Receives before a message moves to its dead-letter queue.", 3, bounds=(1, 1000)),
    Key("internalApiKey", "string",
        "X-Internal-Key of the internal backlog API. At least 16 printable ASCII characters, no "
        "spaces (it travels in an HTTP header). Set with: pulumi config set --secret "
        "internalApiKey VALUE. Stored in an SSM SecureString, never in plaintext.", secret=True),
    Key("publisherSchedule", "string", "EventBridge schedule of the backlog publisher.",
        "rate(1 minute)"),
    Key("backlogApiBaseUrl", "string",
        "Base URL the publisher calls for the DB video backlog (empty = SQS counts only): "
        + URL_FORM, ""),
    Key("backlogApiTimeoutSeconds", "integer",
        "Timeout of the publisher's backlog API call; the Lambda timeout is derived from it.",
        3, bounds=(1, 20)),
    Key("backlogApiMaxCount", "integer",
        "Largest DB backlog count the publisher believes; an answer above it (or not a JSON "
        "integer >= 0) falls back to the SQS count, with the reason.", 100000,
        bounds=(1, 10_000_000)),
    Key("videoBatchComputeEnvName", "string",
        "Name of the Batch compute environment (a new name replaces it).",
        "academy-video-batch-ce"),
    Key("videoBatchImage", "string",
        "Container image of the video transcode job; required when videoMode is batch or "
        "videoDrain keeps Batch (empty = not set). Yours only: find it with aws ecr "
        "describe-repositories --query 'repositories[].repositoryUri'.", ""),
    Key("videoBatchVcpus", "integer", "vCPUs of one video job.", 2, bounds=(1, 256)),
    Key("videoBatchMemoryMib", "integer", "Memory (MiB) of one video job.", 4096,
        bounds=(128, 1048576)),
    Key("videoBatchMaxVcpus", "integer",
        "Upper bound of the compute environment (it scales down to 0).", 64,
        bounds=(1, 100000)),
    Key("videoBatchSpot", "boolean",
        "Spot instead of on-demand capacity (a Spot reclaim is retried as an infrastructure "
        "failure).", False),
    Key("videoBatchRunnableTimeoutSeconds", "integer",
        "A job RUNNABLE this long (no capacity, misconfiguration) is cancelled by the job queue.",
        3600, bounds=(600, 86400)),
    Key("videoBatchRetryAttempts", "integer",
        "Attempts of a video job; retries happen only on host or Spot termination, never on an "
        "application error.", 2, bounds=(1, 10)),
    Key("apiServerName", "string", "server_name of the API's nginx.", "api.hakwonplus.com"),
    Key("apiPublicBaseUrl", "string",
        "Public base URL of the API (Cloudflare -> nginx -> gunicorn): " + URL_FORM,
        "https://api.hakwonplus.com"),
    Key("apiLocalBaseUrl", "string",
        "Base URL of the API as seen on an API host itself (gunicorn), for LOCAL checks: "
        + URL_FORM, "http://127.0.0.1:8000"),
    Key("apiUpstream", "string", "gunicorn address nginx proxies to.", "127.0.0.1:8000"),
    Key("apiListenPort", "integer", "Port nginx listens on.", 80, bounds=(1, 65535)),
    Key("apiClientMaxBodySize", "string",
        "nginx client_max_body_size on the API (uploads pass through it; nginx's own default, "
        "1m, would refuse a video).", "2g"),
    Key("apiHostInstanceIds", "array",
        "EC2 instance ids of the API hosts that get the nginx config (or use apiHostTag).", []),
    Key("apiHostTag", "string",
        "Tag 'Key=Value' selecting the API hosts (instead of or besides instance ids).", ""),
    Key("apiHostSsh", "array",
        "API hosts verify may reach over SSH ('user@host[:port]'); hosts with instance ids are "
        "reached through SSM.", []),
    Key("nginxConfigPath", "string",
        "Where the rendered server config is installed on an API host.",
        "/etc/nginx/conf.d/academy-api.conf"),
    Key("nginxReloadCommand", "string",
        "Reloads nginx on an API host after a successful nginx -t.", "systemctl reload nginx"),
    Key("nginxTestCommand", "string",
        "Validates the whole nginx configuration on an API host.", "nginx -t"),
    Key("nginxRuntimeDir", "string",
        "Sandbox only. A directory nginx runs from (pid, logs, temp paths); empty on real "
        "hosts.", ""),
)

# Per worker type: `<type><Field>`, else `workerDefault<Field>` (the default below).
WORKER_FIELDS: tuple[Key, ...] = (
    Key("MinSize", "integer", "Least instances of the fleet (0 needs WakeFromZero).", 1,
        bounds=(0, 1000)),
    Key("MaxSize", "integer", "Most instances of the fleet.", 10, bounds=(1, 1000)),
    Key("InstanceTypes", "array",
        "Instance types 'family.size' (e.g. c7g.large), each once, at most 40 (first is the "
        "launch template's; the rest are overrides / Batch types).", ["c7g.large"]),
    Key("Architecture", "string", "arm64 or x86_64; must match the instance types.", "arm64",
        choices=ARCHITECTURES),
    Key("ImageId", "string",
        "AMI of the worker instances: an id (ami-...) or resolve:ssm:<parameter> (use "
        "...-x86_64 for x86_64).", AL2023_AMI.format(arch="arm64")),
    Key("TargetBacklogPerInstance", "integer",
        "Target tracking value: backlog messages (or videos) per in-service instance.", 20,
        bounds=(1, 10000)),
    Key("MaxJobSeconds", "integer",
        "Longest job this worker type may run (also the Batch job timeout of the type on "
        "Batch).", 900, bounds=(1, 86400)),
    Key("VisibilityTimeoutSeconds", "integer", "Queue visibility timeout; must cover "
        "MaxJobSeconds.", 1200, bounds=(0, SQS_MAX_VISIBILITY_S)),
    Key("ManagedPolicyArns", "array", "Extra managed policies the workers need.", []),
    Key("InstanceWarmupSeconds", "integer",
        "Estimated instance warmup of the target-tracking policy.", 180, bounds=(0, 3600)),
    Key("CountInFlight", "boolean",
        "Count in-flight (received, not deleted) messages toward the backlog.", True),
    Key("CountDelayed", "boolean", "Count delayed messages toward the backlog.", False),
    Key("WakeFromZero", "boolean",
        "Add an alarm that starts one instance when backlog > 0 and none is in service "
        "(required for MinSize 0).", False),
    Key("MetricNamespace", "string", "CloudWatch namespace of the backlog metric.",
        "Academy/Workers"),
    Key("MetricName", "string", "CloudWatch name of the backlog metric.", "QueueDepth"),
    # What the type is: in batch mode it runs on AWS Batch (at most one type: one Batch
    # environment); its backlog is counted in the DB through the internal API ("api") or in
    # SQS; its queue is kept by AWS when the program stops declaring it.
    Key("RunsOnBatch", "boolean",
        "In batch mode (videoMode) this type runs on AWS Batch instead of a fleet, and is not "
        "published. At most one type.", False),
    Key("BacklogSource", "string",
        "Where the backlog is counted: 'sqs' (the queue) or 'api' (the DB through the internal "
        "API at backlogApiBaseUrl, SQS the fallback). At most one type 'api'.", "sqs",
        choices=BACKLOG_SOURCES),
    Key("RetainQueue", "boolean",
        "Keep the queue and its DLQ in AWS (retain_on_delete) when the program stops declaring "
        "them, so no job is dropped.", False),
)
# Per type only, no workerDefault: the metric's WorkerType dimension (default: the name
# capitalised).
LABEL = Key("Label", "string",
           "The metric's WorkerType dimension and the WorkerType tag (default: the name "
           "capitalised).")
TYPE_FIELDS: tuple[Key, ...] = (*WORKER_FIELDS, LABEL)

# The built-in worker types: only what differs from `workerDefault<Field>` (and the label
# where it is not the name capitalised). Their effective values: tests/program/
# test_settings_spec.py.
BUILTIN_TYPES: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "ai": MappingProxyType({"Label": "AI"}),
    "messaging": MappingProxyType({
        "InstanceTypes": ["t4g.small"],
        "MaxJobSeconds": 300,
        "VisibilityTimeoutSeconds": 600,
        "InstanceWarmupSeconds": 120,
    }),
    "video": MappingProxyType({
        "MaxSize": 20,
        "InstanceTypes": ["c7g.xlarge", "c6g.xlarge"],
        "TargetBacklogPerInstance": 1,
        "MaxJobSeconds": 14400,
        "VisibilityTimeoutSeconds": 15300,  # covers the 4 h transcode (docs/INCIDENTS.md #7)
        "InstanceWarmupSeconds": 300,
        "MetricNamespace": "Academy/VideoProcessing",
        "MetricName": "BacklogCount",
        "RunsOnBatch": True,
        "BacklogSource": "api",
        "RetainQueue": True,
    }),
})

GLOBAL_BY_NAME: Mapping[str, Key] = MappingProxyType({k.name: k for k in GLOBAL})
FIELD_BY_NAME: Mapping[str, Key] = MappingProxyType({f.name: f for f in TYPE_FIELDS})
GLOBAL_KEYS: tuple[str, ...] = tuple(k.name for k in GLOBAL if not k.secret)
SECRET_KEYS: tuple[str, ...] = tuple(k.name for k in GLOBAL if k.secret)
WORKER_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in WORKER_FIELDS)
TYPE_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in TYPE_FIELDS)
LABEL_FIELD = LABEL.name
_TYPED_KEY = re.compile(f"({WORKER_TYPE_NAME})({'|'.join(TYPE_FIELD_NAMES)})")


def worker_keys(worker_type: str) -> tuple[str, ...]:
    return tuple(worker_type + f for f in TYPE_FIELD_NAMES)


def all_keys(worker_types: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every non-secret key the program reads for these worker types."""
    defaults = tuple(WORKER_DEFAULT + f for f in WORKER_FIELD_NAMES)
    per_worker = tuple(k for wt in worker_types for k in worker_keys(wt))
    return GLOBAL_KEYS + defaults + per_worker


def known_keys() -> set[str]:
    """Keys never refused as unknown: every key of the built-in types too, whether or not
    `workerTypes` lists them (a type taken out of the list keeps its keys)."""
    return set(all_keys(tuple(BUILTIN_TYPES))) | set(SECRET_KEYS)


def spec_of(key: str) -> Key:
    """The Key a config key is read by: a global, `workerDefault<Field>` or `<type><Field>`."""
    if key in GLOBAL_BY_NAME:
        return GLOBAL_BY_NAME[key]
    if key.startswith(WORKER_DEFAULT) and key[len(WORKER_DEFAULT):] in WORKER_FIELD_NAMES:
        return FIELD_BY_NAME[key[len(WORKER_DEFAULT):]]
    typed = _TYPED_KEY.fullmatch(key)
    if typed is None:
        raise KeyError(key)
    return FIELD_BY_NAME[typed[2]]


def typed_key(key: str) -> tuple[str, str] | None:
    """(type, Field) of a `<type><Field>` key, else None."""
    typed = _TYPED_KEY.fullmatch(key)
    return (typed[1], typed[2]) if typed else None


# --- Pulumi.yaml ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
PULUMI_YAML = ROOT / "Pulumi.yaml"
HEADER = """\
name: academy-workers
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: .venv
description: Queue-driven worker platform of the academy (SQS, worker fleets, backlog \
publisher, AWS Batch for video, nginx config delivery)

# GENERATED from components/settings_spec.py: edit that table, then run
#   python -m components.settings_spec --write
# (a test fails while this file differs). Per-stack values: Pulumi.<stack>.yaml.
# The worker types are the list workerTypes; per type the keys are <workerType><Field>, and a
# type that does not set a field gets workerDefault<Field>. Adding a type is a settings change.
config:
"""


def _declaration(key: Key, default: Any) -> dict[str, Any]:
    decl: dict[str, Any] = {"type": key.type}
    if key.type == "array":
        decl["items"] = {"type": "string"}
    if key.secret:
        decl["secret"] = True
    if default is not NO_DEFAULT:
        decl["default"] = default
    decl["description"] = key.description
    return decl


def _sections() -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(comment, declarations) in Pulumi.yaml's order."""
    sections = [
        ("", {k.name: _declaration(k, k.default) for k in GLOBAL}),
        ("what a worker type gets for a field it does not set (<type><Field>)",
         {WORKER_DEFAULT + f.name: _declaration(f, f.default) for f in WORKER_FIELDS}),
    ]
    for wt, own in BUILTIN_TYPES.items():
        sections.append((f"{wt} workers: what differs from workerDefault",
                         {wt + f: _declaration(FIELD_BY_NAME[f], v) for f, v in own.items()}))
    return sections


def declarations() -> dict[str, dict[str, Any]]:
    """Pulumi.yaml's `config:` as the table makes it: key -> {type, default, ...}."""
    return {name: decl for _, decls in _sections() for name, decl in decls.items()}


def pulumi_yaml() -> str:
    """The whole Pulumi.yaml: the project header and the generated `config:` block."""
    lines: list[str] = []
    for comment, decls in _sections():
        if comment:
            lines.append(f"  # --- {comment} ---")
        for name, decl in decls.items():
            lines.append(f"  {name}:")
            for field_name, value in decl.items():
                # JSON is YAML: every value and description is written as JSON.
                text = ("{type: string}" if field_name == "items" else
                        value if field_name == "type" else json.dumps(value))
                lines.append(f"    {field_name}: {text}")
    return HEADER + "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """`--write`: (re)writes Pulumi.yaml; `--check`: exit 1 when it differs from the table."""
    if argv not in (["--write"], ["--check"]):
        print("usage: python -m components.settings_spec --write | --check", file=sys.stderr)
        return 2
    text = pulumi_yaml()
    current = PULUMI_YAML.read_text(encoding="utf-8") if PULUMI_YAML.exists() else ""
    if argv == ["--check"]:
        if current != text:
            print("Pulumi.yaml differs from components/settings_spec.py: run "
                  "python -m components.settings_spec --write", file=sys.stderr)
            return 1
        return 0
    if current != text:
        PULUMI_YAML.write_text(text, encoding="utf-8")
        print("Pulumi.yaml written")
    else:
        print("Pulumi.yaml is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Stack settings: parsed once from the stack's config into a frozen, typed object.

The schema (keys, types, defaults, descriptions) lives in `Pulumi.yaml`; per-stack values
in `Pulumi.<stack>.yaml`. Every bad value is reported with its key, the value and what is
allowed, all at once, before any resource is declared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from components.metric_spec import BacklogMetricSpec

PROJECT = "academy-workers"
WORKER_TYPES: tuple[str, ...] = ("ai", "messaging", "video")
WORKER_LABELS: Mapping[str, str] = MappingProxyType(
    {"ai": "AI", "messaging": "Messaging", "video": "Video"}
)
VIDEO_MODES = ("asg", "batch")
ARCHITECTURES = ("arm64", "x86_64")
SQS_MAX_VISIBILITY_S = 43200  # SQS hard limit: 12 hours
LIFECYCLE_HEARTBEAT_MAX_S = 7200  # EC2 Auto Scaling limit for a lifecycle hook's heartbeat
BACKLOG_API_PATH = "/api/v1/internal/video/backlog-count/"
INTERNAL_KEY_HEADER = "X-Internal-Key"

# Per-worker-type keys are `<workerType><Field>`, e.g. `aiMinSize`, `videoMaxJobSeconds`.
WORKER_FIELDS: tuple[str, ...] = (
    "MinSize",
    "MaxSize",
    "InstanceTypes",
    "Architecture",
    "ImageId",
    "TargetBacklogPerInstance",
    "MaxJobSeconds",
    "VisibilityTimeoutSeconds",
    "ManagedPolicyArns",
    "InstanceWarmupSeconds",
    "CountInFlight",
    "CountDelayed",
    "WakeFromZero",
    "MetricNamespace",
    "MetricName",
)
GLOBAL_KEYS: tuple[str, ...] = (
    "videoMode",
    "namePrefix",
    "vpcId",
    "subnetIds",
    "securityGroupIds",
    "dlqMaxReceiveCount",
    "publisherSchedule",
    "backlogApiBaseUrl",
    "backlogApiTimeoutSeconds",
    "backlogApiMaxCount",
    "videoBatchComputeEnvName",
    "videoBatchImage",
    "videoBatchVcpus",
    "videoBatchMemoryMib",
    "videoBatchMaxVcpus",
    "videoBatchSpot",
    "videoBatchRunnableTimeoutSeconds",
    "videoBatchRetryAttempts",
    "apiServerName",
    "apiPublicBaseUrl",
    "apiLocalBaseUrl",
    "apiUpstream",
    "apiListenPort",
    "apiClientMaxBodySize",
    "apiHostInstanceIds",
    "apiHostTag",
    "apiHostSsh",
    "nginxConfigPath",
    "nginxReloadCommand",
    "nginxTestCommand",
    "nginxRuntimeDir",
)
SECRET_KEYS: tuple[str, ...] = ("internalApiKey",)


def all_keys() -> tuple[str, ...]:
    """Every non-secret key the program reads (Pulumi.yaml must declare exactly these)."""
    per_worker = tuple(wt + field for wt in WORKER_TYPES for field in WORKER_FIELDS)
    return GLOBAL_KEYS + per_worker


class SettingsError(ValueError):
    """One or more stack settings are wrong; the message lists every problem."""

    def __init__(self, problems: list[str], stack: str) -> None:
        self.problems = problems
        where = f"Pulumi.{stack}.yaml" if stack else "the stack config"
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{len(problems)} invalid stack setting(s) in {where}:\n{lines}\n"
            f"Fix them with `pulumi config set <key> <value>` or in {where}."
        )


@dataclass(frozen=True)
class WorkerSettings:
    worker_type: str
    label: str
    min_size: int
    max_size: int
    instance_types: tuple[str, ...]
    architecture: str
    image_id: str
    target_backlog_per_instance: int
    max_job_seconds: int
    visibility_timeout_seconds: int
    managed_policy_arns: tuple[str, ...]
    instance_warmup_seconds: int
    count_in_flight: bool
    count_delayed: bool
    wake_from_zero: bool
    metric: BacklogMetricSpec
    queue_name: str
    dlq_name: str
    group_name: str

    @property
    def lifecycle_heartbeat_seconds(self) -> int:
        """Heartbeat of the termination hook: the job length, capped by the AWS limit."""
        return min(self.max_job_seconds, LIFECYCLE_HEARTBEAT_MAX_S)


@dataclass(frozen=True)
class BatchSettings:
    compute_environment_name: str
    job_queue_name: str
    job_definition_name: str
    log_group_name: str
    image: str
    vcpus: int
    memory_mib: int
    max_vcpus: int
    spot: bool
    instance_types: tuple[str, ...]
    architecture: str
    job_timeout_seconds: int
    runnable_timeout_seconds: int
    retry_attempts: int


@dataclass(frozen=True)
class PublisherSettings:
    function_name: str
    schedule: str
    backlog_api_base_url: str
    api_timeout_seconds: int
    max_backlog_count: int  # a DB count above this is not believed (falls back to SQS)
    key_parameter_name: str

    @property
    def lambda_timeout_seconds(self) -> int:
        """Covers the API call, its SQS fallback and the publish, with room to spare."""
        return max(30, self.api_timeout_seconds * 3 + 15)


@dataclass(frozen=True)
class ApiSettings:
    server_name: str
    public_base_url: str
    local_base_url: str
    upstream: str
    listen_port: int
    client_max_body_size: str
    host_instance_ids: tuple[str, ...]
    host_tag: tuple[str, str] | None
    host_ssh: tuple[str, ...]  # "user@host[:port]": hosts verify reaches over SSH
    nginx_config_path: str
    nginx_reload_command: str
    nginx_test_command: str
    nginx_runtime_dir: str  # set only in the sandbox: nginx runs from its own directory


@dataclass(frozen=True)
class Settings:
    stack: str
    mode: str
    name_prefix: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    dlq_max_receive_count: int
    workers: Mapping[str, WorkerSettings]
    batch: BatchSettings
    publisher: PublisherSettings
    api: ApiSettings

    @property
    def fleet_types(self) -> tuple[str, ...]:
        """Worker types that run as an Auto Scaling group in this mode."""
        return tuple(wt for wt in WORKER_TYPES if wt != "video" or self.mode == "asg")

    @property
    def published_types(self) -> tuple[str, ...]:
        """Worker types whose backlog the publisher publishes: exactly the fleets."""
        return self.fleet_types

    def uses_backlog_api(self, worker_type: str) -> bool:
        """Video counts videos in the DB (through the internal API) when one is configured."""
        return worker_type == "video" and bool(self.publisher.backlog_api_base_url)


T = TypeVar("T")


class _Reader:
    """Reads raw string config values, converting each and collecting every problem."""

    def __init__(self, raw: Mapping[str, str | None]) -> None:
        self.raw = raw
        self.problems: list[str] = []

    def _get(self, key: str, convert: Callable[[str], T], allowed: str, fallback: T) -> T:
        value = self.raw.get(key)
        if value is None:
            self.problems.append(f"{key} is not set: expected {allowed}")
            return fallback
        try:
            return convert(value)
        except (ValueError, TypeError):
            self.problems.append(f"{key} = {value!r}: expected {allowed}")
            return fallback

    def text(self, key: str, pattern: str | None = None, allowed: str = "a string") -> str:
        value = self._get(key, str, allowed, "")
        if pattern is not None and key in self.raw and not re.fullmatch(pattern, value):
            self.problems.append(f"{key} = {value!r}: expected {allowed}")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        allowed = f"an integer from {low} to {high}"
        value = self._get(key, _to_int, allowed, low)
        if key in self.raw and not low <= value <= high and not self._failed(key):
            self.problems.append(f"{key} = {value!r}: expected {allowed}")
        return value

    def boolean(self, key: str) -> bool:
        return self._get(key, _to_bool, "true or false", False)

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        allowed = " or ".join(repr(o) for o in options)
        value = self._get(key, str, allowed, options[0])
        if key in self.raw and value not in options:
            self.problems.append(f"{key} = {value!r}: expected {allowed}")
            return options[0]
        return value

    def strings(
        self, key: str, pattern: str, allowed: str, min_items: int = 0
    ) -> tuple[str, ...]:
        what = f"a list of {allowed}" + (f" (at least {min_items})" if min_items else "")
        items = self._get(key, _to_str_list, what, ())
        bad = [i for i in items if not re.fullmatch(pattern, i)]
        if bad:
            self.problems.append(f"{key} has {bad!r}: expected {what}")
        elif key in self.raw and len(items) < min_items and not self._failed(key):
            self.problems.append(f"{key} = {list(items)!r}: expected {what}")
        return items

    def _failed(self, key: str) -> bool:
        return any(p.startswith(f"{key} ") for p in self.problems)


def _to_int(value: str) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(value)
    return int(text)


def _to_bool(value: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(value)


def _to_str_list(value: str) -> tuple[str, ...]:
    items: Any = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(value)
    return tuple(items)


NAME = r"[a-z][a-z0-9-]{0,30}"
AMI = r"ami-[0-9a-f]{8,17}"
ARN = r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}|aws)?:[A-Za-z0-9_+=,.@/:-]+"
INSTANCE_TYPE = r"[a-z][a-z0-9-]*\.[a-z0-9]+"
SCHEDULE = r"rate\((1 minute|([2-9]|[1-9]\d+) minutes)\)|cron\(.+\)"  # EventBridge's grammar
URL = r"https?://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?"
# Graviton (arm64) families carry a "g" right after the generation: c7g, m6gd, t4g, c7gn.
ARM_FAMILY = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)(\.|$)")


def instance_architecture(instance_type: str) -> str:
    """`arm64` for Graviton types or families (a1, and a `g` after the generation: c7g,
    m6gd.large, t4g.small), else `x86_64`."""
    return "arm64" if ARM_FAMILY.match(instance_type.lower()) else "x86_64"


def _worker(r: _Reader, wt: str, prefix: str) -> WorkerSettings:
    def key(field: str) -> str:
        return wt + field

    spec = BacklogMetricSpec(
        namespace=r.text(key("MetricNamespace"), r"[A-Za-z0-9/_.#:-]{1,255}",
                         "a CloudWatch namespace such as 'Academy/Workers'"),
        name=r.text(key("MetricName"), r"[A-Za-z0-9_.-]{1,255}", "a metric name"),
        dimensions=(("WorkerType", WORKER_LABELS[wt]),),
    )
    return WorkerSettings(
        worker_type=wt,
        label=WORKER_LABELS[wt],
        min_size=r.integer(key("MinSize"), 0, 1000),
        max_size=r.integer(key("MaxSize"), 1, 1000),
        instance_types=r.strings(key("InstanceTypes"), INSTANCE_TYPE,
                                 "EC2 instance types such as 'c7g.large'", min_items=1),
        architecture=r.choice(key("Architecture"), ARCHITECTURES),
        image_id=r.text(key("ImageId"), AMI, "an AMI id such as 'ami-0123456789abcdef0'"),
        target_backlog_per_instance=r.integer(key("TargetBacklogPerInstance"), 1, 10000),
        max_job_seconds=r.integer(key("MaxJobSeconds"), 1, 86400),
        visibility_timeout_seconds=r.integer(key("VisibilityTimeoutSeconds"), 0,
                                             SQS_MAX_VISIBILITY_S),
        managed_policy_arns=r.strings(key("ManagedPolicyArns"), ARN, "IAM policy ARNs"),
        instance_warmup_seconds=r.integer(key("InstanceWarmupSeconds"), 0, 3600),
        count_in_flight=r.boolean(key("CountInFlight")),
        count_delayed=r.boolean(key("CountDelayed")),
        wake_from_zero=r.boolean(key("WakeFromZero")),
        metric=spec,
        queue_name=f"{prefix}-{wt}-jobs",
        dlq_name=f"{prefix}-{wt}-jobs-dlq",
        group_name=f"{prefix}-{wt}-worker-asg",
    )


def _check_worker(w: WorkerSettings, runs_as_fleet: bool, problems: list[str]) -> None:
    wt = w.worker_type
    if w.min_size > w.max_size:
        problems.append(
            f"{wt}MinSize = {w.min_size} is greater than {wt}MaxSize = {w.max_size}: "
            f"the minimum must not exceed the maximum"
        )
    if w.visibility_timeout_seconds < w.max_job_seconds:
        problems.append(
            f"{wt}VisibilityTimeoutSeconds = {w.visibility_timeout_seconds} is shorter than "
            f"{wt}MaxJobSeconds = {w.max_job_seconds}: a message would reappear and run twice "
            f"while its job still runs; raise it to at least {w.max_job_seconds} "
            f"(SQS allows up to {SQS_MAX_VISIBILITY_S})"
        )
    if runs_as_fleet and w.min_size == 0 and not w.wake_from_zero:
        problems.append(
            f"{wt}MinSize = 0 with a backlog-per-instance metric and {wt}WakeFromZero = false: "
            f"at 0 instances the metric has no value and the group never wakes; "
            f"set {wt}MinSize >= 1 or {wt}WakeFromZero = true"
        )
    _check_architecture(f"{wt}InstanceTypes", w.instance_types, w.architecture,
                        f"{wt}Architecture", problems)


def _check_architecture(
    types_key: str, types: tuple[str, ...], arch: str, arch_key: str, problems: list[str]
) -> None:
    wrong = [t for t in types if instance_architecture(t) != arch]
    if wrong:
        problems.append(
            f"{types_key} has {wrong!r}, which do not run {arch_key} = {arch!r}: "
            f"use {'Graviton (e.g. c7g.large)' if arch == 'arm64' else 'x86_64'} types"
        )


def parse_settings(raw: Mapping[str, str | None], stack: str) -> Settings:
    """Parses raw config strings (as Pulumi hands them over) into Settings, or raises."""
    r = _Reader(raw)
    known = set(all_keys()) | set(SECRET_KEYS)
    for key in sorted(set(raw) - known):
        close = [k for k in known if k.lower() == key.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else " (misspelt? see Pulumi.yaml)"
        r.problems.append(f"{key} is not a setting of this project{hint}")
    mode = r.choice("videoMode", VIDEO_MODES)
    prefix = r.text("namePrefix", NAME, "lower-case letters, digits and '-'")
    workers = {wt: _worker(r, wt, prefix) for wt in WORKER_TYPES}
    video = workers["video"]
    batch = BatchSettings(
        compute_environment_name=r.text("videoBatchComputeEnvName", r"[A-Za-z0-9_-]{1,128}",
                                        "a Batch compute environment name"),
        job_queue_name=f"{prefix}-video-batch-queue",
        job_definition_name=f"{prefix}-video-batch-jobdef",
        log_group_name=f"/aws/batch/{prefix}-video-worker",
        image=r.text("videoBatchImage", r"\S+", "a container image reference"),
        vcpus=r.integer("videoBatchVcpus", 1, 256),
        memory_mib=r.integer("videoBatchMemoryMib", 128, 1048576),
        max_vcpus=r.integer("videoBatchMaxVcpus", 1, 100000),
        spot=r.boolean("videoBatchSpot"),
        instance_types=video.instance_types,
        architecture=video.architecture,
        job_timeout_seconds=video.max_job_seconds,
        runnable_timeout_seconds=r.integer("videoBatchRunnableTimeoutSeconds", 600, 86400),
        retry_attempts=r.integer("videoBatchRetryAttempts", 1, 10),
    )
    publisher = PublisherSettings(
        function_name=f"{prefix}-worker-queue-depth-metric",
        schedule=r.text("publisherSchedule", SCHEDULE,
                        "'rate(1 minute)', 'rate(N minutes)' with N > 1, or 'cron(...)'"),
        backlog_api_base_url=r.text("backlogApiBaseUrl", f"|{URL}",
                                    "empty or an http(s) base URL").rstrip("/"),
        api_timeout_seconds=r.integer("backlogApiTimeoutSeconds", 1, 20),
        max_backlog_count=r.integer("backlogApiMaxCount", 1, 10_000_000),
        key_parameter_name=f"/{prefix}/workers/internal-api-key",
    )
    tag = r.text("apiHostTag", r"|[^=\s]+=[^=\s]*", "empty or 'Key=Value'")
    api = ApiSettings(
        server_name=r.text("apiServerName", r"[A-Za-z0-9.*_-]+", "a host name"),
        public_base_url=r.text("apiPublicBaseUrl", URL, "an http(s) base URL").rstrip("/"),
        local_base_url=r.text("apiLocalBaseUrl", URL, "an http(s) base URL").rstrip("/"),
        upstream=r.text("apiUpstream", r"[A-Za-z0-9.-]+:\d+", "'host:port'"),
        listen_port=r.integer("apiListenPort", 1, 65535),
        client_max_body_size=r.text("apiClientMaxBodySize", r"\d+[kKmMgG]?",
                                    "an nginx size such as '1m' or '2g'"),
        host_instance_ids=r.strings("apiHostInstanceIds", r"i-[0-9a-f]{8,17}|mi-[0-9a-f]{17}",
                                    "EC2 instance ids"),
        host_tag=tuple(tag.split("=", 1)) if tag else None,  # type: ignore[arg-type]
        host_ssh=r.strings("apiHostSsh", r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:\d{1,5})?",
                           "'user@host[:port]' entries"),
        nginx_config_path=r.text("nginxConfigPath", r"/[^\s']+", "an absolute path"),
        # Substituted into the SSM document's shell script inside single quotes.
        nginx_reload_command=r.text("nginxReloadCommand", r"[^']+", "a command without '"),
        nginx_test_command=r.text("nginxTestCommand", r"[^']+", "a command without '"),
        nginx_runtime_dir=r.text("nginxRuntimeDir", r"|/\S+", "empty or an absolute path"),
    )
    settings = Settings(
        stack=stack,
        mode=mode,
        name_prefix=prefix,
        vpc_id=r.text("vpcId", r"vpc-[0-9a-f]{8,17}", "a VPC id such as 'vpc-0123abcd'"),
        subnet_ids=r.strings("subnetIds", r"subnet-[0-9a-f]{8,17}", "subnet ids", 1),
        security_group_ids=r.strings("securityGroupIds", r"sg-[0-9a-f]{8,17}",
                                     "security group ids", 1),
        dlq_max_receive_count=r.integer("dlqMaxReceiveCount", 1, 1000),
        workers=MappingProxyType(workers),
        batch=batch,
        publisher=publisher,
        api=api,
    )
    problems = r.problems
    if not problems:  # cross-parameter rules only make sense on well-formed values
        for w in workers.values():
            _check_worker(w, w.worker_type in settings.fleet_types, problems)
        if not api.host_instance_ids and api.host_tag is None:
            problems.append(
                "apiHostInstanceIds = [] and apiHostTag = '': the nginx config reaches no "
                "API host; set one of them"
            )
        if batch.vcpus > batch.max_vcpus:
            problems.append(
                f"videoBatchVcpus = {batch.vcpus} exceeds videoBatchMaxVcpus = "
                f"{batch.max_vcpus}: a job could never be placed"
            )
    if problems:
        raise SettingsError(problems, stack)
    return settings


def load_settings() -> Settings:
    """Reads the current stack's config through Pulumi and parses it."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    config = pulumi.Config()
    raw: dict[str, str | None] = {key: config.get(key) for key in all_keys()}
    prefix = f"{PROJECT}:"
    for full in set(CONFIG.get()) | set(get_config_env()):
        key = full[len(prefix):]
        if full.startswith(prefix) and key not in raw and key not in SECRET_KEYS:
            raw[key] = str(config.get(key))
    return parse_settings(raw, pulumi.get_stack())

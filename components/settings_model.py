"""The parsed settings: frozen, typed values and the physical names they give resources.

`components/settings.py` builds them from the config (`parse_settings`); the rules of
`components/settings_rules.py` judge them; the program, verify and the sandbox read them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from components import physical_names as names
from components.aws_limits import LIFECYCLE_HEARTBEAT_MAX_S, NAME_LIMITS
from components.metric_spec import BacklogMetricSpec
from components.settings_spec import ARCHITECTURES, WORKER_DEFAULT
from components.stack_output import VIDEO_MODES

BACKLOG_API_PATH = "/api/v1/internal/video/backlog-count/"
# The videos behind that count, oldest first, with where each was dispatched and since when
# (docs/CONTRACTS.md, "Backlog listing"): verify names the stuck ones.
BACKLOG_LIST_PATH = "/api/v1/internal/video/backlog/"
BACKLOG_LIST_MAX = 500  # videos in one answer at most; `truncated` says when more wait
INTERNAL_KEY_HEADER = "X-Internal-Key"


class SecretText:
    """A secret setting's value: validated with the others, never shown by repr or str."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretText('********')"

    __str__ = __repr__


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
    runs_on_batch: bool  # in batch mode (videoMode) this type runs on AWS Batch
    backlog_source: str  # "api": the DB through the internal API (SQS the fallback); "sqs"
    retain_queue: bool  # its queue and DLQ are kept by AWS (retain_on_delete)

    # The fleet's physical names: the component and the length checks read these.
    @property
    def role_name(self) -> str:
        return names.fleet_role(self.group_name)

    @property
    def profile_name(self) -> str:
        return names.fleet_profile(self.group_name)

    @property
    def template_name(self) -> str:
        return names.fleet_template(self.group_name)

    @property
    def hook_name(self) -> str:
        return names.fleet_hook(self.group_name)

    @property
    def policy_name(self) -> str:
        return names.fleet_policy(self.group_name)

    @property
    def wake_name(self) -> str:
        """The wake-from-zero policy's and alarm's name."""
        return names.fleet_wake(self.group_name)

    @property
    def lifecycle_heartbeat_seconds(self) -> int:
        """Heartbeat of the termination hook: the job length, capped by the AWS limit."""
        return min(self.max_job_seconds, LIFECYCLE_HEARTBEAT_MAX_S)


@dataclass(frozen=True)
class BatchSettings:
    worker_type: str  # the type whose jobs run here (its RunsOnBatch is true)
    compute_environment_name: str
    job_queue_name: str
    job_definition_name: str
    log_group_name: str
    dispatch_parameter_name: str  # SSM: where the API sends the type's new work (both modes)
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
    internal_api_key: SecretText = field(compare=False)

    # Its physical names besides the function's own.
    @property
    def policy_name(self) -> str:
        """The role's one inline policy: verify judges any other on the role a leftover."""
        return names.publisher_policy(self.function_name)

    @property
    def role_name(self) -> str:
        return names.publisher_role(self.function_name)

    @property
    def schedule_name(self) -> str:
        return names.publisher_schedule(self.function_name)

    @property
    def errors_alarm_name(self) -> str:
        return names.publisher_errors_alarm(self.function_name)

    @property
    def log_group_name(self) -> str:
        return names.lambda_log_group(self.function_name)

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
    workers: Mapping[str, WorkerSettings]  # in `workerTypes` order
    batch: BatchSettings | None  # None when no type runs on Batch
    publisher: PublisherSettings
    api: ApiSettings
    # Said at preview, not refused: e.g. an instance type whose size this program does not know.
    warnings: tuple[str, ...] = ()
    # videoDrain: the Batch-capable type's other path (not `mode`'s) stays declared until empty.
    drain: bool = False

    @property
    def worker_types(self) -> tuple[str, ...]:
        return tuple(self.workers)

    def runs_on(self, worker_type: str) -> str:
        """"batch" for the type that runs on AWS Batch in batch mode, else "fleet"."""
        on_batch = self.mode == "batch" and self.workers[worker_type].runs_on_batch
        return "batch" if on_batch else "fleet"

    @property
    def fleet_types(self) -> tuple[str, ...]:
        """Worker types with an Auto Scaling group: those that run on one in this mode, and
        the Batch-capable type while its fleet drains (batch mode and videoDrain)."""
        return tuple(wt for wt in self.workers
                     if self.runs_on(wt) == "fleet" or wt == self.draining_type)

    @property
    def batch_type(self) -> str | None:
        """The worker type running on AWS Batch in this mode, if any."""
        return self.batch.worker_type if self.mode == "batch" and self.batch else None

    @property
    def batch_declared(self) -> bool:
        """The Batch environment exists: batch mode, or asg mode while it drains."""
        return self.batch is not None and (self.mode == "batch" or self.drain)

    @property
    def draining_type(self) -> str | None:
        """The Batch-capable type whose old path (the other mode's) is kept while it drains."""
        return self.batch.worker_type if self.drain and self.batch else None

    @property
    def draining_from(self) -> str | None:
        """The mode whose path drains: the one `mode` is not."""
        if self.draining_type is None:
            return None
        return next(m for m in VIDEO_MODES if m != self.mode)

    @property
    def published_types(self) -> tuple[str, ...]:
        """Worker types whose backlog the publisher publishes: exactly the fleets."""
        return self.fleet_types

    @property
    def retained_types(self) -> tuple[str, ...]:
        return tuple(wt for wt, w in self.workers.items() if w.retain_queue)

    def uses_backlog_api(self, worker_type: str) -> bool:
        """A type whose backlog source is "api" counts in the DB (through the internal API)
        when one is configured; otherwise, and as the fallback, in SQS.

        The one rule of what a fleet's backlog is (the publisher's `use_backlog_api`, the
        output's `backlog_api` and so verify's reference count are built from it): while
        either path of the type drains (videoDrain, either direction), its fleet counts its own
        queue in SQS. The DB counts every video of the type, those on the other path too: in
        batch mode the fleet would hold instances for Batch's videos, in asg mode it would
        scale out for videos still on Batch, which it never receives."""
        return (self.workers[worker_type].backlog_source == "api"
                and bool(self.publisher.backlog_api_base_url)
                and worker_type != self.draining_type)


SHOWN_MAX = 60  # a value longer than this is shown cut, with its length


def shown(value: object) -> str:
    """A value as a problem quotes it: repr, cut when long (a 5,000-digit number, say)."""
    text = repr(value)
    if len(text) <= SHOWN_MAX:
        return text
    return f"{text[:40]}... ({len(str(value))} characters)"


# Graviton (arm64) families carry a "g" right after the generation: c7g, m6gd, t4g, c7gn.
ARM_FAMILY = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)(\.|$)")


def instance_architecture(instance_type: str) -> str:
    """`arm64` for Graviton types or families (a1, and a `g` after the generation: c7g,
    m6gd.large, t4g.small), else `x86_64`."""
    return "arm64" if ARM_FAMILY.match(instance_type.lower()) else "x86_64"


def image_architecture(image_id: str) -> str | None:
    """The architecture an `resolve:ssm:` AMI parameter names (AWS's public ones end in it)."""
    if image_id.startswith("resolve:ssm:"):
        for arch in ARCHITECTURES:
            if image_id.endswith(arch):
                return arch
    return None


def source_key(raw: Mapping[str, str | None], wt: str, field: str) -> str:
    """The type's own key if the stack sets it, else the generic default's key (so a problem
    names the key the value came from)."""
    own = wt + field
    return own if own in raw else WORKER_DEFAULT + field


@dataclass(frozen=True)
class PhysicalName:
    """A name AWS stores and limits in length, and the setting it comes from."""

    what: str  # a key of aws_limits.NAME_LIMITS
    value: str
    key: str

    @property
    def limit(self) -> int:
        return NAME_LIMITS[self.what]


def physical_names(s: Settings) -> tuple[PhysicalName, ...]:
    """Every physical name the program gives a resource in this stack's mode."""
    def p(what: str, value: str) -> PhysicalName:
        return PhysicalName(what, value, "namePrefix")

    found: list[PhysicalName] = []
    for wt, w in s.workers.items():
        found += [p("SQS queue name", w.queue_name), p("SQS queue name", w.dlq_name)]
        if wt in s.fleet_types:
            found += [
                p("Auto Scaling group name", w.group_name),
                p("IAM role name", w.role_name),
                p("IAM instance profile name", w.profile_name),
                p("EC2 launch template name", w.template_name),
                p("lifecycle hook name", w.hook_name),
                p("scaling policy name", w.policy_name),
            ]
            if w.wake_from_zero:
                found += [p("scaling policy name", w.wake_name),
                          p("CloudWatch alarm name", w.wake_name)]
    pub = s.publisher
    found += [
        p("Lambda function name", pub.function_name),
        p("IAM role name", pub.role_name),
        p("IAM inline policy name", pub.policy_name),
        p("EventBridge rule name", pub.schedule_name),
        p("CloudWatch alarm name", pub.errors_alarm_name),
        p("CloudWatch Logs group name", pub.log_group_name),
        p("SSM parameter name", pub.key_parameter_name),
        *([p("SSM parameter name", s.batch.dispatch_parameter_name)] if s.batch else []),
        p("SSM document name", names.nginx_document(s.name_prefix)),
    ]
    targets = int(bool(s.api.host_instance_ids)) + int(s.api.host_tag is not None)
    found += [p("SSM association name", names.nginx_association(s.name_prefix, i))
              for i in range(targets)]
    if s.batch_declared and s.batch is not None:
        b = s.batch
        found += [
            PhysicalName("Batch compute environment name", b.compute_environment_name,
                         "videoBatchComputeEnvName"),
            p("Batch job queue name", b.job_queue_name),
            p("Batch job definition name", b.job_definition_name),
            p("CloudWatch Logs group name", b.log_group_name),
        ]
    return tuple(found)



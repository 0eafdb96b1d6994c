"""Stack settings: parsed once from the stack's config into a frozen, typed object.

The keys (types, defaults, bounds, descriptions) live in `components/settings_spec.py`, from
which `Pulumi.yaml` is generated; per-stack values in `Pulumi.<stack>.yaml`. Every bad value is
reported with its key, the value and what is allowed, all at once, before any resource is
declared; the cross-field rules are the named functions of `RULES`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, TypeVar

from components import physical_names as names
from components import settings_spec as spec
from components.aws_limits import (
    ASG_INSTANCE_TYPES_MAX,
    ASG_VPC_ZONE_IDENTIFIER_MAX_CHARS,
    BATCH_ATTEMPT_TIMEOUT_MIN_S,
    INSTANCE_SIZE_WORDS,
    INSTANCE_SPECS,
    INSTANCE_TYPE_FORM,
    KNOWN_INSTANCE_FAMILIES,
    LIFECYCLE_HEARTBEAT_MAX_S,
    LIFECYCLE_HEARTBEAT_MIN_S,
    NAME_LIMITS,
    RESERVED_NAMESPACE_PREFIX,
    SCHEDULE_ALLOWED,
    SECURITY_GROUPS_PER_INTERFACE_MAX,
    SQS_MAX_VISIBILITY_S,
    SSM_TARGET_VALUES_MAX,
    is_valid_schedule,
)
from components.metric_spec import BacklogMetricSpec
from components.settings_spec import (
    AL2023_AMI,
    ARCHITECTURES,
    GLOBAL_KEYS,
    LABEL_FIELD,
    PROJECT,
    SECRET_KEYS,
    WORKER_DEFAULT,
    WORKER_TYPE_NAME,
    WORKER_TYPES_KEY,
    all_keys,
)
from components.stack_output import VIDEO_MODES

# The keys, their types, defaults, bounds and choices: components/settings_spec.py (the
# names imported from it above are read from here too). Physical names:
# components/physical_names.py.
BACKLOG_API_PATH = "/api/v1/internal/video/backlog-count/"
# The videos behind that count, oldest first, with where each was dispatched and since when
# (docs/CONTRACTS.md, "Backlog listing"): verify names the stuck ones.
BACKLOG_LIST_PATH = "/api/v1/internal/video/backlog/"
BACKLOG_LIST_MAX = 500  # videos in one answer at most; `truncated` says when more wait
INTERNAL_KEY_HEADER = "X-Internal-Key"
# Namespaces a stack file may carry besides the project's own (provider and engine keys).
PROVIDER_NAMESPACES: tuple[str, ...] = ("aws", "pulumi")
WORKER_FIELDS = spec.WORKER_FIELD_NAMES
TYPE_FIELDS = spec.TYPE_FIELD_NAMES


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


T = TypeVar("T")
SHOWN_MAX = 60  # a value longer than this is shown cut, with its length


def shown(value: object) -> str:
    """A value as a problem quotes it: repr, cut when long (a 5,000-digit number, say)."""
    text = repr(value)
    if len(text) <= SHOWN_MAX:
        return text
    return f"{text[:40]}... ({len(str(value))} characters)"


class _Reader:
    """Reads raw string config values, converting each and collecting every problem."""

    def __init__(self, raw: Mapping[str, str | None]) -> None:
        self.raw = raw
        self.problems: list[str] = []

    @staticmethod
    def _declared(key: str, type_: spec.Type) -> None:
        """The reader used is the type settings_spec declares (the one declaration of it)."""
        declared = spec.spec_of(key).type
        if declared != type_:  # a programming error, not a user's: no problem line
            raise TypeError(f"{key} is read as {type_}, settings_spec declares {declared}")

    def _get(self, key: str, convert: Callable[[str], T], allowed: str, fallback: T) -> T:
        value = self.raw.get(key)
        if value is None:
            self.problems.append(f"{key} is not set: expected {allowed}")
            return fallback
        try:
            return convert(value)
        except (ValueError, TypeError, RecursionError):
            self.problems.append(f"{key} = {shown(value)}: expected {allowed}")
            return fallback

    def text(self, key: str, pattern: str | None = None, allowed: str = "a string") -> str:
        self._declared(key, "string")
        value = self._get(key, str, allowed, "")
        if key in self.raw and not (
            value.isascii() and (pattern is None or re.fullmatch(pattern, value))
        ):
            self.problems.append(f"{key} = {shown(value)}: expected {allowed}")
        return value

    def integer(self, key: str) -> int:
        """An integer within the bounds settings_spec gives the key."""
        self._declared(key, "integer")
        bounds = spec.spec_of(key).bounds
        if bounds is None:  # a programming error, not a user's
            raise TypeError(f"settings_spec gives {key} no bounds")
        low, high = bounds
        allowed = f"an integer from {low} to {high}"
        value = self._get(key, _to_int, allowed, low)
        if key in self.raw and not low <= value <= high and not self._failed(key):
            self.problems.append(f"{key} = {shown(value)}: expected {allowed}")
        return value

    def boolean(self, key: str) -> bool:
        self._declared(key, "boolean")
        return self._get(key, _to_bool, "true or false", False)

    def choice(self, key: str) -> str:
        """One of the choices settings_spec gives the key (else the first, with a problem)."""
        self._declared(key, "string")
        options = spec.spec_of(key).choices
        allowed = " or ".join(repr(o) for o in options)
        value = self._get(key, str, allowed, options[0])
        if key in self.raw and value not in options:
            self.problems.append(f"{key} = {shown(value)}: expected {allowed}")
            return options[0]
        return value

    def strings(
        self, key: str, pattern: str, allowed: str, min_items: int = 0,
        max_items: tuple[int, str] | None = None, unique: bool = False,
    ) -> tuple[str, ...]:
        """A list of strings matching `pattern`; `max_items`: (the most, and the AWS limit
        that sets it, in words); `unique`: an item listed twice is refused, naming it."""
        self._declared(key, "array")
        what = f"a list of {allowed}" + (f" (at least {min_items})" if min_items else "")
        items = self._get(key, _to_str_list, what, ())
        bad = [i for i in items if not (i.isascii() and re.fullmatch(pattern, i))]
        seen: set[str] = set()
        twice = list(dict.fromkeys(i for i in items if i in seen or seen.add(i)))
        if bad:
            self.problems.append(f"{key} has {shown(bad)}: expected {what}")
        elif key in self.raw and len(items) < min_items and not self._failed(key):
            self.problems.append(f"{key} = {shown(list(items))}: expected {what}")
        elif max_items and len(items) > max_items[0]:
            self.problems.append(f"{key} has {len(items)} entries: {max_items[1]} takes at "
                                 f"most {max_items[0]}")
        elif unique and twice:
            self.problems.append(f"{key} lists {shown(twice)} more than once: list each once")
        return items

    def secret(self, key: str, how: str) -> SecretText:
        """A secret: checked for presence and shape, never quoted in a problem."""
        self._declared(key, "string")
        value = self.raw.get(key)
        text = str(value or "")
        if value is None:
            self.problems.append(f"{key} is not set: {how}")
        elif not text.strip():
            self.problems.append(f"{key} is empty: {how}")
        elif text != text.strip():
            self.problems.append(
                f"{key} starts or ends with whitespace or a newline (a key read from a file, "
                f"`file://key.txt` or `$(cat key.txt)`, often keeps the file's last newline): "
                f"the API compares it byte for byte; set it again without: {how}"
            )
        elif re.search(r"[\x00-\x20\x7f]", text):
            self.problems.append(
                f"{key} has a space or a control character (printable ASCII only, it travels "
                f"in the {INTERNAL_KEY_HEADER} header): {how}"
            )
        elif not re.fullmatch(r"[!-~]+", text):
            self.problems.append(
                f"{key} has characters an HTTP header cannot carry (printable ASCII only): {how}"
            )
        elif len(text) < SECRET_MIN_CHARS:
            self.problems.append(
                f"{key} is shorter than {SECRET_MIN_CHARS} characters: too easy to guess, and "
                f"verify masks only secrets of 4 characters or more; use a long random key "
                f"(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`) and {how}"
            )
        return SecretText(text)

    def base_url(self, key: str, optional: bool = False) -> str:
        """A base URL (see BASE_URL), without its trailing '/'; `optional`: may be empty."""
        self._declared(key, "string")
        allowed = ("empty or " if optional else "") + f"an http(s) base URL, {BASE_URL_FORM}"
        value = self._get(key, str, allowed, "")
        if key not in self.raw or (optional and value == "") or self._failed(key):
            return value.rstrip("/")
        reason = base_url_problem(value)
        if reason:
            self.problems.append(f"{key} = {shown(value)}: {reason}; expected {allowed}")
        return value.rstrip("/")

    def _failed(self, key: str) -> bool:
        return any(p.startswith(f"{key} ") for p in self.problems)


INT_MAX_DIGITS = 18  # every range here is far below 10**18; longer input is refused unread


def _to_int(value: str) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    # [0-9], not \d: Python's \d takes other scripts' digits ('٢'), which AWS would not.
    if not re.fullmatch(rf"-?[0-9]{{1,{INT_MAX_DIGITS}}}", text):
        raise ValueError(value)
    return int(text)


def _to_bool(value: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(value)


def base_url_problem(url: str) -> str | None:
    """What is wrong with a base URL, in words, or None."""
    if re.search(r"[\x00-\x20\x7f]", url):
        return "it has whitespace or a control character"
    authority = url.partition("://")[2].split("/", 1)[0]
    if "@" in authority:
        return "it has user info ('user@'), which every request would carry"
    if "?" in url:
        return "it has a query ('?...'): the paths appended to it would land in the query"
    if "#" in url:
        return ("it has a fragment ('#...'): the paths appended to it would land in the "
                "fragment, which is never sent")
    match = re.fullmatch(BASE_URL, url) if url.isascii() else None
    if match is None:
        return "it is not a base URL"
    if match[1] and not 1 <= int(match[1][1:]) <= 65535:
        return "its port is not 1 to 65535"
    return None


def _to_str_list(value: str) -> tuple[str, ...]:
    # A deeply nested value makes json.loads raise RecursionError: refused like any bad list.
    items: Any = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(value)
    return tuple(items)


NAME = r"[a-z][a-z0-9-]{0,30}"
AMI = r"ami-[0-9a-f]{8,17}"
SSM_AMI_PARAMETER = r"resolve:ssm:/[A-Za-z0-9_./-]{1,1010}"
ARN = r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:([0-9]{12}|aws)?:[A-Za-z0-9_+=,.@/:-]+"
INSTANCE_TYPE = INSTANCE_TYPE_FORM
INSTANCE_TYPES_ALLOWED = (
    f"EC2 instance types 'family.size' such as 'c7g.large' (sizes: {INSTANCE_SIZE_WORDS})"
)
# A base URL others append a path to: scheme://host[:port][/path], no user info, query or
# fragment (`.../?x=1#f` + `/api/...` would send `GET /?x=1` with the key); path characters
# are RFC 3986's minus the quote.
BASE_URL = r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&()*+,;=:@/-]*)?"
BASE_URL_FORM = "scheme://host[:port][/path] with scheme http or https"
HOST_PORT = r"[A-Za-z0-9.-]+:[0-9]{1,5}"
# Paths nginx or a shell script reads: a conservative set, so no quote or ';' gets through.
SAFE_PATH = r"/[A-Za-z0-9._/-]+"
COMMAND = r"[ -&(-~]+"  # printable ASCII without ' (substituted inside single quotes)
# Batch's ContainerProperties.image: "Up to 255 letters ..., numbers, hyphens, underscores,
# colons, periods, forward slashes, and number signs"; '@' for a digest reference.
IMAGE = r"[A-Za-z0-9][A-Za-z0-9._:/#@-]{0,254}"
EXAMPLE_ACCOUNT = "123456789012"  # the account id of AWS's documentation examples
FIND_BATCH_IMAGE = (
    "set it to the video worker's image, e.g. "
    "'<account>.dkr.ecr.ap-northeast-2.amazonaws.com/<repository>:<tag>' "
    "(the repository URIs: `aws ecr describe-repositories --query "
    "'repositories[].repositoryUri'`), with `pulumi config set videoBatchImage <image>`"
)
SECRET_MIN_CHARS = 16  # an internal key shorter than this is refused
SET_INTERNAL_KEY = (
    "set it with `pulumi config set --secret internalApiKey <the X-Internal-Key of the API>`"
)
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


LABEL = r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}"  # a CloudWatch dimension value and a tag value


def source_key(raw: Mapping[str, str | None], wt: str, field: str) -> str:
    """The type's own key if the stack sets it, else the generic default's key (so a problem
    names the key the value came from)."""
    own = wt + field
    return own if own in raw else WORKER_DEFAULT + field


def _worker(r: _Reader, wt: str, prefix: str) -> WorkerSettings:
    def key(field: str) -> str:
        return source_key(r.raw, wt, field)

    label_key = wt + LABEL_FIELD
    label = (r.text(label_key, LABEL, "a label of letters, digits, ' ', '_', '.', '-'")
             if label_key in r.raw else wt.capitalize())
    spec = BacklogMetricSpec(
        namespace=r.text(key("MetricNamespace"), r"[A-Za-z0-9/_.#-][A-Za-z0-9/_.#:-]{0,254}",
                         "a CloudWatch namespace such as 'Academy/Workers'"),
        name=r.text(key("MetricName"), r"[A-Za-z0-9_.-]{1,255}", "a metric name"),
        dimensions=(("WorkerType", label),),
    )
    return WorkerSettings(
        worker_type=wt,
        label=label,
        min_size=r.integer(key("MinSize")),
        max_size=r.integer(key("MaxSize")),
        instance_types=r.strings(
            key("InstanceTypes"), INSTANCE_TYPE, INSTANCE_TYPES_ALLOWED,
            min_items=1, unique=True,
            max_items=(ASG_INSTANCE_TYPES_MAX, "an Auto Scaling group's mixed instances policy"),
        ),
        architecture=r.choice(key("Architecture")),
        image_id=r.text(key("ImageId"), f"{AMI}|{SSM_AMI_PARAMETER}",
                        "an AMI id such as 'ami-0abcdef1234567890' or "
                        f"'{AL2023_AMI.format(arch='arm64')}'"),
        target_backlog_per_instance=r.integer(key("TargetBacklogPerInstance")),
        max_job_seconds=r.integer(key("MaxJobSeconds")),
        visibility_timeout_seconds=r.integer(key("VisibilityTimeoutSeconds")),
        managed_policy_arns=r.strings(key("ManagedPolicyArns"), ARN, "IAM policy ARNs"),
        instance_warmup_seconds=r.integer(key("InstanceWarmupSeconds")),
        count_in_flight=r.boolean(key("CountInFlight")),
        count_delayed=r.boolean(key("CountDelayed")),
        wake_from_zero=r.boolean(key("WakeFromZero")),
        metric=spec,
        queue_name=names.queue(prefix, wt),
        dlq_name=names.dlq(prefix, wt),
        group_name=names.group(prefix, wt),
        runs_on_batch=r.boolean(key("RunsOnBatch")),
        backlog_source=r.choice(key("BacklogSource")),
        retain_queue=r.boolean(key("RetainQueue")),
    )


def _subnet_ids(r: _Reader) -> tuple[str, ...]:
    subnets = r.strings("subnetIds", r"subnet-[0-9a-f]{8,17}", "subnet ids", 1, unique=True)
    joined = len(",".join(subnets))
    if joined > ASG_VPC_ZONE_IDENTIFIER_MAX_CHARS and not r._failed("subnetIds"):
        r.problems.append(
            f"subnetIds has {len(subnets)} subnets: an Auto Scaling group takes them as one "
            f"comma-separated VPCZoneIdentifier of at most {ASG_VPC_ZONE_IDENTIFIER_MAX_CHARS} "
            f"characters, and these make {joined}; list fewer"
        )
    return subnets


def _worker_types(r: _Reader) -> tuple[str, ...]:
    allowed = f"worker type names ({WORKER_TYPE_NAME}: lower-case letters and digits)"
    types = r.strings(WORKER_TYPES_KEY, WORKER_TYPE_NAME, allowed, min_items=1)
    twice = sorted({t for t in types if types.count(t) > 1})
    if twice:
        r.problems.append(f"{WORKER_TYPES_KEY} lists {twice!r} more than once: each type once")
    clash = [t + f for t in types for f in TYPE_FIELDS if t + f in GLOBAL_KEYS]
    if clash:
        r.problems.append(f"{WORKER_TYPES_KEY} = {list(types)!r}: the keys {clash!r} would be "
                          f"both a worker type's and a global setting; rename the type")
    return tuple(dict.fromkeys(types))


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


# --- cross-field rules ---------------------------------------------------------------------
# Each rule is a small named function of the parsed values returning its problems (or, in
# WARNING_RULES, what is said at preview). They only make sense on well-formed values: they
# run when every key parsed, stage by stage, a stage only when the ones before found nothing.


@dataclass(frozen=True)
class Parsed:
    """What the rules read: the settings, the raw keys (to name the key a value came from)
    and the videoBatch* values, read in every stack with or without a Batch type."""

    settings: Settings
    raw: Mapping[str, str | None]
    batch: BatchSettings


Rule = Callable[[Parsed], list[str]]
WorkerRule = Callable[[WorkerSettings, bool], list[str]]  # (worker, runs as a fleet)


def one_type_on_batch(p: Parsed) -> list[str]:
    on_batch = [wt for wt, w in p.settings.workers.items() if w.runs_on_batch]
    if len(on_batch) <= 1:
        return []
    return [f"{', '.join(wt + 'RunsOnBatch' for wt in on_batch)} are all true: at most one "
            f"worker type runs on AWS Batch (there is one compute environment and job queue)"]


def batch_mode_has_a_batch_type(p: Parsed) -> list[str]:
    if p.settings.mode != "batch" or any(w.runs_on_batch for w in p.settings.workers.values()):
        return []
    return ["videoMode = 'batch' but no worker type has <type>RunsOnBatch = true: set it for "
            "the type that runs on AWS Batch, or videoMode = 'asg'"]


def one_type_counts_the_api(p: Parsed) -> list[str]:
    from_api = [wt for wt, w in p.settings.workers.items() if w.backlog_source == "api"]
    if len(from_api) <= 1:
        return []
    return [f"{', '.join(wt + 'BacklogSource' for wt in from_api)} are all 'api': the internal "
            f"API answers one backlog count ({BACKLOG_API_PATH}), so at most one type counts it"]


def metrics_are_distinct(p: Parsed) -> list[str]:
    """No two worker types publish one metric (namespace, name and dimensions equal): each
    fleet would scale on the other's backlog too, and the publisher's two datapoints would
    mix in one series (incident #1's class: `messagingLabel = AI`). In every mode: a type
    not published in this one is published after a switch."""
    problems = []
    first: dict[tuple[Any, ...], str] = {}
    for wt, w in p.settings.workers.items():
        other = first.setdefault(w.metric.identity(), wt)
        if other == wt:
            continue

        def keys(t: str) -> str:
            return ", ".join((source_key(p.raw, t, "MetricNamespace"),
                              source_key(p.raw, t, "MetricName"), t + LABEL_FIELD))

        m = w.metric
        dims = ",".join(f"{k}={v}" for k, v in sorted(m.dimensions))
        problems.append(
            f"worker types {other} and {wt} publish the same metric "
            f"{m.namespace}/{m.name}{{{dims}}} ({other}: {keys(other)}; {wt}: {keys(wt)}): "
            f"each fleet would scale on the other's backlog too; give {wt} its own "
            f"{wt}{LABEL_FIELD} (its WorkerType dimension) or {wt}MetricName"
        )
    return problems


def drain_has_a_batch_type(p: Parsed) -> list[str]:
    if not p.settings.drain or p.settings.batch is not None:
        return []
    return ["videoDrain = true but no worker type has <type>RunsOnBatch = true: there is no "
            "other path to drain (videoDrain keeps the Batch-capable type's old path, the fleet "
            "or the Batch environment, while switching videoMode); set videoDrain = false"]


# Per worker type: (the worker, whether it runs as a fleet in this mode) -> problems.

def min_not_above_max(w: WorkerSettings, fleet: bool) -> list[str]:
    if w.min_size <= w.max_size:
        return []
    wt = w.worker_type
    return [f"{wt}MinSize = {w.min_size} is greater than {wt}MaxSize = {w.max_size}: "
            f"the minimum must not exceed the maximum"]


def job_fits_sqs_in_flight(w: WorkerSettings, fleet: bool) -> list[str]:
    """A fleet's job must end while SQS still holds its message (a type on Batch keeps its
    queue, but no message is held)."""
    if w.max_job_seconds <= SQS_MAX_VISIBILITY_S or not fleet:
        return []
    wt = w.worker_type
    return [
        f"{wt}MaxJobSeconds = {w.max_job_seconds} is longer than SQS lets a message "
        f"stay in flight: its visibility timeout, even extended with "
        f"ChangeMessageVisibility, ends at most {SQS_MAX_VISIBILITY_S} s (12 hours from "
        f"its receipt); either split the work into jobs under {SQS_MAX_VISIBILITY_S} s, "
        f"or run it on AWS Batch ({wt}RunsOnBatch = true and videoMode = 'batch', "
        f"where the job's timeout is {wt}MaxJobSeconds and no message is held)"
    ]


def visibility_covers_longest_job(w: WorkerSettings, fleet: bool) -> list[str]:
    if w.max_job_seconds > SQS_MAX_VISIBILITY_S or \
            w.visibility_timeout_seconds >= w.max_job_seconds:
        return []  # beyond SQS's limit: job_fits_sqs_in_flight says what to do instead
    wt = w.worker_type
    return [
        f"{wt}VisibilityTimeoutSeconds = {w.visibility_timeout_seconds} is shorter than "
        f"{wt}MaxJobSeconds = {w.max_job_seconds}: a message would reappear and run twice "
        f"while its job still runs; raise it to at least {w.max_job_seconds} "
        f"(SQS allows up to {SQS_MAX_VISIBILITY_S})"
    ]


def min_zero_wakes(w: WorkerSettings, fleet: bool) -> list[str]:
    if not fleet or w.min_size != 0 or w.wake_from_zero:
        return []
    wt = w.worker_type
    return [f"{wt}MinSize = 0 with a backlog-per-instance metric and {wt}WakeFromZero = false: "
            f"at 0 instances the metric has no value and the group never wakes; "
            f"set {wt}MinSize >= 1 or {wt}WakeFromZero = true"]


def heartbeat_within_aws_limits(w: WorkerSettings, fleet: bool) -> list[str]:
    if not fleet or w.lifecycle_heartbeat_seconds >= LIFECYCLE_HEARTBEAT_MIN_S:
        return []
    wt = w.worker_type
    return [
        f"{wt}MaxJobSeconds = {w.max_job_seconds} makes the termination hook's heartbeat "
        f"{w.lifecycle_heartbeat_seconds} s, and EC2 Auto Scaling takes "
        f"{LIFECYCLE_HEARTBEAT_MIN_S} to {LIFECYCLE_HEARTBEAT_MAX_S} s: set "
        f"{wt}MaxJobSeconds to at least {LIFECYCLE_HEARTBEAT_MIN_S}"
    ]


def namespace_not_reserved(w: WorkerSettings, fleet: bool) -> list[str]:
    if not w.metric.namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        return []
    return [
        f"{w.worker_type}MetricNamespace = {w.metric.namespace!r}: namespaces starting with "
        f"{RESERVED_NAMESPACE_PREFIX!r} are reserved for AWS's own metrics and PutMetricData "
        f"refuses them; use your own, such as 'Academy/Workers'"
    ]


def instance_types_run_the_architecture(w: WorkerSettings, fleet: bool) -> list[str]:
    wt = w.worker_type
    wrong = [t for t in w.instance_types if instance_architecture(t) != w.architecture]
    if not wrong:
        return []
    graviton = "Graviton (e.g. c7g.large)" if w.architecture == "arm64" else "x86_64"
    return [f"{wt}InstanceTypes has {wrong!r}, which do not run {wt}Architecture = "
            f"{w.architecture!r}: use {graviton} types"]


def image_runs_the_architecture(w: WorkerSettings, fleet: bool) -> list[str]:
    image_arch = image_architecture(w.image_id)
    if image_arch is None or image_arch == w.architecture:
        return []
    wt = w.worker_type
    return [f"{wt}ImageId = {w.image_id!r} is an {image_arch} image but {wt}Architecture = "
            f"{w.architecture!r}: use {AL2023_AMI.format(arch=w.architecture)!r}"]


WORKER_RULES: tuple[WorkerRule, ...] = (
    min_not_above_max,
    job_fits_sqs_in_flight,
    visibility_covers_longest_job,
    min_zero_wakes,
    heartbeat_within_aws_limits,
    namespace_not_reserved,
    instance_types_run_the_architecture,
    image_runs_the_architecture,
)


def every_worker(p: Parsed) -> list[str]:
    """WORKER_RULES, type by type in `workerTypes` order."""
    s = p.settings
    return [problem for w in s.workers.values() for rule in WORKER_RULES
            for problem in rule(w, w.worker_type in s.fleet_types)]


# The API's nginx config: values nginx would refuse (components/nginx_config.py raises on
# them mid-program).

def ports_in_range(p: Parsed) -> list[str]:
    api = p.settings.api
    ports = [("apiUpstream", api.upstream, api.upstream.rpartition(":")[2])]
    ports += [("apiHostSsh", e, e.rpartition(":")[2]) for e in api.host_ssh if e.count(":")]
    return [f"{key} = {value!r}: the port must be 1 to 65535"
            for key, value, port in ports if not 1 <= int(port) <= 65535]


def nginx_reaches_a_host(p: Parsed) -> list[str]:
    api = p.settings.api
    if api.host_instance_ids or api.host_tag is not None:
        return []
    return ["apiHostInstanceIds = [] and apiHostTag = '': the nginx config reaches no "
            "API host; set one of them"]


def names_fit_aws_limits(p: Parsed) -> list[str]:
    s = p.settings
    too_long = [n for n in physical_names(s) if len(n.value) > n.limit]
    if not too_long:
        return []
    # The tightest name says how short namePrefix must be; one problem, not one per name.
    worst = min(too_long, key=lambda n: n.limit - len(n.value))
    fit = worst.limit - (len(worst.value) - len(s.name_prefix))
    others = f" (and {len(too_long) - 1} other names)" if len(too_long) > 1 else ""
    return [
        f"namePrefix = {s.name_prefix!r} makes the {worst.what} {worst.value!r} "
        f"{len(worst.value)} characters; AWS allows at most {worst.limit}{others}: use a "
        f"namePrefix of at most {fit} characters"
    ]


# AWS Batch: what it would accept but never run.

def batch_job_within_max_vcpus(p: Parsed) -> list[str]:
    b = p.batch
    if b.vcpus <= b.max_vcpus:
        return []
    return [f"videoBatchVcpus = {b.vcpus} exceeds videoBatchMaxVcpus = {b.max_vcpus}: a job "
            f"could never be placed"]


def _batch_checked(p: Parsed) -> bool:
    """The Batch environment is declared and its job can be placed at all."""
    return p.settings.batch_declared and p.batch.vcpus <= p.batch.max_vcpus


def batch_attempt_timeout_allowed(p: Parsed) -> list[str]:
    b = p.batch
    if not _batch_checked(p) or b.job_timeout_seconds >= BATCH_ATTEMPT_TIMEOUT_MIN_S:
        return []
    return [
        f"{b.worker_type}MaxJobSeconds = {b.job_timeout_seconds} is the Batch job's attempt "
        f"timeout, and AWS Batch takes at least {BATCH_ATTEMPT_TIMEOUT_MIN_S}: set "
        f"{b.worker_type}MaxJobSeconds >= {BATCH_ATTEMPT_TIMEOUT_MIN_S}"
    ]


_BATCH_STUCK = ("AWS Batch leaves a job that fits no type RUNNABLE until "
                "videoBatchRunnableTimeoutSeconds cancels it")


def _batch_fit(b: BatchSettings) -> tuple[list[str], dict[str, Any], list[str]]:
    """(unknown types, known types' specs, the known types the job fits)."""
    unknown = [t for t in b.instance_types if t not in INSTANCE_SPECS]
    known = {t: INSTANCE_SPECS[t] for t in b.instance_types if t in INSTANCE_SPECS}
    fits = [t for t, s in known.items() if b.vcpus <= s.vcpus and b.memory_mib <= s.job_memory_mib]
    return unknown, known, fits


def batch_job_fits_an_instance_type(p: Parsed) -> list[str]:
    b = p.batch
    unknown, known, fits = _batch_fit(b)
    if not _batch_checked(p) or fits or unknown:
        return []  # an unknown type may well fit: batch_fit_unknown says so at preview
    sizes = ", ".join(
        f"{t} ({s.vcpus} vCPUs, {s.job_memory_mib} MiB for jobs)" for t, s in known.items()
    )
    return [
        f"videoBatchVcpus = {b.vcpus} and videoBatchMemoryMib = {b.memory_mib} fit no type of "
        f"{b.worker_type}InstanceTypes: {sizes}; {_BATCH_STUCK}: lower them or add a larger type"
    ]


# Stages: a stage runs only when the ones before it found no problem.
RULES: tuple[tuple[Rule, ...], ...] = (
    (one_type_on_batch, batch_mode_has_a_batch_type, one_type_counts_the_api,
     metrics_are_distinct),
    (drain_has_a_batch_type,),
    (every_worker, ports_in_range, nginx_reaches_a_host, names_fit_aws_limits,
     batch_job_within_max_vcpus, batch_attempt_timeout_allowed,
     batch_job_fits_an_instance_type),
)


# Said at preview, not refused (only when no rule found a problem).

def batch_fit_unknown(p: Parsed) -> list[str]:
    b = p.batch
    unknown, _, fits = _batch_fit(b)
    if not _batch_checked(p) or fits or not unknown:
        return []
    return [
        f"{b.worker_type}InstanceTypes has {unknown!r}, whose vCPUs and memory this program "
        f"does not know: whether a job of videoBatchVcpus = {b.vcpus} and videoBatchMemoryMib "
        f"= {b.memory_mib} fits is not checked ({_BATCH_STUCK})"
    ]


def unknown_families(p: Parsed) -> list[str]:
    """A fleet's instance types of a family EC2's list (botocore's) lacks: said at preview,
    not refused, since a family newer than botocore's is real; a misspelt one never launches."""
    s = p.settings
    warnings = []
    for wt in s.fleet_types:
        types = s.workers[wt].instance_types
        unknown = [t for t in types if t.split(".")[0] not in KNOWN_INSTANCE_FAMILIES]
        if unknown:
            warnings.append(
                f"{source_key(p.raw, wt, 'InstanceTypes')} has {shown(unknown)}, of a family "
                f"this program does not know (EC2's families as botocore lists them): if it is "
                f"newer, ignore this; if misspelt, the group cannot launch it"
            )
    return list(dict.fromkeys(warnings))


WARNING_RULES: tuple[Rule, ...] = (batch_fit_unknown, unknown_families)


def _unknown_keys(raw: Mapping[str, str | None], worker_types: tuple[str, ...]) -> list[str]:
    known = sorted(set(all_keys(worker_types)) | set(SECRET_KEYS))
    problems = []
    for key in sorted(set(raw) - set(known) - spec.known_keys()):
        close = difflib.get_close_matches(key, known, n=1) or [
            k for k in known if k.lower() == key.lower()
        ]
        typed = spec.typed_key(key)
        if typed and typed[0] not in worker_types:
            hint = (f" ({typed[0]!r} is not in {WORKER_TYPES_KEY} = {list(worker_types)!r}: "
                    f"add it there to give it a worker)")
        elif close:
            hint = f" (did you mean {close[0]!r}?)"
        else:
            hint = " (misspelt? see Pulumi.yaml)"
        problems.append(f"{key} is not a setting of this project{hint}")
    return problems


def foreign_namespace_problems(config: Mapping[str, object]) -> list[str]:
    """Keys whose namespace is neither the project's nor a provider's: a misspelt project
    name (`academy-worker:aiMinSize`) would otherwise be ignored without a word."""
    known = (PROJECT, *PROVIDER_NAMESPACES)
    problems = []
    for full in sorted(config):
        namespace, sep, key = full.partition(":")
        if not sep or namespace in known:
            continue
        close = difflib.get_close_matches(namespace, known, n=1)
        hint = (f"did you mean {close[0] + ':' + key!r}?" if close
                else f"this project's keys are '{PROJECT}:<key>'")
        problems.append(
            f"{full}: {namespace!r} is neither this project's namespace nor a provider's "
            f"({hint})"
        )
    return problems


def parse_settings(
    raw: Mapping[str, str | None], stack: str, problems: tuple[str, ...] = ()
) -> Settings:
    """Parses raw config strings (as Pulumi hands them over) into Settings, or raises.

    `problems` are found before parsing (a misspelt namespace) and are reported with the rest.
    """
    r = _Reader(raw)
    mode = r.choice("videoMode")
    drain = r.boolean("videoDrain")
    prefix = r.text("namePrefix", NAME, "lower-case letters, digits and '-'")
    workers = {wt: _worker(r, wt, prefix) for wt in _worker_types(r)}
    batch_worker = next((w for w in workers.values() if w.runs_on_batch), None)
    image = r.text("videoBatchImage", f"|{IMAGE}", "a container image reference")
    runs_image = "videoMode = 'batch' runs it" if mode == "batch" else \
        "videoDrain = true keeps the Batch jobs running"
    if (mode == "batch" or drain) and batch_worker and not image \
            and not r._failed("videoBatchImage"):
        r.problems.append(f"videoBatchImage is not set: {runs_image}; {FIND_BATCH_IMAGE}")
    elif EXAMPLE_ACCOUNT in image:
        r.problems.append(f"videoBatchImage = {image!r} is in AWS's documentation example "
                          f"account {EXAMPLE_ACCOUNT}, not yours: {FIND_BATCH_IMAGE}")
    bt = batch_worker.worker_type if batch_worker else ""
    batch = BatchSettings(
        worker_type=bt,
        compute_environment_name=r.text("videoBatchComputeEnvName", r"[A-Za-z0-9_-]{1,128}",
                                        "a Batch compute environment name"),
        job_queue_name=names.batch_job_queue(prefix, bt),
        job_definition_name=names.batch_job_definition(prefix, bt),
        log_group_name=names.batch_log_group(prefix, bt),
        dispatch_parameter_name=names.dispatch_parameter(prefix, bt),
        image=image,
        vcpus=r.integer("videoBatchVcpus"),
        memory_mib=r.integer("videoBatchMemoryMib"),
        max_vcpus=r.integer("videoBatchMaxVcpus"),
        spot=r.boolean("videoBatchSpot"),
        instance_types=batch_worker.instance_types if batch_worker else (),
        architecture=batch_worker.architecture if batch_worker else ARCHITECTURES[0],
        job_timeout_seconds=batch_worker.max_job_seconds if batch_worker else 0,
        runnable_timeout_seconds=r.integer("videoBatchRunnableTimeoutSeconds"),
        retry_attempts=r.integer("videoBatchRetryAttempts"),
    )  # the videoBatch* keys are read (and checked) in every stack, with or without Batch
    schedule = r.text("publisherSchedule", allowed=SCHEDULE_ALLOWED)
    if "publisherSchedule" in raw and not r._failed("publisherSchedule") \
            and not is_valid_schedule(schedule):
        r.problems.append(f"publisherSchedule = {shown(schedule)}: expected {SCHEDULE_ALLOWED}")
    publisher = PublisherSettings(
        function_name=names.publisher_function(prefix),
        schedule=schedule,
        backlog_api_base_url=r.base_url("backlogApiBaseUrl", optional=True),
        api_timeout_seconds=r.integer("backlogApiTimeoutSeconds"),
        max_backlog_count=r.integer("backlogApiMaxCount"),
        key_parameter_name=names.internal_key_parameter(prefix),
        internal_api_key=r.secret("internalApiKey", SET_INTERNAL_KEY),
    )
    tag = r.text("apiHostTag", r"|[!-<>-~]+=[!-<>-~]*", "empty or 'Key=Value'")
    api = ApiSettings(
        server_name=r.text("apiServerName", r"[A-Za-z0-9.*_-]+", "a host name"),
        public_base_url=r.base_url("apiPublicBaseUrl"),
        local_base_url=r.base_url("apiLocalBaseUrl"),
        upstream=r.text("apiUpstream", HOST_PORT, "'host:port'"),
        listen_port=r.integer("apiListenPort"),
        client_max_body_size=r.text("apiClientMaxBodySize", r"[0-9]{1,9}[kKmMgG]?",
                                    "an nginx size such as '1m' or '2g'"),
        host_instance_ids=r.strings(
            "apiHostInstanceIds", r"i-[0-9a-f]{8,17}|mi-[0-9a-f]{17}", "EC2 instance ids",
            max_items=(SSM_TARGET_VALUES_MAX, "an SSM association's InstanceIds target"),
        ),
        host_tag=tuple(tag.split("=", 1)) if tag else None,  # type: ignore[arg-type]
        host_ssh=r.strings("apiHostSsh", r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?",
                           "'user@host[:port]' entries"),
        nginx_config_path=r.text("nginxConfigPath", SAFE_PATH,
                                 "an absolute path of letters, digits and . _ / -"),
        # Substituted into the SSM document's shell script inside single quotes.
        nginx_reload_command=r.text("nginxReloadCommand", COMMAND, "a command without '"),
        nginx_test_command=r.text("nginxTestCommand", COMMAND, "a command without '"),
        nginx_runtime_dir=r.text("nginxRuntimeDir", f"|{SAFE_PATH}",
                                 "empty or an absolute path of letters, digits and . _ / -"),
    )
    settings = Settings(
        stack=stack,
        mode=mode,
        name_prefix=prefix,
        vpc_id=r.text("vpcId", r"vpc-[0-9a-f]{8,17}", "a VPC id such as 'vpc-0123abcd'"),
        subnet_ids=_subnet_ids(r),
        security_group_ids=r.strings(
            "securityGroupIds", r"sg-[0-9a-f]{8,17}", "security group ids", 1, unique=True,
            max_items=(SECURITY_GROUPS_PER_INTERFACE_MAX,
                       "a network interface (Amazon VPC quota, adjustable from 5 up to 16)"),
        ),
        dlq_max_receive_count=r.integer("dlqMaxReceiveCount"),
        workers=MappingProxyType(workers),
        batch=batch if batch_worker else None,
        publisher=publisher,
        api=api,
        drain=drain,
    )
    found = list(r.problems)
    parsed = Parsed(settings, raw, batch)
    for stage in RULES:
        if found:
            break
        found += [problem for rule in stage for problem in rule(parsed)]
    warnings = [] if found else [w for rule in WARNING_RULES for w in rule(parsed)]
    # Keys nobody reads are listed last; they do not stop the rules above.
    found += [*_unknown_keys(raw, tuple(workers)), *problems]
    if found:
        raise SettingsError(found, stack)
    return replace(settings, warnings=tuple(warnings))


def settings_from_config(config: Mapping[str, object], stack: str) -> Settings:
    """Settings from the whole config as the CLI hands it over (`namespace:key` -> value)."""
    prefix = f"{PROJECT}:"
    raw = {k[len(prefix):]: (None if v is None else str(v))
           for k, v in config.items() if k.startswith(prefix)}
    return parse_settings(raw, stack, tuple(foreign_namespace_problems(config)))


def load_settings() -> Settings:
    """Reads the current stack's config through Pulumi and parses it; warnings go to the
    preview's diagnostics."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    config = {**get_config_env(), **CONFIG.get()}
    settings = settings_from_config(config, pulumi.get_stack())
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    return settings

"""Stack settings: parsed once from the stack's config into a frozen, typed object.

The keys (types, defaults, bounds, descriptions) live in `components/settings_spec.py`, from
which `Pulumi.yaml` is generated; per-stack values in `Pulumi.<stack>.yaml`. Every bad value is
reported with its key, the value and what is allowed, all at once, before any resource is
declared; the cross-field rules are the named functions of `settings_rules.RULES`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, TypeVar

from components import physical_names as names
from components import settings_spec as spec
from components.aws_limits import (
    ASG_INSTANCE_TYPES_MAX,
    ASG_VPC_ZONE_IDENTIFIER_MAX_CHARS,
    INSTANCE_SIZE_WORDS,
    INSTANCE_TYPE_FORM,
    SCHEDULE_ALLOWED,
    SECURITY_GROUPS_PER_INTERFACE_MAX,
    SQS_MAX_VISIBILITY_S,
    SSM_TARGET_VALUES_MAX,
    is_valid_schedule,
)
from components.metric_spec import BacklogMetricSpec
from components.settings_model import (
    BACKLOG_API_PATH,
    BACKLOG_LIST_MAX,
    BACKLOG_LIST_PATH,
    INTERNAL_KEY_HEADER,
    ApiSettings,
    BatchSettings,
    PhysicalName,
    PublisherSettings,
    SecretText,
    Settings,
    WorkerSettings,
    image_architecture,
    instance_architecture,
    physical_names,
    shown,
    source_key,
)
from components.settings_rules import RULES, WARNING_RULES, Parsed
from components.settings_spec import (
    AL2023_AMI,
    ARCHITECTURES,
    GLOBAL_KEYS,
    LABEL_FIELD,
    PROJECT,
    SECRET_KEYS,
    WORKER_TYPE_NAME,
    WORKER_TYPES_KEY,
    all_keys,
)
from components.stack_output import VIDEO_MODES

# The keys with their types, defaults, bounds and choices: components/settings_spec.py; the
# parsed values: settings_model.py; the cross-field rules: settings_rules.py; physical names:
# physical_names.py. What the program, verify, the sandbox and the tests import from here:
__all__ = [
    "BACKLOG_API_PATH", "BACKLOG_LIST_MAX", "BACKLOG_LIST_PATH", "INTERNAL_KEY_HEADER",
    "PROJECT", "RULES", "SECRET_KEYS", "SQS_MAX_VISIBILITY_S", "VIDEO_MODES", "WARNING_RULES",
    "ApiSettings", "BatchSettings", "PhysicalName", "PublisherSettings", "SecretText", "Settings",
    "SettingsError", "WorkerSettings", "all_keys", "base_url_problem",
    "foreign_namespace_problems", "image_architecture", "instance_architecture",
    "load_settings", "parse_settings", "physical_names", "settings_from_config", "shown",
    "source_key",
]
# Namespaces a stack file may carry besides the project's own (provider and engine keys).
PROVIDER_NAMESPACES: tuple[str, ...] = ("aws", "pulumi")


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


T = TypeVar("T")
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
LABEL = r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}"  # a CloudWatch dimension value and a tag value


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
    clash = [t + f for t in types for f in spec.TYPE_FIELD_NAMES if t + f in GLOBAL_KEYS]
    if clash:
        r.problems.append(f"{WORKER_TYPES_KEY} = {list(types)!r}: the keys {clash!r} would be "
                          f"both a worker type's and a global setting; rename the type")
    return tuple(dict.fromkeys(types))


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

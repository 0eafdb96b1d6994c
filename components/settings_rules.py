"""The settings' cross-field rules: small named functions, each returning its problems.

`parse_settings` (components/settings.py) runs the stages of `RULES` once every key parsed,
and `WARNING_RULES` (said at preview, not refused) when none found a problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.aws_limits import (
    BATCH_ATTEMPT_TIMEOUT_MIN_S,
    INSTANCE_SPECS,
    KNOWN_INSTANCE_FAMILIES,
    LIFECYCLE_HEARTBEAT_MAX_S,
    LIFECYCLE_HEARTBEAT_MIN_S,
    RESERVED_NAMESPACE_PREFIX,
    SQS_MAX_VISIBILITY_S,
)
from components.settings_model import (
    BACKLOG_API_PATH,
    BatchSettings,
    Settings,
    WorkerSettings,
    image_architecture,
    instance_architecture,
    physical_names,
    shown,
    source_key,
)
from components.settings_spec import AL2023_AMI, LABEL_FIELD

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

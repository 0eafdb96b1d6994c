"""Limits AWS enforces only when a resource is created, so settings can refuse them at preview.

Each figure names its authority: botocore's API models (tests/program/test_aws_limits.py reads
them and checks this table against them), or the AWS documentation page quoted beside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# Longest physical name per kind, as botocore's models give it (the `max` of the name's shape,
# or its documentation where the shape has none: SQS, Batch, Lambda's bare function name).
NAME_LIMITS: Mapping[str, int] = MappingProxyType({
    "SQS queue name": 80,
    "Auto Scaling group name": 255,
    "lifecycle hook name": 255,
    "scaling policy name": 255,
    "CloudWatch alarm name": 255,
    "IAM role name": 64,
    "IAM instance profile name": 128,
    "IAM inline policy name": 128,
    "EC2 launch template name": 128,
    "Lambda function name": 64,
    "EventBridge rule name": 64,
    "CloudWatch Logs group name": 512,
    "Batch compute environment name": 128,
    "Batch job queue name": 128,
    "Batch job definition name": 128,
    "SSM document name": 128,
    "SSM association name": 128,
    "SSM parameter name": 2048,
})

LIFECYCLE_HEARTBEAT_MIN_S = 30  # PutLifecycleHook: "The range is from 30 to 7200 seconds"
LIFECYCLE_HEARTBEAT_MAX_S = 7200
BATCH_ATTEMPT_TIMEOUT_MIN_S = 60  # JobTimeout: "The minimum value for the timeout is 60 seconds"
SQS_MAX_VISIBILITY_S = 43200  # 12 hours, also the most a message can stay in flight in total
RESERVED_NAMESPACE_PREFIX = "AWS/"  # CloudWatch: namespaces starting with AWS/ are AWS's own


# --- How many items a list setting may carry -------------------------------------------------
# CreateAutoScalingGroup.VPCZoneIdentifier: the subnets as one comma-separated string, `max`.
ASG_VPC_ZONE_IDENTIFIER_MAX_CHARS = 5000
# LaunchTemplateOverrides.InstanceType: "You can specify up to 40 instance types per Auto
# Scaling group" (the Overrides list itself has no `max` in the model).
ASG_INSTANCE_TYPES_MAX = 40
# CreateAssociation's Targets[].Values `max`: the instance ids one SSM association targets.
SSM_TARGET_VALUES_MAX = 50
# Not in botocore: the Amazon VPC quotas page, "Security groups per network interface",
# 5 by default, adjustable up to 16. Above 16 no account can launch the instances.
SECURITY_GROUPS_PER_INTERFACE_MAX = 16

# --- EventBridge schedule expressions ------------------------------------------------------
# rate(value unit): value a positive integer, unit singular for 1 and plural otherwise.
_RATE = re.compile(r"rate\((?:1 (?:minute|hour|day)|[1-9][0-9]* (?:minutes|hours|days))\)")
_RATE_ONE_PLURAL = re.compile(r"rate\(1 (?:minutes|hours|days)\)")
# cron(minutes hours day-of-month month day-of-week year), each field's characters per the
# EventBridge "Schedule expressions for rules" page; one of the two day fields must be `?`.
_CRON_FIELDS = (
    re.compile(r"[0-9,*/-]+"),
    re.compile(r"[0-9,*/-]+"),
    re.compile(r"[0-9,*/?LW-]+"),
    re.compile(r"[0-9A-Za-z,*/-]+"),
    re.compile(r"[0-9A-Za-z,*/?L#-]+"),
    re.compile(r"[0-9,*/-]+"),
)
SCHEDULE_ALLOWED = (
    "'rate(1 minute)', 'rate(N minutes)', 'rate(1 hour)', 'rate(N hours)', 'rate(1 day)', "
    "'rate(N days)' (N > 1), or 'cron(minutes hours day-of-month month day-of-week year)' "
    "with '?' in one of the two day fields"
)


def is_valid_schedule(expression: str) -> bool:
    """Whether EventBridge would take this as a rule's ScheduleExpression."""
    if not expression.isascii():
        return False
    if _RATE.fullmatch(expression):
        return not _RATE_ONE_PLURAL.fullmatch(expression)
    match = re.fullmatch(r"cron\(([^()]*)\)", expression)
    if match is None:
        return False
    fields = match.group(1).split(" ")
    if len(fields) != len(_CRON_FIELDS):
        return False
    if not all(p.fullmatch(f) for p, f in zip(_CRON_FIELDS, fields, strict=True)):
        return False
    return "?" in (fields[2], fields[4])


# --- EC2 instance types: the form every type has, and the families EC2 knows ----------------
# `family.size`; the sizes are these words (every type in botocore's EC2 InstanceType enum has
# one: tests/program/test_aws_limits.py).
INSTANCE_SIZE = r"nano|micro|small|medium|large|xlarge|[1-9][0-9]*xlarge|metal|metal-[1-9][0-9]*xl"
INSTANCE_TYPE_FORM = rf"[a-z][a-z0-9]*(-[a-z0-9]+)*\.({INSTANCE_SIZE})"
INSTANCE_SIZE_WORDS = "nano, micro, small, medium, large, xlarge, <N>xlarge, metal or metal-<N>xl"
# The families of botocore's EC2 InstanceType enum (210, botocore 1.44.8). A family
# missing here is warned about, not refused: a newer one than botocore's is real.
_EC2_FAMILIES = """
    a1 c1 c3 c4 c5 c5a c5ad c5d c5n c6a c6g c6gd c6gn c6i c6id c6in c7a c7g c7gd c7gn c7i
    c7i-flex c8a c8g c8gb c8gd c8gn c8i c8i-flex c8ib c8id c8in c8ine c9g c9gd cc1 cc2 cg1
    cr1 d2 d3 d3en dl1 dl2q f1 f2 g2 g3 g3s g4ad g4dn g5 g5g g6 g6e g6f g7 g7e gr6 gr6f h1
    hi1 hpc6a hpc6id hpc7a hpc7g hpc8a hs1 i2 i3 i3en i4g i4i i7i i7ie i8g i8ge im4gn inf1
    inf2 is4gen m1 m2 m3 m4 m5 m5a m5ad m5d m5dn m5n m5zn m6a m6g m6gd m6i m6id m6idn m6in
    m7a m7g m7gd m7i m7i-flex m8a m8azn m8g m8gb m8gd m8gn m8i m8i-flex m8ib m8id m8idb
    m8idn m8in m8ine m9g m9gd mac-m3ultra mac-m4 mac-m4max mac-m4pro mac1 mac2
    mac2-m1ultra mac2-m2 mac2-m2pro p2 p3 p3dn p4d p4de p5 p5e p5en p6-b200 p6-b300
    p6e-gb200 r3 r4 r5 r5a r5ad r5b r5d r5dn r5n r6a r6g r6gd r6i r6id r6idn r6in r7a r7g
    r7gd r7i r7iz r8a r8g r8gb r8gd r8gn r8i r8i-flex r8ib r8id r8idb r8idn r8in r9g r9gd
    t1 t2 t3 t3a t4g t8i trn1 trn1n trn2 trn2u u-12tb1 u-18tb1 u-24tb1 u-3tb1 u-6tb1
    u-9tb1 u7i-12tb u7i-6tb u7i-8tb u7ib-12tb u7in-16tb u7in-24tb u7in-32tb u7inh-32tb vt1
    x1 x1e x2gd x2idn x2iedn x2iezn x8aedz x8g x8i z1d
"""
KNOWN_INSTANCE_FAMILIES: frozenset[str] = frozenset(_EC2_FAMILIES.split())

# --- EC2 instance types a Batch job may be placed on -----------------------------------------


@dataclass(frozen=True)
class InstanceSpec:
    vcpus: int
    memory_mib: int

    @property
    def job_memory_mib(self) -> int:
        """What a Batch job can reserve: AWS Batch's guide ("Reserve system memory") recommends
        a 5% buffer for the ECS agent and the OS; the kernel's own share hides in it too."""
        return self.memory_mib * 95 // 100


# Sizes and their vCPUs as AWS publishes them; memory is vCPUs x the family's GiB per vCPU.
_SIZE_VCPUS = {"medium": 1, "large": 2, "xlarge": 4, **{f"{n}xlarge": 4 * n for n in
                                                        (2, 3, 4, 6, 8, 9, 12, 16, 18, 24, 32)}}
_FAMILY_SIZES: Mapping[str, tuple[tuple[str, ...], int]] = {
    **{f: (("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge",
            "16xlarge"), gib)
       for fams, gib in ((("c6g", "c6gd", "c6gn", "c7g", "c7gd", "c7gn"), 2),
                         (("m6g", "m6gd", "m7g", "m7gd"), 4),
                         (("r6g", "r6gd", "r7g", "r7gd"), 8))
       for f in fams},
    "c5": (("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge",
            "24xlarge"), 2),
    "m5": (("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
            "24xlarge"), 4),
    **{f: (("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
            "24xlarge", "32xlarge"), gib)
       for f, gib in (("c6i", 2), ("c7i", 2), ("m6i", 4), ("m7i", 4), ("r6i", 8), ("r7i", 8))},
}
# Burstable types: 2 vCPUs up to large, memory set per size.
_BURSTABLE = {"nano": (2, 512), "micro": (2, 1024), "small": (2, 2048), "medium": (2, 4096),
              "large": (2, 8192), "xlarge": (4, 16384), "2xlarge": (8, 32768)}

INSTANCE_SPECS: Mapping[str, InstanceSpec] = MappingProxyType({
    **{f"{family}.{size}": InstanceSpec(_SIZE_VCPUS[size], _SIZE_VCPUS[size] * gib * 1024)
       for family, (sizes, gib) in _FAMILY_SIZES.items() for size in sizes},
    **{f"{family}.{size}": InstanceSpec(v, m)
       for family in ("t3", "t3a", "t4g") for size, (v, m) in _BURSTABLE.items()},
})

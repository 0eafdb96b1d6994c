"""The physical names the program gives AWS resources, computed here once.

The settings (`components/settings.py`) carry them and check their lengths against AWS's
limits; the components (fleet, publisher, api_proxy, video_batch) declare them from there or
from these functions. Stdlib only.
"""

from __future__ import annotations

# --- per worker type -----------------------------------------------------------------------

def queue(prefix: str, worker_type: str) -> str:
    return f"{prefix}-{worker_type}-jobs"


def dlq(prefix: str, worker_type: str) -> str:
    return f"{queue(prefix, worker_type)}-dlq"


def group(prefix: str, worker_type: str) -> str:
    """The Auto Scaling group; the fleet's other names are built from it."""
    return f"{prefix}-{worker_type}-worker-asg"


def fleet_role(group_name: str) -> str:
    return f"{group_name}-role"


def fleet_profile(group_name: str) -> str:
    return f"{group_name}-profile"


def fleet_template(group_name: str) -> str:
    return f"{group_name}-template"


def fleet_hook(group_name: str) -> str:
    return f"{group_name}-terminating"


def fleet_policy(group_name: str) -> str:
    return f"{group_name}-backlog-per-instance"


def fleet_wake(group_name: str) -> str:
    """The wake-from-zero policy's and alarm's name."""
    return f"{group_name}-wake-from-zero"


# --- the Batch-capable type ----------------------------------------------------------------

def batch_job_queue(prefix: str, worker_type: str) -> str:
    return f"{prefix}-{worker_type}-batch-queue"


def batch_job_definition(prefix: str, worker_type: str) -> str:
    return f"{prefix}-{worker_type}-batch-jobdef"


def batch_log_group(prefix: str, worker_type: str) -> str:
    return f"/aws/batch/{prefix}-{worker_type}-worker"


def dispatch_parameter(prefix: str, worker_type: str) -> str:
    """SSM: where the API sends the type's new work (both modes)."""
    return f"/{prefix}/workers/{worker_type}/dispatch"


# --- the backlog publisher -----------------------------------------------------------------

def publisher_function(prefix: str) -> str:
    return f"{prefix}-worker-queue-depth-metric"


def publisher_role(function_name: str) -> str:
    return f"{function_name}-role"


def publisher_policy(function_name: str) -> str:
    """The role's one inline policy: verify judges any other on the role a leftover."""
    return f"{function_name}-publish"


def publisher_schedule(function_name: str) -> str:
    return f"{function_name}-schedule"


def publisher_errors_alarm(function_name: str) -> str:
    return f"{function_name}-errors"


def lambda_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def internal_key_parameter(prefix: str) -> str:
    return f"/{prefix}/workers/internal-api-key"


# --- the API's nginx config ----------------------------------------------------------------

def nginx_document(prefix: str) -> str:
    return f"{prefix}-api-nginx-config"


def nginx_association(prefix: str, index: int) -> str:
    return f"{nginx_document(prefix)}-{index}"

"""The backlog listing (docs/CONTRACTS.md, "Backlog listing") from the public API with the key,
as the publisher reaches the count, and the Batch jobs it names."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from stack_settings.parse import BACKLOG_LIST_PATH, INTERNAL_KEY_HEADER
from verify.context import CheckContext
from verify.preflight import CHECK_ID as PREFLIGHT
from verify.preflight import PUBLIC_URL

LISTING_MAX_BYTES = 1 << 20  # 500 videos of a few hundred bytes each fit many times over
DESCRIBE_JOBS_MAX = 100  # DescribeJobs takes at most 100 ids


@dataclass(frozen=True)
class ListingAnswer:
    status: int | None  # None: no HTTP answer (error says why)
    body: str = ""
    error: str = ""


def listing_url(base_url: str) -> str:
    return base_url.rstrip("/") + BACKLOG_LIST_PATH


def fetch_listing(ctx: CheckContext, key: str) -> ListingAnswer:
    """GET the listing from the public base URL: at most LISTING_MAX_BYTES, one deadline."""
    import requests

    url = listing_url(ctx.outputs.api.public_base_url)
    reached = ctx.reach.check(PUBLIC_URL, url)
    if reached.error is not None:
        return ListingAnswer(None, "", f"{reached.error} (see the {PREFLIGHT} row)")
    timeout_s = ctx.call_timeout()
    deadline = time.monotonic() + timeout_s
    try:
        response = requests.get(url, headers={INTERNAL_KEY_HEADER: key}, timeout=timeout_s,
                                allow_redirects=False, stream=True)
    except requests.exceptions.RequestException as exc:
        return ListingAnswer(None, "", f"{type(exc).__name__}: {exc}")
    data = bytearray()
    with response:
        for chunk in response.iter_content(65536):
            data += chunk
            if len(data) > LISTING_MAX_BYTES:
                return ListingAnswer(response.status_code, "",
                                     f"answer larger than {LISTING_MAX_BYTES} bytes")
            if time.monotonic() > deadline:
                return ListingAnswer(response.status_code, "",
                                     f"answer not complete after {timeout_s:g}s")
    return ListingAnswer(response.status_code, data.decode("utf-8", errors="replace"))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def load_json(body: str) -> Any:
    """JSON as the contract means it: no NaN/Infinity, no key twice (ValueError)."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=refuse)


def job_statuses(batch: Any, job_ids: list[str]) -> dict[str, str | None]:
    """Each job's status; None for a job Batch does not know."""
    found: dict[str, str | None] = dict.fromkeys(job_ids)
    unique = list(dict.fromkeys(job_ids))
    for start in range(0, len(unique), DESCRIBE_JOBS_MAX):
        answer = batch.describe_jobs(jobs=unique[start:start + DESCRIBE_JOBS_MAX])
        for job in answer.get("jobs", []):
            found[job["jobId"]] = job.get("status")
    return found

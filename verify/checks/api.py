"""`api`: the backlog API answers the same LOCAL (on each host) and PUBLIC (from here), and the
public path refuses a missing or wrong key."""

import secrets
from dataclasses import dataclass

from components.stack_output import Host
from verify.checks.hosts import per_host_tasks
from verify.context import CheckContext, Task
from verify.preflight import CHECK_ID as PREFLIGHT
from verify.preflight import PUBLIC_URL
from verify.probes.backlog_api import (
    BACKLOG_PATH,
    COUNT_SHAPE,
    ERROR_CHARS,
    REFUSED_BY,
    ApiAnswer,
    ask_on_host,
    ask_public,
    backlog_url,
)
from verify.report import CheckResult, Status
from verify.secrets import Masker

CHECK_ID = "api"
NGINX_HEADER_FIX = (
    "pass the header through nginx: `proxy_set_header X-Internal-Key $http_x_internal_key;` in "
    "the API location (a location-level proxy_set_header replaces the server-level ones), "
    "redeliver the config with `pulumi up`, then `python -m verify nginx`"
)

EDGE_HEADER_FIX = (
    "nginx is not the cause: find what removes the header before it: the client (does it send "
    "X-Internal-Key, spelt with hyphens?), the CDN (Cloudflare Transform Rules or a Worker "
    "that strips request headers), or another proxy in front of nginx"
)


@dataclass(frozen=True)
class Verdict:
    status: Status
    summary: str
    hint: str = ""


def _public_hop(public: ApiAnswer, masker: Masker) -> tuple[str, str]:
    """Which hop failed when the public path gives no good answer."""
    code = public.status
    if code is None:
        return (
            f"PUBLIC unreachable: {masker.excerpt(public.error, ERROR_CHARS)}",
            "the public endpoint did not answer: check DNS, the CDN (Cloudflare) and that nginx "
            "listens and the security group admits the edge",
        )
    if code in (520, 521, 522, 523, 524, 525, 526, 530):
        return (
            f"PUBLIC {code}: the CDN could not get an answer from the origin (nginx on EC2)",
            "check nginx is running and reachable from the edge on 443 (security group, TLS "
            "certificate for 525/526)",
        )
    if code == 502:
        return (
            "PUBLIC 502: nginx answered but its upstream (gunicorn) did not",
            "check the proxy_pass upstream in the nginx config matches the API "
            "(gunicorn on 127.0.0.1:8000) and that gunicorn runs",
        )
    if code == 504:
        return (
            "PUBLIC 504: nginx timed out waiting for the upstream (gunicorn)",
            "the API is slow or hung behind nginx: check gunicorn workers and the DB",
        )
    return (
        f"PUBLIC {code}: the API failed behind the proxy",
        "check the application's logs for this request",
    )


def diagnose_paths(local: ApiAnswer, public: ApiAnswer, bodies_match: bool, *, masker: Masker,
                   key_source: str = "the key parameter") -> Verdict:
    """LOCAL (on the host) against PUBLIC (through the proxy), both sent the key; every
    excerpt of an answer is masked by `masker` before it is clipped."""
    evidence = f"LOCAL {local.evidence(masker)} / PUBLIC {public.evidence(masker)}"
    if local.status is None:
        return Verdict(
            Status.FAIL,
            "LOCAL: the API does not answer on the host "
            f"({masker.excerpt(local.error, ERROR_CHARS)})",
            "the API process (gunicorn) is not answering at local_base_url on this host: "
            "check it runs (systemctl status) and listens on that address",
        )
    if local.status == 200 and public.status == 200:
        for side, answer in (("LOCAL", local), ("PUBLIC", public)):
            if answer.backlog() is None:  # agreeing on a wrong answer proves nothing
                return Verdict(
                    Status.FAIL,
                    f"{side} answered 200 but not a backlog count: {evidence}",
                    f"{BACKLOG_PATH} must answer {COUNT_SHAPE}; the publisher refuses anything "
                    "else and falls back to SQS: check the path reaches the backlog view (not "
                    "another page or a login) and the view's code",
                )
        if bodies_match:
            return Verdict(Status.PASS, f"LOCAL and PUBLIC agree: {local.evidence(masker)}")
        return Verdict(
            Status.FAIL,
            f"LOCAL and PUBLIC differ: {evidence}",
            "the public path reaches another API or database than this host: check nginx's "
            "upstream and the CDN's origin",
        )
    if local.status == 200 and public.status == 403 and public.refused_by_nginx:
        return Verdict(
            Status.FAIL,
            "the key did not reach nginx (lost before it: client, CDN/Cloudflare): nginx "
            f"refused a request without X-Internal-Key ({REFUSED_BY}: nginx): {evidence}",
            EDGE_HEADER_FIX,
        )
    if local.status == 200 and public.status == 403:
        return Verdict(
            Status.FAIL,
            f"the key reached nginx but not the API: the proxy drops X-Internal-Key: {evidence}",
            NGINX_HEADER_FIX,
        )
    if local.status == 403 and public.status == 403:
        return Verdict(
            Status.FAIL,
            f"the key from {key_source} differs from the API's: both paths answer 403",
            "make them equal: update the parameter (aws ssm put-parameter --type SecureString "
            "--overwrite) or restart the API with the parameter's value",
        )
    if local.status == 403:
        return Verdict(
            Status.FAIL,
            f"LOCAL refuses the key but PUBLIC does not: {evidence}",
            "the public path reaches another API instance with another key, or this host's "
            "API has a stale key: restart it after updating the key",
        )
    if local.status != 200:
        return Verdict(
            Status.FAIL,
            f"LOCAL: the API answers {local.status} on the host: {evidence}",
            "the API itself fails: check the application's logs on this host",
        )
    summary, hint = _public_hop(public, masker)
    return Verdict(Status.FAIL, f"{summary} (LOCAL {local.evidence(masker)})", hint)


def diagnose_auth(no_key: ApiAnswer, wrong_key: ApiAnswer, *, masker: Masker) -> Verdict:
    """The public path must refuse a request without the key and one with a wrong key."""
    if no_key.status == 403 and wrong_key.status == 403:
        return Verdict(Status.PASS, "no key -> 403, wrong key -> 403")
    evidence = f"no key -> {no_key.evidence(masker)}, wrong key -> {wrong_key.evidence(masker)}"
    if no_key.status == 200 or wrong_key.status == 200:
        return Verdict(
            Status.FAIL,
            f"the internal API is open to the public: {evidence}",
            "the API must compare X-Internal-Key with its configured key and answer 403; "
            "check the API's key setting is not empty",
        )
    if no_key.status is None or wrong_key.status is None:
        summary, hint = _public_hop(no_key if no_key.status is None else wrong_key, masker)
        return Verdict(Status.FAIL, summary, hint)
    return Verdict(
        Status.FAIL,
        f"expected 403 for a missing or wrong key: {evidence}",
        "a 5xx is the proxy or API failing (see the per-host rows); another 4xx means the "
        "path or the API's auth changed",
    )


def bodies_agree(local_before: ApiAnswer, public: ApiAnswer, local_after: ApiAnswer) -> bool:
    """Same body, allowing the count to move between the samples (public between the two)."""
    if public.body.strip() in (local_before.body.strip(), local_after.body.strip()):
        return True
    counts = (local_before.backlog(), public.backlog(), local_after.backlog())
    if None in counts:
        return False
    low, high = sorted((counts[0], counts[2]))
    return low <= counts[1] <= high


def ask_public_once_reachable(ctx: CheckContext, key: str | None) -> ApiAnswer:
    """PUBLIC's answer; when the public URL did not answer its probe, that, without waiting
    for it again."""
    base = ctx.outputs.api.public_base_url
    found = ctx.reach.check(PUBLIC_URL, backlog_url(base))
    if found.error is not None:
        return ApiAnswer(None, "", f"{found.error} (see the {PREFLIGHT} row)")
    return ask_public(base, key, ctx.call_timeout())


def _host_task(ctx: CheckContext, host: Host) -> Task:
    api = ctx.outputs.api
    target = host.name or host.instance_id or "host"

    def run() -> CheckResult:
        key = ctx.key.get()
        transport = ctx.hosts.for_host(host)
        local = ask_on_host(transport, api.local_base_url, key, ctx.call_timeout())
        public = ask_public_once_reachable(ctx, key)
        match = True
        if local.status == 200 and public.status == 200:
            match = bodies_agree(local, public, local)
            if not match:
                later = ask_on_host(transport, api.local_base_url, key, ctx.call_timeout())
                match = bodies_agree(local, public, later)
        verdict = diagnose_paths(local, public, match, masker=ctx.masker,
                                 key_source=ctx.key.source or "the key parameter")
        return CheckResult(CHECK_ID, target, verdict.status, verdict.summary, verdict.hint,
                           expected={"local": 200, "public": 200, "same_backlog": True},
                           found={"local": local.status, "public": public.status,
                                  "local_backlog": local.backlog(),
                                  "public_backlog": public.backlog(), "same_backlog": match})

    return Task(CHECK_ID, target, run)


def _auth_task(ctx: CheckContext) -> Task:
    def run() -> CheckResult:
        no_key = ask_public_once_reachable(ctx, None)
        wrong_key = ask_public_once_reachable(ctx, "verify-wrong-" + secrets.token_hex(8))
        verdict = diagnose_auth(no_key, wrong_key, masker=ctx.masker)
        return CheckResult(CHECK_ID, "public key check", verdict.status, verdict.summary,
                           verdict.hint, expected={"no_key": 403, "wrong_key": 403},
                           found={"no_key": no_key.status, "wrong_key": wrong_key.status})

    return Task(CHECK_ID, "public key check", run)


def tasks(ctx: CheckContext) -> list[Task]:
    return per_host_tasks(ctx, CHECK_ID, _host_task) + [_auth_task(ctx)]

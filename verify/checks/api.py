"""`api`: the backlog API answers the same LOCAL (on each host) and PUBLIC (from here), and the
public path refuses a missing or wrong key."""

import secrets
from dataclasses import dataclass

from contract.stack_output import Host
from verify.checks.hosts import per_host_tasks
from verify.context import CheckContext, Task, UnusableKey
from verify.probes.backlog_api import (
    BACKLOG_PATH,
    COUNT_SHAPE,
    DEFAULT_MAX_COUNT,
    ERROR_CHARS,
    MAX_BODY_BYTES,
    MAX_COUNT_VARIABLE,
    REFUSED_BY,
    ApiAnswer,
    AuthFacts,
    PathFacts,
    count_bound,
    probe_auth,
    probe_paths,
)
from verify.report import CheckResult, Status, failed
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
                   key_source: str = "the key parameter",
                   max_count: int = DEFAULT_MAX_COUNT) -> Verdict:
    """LOCAL (on the host) against PUBLIC (through the proxy), both sent the key; every
    excerpt of an answer is masked by `masker` before it is clipped. A count is what the
    publisher believes: at most `max_count` (its BACKLOG_API_MAX_COUNT)."""
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
            count, why = answer.count(max_count)
            if count is None:  # agreeing on a wrong answer proves nothing
                return Verdict(
                    Status.FAIL,
                    f"{side} answered 200 but not a backlog count ({masker.mask(why)}): "
                    f"{evidence}",
                    f"{BACKLOG_PATH} must answer {COUNT_SHAPE} with N at most "
                    f"{MAX_COUNT_VARIABLE} ({max_count}), in at most {MAX_BODY_BYTES} bytes; "
                    "the publisher refuses anything else and falls back to SQS: check the path "
                    "reaches the backlog view (not another page or a login) and the view's code "
                    f"(a real backlog above {max_count}: raise backlogApiMaxCount)",
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
        from_env = key_source.startswith("$")
        return Verdict(
            Status.FAIL,
            f"the key from {key_source} differs from the API's: both paths answer 403",
            (f"{key_source} is set and is used instead of the SSM parameter: unset it (or set "
             "it to the parameter's value) and run again; do not change the parameter for it")
            if from_env else
            "make them equal: update the parameter (aws ssm put-parameter --type SecureString "
            "--overwrite) or restart the API with the parameter's value",
        )
    if local.status == 403 and public.status is None:
        summary, hint = _public_hop(public, masker)
        return Verdict(Status.FAIL, f"LOCAL refuses the key from {key_source} (403) and {summary}",
                       f"{hint}; and make the key in the parameter equal to the API's")
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


def bodies_agree(local_before: ApiAnswer, public: ApiAnswer, local_after: ApiAnswer,
                 max_count: int = DEFAULT_MAX_COUNT) -> bool:
    """Same body, allowing the count to move between the samples (public between the two)."""
    if public.body.strip() in (local_before.body.strip(), local_after.body.strip()):
        return True
    counts = tuple(a.backlog(max_count) for a in (local_before, public, local_after))
    if None in counts:
        return False
    low, high = sorted((counts[0], counts[2]))
    return low <= counts[1] <= high


def judge_paths(target: str, facts: PathFacts, *, masker: Masker, max_count: int,
                key_source: str) -> CheckResult:
    local, public = facts.local, facts.public
    match = True
    if local.status == 200 and public.status == 200:
        match = bodies_agree(local, public, facts.local_again or local, max_count)
    verdict = diagnose_paths(local, public, match, masker=masker, key_source=key_source,
                             max_count=max_count)
    return CheckResult(CHECK_ID, target, verdict.status, verdict.summary, verdict.hint,
                       expected={"local": 200, "public": 200, "same_backlog": True,
                                 "max_count": max_count},
                       found={"local": local.status, "public": public.status,
                              "local_backlog": local.backlog(max_count),
                              "public_backlog": public.backlog(max_count),
                              "same_backlog": match})


def judge_unusable_key(target: str, problem: UnusableKey) -> CheckResult:
    """Nothing was sent: the key cannot travel in a header (or be masked)."""
    return failed(CHECK_ID, target, str(problem), problem.hint,
                  expected={"key": "usable as a header value"}, found={"key": "unusable"})


def judge_auth(facts: AuthFacts, masker: Masker) -> CheckResult:
    verdict = diagnose_auth(facts.no_key, facts.wrong_key, masker=masker)
    return CheckResult(CHECK_ID, AUTH_TARGET, verdict.status, verdict.summary, verdict.hint,
                       expected={"no_key": 403, "wrong_key": 403},
                       found={"no_key": facts.no_key.status,
                              "wrong_key": facts.wrong_key.status})


AUTH_TARGET = "public key check"


def _host_task(ctx: CheckContext, host: Host) -> Task:
    target = host.name or host.instance_id or "host"

    def run() -> CheckResult:
        try:
            key = ctx.key.get()
        except UnusableKey as problem:
            return judge_unusable_key(target, problem)
        return judge_paths(target, probe_paths(ctx, host, key), masker=ctx.masker,
                           max_count=count_bound(ctx.outputs),
                           key_source=ctx.key.source or "the key parameter")

    return Task(CHECK_ID, target, run)


def _auth_task(ctx: CheckContext) -> Task:
    return Task(CHECK_ID, AUTH_TARGET, lambda: judge_auth(
        probe_auth(ctx, "verify-wrong-" + secrets.token_hex(8)), ctx.masker))


def tasks(ctx: CheckContext) -> list[Task]:
    return per_host_tasks(ctx, CHECK_ID, _host_task) + [_auth_task(ctx)]

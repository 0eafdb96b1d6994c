"""Benchmark of the backlog publisher: AWS calls per invocation, handler time, archive size.

Runs the real handler against its own moto server and a local HTTP backlog API (both on
127.0.0.1, stopped on exit), for the worker types of the prod-asg stack's settings (their
labels, metrics and counting options; the type whose BacklogSource is api counted by the API).
Calls are counted with botocore's `before-call` hook on the session the handler's
clients come from. The worst case is timed too: an API that hangs or drips its answer
(the handler should take about BACKLOG_API_TIMEOUT_S). Usage: python bench/publisher.py [--runs N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
HANDLER_DIR = REPO_ROOT / "lambda" / "queue_depth"
REGION = "ap-northeast-2"
KEY_PARAMETER = "/academy/workers/internal-api-key"
BENCH_KEY = "bench-internal-key"
API_BACKLOG = 3

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import boto3  # noqa: E402

from contract.lambda_archive import build_archive, code_sha256  # noqa: E402
from sandbox.services.moto_server import in_process as moto_server  # noqa: E402
from stack_settings.parse import (  # noqa: E402
    BACKLOG_API_PATH,
    WorkerSettings,
    parse_settings,
)
from stack_settings.stack_files import REHEARSAL_VALUES, plain_settings, stack_config  # noqa: E402

# The worker types, their labels and metrics come from a stack's settings (asg mode: every
# type is a fleet the publisher publishes), never from names written here.
SETTINGS_STACK = "prod-asg"


def published_workers(stack: str = SETTINGS_STACK) -> dict[str, WorkerSettings]:
    config = stack_config(stack, {**REHEARSAL_VALUES, "internalApiKey": BENCH_KEY})
    settings = parse_settings(plain_settings(config), stack)
    return {wt: settings.workers[wt] for wt in settings.published_types}


WORKERS = published_workers()
API_TYPES = [wt for wt, w in WORKERS.items() if w.backlog_source == "api"]


def _layouts() -> dict[str, dict[str, str]]:
    """The stack's own namespaces, and all of them in the most used one (one PutMetricData)."""
    own = {wt: w.metric.namespace for wt, w in WORKERS.items()}
    common = Counter(own.values()).most_common(1)[0][0]
    return {"one namespace": dict.fromkeys(own, common),
            f"the {SETTINGS_STACK} stack's namespaces": own}


LAYOUTS = _layouts()


@contextmanager
def backlog_api(hits: list[str], behaviour: str = "answer") -> Iterator[str]:
    """behaviour: "answer" at once, "hang" (never answer) or "drip" (one byte a second)."""
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            hits.append(self.path)
            if behaviour == "hang":
                stopping.wait()
                return
            ok = self.headers.get("X-Internal-Key") == BENCH_KEY
            body = json.dumps({"backlog": API_BACKLOG} if ok else {"detail": "no"}).encode()
            body += b" " * 60 if behaviour == "drip" else b""
            self.send_response(200 if ok else 403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(0, len(body), 1 if behaviour == "drip" else len(body)):
                    self.wfile.write(body[i:i + (1 if behaviour == "drip" else len(body))])
                    if behaviour == "drip" and stopping.wait(1.0):
                        return
            except OSError:
                pass  # the handler gave up at its deadline

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def load_handler() -> ModuleType:
    if str(HANDLER_DIR) not in sys.path:  # its parts are top-level modules, as in the Lambda
        sys.path.insert(0, str(HANDLER_DIR))
    spec = importlib.util.spec_from_file_location(
        "queue_depth_lambda_function", HANDLER_DIR / "lambda_function.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def prepare(endpoint: str, api_url: str, namespaces: dict[str, str]) -> None:
    """Queues with some work in them, the key in SSM, and the handler's environment."""
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    session = boto3.session.Session(region_name=REGION)
    sqs, ssm = session.client("sqs"), session.client("ssm")
    ssm.put_parameter(Name=KEY_PARAMETER, Value=BENCH_KEY, Type="SecureString", Overwrite=True)
    targets = []
    for wt, namespace in namespaces.items():
        url = sqs.create_queue(QueueName=f"academy-{wt}-jobs")["QueueUrl"]
        for i in range(5):
            sqs.send_message(QueueUrl=url, MessageBody=f"job-{i}")
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=600)
        worker = WORKERS[wt]
        targets.append({
            "worker_type": wt, "queue_url": url,
            "metric": {**worker.metric.as_dict(), "namespace": namespace},
            "count_in_flight": worker.count_in_flight, "count_delayed": worker.count_delayed,
            "use_backlog_api": wt in API_TYPES,
        })
    os.environ.update({
        "BACKLOG_TARGETS": json.dumps(targets), "BACKLOG_API_BASE_URL": api_url,
        "BACKLOG_API_PATH": BACKLOG_API_PATH,
        "INTERNAL_KEY_PARAMETER": KEY_PARAMETER, "BACKLOG_API_TIMEOUT_S": "3",
    })


def measure_layout(handler: ModuleType, namespaces: dict[str, str], runs: int) -> dict:
    hits: list[str] = []
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    with moto_server() as endpoint, backlog_api(hits) as api_url:
        prepare(endpoint, api_url, namespaces)
        handler.reset_container()
        boto3.setup_default_session()
        # The handler's clients copy the session's hooks when they are created (cold start).
        boto3.DEFAULT_SESSION.events.register("before-call", count)

        figures: dict[str, Any] = {}
        for phase in ("cold", "warm"):
            calls.clear()
            hits.clear()
            started = time.perf_counter()
            result = handler.handler({}, None)
            elapsed = time.perf_counter() - started
            figures[phase] = {"calls": dict(sorted(calls.items())), "http": len(hits),
                              "ms": elapsed * 1000, "ok": result["ok"],
                              "api_sources": _api_sources(result)}
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            handler.handler({}, None)
            times.append(time.perf_counter() - started)
        figures["warm_median_ms"] = statistics.median(times) * 1000
        figures["warm_p90_ms"] = sorted(times)[int(0.9 * (len(times) - 1))] * 1000
        handler.reset_container()
        boto3.DEFAULT_SESSION = None
    return figures


def _api_sources(result: dict) -> str:
    """Where the API-counted types' backlog came from: `video=api`, or `none`."""
    return ", ".join(f"{wt}={result['worker_types'][wt]['source']}" for wt in API_TYPES) or "none"


def measure_worst_case(handler: ModuleType, behaviour: str) -> dict:
    """One warm invocation against an API that hangs or drips: the deadline bounds it."""
    hits: list[str] = []
    with moto_server() as endpoint, backlog_api(hits, behaviour) as api_url:
        prepare(endpoint, api_url, LAYOUTS[f"the {SETTINGS_STACK} stack's namespaces"])
        handler.reset_container()
        boto3.setup_default_session()
        handler.handler({}, None)  # cold start: clients and key, outside the figure
        started = time.perf_counter()
        result = handler.handler({}, None)
        elapsed = time.perf_counter() - started
        handler.reset_container()
        boto3.DEFAULT_SESSION = None
    reasons = "; ".join(f"{wt}: {result['worker_types'][wt]['reason']}" for wt in API_TYPES)
    return {"ms": elapsed * 1000, "published": len(result["published"]),
            "sources": _api_sources(result), "reasons": reasons or "no API-counted type"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="warm invocations to time")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    import logging

    # Keep the report readable: no per-invocation JSON line, no moto request log.
    logging.getLogger("queue_depth").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    handler = load_handler()
    archive = build_archive(HANDLER_DIR)
    print(f"Backlog publisher benchmark ({len(WORKERS)} worker types of the {SETTINGS_STACK} "
          f"settings: {', '.join(WORKERS)}; by the backlog API: {', '.join(API_TYPES) or 'none'})")
    print(f"archive: {len(archive)} bytes, CodeSha256 {code_sha256(archive)}")
    for name, namespaces in LAYOUTS.items():
        figures = measure_layout(handler, namespaces, args.runs)
        print(f"\nlayout: {name}")
        for phase in ("cold", "warm"):
            f = figures[phase]
            total = sum(f["calls"].values())
            breakdown = ", ".join(f"{op} {n}" for op, n in f["calls"].items())
            note = " (incl. client creation)" if phase == "cold" else ""
            print(f"  {phase}: {total} AWS calls ({breakdown}); HTTP {f['http']}; "
                  f"{f['ms']:.1f} ms{note}; ok={f['ok']} source {f['api_sources']}")
        print(f"  handler time, warm, median of {args.runs}: {figures['warm_median_ms']:.1f} ms "
              f"(p90 {figures['warm_p90_ms']:.1f} ms, moto on loopback)")
    deadline = os.environ["BACKLOG_API_TIMEOUT_S"]
    print(f"\nworst case, BACKLOG_API_TIMEOUT_S={deadline} (warm invocation):")
    for behaviour in ("hang", "drip"):
        f = measure_worst_case(handler, behaviour)
        print(f"  API that {behaviour}s: handler {f['ms']:.0f} ms; {f['published']} of "
              f"{len(WORKERS)} published; source {f['sources']} ({f['reasons']})")
    print("\nseeds' first Lambda: up to 6 calls a minute to SQS, SSM and Auto Scaling")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fixtures for the publisher: a real moto server, a real HTTP backlog API, its modules.

The handler lives in `lambda/` (a Python keyword), so it is loaded by file path; its parts
(backlog_count, backlog_http, publisher_config) are top-level modules of the Lambda's task
root, so that directory goes on sys.path, as the Lambda runtime puts it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest

from stack_settings.parse import BACKLOG_API_PATH

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLER_DIR = REPO_ROOT / "lambda" / "queue_depth"
HANDLER_PATH = HANDLER_DIR / "lambda_function.py"
REGION = "ap-northeast-2"
KEY_PARAMETER = "/academy/workers/internal-api-key"
INTERNAL_KEY = "test-internal-key-5f1c9e"  # a stand-in secret the tests hunt for in the logs
BACKLOG_PATH = BACKLOG_API_PATH  # the one definition, in the settings module

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def load_handler_module() -> ModuleType:
    _on_path()
    spec = importlib.util.spec_from_file_location("queue_depth_lambda_function", HANDLER_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _on_path() -> None:
    if str(HANDLER_DIR) not in sys.path:
        sys.path.insert(0, str(HANDLER_DIR))


def load_part(name: str) -> ModuleType:
    """One of the handler's parts, the module the handler itself imports."""
    _on_path()
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def handler_module() -> ModuleType:
    return load_handler_module()


@pytest.fixture(scope="session")
def config_module(handler_module: ModuleType) -> ModuleType:
    return load_part("publisher_config")


@pytest.fixture(scope="session")
def count_module(handler_module: ModuleType) -> ModuleType:
    return load_part("backlog_count")


@dataclass
class Aws:
    """Clients of the test itself (not the handler's) against the moto server."""

    endpoint: str
    sqs: Any
    cloudwatch: Any
    ssm: Any

    def queue(self, name: str) -> str:
        return self.sqs.create_queue(QueueName=name)["QueueUrl"]

    def fill(self, url: str, visible: int = 0, in_flight: int = 0, delayed: int = 0) -> None:
        """Leave the queue with exactly these counts (in flight = received, not deleted)."""
        for i in range(visible + in_flight):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"job-{i}")
        received = 0
        while received < in_flight:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=min(10, in_flight - received),
                VisibilityTimeout=600,
            ).get("Messages", [])
            assert batch, "moto returned no message to put in flight"
            received += len(batch)
        for i in range(delayed):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"later-{i}", DelaySeconds=600)

    def metrics(self) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
        """Every metric CloudWatch holds: (namespace, name, exact dimensions)."""
        found = set()
        for page in self.cloudwatch.get_paginator("list_metrics").paginate():
            for m in page["Metrics"]:
                dims = frozenset((d["Name"], d["Value"]) for d in m.get("Dimensions", []))
                found.add((m["Namespace"], m["MetricName"], dims))
        return found

    def datapoints(self, metric: dict[str, Any]) -> list[dict[str, Any]]:
        """The datapoints published under exactly this namespace/name/dimensions/unit."""
        dims = frozenset(metric["dimensions"].items())
        if (metric["namespace"], metric["name"], dims) not in self.metrics():
            return []
        now = datetime.now(UTC)
        return self.cloudwatch.get_metric_statistics(
            Namespace=metric["namespace"],
            MetricName=metric["name"],
            Dimensions=[{"Name": k, "Value": v} for k, v in metric["dimensions"].items()],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=10),
            Period=60,
            Statistics=["Maximum", "Minimum", "SampleCount"],
            Unit=metric["unit"],
        )["Datapoints"]

    def published_value(self, metric: dict[str, Any]) -> float | None:
        points = self.datapoints(metric)
        if not points:
            return None
        assert sum(p["SampleCount"] for p in points) == 1, f"expected one datapoint: {points}"
        assert points[0]["Maximum"] == points[0]["Minimum"]
        return points[0]["Maximum"]


_LOADER = botocore.loaders.create_loader()


def _fresh_session() -> boto3.session.Session:
    """A session of its own (no hooks of an earlier test) reading botocore's service models from
    one loader, so they are parsed once per run rather than once per test."""
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, region_name=REGION)


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    for var in ("NO_PROXY", "no_proxy"):  # loopback servers must never go through a proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    # A clean moto state per test; the server itself is the session's (tests/conftest.py).
    reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - loopback moto server
    handler_module.reset_container()
    boto3.DEFAULT_SESSION = session = _fresh_session()
    yield Aws(
        endpoint=moto_url,
        sqs=session.client("sqs"),
        cloudwatch=session.client("cloudwatch"),
        ssm=session.client("ssm"),
    )
    handler_module.reset_container()
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def aws_calls(aws: Aws) -> Counter[str]:
    """Counts every AWS call the handler's clients make, as 'service.Operation'."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    # Clients copy the session's hooks when created, so register before the first invocation.
    boto3.DEFAULT_SESSION.events.register("before-call", count)
    return calls


@dataclass
class BacklogApiStub:
    """A real HTTP server answering like the Django backlog endpoint (403 on a wrong key)."""

    expected_key: str
    status: int | None = None  # None: 200 with a right key, 403 otherwise
    body: bytes = b'{"backlog": 0}'
    delay_s: float = 0.0
    location: str | None = None
    refused_by: str | None = None  # the X-Refused-By header nginx puts on its own 403
    drip_s: float = 0.0  # > 0: the body goes out one byte per drip_s seconds
    hang: bool = False  # read the request, then answer nothing until the server stops
    raw: bytes | None = None  # sent as is instead of a well-formed response
    endless: bytes | None = None  # after raw: sent again and again until the client leaves
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def answer(
        self, body: Any = None, status: int | None = None, delay_s: float = 0.0,
        location: str | None = None, refused_by: str | None = None, drip_s: float = 0.0,
        hang: bool = False, raw: bytes | None = None, endless: bytes | None = None,
    ) -> None:
        if body is not None:
            self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.status, self.delay_s, self.location = status, delay_s, location
        self.refused_by, self.drip_s, self.hang, self.raw = refused_by, drip_s, hang, raw
        self.endless = endless


def _stub_handler(stub: BacklogApiStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            key = self.headers.get("X-Internal-Key")
            stub.requests.append({"path": self.path, "key": key})
            if stub.delay_s:
                time.sleep(stub.delay_s)
            if stub.hang:
                stub.stopping.wait()
                return
            if stub.raw is not None:
                self._send(stub.raw)
                while stub.endless and not stub.stopping.is_set() and self._send(stub.endless):
                    pass
                self.close_connection = True
                return
            status = stub.status
            if status is None:
                status = 200 if key == stub.expected_key else 403
            if self.path != BACKLOG_PATH:
                status = 404
            body = stub.body if status == 200 else b'{"detail": "no"}'
            try:
                self.send_response(status)
                if stub.location:
                    self.send_header("Location", stub.location)
                if stub.refused_by:
                    self.send_header("X-Refused-By", stub.refused_by)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
            except OSError:
                return  # the client gave up (the timeout test)
            self._send(body)

        def _send(self, data: bytes) -> bool:
            """Raw bytes, dripped one at a time when drip_s is set (headers included);
            False once the client is gone."""
            try:
                if not stub.drip_s:
                    self.wfile.write(data)
                for i in range(len(data) if stub.drip_s else 0):
                    if stub.stopping.wait(stub.drip_s):
                        return False
                    self.wfile.write(data[i:i + 1])
            except OSError:
                return False  # the client gave up (the deadline and size tests)
            return True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def _serving(host: str) -> Iterator[BacklogApiStub]:
    stub = BacklogApiStub(expected_key=INTERNAL_KEY)
    server = ThreadingHTTPServer((host, 0), _stub_handler(stub))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        stub.base_url = f"http://{host}:{server.server_address[1]}"
        yield stub
    finally:
        stub.stopping.set()  # releases the hanging and dripping answers
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def backlog_api() -> Iterator[BacklogApiStub]:
    with _serving("127.0.0.1") as stub:
        yield stub


@pytest.fixture
def other_host() -> Iterator[BacklogApiStub]:
    """The same API on another loopback address: a redirect there must not carry the key."""
    with _serving("127.0.0.2") as stub:
        yield stub


METRICS = {
    "ai": {"namespace": "Academy/Workers", "name": "QueueDepth",
           "dimensions": {"WorkerType": "AI"}, "unit": "Count"},
    "messaging": {"namespace": "Academy/Workers", "name": "QueueDepth",
                  "dimensions": {"WorkerType": "Messaging"}, "unit": "Count"},
    "video": {"namespace": "Academy/VideoProcessing", "name": "BacklogCount",
              "dimensions": {"WorkerType": "Video",
                             "AutoScalingGroupName": "academy-video-worker-asg"},
              "unit": "Count"},
}


@dataclass
class Publisher:
    """Three queues, the key in SSM, and the handler's environment as the component sets it."""

    aws: Aws
    handler_module: ModuleType
    monkeypatch: pytest.MonkeyPatch
    api: BacklogApiStub
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: str = INTERNAL_KEY
    key_parameter: str = KEY_PARAMETER
    metrics: dict[str, dict[str, Any]] = field(default_factory=lambda: METRICS)

    def url(self, worker_type: str) -> str:
        return self.targets[worker_type]["queue_url"]

    def configure(
        self, api_base_url: str | None = None, timeout_s: float = 3.0,
        max_count: int | None = None,
    ) -> None:
        """The environment components/publisher.py sets; max_count None leaves the default."""
        base = self.api.base_url if api_base_url is None else api_base_url
        if max_count is None:
            self.monkeypatch.delenv("BACKLOG_API_MAX_COUNT", raising=False)
        else:
            self.monkeypatch.setenv("BACKLOG_API_MAX_COUNT", str(max_count))
        self.monkeypatch.setenv("BACKLOG_TARGETS", json.dumps(list(self.targets.values())))
        self.monkeypatch.setenv("BACKLOG_API_BASE_URL", base)
        self.monkeypatch.setenv("BACKLOG_API_PATH", BACKLOG_PATH)
        self.monkeypatch.setenv("INTERNAL_KEY_PARAMETER", KEY_PARAMETER)
        self.monkeypatch.setenv("BACKLOG_API_TIMEOUT_S", str(timeout_s))

    def invoke(self) -> dict[str, Any]:
        return self.handler_module.handler({"source": "aws.events"}, None)

    def invoke_failing(self) -> dict[str, Any]:
        """Invoke expecting BacklogUnavailable; return the payload its message carries."""
        with pytest.raises(self.handler_module.BacklogUnavailable) as raised:
            self.invoke()
        return json.loads(str(raised.value))

    def value(self, worker_type: str) -> float | None:
        return self.aws.published_value(METRICS[worker_type])


@pytest.fixture
def publisher(
    aws: Aws, backlog_api: BacklogApiStub, handler_module: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> Publisher:
    aws.ssm.put_parameter(Name=KEY_PARAMETER, Value=INTERNAL_KEY, Type="SecureString")
    pub = Publisher(aws, handler_module, monkeypatch, backlog_api)
    for wt in ("ai", "messaging", "video"):
        pub.targets[wt] = {
            "worker_type": wt,
            "queue_url": aws.queue(f"academy-{wt}-jobs"),
            "metric": METRICS[wt],
            "count_in_flight": True,
            "count_delayed": False,
            "use_backlog_api": wt == "video",
        }
    pub.configure()
    return pub

"""The whole run lives inside --timeout: an AWS endpoint or public URL that accepts connections
and never answers is probed once, reported once with its address, and the checks that do not
need it still run."""

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.verify.cli_run import KEY, minimal_outputs, verify


@pytest.fixture
def silent() -> Iterator[str]:
    """A real TCP server on loopback that accepts every connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(1)
        for conn in held:
            conn.close()
        listener.close()


def outputs_with_a_host(public_url: str, local_url: str, tag: str | None) -> dict:
    document = minimal_outputs(public_url)
    api = document["academy"]["api"]
    api.update(local_base_url=local_url, host_tag=tag,
               hosts=[{"name": "web", "instance_id": None, "ssh": None}])
    return document


def aws_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "ap-northeast-2", "AWS_PROFILE": "",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "ACADEMY_INTERNAL_KEY": KEY}


def run_all(path, env: dict[str, str]) -> tuple[float, dict, str]:
    started = time.monotonic()
    done = verify("all", "--outputs", str(path), "--transport", "local", "--timeout", "3",
                  "--json", env=env)
    elapsed = time.monotonic() - started
    assert "Traceback" not in done.stderr
    assert done.returncode == 1
    return elapsed, json.loads(done.stdout), done.stdout


def test_a_silent_aws_endpoint_is_one_clear_error_and_the_rest_runs(silent, backlog_api,
                                                                    write_json):
    path = write_json(outputs_with_a_host(backlog_api.public_url, backlog_api.local_url,
                                          "Role=academy-api"))
    elapsed, report, text = run_all(path, aws_env(silent))
    assert elapsed < 10  # a behaviour bound: 3 s asked, 30 s before
    rows = report["checks"]
    preflight = [r for r in rows if r["id"] == "preflight"]
    assert [(r["target"], r["status"]) for r in preflight] == [("AWS endpoint", "error")]
    assert silent in preflight[0]["summary"] and "did not answer" in preflight[0]["summary"]
    assert "deadline" not in text
    by_target = {(r["id"], r["target"]): r for r in rows}
    assert by_target[("api", "web")]["status"] == "pass"  # over the host's transport and HTTP
    assert by_target[("api", "public key check")]["status"] == "pass"
    assert by_target[("nginx", "web")]["status"] in ("pass", "fail")  # it ran (no such file)
    needs_aws = [r for r in rows if r["id"] in ("metric", "publisher", "queues")]
    assert needs_aws and all(r["status"] == "error" and "preflight" in r["summary"]
                             for r in needs_aws)
    tagged = by_target[("api", "hosts tagged Role=academy-api")]
    assert tagged["status"] == "error" and "preflight" in tagged["summary"]


def test_a_silent_public_url_is_one_clear_error(silent, backlog_api, write_json):
    path = write_json(outputs_with_a_host(silent, backlog_api.local_url, None))
    started = time.monotonic()
    done = verify("api", "--outputs", str(path), "--transport", "local", "--timeout", "3",
                  "--json", env={"ACADEMY_INTERNAL_KEY": KEY})
    assert time.monotonic() - started < 10
    rows = {(r["id"], r["target"]): r for r in json.loads(done.stdout)["checks"]}
    assert rows[("preflight", "public URL")]["status"] == "error"
    assert silent in rows[("preflight", "public URL")]["summary"]
    web = rows[("api", "web")]
    assert web["status"] == "fail" and "PUBLIC unreachable" in web["summary"]
    assert "LOCAL 200" in web["summary"]  # LOCAL was still asked on the host
    assert "deadline" not in done.stdout

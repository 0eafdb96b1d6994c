"""Issue 15.3: no answer of the backlog API stops the others, at the function's real size.

The publisher's archive runs in the sandbox's Lambda runtime, held to the function's
MemorySize (components/publisher.py) by a memory cgroup, while a real HTTP server answers
with a stream that never ends in one of the framings HTTP allows (or does not). Every other
type must be published and the video type end on its SQS fallback, within the API deadline:
a reader that follows the stream (chunk size -1 made http.client read to the end: 494 MB in
3 s) is killed by the kernel before it publishes anything.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from components.publisher import MEMORY_SIZE_MB
from contract.lambda_archive import build_archive
from sandbox.services import lambda_runtime, memory_limit
from tests.publisher.conftest import HANDLER_DIR

API_DEADLINE_S = 2.0
FILLER = b"9" * 65536
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
PUBLISHER_ENV = ("BACKLOG_TARGETS", "BACKLOG_API_BASE_URL", "BACKLOG_API_PATH",
                 "INTERNAL_KEY_PARAMETER", "BACKLOG_API_TIMEOUT_S")

# (first bytes, bytes then sent again and again, how the publisher must say it fell back)
ENDLESS = {
    "chunk-size-minus-one": (CHUNKED + b"-1\r\n", FILLER,
                             "bad response: chunk size '-1' is not a hex number"),
    "chunk-size-huge": (CHUNKED + b"ffffffffffffffffffff\r\n", FILLER,
                        "bad response: body over 4096 bytes"),
    "chunk-size-line-endless": (CHUNKED + b"4;ext=", FILLER,
                                "bad response: answer over 16384 bytes"),
    "chunks-endless": (CHUNKED, b"1\r\n9\r\n" * 4096,
                       "bad response: answer over 16384 bytes"),
    "trailers-endless": (CHUNKED + b"0\r\n", b"X-Trailer: 1\r\n" * 4096,
                         "bad response: answer over 16384 bytes"),
    "no-length-until-close": (HEAD + b"\r\n", FILLER, "bad response: body over 4096 bytes"),
    "content-length-huge": (HEAD + b"Content-Length: 99999999999999999999\r\n\r\n", FILLER,
                            "bad response: body over 4096 bytes"),
    "content-length-negative": (HEAD + b"Content-Length: -1\r\n\r\n", FILLER,
                                "bad response: Content-Length '-1' is not a length"),
    "header-line-endless": (HEAD + b"X-Long: ", FILLER,
                            "bad response: answer over 16384 bytes"),
    "headers-endless": (HEAD, b"X-More: 1\r\n" * 4096, "bad response: answer over 16384 bytes"),
    "status-line-endless": (b"HTTP/1.1 200 ", FILLER, "bad response: answer over 16384 bytes"),
    "interim-answers-endless": (b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 1024, "HTTP 100"),
}


@pytest.fixture(scope="module")
def limited() -> None:
    reason = memory_limit.unavailable_reason()
    if reason:
        pytest.skip(f"no memory cgroup can be made on this machine: {reason}")


@pytest.fixture
def loaded(publisher):
    publisher.configure(timeout_s=API_DEADLINE_S)
    publisher.aws.fill(publisher.url("ai"), visible=1)
    publisher.aws.fill(publisher.url("messaging"), visible=2)
    publisher.aws.fill(publisher.url("video"), visible=3)
    return publisher


def invoke_at_memory_size(publisher) -> lambda_runtime.Invocation:
    env = {name: os.environ[name] for name in PUBLISHER_ENV}
    return lambda_runtime.invoke_deployed_code(
        build_archive(HANDLER_DIR), "lambda_function.handler", env, b"{}",
        timeout_s=30, log=[], memory_mb=MEMORY_SIZE_MB)


def test_the_function_is_held_to_its_memory_size(limited) -> None:
    """The limit is real: the same runtime kills a handler that goes past it."""
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lambda_function.py",
                    "def handler(event, context):\n"
                    f"    return len(b'x' * ({MEMORY_SIZE_MB} + 64) * 1024 * 1024)\n")
    done = lambda_runtime.invoke_deployed_code(
        archive.getvalue(), "lambda_function.handler", {}, b"{}", timeout_s=30,
        memory_mb=MEMORY_SIZE_MB)

    assert not done.succeeded
    assert json.loads(done.payload)["errorType"] == "Runtime.OutOfMemory"


@pytest.mark.parametrize("case", list(ENDLESS))
def test_an_endless_answer_leaves_the_others_published_at_the_memory_size(
    loaded, limited, case: str
) -> None:
    head, endless, reason = ENDLESS[case]
    loaded.api.answer(raw=head, endless=endless)

    started = time.monotonic()
    done = invoke_at_memory_size(loaded)
    took = time.monotonic() - started

    assert done.succeeded, done.payload.decode()
    payload = json.loads(done.payload)
    video = payload["worker_types"]["video"]
    assert (video["source"], video["value"]) == ("sqs", 3)
    assert video["reason"] == reason
    assert payload["published"] == ["ai", "messaging", "video"]
    assert (loaded.value("ai"), loaded.value("messaging"), loaded.value("video")) == (1, 2, 3)
    assert done.max_memory_mb is not None and done.max_memory_mb < MEMORY_SIZE_MB
    assert took < API_DEADLINE_S + 10

"""Issue 9.3: no answer of the backlog API stops the other worker types from being published.

Each answer comes from a real HTTP server; every type's datapoint is read back from the moto
server and the invocation's one JSON log line is checked. AI has 1 visible message,
messaging 2, video 3: a video fallback publishes 3, and AI and messaging always theirs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from stack_settings.stack_files import schema
from tests.publisher.conftest import BACKLOG_PATH, INTERNAL_KEY

DEADLINE_S = 1.0  # small, so the drip and hang cases end fast
ROOMY_S = 5.0  # for every other case: the deadline is not what they test


@pytest.fixture
def loaded(publisher):
    publisher.configure(timeout_s=ROOMY_S)
    publisher.aws.fill(publisher.url("ai"), visible=1)
    publisher.aws.fill(publisher.url("messaging"), visible=2)
    publisher.aws.fill(publisher.url("video"), visible=3)
    return publisher


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "queue_depth"]


def assert_video_fell_back(publisher, caplog, reason: str) -> dict[str, Any]:
    """Invoke; video must come from SQS with the reason, every type read back from CloudWatch."""
    caplog.set_level(logging.INFO, logger="queue_depth")
    payload = publisher.invoke()

    video = payload["worker_types"]["video"]
    assert (video["source"], video["api_count"], video["value"]) == ("sqs", None, 3)
    assert video["reason"].startswith(reason), video["reason"]
    assert payload["ok"] is True
    assert (publisher.value("ai"), publisher.value("messaging"), publisher.value("video")) == (
        1, 2, 3
    )
    assert log_lines(caplog) == [payload]
    assert publisher.key not in json.dumps(payload)
    return payload


SEVEN = b'{"backlog": 7}'  # 14 bytes: a count the publisher would believe


def _answer(headers: bytes, body: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + headers + b"\r\n\r\n" + body


def _padded(size: int) -> bytes:
    return b'{"backlog": 3' + b" " * size + b"}"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"body": b'{"backlog": ' + b"9" * 5001 + b"}"}, "bad response: body over 4096 bytes"),
        ({"body": b'{"backlog": ' + b"9" * 401 + b"}"}, "bad response: backlog has 401 digits"),
        ({"body": b'{"backlog": -' + b"9" * 5001 + b"}"},
         "bad response: body over 4096 bytes"),
        ({"body": b'{"backlog": ' + b"9" * 21 + b"}"}, "bad response: backlog has 21 digits"),
        ({"body": {"backlog": 3.0}}, "bad response: backlog must be a JSON integer, got a float"),
        ({"body": b'{"backlog": 1e999}'},
         "bad response: backlog must be a JSON integer, got a float"),
        ({"body": {"backlog": -1}}, "bad response: backlog -1 is negative"),
        ({"body": {"backlog": "3"}},
         "bad response: backlog must be a JSON integer, got a string"),
        ({"body": {"backlog": None}}, "bad response: backlog must be a JSON integer, got null"),
        ({"body": {"backlog": True}},
         "bad response: backlog must be a JSON integer, got a boolean"),
        ({"body": b'{"backlog": NaN}'}, "bad response: NaN is not JSON"),
        ({"body": b'{"backlog": -Infinity}'}, "bad response: -Infinity is not JSON"),
        ({"body": [3]}, 'bad response: expected {"backlog": <integer>}, got a list'),
        ({"body": {"count": 3}}, 'bad response: expected {"backlog": <integer>}, got no "backlog"'),
        ({"body": b"<html>bad gateway</html>"}, "bad response: body is not JSON"),
        ({"body": b"\xff\xfe{}"}, "bad response: body is not JSON"),
        ({"body": b"[" * 4000}, "bad response: body is not JSON"),
        ({"body": {"backlog": 100_001}},
         "bad response: backlog 100001 is above BACKLOG_API_MAX_COUNT (100000)"),
        ({"body": _padded(20 * 1024 * 1024)}, "bad response: body over 4096 bytes"),
        ({"raw": b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"backlog": 7}'},
         "bad response: answer ended after 14 of the 100 bytes of the body"),
        ({"raw": b"SSH-2.0-OpenSSH_9.2\r\n\r\n"},
         "bad response: status line 'SSH-2.0-OpenSSH_9.2' is not HTTP/1.x and a 3-digit status"),
        ({"body": b'{"backlog": 3, "backlog": 99999}'},
         "bad response: the key 'backlog' appears twice in one object"),
        ({"body": b'{"backlog": 3, "x": {"a": 1, "a": 2}}'},
         "bad response: the key 'a' appears twice in one object"),
        ({"raw": _answer(b"Transfer-Encoding: chunked", b"-1\r\n" + b"9" * 64)},
         "bad response: chunk size '-1' is not a hex number"),
        ({"raw": _answer(b"Transfer-Encoding: chunked", b"+e\r\n" + SEVEN + b"\r\n0\r\n\r\n")},
         "bad response: chunk size '+e' is not a hex number"),
        ({"raw": _answer(b"Transfer-Encoding: chunked", b"0xe\r\n" + SEVEN + b"\r\n0\r\n\r\n")},
         "bad response: chunk size '0xe' is not a hex number"),
        ({"raw": _answer(b"Transfer-Encoding: chunked", b"2\r\n" + SEVEN + b"\r\n0\r\n\r\n")},
         "bad response: chunk data longer than its size"),
        ({"raw": _answer(b"Transfer-Encoding: chunked", b"e\r\n" + SEVEN)},
         "bad response: answer ended inside the chunk"),
        ({"raw": _answer(b"Transfer-Encoding: gzip, chunked", b"")},
         "bad response: Transfer-Encoding 'gzip, chunked' is not chunked"),
        ({"raw": _answer(b"Transfer-Encoding: chunked\r\nContent-Length: 14",
                         b"e\r\n" + SEVEN + b"\r\n0\r\n\r\n")},
         "bad response: both Transfer-Encoding and Content-Length"),
        ({"raw": _answer(b"Content-Length: 14\r\nContent-Length: 15", SEVEN)},
         "bad response: Content-Length given more than once, differently"),
        ({"raw": _answer(b"Content-Length: +14", SEVEN)},
         "bad response: Content-Length '+14' is not a length"),
        ({"raw": _answer(b"Content-Length: 14\r\n folded", SEVEN)},
         "bad response: header line ' folded' is not a header"),
        ({"raw": b"HTTP/1.1 0200 OK\r\nContent-Length: 14\r\n\r\n" + SEVEN},
         "bad response: status line 'HTTP/1.1 0200 OK' is not HTTP/1.x and a 3-digit status"),
        ({"raw": b"HTTP/1.1 +200 OK\r\nContent-Length: 14\r\n\r\n" + SEVEN},
         "bad response: status line 'HTTP/1.1 +200 OK' is not HTTP/1.x and a 3-digit status"),
        ({"raw": b"HTTP/1.1 2_00 OK\r\nContent-Length: 14\r\n\r\n" + SEVEN},
         "bad response: status line 'HTTP/1.1 2_00 OK' is not HTTP/1.x and a 3-digit status"),
        ({"raw": "HTTP/1.1 \uff12\uff10\uff10 OK\r\n\r\n".encode() + SEVEN},
         "bad response: status line 'HTTP/1.1 "),
        ({"raw": b"HTTP/1.1  200 OK\r\nContent-Length: 14\r\n\r\n" + SEVEN},
         "bad response: status line 'HTTP/1.1  200 OK' is not HTTP/1.x and a 3-digit status"),
        ({"raw": b""}, "bad response: connection closed without an answer"),
    ],
    ids=["5001-digits", "401-digits", "5001-negative", "21-digits", "float", "float-overflow",
         "negative", "string", "null", "bool", "nan", "infinity", "list", "no-backlog", "not-json",
         "not-utf8", "deep-nesting", "above-bound", "20mb", "cut-short", "not-http",
         "duplicate-backlog", "duplicate-nested", "chunk-minus-one", "chunk-plus", "chunk-0x",
         "chunk-longer-than-size", "chunk-cut-short", "transfer-encoding-gzip",
         "te-and-content-length", "content-length-twice", "content-length-plus",
         "folded-header", "status-0200", "status-plus-200", "status-2_00", "status-fullwidth",
         "status-two-spaces", "closed-silently"],
)
def test_a_bad_answer_falls_back_and_the_others_are_published(
    loaded, caplog, answer: dict, reason: str
) -> None:
    loaded.api.answer(**answer)

    assert_video_fell_back(loaded, caplog, reason)
    assert len(loaded.api.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"body": {"backlog": 7}, "drip_s": 0.25},  # 3.5 s in all, each byte well within 1 s
        {"raw": b'HTTP/1.0 200 OK\r\n\r\n{"backlog": 7}', "drip_s": 0.2},
        {"hang": True},
    ],
    ids=["body-drip", "header-drip", "hang"],
)
def test_one_deadline_covers_the_whole_answer(loaded, caplog, answer: dict) -> None:
    """Socket timeouts are per read: a drip would hold the handler to the Lambda's timeout."""
    loaded.configure(timeout_s=DEADLINE_S)
    loaded.api.answer(**answer)

    assert_video_fell_back(loaded, caplog, "timeout after 1s")


@pytest.mark.parametrize(
    "raw",
    [
        _answer(b"Content-Length: 14", SEVEN),
        _answer(b"Content-Length: 14\r\nContent-Length: 14", SEVEN),
        _answer(b"Content-Length: 14", SEVEN + b"trailing bytes past the length"),
        b"HTTP/1.0 200 OK\r\n\r\n" + SEVEN,  # no length: the body ends when the server closes
        b"HTTP/1.1 200\r\nContent-Length: 14\r\n\r\n" + SEVEN,  # no reason phrase
        b"HTTP/1.1 200 OK\nContent-Length: 14\n\n" + SEVEN,  # bare LF, as http.client takes
        _answer(b"Transfer-Encoding: chunked", b"e\r\n" + SEVEN + b"\r\n0\r\n\r\n"),
        _answer(b"Transfer-Encoding: Chunked", b"7\r\n" + SEVEN[:7] + b"\r\n0007;x=y\r\n"
                + SEVEN[7:] + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"),
    ],
    ids=["content-length", "same-length-twice", "bytes-past-length", "until-close",
         "no-reason", "bare-lf", "chunked", "chunked-extension-trailer"],
)
def test_every_well_framed_answer_is_believed(loaded, raw: bytes) -> None:
    loaded.api.answer(raw=raw)

    payload = loaded.invoke()

    assert payload["worker_types"]["video"]["source"] == "api", payload["worker_types"]["video"]
    assert (loaded.value("ai"), loaded.value("messaging"), loaded.value("video")) == (1, 2, 7)


def test_a_count_at_the_bound_is_believed(loaded) -> None:
    loaded.configure(timeout_s=ROOMY_S, max_count=5)
    loaded.api.answer({"backlog": 5})

    payload = loaded.invoke()

    assert payload["worker_types"]["video"]["source"] == "api"
    assert (loaded.value("ai"), loaded.value("messaging"), loaded.value("video")) == (1, 2, 5)


def test_a_count_above_the_bound_setting_is_not(loaded, caplog) -> None:
    loaded.configure(timeout_s=ROOMY_S, max_count=5)
    loaded.api.answer({"backlog": 6})

    assert_video_fell_back(
        loaded, caplog, "bad response: backlog 6 is above BACKLOG_API_MAX_COUNT (5)"
    )


def test_the_handlers_default_bound_is_the_settings_default(count_module) -> None:
    """The archive cannot read Pulumi.yaml: its copy of the default is guarded here."""
    assert schema()["backlogApiMaxCount"]["default"] == count_module.DEFAULT_MAX_COUNT


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_never_gets_the_key(
    loaded, caplog, other_host, status: int
) -> None:
    other_host.answer({"backlog": 99})
    loaded.api.answer(status=status, location=other_host.base_url + BACKLOG_PATH)
    host = other_host.base_url.removeprefix("http://")

    assert_video_fell_back(loaded, caplog, f"HTTP {status}: redirect to {host} not followed")
    assert other_host.requests == []


def test_a_key_that_is_no_header_value_is_said_and_never_shown(loaded, caplog) -> None:
    """A key pasted with its newline: the request cannot be built; the key stays out of logs."""
    loaded.aws.ssm.put_parameter(Name=loaded.key_parameter, Value=INTERNAL_KEY + "\n",
                                 Type="SecureString", Overwrite=True)

    assert_video_fell_back(
        loaded, caplog, "internal key unusable: the parameter's value is not a valid header"
    )
    assert INTERNAL_KEY not in caplog.text
    assert loaded.api.requests == []

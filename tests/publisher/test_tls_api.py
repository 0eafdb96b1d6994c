"""The publisher's own HTTP reader over TLS (production's API is https): a trusted
certificate is believed, an untrusted one is a fallback naming TLS, and a server that never
finishes the handshake is held to the one deadline."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.publisher.conftest import INTERNAL_KEY, BacklogApiStub, _stub_handler


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls_api(certificate) -> Iterator[BacklogApiStub]:
    cert, key = certificate
    stub = BacklogApiStub(expected_key=INTERNAL_KEY)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _stub_handler(stub))
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stub.base_url = f"https://localhost:{server.server_address[1]}"
    try:
        yield stub
    finally:
        stub.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """Takes the connection and never says a word: the TLS handshake waits forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_trusted_certificate_is_believed(publisher, tls_api, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    publisher.configure(api_base_url=tls_api.base_url)
    tls_api.answer({"backlog": 7})

    payload = publisher.invoke()

    assert payload["worker_types"]["video"]["source"] == "api", payload["worker_types"]
    assert publisher.value("video") == 7
    assert tls_api.requests[0]["key"] == INTERNAL_KEY


def test_an_untrusted_certificate_is_a_fallback_that_says_tls(publisher, tls_api):
    publisher.configure(api_base_url=tls_api.base_url)
    publisher.aws.fill(publisher.url("video"), visible=2)
    tls_api.answer({"backlog": 7})

    payload = publisher.invoke()

    video = payload["worker_types"]["video"]
    assert (video["source"], video["value"]) == ("sqs", 2)
    assert video["reason"].startswith("TLS failed: CERTIFICATE_VERIFY_FAILED"), video["reason"]
    assert tls_api.requests == []  # the key never left


def test_a_handshake_that_never_ends_is_held_to_the_deadline(publisher, silent_listener):
    publisher.configure(api_base_url=f"https://localhost:{silent_listener}", timeout_s=1.0)
    publisher.aws.fill(publisher.url("video"), visible=2)

    started = time.monotonic()
    payload = publisher.invoke()

    # Without the deadline the handshake waits forever; the margin is for a loaded machine.
    assert time.monotonic() - started < 6
    video = payload["worker_types"]["video"]
    assert (video["source"], video["reason"]) == ("sqs", "timeout after 1s")

"""The real server (daphne, on twisted) leaves malformed bodies to Django: problem+json, an id."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import ROOT, worker_environment

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def daphne(django_db_setup):
    """`daphne config.asgi:application` as the Procfile starts it, on the test database."""
    port = free_port()
    log = open(Path(settings.VAR_DIR) / "test-daphne.log", "w")
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=worker_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"daphne did not start; see {log.name}")
            time.sleep(0.2)
    yield port
    process.terminate()
    process.wait(timeout=20)
    log.close()


def post(port: int, path: str, body: bytes, content_type: str) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.request("POST", path, body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    answer = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    connection.close()
    return answer


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"abc"),  # no boundary at all
        ("multipart/form-data; boundary=XyZ", b"not a multipart body"),
    ],
)
def test_a_malformed_multipart_body_is_a_problem_with_the_request_id(daphne, content_type, body):
    status, headers, content = post(daphne, "/api/v1/auth/login", body, content_type)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(content)
    assert problem["status"] == 400
    assert problem["request_id"] == headers["x-request-id"]


def test_a_well_formed_multipart_body_still_parses(daphne):
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\nnobody\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\nx\r\n--XyZ--\r\n'
    )
    status, _, content = post(
        daphne, "/api/v1/auth/login", body, "multipart/form-data; boundary=XyZ"
    )
    assert (status, json.loads(content)["code"]) == (401, "invalid-credentials")

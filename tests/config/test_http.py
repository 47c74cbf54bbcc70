"""Cross-cutting HTTP: problem+json everywhere, request ids, logs, limits, CORS, health, schema."""

import io
import json
import logging

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import include, path
from rest_framework.test import APIClient

from config import context
from config.celery import _attach_request_id, _bind_request_id
from config.ratelimit import client_ip
from tests.conftest import PASSWORD, assert_problem

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("database exploded with password=hunter2")


urlpatterns = [path("api/v1/boom", _boom), path("", include("config.urls"))]


def test_unknown_api_url_is_404_problem(client):
    response = client.get("/api/v1/does-not-exist")
    body = assert_problem(response, 404, "not-found")
    assert body["request_id"] == response["X-Request-ID"]


def test_wrong_method_is_405_problem(owner_api):
    assert_problem(owner_api.put("/api/v1/auth/me", {}), 405, "method-not-allowed")


@pytest.mark.urls("tests.config.test_http")
def test_unexpected_error_is_500_problem_without_traceback(client):
    response = client.get("/api/v1/boom")
    body = assert_problem(response, 500, "internal-error")
    text = response.content.decode()
    assert "Traceback" not in text
    assert "hunter2" not in text
    assert body["request_id"] == response["X-Request-ID"]


def test_validation_errors_carry_json_pointers(owner_api, workspace):
    response = owner_api.post(
        f"/api/v1/workspaces/{workspace.pk}/members", {"role": "nobody"}, format="json"
    )
    body = assert_problem(response, 400, "validation-error")
    assert {e["pointer"] for e in body["errors"]} == {"/username", "/role"}


def test_request_id_is_accepted_echoed_and_generated(client):
    assert client.get("/health", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    generated = client.get("/health")["X-Request-ID"]
    assert len(generated) == 32
    # An id that is not a safe token is replaced, not echoed.
    assert client.get("/health", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"] != "<script>"


@pytest.fixture
def log_output():
    """What the configured JSON console handler writes (with its context and redaction filters)."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_request_id_user_and_workspace_are_on_the_log_line(admin_api, workspace, log_output):
    response = admin_api.get("/api/v1/audit", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    [line] = [entry for entry in lines if entry.get("event") == "http.request"]
    assert line["request_id"] == "req-42"
    assert line["workspace_id"] == str(workspace.pk)
    assert line["user_id"]
    assert line["status"] == 200


def test_passwords_and_tokens_never_reach_the_logs(log_output, caplog):
    client = APIClient()
    secret = "S3cret-Pass-phrase-77"
    client.post(
        "/api/v1/auth/register",
        {"username": "lena", "email": "lena@example.com", "password": secret},
        format="json",
    )
    token = client.post("/api/v1/auth/login", {"username": "lena", "password": secret}).json()
    client.post("/api/v1/auth/login", {"username": "lena", "password": secret + "x"})
    logging.getLogger("botmarket.test").warning(
        "login attempt password=%s token %s",
        secret,
        token["token"],
        extra={"payload": {"password": secret, "api_secret": "abc", "auth": {"token": [secret]}}},
    )
    output = log_output.getvalue()
    assert "lena" in output  # the lines were really captured
    assert secret not in output
    assert token["token"] not in output
    assert "[REDACTED]" in output


@override_settings(RATE_LIMIT_GLOBAL="3/m")
def test_global_rate_limit_is_429_with_retry_after(client):
    for _ in range(3):
        assert client.get("/api/v1/auth/me").status_code == 401
    response = client.get("/api/v1/auth/me")
    assert_problem(response, 429, "rate-limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert client.get("/health").status_code == 200  # probes are never limited


class _Request:
    def __init__(self, remote, forwarded=""):
        self.META = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_forwarded_for_is_believed_only_from_trusted_proxies():
    assert client_ip(_Request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"
    assert client_ip(_Request("10.0.0.2", "198.51.100.7")) == "198.51.100.7"
    # A client-written hop left of the real one is ignored.
    assert client_ip(_Request("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.5")) == "198.51.100.7"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_rate_limit_counts_the_forwarded_client(client):
    with override_settings(RATE_LIMIT_GLOBAL="2/m"):
        for _ in range(2):
            client.get("/api/v1/auth/me", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1")
        limited = client.get(
            "/api/v1/auth/me", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1"
        )
        other = client.get(
            "/api/v1/auth/me", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="2.2.2.2"
        )
    assert limited.status_code == 429
    assert other.status_code == 401


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"])
def test_cors_allows_only_whitelisted_origins(client):
    allowed = client.get("/api/v1/auth/me", HTTP_ORIGIN="https://app.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    denied = client.get("/api/v1/auth/me", HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in denied


def test_health_and_aliases(client):
    for url in ("/health", "/api/health"):
        assert client.get(url).json()["status"] == "ok"
    for url in ("/ready", "/live-readiness"):
        response = client.get(url)
        assert response.status_code == 200, response.json()
        assert response.json()["failing"] == []


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_ready_is_503_when_redis_is_unreachable(client):
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]


@override_settings(SECRET_ENCRYPTION_KEY="dG9vLXNob3J0")
def test_ready_is_503_without_a_valid_encryption_key(client):
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["encryption_key"]
    assert "dG9vLXNob3J0" not in response.content.decode()


def test_metrics_expose_django_request_metrics(client):
    client.get("/health")
    text = client.get("/metrics").content.decode()
    assert "django_http_requests_total_by_method_total" in text
    assert "django_http_responses_total_by_status_total" in text


def test_openapi_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    assert "/api/v1/auth/login" in schema
    assert "application/problem+json" in schema
    assert "X-Workspace-Id" in schema


def test_schema_docs_and_redoc_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/redoc/").status_code == 200


class _Task:
    class request:
        pass


def test_request_id_travels_into_celery_tasks():
    context.bind(request_id="req-from-http")
    headers = {}
    _attach_request_id(headers=headers)
    context.clear()
    task = _Task()
    task.request.botmarket_request_id = headers["botmarket_request_id"]
    _bind_request_id(task=task)
    assert context.current_request_id() == "req-from-http"
    context.clear()


def test_browsable_api_login_with_session(client, workspace):
    assert client.login(username="olga", password=PASSWORD)
    response = client.get("/api/v1/auth/me", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"olga" in response.content

"""With Redis unreachable the API stays up: rate limits fail open, /ready names Redis."""

from __future__ import annotations

import logging
import socket

import pytest
from django.conf import settings
from django.test import override_settings
from prometheus_client import REGISTRY

from config import ratelimit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def dead_redis_url() -> str:
    """A Redis URL on a local port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def redis_down(monkeypatch):
    url = dead_redis_url()
    cache = {**settings.CACHES["default"], "LOCATION": url}
    # The warning is logged once a minute per process; this test wants to see it.
    monkeypatch.setattr(ratelimit, "_last_store_warning", -ratelimit.STORE_WARNING_INTERVAL_SECONDS)
    with override_settings(CACHES={"default": cache}, REDIS_URL=url):
        yield


def store_errors(group: str) -> float:
    return REGISTRY.get_sample_value("ratelimit_store_errors_total", {"group": group}) or 0.0


def test_api_calls_go_on_unlimited_with_a_warning_and_a_counter(
    redis_down, owner_api, client, workspace, caplog
):
    global_before, login_before = store_errors("global"), store_errors("auth.login")

    with caplog.at_level(logging.WARNING, logger="config.ratelimit"):
        assert owner_api.get("/api/v1/auth/me").status_code == 200
        login = client.post(
            "/api/v1/auth/login",
            {"username": "olga", "password": PASSWORD},
            content_type="application/json",
        )
    assert login.status_code == 200, login.content
    assert login.json()["token"]

    assert store_errors("global") == global_before + 2
    assert store_errors("auth.login") >= login_before + 1
    [warning] = [r for r in caplog.records if r.getMessage() == "ratelimit.store_unavailable"]
    assert warning.levelno == logging.WARNING
    assert warning.fail_open is True

    metrics = client.get("/metrics").content.decode()
    assert 'ratelimit_store_errors_total{group="global"}' in metrics


def test_ready_stays_503_naming_redis(redis_down, client):
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_with_redis_up_the_limits_still_hold(client, settings):
    settings.RATE_LIMIT_GLOBAL = "3/m"
    before = store_errors("global")
    answers = [client.get("/api/v1/auth/me").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert store_errors("global") == before

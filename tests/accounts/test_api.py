from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, assert_problem
from workspaces.models import AuditEvent, Membership, Role

pytestmark = pytest.mark.django_db


def register(client, username="nina", email=None, password=PASSWORD):
    return client.post(
        "/api/v1/auth/register",
        {"username": username, "email": email or f"{username}@example.com", "password": password},
        format="json",
    )


def test_register_login_me_logout_revokes_the_token():
    client = APIClient()
    created = register(client)
    assert created.status_code == 201
    assert created.json()["username"] == "nina"
    assert "password" not in created.json()

    login = client.post("/api/v1/auth/login", {"username": "nina", "password": PASSWORD})
    assert login.status_code == 200
    token = login.json()["token"]
    assert login.json()["expiry"]
    # Stored hashed: the raw token is nowhere in the table.
    assert not AuthToken.objects.filter(digest=token).exists()
    assert AuthToken.objects.filter(user__username="nina").count() == 1

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "nina"
    [membership] = me.json()["memberships"]
    assert membership["role"] == "owner"

    assert client.post("/api/v1/auth/logout").status_code == 204
    assert AuthToken.objects.filter(user__username="nina").count() == 0
    assert_problem(client.get("/api/v1/auth/me"), 401, "not-authenticated")
    assert AuditEvent.objects.filter(action="auth.token_revoked").count() == 1


def test_registration_creates_a_personal_workspace_owned_by_the_user():
    register(APIClient(), username="pavel")
    membership = Membership.objects.select_related("workspace").get(user__username="pavel")
    assert membership.role == Role.OWNER
    assert "pavel" in membership.workspace.name


def test_duplicate_username_and_email_point_at_their_fields():
    client = APIClient()
    register(client, username="nina")
    again = register(client, username="NINA", email="nina@example.com")
    body = assert_problem(again, 400, "validation-error")
    assert {e["pointer"] for e in body["errors"]} == {"/username", "/email"}


def test_weak_password_and_missing_fields_carry_pointers():
    body = assert_problem(register(APIClient(), password="123"), 400, "validation-error")
    assert {e["pointer"] for e in body["errors"]} == {"/password"}

    body = assert_problem(APIClient().post("/api/v1/auth/register", {}, format="json"), 400)
    assert {e["pointer"] for e in body["errors"]} == {"/username", "/email", "/password"}


def test_sixth_registration_from_one_ip_in_the_window_is_429_with_retry_after():
    client = APIClient()
    for index in range(5):
        assert register(client, username=f"user{index}").status_code == 201
    sixth = register(client, username="user5")
    assert_problem(sixth, 429, "rate-limited")
    assert int(sixth["Retry-After"]) >= 1
    assert not Membership.objects.filter(user__username="user5").exists()


def test_wrong_password_is_401_and_audited_without_the_password():
    register(APIClient())
    wrong = APIClient().post("/api/v1/auth/login", {"username": "nina", "password": "nope-nope-1"})
    assert_problem(wrong, 401, "invalid-credentials")
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.details == {"username": "nina", "method": "token"}
    assert event.request_id == wrong["X-Request-ID"]


def test_eleventh_login_in_a_minute_is_429():
    client = APIClient()
    for _ in range(10):
        client.post("/api/v1/auth/login", {"username": "ghost", "password": "x"})
    assert_problem(client.post("/api/v1/auth/login", {"username": "ghost", "password": "x"}), 429)


def test_expired_token_is_refused():
    register(APIClient())
    client = APIClient()
    token = client.post("/api/v1/auth/login", {"username": "nina", "password": PASSWORD}).json()
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert_problem(client.get("/api/v1/auth/me"), 401)


def test_login_is_audited():
    register(APIClient())
    APIClient().post("/api/v1/auth/login", {"username": "nina", "password": PASSWORD})
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor.username == "nina"
    assert event.details == {"method": "token"}


def test_logout_with_a_session_cookie_ends_the_session():
    """Regression: the answer was 204 but the session went on working."""
    register(APIClient())
    client = APIClient()
    assert client.login(username="nina", password=PASSWORD)
    old_key = client.session.session_key
    assert client.get("/api/v1/auth/me").status_code == 200

    assert client.post("/api/v1/auth/logout").status_code == 204
    assert not Session.objects.filter(session_key=old_key).exists()
    assert_problem(client.get("/api/v1/auth/me"), 401)
    # The old cookie is dead on the server too, not only forgotten by this client.
    replay = APIClient()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_key
    assert_problem(replay.get("/api/v1/auth/me"), 401)
    event = AuditEvent.objects.get(action="auth.logout")
    assert (event.actor.username, event.details) == ("nina", {"method": "session"})
    assert not AuditEvent.objects.filter(action="auth.token_revoked").exists()


def test_logout_with_a_token_revokes_only_that_token():
    register(APIClient())
    tokens = [
        APIClient()
        .post("/api/v1/auth/login", {"username": "nina", "password": PASSWORD})
        .json()["token"]
        for _ in range(2)
    ]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[0]}")
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert_problem(client.get("/api/v1/auth/me"), 401)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {tokens[1]}")
    assert other.get("/api/v1/auth/me").status_code == 200
    assert not AuditEvent.objects.filter(action="auth.logout").exists()

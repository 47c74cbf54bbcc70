"""Every login form goes through accounts.services.log_in: one limit, one audit trail.

Regression for the probe that sent 14 wrong passwords and then the right one to the browsable
API's and the admin's sign-in, and got through on both.
"""

import pytest
from django.contrib.auth import SESSION_KEY
from django.utils import translation
from rest_framework.test import APIClient

from accounts.forms import LIMITED_MESSAGE
from tests.conftest import PASSWORD, make_user
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

with translation.override("ru"):  # the UI's default language
    LIMITED = str(LIMITED_MESSAGE)


def _api(client, password):
    return client.post(
        "/api/v1/auth/login", {"username": "ada", "password": password}, format="json"
    )


def _form(client, url, data):
    return client.post(url, data, format="multipart")  # an HTML form's post


def _page(client, password):
    return _form(client, "/login", {"username": "ada", "password": password})


def _browsable(client, password):
    return _form(client, "/api-auth/login/", {"username": "ada", "password": password})


def _admin(client, password):
    data = {"username": "ada", "password": password, "next": "/admin/"}
    return _form(client, "/admin/login/?next=/admin/", data)


# form → (how to post, its method in the audit rows, the status of a good login)
FORMS = {
    "api": (_api, "token", 200),
    "page": (_page, "session", 302),
    "browsable-api": (_browsable, "browsable-api", 302),
    "admin": (_admin, "admin", 302),
}


@pytest.fixture
def ada(db):
    return make_user("ada", is_staff=True)  # staff, so the admin form may let her in


def _signed_in(form, client, response) -> bool:
    if form == "api":
        return response.status_code == 200 and "token" in response.json()
    return SESSION_KEY in client.session


@pytest.mark.parametrize("form", list(FORMS))
def test_the_right_password_signs_in_and_is_audited(form, ada):
    post, method, status = FORMS[form]
    client = APIClient()
    response = post(client, PASSWORD)
    assert response.status_code == status, response.content[:500]
    assert _signed_in(form, client, response)
    event = AuditEvent.objects.get(action="auth.login")
    assert (event.actor, event.details) == (ada, {"method": method})


@pytest.mark.parametrize("form", list(FORMS))
def test_fourteen_wrong_passwords_then_the_right_one_is_limited_and_audited(form, ada):
    post, method, _status = FORMS[form]
    client = APIClient()
    answers = [post(client, "wrong-password-1").status_code for _ in range(14)]
    right = post(client, PASSWORD)

    if form == "admin":
        # The admin's form answers with its error, not a status of its own.
        assert answers == [200] * 14
        assert right.status_code == 200
        assert LIMITED in right.content.decode()
    else:
        wrong = 401 if form == "api" else 200
        assert answers == [wrong] * 10 + [429] * 4
        assert right.status_code == 429
        assert int(right["Retry-After"]) >= 1
    assert not _signed_in(form, client, right)

    failed = AuditEvent.objects.filter(action="auth.login_failed").order_by("created_at")
    details = [event.details for event in failed]
    assert details == [{"username": "ada", "method": method}] * 10 + [
        {"username": "ada", "method": method, "reason": "rate-limited"}
    ]  # one row for the refused burst, not one per refused guess
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_the_limit_is_shared_by_every_form(ada):
    client = APIClient()
    for post, _method, _status in list(FORMS.values())[:2]:
        for _ in range(5):
            post(client, "wrong-password-1")
    assert _browsable(client, PASSWORD).status_code == 429
    assert LIMITED in _admin(client, PASSWORD).content.decode()


def test_the_admin_form_lets_only_staff_in_and_audits_the_refusal(db):
    make_user("ada")  # not staff
    client = APIClient()
    response = _admin(client, PASSWORD)
    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.details == {"username": "ada", "method": "admin"}
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_the_browsable_api_sign_out_ends_the_session_and_is_audited(ada):
    client = APIClient()
    _browsable(client, PASSWORD)
    response = _form(client, "/api-auth/logout/", {})
    assert response.status_code == 302
    assert SESSION_KEY not in client.session
    assert AuditEvent.objects.get(action="auth.logout").details == {"method": "session"}

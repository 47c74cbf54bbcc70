"""The connections page: who sees which controls, and its texts in Russian and English."""

import json
import re

import pytest

from tests.conftest import PASSWORD, make_user
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db


def login(client, workspace, role: str):
    user = Membership.objects.select_related("user").get(workspace=workspace, role=role).user
    assert client.login(username=user.username, password=PASSWORD)
    return client


def script_texts(html: str) -> dict:
    found = re.search(
        r'<script id="connections-texts" type="application/json">(.*?)</script>', html
    )
    return json.loads(found.group(1))


def test_the_page_needs_a_login(client):
    response = client.get("/connections")
    assert response.status_code == 302
    assert response["Location"].startswith("/login")


def test_admins_get_the_form_with_password_inputs(client, workspace):
    html = login(client, workspace, Role.ADMIN).get("/connections").content.decode()

    assert 'id="connection-form"' in html
    for name in ("api_key", "api_secret", "passphrase"):
        assert re.search(rf'name="{name}" type="password" autocomplete="new-password"', html)
    assert 'data-can-manage="1"' in html
    assert 'data-can-test="1"' in html
    assert '<option value="binance">' in html


def test_traders_test_but_do_not_manage_and_viewers_only_read(client, workspace):
    html = login(client, workspace, Role.TRADER).get("/connections").content.decode()
    assert 'id="connection-form"' not in html
    assert 'data-can-manage="0"' in html
    assert 'data-can-test="1"' in html
    client.logout()
    html = login(client, workspace, Role.VIEWER).get("/connections").content.decode()
    assert 'data-can-manage="0"' in html
    assert 'data-can-test="0"' in html


def test_russian_by_default_english_on_request(client, workspace):
    login(client, workspace, Role.ADMIN)
    russian = client.get("/connections").content.decode()
    assert "Подключения к биржам" in russian
    assert "Создать подключение" in russian
    assert script_texts(russian)["test"] == "Проверить"  # the script's texts, from the server

    client.cookies["django_language"] = "en"
    english = client.get("/connections").content.decode()
    assert "Exchange connections" in english
    assert "Create connection" in english
    assert script_texts(english)["test"] == "Test"


def test_a_user_without_a_workspace_sees_an_empty_state(client):
    make_user("lonely")
    client.login(username="lonely", password=PASSWORD)
    response = client.get("/connections", follow=True)  # to the home page, which says so
    assert response.redirect_chain == [("/", 302)]
    html = response.content.decode()
    assert 'id="connections-page"' not in html
    assert 'class="empty"' in html

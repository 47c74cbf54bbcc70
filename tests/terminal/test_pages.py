"""The terminal page (server side) in Russian and English, and the order journal in the admin."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, _member, make_user
from tests.terminal.conftest import place
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_terminal_page_needs_a_login(client):
    page = client.get("/terminal")
    assert page.status_code == 302
    assert page["Location"].startswith("/login")


def test_trader_sees_the_pickers_chart_and_order_form(client, workspace, connection):
    page = login(client, _member(workspace, Role.TRADER)).get("/terminal")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'<option value="{connection.pk}">' in html
    assert 'id="order-form"' in html
    assert 'data-can-trade="1"' in html
    for timeframe in ("1m", "5m", "15m", "1h", "4h", "1d"):
        assert f'data-timeframe="{timeframe}"' in html
    assert "lightweight-charts.standalone.production.js" in html
    assert "js/terminal.js" in html
    assert 'id="terminal-texts"' in html
    assert "<h1>Терминал</h1>" in html  # Russian by default
    assert "Открытые ордера" in html


def test_viewer_sees_the_market_but_no_order_form(client, workspace, connection):
    html = login(client, _member(workspace, Role.VIEWER)).get("/terminal").content.decode()
    assert 'id="order-form"' not in html
    assert 'data-can-trade="0"' in html
    assert 'id="open-orders-table"' in html


def test_without_a_connection_the_page_says_how_to_add_one(client, workspace):
    html = login(client, _member(workspace, Role.TRADER)).get("/terminal").content.decode()
    assert 'id="no-connections"' in html
    assert 'href="/connections"' in html
    assert "js/terminal.js" not in html


def test_only_the_current_workspaces_connections_are_offered(
    client, workspace, connection, other_connection
):
    html = login(client, _member(workspace, Role.OWNER)).get("/terminal").content.decode()
    assert str(connection.pk) in html
    assert str(other_connection.pk) not in html


def test_english_after_the_switch(client, workspace, connection):
    login(client, _member(workspace, Role.TRADER))
    client.post("/i18n/setlang/", {"language": "en", "next": "/terminal"})
    html = client.get("/terminal").content.decode()
    assert "<h1>Terminal</h1>" in html
    assert "Open orders" in html
    assert "Терминал" not in html.split("<main", 1)[1]


def test_admin_shows_the_journal_read_only(client, workspace, connection, trader_api):
    order_id = place(trader_api, connection).json()["id"]
    login(client, make_user("root", is_staff=True, is_superuser=True))

    listing = client.get("/admin/terminal/order/?status__exact=closed&q=BTC")
    assert listing.status_code == 200
    assert order_id in listing.content.decode()
    detail = client.get(f"/admin/terminal/order/{order_id}/change/")
    assert detail.status_code == 200
    assert "acknowledged" in detail.content.decode()  # the events inline
    assert client.get("/admin/terminal/order/add/").status_code == 403
    assert client.post(f"/admin/terminal/order/{order_id}/delete/").status_code == 403

"""Bots pages (server side): sign-in, the workspace's bots only, roles, Russian and English."""

from __future__ import annotations

import json
import re

import pytest

from bots import views
from tests.bots.factories import BotFactory
from tests.conftest import PASSWORD, _member
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def page_texts(html: str) -> dict:
    match = re.search(r'<script id="bots-texts" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match[1])


@pytest.mark.parametrize("path", ["/bots", "/bots/00000000-0000-4000-8000-000000000000"])
def test_bots_pages_need_a_login(client, path):
    page = client.get(path)
    assert page.status_code == 302
    assert page["Location"].startswith(f"/login?next={path}")


def test_the_pages_are_workspace_pages_any_member_may_read():
    assert views.bots_page.workspace_page_role == Role.VIEWER
    assert views.bot_page.workspace_page_role == Role.VIEWER


def test_the_list_for_a_trader_has_the_form_the_choices_and_stop_all(
    client, workspace, trader, version, demo_connection, other_workspace
):
    theirs = BotFactory(workspace=other_workspace, name="Theirs")

    page = login(client, trader).get("/bots")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="bot-form"' in html
    assert f'<option value="{version.pk}" data-symbol="BTC/USDT">' in html
    assert f'value="{demo_connection.pk}" data-mode="demo"' in html
    assert str(theirs.strategy_version_id) not in html  # the other workspace's choices: absent
    assert str(theirs.exchange_connection_id) not in html
    for pointer in (
        "/risk/max_position_quote",
        "/risk/max_daily_loss_pct",
        "/risk/max_orders_per_minute",
        "/execution/order_type",
        "/execution/slippage_bps",
        "/execution/mode",
    ):
        assert f'data-pointer="{pointer}"' in html  # where the API's field errors are shown
    assert html.count('class="hint muted"') >= 8  # every risk and execution field explains itself
    assert 'id="stop-all-dialog"' in html
    assert f'data-workspace-id="{workspace.pk}"' in html
    assert "/static/js/live.js" in html
    assert "<h1>Боты</h1>" in html  # Russian by default
    assert page_texts(html)["states"]["RUNNING"] == "Работает"


def test_the_list_for_a_viewer_has_no_form_and_no_stop_all(client, workspace):
    page = login(client, _member(workspace, Role.VIEWER)).get("/bots")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="bot-form"' not in html
    assert 'id="stop-all-button"' not in html
    assert 'data-can-write="0"' in html


def test_a_bots_page_shows_its_settings_and_the_controls(client, trader, bot):
    page = login(client, trader).get(f"/bots/{bot.pk}")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-bot-id="{bot.pk}"' in html
    assert bot.name in html
    assert "SMA cross · v1 (BTC/USDT 1m)" in html
    for element in ("start-button", "stop-button", "price-chart", "equity-chart", "events-table"):
        assert f'id="{element}"' in html
    assert "lightweight-charts.standalone.production.js" in html
    assert "/static/js/bots/bot.js" in html


def test_a_viewer_watches_a_bot_without_the_controls(client, workspace, bot):
    page = login(client, _member(workspace, Role.VIEWER)).get(f"/bots/{bot.pk}")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="start-button"' not in html
    assert 'id="events-table"' in html


def test_another_workspaces_bot_is_404(client, trader, other_bot):
    assert login(client, trader).get(f"/bots/{other_bot.pk}").status_code == 404


def test_the_page_follows_the_workspace_picked_in_the_header(
    client, workspace, other_workspace, bot
):
    owner = _member(other_workspace, Role.OWNER)
    workspace.memberships.create(user=owner, role=Role.VIEWER)
    login(client, owner)
    theirs = BotFactory(workspace=other_workspace, name="Theirs")

    client.post("/workspace", {"workspace_id": str(other_workspace.pk), "next": "/bots"})
    assert client.get(f"/bots/{theirs.pk}").status_code == 200
    assert client.get(f"/bots/{bot.pk}").status_code == 404  # a bot of the other workspace

    client.post("/workspace", {"workspace_id": str(workspace.pk), "next": "/bots"})
    assert client.get(f"/bots/{bot.pk}").status_code == 200
    assert client.get(f"/bots/{theirs.pk}").status_code == 404


def test_english_after_the_switch(client, trader, bot):
    login(client, trader).post("/i18n/setlang/", {"language": "en", "next": "/bots"})
    html = client.get("/bots").content.decode()
    assert "<h1>Bots</h1>" in html
    assert "Боты" not in html
    assert page_texts(html)["states"]["RUNNING"] == "Running"
    assert "Start" in client.get(f"/bots/{bot.pk}").content.decode()


def test_the_nav_links_to_the_bots(client, trader):
    html = login(client, trader).get("/bots").content.decode()
    assert '<a href="/bots" class="active">' in html

"""The replay block of a bot's page (server side): the datasets it offers, the form by role,
its texts in Russian and English."""

from __future__ import annotations

import json
import re

import pytest

from lab.models import Dataset
from tests.bots.test_pages import login
from tests.conftest import _member
from tests.factories import DatasetFactory
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def replay_texts(html: str) -> dict:
    tag = r'<script id="replay-texts" type="application/json">(.*?)</script>'
    match = re.search(tag, html, re.S)
    return json.loads(match[1])


def test_a_trader_gets_the_form_with_the_datasets_the_bot_can_replay(
    client, workspace, other_workspace, trader, bot
):
    fits = DatasetFactory(workspace=workspace, name="BTC minutes", rows=500)
    other_symbol = DatasetFactory(workspace=workspace, name="ETH minutes", symbol="ETH/USDT")
    other_timeframe = DatasetFactory(workspace=workspace, name="BTC hours", timeframe="1h")
    importing = DatasetFactory(
        workspace=workspace, name="Still importing", status=Dataset.Status.IMPORTING
    )
    theirs = DatasetFactory(workspace=other_workspace, name="Theirs")

    html = login(client, trader).get(f"/bots/{bot.pk}").content.decode()

    assert 'id="replay-form"' in html
    assert f'<option value="{fits.pk}">BTC minutes · 500 свечей</option>' in html
    for absent in (other_symbol, other_timeframe, importing, theirs):
        assert str(absent.pk) not in html
    assert "/static/js/bots/replay.js" in html
    assert "/static/css/replay.css" in html
    assert "Повтор на истории" in html  # Russian by default
    assert f"как у бота, {bot.slippage_bps} б.п." in html  # noqa: RUF001
    texts = replay_texts(html)
    assert texts["statuses"]["succeeded"] == "Готово"
    assert texts["reasons"]["trailing_stop"] == "трейлинг-стоп"


def test_without_a_fitting_dataset_the_form_points_at_the_lab(client, trader, bot):
    html = login(client, trader).get(f"/bots/{bot.pk}").content.decode()
    assert 'id="replay-submit" disabled' in html
    assert "Готового датасета BTC/USDT 1m пока нет." in html
    assert 'href="/lab"' in html


def test_a_viewer_sees_the_replays_without_the_form(client, workspace, bot):
    DatasetFactory(workspace=workspace)
    html = login(client, _member(workspace, Role.VIEWER)).get(f"/bots/{bot.pk}").content.decode()
    assert 'id="replay"' in html
    assert 'id="replay-result"' in html
    assert 'id="replay-form"' not in html


def test_the_block_reads_in_english(client, trader, bot):
    login(client, trader)
    client.post("/i18n/setlang/", {"language": "en", "next": f"/bots/{bot.pk}"})
    html = client.get(f"/bots/{bot.pk}").content.decode()
    assert "Replay on history" in html
    assert replay_texts(html)["statuses"]["running"] == "Running"

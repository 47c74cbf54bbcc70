"""The bots list shows each bot's latest run (`last_run`): its state, error code and book."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import BotRun
from tests.bots.conftest import BOTS

pytestmark = pytest.mark.django_db


def test_a_bot_without_runs_has_no_last_run(trader_api, bot):
    body = trader_api.get(f"{BOTS}/{bot.pk}").json()
    assert (body["active_run"], body["last_run"]) == (None, None)


def test_the_last_run_is_the_active_one_with_its_book(trader_api, bot, make_run):
    earlier = timezone.now() - timedelta(hours=2)
    make_run(bot, state=BotRun.State.FAILED, error_code="EXCHANGE_UNREACHABLE")
    BotRun.objects.update(created_at=earlier)
    running = make_run(
        bot,
        state=BotRun.State.RUNNING,
        position=Decimal("0.0015"),
        realized_pnl=Decimal("12.5"),
        unrealized_pnl=Decimal("-3.25"),
        started_at=timezone.now(),
    )

    [listed] = trader_api.get(BOTS).json()["results"]

    assert listed["active_run"] == {"id": str(running.pk), "state": "RUNNING"}
    last = listed["last_run"]
    assert {k: last[k] for k in ("id", "state", "error_code", "ended_at")} == {
        "id": str(running.pk),
        "state": "RUNNING",
        "error_code": "",
        "ended_at": None,
    }
    assert (last["position"], last["realized_pnl"], last["unrealized_pnl"]) == (
        "0.0015",
        "12.5",
        "-3.25",
    )


def test_an_ended_run_stays_the_last_run_with_its_error_code(trader_api, bot, make_run):
    ended = make_run(
        bot,
        state=BotRun.State.FAILED,
        error_code="KILL_CAP_DAILY_LOSS",
        realized_pnl=Decimal("-50"),
        ended_at=timezone.now(),
    )

    body = trader_api.get(f"{BOTS}/{bot.pk}").json()

    assert body["active_run"] is None
    assert body["last_run"]["id"] == str(ended.pk)
    assert (body["last_run"]["state"], body["last_run"]["error_code"]) == (
        "FAILED",
        "KILL_CAP_DAILY_LOSS",
    )
    assert body["last_run"]["realized_pnl"] == "-50"

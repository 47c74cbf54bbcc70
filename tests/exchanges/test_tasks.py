"""The demo order matcher as Celery runs it: beat's schedule and a real worker filling an order."""

from datetime import timedelta
from decimal import Decimal

import pytest

from config.celery import app
from exchanges.demo import feed
from exchanges.demo.venue import DemoGateway
from exchanges.epoch import now_ms
from exchanges.models import DemoBalance, DemoOrder
from exchanges.tasks import match_demo_orders_task
from tests.exchanges.conftest import MINUTE, Clock
from tests.helpers import wait_until


def test_beat_sends_the_matcher_every_two_seconds_to_the_default_queue():
    entry = app.conf.beat_schedule["exchanges-match-demo-orders"]
    assert entry["task"] == match_demo_orders_task.name == "exchanges.match_demo_orders"
    assert entry["schedule"].run_every == timedelta(seconds=2)
    assert "exchanges.match_demo_orders" in app.tasks
    route = app.amqp.router.route({}, "exchanges.match_demo_orders")
    assert route["queue"].name == app.conf.task_default_queue == "default"


def crossed_buy_limit(symbol: str, start_ms: int, minutes: int):
    """A buy limit below the price at `start_ms` that the feed reached later, or None."""
    rows = feed.candles(symbol, "1m", start_ms=start_ms, limit=minutes).rows()
    lows = [feed.price_to_decimal(symbol, row.low) for row in rows]
    target = min(lows)
    return target if lows.index(target) >= 1 else None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_fills_a_resting_order_the_feed_has_crossed(
    celery_worker_process, demo_connection
):
    # Placed half an hour ago (the venue's clock), at a price the feed went down to since then.
    start = (now_ms() // MINUTE - 30) * MINUTE
    limit = crossed_buy_limit("BTC/USDT", start, 25)
    while limit is None:
        start += MINUTE
        limit = crossed_buy_limit("BTC/USDT", start, 25)
    order = DemoGateway(demo_connection, clock=Clock(start)).create_order(
        "BTC/USDT", "limit", "buy", "0.01", limit
    )
    assert order["status"] == "open"

    match_demo_orders_task.delay()

    wait_until(
        lambda: DemoOrder.objects.get(pk=order["id"]).status == "closed",
        timeout=30,
        interval=0.2,
        message="the worker did not fill the crossed limit order",
    )
    filled = DemoOrder.objects.get(pk=order["id"])
    assert filled.status == "closed"
    assert filled.average == limit
    assert DemoBalance.objects.get(connection=demo_connection, asset="BTC").free == Decimal("0.01")
    assert DemoBalance.objects.get(connection=demo_connection, asset="USDT").used == 0

"""Reads never write; the periodic refresh and POST …/refresh bring the journal up to date."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings

from config.celery import app
from exchanges.demo.venue import DemoGateway
from exchanges.epoch import now_ms
from exchanges.exceptions import ExchangeUnreachable
from exchanges.services import match_demo_orders
from terminal import services
from terminal.models import Order, OrderEvent
from terminal.tasks import refresh_open_orders_task
from tests.conftest import assert_problem
from tests.terminal.conftest import mid_now, place
from tests.terminal.test_orders_api import first_crossing_ms, resting_buy_price

pytestmark = pytest.mark.django_db


@pytest.fixture
def venue_calls(monkeypatch) -> list[str]:
    """The names of every DemoGateway method called from now on (and each gateway made)."""
    calls: list[str] = []
    for name in (
        "__init__",
        "load_markets",
        "fetch_ticker",
        "fetch_ohlcv",
        "fetch_balance",
        "create_order",
        "cancel_order",
        "fetch_order",
        "fetch_open_orders",
    ):
        real = getattr(DemoGateway, name)

        def recorded(self, *args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(DemoGateway, name, recorded)
    return calls


def resting_order(client, connection) -> dict:
    price = resting_buy_price("BTC/USDT")
    response = place(client, connection, type="limit", price=str(price))
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "open"
    return response.json()


def fill_at_the_venue(order: dict) -> None:
    """Let the demo matcher fill the resting `order` (the venue's side only)."""
    crossing = first_crossing_ms(order["symbol"], Decimal(order["price"]), now_ms())
    assert match_demo_orders(now_ms=crossing) >= 1


# --------------------------------------------------------------------------- reads do not write


def test_reading_orders_and_positions_calls_no_venue_and_writes_nothing(
    trader_api, viewer_api, connection, venue_calls
):
    assert place(trader_api, connection, amount="0.002").status_code == 201
    order = resting_order(trader_api, connection)
    fill_at_the_venue(order)  # filled at the venue: a read that synced would record it now
    events = OrderEvent.objects.count()
    rows = list(Order.objects.values_list("pk", "status", "filled", "updated_at"))
    venue_calls.clear()

    listed = viewer_api.get("/api/v1/terminal/orders")
    open_ = viewer_api.get("/api/v1/terminal/orders", {"status": "open"})
    detail = viewer_api.get(f"/api/v1/terminal/orders/{order['id']}")

    assert listed.status_code == open_.status_code == detail.status_code == 200
    assert venue_calls == []  # not even a gateway was made
    assert detail.json()["status"] == "open"  # the journal's last known state
    assert [o["id"] for o in open_.json()["results"]] == [order["id"]]

    positions = viewer_api.get("/api/v1/terminal/positions", {"connection": str(connection.pk)})

    assert positions.status_code == 200
    assert set(venue_calls) == {"__init__", "fetch_ticker"}  # the mark, nothing else
    assert OrderEvent.objects.count() == events
    assert list(Order.objects.values_list("pk", "status", "filled", "updated_at")) == rows


# --------------------------------------------------------------------------- the periodic refresh


def test_beat_refreshes_open_orders_on_the_default_queue_at_the_configured_interval():
    entry = app.conf.beat_schedule["terminal-refresh-open-orders"]
    assert entry["task"] == "terminal.refresh_open_orders"
    assert entry["schedule"].run_every.total_seconds() == settings.TERMINAL_REFRESH_SECONDS
    assert app.amqp.router.route({}, "terminal.refresh_open_orders")["queue"].name == "default"


def test_the_refresh_task_fills_a_crossed_limit_order(trader_api, connection, other_api):
    order = resting_order(trader_api, connection)
    far_below = (mid_now("ETH/USDT") / 2).quantize(Decimal("0.01"))  # the feed stays above it
    untouched = place(
        trader_api, connection, symbol="ETH/USDT", type="limit", price=str(far_below), amount="0.01"
    ).json()
    fill_at_the_venue(order)
    journal = Order.objects.get(pk=order["id"])
    assert journal.status == "open"

    assert refresh_open_orders_task.apply().get() == 1

    journal.refresh_from_db()
    assert journal.status == "closed"
    assert journal.filled == Decimal("0.001")
    assert journal.average == Decimal(order["price"])
    assert journal.fee > 0
    assert list(journal.events.values_list("from_status", "to_status")) == [
        ("open", "open"),  # acknowledged as resting
        ("open", "closed"),
    ]
    assert Order.objects.get(pk=untouched["id"]).status == "open"
    assert refresh_open_orders_task.apply().get() == 0  # nothing new: nothing written
    assert journal.events.count() == 2


def test_the_refresh_keeps_going_when_one_venue_is_down(trader_api, connection, monkeypatch):
    order = resting_order(trader_api, connection)

    def down(self, *args, **kwargs):
        raise ExchangeUnreachable("down")

    monkeypatch.setattr(DemoGateway, "fetch_open_orders", down)
    assert services.refresh_open_orders() == 0
    assert Order.objects.get(pk=order["id"]).status == "open"


def test_a_venue_copy_read_before_a_cancel_never_changes_the_finished_order(
    trader_api, connection, monkeypatch
):
    """The refresh read the order's copy at the venue; a cancel finished it meanwhile."""
    order = resting_order(trader_api, connection)
    stale = Order.objects.get(pk=order["id"])
    copy = DemoGateway(connection).fetch_order(stale.exchange_order_id) | {"status": "closed"}
    assert trader_api.post(f"/api/v1/terminal/orders/{order['id']}/cancel").status_code == 200
    events = OrderEvent.objects.count()
    monkeypatch.setattr(DemoGateway, "fetch_open_orders", lambda self, symbol=None: [])
    monkeypatch.setattr(DemoGateway, "fetch_order", lambda self, *args, **kwargs: copy)

    [refreshed] = services.refresh_orders([stale])  # no IllegalOrderTransition escapes

    assert refreshed.status == "canceled"
    assert Order.objects.get(pk=order["id"]).status == "canceled"
    assert OrderEvent.objects.count() == events


# --------------------------------------------------------------------------- POST …/refresh


def test_refresh_endpoint_records_a_fill(trader_api, connection):
    order = resting_order(trader_api, connection)
    fill_at_the_venue(order)

    response = trader_api.post(f"/api/v1/terminal/orders/{order['id']}/refresh")

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert Decimal(response.json()["filled"]) == Decimal("0.001")
    assert response.json() == trader_api.get(f"/api/v1/terminal/orders/{order['id']}").json()
    again = trader_api.post(f"/api/v1/terminal/orders/{order['id']}/refresh")
    assert again.json() == response.json()  # a finished order is answered as it is
    assert Order.objects.get(pk=order["id"]).events.count() == 2


def test_refresh_endpoint_of_an_open_order_changes_nothing(trader_api, connection):
    order = resting_order(trader_api, connection)
    events = OrderEvent.objects.count()

    response = trader_api.post(f"/api/v1/terminal/orders/{order['id']}/refresh")

    assert response.status_code == 200
    assert response.json()["status"] == "open"
    assert OrderEvent.objects.count() == events


def test_refresh_endpoint_answers_the_venues_problem(trader_api, connection, monkeypatch):
    order = resting_order(trader_api, connection)

    def down(self, *args, **kwargs):
        raise ExchangeUnreachable("The exchange did not answer in time.")

    monkeypatch.setattr(DemoGateway, "fetch_order", down)
    assert_problem(
        trader_api.post(f"/api/v1/terminal/orders/{order['id']}/refresh"),
        503,
        "exchange-unreachable",
    )
    assert Order.objects.get(pk=order["id"]).status == "open"


def test_refresh_endpoint_roles_and_scoping(
    trader_api, viewer_api, outsider_api, other_api, connection, venue_calls
):
    order = resting_order(trader_api, connection)
    url = f"/api/v1/terminal/orders/{order['id']}/refresh"
    venue_calls.clear()

    assert_problem(viewer_api.post(url), 403, "role-required")
    assert_problem(outsider_api.post(url), 403, "not-a-workspace-member")
    assert_problem(other_api.post(url), 404)  # another workspace's order looks absent
    assert_problem(trader_api.post(f"/api/v1/terminal/orders/{OrderEvent().id}/refresh"), 404)
    assert venue_calls == []


def test_refresh_endpoint_is_in_the_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/terminal/orders/{id}/refresh"]["post"]
    assert set(operation["responses"]) >= {"200", "403", "404", "503"}

"""Order services below the API: the transition table, keys and fingerprints, refresh."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.exceptions import ExchangeUnreachable
from exchanges.factory import gateway_for
from terminal import services
from terminal.exceptions import IllegalOrderTransition
from terminal.models import Order, OrderEvent
from tests.terminal.conftest import place
from tests.terminal.test_orders_api import resting_buy_price

pytestmark = pytest.mark.django_db


def test_client_order_ids_are_short_stable_and_scoped():
    one = services.derive_client_order_id(workspace_id="a", key="k")
    assert one == services.derive_client_order_id(workspace_id="a", key="k")
    assert one != services.derive_client_order_id(workspace_id="b", key="k")
    assert one != services.derive_client_order_id(workspace_id="a", key="k2")
    assert len(one) == 34
    assert one.startswith("bm")
    assert one[2:].isalnum()


def test_fingerprint_ignores_how_numbers_are_written():
    common = {"connection_id": "c", "symbol": "BTC/USDT", "side": "buy", "type": "limit"}
    a = services.request_fingerprint(**common, amount=Decimal("0.10"), price=Decimal("95000.00"))
    b = services.request_fingerprint(**common, amount=Decimal("0.1"), price=Decimal("95000"))
    c = services.request_fingerprint(**common, amount=Decimal("0.1"), price=None)
    assert a == b
    assert a != c


def test_a_finished_order_never_changes_again(trader_api, connection):
    order = Order.objects.get(pk=place(trader_api, connection).json()["id"])
    events = OrderEvent.objects.count()

    with pytest.raises(IllegalOrderTransition):
        services.transition(order, Order.Status.CANCELED)
    same = services.transition(order, Order.Status.CLOSED, changes={"filled": Decimal(0)})

    order.refresh_from_db()
    assert order.status == same.status == "closed"
    assert order.filled == Decimal("0.001")  # the same status again changes nothing
    assert OrderEvent.objects.count() == events


def test_refresh_keeps_the_last_known_state_when_the_venue_is_down(
    trader_api, connection, monkeypatch
):
    price = resting_buy_price("BTC/USDT")
    order_id = place(trader_api, connection, type="limit", price=str(price)).json()["id"]
    gateway = type(gateway_for(connection))

    def down(self, *args, **kwargs):
        raise ExchangeUnreachable("down")

    monkeypatch.setattr(gateway, "fetch_open_orders", down)
    [order] = services.refresh_orders([Order.objects.get(pk=order_id)])
    assert order.status == "open"
    detail = trader_api.get(f"/api/v1/terminal/orders/{order_id}")
    assert detail.status_code == 200
    assert detail.json()["status"] == "open"

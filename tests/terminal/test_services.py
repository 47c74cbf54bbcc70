"""Order services below the API: the transition table, keys and fingerprints, refresh, and
placing as a bot's tick does it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.demo.venue import DemoGateway
from exchanges.exceptions import ExchangeUnreachable
from exchanges.factory import gateway_for
from exchanges.models import DemoOrder
from terminal import services
from terminal.exceptions import IllegalOrderTransition
from terminal.models import Order, OrderEvent
from tests.terminal.conftest import place
from tests.terminal.test_orders_api import resting_buy_price
from workspaces.models import AuditEvent

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


def bot_order(workspace, connection, key: str, **changes) -> services.Placement:
    """What a bot's tick does: no actor, origin BOT, a key derived from (run, candle, intent)."""
    order = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "market",
        "amount": Decimal("0.001"),
        "price": None,
    } | changes
    return services.place_order(
        workspace=workspace,
        actor=None,
        connection=connection,
        idempotency_key=key,
        origin=Order.Origin.BOT,
        **order,
    )


def test_a_bots_order_records_its_origin_and_its_deterministic_client_order_id(
    workspace, connection
):
    key = "run:7b1e:candle:1763900100000:entry"
    first = bot_order(workspace, connection, key)
    again = bot_order(workspace, connection, key)  # the same tick, run again

    assert first.replayed is False
    assert again.replayed is True
    assert again.order.pk == first.order.pk
    order = Order.objects.get()
    assert order.origin == Order.Origin.BOT
    assert order.created_by is None
    assert order.idempotency_key == key
    assert order.client_order_id == services.derive_client_order_id(
        workspace_id=workspace.pk, key=key
    )
    assert DemoOrder.objects.get().client_order_id == order.client_order_id
    audit = AuditEvent.objects.get(action="order.place")
    assert audit.actor is None
    assert audit.details["origin"] == "bot"


def test_an_unknown_origin_is_refused_before_anything_is_written(workspace, connection):
    with pytest.raises(ValueError, match="robot"):
        services.place_order(
            workspace=workspace,
            actor=None,
            connection=connection,
            symbol="BTC/USDT",
            side="buy",
            order_type="market",
            amount=Decimal("0.001"),
            price=None,
            idempotency_key="k",
            origin="robot",
        )
    assert not Order.objects.exists()
    assert not DemoOrder.objects.exists()


def test_resuming_an_unanswered_order_uses_the_callers_gateway(workspace, connection, monkeypatch):
    """A retry of an order the venue never answered finds it and sends it with one gateway."""
    real_create = DemoGateway.create_order

    def unanswered(self, *args, **kwargs):
        raise ExchangeUnreachable("no answer")

    monkeypatch.setattr(DemoGateway, "create_order", unanswered)
    with pytest.raises(ExchangeUnreachable):
        bot_order(workspace, connection, "run:1:candle:2:entry")
    monkeypatch.setattr(DemoGateway, "create_order", real_create)
    made = []
    real_init = DemoGateway.__init__

    def counted(self, *args, **kwargs):
        made.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(DemoGateway, "__init__", counted)

    retry = bot_order(workspace, connection, "run:1:candle:2:entry")

    assert retry.replayed is True
    assert retry.order.status == "closed"
    assert len(made) == 1  # place_order's own; _replay opened no second one
    assert DemoOrder.objects.count() == 1

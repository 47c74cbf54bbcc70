"""Orders through the API on the demo venue: fills, balances, validation, scoping, HOLD, cancel."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.test import Client

from exchanges.demo import feed
from exchanges.demo.instruments import INSTRUMENTS
from exchanges.epoch import now_ms
from exchanges.models import DemoOrder
from exchanges.services import match_demo_orders
from terminal.models import Order, OrderEvent
from terminal.services import derive_client_order_id, refresh_open_orders
from tests.conftest import assert_problem
from tests.terminal.conftest import balance, mid_now, new_key, order_body, place
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db


def fee_of(cost: Decimal) -> Decimal:
    return (cost * Decimal("0.001")).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)


def resting_buy_price(symbol: str) -> Decimal:
    """A limit buy price 0.2 % under the market, on the tick grid: it rests when placed."""
    step = INSTRUMENTS[symbol].price_step
    return (mid_now(symbol) * Decimal("0.998") / step).to_integral_value() * step


def first_crossing_ms(symbol: str, price: Decimal, after_ms: int) -> int:
    """The end of the first whole minute after `after_ms` whose low reaches `price`."""
    start = (after_ms // 60_000 + 1) * 60_000
    candles = feed.candles(symbol, "1m", start_ms=start, limit=20_000)
    for candle in candles.rows():
        if feed.price_to_decimal(symbol, candle.low) <= price:
            return candle.ts + 60_000
    raise AssertionError("the feed never came down to the price in two weeks")


# --------------------------------------------------------------------------- market orders


def test_market_buy_fills_and_moves_the_balance_by_cost_plus_fee(trader_api, workspace, connection):
    usdt_before = balance(connection, "USDT")[0] or Decimal(10_000)
    key = new_key()

    response = place(trader_api, connection, key, amount="0.002")

    assert response.status_code == 201, response.content
    order = response.json()
    venue_order = DemoOrder.objects.get(connection=connection)
    price = venue_order.average  # the venue's fill price (mid + slippage)
    cost = Decimal("0.002") * price
    assert order["status"] == "closed"
    assert order["client_order_id"] == derive_client_order_id(workspace_id=workspace.pk, key=key)
    assert venue_order.client_order_id == order["client_order_id"]
    assert Decimal(order["filled"]) == Decimal("0.002")
    assert Decimal(order["average"]) == price
    assert order["price"] is None
    assert Decimal(order["fee"]) == fee_of(cost) == venue_order.fee
    assert order["fee_currency"] == "USDT"
    assert balance(connection, "USDT") == (usdt_before - cost - fee_of(cost), 0)
    assert balance(connection, "BTC") == (Decimal("0.002"), 0)

    journal = Order.objects.get(pk=order["id"])
    assert journal.exchange_order_id == str(venue_order.pk)
    assert journal.acknowledged_at is not None
    assert journal.submit_lease_until is None
    assert list(journal.events.values_list("from_status", "to_status", "message")) == [
        ("open", "closed", "acknowledged")
    ]
    audit = AuditEvent.objects.get(action="order.place", workspace=workspace)
    assert audit.target_id == str(journal.pk)
    assert audit.details["symbol"] == "BTC/USDT"


def test_market_sell_credits_proceeds_minus_fee(trader_api, connection):
    assert place(trader_api, connection, amount="0.003").status_code == 201
    usdt_after_buy = balance(connection, "USDT")[0]

    response = place(trader_api, connection, side="sell", amount="0.001")

    assert response.status_code == 201
    sold = DemoOrder.objects.get(connection=connection, side="sell")
    proceeds = Decimal("0.001") * sold.average
    assert balance(connection, "USDT")[0] == usdt_after_buy + proceeds - fee_of(proceeds)
    assert balance(connection, "BTC") == (Decimal("0.002"), 0)
    assert Decimal(response.json()["average"]) == sold.average


def test_order_cycle_histogram_is_exported(trader_api, connection):
    assert place(trader_api, connection).status_code == 201
    metrics = Client().get("/metrics").content.decode()
    assert 'order_cycle_seconds_count{exchange="demo",type="market"}' in metrics
    assert 'order_cycle_seconds_bucket{exchange="demo",le="0.05",type="market"}' in metrics


# --------------------------------------------------------------------------- limit orders


def test_limit_buy_rests_then_fills_when_the_price_crosses(trader_api, connection):
    price = resting_buy_price("BTC/USDT")
    placed_at = now_ms()
    response = place(trader_api, connection, type="limit", price=str(price), amount="0.01")

    assert response.status_code == 201, response.content
    order = response.json()
    assert order["status"] == "open"
    assert Decimal(order["filled"]) == 0
    reserve = Decimal("0.01") * price + fee_of(Decimal("0.01") * price)
    assert balance(connection, "USDT") == (Decimal(10_000) - reserve, reserve)
    listed = trader_api.get("/api/v1/terminal/orders", {"status": "open"}).json()
    assert [o["id"] for o in listed["results"]] == [order["id"]]

    # Nothing crossed yet: the matcher leaves it open, and so does the refresh.
    match_demo_orders(now_ms=now_ms())
    crossing = first_crossing_ms("BTC/USDT", price, placed_at)
    match_demo_orders(now_ms=crossing - 60_000)  # up to the minute before the first crossing
    assert refresh_open_orders() == 0
    assert trader_api.get(f"/api/v1/terminal/orders/{order['id']}").json()["status"] == "open"

    assert match_demo_orders(now_ms=crossing) == 1
    # The venue filled it; the journal learns it from the periodic refresh (beat), not a read.
    assert trader_api.get(f"/api/v1/terminal/orders/{order['id']}").json()["status"] == "open"
    assert refresh_open_orders() == 1
    refreshed = trader_api.get(f"/api/v1/terminal/orders/{order['id']}").json()

    assert refreshed["status"] == "closed"
    assert Decimal(refreshed["filled"]) == Decimal("0.01")
    assert Decimal(refreshed["average"]) == price  # a resting order fills at its limit
    assert Decimal(refreshed["fee"]) == fee_of(Decimal("0.01") * price)
    assert balance(connection, "USDT") == (Decimal(10_000) - reserve, 0)
    assert balance(connection, "BTC") == (Decimal("0.01"), 0)
    journal = Order.objects.get(pk=order["id"])
    assert list(journal.events.values_list("to_status", flat=True)) == ["open", "closed"]
    assert trader_api.get("/api/v1/terminal/orders", {"status": "open"}).json()["count"] == 0


def test_cancel_releases_the_reserve(trader_api, workspace, connection):
    price = resting_buy_price("ETH/USDT")
    order = place(
        trader_api, connection, symbol="ETH/USDT", type="limit", price=str(price), amount="0.01"
    ).json()
    assert balance(connection, "USDT")[1] > 0

    response = trader_api.post(f"/api/v1/terminal/orders/{order['id']}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert balance(connection, "USDT") == (Decimal(10_000), 0)
    assert DemoOrder.objects.get(connection=connection).status == "canceled"
    assert AuditEvent.objects.filter(
        action="order.cancel", workspace=workspace, target_id=order["id"]
    ).exists()
    again = trader_api.post(f"/api/v1/terminal/orders/{order['id']}/cancel")
    assert_problem(again, 409, "order-not-open")


def test_cancel_of_a_filled_order_is_409(trader_api, connection):
    order = place(trader_api, connection).json()
    assert_problem(
        trader_api.post(f"/api/v1/terminal/orders/{order['id']}/cancel"), 409, "order-not-open"
    )


def test_viewer_cannot_cancel_and_others_cannot_see(viewer_api, other_api, trader_api, connection):
    price = resting_buy_price("BTC/USDT")
    order = place(trader_api, connection, type="limit", price=str(price)).json()
    url = f"/api/v1/terminal/orders/{order['id']}"

    assert_problem(viewer_api.post(f"{url}/cancel"), 403, "role-required")
    assert_problem(other_api.get(url), 404)
    assert_problem(other_api.post(f"{url}/cancel"), 404)
    assert Order.objects.get(pk=order["id"]).status == "open"


# --------------------------------------------------------------------------- validation


def test_insufficient_funds_is_400_at_amount_and_journaled_as_rejected(trader_api, connection):
    key = new_key()
    response = place(trader_api, connection, key, amount="1")  # ~100,000 USDT of 10,000

    body = assert_problem(response, 400, "insufficient-funds")
    assert [e["pointer"] for e in body["errors"]] == ["/amount"]
    journal = Order.objects.get()
    assert journal.status == "rejected"
    assert journal.rejection["code"] == "insufficient-funds"
    assert DemoOrder.objects.count() == 0
    balances = trader_api.get("/api/v1/terminal/balances", {"connection": str(connection.pk)})
    assert balances.json() == [{"asset": "USDT", "free": "10000", "used": "0", "total": "10000"}]

    # The retry with the same key gets the same refusal; nothing is sent again.
    again = place(trader_api, connection, key, amount="1")
    assert assert_problem(again, 400, "insufficient-funds")["detail"] == body["detail"]
    assert Order.objects.count() == 1
    listed = trader_api.get("/api/v1/terminal/orders", {"status": "rejected"}).json()
    assert [o["id"] for o in listed["results"]] == [str(journal.pk)]


def test_selling_what_is_not_held_is_400_at_amount(trader_api, connection):
    body = assert_problem(place(trader_api, connection, side="sell"), 400, "insufficient-funds")
    assert body["errors"][0]["pointer"] == "/amount"


def test_a_market_order_below_the_minimum_notional_is_refused_by_the_venue(trader_api, connection):
    response = place(trader_api, connection, symbol="XRP/USDT", amount="0.1")  # ~0.2 USDT
    body = assert_problem(response, 400, "invalid-order")
    assert body["errors"][0]["pointer"] == "/amount"
    assert Order.objects.get().status == "rejected"
    assert DemoOrder.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "code", "pointers"),
    [
        ({"amount": "0.000015"}, "validation-error", ["/amount"]),  # off the 0.00001 lot
        ({"amount": "0"}, "validation-error", ["/amount"]),
        ({"amount": "-1"}, "validation-error", ["/amount"]),
        ({"amount": "abc"}, "validation-error", ["/amount"]),
        ({"amount": "10000"}, "validation-error", ["/amount"]),  # above the maximum
        ({"type": "limit"}, "validation-error", ["/price"]),  # limit without price
        ({"price": "90000"}, "validation-error", ["/price"]),  # market with a price
        ({"type": "limit", "price": "90000.005"}, "validation-error", ["/price"]),
        (
            {"symbol": "XRP/USDT", "amount": "0.1", "type": "limit", "price": "2.2"},
            "validation-error",
            ["/amount"],  # below the minimum notional
        ),
        ({"symbol": "DOGE/USDT"}, "unknown-symbol", ["/symbol"]),
        ({"side": "hold"}, "validation-error", ["/side"]),
        ({"type": "stop"}, "validation-error", ["/type"]),
        ({"symbol": None, "amount": None}, "validation-error", ["/amount", "/symbol"]),
        ({"amount": "0.000015", "type": "limit"}, "validation-error", ["/amount", "/price"]),
    ],
)
def test_invalid_orders_are_400_with_pointers(trader_api, connection, changes, code, pointers):
    body = assert_problem(place(trader_api, connection, **changes), 400, code)
    assert sorted(e["pointer"] for e in body["errors"]) == sorted(pointers)
    assert Order.objects.count() == 0
    assert DemoOrder.objects.count() == 0


@pytest.mark.parametrize(
    "written",
    [
        "1_000",  # Python's Decimal takes digit separators
        " 1 ",  # and surrounding spaces
        "\u0661",  # and Arabic-Indic digits
        "\u0661.\u0665",
        "\uff11",  # fullwidth digits
        "1e-3",  # plain decimal notation only: no exponent
        "0x10",
        "NaN",
        "Infinity",
        "",
        "1.0.0",
        "0.001\n",
        0.001,  # a JSON number with a fraction is a binary float
        True,
        ["0.001"],
    ],
)
@pytest.mark.parametrize("field", ["amount", "price"])
def test_amounts_and_prices_are_plain_ascii_decimals_only(trader_api, connection, field, written):
    changes = {"type": "limit", "price": "90000", field: written}
    body = assert_problem(place(trader_api, connection, **changes), 400, "validation-error")
    assert [e["pointer"] for e in body["errors"]] == [f"/{field}"]
    assert Order.objects.count() == 0


@pytest.mark.parametrize("written", ["0.001", "0.0010", ".001", "+0.001", "0.001000000000000000"])
def test_plain_decimals_are_taken_however_they_are_written(trader_api, connection, written):
    response = place(trader_api, connection, amount=written)
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "0.001"


def test_a_json_integer_amount_is_taken(trader_api, connection):
    response = place(trader_api, connection, symbol="XRP/USDT", amount=10)
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "10"


def test_an_order_from_the_api_is_recorded_as_manual(trader_api, workspace, connection):
    order = Order.objects.get(pk=place(trader_api, connection).json()["id"])
    assert order.origin == Order.Origin.MANUAL
    assert order.created_by.username == "tanya"
    audit = AuditEvent.objects.get(action="order.place", workspace=workspace)
    assert audit.details["origin"] == "manual"


def test_an_idempotency_key_is_required(trader_api, connection):
    response = trader_api.post("/api/v1/terminal/orders", order_body(connection), format="json")
    body = assert_problem(response, 400)
    assert body["errors"][0]["pointer"] == "/client_order_id"
    assert Order.objects.count() == 0


def test_a_malformed_idempotency_key_is_400(trader_api, connection):
    response = trader_api.post(
        "/api/v1/terminal/orders",
        order_body(connection),
        format="json",
        HTTP_IDEMPOTENCY_KEY="x" * 256,
    )
    assert_problem(response, 400, "idempotency-key-invalid")


# --------------------------------------------------------------------------- scoping, roles, HOLD


def test_another_workspaces_connection_is_404(trader_api, other_connection):
    response = place(trader_api, other_connection)
    body = assert_problem(response, 404, "not-found")
    assert [e["pointer"] for e in body["errors"]] == ["/connection"]
    assert Order.objects.count() == 0


def test_viewer_cannot_order(viewer_api, connection):
    assert_problem(place(viewer_api, connection), 403, "role-required")
    assert Order.objects.count() == 0


def test_non_member_cannot_order_or_list(outsider_api, connection):
    assert_problem(place(outsider_api, connection), 403, "not-a-workspace-member")
    assert_problem(outsider_api.get("/api/v1/terminal/orders"), 403)


def test_hold_refuses_new_orders_with_423(trader_api, workspace, connection):
    workspace.on_hold = True
    workspace.save(update_fields=["on_hold"])

    assert_problem(place(trader_api, connection), 423, "workspace-on-hold")
    assert Order.objects.count() == 0
    assert DemoOrder.objects.count() == 0


def test_hold_still_allows_cancel(trader_api, workspace, connection):
    price = resting_buy_price("BTC/USDT")
    order = place(trader_api, connection, type="limit", price=str(price)).json()
    workspace.on_hold = True
    workspace.save(update_fields=["on_hold"])

    response = trader_api.post(f"/api/v1/terminal/orders/{order['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"


# --------------------------------------------------------------------------- list, detail


def test_list_newest_first_with_filters(
    trader_api, viewer_api, connection, other_api, other_connection
):
    first = place(trader_api, connection).json()
    second = place(trader_api, connection, symbol="ETH/USDT", amount="0.01").json()
    price = resting_buy_price("SOL/USDT")
    third = place(
        trader_api, connection, symbol="SOL/USDT", type="limit", price=str(price), amount="1"
    ).json()
    place(other_api, other_connection)  # another workspace's order is never listed

    everything = viewer_api.get("/api/v1/terminal/orders").json()
    assert everything["count"] == 3
    assert [o["id"] for o in everything["results"]] == [third["id"], second["id"], first["id"]]
    assert set(everything["results"][0]) == {
        "id", "client_order_id", "connection", "symbol", "side", "type", "amount", "price",
        "status", "filled", "average", "fee", "fee_currency", "created_at", "updated_at",
    }  # fmt: skip
    by_symbol = viewer_api.get("/api/v1/terminal/orders", {"symbol": "ETH/USDT"}).json()
    assert [o["id"] for o in by_symbol["results"]] == [second["id"]]
    open_ = viewer_api.get("/api/v1/terminal/orders", {"status": "open"}).json()
    assert [o["id"] for o in open_["results"]] == [third["id"]]
    closed = viewer_api.get(
        "/api/v1/terminal/orders", {"status": "closed", "connection": str(connection.pk)}
    ).json()
    assert closed["count"] == 2
    foreign = viewer_api.get("/api/v1/terminal/orders", {"connection": str(other_connection.pk)})
    assert assert_problem(foreign, 404, "not-found")["errors"][0]["pointer"] == "/connection"


def test_list_rejects_an_unknown_status(viewer_api):
    body = assert_problem(viewer_api.get("/api/v1/terminal/orders", {"status": "done"}), 400)
    assert body["errors"][0]["pointer"] == "/status"


def test_detail_and_unknown_ids(viewer_api, trader_api, connection):
    order = place(trader_api, connection).json()
    detail = viewer_api.get(f"/api/v1/terminal/orders/{order['id']}")
    assert detail.status_code == 200
    assert detail.json() == order | {"updated_at": detail.json()["updated_at"]}
    assert_problem(viewer_api.get(f"/api/v1/terminal/orders/{OrderEvent().id}"), 404)
    assert_problem(viewer_api.get("/api/v1/terminal/orders/not-a-uuid"), 404)

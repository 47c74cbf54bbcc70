"""Positions: the averaging rule (pure) and the endpoint over the journal's fills."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from exchanges.epoch import now_ms
from exchanges.models import ExchangeConnection
from exchanges.services import match_demo_orders
from terminal.models import Order
from terminal.positions import Fill, NetPosition, net_positions
from terminal.services import refresh_open_orders
from tests.conftest import assert_problem
from tests.terminal.conftest import mid_now, place
from tests.terminal.test_orders_api import first_crossing_ms, resting_buy_price

D = Decimal


def fill(side: str, amount: str, price: str, symbol: str = "BTC/USDT", **extra) -> Fill:
    return Fill(symbol=symbol, side=side, amount=D(amount), price=D(price), **extra)


def test_buys_average_by_amount():
    [position] = net_positions([fill("buy", "1", "100"), fill("buy", "3", "200")]).values()
    assert position.amount == D(4)
    assert position.average_entry == D(175)  # (1*100 + 3*200) / 4


def test_a_partial_sell_keeps_the_entry():
    [position] = net_positions(
        [fill("buy", "2", "100"), fill("buy", "2", "200"), fill("sell", "1", "400")]
    ).values()
    assert position.amount == D(3)
    assert position.average_entry == D(150)
    assert position.unrealized_pnl(D(160)) == D("30.00000000")  # (160 - 150) * 3


def test_a_full_sell_is_flat_and_left_out():
    assert net_positions([fill("buy", "1", "100"), fill("sell", "1", "120")]) == {}


def test_a_sell_larger_than_the_position_opens_a_short_at_its_price():
    [position] = net_positions([fill("buy", "1", "100"), fill("sell", "3", "90")]).values()
    assert position.amount == D(-2)
    assert position.average_entry == D(90)
    assert position.unrealized_pnl(D(80)) == D("20.00000000")  # a short gains when price falls
    assert position.unrealized_pnl(D(95)) == D("-10.00000000")


def test_shorts_average_and_cover():
    fills = [fill("sell", "1", "100"), fill("sell", "1", "110"), fill("buy", "0.5", "90")]
    [position] = net_positions(fills).values()
    assert position.amount == D("-1.5")
    assert position.average_entry == D(105)


def test_symbols_are_separate_and_fees_in_base_reduce_the_amount():
    fills = [
        fill("buy", "1", "100", fee=D("0.001"), fee_currency="BTC", base="BTC"),
        fill("buy", "10", "3", symbol="XRP/USDT", fee=D("0.03"), fee_currency="USDT", base="XRP"),
    ]
    positions = net_positions(fills)
    assert positions["BTC/USDT"].amount == D("0.999")
    assert positions["BTC/USDT"].average_entry == D(100)
    assert positions["XRP/USDT"].amount == D(10)  # a quote fee leaves the amount alone


def test_rounding_of_entry_and_pnl():
    position = NetPosition("X/Y")
    for price in ("1", "2", "2"):
        position.apply(fill("buy", "1", price, symbol="X/Y"))
    assert position.rounded_entry() == D("1.666666666666667")
    assert position.unrealized_pnl(D(2)) == D("1.00000000")
    assert position.unrealized_pnl(None) is None


# --------------------------------------------------------------------------- the endpoint


@pytest.mark.django_db
def test_positions_from_the_workspaces_fills(trader_api, viewer_api, connection):
    assert place(trader_api, connection, amount="0.002").status_code == 201
    assert place(trader_api, connection, amount="0.003").status_code == 201
    assert place(trader_api, connection, side="sell", amount="0.001").status_code == 201
    assert place(trader_api, connection, symbol="ETH/USDT", amount="0.01").status_code == 201
    assert (
        place(trader_api, connection, symbol="ETH/USDT", side="sell", amount="0.01").status_code
        == 201
    )

    response = viewer_api.get("/api/v1/terminal/positions", {"connection": str(connection.pk)})

    assert response.status_code == 200
    [btc] = response.json()  # ETH went flat
    assert btc["connection"] == str(connection.pk)
    buys = Order.objects.filter(symbol="BTC/USDT", side="buy").order_by("created_at")
    expected_entry = sum(o.filled * o.average for o in buys) / sum(o.filled for o in buys)
    assert btc["symbol"] == "BTC/USDT"
    assert D(btc["amount"]) == D("0.004")
    with decimal.localcontext(prec=16):
        assert D(btc["average_entry"]) == +expected_entry
    mark = D(btc["mark"])
    assert abs(mark - mid_now("BTC/USDT")) / mark < D("0.001")
    assert D(btc["unrealized_pnl"]) == ((mark - expected_entry) * D("0.004")).quantize(D("1e-8"))


@pytest.mark.django_db
def test_positions_count_a_limit_order_once_the_refresh_saw_it_fill(trader_api, connection):
    price = resting_buy_price("BTC/USDT")
    placed = place(trader_api, connection, type="limit", price=str(price), amount="0.01")
    assert placed.json()["status"] == "open"
    url = "/api/v1/terminal/positions"
    assert trader_api.get(url, {"connection": str(connection.pk)}).json() == []

    match_demo_orders(now_ms=first_crossing_ms("BTC/USDT", price, now_ms()))
    # Positions read the journal: the fill counts once the periodic refresh recorded it.
    assert trader_api.get(url, {"connection": str(connection.pk)}).json() == []
    assert refresh_open_orders() == 1
    [position] = trader_api.get(url, {"connection": str(connection.pk)}).json()

    assert D(position["amount"]) == D("0.01")
    assert D(position["average_entry"]) == price


@pytest.mark.django_db
def test_positions_without_a_connection_cover_every_connection(
    trader_api, viewer_api, connection, workspace
):
    second = ExchangeConnection.objects.create(workspace=workspace, name="Second", exchange="demo")
    assert place(trader_api, connection, amount="0.002").status_code == 201
    assert place(trader_api, second, symbol="ETH/USDT", amount="0.01").status_code == 201

    rows = viewer_api.get("/api/v1/terminal/positions").json()

    assert sorted((row["connection"], row["symbol"]) for row in rows) == sorted(
        [(str(connection.pk), "BTC/USDT"), (str(second.pk), "ETH/USDT")]
    )


@pytest.mark.django_db
def test_positions_validate_the_connection(viewer_api, other_workspace):
    body = assert_problem(viewer_api.get("/api/v1/terminal/positions?connection=nope"), 400)
    assert body["errors"][0]["pointer"] == "/connection"
    foreign = ExchangeConnection.objects.create(
        workspace=other_workspace, name="Theirs", exchange="demo"
    )
    assert_problem(viewer_api.get(f"/api/v1/terminal/positions?connection={foreign.pk}"), 404)

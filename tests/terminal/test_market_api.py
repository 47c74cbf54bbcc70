"""Market data endpoints: instruments, ticker, candles, balances (and their scoping)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from exchanges.demo import feed
from exchanges.epoch import now_ms
from tests.conftest import assert_problem

pytestmark = pytest.mark.django_db


def test_instruments_of_the_demo_connection(viewer_api, connection):
    response = viewer_api.get("/api/v1/terminal/instruments", {"connection": str(connection.pk)})

    assert response.status_code == 200
    rows = {row["symbol"]: row for row in response.json()}
    assert sorted(rows) == ["BNB/USDT", "BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
    assert rows["BTC/USDT"] == {
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "price_step": "0.01",
        "amount_step": "0.00001",
        "min_amount": "0.00001",
        "min_notional": "5",
    }
    assert rows["XRP/USDT"]["price_step"] == "0.0001"
    assert rows["XRP/USDT"]["amount_step"] == "0.1"


@pytest.mark.parametrize(
    ("params", "pointer"),
    [({}, "/connection"), ({"connection": "not-a-uuid"}, "/connection")],
)
def test_instruments_need_a_connection_id(trader_api, connection, params, pointer):
    body = assert_problem(trader_api.get("/api/v1/terminal/instruments", params), 400)
    assert [e["pointer"] for e in body["errors"]] == [pointer]


@pytest.mark.parametrize(
    "path",
    ["instruments", "ticker", "candles", "balances", "positions"],
)
def test_another_workspaces_connection_is_404(trader_api, other_connection, path):
    params = {"connection": str(other_connection.pk), "symbol": "BTC/USDT"}
    body = assert_problem(trader_api.get(f"/api/v1/terminal/{path}", params), 404, "not-found")
    assert [e["pointer"] for e in body["errors"]] == ["/connection"]


@pytest.mark.parametrize(
    "path",
    ["instruments", "ticker", "candles", "balances", "positions"],
)
def test_non_member_is_403(outsider_api, connection, path):
    params = {"connection": str(connection.pk), "symbol": "BTC/USDT"}
    assert_problem(outsider_api.get(f"/api/v1/terminal/{path}", params), 403)


def test_ticker_is_the_feeds_price_now(viewer_api, connection):
    before = now_ms()
    response = viewer_api.get(
        "/api/v1/terminal/ticker", {"connection": str(connection.pk), "symbol": "ETH/USDT"}
    )
    after = now_ms()

    assert response.status_code == 200
    ticker = response.json()
    assert set(ticker) == {"symbol", "ts", "last", "bid", "ask", "high", "low", "volume"}
    assert ticker["symbol"] == "ETH/USDT"
    assert before <= ticker["ts"] <= after
    assert all(isinstance(ticker[k], str) for k in ("last", "bid", "ask", "high", "low", "volume"))
    last = Decimal(ticker["last"])
    assert last == feed.price_to_decimal("ETH/USDT", feed.price_at("ETH/USDT", ticker["ts"]))
    assert Decimal(ticker["bid"]) < last < Decimal(ticker["ask"])
    assert Decimal(ticker["low"]) <= last <= Decimal(ticker["high"])
    assert Decimal(ticker["volume"]) > 0


def test_ticker_of_an_unknown_symbol_is_400_at_symbol(viewer_api, connection):
    response = viewer_api.get(
        "/api/v1/terminal/ticker", {"connection": str(connection.pk), "symbol": "DOGE/USDT"}
    )
    body = assert_problem(response, 400, "unknown-symbol")
    assert body["errors"][0]["pointer"] == "/symbol"


def test_candles_oldest_first_and_equal_to_the_feed(viewer_api, connection):
    response = viewer_api.get(
        "/api/v1/terminal/candles",
        {"connection": str(connection.pk), "symbol": "BTC/USDT", "timeframe": "5m", "limit": 50},
    )

    assert response.status_code == 200
    candles = response.json()
    assert len(candles) == 50
    stamps = [c["ts"] for c in candles]
    assert stamps == sorted(stamps)
    assert all(b - a == 300_000 for a, b in itertools.pairwise(stamps))
    assert stamps[0] % 300_000 == 0
    assert stamps[-1] <= now_ms() < stamps[-1] + 300_000  # the last one is forming
    first = feed.candle_at("BTC/USDT", "5m", stamps[0])
    assert candles[0] == {
        "ts": first.ts,
        "open": str(feed.price_to_decimal("BTC/USDT", first.open).normalize()),
        "high": str(feed.price_to_decimal("BTC/USDT", first.high).normalize()),
        "low": str(feed.price_to_decimal("BTC/USDT", first.low).normalize()),
        "close": str(feed.price_to_decimal("BTC/USDT", first.close).normalize()),
        "volume": str(feed.amount_to_decimal("BTC/USDT", first.volume).normalize()),
    }


def test_candles_default_and_maximum_limits(viewer_api, connection):
    params = {"connection": str(connection.pk), "symbol": "SOL/USDT"}
    assert len(viewer_api.get("/api/v1/terminal/candles", params).json()) == 500
    params.update(timeframe="1d", limit=1000)
    assert len(viewer_api.get("/api/v1/terminal/candles", params).json()) == 1000


@pytest.mark.parametrize(
    ("changes", "pointers"),
    [
        ({"timeframe": "2m"}, ["/timeframe"]),
        ({"limit": 1001}, ["/limit"]),
        ({"limit": 0}, ["/limit"]),
        ({"limit": "many"}, ["/limit"]),
        ({"symbol": None}, ["/symbol"]),
        ({"timeframe": "3h", "limit": 5000}, ["/timeframe", "/limit"]),
    ],
)
def test_candles_validation_points_at_the_parameter(viewer_api, connection, changes, pointers):
    params = {"connection": str(connection.pk), "symbol": "BTC/USDT", "timeframe": "1h"}
    params.update(changes)
    params = {k: v for k, v in params.items() if v is not None}
    body = assert_problem(viewer_api.get("/api/v1/terminal/candles", params), 400)
    assert sorted(e["pointer"] for e in body["errors"]) == sorted(pointers)


def test_candles_of_an_unknown_symbol_is_400_at_symbol(viewer_api, connection):
    params = {"connection": str(connection.pk), "symbol": "BTC/EUR", "timeframe": "1h"}
    body = assert_problem(viewer_api.get("/api/v1/terminal/candles", params), 400)
    assert body["errors"][0]["pointer"] == "/symbol"


def test_balances_start_with_ten_thousand_usdt(viewer_api, connection):
    response = viewer_api.get("/api/v1/terminal/balances", {"connection": str(connection.pk)})

    assert response.status_code == 200
    assert response.json() == [{"asset": "USDT", "free": "10000", "used": "0", "total": "10000"}]


def test_workspace_header_is_required(trader_api, connection):
    trader_api.credentials(HTTP_AUTHORIZATION=trader_api._credentials["HTTP_AUTHORIZATION"])
    response = trader_api.get("/api/v1/terminal/instruments", {"connection": str(connection.pk)})
    assert_problem(response, 400, "workspace-header-missing")

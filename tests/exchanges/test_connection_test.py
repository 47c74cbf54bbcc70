"""Testing a ccxt connection through the API with the real ccxt client against the local stub.

The stub answers like Binance's REST API (tests/exchanges/stub_exchange.py); only the URLs of
the gateway's ccxt client are changed. Each outcome is stored on the connection and, when it is
a failure, answered with its problem.
"""

import pytest

from exchanges import ccxt_gateway
from exchanges.factory import gateway_for
from tests.conftest import assert_problem
from tests.exchanges.ccxt_helpers import route_ccxt_to
from tests.exchanges.stub_exchange import STUB_API_KEY, STUB_SECRET, refused_url, running_stub
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/exchange-connections"


def test_url(connection) -> str:
    return f"{URL}/{connection.pk}/test"


test_url.__test__ = False


def assert_failed_and_stored(connection, code: str) -> str:
    connection.refresh_from_db()
    assert connection.status == "failed"
    assert connection.last_checked_at is not None
    assert connection.last_error
    for secret in (STUB_API_KEY, STUB_SECRET):
        assert secret not in connection.last_error
    event = AuditEvent.objects.filter(action="connection.test").latest("created_at")
    assert (event.details["ok"], event.details["code"]) == (False, code)
    return connection.last_error


def test_success_loads_markets_and_reads_the_balance_with_the_key(
    admin_api, binance_connection, stub_routed
):
    response = admin_api.post(test_url(binance_connection))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert "5 markets" in body["message"]
    assert stub_routed.paths() == ["/api/v3/exchangeInfo", "/api/v3/account"]
    signed = stub_routed.requests[-1]
    assert signed.signed
    assert signed.headers["x-mbx-apikey"] == STUB_API_KEY
    binance_connection.refresh_from_db()
    assert (binance_connection.status, binance_connection.last_error) == ("ok", "")
    assert binance_connection.last_latency_ms == body["latency_ms"]


def test_a_401_is_exchange_auth_failed(admin_api, binance_connection, stub_routed):
    stub_routed.mode = "auth_failed"

    body = assert_problem(admin_api.post(test_url(binance_connection)), 400, "exchange-auth-failed")

    assert "credentials" in body["detail"]
    assert STUB_API_KEY not in str(body)
    assert STUB_SECRET not in str(body)
    assert assert_failed_and_stored(binance_connection, "exchange-auth-failed") == body["detail"]


def test_a_refused_connection_is_exchange_unreachable(admin_api, binance_connection, monkeypatch):
    route_ccxt_to(monkeypatch, refused_url())

    body = assert_problem(admin_api.post(test_url(binance_connection)), 503, "exchange-unreachable")

    assert "127.0.0.1" not in body["detail"]  # ccxt's message (with the URL) is not passed on
    assert_failed_and_stored(binance_connection, "exchange-unreachable")


def test_a_429_is_exchange_rate_limited_with_retry_after(
    admin_api, binance_connection, stub_routed
):
    stub_routed.mode = "rate_limited"

    response = admin_api.post(test_url(binance_connection))

    assert_problem(response, 429, "exchange-rate-limited")
    assert response["Retry-After"] == "7"
    assert_failed_and_stored(binance_connection, "exchange-rate-limited")


def test_an_outage_page_is_exchange_unreachable(admin_api, binance_connection, stub_routed):
    stub_routed.mode = "unavailable"
    body = assert_problem(admin_api.post(test_url(binance_connection)), 503, "exchange-unreachable")
    assert "unavailable" in body["detail"]


def test_a_slow_exchange_times_out_as_unreachable(admin_api, binance_connection, monkeypatch):
    with running_stub(mode="slow", slow_seconds=1.0) as slow:
        route_ccxt_to(monkeypatch, slow.base_url, timeout_ms=200)
        body = assert_problem(
            admin_api.post(test_url(binance_connection)), 503, "exchange-unreachable"
        )
    assert "200 ms" in body["detail"]


def test_without_credentials_the_test_reads_public_data_only(admin_api, workspace, stub_routed):
    created = admin_api.post(
        URL, {"name": "Public", "exchange": "binance", "mode": "testnet"}, format="json"
    ).json()

    body = admin_api.post(f"{URL}/{created['id']}/test").json()

    assert body["ok"] is True
    assert "only market data" in body["message"]
    assert stub_routed.paths() == ["/api/v3/exchangeInfo"]


def test_a_connection_whose_key_is_gone_fails_the_test_safely(
    admin_api, binance_connection, settings, stub_routed
):
    settings.SECRET_ENCRYPTION_KEY = "A" * 43 + "="  # another valid 32-byte key

    assert_problem(
        admin_api.post(test_url(binance_connection)), 503, "connection-secrets-unavailable"
    )
    assert stub_routed.paths() == []
    assert_failed_and_stored(binance_connection, "connection-secrets-unavailable")


# --------------------------------------------------------------------------- the gateway itself


def test_markets_are_cached_so_a_second_ticker_does_not_reload_them(
    binance_connection, stub_routed
):
    first = gateway_for(binance_connection).fetch_ticker("BTC/USDT")
    second = gateway_for(binance_connection).fetch_ticker("ETH/USDT")

    assert stub_routed.paths() == [
        "/api/v3/exchangeInfo",
        "/api/v3/ticker/24hr",
        "/api/v3/ticker/24hr",
    ]
    assert first["symbol"] == "BTC/USDT"
    assert second["symbol"] == "ETH/USDT"
    assert set(first) == {
        "symbol",
        "timestamp",
        "last",
        "bid",
        "ask",
        "high",
        "low",
        "open",
        "close",
        "baseVolume",
    }
    assert all(type(first[key]).__name__ == "Decimal" for key in ("last", "bid", "ask", "high"))


def test_reload_refreshes_the_cached_markets(binance_connection, stub_routed):
    gateway_for(binance_connection).load_markets()
    gateway_for(binance_connection).load_markets(reload=True)
    gateway_for(binance_connection).load_markets()
    assert stub_routed.paths() == ["/api/v3/exchangeInfo", "/api/v3/exchangeInfo"]


def test_ccxt_markets_orders_and_balances_come_back_as_decimals(binance_connection, stub_routed):
    gateway = gateway_for(binance_connection)
    market = gateway.market("BTC/USDT")
    assert str(market["precision"]["amount"]) == "0.00001"
    assert str(market["limits"]["cost"]["min"]) == "5.0"
    rows = gateway.fetch_ohlcv("BTC/USDT", "1m", limit=3)
    assert len(rows) == 3
    assert isinstance(rows[0][0], int)
    assert all(type(value).__name__ == "Decimal" for value in rows[0][1:])
    balance = gateway.fetch_balance()
    assert set(balance) == {"free", "used", "total"}
    assert str(balance["total"]["BTC"]) == "0.6"
    assert "ETH" not in balance["total"]  # zero balances are left out


def test_the_gateway_client_uses_rate_limiter_timeout_and_sandbox(binance_connection, monkeypatch):
    made = []
    original = ccxt_gateway.new_client

    def spy(exchange_id, *, sandbox, credentials):
        client = original(exchange_id, sandbox=sandbox, credentials=credentials)
        made.append((client, sandbox))
        return client

    monkeypatch.setattr(ccxt_gateway, "new_client", spy)
    gateway = gateway_for(binance_connection)

    client, sandbox = made[0]
    assert sandbox is True
    assert client.enableRateLimit is True
    assert client.timeout == 10_000
    assert client.isSandboxModeEnabled is True
    assert (client.apiKey, client.secret) == (STUB_API_KEY, STUB_SECRET)
    assert STUB_SECRET not in repr(gateway)

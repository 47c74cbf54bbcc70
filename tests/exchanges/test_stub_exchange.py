"""ccxt's real binance client against the local stub: the code path the gateway relies on."""

import copy
import urllib.error
import urllib.request

import ccxt
import pytest

from exchanges.demo import feed
from exchanges.demo.instruments import INSTRUMENTS
from tests.exchanges.stub_exchange import (
    CCXT_OPTIONS,
    STUB_API_KEY,
    STUB_SECRET,
    point_ccxt_at,
    refused_url,
    running_stub,
)

NOW = 1_763_900_123_456


def binance(base_url: str, **config) -> ccxt.binance:
    """A ccxt binance client with test credentials, pointed at `base_url`."""
    settings = {
        "apiKey": STUB_API_KEY,
        "secret": STUB_SECRET,
        "timeout": 3000,
        "enableRateLimit": True,
        "options": copy.deepcopy(CCXT_OPTIONS),
        **config,
    }
    return point_ccxt_at(ccxt.binance(settings), base_url)


@pytest.fixture
def stub():
    with running_stub(now_ms=NOW) as running:
        yield running


def test_load_markets_returns_the_stub_markets_and_asks_only_for_spot(stub):
    markets = binance(stub.base_url).load_markets()

    assert sorted(markets) == sorted(INSTRUMENTS)
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["type"], btc["spot"], btc["active"]) == ("BTCUSDT", "spot", True, True)
    assert btc["precision"]["price"] == 0.01
    assert btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"]["min"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0
    assert markets["XRP/USDT"]["precision"] == {
        "amount": 0.1,
        "price": 0.0001,
        "base": 1e-08,
        "quote": 1e-08,
    }
    assert stub.paths() == ["/api/v3/exchangeInfo"]


def test_a_bare_list_of_market_types_works_too(stub):
    options = {**CCXT_OPTIONS, "fetchMarkets": ["spot"]}

    markets = binance(stub.base_url, options=options).load_markets()

    assert sorted(markets) == sorted(INSTRUMENTS)
    assert stub.paths() == ["/api/v3/exchangeInfo"]


def test_without_the_options_ccxt_asks_for_more_than_spot(stub):
    exchange = point_ccxt_at(
        ccxt.binance({"apiKey": STUB_API_KEY, "secret": STUB_SECRET, "timeout": 3000}),
        stub.base_url,
    )

    with pytest.raises(ccxt.BaseError):  # the stub does not serve it: a bare 404
        exchange.load_markets()
    assert stub.paths() == ["/sapi/v1/capital/config/getall"]  # fetchCurrencies, signed


def test_fetch_balance_signs_the_request(stub):
    balance = binance(stub.base_url).fetch_balance()

    assert balance["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert balance["BTC"] == {"free": 0.5, "used": 0.1, "total": 0.6}
    account = [request for request in stub.requests if request.path == "/api/v3/account"]
    assert len(account) == 1
    assert account[0].signed
    assert account[0].headers["x-mbx-apikey"] == STUB_API_KEY
    assert {"timestamp", "recvWindow"} <= set(account[0].query)
    assert stub.paths() == ["/api/v3/exchangeInfo", "/api/v3/account"]


def test_fetch_ticker_returns_the_demo_price(stub):
    ticker = binance(stub.base_url).fetch_ticker("ETH/USDT")
    expected = feed.ticker("ETH/USDT", NOW)

    assert ticker["symbol"] == "ETH/USDT"
    assert ticker["last"] == expected["last"]
    assert (ticker["bid"], ticker["ask"]) == (expected["bid"], expected["ask"])
    assert (ticker["high"], ticker["low"]) == (expected["high"], expected["low"])
    assert ticker["baseVolume"] == expected["volume"]
    assert stub.requests[-1].query == {"symbol": "ETHUSDT"}


def test_fetch_ohlcv_returns_the_demo_candles(stub):
    exchange = binance(stub.base_url)
    since = NOW - 10 * 3_600_000

    history = exchange.fetch_ohlcv("BTC/USDT", "1h", since=since, limit=5)
    latest = exchange.fetch_ohlcv("SOL/USDT", "15m", limit=3)

    expected = feed.candles("BTC/USDT", "1h", start_ms=since, limit=5).rows()
    assert history == [list(row) for row in expected]
    forming = feed.latest_candles("SOL/USDT", "15m", 3, NOW).rows()
    assert latest == [list(row) for row in forming]
    assert latest[-1][4] == feed.price_at("SOL/USDT", NOW)
    assert stub.requests[-1].query == {"interval": "15m", "limit": "3", "symbol": "SOLUSDT"}


def test_sandbox_mode_also_lands_on_the_stub(stub):
    exchange = ccxt.binance(
        {"apiKey": STUB_API_KEY, "secret": STUB_SECRET, "timeout": 3000, "options": CCXT_OPTIONS}
    )
    exchange.set_sandbox_mode(True)
    point_ccxt_at(exchange, stub.base_url)

    assert exchange.fetch_balance()["USDT"]["free"] == 10000.0


def test_rejected_key_is_an_authentication_error():
    with running_stub("auth_failed", now_ms=NOW) as stub:
        exchange = binance(stub.base_url)

        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            exchange.fetch_balance()
        # public endpoints still answer, as on Binance
        assert exchange.fetch_ticker("BTC/USDT")["last"] > 0


def test_wrong_secret_is_an_authentication_error(stub):
    exchange = binance(stub.base_url, secret="not-the-secret")

    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        exchange.fetch_balance()


def test_rate_limit_is_ddos_protection():
    """binance maps 429 to DDoSProtection; RateLimitExceeded is a sibling, both NetworkErrors."""
    with running_stub("rate_limited") as stub:
        with pytest.raises(ccxt.DDoSProtection) as raised:
            binance(stub.base_url).load_markets()
        with pytest.raises(urllib.error.HTTPError) as raw:
            urllib.request.urlopen(f"{stub.base_url}/api/v3/ping", timeout=3)  # noqa: S310

    assert not isinstance(raised.value, ccxt.RateLimitExceeded)
    assert isinstance(raised.value, ccxt.NetworkError)
    assert raw.value.code == 429
    assert raw.value.headers["Retry-After"] == str(stub.retry_after)


def test_mode_switches_between_calls(stub):
    exchange = binance(stub.base_url)
    exchange.load_markets()

    stub.mode = "rate_limited"
    with pytest.raises(ccxt.DDoSProtection):
        exchange.fetch_ticker("BTC/USDT")
    stub.mode = "ok"
    assert exchange.fetch_ticker("BTC/USDT")["last"] > 0


def test_unavailable_exchange_is_exchange_not_available():
    with running_stub("unavailable") as stub, pytest.raises(ccxt.ExchangeNotAvailable):
        binance(stub.base_url).load_markets()


def test_slow_answer_is_a_request_timeout():
    with running_stub("slow", slow_seconds=1.0) as stub, pytest.raises(ccxt.RequestTimeout):
        binance(stub.base_url, timeout=200).load_markets()


def test_refused_connection_is_a_network_error():
    with pytest.raises(ccxt.NetworkError) as raised:
        binance(refused_url(), timeout=500).load_markets()

    assert type(raised.value) is ccxt.NetworkError  # not one of its subclasses

"""A local stand-in for Binance spot's REST API, so tests drive ccxt's real code path offline.

`running_stub()` starts a threaded HTTP server on 127.0.0.1 (a free port) that answers what
`ccxt.binance` (4.5.90) calls for `load_markets`, `fetch_balance`, `fetch_ticker` and
`fetch_ohlcv`; `point_ccxt_at()` sends every URL of a ccxt instance to it. Markets are the demo
exchange's instruments, prices come from the demo feed, signed requests are checked like Binance
checks them (X-MBX-APIKEY header, HMAC-SHA256 of the query string).

The exchange needs these options, or `load_markets` asks for more than spot markets:

    ccxt.binance({
        "apiKey": STUB_API_KEY, "secret": STUB_SECRET,
        "timeout": 3000, "enableRateLimit": True,
        "options": CCXT_OPTIONS,
    })

    CCXT_OPTIONS = {
        "defaultType": "spot",              # fetch_balance/fetch_time use the spot API
        "fetchMarkets": {"types": ["spot"]},  # default also loads linear and inverse futures
                                            # (fapi/dapi exchangeInfo); a bare ["spot"] works too
        "fetchCurrencies": False,           # else, with keys, a signed sapi capital/config/getall
        "fetchMargins": False,              # else, with keys, sapi margin/allPairs and
                                            # margin/isolated/allPairs
    }

What ccxt then calls (the stub logs it in `.requests`):

    load_markets    GET /api/v3/exchangeInfo
    fetch_balance   GET /api/v3/account?timestamp=…&recvWindow=…&signature=… (signed)
    fetch_ticker    GET /api/v3/ticker/24hr?symbol=BTCUSDT
    fetch_ohlcv     GET /api/v3/klines?interval=1m&limit=…&symbol=…[&startTime=…][&endTime=…]

Each of them loads the markets first if they are not loaded. `/api/v3/time` and `/api/v3/ping`
are answered too (`fetch_time`, and `load_markets` with `adjustForTimeDifference`).

Modes, switchable at any time through `.mode`:

    ok            answers as Binance does
    auth_failed   signed endpoints answer 401 {"code": -2015, "msg": "Invalid API-key, IP, or
                  permissions for action."}  → ccxt.AuthenticationError
    rate_limited  every endpoint answers 429 with Retry-After and code -1003
                  → ccxt.DDoSProtection (binance's handle_errors maps 418/429 to it before
                  looking at the body; RateLimitExceeded is its sibling, not its parent, and
                  both are NetworkError subclasses)
    unavailable   every endpoint answers 503 with a non-JSON body → ccxt.ExchangeNotAvailable
    slow          answers after `slow_seconds` → ccxt.RequestTimeout when that exceeds the
                  exchange's timeout

A refused connection (`refused_url()`) raises plain ccxt.NetworkError (not one of its
subclasses): ccxt turns requests' ConnectionError into NetworkError, and only a read timeout into
RequestTimeout.
"""

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exchanges.demo import feed
from exchanges.demo.instruments import INSTRUMENTS, Instrument

STUB_API_KEY = "stub-api-key-0001"
STUB_SECRET = "stub-secret-0001"

CCXT_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}

MODES = ("ok", "auth_failed", "rate_limited", "unavailable", "slow")

INVALID_KEY = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
BAD_SIGNATURE = {"code": -1022, "msg": "Signature for this request is not valid."}
TOO_MANY_REQUESTS = {
    "code": -1003,
    "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute.",
}
BAD_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}

_BY_ID: dict[str, Instrument] = {instrument.id: instrument for instrument in INSTRUMENTS.values()}
_BINANCE_INTERVALS = {timeframe: timeframe for timeframe in feed.TIMEFRAMES}


@dataclass(frozen=True)
class StubRequest:
    """One request the stub received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def signed(self) -> bool:
        return "signature" in self.query


@dataclass
class StubExchange:
    """A running stub: its address, its mode and what it was asked."""

    base_url: str = ""
    mode: str = "ok"
    api_key: str = STUB_API_KEY
    secret: str = STUB_SECRET
    now_ms: int | None = None  # the stub's clock; None follows the real one
    slow_seconds: float = 1.0
    retry_after: int = 7
    balances: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {
            "USDT": ("10000.00000000", "0.00000000"),
            "BTC": ("0.50000000", "0.10000000"),
            "ETH": ("0.00000000", "0.00000000"),
        }
    )
    requests: list[StubRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def clock(self) -> int:
        return self.now_ms if self.now_ms is not None else int(time.time() * 1000)

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        with self._lock:
            return [request.path for request in self.requests]

    def record(self, request: StubRequest) -> None:
        with self._lock:
            self.requests.append(request)


def binance_exchange_info(server_time: int) -> dict[str, Any]:
    """Binance's /api/v3/exchangeInfo for the demo instruments."""
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        ],
        "exchangeFilters": [],
        "symbols": [_binance_symbol(instrument) for instrument in INSTRUMENTS.values()],
    }


def _binance_symbol(instrument: Instrument) -> dict[str, Any]:
    max_amount = instrument.max_amount if instrument.max_amount is not None else 9_000_000
    return {
        "symbol": instrument.id,
        "status": "TRADING",
        "baseAsset": instrument.base,
        "baseAssetPrecision": 8,
        "quoteAsset": instrument.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": f"{instrument.price_step:.8f}",
                "maxPrice": "1000000.00000000",
                "tickSize": f"{instrument.price_step:.8f}",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": f"{instrument.min_amount:.8f}",
                "maxQty": f"{max_amount:.8f}",
                "stepSize": f"{instrument.amount_step:.8f}",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": f"{instrument.min_notional:.8f}",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _handler_for(stub: StubExchange) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests' session expects

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the stub's log is `stub.requests`, not stderr

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            raw_query = url.query or body
            request = StubRequest(
                method=self.command,
                path=url.path,
                query=dict(parse_qsl(raw_query, keep_blank_values=True)),
                headers={key.lower(): value for key, value in self.headers.items()},
            )
            stub.record(request)
            status, payload, headers = self._answer(request, raw_query)
            self._send(status, payload, headers)

        def _answer(self, request: StubRequest, raw_query: str) -> tuple[int, Any, dict[str, str]]:
            mode = stub.mode
            if mode == "rate_limited":
                return 429, TOO_MANY_REQUESTS, {"Retry-After": str(stub.retry_after)}
            if mode == "unavailable":
                return 503, "<html><body>503 Service Temporarily Unavailable</body></html>", {}
            if mode == "slow":
                time.sleep(stub.slow_seconds)
            if request.signed:
                refusal = self._check_signature(request, raw_query, mode)
                if refusal is not None:
                    return refusal
            return self._route(request)

        def _check_signature(
            self, request: StubRequest, raw_query: str, mode: str
        ) -> tuple[int, Any, dict[str, str]] | None:
            if mode == "auth_failed" or request.headers.get("x-mbx-apikey") != stub.api_key:
                return 401, INVALID_KEY, {}
            payload, _, signature = raw_query.rpartition("&signature=")
            expected = hmac.new(stub.secret.encode(), payload.encode(), hashlib.sha256)
            if not hmac.compare_digest(expected.hexdigest(), signature):
                return 400, BAD_SIGNATURE, {}
            return None

        def _route(self, request: StubRequest) -> tuple[int, Any, dict[str, str]]:
            now = stub.clock()
            path, query = request.path, request.query
            if path == "/api/v3/ping":
                return 200, {}, {}
            if path == "/api/v3/time":
                return 200, {"serverTime": now}, {}
            if path == "/api/v3/exchangeInfo":
                return 200, binance_exchange_info(now), {}
            if path == "/api/v3/account" and request.signed:
                return 200, _account(stub, now), {}
            if path == "/api/v3/ticker/24hr":
                instrument = _BY_ID.get(query.get("symbol", ""))
                if instrument is None:
                    return 400, BAD_SYMBOL, {}
                return 200, _ticker_24hr(instrument, now), {}
            if path == "/api/v3/klines":
                instrument = _BY_ID.get(query.get("symbol", ""))
                interval = query.get("interval", "")
                if instrument is None:
                    return 400, BAD_SYMBOL, {}
                if interval not in _BINANCE_INTERVALS:
                    return 400, {"code": -1120, "msg": "Invalid interval."}, {}
                return 200, _klines(instrument, interval, query, now), {}
            # Binance answers unknown paths with a bare 404 page, not a JSON error
            return 404, f"<html><body>404 Not Found: {path}</body></html>", {}

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            if isinstance(payload, str):
                data, content_type = payload.encode(), "text/html"
            else:
                data, content_type = json.dumps(payload).encode(), "application/json;charset=UTF-8"
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing left to answer

    return Handler


def _account(stub: StubExchange, now: int) -> dict[str, Any]:
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": "0.00100000",
            "taker": "0.00100000",
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": free, "locked": locked}
            for asset, (free, locked) in stub.balances.items()
        ],
        "permissions": ["SPOT"],
        "uid": 354937868,
    }


def _ticker_24hr(instrument: Instrument, now: int) -> dict[str, Any]:
    ticker = feed.ticker(instrument.symbol, now)
    price = f"{{:.{-instrument.price_step.as_tuple().exponent}f}}".format
    change = ticker["last"] - ticker["open"]
    return {
        "symbol": instrument.id,
        "priceChange": price(change),
        "priceChangePercent": f"{100 * change / ticker['open']:.3f}",
        "weightedAvgPrice": price((ticker["high"] + ticker["low"]) / 2),
        "prevClosePrice": price(ticker["open"]),
        "lastPrice": price(ticker["last"]),
        "lastQty": str(instrument.min_amount),
        "bidPrice": price(ticker["bid"]),
        "bidQty": "1.00000000",
        "askPrice": price(ticker["ask"]),
        "askQty": "1.00000000",
        "openPrice": price(ticker["open"]),
        "highPrice": price(ticker["high"]),
        "lowPrice": price(ticker["low"]),
        "volume": f"{ticker['volume']:.8f}",
        "quoteVolume": f"{ticker['volume'] * ticker['last']:.8f}",
        "openTime": now - 86_400_000,
        "closeTime": now,
        "firstId": 1,
        "lastId": 1000,
        "count": 1000,
    }


def _klines(
    instrument: Instrument, interval: str, query: dict[str, str], now: int
) -> list[list[Any]]:
    limit = max(1, min(int(query.get("limit") or 500), 1000))
    span = feed.TIMEFRAMES[interval] * feed.MINUTE_MS
    end = min(int(query["endTime"]), now) if "endTime" in query else now
    if "startTime" in query:
        start = int(query["startTime"])
        candles = feed.candles(instrument.symbol, interval, start_ms=start, limit=limit)
        # Binance never returns a candle that has not opened yet
        rows = [row for row in candles.rows() if row.ts <= end]
        if rows and rows[-1].ts + span > now:
            rows[-1] = feed.latest_candles(instrument.symbol, interval, 1, now)[-1]
    else:
        rows = feed.latest_candles(instrument.symbol, interval, limit, end).rows()
    return [
        [
            row.ts,
            f"{row.open:.8f}",
            f"{row.high:.8f}",
            f"{row.low:.8f}",
            f"{row.close:.8f}",
            f"{row.volume:.8f}",
            row.ts + span - 1,
            f"{row.volume * row.close:.8f}",
            100,
            f"{row.volume / 2:.8f}",
            f"{row.volume * row.close / 2:.8f}",
            "0",
        ]
        for row in rows
    ]


@contextmanager
def running_stub(mode: str = "ok", **settings: Any) -> Iterator[StubExchange]:
    """Run a stub on 127.0.0.1 (a free port) for the duration of the block."""
    if mode not in MODES:
        raise ValueError(f"Unknown stub mode {mode!r}; use one of {', '.join(MODES)}.")
    stub = StubExchange(mode=mode, **settings)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(stub))
    # Handler threads die with the test: a "slow" answer must not hold the suite.
    server.daemon_threads = True
    server.block_on_close = False
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def refused_url() -> str:
    """An http:// address on 127.0.0.1 where nothing listens: connecting is refused."""
    # Bind to get a port the OS considers free, then close it: nothing listens there now.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def point_ccxt_at(exchange: Any, base_url: str) -> Any:
    """Send every REST endpoint of a ccxt `exchange` to `base_url`, keeping the paths.

    Rewrites `urls['api']` and the testnet/demo/backup sets (so sandbox mode, before or after,
    still lands here), and makes its HTTP session ignore proxy settings from the environment,
    which could otherwise route 127.0.0.1 elsewhere. Returns the exchange.
    """
    root = base_url.rstrip("/")

    def rewrite(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            return root + parts.path
        if isinstance(value, dict):
            return {key: rewrite(item) for key, item in value.items()}
        return value

    for name in ("api", "test", "demo", "apiBackup"):
        if name in exchange.urls:
            exchange.urls[name] = rewrite(exchange.urls[name])
    exchange.session.trust_env = False
    return exchange

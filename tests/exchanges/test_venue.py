"""The demo exchange venue: markets, prices, balances, market and limit orders, the matcher."""

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pytest

from exchanges import services
from exchanges.demo import feed
from exchanges.demo.instruments import INSTRUMENTS
from exchanges.demo.venue import DemoGateway, match_open_orders, price_spans
from exchanges.exceptions import (
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    UnknownSymbol,
)
from exchanges.factory import gateway_for
from exchanges.models import DemoBalance, DemoFill, DemoOrder
from tests.exchanges.conftest import MINUTE, T0

pytestmark = pytest.mark.django_db

TICK = Decimal("0.01")  # BTC/USDT's price step


def mid(symbol: str, at_ms: int) -> Decimal:
    return feed.price_to_decimal(symbol, feed.price_at(symbol, at_ms))


def expected_taker(side: str, price: Decimal, tick: Decimal = TICK) -> Decimal:
    """The demo's rule, written out: 5 bps against the trader, rounded to the tick against him."""
    if side == "buy":
        return (price * Decimal("1.0005") / tick).to_integral_value(ROUND_CEILING) * tick
    return (price * Decimal("0.9995") / tick).to_integral_value(ROUND_FLOOR) * tick


def expected_fee(cost: Decimal) -> Decimal:
    return (cost * Decimal("0.001")).quantize(Decimal("0.00000001"), ROUND_HALF_UP)


def balance(connection, asset: str) -> tuple[Decimal, Decimal]:
    row = DemoBalance.objects.filter(connection=connection, asset=asset).first()
    return (row.free, row.used) if row else (Decimal(0), Decimal(0))


def first_crossing_minute(
    symbol: str, side: str, start_ms: int, minutes: int
) -> tuple[int, Decimal]:
    """A limit price first reached in a later minute: (that minute's index, the price).

    For a buy, the lowest low of the next `minutes` minutes, first reached in minute k ≥ 1; every
    minute before k stays strictly above it (a sell: the highest high, strictly below before).
    """
    rows = feed.candles(symbol, "1m", start_ms=start_ms, limit=minutes).rows()
    values = [feed.price_to_decimal(symbol, r.low if side == "buy" else r.high) for r in rows]
    target = min(values) if side == "buy" else max(values)
    k = values.index(target)
    assert k >= 1, "pick another start: the extreme is in the first minute"
    return k, target


# --------------------------------------------------------------------------- markets and prices


def test_gateway_for_a_demo_connection_is_the_demo_venue(demo_connection):
    assert isinstance(gateway_for(demo_connection), DemoGateway)


def test_markets_are_the_five_instruments_with_decimal_steps(venue):
    markets = venue.load_markets()

    assert sorted(markets) == sorted(INSTRUMENTS)
    btc = markets["BTC/USDT"]
    assert btc["precision"]["price"] == Decimal("0.01")
    assert btc["precision"]["amount"] == Decimal("0.00001")
    assert btc["limits"]["amount"]["min"] == Decimal("0.00001")
    assert btc["limits"]["cost"]["min"] == Decimal("5")
    assert isinstance(btc["taker"], Decimal)
    assert venue.market("XRP/USDT")["precision"]["price"] == Decimal("0.0001")
    with pytest.raises(UnknownSymbol):
        venue.market("DOGE/USDT")


def test_ticker_is_the_feed_at_the_venue_clock(venue, clock):
    clock.now_ms = T0 + 12_345
    ticker = venue.fetch_ticker("ETH/USDT")
    raw = feed.ticker("ETH/USDT", clock.now_ms)

    assert ticker["timestamp"] == clock.now_ms
    assert ticker["last"] == Decimal(str(raw["last"]))
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert ticker["high"] >= ticker["last"] >= ticker["low"]
    assert ticker["baseVolume"] == Decimal(str(raw["volume"]))
    assert all(isinstance(ticker[k], Decimal) for k in ("last", "bid", "ask", "baseVolume"))


def test_ohlcv_latest_ends_with_the_forming_candle(venue, clock):
    clock.now_ms = T0 + 30_000
    rows = venue.fetch_ohlcv("BTC/USDT", "1m", limit=3)

    assert [row[0] for row in rows] == [T0 - 2 * MINUTE, T0 - MINUTE, T0]
    forming = feed.latest_candles("BTC/USDT", "1m", 1, clock.now_ms)[-1]
    assert rows[-1][4] == Decimal(str(forming.close)) == mid("BTC/USDT", clock.now_ms)
    assert all(isinstance(value, Decimal) for value in rows[0][1:])
    assert isinstance(rows[0][0], int)


def test_ohlcv_since_stops_at_the_present(venue, clock):
    clock.now_ms = T0 + 30_000
    rows = venue.fetch_ohlcv("BTC/USDT", "1m", since=T0 - 5 * MINUTE, limit=100)

    assert [row[0] for row in rows] == [T0 + i * MINUTE for i in range(-5, 1)]
    assert rows[-1][4] == mid("BTC/USDT", clock.now_ms)  # still forming
    assert venue.fetch_ohlcv("BTC/USDT", "1h", since=T0 + MINUTE) == []


# --------------------------------------------------------------------------- balances


def test_a_new_account_starts_with_10000_usdt(venue, demo_connection):
    assert venue.fetch_balance() == {
        "free": {"USDT": Decimal("10000")},
        "used": {"USDT": Decimal("0")},
        "total": {"USDT": Decimal("10000")},
    }
    venue.fetch_balance()
    assert DemoBalance.objects.filter(connection=demo_connection).count() == 1


# --------------------------------------------------------------------------- market orders


def test_market_buy_moves_usdt_by_amount_times_price_plus_fee_exactly(
    venue, clock, demo_connection
):
    clock.now_ms = T0 + 17_250
    price = expected_taker("buy", mid("BTC/USDT", clock.now_ms))

    order = venue.create_order("BTC/USDT", "market", "buy", "0.01234")

    cost = Decimal("0.01234") * price
    fee = expected_fee(cost)
    assert order["status"] == "closed"
    assert order["average"] == order["price"] == price
    assert order["filled"] == Decimal("0.01234")
    assert order["remaining"] == 0
    assert order["fee"] == {"cost": fee, "currency": "USDT"}
    assert order["timestamp"] == order["lastTradeTimestamp"] == clock.now_ms
    assert balance(demo_connection, "USDT") == (Decimal("10000") - cost - fee, 0)
    assert balance(demo_connection, "BTC") == (Decimal("0.01234"), 0)
    fill = DemoFill.objects.get(order_id=order["id"])
    assert (fill.price, fill.amount, fill.fee, fill.taker) == (price, Decimal("0.01234"), fee, True)


def test_market_sell_gets_the_price_minus_slippage_and_fee(venue, clock, demo_connection):
    venue.create_order("SOL/USDT", "market", "buy", "10")
    usdt_before = balance(demo_connection, "USDT")[0]
    clock.now_ms = T0 + 3 * MINUTE
    price = expected_taker("sell", mid("SOL/USDT", clock.now_ms))

    order = venue.create_order("SOL/USDT", "market", "sell", "4")

    assert order["average"] == price < mid("SOL/USDT", clock.now_ms)
    cost = 4 * price
    assert balance(demo_connection, "USDT")[0] == usdt_before + cost - expected_fee(cost)
    assert balance(demo_connection, "SOL") == (Decimal("6"), 0)


def test_insufficient_funds_points_at_the_amount_and_changes_nothing(venue, demo_connection):
    venue.fetch_balance()
    with pytest.raises(InsufficientFunds) as raised:
        venue.create_order("BTC/USDT", "market", "buy", "1")  # ~95,000 USDT
    assert raised.value.errors[0]["pointer"] == "/amount"
    assert "USDT" in raised.value.detail_text
    with pytest.raises(InsufficientFunds):
        venue.create_order("ETH/USDT", "market", "sell", "0.1")  # owns no ETH

    assert not DemoOrder.objects.exists()
    assert balance(demo_connection, "USDT") == (Decimal("10000"), 0)


@pytest.mark.parametrize(
    ("args", "pointer"),
    [
        (("BTC/USDT", "market", "buy", "0.000015"), "/amount"),  # not a multiple of the lot
        (("BTC/USDT", "market", "buy", "0"), "/amount"),
        (("XRP/USDT", "market", "buy", "9222449.2"), "/amount"),  # above the maximum
        (("BTC/USDT", "market", "buy", "0.00001"), "/amount"),  # ~0.95 USDT < 5 minimum
        (("BTC/USDT", "limit", "buy", "0.001"), "/price"),  # limit without price
        (("BTC/USDT", "limit", "buy", "0.001", "90000.005"), "/price"),  # off the tick
        (("BTC/USDT", "stop", "buy", "0.001"), "/type"),
        (("BTC/USDT", "market", "hold", "0.001"), "/side"),
    ],
)
def test_orders_breaking_the_instrument_rules_are_invalid(venue, args, pointer):
    with pytest.raises(InvalidOrder) as raised:
        venue.create_order(*args)
    assert raised.value.errors[0]["pointer"] == pointer
    assert not DemoOrder.objects.exists()


def test_unknown_symbol_points_at_the_symbol(venue):
    with pytest.raises(UnknownSymbol) as raised:
        venue.create_order("DOGE/USDT", "market", "buy", "10")
    assert raised.value.errors[0]["pointer"] == "/symbol"


def test_same_client_order_id_returns_the_first_order(venue, clock, demo_connection):
    params = {"clientOrderId": "bot-7-candle-42-entry"}
    first = venue.create_order("ETH/USDT", "market", "buy", "1.5", params=params)
    clock.now_ms += MINUTE
    # The retry would now be refused (1.5 ETH more is beyond the remaining USDT): it is not
    # placed again, the first order comes back.
    again = venue.create_order("ETH/USDT", "market", "buy", "1.5", params=params)

    assert again == first
    assert first["clientOrderId"] == "bot-7-candle-42-entry"
    assert DemoOrder.objects.count() == 1
    assert balance(demo_connection, "ETH") == (Decimal("1.5"), 0)


def test_fetch_order_by_id_or_client_order_id_within_the_connection(venue, other_connection):
    order = venue.create_order("BNB/USDT", "market", "buy", "1", params={"clientOrderId": "abc"})

    assert venue.fetch_order(order["id"]) == order
    assert venue.fetch_order(None, params={"clientOrderId": "abc"}) == order
    with pytest.raises(OrderNotFound):
        venue.fetch_order("not-a-uuid")
    with pytest.raises(OrderNotFound):
        DemoGateway(other_connection).fetch_order(order["id"])


# --------------------------------------------------------------------------- limit orders


def test_limit_buy_rests_with_a_reserve_and_fills_only_after_the_price_crosses(
    venue, clock, demo_connection
):
    k, limit = first_crossing_minute("BTC/USDT", "buy", T0, 30)
    amount = Decimal("0.05")
    reserve = amount * limit + expected_fee(amount * limit)

    order = venue.create_order("BTC/USDT", "limit", "buy", amount, limit)

    assert order["status"] == "open"
    assert order["price"] == limit
    assert order["filled"] == 0
    assert balance(demo_connection, "USDT") == (Decimal("10000") - reserve, reserve)
    assert [o["id"] for o in venue.fetch_open_orders()] == [order["id"]]

    # Up to the end of minute k-1 the price stayed above the limit.
    assert services.match_demo_orders(now_ms=T0 + 20_000) == 0
    assert match_open_orders(now_ms=T0 + k * MINUTE) == 0
    assert venue.fetch_order(order["id"])["status"] == "open"
    assert DemoOrder.objects.get(pk=order["id"]).checked_until_ms == T0 + k * MINUTE

    assert match_open_orders(now_ms=T0 + (k + 1) * MINUTE + 5_000) == 1

    filled = venue.fetch_order(order["id"])
    assert filled["status"] == "closed"
    assert filled["average"] == limit
    assert filled["lastTradeTimestamp"] == T0 + (k + 1) * MINUTE
    assert filled["fee"] == {"cost": expected_fee(amount * limit), "currency": "USDT"}
    assert balance(demo_connection, "USDT") == (Decimal("10000") - reserve, 0)
    assert balance(demo_connection, "BTC") == (amount, 0)
    assert DemoFill.objects.get(order_id=order["id"]).taker is False
    assert venue.fetch_open_orders() == []
    assert match_open_orders(now_ms=T0 + (k + 5) * MINUTE) == 0  # nothing twice


def test_limit_sell_fills_when_the_high_reaches_it(venue, clock, demo_connection):
    venue.create_order("SOL/USDT", "market", "buy", "5")
    start = T0 + MINUTE
    clock.now_ms = start
    k, limit = first_crossing_minute("SOL/USDT", "sell", start, 30)
    usdt = balance(demo_connection, "USDT")[0]

    order = venue.create_order("SOL/USDT", "limit", "sell", "5", limit)
    assert balance(demo_connection, "SOL") == (0, Decimal("5"))
    assert match_open_orders(now_ms=start + k * MINUTE) == 0
    assert match_open_orders(now_ms=start + (k + 1) * MINUTE) == 1

    assert venue.fetch_order(order["id"])["average"] == limit
    assert balance(demo_connection, "SOL") == (0, 0)
    assert balance(demo_connection, "USDT")[0] == usdt + 5 * limit - expected_fee(5 * limit)


def test_a_limit_that_crosses_when_placed_fills_at_once_never_worse_than_its_limit(
    venue, clock, demo_connection
):
    clock.now_ms = T0 + 40_000
    now_price = mid("BTC/USDT", clock.now_ms)
    generous = now_price + 500  # a buy far above the market gets the market's price
    order = venue.create_order("BTC/USDT", "limit", "buy", "0.001", generous)
    assert order["status"] == "closed"
    assert order["average"] == expected_taker("buy", now_price) < generous

    tight = now_price  # at the price itself: crosses, but pays at most the limit
    order = venue.create_order("BTC/USDT", "limit", "buy", "0.001", tight)
    assert order["status"] == "closed"
    assert order["average"] == tight
    assert balance(demo_connection, "USDT")[1] == 0


def test_cancel_releases_the_reserve(venue, demo_connection):
    order = venue.create_order("ETH/USDT", "limit", "buy", "1", "1000.00")
    assert balance(demo_connection, "USDT")[1] > 0

    canceled = venue.cancel_order(order["id"])

    assert canceled["status"] == "canceled"
    assert balance(demo_connection, "USDT") == (Decimal("10000"), 0)
    assert venue.cancel_order(order["id"]) == canceled  # twice: no change
    assert match_open_orders(now_ms=T0 + 365 * 24 * 60 * MINUTE) == 0
    market = venue.create_order("ETH/USDT", "market", "buy", "0.01")
    with pytest.raises(OrderNotOpen):
        venue.cancel_order(market["id"])
    with pytest.raises(OrderNotFound):
        venue.cancel_order("3f6c9a52-0000-4000-8000-000000000000")


def test_a_sell_reserve_blocks_selling_the_same_coins_twice(venue, demo_connection):
    venue.create_order("BNB/USDT", "market", "buy", "2")
    venue.create_order("BNB/USDT", "limit", "sell", "2", "100000.00")

    with pytest.raises(InsufficientFunds):
        venue.create_order("BNB/USDT", "market", "sell", "1")
    assert balance(demo_connection, "BNB") == (0, Decimal("2"))


# --------------------------------------------------------------------------- price spans


@pytest.mark.parametrize(
    ("after", "until"),
    [
        (T0 + 7_000, T0 + 19_000),  # inside one minute
        (T0 + 41_500, T0 + MINUTE + 22_000),  # across a minute boundary
        (T0, T0 + 3 * MINUTE + 1_000),  # from a boundary, over whole minutes
    ],
)
def test_price_spans_match_a_dense_sampling_of_the_price(after, until):
    symbol = "ETH/USDT"
    spans = list(price_spans(symbol, after, until))
    assert spans[-1].end_ms == until
    previous = after
    for span in spans:
        samples = [mid(symbol, t) for t in range(previous + 5, span.end_ms + 1, 5)]
        # Every sampled price lies in the span's range, and the range is no wider than the
        # sampling can explain (one tick of drift between two samples 5 ms apart).
        assert span.low <= min(samples)
        assert max(samples) <= span.high
        assert max(samples) >= span.high - TICK
        assert min(samples) <= span.low + TICK
        previous = span.end_ms


def test_one_market_is_the_one_load_markets_lists(venue):
    assert venue.market("SOL/USDT") == venue.load_markets()["SOL/USDT"]
    with pytest.raises(UnknownSymbol) as raised:
        venue.market("NOPE/USDT")
    assert raised.value.detail_text == "demo has no market 'NOPE/USDT'."

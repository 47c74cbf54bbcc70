"""The demo exchange's instruments and its deterministic price feed."""

import itertools
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from exchanges.demo import feed
from exchanges.demo.instruments import INSTRUMENTS, ccxt_market, get_instrument

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_763_900_123_456  # 2025-11-23 12:15:23.456 UTC, mid-minute on purpose
DAY_MS = 86_400_000
SYMBOLS = list(INSTRUMENTS)
TIMEFRAMES = list(feed.TIMEFRAMES)

FINGERPRINT_CODE = """
import hashlib
from exchanges.demo import feed
digest = hashlib.sha256()
for symbol in ("BTC/USDT", "XRP/USDT"):
    for timeframe in ("1m", "1h", "1d"):
        c = feed.candles(symbol, timeframe, start_ms=%d, limit=300)
        for array in (c.ts, c.open, c.high, c.low, c.close, c.volume):
            digest.update(array.tobytes())
    digest.update(repr(feed.ticker(symbol, %d)).encode())
    digest.update(repr(feed.latest_candles(symbol, "15m", 5, %d).rows()).encode())
print(digest.hexdigest())
"""


def _fingerprint_code() -> str:
    return FINGERPRINT_CODE % (NOW - 40 * DAY_MS, NOW, NOW)


def _span_ms(timeframe: str) -> int:
    return feed.TIMEFRAMES[timeframe] * feed.MINUTE_MS


def _decimals(step: Decimal) -> int:
    return -step.normalize().as_tuple().exponent


# --------------------------------------------------------------------------- instruments


def test_the_five_demo_instruments_have_binance_like_precision():
    assert SYMBOLS == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]
    btc, xrp = get_instrument("BTC/USDT"), get_instrument("XRP/USDT")
    assert (btc.price_step, btc.amount_step, btc.min_notional) == (
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal("5"),
    )
    assert (xrp.price_step, xrp.amount_step) == (Decimal("0.0001"), Decimal("0.1"))
    for instrument in INSTRUMENTS.values():
        assert instrument.symbol == f"{instrument.base}/{instrument.quote}"
        assert instrument.quote == "USDT"
        assert instrument.min_amount >= instrument.amount_step
        assert instrument.anchor_price % instrument.price_step == 0
        assert 0.01 < instrument.daily_volatility < 0.1


def test_unknown_instrument_is_a_key_error():
    with pytest.raises(KeyError):
        get_instrument("DOGE/USDT")


def test_ccxt_market_has_the_unified_structure():
    market = ccxt_market(get_instrument("BTC/USDT"))

    assert market["id"] == "BTCUSDT"
    assert (market["symbol"], market["base"], market["quote"]) == ("BTC/USDT", "BTC", "USDT")
    assert market["type"] == "spot"
    assert market["spot"] is True
    assert market["active"] is True
    assert market["precision"]["amount"] == 0.00001
    assert market["precision"]["price"] == 0.01
    assert market["limits"]["amount"]["min"] == 0.00001
    assert market["limits"]["amount"]["max"] == 9000.0
    assert market["limits"]["cost"]["min"] == 5.0
    assert market["limits"]["price"]["min"] == 0.01


# --------------------------------------------------------------------------- determinism


def test_the_same_minute_gives_the_same_candle_in_other_processes():
    """Two fresh interpreters with different hash seeds agree with this process, byte for byte."""
    namespace: dict = {}
    with_output = _fingerprint_code().replace("print(digest.hexdigest())", "result = digest")
    exec(with_output, namespace)  # noqa: S102 - our own constant code, run here as in the children
    expected = namespace["result"].hexdigest()

    digests = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        completed = subprocess.run(  # noqa: S603 - our interpreter and our constant code
            [sys.executable, "-c", _fingerprint_code()],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
            check=True,
        )
        digests.append(completed.stdout.strip())

    assert digests == [expected, expected]


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_a_candle_does_not_depend_on_the_range_asked(timeframe):
    span = _span_ms(timeframe)
    start = (NOW - 200 * span) // span * span
    wide = feed.candles("ETH/USDT", timeframe, start_ms=start, limit=200)
    narrow = feed.candles("ETH/USDT", timeframe, start_ms=start + 37 * span, limit=50)

    assert wide.rows()[37:87] == narrow.rows()
    assert feed.candle_at("ETH/USDT", timeframe, start + 37 * span + 1) == wide[37]


def test_different_symbols_move_differently():
    start = NOW - 2 * DAY_MS
    btc = feed.candles("BTC/USDT", "1m", start_ms=start, limit=500).close
    bnb = feed.candles("BNB/USDT", "1m", start_ms=start, limit=500).close
    correlation = np.corrcoef(np.diff(np.log(btc)), np.diff(np.log(bnb)))[0, 1]

    assert abs(correlation) < 0.2


# --------------------------------------------------------------------------- candle shape


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_candles_are_consistent_and_chained(symbol, timeframe):
    span = _span_ms(timeframe)
    c = feed.candles(symbol, timeframe, start_ms=NOW - 1000 * span, end_ms=NOW)

    assert len(c) in (999, 1000)
    assert np.all(c.ts % span == 0)
    assert np.all(np.diff(c.ts) == span)
    assert c.ts[0] >= NOW - 1000 * span
    assert c.ts[-1] < NOW
    assert np.all(c.high >= np.maximum(c.open, c.close))
    assert np.all(c.low <= np.minimum(c.open, c.close))
    assert np.all(c.low > 0)
    assert np.all(c.volume >= 0)
    assert np.all(c.open[1:] == c.close[:-1])  # open of t+1 is the close of t


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_prices_and_volumes_lie_on_the_instrument_grid(symbol):
    instrument = get_instrument(symbol)
    price_decimals = _decimals(instrument.price_step)
    amount_decimals = _decimals(instrument.amount_step)
    c = feed.candles(symbol, "1m", start_ms=NOW - DAY_MS, limit=1440)
    ticker = feed.ticker(symbol, NOW)
    prices = [*c.open, *c.high, *c.low, *c.close]
    prices += [ticker[key] for key in ("last", "bid", "ask", "high", "low")]

    for price in prices:
        exact = Decimal(repr(float(price)))  # the shortest repr is the decimal on the grid
        assert -exact.as_tuple().exponent <= price_decimals
        assert exact % instrument.price_step == 0
        assert feed.price_to_decimal(symbol, float(price)) == exact
    for volume in c.volume:
        exact = Decimal(repr(float(volume)))
        assert -exact.as_tuple().exponent <= amount_decimals
        assert feed.amount_to_decimal(symbol, float(volume)) == exact
    assert feed.price_to_decimal(symbol, float(c.close[0])).as_tuple().exponent == (-price_decimals)


def _aggregate(c: feed.Candles, group: int, symbol: str) -> list[tuple]:
    rows = c.rows()
    out = []
    for i in range(0, len(rows), group):
        chunk = rows[i : i + group]
        volume = sum(feed.amount_to_decimal(symbol, row.volume) for row in chunk)
        out.append(
            (
                chunk[0].ts,
                chunk[0].open,
                max(row.high for row in chunk),
                min(row.low for row in chunk),
                chunk[-1].close,
                volume,
            )
        )
    return out


@pytest.mark.parametrize("symbol", ["BTC/USDT", "XRP/USDT"])
@pytest.mark.parametrize(
    ("fine", "coarse"),
    [("1m", "5m"), ("1m", "15m"), ("1m", "1h"), ("5m", "1h"), ("1h", "4h"), ("1h", "1d")],
)
def test_a_candle_is_the_aggregate_of_its_smaller_candles(symbol, fine, coarse):
    """Exact equality, volumes included, even across the hourly/minute boundary (1m → 1h)."""
    group = feed.TIMEFRAMES[coarse] // feed.TIMEFRAMES[fine]
    coarse_span = _span_ms(coarse)
    start = (NOW - 20 * coarse_span) // coarse_span * coarse_span
    big = feed.candles(symbol, coarse, start_ms=start, limit=20)
    small = feed.candles(symbol, fine, start_ms=start, limit=20 * group)

    expected = [
        (row.ts, row.open, row.high, row.low, row.close, feed.amount_to_decimal(symbol, row.volume))
        for row in big.rows()
    ]
    assert _aggregate(small, group, symbol) == expected


# --------------------------------------------------------------------------- the present


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_the_forming_candle_closes_at_the_current_price(timeframe):
    span = _span_ms(timeframe)
    latest = feed.latest_candles("SOL/USDT", timeframe, 10, NOW)
    forming, previous = latest[-1], latest[-2]
    complete = feed.candle_at("SOL/USDT", timeframe, NOW)

    assert len(latest) == 10
    assert forming.ts == NOW // span * span
    assert forming.close == feed.price_at("SOL/USDT", NOW)
    assert forming.open == previous.close == complete.open
    assert forming.high >= max(forming.open, forming.close)
    assert forming.low <= min(forming.open, forming.close)
    # the elapsed part is a part of the whole period
    assert complete.low <= forming.low <= forming.high <= complete.high
    assert forming.volume <= complete.volume
    assert (
        latest.rows()[:-1]
        == feed.candles(
            "SOL/USDT", timeframe, start_ms=forming.ts - 9 * span, end_ms=forming.ts
        ).rows()
    )


def test_the_forming_candle_grows_into_the_complete_one():
    hour = NOW // 3_600_000 * 3_600_000
    complete = feed.candle_at("BTC/USDT", "1h", hour)
    before_end = feed.latest_candles("BTC/USDT", "1h", 1, hour + 3_600_000 - 1)[-1]
    at_start = feed.latest_candles("BTC/USDT", "1h", 1, hour)[-1]
    next_hour = feed.latest_candles("BTC/USDT", "1h", 2, hour + 3_600_000)

    assert at_start.open == at_start.high == at_start.low == at_start.close == complete.open
    assert at_start.volume == 0
    assert before_end.ts == complete.ts
    assert (before_end.open, before_end.high, before_end.low) == (
        complete.open,
        complete.high,
        complete.low,
    )
    assert math.isclose(before_end.close, complete.close, rel_tol=1e-4)
    assert next_hour[0] == complete
    assert next_hour[1].open == complete.close


def test_price_at_is_continuous_within_a_minute_and_across_minutes():
    minute = NOW // 60_000 * 60_000
    prices = [feed.price_at("ETH/USDT", minute + ms) for ms in range(0, 60_001, 250)]
    tick = float(get_instrument("ETH/USDT").price_step)
    candle = feed.candle_at("ETH/USDT", "1m", minute)
    sigma = 0.038 / math.sqrt(1440) * prices[0]

    assert prices[0] == candle.open
    assert prices[-1] == candle.close
    # sampled every 250 ms, the path comes within a fraction of a minute's move of its extremes
    assert candle.high - sigma / 4 <= max(prices) <= candle.high
    assert candle.low <= min(prices) <= candle.low + sigma / 4
    assert max(abs(b - a) for a, b in itertools.pairwise(prices)) < sigma + tick


def test_ticker_quotes_around_the_last_price_with_a_24h_window():
    ticker = feed.ticker("BNB/USDT", NOW)
    minutes = feed.candles(
        "BNB/USDT", "1m", start_ms=NOW - 2 * DAY_MS, end_ms=NOW // 60_000 * 60_000
    )
    forming = feed.latest_candles("BNB/USDT", "1m", 1, NOW)[-1]
    window = minutes.rows()[-1440:]

    assert ticker["symbol"] == "BNB/USDT"
    assert ticker["ts"] == NOW
    assert ticker["last"] == feed.price_at("BNB/USDT", NOW)
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert (ticker["ask"] - ticker["bid"]) / ticker["last"] < 0.001
    assert ticker["high"] == max([row.high for row in window] + [forming.high])
    assert ticker["low"] == min([row.low for row in window] + [forming.low])
    assert ticker["open"] == window[0].open
    assert feed.amount_to_decimal("BNB/USDT", ticker["volume"]) == sum(
        feed.amount_to_decimal("BNB/USDT", row.volume) for row in [*window, forming]
    )


# --------------------------------------------------------------------------- realism


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_minute_and_daily_volatility_match_the_configured_one(symbol):
    instrument = get_instrument(symbol)
    minutes = feed.candles(symbol, "1m", start_ms=NOW - 30 * DAY_MS, limit=43_200)
    days = feed.candles(symbol, "1d", start_ms=NOW - 3000 * DAY_MS, limit=3000)
    minute_returns = np.diff(np.log(minutes.close))
    daily_returns = np.diff(np.log(days.close))
    expected_minute = instrument.daily_volatility / math.sqrt(1440)

    assert 0.6 < minute_returns.std() / expected_minute < 1.6
    assert 0.7 < daily_returns.std() / instrument.daily_volatility < 1.4
    # fat-ish tails, but no absurd jumps
    kurtosis = np.mean((minute_returns - minute_returns.mean()) ** 4) / minute_returns.var() ** 2
    assert 4 < kurtosis < 30
    assert np.abs(minute_returns).max() < 0.05


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_prices_stay_near_the_anchor_over_years(symbol):
    anchor = float(get_instrument(symbol).anchor_price)
    days = feed.candles(symbol, "1d", start_ms=NOW - 4000 * DAY_MS, limit=4000)

    assert 0.2 < days.low.min() / anchor
    assert days.high.max() / anchor < 5
    assert 0.5 < np.median(days.close) / anchor < 2


def test_trends_and_ranges_both_occur():
    """Some weeks move far from where they started, others come back close to it."""
    days = feed.candles("BTC/USDT", "1d", start_ms=NOW - 1400 * DAY_MS, limit=1400)
    weekly = np.abs(np.diff(np.log(days.close[::7])))

    assert (weekly > 0.12).any()
    assert (weekly < 0.01).any()


def test_volume_is_higher_on_big_moves():
    c = feed.candles("SOL/USDT", "1m", start_ms=NOW - 10 * DAY_MS, limit=14_400)
    moves = np.abs(np.log(c.close / c.open))
    big = moves > np.quantile(moves, 0.9)
    small = moves < np.quantile(moves, 0.5)

    assert c.volume[big].mean() > 1.5 * c.volume[small].mean()
    daily = feed.candles("SOL/USDT", "1d", start_ms=NOW - 365 * DAY_MS, limit=365).volume
    typical = get_instrument("SOL/USDT").typical_volume
    assert 0.5 < np.median(daily) / typical < 2


# --------------------------------------------------------------------------- errors and limits


@pytest.mark.parametrize(
    "call",
    [
        lambda: feed.candles("DOGE/USDT", "1m", start_ms=NOW, limit=1),
        lambda: feed.candle_at("DOGE/USDT", "1m", NOW),
        lambda: feed.latest_candles("DOGE/USDT", "1m", 5, NOW),
        lambda: feed.price_at("DOGE/USDT", NOW),
        lambda: feed.ticker("DOGE/USDT", NOW),
    ],
)
def test_unknown_symbol_is_a_key_error(call):
    with pytest.raises(KeyError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: feed.candles("BTC/USDT", "2h", start_ms=NOW, limit=1),
        lambda: feed.candles("BTC/USDT", "1m", start_ms=NOW),
        lambda: feed.candles("BTC/USDT", "1m", start_ms=NOW, end_ms=NOW + 1, limit=1),
        lambda: feed.candles("BTC/USDT", "1m", start_ms=-1, limit=1),
        lambda: feed.candles("BTC/USDT", "1m", start_ms=NOW, limit=feed.MAX_CANDLES + 1),
        lambda: feed.candles("BTC/USDT", "1d", start_ms=0, limit=5000),
        lambda: feed.latest_candles("BTC/USDT", "1m", 0, NOW),
    ],
)
def test_bad_arguments_are_value_errors(call):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        call()


def test_empty_range_gives_no_candles():
    c = feed.candles("BTC/USDT", "1h", start_ms=NOW, end_ms=NOW)

    assert len(c) == 0
    assert c.rows() == []


def test_candles_near_the_epoch_are_defined():
    c = feed.latest_candles("BTC/USDT", "1d", 1000, 3 * DAY_MS + 5)

    assert [row.ts for row in c.rows()] == [0, DAY_MS, 2 * DAY_MS, 3 * DAY_MS]

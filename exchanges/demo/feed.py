"""Deterministic price feed of the demo exchange.

The same symbol and minute give the same candle in every process, on every machine and after
restarts: every random number is a pure function of (symbol, stream, index). A stream's 64-bit key
comes from BLAKE2b of the symbol and the stream's name; the number for index `i` is SplitMix64's
output for the state `key + i * golden_gamma`, computed with wrapping uint64 arithmetic in NumPy.
Nothing uses Python's `hash()` (salted per process) or a global random state, and the arithmetic
that turns those bits into prices is plain IEEE-754 (`+ - * / sqrt`, sequential `cumsum`, our own
polynomial `exp`), so the numbers do not depend on the CPU's vector units either. (The one libm
call, `log` of the integers 1..60, only weighs which minute an hour's extreme falls on.)

The model works in log space, `x = log(price / anchor_price)`, as a Lévy construction of a random
walk: each level is a Brownian bridge between the knots of the level above, so any minute can be
computed from its hour, day and 16-day block alone, without walking from the epoch.

- Block knots (every 16 days): a bounded sum of value-noise octaves (16 to 512 days), which keeps
  the price near its anchor over years (log deviation of roughly 9 daily volatilities).
- Day knots: a bridge of daily innovations (`daily_volatility`) between two block knots.
- Hour knots: a bridge of hourly innovations between two day knots, plus a smooth trend (octaves of
  8 h, 2 d and 8 d) so strategies meet trends as well as ranges.
- Each hour gets a high and a low drawn from the distribution of a Brownian bridge's extremes, and
  its volume (lognormal, larger when the range is wide). Candles of 1h, 4h and 1d are built from
  these hourly aggregates only, which keeps a 1000-day request cheap (about 10 ms).
- The 60 minutes of an hour are a bridge of per-minute innovations (fat-tailed: a scale mixture)
  pinned to the hour's open, high, low and close, the instants of the extremes drawn from
  first-passage densities so no pin needs an implausible run, and folded into the hour's
  range. Every minute gets an intra-minute high and low and a share of the hour's volume (more
  on big moves), allocated in whole lots so that the minutes' volumes add up to the hour's
  exactly. Hence 1m, 5m and 15m candles aggregate exactly into the hour's candle.
- Within a minute the price walks open → first extreme → second extreme → close at hashed
  instants, which gives a continuous `price_at` and the forming candle.
- A volatility regime (smooth noise with 6 h and 3 d knots) scales the innovations of all levels,
  so calm and busy periods alternate.

Prices are rounded to the instrument's tick (`price_step`) and volumes to its lot (`amount_step`),
returned as floats on that grid; `price_to_decimal` and `amount_to_decimal` turn them back into
exact decimals. Candle timestamps are the open time in epoch milliseconds, aligned to the
timeframe in UTC.
"""

import hashlib
import itertools
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, NamedTuple

import numpy as np

from exchanges.demo.instruments import Instrument, get_instrument
from exchanges.timeframes import MINUTE_MS, TIMEFRAME_MS

HOUR_MINUTES = 60
DAY_MINUTES = 1440
DAYS_PER_BLOCK = 16

# Minutes per candle of each timeframe (exchanges.timeframes): the feed counts in minutes.
TIMEFRAMES: dict[str, int] = {name: ms // MINUTE_MS for name, ms in TIMEFRAME_MS.items()}

# The most candles one call computes: 50,000 covers a month of 1m candles (about 25 ms). Candles
# of 1h and more are built from hourly aggregates, at most MAX_HOURS of them per call (11 years:
# 4,166 daily candles, about 0.1 s); the API asks for 1,000 at most.
MAX_CANDLES = 50_000
MAX_HOURS = 100_000

# Half of the quoted spread, in fractions of the price; at least one tick.
HALF_SPREAD = 0.000025

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_SQRT3 = math.sqrt(3.0)

# Fat tails: innovations are scaled by (1 + 3 u^8), u uniform; dividing by the root mean square
# keeps their variance at 1 and gives a kurtosis of about 7.6 (a normal's is 3).
_TAIL_RMS = math.sqrt(1.0 + 6.0 / 9.0 + 9.0 / 17.0)

# Volatility regime: exp(a_fast * n_6h + a_slow * n_3d - correction), the correction being the
# average variance of smoothstep-interpolated unit noise (0.74 of a knot's), so E[regime^2] ~ 1.
_REGIME_FAST, _REGIME_SLOW = 0.25, 0.30
_REGIME_CORRECTION = 0.74 * (_REGIME_FAST**2 + _REGIME_SLOW**2)

# Smooth trend added to the hour knots: (period in minutes, amplitude in daily volatilities).
# It supplies about a fifth of the daily variance; the day and hour innovations are scaled down
# by _WALK_SHARE so that daily log returns keep their configured volatility.
_TREND_OCTAVES = ((480, 0.25), (2880, 0.45), (11520, 0.8))
_WALK_SHARE = math.sqrt(0.78)

# Block-knot octaves: periods of 1..32 blocks (16..512 days). Amplitudes grow like a random
# walk's up to 4 blocks and stay flat beyond, which bounds the deviation from the anchor.
_TOP_OCTAVES = 6
_TOP_SCALE = 2.0  # makes 16-day changes about 4 daily volatilities, as a random walk's would be

# exp(x) by range reduction and a Taylor polynomial: only + and *, so it is bit-for-bit the same
# on every machine (NumPy's own exp may take a different vectorised path on another CPU).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_COEFFICIENTS = tuple(1.0 / math.factorial(n) for n in range(14))


class Candle(NamedTuple):
    """One OHLCV candle: open time in epoch ms, prices and volume as floats on the grid."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, eq=False)
class Candles:
    """Consecutive candles as NumPy arrays, oldest first."""

    ts: np.ndarray  # int64 epoch ms of each candle's open
    open: np.ndarray  # float64 prices on the price grid
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # float64 base-currency volumes on the lot grid

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, index: int) -> Candle:
        return Candle(
            int(self.ts[index]),
            float(self.open[index]),
            float(self.high[index]),
            float(self.low[index]),
            float(self.close[index]),
            float(self.volume[index]),
        )

    def rows(self) -> list[Candle]:
        """The candles as a list of `Candle` tuples of Python numbers."""
        return [
            Candle(*row)
            for row in zip(
                self.ts.tolist(),
                self.open.tolist(),
                self.high.tolist(),
                self.low.tolist(),
                self.close.tolist(),
                self.volume.tolist(),
                strict=True,
            )
        ]


# --------------------------------------------------------------------------- random numbers


@cache
def _key(symbol: str, stream: str) -> np.uint64:
    digest = hashlib.blake2b(
        f"{symbol}\x00{stream}".encode(), digest_size=8, person=b"botmarket-feed"
    ).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _hash(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """SplitMix64 of `key + index * gamma`: 64 random bits per index, in any order."""
    z = np.asarray(index, dtype=np.int64).astype(np.uint64) * _GOLDEN_GAMMA + key
    z = (z ^ (z >> 30)) * _MIX_1
    z = (z ^ (z >> 27)) * _MIX_2
    return z ^ (z >> 31)


def _normal(bits: np.ndarray) -> np.ndarray:
    """A near-normal number (mean 0, variance 1) from the sum of four 16-bit uniforms."""
    total = (bits & 0xFFFF) + ((bits >> 16) & 0xFFFF) + ((bits >> 32) & 0xFFFF) + (bits >> 48)
    return ((total.astype(np.float64) + 2.0) / 65536.0 - 2.0) * _SQRT3


def _uniform16(bits: np.ndarray, slot: int) -> np.ndarray:
    """The `slot`-th (0..3) 16-bit field of `bits` as a uniform number in (0, 1)."""
    return (((bits >> (16 * slot)) & 0xFFFF).astype(np.float64) + 0.5) / 65536.0


def _exponential(bits: np.ndarray) -> np.ndarray:
    """A near-exponential number (mean 1): half the sum of squares of two near-normals."""
    low = (bits & 0xFF) + ((bits >> 8) & 0xFF) + ((bits >> 16) & 0xFF) + ((bits >> 24) & 0xFF)
    high = ((bits >> 32) & 0xFF) + ((bits >> 40) & 0xFF) + ((bits >> 48) & 0xFF) + (bits >> 56)
    z1 = ((low.astype(np.float64) + 2.0) / 256.0 - 2.0) * _SQRT3
    z2 = ((high.astype(np.float64) + 2.0) / 256.0 - 2.0) * _SQRT3
    return (z1 * z1 + z2 * z2) * 0.5


def _exp(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    k = np.rint(x * _INV_LN2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    result = np.full_like(r, _EXP_COEFFICIENTS[-1])
    for coefficient in _EXP_COEFFICIENTS[-2::-1]:
        result = result * r + coefficient
    return np.ldexp(result, k.astype(np.int32))


def _smooth_noise(key: np.uint64, t: np.ndarray, period: int) -> np.ndarray:
    """Unit value noise with knots every `period` minutes, smoothstep-interpolated at `t`."""
    knot = t // period
    w = (t - knot * period) / period
    s = w * w * (3.0 - 2.0 * w)
    z0 = _normal(_hash(key, knot))
    z1 = _normal(_hash(key, knot + 1))
    return z0 + s * (z1 - z0)


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class _Params:
    symbol: str
    volatility: float
    anchor_ticks: float  # the anchor price in ticks
    price_numerator: int  # price_step = price_numerator / price_denominator
    price_denominator: int
    amount_numerator: int
    amount_denominator: int
    hour_volume_lots: float  # typical volume of one hour, in lots

    def key(self, stream: str) -> np.uint64:
        return _key(self.symbol, stream)


def _fraction(step: Decimal) -> tuple[int, int]:
    """`step` as numerator / power of ten, so grid values divide exactly by an integer."""
    _, digits, exponent = step.normalize().as_tuple()
    numerator = int("".join(map(str, digits)))
    if exponent >= 0:
        return numerator * 10**exponent, 1
    return numerator, 10**-exponent


@cache
def _params(symbol: str) -> _Params:
    instrument: Instrument = get_instrument(symbol)
    price_num, price_den = _fraction(instrument.price_step)
    amount_num, amount_den = _fraction(instrument.amount_step)
    return _Params(
        symbol=symbol,
        volatility=instrument.daily_volatility,
        anchor_ticks=float(instrument.anchor_price / instrument.price_step),
        price_numerator=price_num,
        price_denominator=price_den,
        amount_numerator=amount_num,
        amount_denominator=amount_den,
        hour_volume_lots=float(
            Decimal(repr(instrument.typical_volume)) / 24 / instrument.amount_step
        ),
    )


def _regime(p: _Params, t: np.ndarray) -> np.ndarray:
    """Volatility multiplier at minute `t` (mean square about 1)."""
    fast = _smooth_noise(p.key("regime-6h"), t, 360)
    slow = _smooth_noise(p.key("regime-3d"), t, 4320)
    return _exp(_REGIME_FAST * fast + _REGIME_SLOW * slow - _REGIME_CORRECTION)


def _block_knots(p: _Params, blocks: np.ndarray) -> np.ndarray:
    """Log deviation at the start of each 16-day block: bounded value-noise octaves."""
    total = np.zeros(len(blocks))
    for octave in range(_TOP_OCTAVES):
        period = 1 << octave
        amplitude = _TOP_SCALE * p.volatility * math.sqrt(min(period, 4))
        knot = blocks >> octave
        w = (blocks - (knot << octave)) / period
        key = p.key(f"block-{octave}")
        z0 = _normal(_hash(key, knot))
        z1 = _normal(_hash(key, knot + 1))
        total = total + amplitude * (z0 + w * (z1 - z0))
    return total


def _bridge(start: np.ndarray, end: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Brownian bridges from `start` to `end` (one per row) through the increments `steps`.

    Returns the n points before each end (column 0 is `start` exactly); a row's end belongs to
    the next row. Whole rows are always computed, so a value never depends on the range asked.
    """
    rows, n = steps.shape
    walk = np.zeros((rows, n + 1))
    np.cumsum(steps, axis=1, out=walk[:, 1:])
    j = np.arange(n + 1) / n
    path = start[:, None] + j * (end - start)[:, None] + walk - j * walk[:, n : n + 1]
    return path[:, :n]


def _day_knots(p: _Params, d0: int, d1: int) -> np.ndarray:
    """Log deviation at the start of days d0..d1 (inclusive)."""
    b0, b1 = d0 // DAYS_PER_BLOCK, d1 // DAYS_PER_BLOCK
    knots = _block_knots(p, np.arange(b0, b1 + 2))
    days = np.arange(b0 * DAYS_PER_BLOCK, (b1 + 1) * DAYS_PER_BLOCK)
    sigma = _WALK_SHARE * p.volatility * _regime(p, days * DAY_MINUTES + DAY_MINUTES // 2)
    steps = (_normal(_hash(p.key("day"), days)) * sigma).reshape(-1, DAYS_PER_BLOCK)
    path = _bridge(knots[:-1], knots[1:], steps).ravel()
    offset = b0 * DAYS_PER_BLOCK
    return path[d0 - offset : d1 - offset + 1]


def _hour_knots(p: _Params, h0: int, h1: int) -> np.ndarray:
    """Log deviation at the start of hours h0..h1 (inclusive), trend included."""
    d0, d1 = h0 // 24, h1 // 24
    day = _day_knots(p, d0, d1 + 1)
    hours = np.arange(d0 * 24, (d1 + 1) * 24)
    sigma = _WALK_SHARE * p.volatility / math.sqrt(24.0) * _regime(p, hours * HOUR_MINUTES + 30)
    steps = (_normal(_hash(p.key("hour"), hours)) * sigma).reshape(-1, 24)
    path = _bridge(day[:-1], day[1:], steps).ravel()[h0 - d0 * 24 : h1 - d0 * 24 + 1]
    t = np.arange(h0, h1 + 1) * HOUR_MINUTES
    trend = np.zeros(len(t))
    for period, amplitude in _TREND_OCTAVES:
        noise = _smooth_noise(p.key(f"trend-{period}"), t, period)
        trend = trend + amplitude * p.volatility * noise
    return path + trend


@dataclass(frozen=True, eq=False)
class _Bars:
    """Consecutive bars (minutes or hours): prices in log space, volumes in whole lots."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    lots: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.open)

    def slice(self, start: int, stop: int) -> "_Bars":
        return _Bars(
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.lots[start:stop],
        )

    def aggregate(self, group: int) -> "_Bars":
        """Merge each run of `group` bars into one (the length must be a multiple)."""
        if group == 1:
            return self
        return _Bars(
            self.open[::group],
            self.high.reshape(-1, group).max(axis=1),
            self.low.reshape(-1, group).min(axis=1),
            self.close[group - 1 :: group],
            self.lots.reshape(-1, group).sum(axis=1),
        )


@dataclass(frozen=True, eq=False)
class _Hours:
    """Hourly bars of consecutive hours and the variance of each hour's log return."""

    first: int  # index of the first hour since the epoch
    bars: _Bars
    variance: np.ndarray

    def slice(self, start: int, stop: int) -> "_Hours":
        return _Hours(self.first + start, self.bars.slice(start, stop), self.variance[start:stop])


def _hours(p: _Params, h0: int, h1: int) -> _Hours:
    """Hourly bars of hours h0..h1-1."""
    knots = _hour_knots(p, h0, h1)
    hours = np.arange(h0, h1)
    open_, close = knots[:-1], knots[1:]
    base_sigma = p.volatility / math.sqrt(24.0)
    sigma = base_sigma * _regime(p, hours * HOUR_MINUTES + 30)
    variance = sigma * sigma
    high, low = _bridge_extremes(
        open_, close, variance, p.key("hour-high"), p.key("hour-low"), hours
    )

    # Volume: lognormal, following the regime and the hour's range (mean range is 1.6 sigma).
    z = _normal(_hash(p.key("hour-volume"), hours))
    activity = 0.4 + 0.6 * (high - low) / (1.6 * base_sigma)
    lots = np.floor(p.hour_volume_lots * _exp(0.4 * z - 0.08) * activity).astype(np.int64)
    return _Hours(h0, _Bars(open_, high, low, close, lots), variance)


def _bridge_extremes(
    open_: np.ndarray,
    close: np.ndarray,
    variance: np.ndarray,
    high_key: np.uint64,
    low_key: np.uint64,
    index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """High and low of Brownian bridges from `open_` to `close` with total `variance`.

    P(max - open > y) = exp(-2 y (y - move) / variance), inverted with an exponential variate;
    the same for the min. The results never lie inside [min(open, close), max(open, close)].
    """
    move = close - open_
    e_high = _exponential(_hash(high_key, index))
    e_low = _exponential(_hash(low_key, index))
    high = open_ + (move + np.sqrt(move * move + 2.0 * variance * e_high)) * 0.5
    low = open_ + (move - np.sqrt(move * move + 2.0 * variance * e_low)) * 0.5
    return np.maximum(high, np.maximum(open_, close)), np.minimum(low, np.minimum(open_, close))


# log(n) for the lengths of segments within an hour, 1..60 minutes (index 0 unused).
_LOG_MINUTES = np.log(np.maximum(np.arange(HOUR_MINUTES + 1), 1).astype(np.float64))
_UNLIKELY = -1e4  # a log weight that _exp turns into 0.0


def _passage_log_weight(
    distance_a: np.ndarray,
    length_a: np.ndarray,
    distance_b: np.ndarray,
    length_b: np.ndarray,
    variance: np.ndarray,
) -> np.ndarray:
    """Log of the first-passage (Lévy) densities of two segments meeting at an extreme.

    A walk covers `distance` in about (distance / sigma)^2 steps, so instants that would need a
    steep straight run get little weight: the minutes next to an extreme stay ordinary.
    """
    a = np.maximum(length_a, 1)
    b = np.maximum(length_b, 1)
    weight = -1.5 * (_LOG_MINUTES[a] + _LOG_MINUTES[b])
    weight = weight - (distance_a * distance_a / a + distance_b * distance_b / b) / (2.0 * variance)
    return np.where((length_a > 0) & (length_b > 0), weight, _UNLIKELY)


def _draw_index(log_weight: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the column drawn with probability proportional to exp(log_weight)."""
    shifted = np.maximum(log_weight - log_weight.max(axis=1, keepdims=True), -700.0)
    cdf = np.cumsum(_exp(shifted), axis=1)
    return (cdf < (u * cdf[:, -1])[:, None]).sum(axis=1)


def _minutes(p: _Params, hours: _Hours) -> _Bars:
    """Minute bars of every hour in `hours`, pinned to its open, high, low and close."""
    n_hours = len(hours.bars)
    if n_hours == 0:
        return _Bars(*(np.zeros(0) for _ in range(4)), np.zeros(0, dtype=np.int64))
    bars = hours.bars
    hour_index = hours.first + np.arange(n_hours)
    minutes = (hour_index[:, None] * HOUR_MINUTES + np.arange(HOUR_MINUTES)).ravel()

    # When the hour reaches its high and its low: drawn from the first-passage densities given
    # the distances, the low given the high's instant, so no pin needs an implausible run.
    step_variance = (hours.variance / HOUR_MINUTES)[:, None]
    instants = np.arange(1, HOUR_MINUTES)[None, :]
    open_h, high_h = bars.open[:, None], bars.high[:, None]
    low_h, close_h = bars.low[:, None], bars.close[:, None]
    shape = _hash(p.key("hour-shape"), hour_index)
    t_high = 1 + _draw_index(
        _passage_log_weight(
            high_h - open_h, instants, high_h - close_h, HOUR_MINUTES - instants, step_variance
        ),
        _uniform16(shape, 0),
    )
    before = instants < t_high[:, None]
    t_low = 1 + _draw_index(
        _passage_log_weight(
            np.where(before, open_h - low_h, high_h - low_h),
            np.where(before, instants, instants - t_high[:, None]),
            np.where(before, high_h - low_h, close_h - low_h),
            np.where(before, t_high[:, None] - instants, HOUR_MINUTES - instants),
            step_variance,
        ),
        _uniform16(shape, 1),
    )
    low_first = t_low < t_high
    t1, t2 = np.minimum(t_low, t_high), np.maximum(t_low, t_high)
    v1 = np.where(low_first, bars.low, bars.high)
    v2 = np.where(low_first, bars.high, bars.low)

    sigma = p.volatility / math.sqrt(DAY_MINUTES) * _regime(p, minutes)
    u = _uniform16(_hash(p.key("minute-tail"), minutes), 0)
    u = u * u
    u = u * u  # u**8 by squaring: np.power may differ between libm builds
    tail = (1.0 + 3.0 * (u * u)) / _TAIL_RMS
    steps = (_normal(_hash(p.key("minute"), minutes)) * tail * sigma).reshape(n_hours, -1)
    walk = np.zeros((n_hours, HOUR_MINUTES + 1))
    np.cumsum(steps, axis=1, out=walk[:, 1:])

    # Bridges of the minute walk between the pins: open, first extreme, second extreme, close.
    pin_t = np.stack([np.zeros(n_hours, dtype=np.int64), t1, t2, np.full(n_hours, 60)], axis=1)
    pin_v = np.stack([bars.open, v1, v2, bars.close], axis=1)
    k = np.arange(HOUR_MINUTES + 1)
    segment = (k >= t1[:, None]).astype(np.int64) + (k >= t2[:, None])
    start_t = np.take_along_axis(pin_t, segment, axis=1)
    end_t = np.take_along_axis(pin_t, segment + 1, axis=1)
    start_v = np.take_along_axis(pin_v, segment, axis=1)
    end_v = np.take_along_axis(pin_v, segment + 1, axis=1)
    start_w = np.take_along_axis(walk, start_t, axis=1)
    end_w = np.take_along_axis(walk, end_t, axis=1)
    frac = (k - start_t) / (end_t - start_t)
    x = start_v + frac * (end_v - start_v) + (walk - start_w) - frac * (end_w - start_w)
    # Fold excursions back into the hour's range so its high and low stay the hour's extremes.
    x = np.where(x > high_h, 2.0 * high_h - x, x)
    x = np.where(x < low_h, 2.0 * low_h - x, x)
    x = np.clip(x, low_h, high_h)
    rows = np.arange(n_hours)
    x[:, 0], x[:, HOUR_MINUTES] = bars.open, bars.close
    x[rows, t1], x[rows, t2] = v1, v2

    open_, close = x[:, :-1].ravel(), x[:, 1:].ravel()
    high, low = _bridge_extremes(
        open_, close, sigma * sigma, p.key("minute-high"), p.key("minute-low"), minutes
    )
    high = np.minimum(high, np.repeat(bars.high, HOUR_MINUTES))
    low = np.maximum(low, np.repeat(bars.low, HOUR_MINUTES))

    # The hour's lots go to its minutes by weight, more to big moves; cumulative floors make
    # the minutes add up to the hour exactly (the last share is exactly 1.0).
    move = close - open_
    z = _normal(_hash(p.key("minute-volume"), minutes))
    weight = _exp(0.5 * z) * (0.3 + (np.abs(move) + 0.5 * (high - low)) / sigma)
    share = np.cumsum(weight.reshape(n_hours, -1), axis=1)
    share = share / share[:, -1:]
    cumulative = np.floor(bars.lots[:, None].astype(np.float64) * share).astype(np.int64)
    lots = np.diff(cumulative, axis=1, prepend=0).ravel()
    return _Bars(open_, high, low, close, lots)


def _frozen(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.setflags(write=False)


# Tickers and forming candles are asked for every few seconds and only move on within the
# current hour, so the last hours' aggregates and minutes are kept (a few KB per entry).
@lru_cache(maxsize=512)
def _recent_hours(symbol: str, h0: int, h1: int) -> _Hours:
    hours = _hours(_params(symbol), h0, h1)
    bars = hours.bars
    _frozen(bars.open, bars.high, bars.low, bars.close, bars.lots, hours.variance)
    return hours


@lru_cache(maxsize=512)
def _hour_minutes(symbol: str, hour: int) -> _Bars:
    bars = _minutes(_params(symbol), _recent_hours(symbol, hour, hour + 1))
    _frozen(bars.open, bars.high, bars.low, bars.close, bars.lots)
    return bars


def _minute_bars(p: _Params, m0: int, m1: int) -> _Bars:
    """Minute bars of minutes m0..m1-1."""
    h0, h1 = m0 // HOUR_MINUTES, -(-m1 // HOUR_MINUTES)
    bars = _minutes(p, _hours(p, h0, h1))
    return bars.slice(m0 - h0 * HOUR_MINUTES, m1 - h0 * HOUR_MINUTES)


def _intra_minute(p: _Params, minute: int, bar: _Bars, fraction: float) -> tuple[float, ...]:
    """Open, high, low, close (log) and lots of `minute` after `fraction` of it has elapsed.

    The price walks open → first extreme → second extreme → close, linearly between instants
    drawn per minute, so the result is continuous in time and equals the full bar at 1.0.
    """
    open_, high, low, close = (float(a[0]) for a in (bar.open, bar.high, bar.low, bar.close))
    bits = _hash(p.key("minute-path"), np.array([minute]))
    t1 = 0.1 + 0.35 * float(_uniform16(bits, 0)[0])
    t2 = 0.55 + 0.35 * float(_uniform16(bits, 1)[0])
    sigma = p.volatility / math.sqrt(DAY_MINUTES)
    p_high_first = 0.5 - 0.35 * max(-1.0, min(1.0, (close - open_) / (2.0 * sigma)))
    high_first = float(_uniform16(bits, 2)[0]) < p_high_first
    points = [(0.0, open_), (t1, high if high_first else low)]
    points += [(t2, low if high_first else high), (1.0, close)]
    current = close
    for (ta, va), (tb, vb) in itertools.pairwise(points):
        if fraction < tb:
            current = va + (fraction - ta) / (tb - ta) * (vb - va)
            break
    seen = [v for t, v in points if t <= fraction] + [current]
    lots = math.floor(int(bar.lots[0]) * fraction)
    return open_, max(seen), min(seen), current, lots


def _partial(p: _Params, m_start: int, now_ms: int) -> tuple[float, float, float, float, int]:
    """Open, high, low, close (log) and lots from minute `m_start` up to `now_ms`.

    Meant for spans of a day at most (forming candles, the ticker's 24 h): whole hours come
    from hourly aggregates, the minutes of the first and the current hour from minute bars.
    """
    m_now, elapsed = divmod(now_ms, MINUTE_MS)
    h_start, h_now = m_start // HOUR_MINUTES, m_now // HOUR_MINUTES
    parts: list[_Bars] = []
    current_offset = m_start - h_now * HOUR_MINUTES
    if h_start < h_now:
        hours = _recent_hours(p.symbol, h_start, h_now).bars
        head_offset = m_start - h_start * HOUR_MINUTES
        if head_offset:
            parts.append(_hour_minutes(p.symbol, h_start).slice(head_offset, HOUR_MINUTES))
            hours = hours.slice(1, len(hours))
        parts.append(hours)
        current_offset = 0
    minutes = _hour_minutes(p.symbol, h_now)
    index = m_now - h_now * HOUR_MINUTES
    parts.append(minutes.slice(current_offset, index))
    o, h, low, c, lots = _intra_minute(
        p, m_now, minutes.slice(index, index + 1), elapsed / MINUTE_MS
    )
    parts = [part for part in parts if len(part)]
    if parts:
        o = float(parts[0].open[0])
    highs = [h] + [float(part.high.max()) for part in parts]
    lows = [low] + [float(part.low.min()) for part in parts]
    total = lots + sum(int(part.lots.sum()) for part in parts)
    return o, max(highs), min(lows), c, total


# --------------------------------------------------------------------------- grid conversion


def _prices(p: _Params, x: np.ndarray) -> np.ndarray:
    """Log deviations to prices on the tick grid (as floats; at least one tick)."""
    ticks = np.maximum(np.rint(p.anchor_ticks * _exp(x)), 1.0)
    # Multiplying by the numerator and dividing by the power of ten rounds once, to the float
    # nearest the decimal price, so str() of the result is the decimal itself.
    return ticks * p.price_numerator / p.price_denominator


def _volumes(p: _Params, lots: np.ndarray) -> np.ndarray:
    return lots.astype(np.float64) * p.amount_numerator / p.amount_denominator


def _price(p: _Params, x: float) -> float:
    return float(_prices(p, np.array([x]))[0])


def _to_decimal(value: float, step: Decimal) -> Decimal:
    return step * round(value / float(step))


def price_to_decimal(symbol: str, value: float) -> Decimal:
    """A feed price as an exact Decimal with the instrument's tick as exponent."""
    return _to_decimal(value, get_instrument(symbol).price_step)


def amount_to_decimal(symbol: str, value: float) -> Decimal:
    """A feed volume (or any amount on the lot grid) as an exact Decimal."""
    return _to_decimal(value, get_instrument(symbol).amount_step)


# --------------------------------------------------------------------------- public API


def _timeframe_minutes(timeframe: str) -> int:
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise ValueError(
            f"Unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}."
        ) from None


def _check_ms(name: str, value: int) -> int:
    if value < 0:
        raise ValueError(f"{name} must not be before the epoch.")
    return int(value)


def _candles(p: _Params, span: int, first: int, count: int) -> Candles:
    """`count` complete candles of `span` minutes each, the first with open minute first*span."""
    if count > MAX_CANDLES or count * span > MAX_HOURS * HOUR_MINUTES:
        raise ValueError(f"At most {MAX_CANDLES} candles and {MAX_HOURS} hours per request.")
    if count <= 0:
        empty = np.zeros(0)
        return Candles(np.zeros(0, dtype=np.int64), empty, empty, empty, empty, empty)
    m0, m1 = first * span, (first + count) * span
    if span < HOUR_MINUTES:
        bars = _minute_bars(p, m0, m1).aggregate(span)
    else:
        bars = _hours(p, m0 // HOUR_MINUTES, m1 // HOUR_MINUTES).bars
        bars = bars.aggregate(span // HOUR_MINUTES)
    ts = (np.arange(first, first + count, dtype=np.int64) * span) * MINUTE_MS
    return Candles(
        ts,
        _prices(p, bars.open),
        _prices(p, bars.high),
        _prices(p, bars.low),
        _prices(p, bars.close),
        _volumes(p, bars.lots),
    )


def candles(
    symbol: str,
    timeframe: str,
    *,
    start_ms: int,
    end_ms: int | None = None,
    limit: int | None = None,
) -> Candles:
    """Complete candles opening at or after `start_ms` and before `end_ms`, or `limit` of them.

    Give exactly one of `end_ms` and `limit`. The feed knows no present: candles after now are
    as defined as past ones, so callers showing history pass an `end_ms` no later than now (or
    use `latest_candles`). Raises KeyError for an unknown symbol, ValueError for an unknown
    timeframe, a negative time, or more than MAX_CANDLES candles.
    """
    p = _params(symbol)
    span = _timeframe_minutes(timeframe)
    span_ms = span * MINUTE_MS
    first = -(-_check_ms("start_ms", start_ms) // span_ms)
    if (end_ms is None) == (limit is None):
        raise ValueError("Give exactly one of end_ms and limit.")
    if limit is not None:
        count = int(limit)
    else:
        count = max(0, -(-_check_ms("end_ms", end_ms) // span_ms) - first)
    return _candles(p, span, first, count)


def candle_at(symbol: str, timeframe: str, ts_ms: int) -> Candle:
    """The complete candle of `timeframe` that contains the instant `ts_ms`."""
    p = _params(symbol)
    span = _timeframe_minutes(timeframe)
    return _candles(p, span, _check_ms("ts_ms", ts_ms) // (span * MINUTE_MS), 1)[0]


def latest_candles(symbol: str, timeframe: str, limit: int, now_ms: int) -> Candles:
    """The last `limit` candles at `now_ms`, oldest first; the last one is still forming.

    The forming candle covers its period up to `now_ms`: its close is `price_at(now_ms)`, its
    high, low and volume cover only the elapsed part. Candles before the epoch are left out.
    """
    p = _params(symbol)
    span = _timeframe_minutes(timeframe)
    if limit < 1:
        raise ValueError("limit must be at least 1.")
    current = _check_ms("now_ms", now_ms) // (span * MINUTE_MS)
    first = max(0, current - (limit - 1))
    history = _candles(p, span, first, current - first)
    o, h, low, c, lots = _partial(p, current * span, now_ms)
    forming = _prices(p, np.array([o, h, low, c]))
    return Candles(
        np.append(history.ts, current * span * MINUTE_MS),
        np.append(history.open, forming[0]),
        np.append(history.high, forming[1]),
        np.append(history.low, forming[2]),
        np.append(history.close, forming[3]),
        np.append(history.volume, _volumes(p, np.array([lots]))),
    )


def price_at(symbol: str, now_ms: int) -> float:
    """The price at the instant `now_ms`: continuous within a minute, on the tick grid.

    It is the close of the forming candle of every timeframe at that instant.
    """
    p = _params(symbol)
    m_now, elapsed = divmod(_check_ms("now_ms", now_ms), MINUTE_MS)
    hour = m_now // HOUR_MINUTES
    minutes = _hour_minutes(symbol, hour)
    index = m_now - hour * HOUR_MINUTES
    current = _intra_minute(p, m_now, minutes.slice(index, index + 1), elapsed / MINUTE_MS)[3]
    return _price(p, current)


def ticker(symbol: str, now_ms: int) -> dict[str, Any]:
    """The ticker at `now_ms`: last price, bid and ask, and the trailing 24 h open/high/low/volume.

    Bid and ask sit half a spread (HALF_SPREAD of the price, at least one tick) around the last
    price. The 24 h window is the last 1440 whole minutes plus the forming one.
    """
    p = _params(symbol)
    m_now = _check_ms("now_ms", now_ms) // MINUTE_MS
    o, h, low, c, lots = _partial(p, max(0, m_now - DAY_MINUTES), now_ms)
    open_, high, low_, last = _prices(p, np.array([o, h, low, c])).tolist()
    step = p.price_numerator / p.price_denominator
    half_ticks = max(1, round(last * HALF_SPREAD / step))
    last_ticks = round(last / step)
    bid = max(1, last_ticks - half_ticks) * p.price_numerator / p.price_denominator
    ask = (last_ticks + half_ticks) * p.price_numerator / p.price_denominator
    return {
        "symbol": symbol,
        "ts": int(now_ms),
        "last": last,
        "bid": bid,
        "ask": ask,
        "open": open_,
        "high": high,
        "low": low_,
        "volume": float(_volumes(p, np.array([lots]))[0]),
    }

"""Indicator kernels: pure NumPy functions over float64 arrays.

Every kernel takes arrays without NaN (the caller strips the warm-up of a chained source) and
returns arrays of the same length whose first values are NaN until the indicator is defined.
``first_valid`` documents that index for each kernel; the compiler relies on it to compute the
plan's warm-up without running anything.

Determinism: the kernels use only correctly rounded IEEE-754 operations (+ - * ÷ √, comparisons
and sequential cumulative sums) in a fixed order, never ``np.sum``/``np.mean`` (their pairwise,
SIMD-dependent order could change the last bit between machines) nor ``exp``/``log``/``power``
(their accuracy differs between CPU-specific implementations). The same candles therefore give
bit-identical values on every machine.

Prefix invariance: a value at index ``t`` depends only on ``x[0..t]`` and is computed by the same
operations whatever the array's length, so evaluating a prefix of a history gives exactly the
values of the full history at the same indices. Bots rely on this (see ``Plan.evaluate_latest``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The recurrence's block length is capped so a block's temporaries stay in the CPU cache;
# beyond ~1k the gain in Python-level block steps is nil.
_MAX_BLOCK = 1024
# Inside a block the inputs are scaled by d**-j; the block is cut before that factor passes
# 1e100, far from overflow and from the subnormal range of d**j.
_MIN_BLOCK_DECAY = 1e-100


def rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last ``n`` values at each index; NaN before index ``n - 1``.

    The window sum is built from power-of-two partial sums (x[t] + x[t-1], then pairs of pairs,
    …), so it costs O(len · log n) and each value is a fixed tree of ~log2(n) additions of the
    window's own values: exact to a few ulps and independent of where the array starts — unlike
    a cumulative-sum difference, whose error grows with the length of the whole history.
    """
    m = x.size
    out = np.full(m, np.nan)
    if n < 1:
        raise ValueError("window length must be at least 1")
    if m < n:
        return out
    acc: Any = None  # sum of the newest `covered` values, aligned at index t
    covered = 0
    level = x  # level[i] = sum of x[i .. i + width - 1]
    width = 1
    remaining = n
    while True:
        if remaining & 1:
            # Take the block of `width` values that ends `covered` values before t.
            start = n - covered - width
            block = level[start : start + m - n + 1]
            acc = block.copy() if acc is None else acc + block
            covered += width
        remaining >>= 1
        if not remaining:
            break
        level = level[:-width] + level[width:]
        width *= 2
    out[n - 1 :] = acc  # n >= 1 has a set bit, so acc was assigned
    return out


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average of the last ``n`` values; first valid index ``n - 1``."""
    return rolling_sum(x, n) / n


def rolling_std(x: np.ndarray, n: int, mean: np.ndarray | None = None) -> np.ndarray:
    """Population standard deviation of the last ``n`` values; first valid index ``n - 1``.

    Computed as sqrt(Σ(x - mean)² / n) with the window's own mean, in n vector passes: the
    textbook shortcut E[x²] - E[x]² cancels catastrophically at crypto prices (x² ≈ 1e10).
    """
    m = x.size
    out = np.full(m, np.nan)
    if m < n:
        return out
    if mean is None:
        mean = sma(x, n)
    centre = mean[n - 1 :]
    k = m - n + 1
    acc = np.zeros(k)
    for j in range(n):
        dev = x[j : j + k] - centre
        acc += dev * dev
    out[n - 1 :] = np.sqrt(acc / n)
    return out


def _block_length(d: float) -> int:
    """Largest block length (≤ _MAX_BLOCK) over which d**j stays above _MIN_BLOCK_DECAY.

    Found by repeated multiplication rather than a logarithm so every machine gets the same
    block length (libm's log may differ in the last bit), hence the same rounding.
    """
    length, power = 0, 1.0
    while length < _MAX_BLOCK and power * d >= _MIN_BLOCK_DECAY:
        power *= d
        length += 1
    return max(length, 1)


def linear_recurrence(x: np.ndarray, alpha: float, y0: float) -> np.ndarray:
    """Solve y[k] = (1 - alpha)·y[k-1] + alpha·x[k] for every k, with y[-1] = y0.

    This is the exponential smoothing behind EMA (alpha = 2/(n+1)) and Wilder's smoothing
    (alpha = 1/n). A Python loop costs ~0.2 s per million values, so the recurrence is solved
    in blocks of B values, aligned at the start of ``x``: inside a block,
    y[b+j] = d^j · (y[b] + Σ_{i≤j} alpha·x[b+i]·d^-i), which is one cumulative sum per block,
    and only the block boundaries are chained in Python (len/B steps). The rounding error of
    a partial sum is scaled back by d^j with its terms, so the result's error stays below
    ~eps·max|x|/alpha, the same bound as the step-by-step recursion's.
    """
    m = x.size
    if m == 0:
        return np.empty(0)
    d = 1.0 - alpha
    if d <= 0.0:
        # alpha = 1 (period 1): the smoothing is the input itself.
        return x.astype(np.float64, copy=True)
    block = min(_block_length(d), m)
    rows = -(-m // block)
    padded = np.zeros(rows * block)
    padded[:m] = x
    decay = np.cumprod(np.full(block, d))  # d^1 … d^B, by sequential multiplication
    scaled = padded.reshape(rows, block) * (alpha / decay)
    np.cumsum(scaled, axis=1, out=scaled)
    # Chain the blocks: y at the end of block r is d^B · (y at its start + its full sum).
    starts = np.empty(rows)
    y = float(y0)
    d_block = float(decay[-1])
    for r, block_sum in enumerate(scaled[:, -1].tolist()):
        starts[r] = y
        y = d_block * (y + block_sum)
    scaled += starts[:, None]
    scaled *= decay
    return scaled.reshape(-1)[:m]


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """Exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first n values.

    First valid index ``n - 1`` (the seed); from index n on, e[t] = e[t-1] + alpha·(x[t] - e[t-1]).
    """
    m = x.size
    out = np.full(m, np.nan)
    if m < n:
        return out
    seed = float(rolling_sum(x[:n], n)[-1]) / n
    out[n - 1] = seed
    out[n:] = linear_recurrence(x[n:], 2.0 / (n + 1), seed)
    return out


def wilder(x: np.ndarray, n: int) -> np.ndarray:
    """Wilder's smoothing (alpha = 1/n) seeded with the simple mean of the first n values.

    First valid index ``n - 1``. RSI and ATR apply it to gains/losses and true ranges.
    """
    m = x.size
    out = np.full(m, np.nan)
    if m < n:
        return out
    seed = float(rolling_sum(x[:n], n)[-1]) / n
    out[n - 1] = seed
    out[n:] = linear_recurrence(x[n:], 1.0 / n, seed)
    return out


def rsi(x: np.ndarray, n: int) -> np.ndarray:
    """Wilder's RSI; first valid index ``n`` (n changes are needed).

    avg_gain/avg_loss are Wilder-smoothed (seeded by the mean of the first n gains/losses);
    RSI = 100·avg_gain/(avg_gain + avg_loss), which equals 100 - 100/(1 + RS) and is 100 when
    nothing was lost. A flat window (no gain, no loss) is 50: neither overbought nor oversold.
    """
    m = x.size
    out = np.full(m, np.nan)
    if m < n + 1:
        return out
    change = x[1:] - x[:-1]
    gain = np.maximum(change, 0.0)
    loss = np.maximum(-change, 0.0)
    avg_gain = wilder(gain, n)[n - 1 :]
    avg_loss = wilder(loss, n)[n - 1 :]
    total = avg_gain + avg_loss
    flat = total == 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        value = 100.0 * avg_gain / total
    value[flat] = 50.0
    out[n:] = value
    return out


def macd(x: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, ...]:
    """MACD line (EMA fast - EMA slow), signal line (EMA of the line) and histogram.

    The line is valid from ``slow - 1``; the signal line is an EMA of the line seeded with the
    SMA of its first ``signal`` valid values, so signal and histogram are valid from
    ``slow + signal - 2``.
    """
    m = x.size
    line = ema(x, fast) - ema(x, slow)
    sig = np.full(m, np.nan)
    start = slow - 1
    if m > start:
        sig[start:] = ema(line[start:], signal)
    return line, sig, line - sig


def bbands(x: np.ndarray, n: int, k: float) -> tuple[np.ndarray, ...]:
    """Bollinger bands (upper, middle, lower) = SMA(n) ± k·population std(n); valid from n-1."""
    middle = sma(x, n)
    width = k * rolling_std(x, n, middle)
    return middle + width, middle, middle - width


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range; index 0 is NaN because it needs the previous close."""
    out = np.full(high.size, np.nan)
    if high.size < 2:
        return out
    prev = close[:-1]
    h, lo = high[1:], low[1:]
    out[1:] = np.maximum(np.maximum(h - lo, np.abs(h - prev)), np.abs(lo - prev))
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Average true range (Wilder); first valid index ``n``.

    The true range starts at index 1 (it needs a previous close), the first ATR is the mean of
    the first n true ranges, then Wilder's smoothing — the TA-Lib convention.
    """
    out = np.full(high.size, np.nan)
    if high.size < n + 1:
        return out
    out[n:] = wilder(true_range(high, low, close)[1:], n)[n - 1 :]
    return out

"""Indicator kernels against hand-computed values, naive references and prefix invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.engine import indicators as ind

NAN = math.nan


def walk(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 30_000.0 * np.cumprod(1.0 + rng.normal(0.0, 0.002, n))


def naive_ema(x: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Step-by-step recursion, seeded with the mean of the first n values."""
    out = np.full(x.size, np.nan)
    value = sum(x[:n].tolist()) / n
    out[n - 1] = value
    for t in range(n, x.size):
        value = value + alpha * (x[t] - value)
        out[t] = value
    return out


def assert_same(actual: np.ndarray, expected: list[float], rel: float = 1e-12) -> None:
    assert actual.shape == (len(expected),)
    for got, want in zip(actual.tolist(), expected, strict=True):
        if math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == pytest.approx(want, rel=rel, abs=1e-12)


def test_sma_by_hand():
    # SMA(3) of 1..5: (1+2+3)/3, (2+3+4)/3, (3+4+5)/3.
    assert_same(ind.sma(np.array([1.0, 2, 3, 4, 5]), 3), [NAN, NAN, 2, 3, 4])


def test_sma_shorter_than_period_is_all_nan():
    assert_same(ind.sma(np.array([1.0, 2]), 3), [NAN, NAN])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 16, 30, 31, 64, 200])
def test_rolling_sum_matches_a_naive_window_sum(n):
    x = walk(1500)
    naive = np.array([math.fsum(x[t - n + 1 : t + 1]) for t in range(n - 1, x.size)])
    got = ind.rolling_sum(x, n)
    assert np.isnan(got[: n - 1]).all()
    np.testing.assert_allclose(got[n - 1 :], naive, rtol=1e-14)


def test_rolling_sum_of_a_window_does_not_depend_on_where_the_array_starts():
    x = walk(3000)
    full = ind.rolling_sum(x, 30)
    for start in (1, 17, 1000):
        part = ind.rolling_sum(x[start:], 30)
        assert np.array_equal(part[29:], full[start + 29 :])


def test_ema_3_seeded_by_sma_by_hand():
    # alpha = 2/(3+1) = 0.5. Seed at index 2: (2+4+6)/3 = 4.
    # t=3: 4 + 0.5*(8-4) = 6;  t=4: 6 + 0.5*(12-6) = 9;  t=5: 9 + 0.5*(14-9) = 11.5.
    x = np.array([2.0, 4, 6, 8, 12, 14])
    assert_same(ind.ema(x, 3), [NAN, NAN, 4, 6, 9, 11.5])


@pytest.mark.parametrize("n", [1, 2, 3, 9, 26, 200])
def test_ema_matches_the_step_by_step_recursion(n):
    x = walk(5000)
    expected = naive_ema(x, n, 2.0 / (n + 1))
    np.testing.assert_allclose(ind.ema(x, n), expected, rtol=1e-13)


def test_wilder_rsi_3_by_hand():
    # closes 10, 11, 12, 11, 13, 12 → changes +1, +1, -1, +2, -1.
    # t=3: avg_gain = (1+1+0)/3 = 2/3, avg_loss = (0+0+1)/3 = 1/3 → RSI = 100·(2/3)/1 = 66.67
    # t=4: avg_gain = (2/3·2 + 2)/3 = 10/9, avg_loss = (1/3·2 + 0)/3 = 2/9 → 100·10/12 = 83.33
    # t=5: avg_gain = (10/9·2 + 0)/3 = 20/27, avg_loss = (2/9·2 + 1)/3 = 13/27 → 100·20/33
    x = np.array([10.0, 11, 12, 11, 13, 12])
    assert_same(ind.rsi(x, 3), [NAN, NAN, NAN, 200 / 3, 250 / 3, 2000 / 33])


def test_rsi_edges_only_gains_is_100_flat_is_50():
    assert_same(ind.rsi(np.array([1.0, 2, 3, 4, 5]), 3)[3:], [100, 100])
    assert_same(ind.rsi(np.full(6, 7.0), 3)[3:], [50, 50, 50])


def test_rsi_matches_wilder_recursion():
    x = walk(3000)
    change = np.diff(x)
    gain, loss = np.maximum(change, 0), np.maximum(-change, 0)
    g = naive_ema(gain, 14, 1 / 14)
    lo = naive_ema(loss, 14, 1 / 14)
    expected = np.concatenate(([np.nan], 100 - 100 / (1 + g / lo)))
    np.testing.assert_allclose(ind.rsi(x, 14), expected, rtol=1e-12)


def test_atr_3_by_hand():
    # true ranges from index 1: max(h-l, |h-prev c|, |l-prev c|)
    # t=1: max(2, |11-9|, |9-9|) = 2      t=2: max(2, |12-10|, |10-10|) = 2
    # t=3: max(4, |11-11|, |7-11|) = 4    t=4: max(1, |9-8|, |8-8|) = 1
    # t=5: max(5, |14-8.5|, |9-8.5|) = 5.5
    # ATR(3): t=3 (2+2+4)/3 = 8/3; t=4 (8/3·2 + 1)/3 = 19/9; t=5 (19/9·2 + 5.5)/3 = 87.5/27
    high = np.array([10.0, 11, 12, 11, 9, 14])
    low = np.array([8.0, 9, 10, 7, 8, 9])
    close = np.array([9.0, 10, 11, 8, 8.5, 13])
    assert_same(ind.true_range(high, low, close), [NAN, 2, 2, 4, 1, 5.5])
    assert_same(ind.atr(high, low, close, 3), [NAN, NAN, NAN, 8 / 3, 19 / 9, 87.5 / 27])


def test_macd_is_ema_difference_with_an_ema_signal():
    x = walk(400)
    line, signal, hist = ind.macd(x, 12, 26, 9)
    expected_line = naive_ema(x, 12, 2 / 13) - naive_ema(x, 26, 2 / 27)
    np.testing.assert_allclose(line, expected_line, rtol=1e-12, atol=1e-9)
    assert np.isnan(line[:25]).all()
    assert not np.isnan(line[25])
    expected_signal = np.full(x.size, np.nan)
    expected_signal[25:] = naive_ema(expected_line[25:], 9, 2 / 10)
    np.testing.assert_allclose(signal, expected_signal, rtol=1e-10, atol=1e-9)
    assert np.isnan(signal[:33]).all()
    assert not np.isnan(signal[33])
    np.testing.assert_array_equal(hist, line - signal)


def test_bbands_by_hand_with_population_std():
    # Window [1, 2, 3]: mean 2, population variance ((1)²+0+(1)²)/3 = 2/3.
    upper, middle, lower = ind.bbands(np.array([1.0, 2, 3, 4]), 3, 2.0)
    width = 2 * math.sqrt(2 / 3)
    assert_same(middle, [NAN, NAN, 2, 3])
    assert_same(upper, [NAN, NAN, 2 + width, 3 + width])
    assert_same(lower, [NAN, NAN, 2 - width, 3 - width])


def test_rolling_std_is_stable_at_crypto_prices():
    # A window of 100000.1 and 100000.3 has std 0.1 exactly; E[x²]-E[x]² would lose it.
    x = np.array([100_000.1, 100_000.3] * 10)
    assert ind.rolling_std(x, 20)[-1] == pytest.approx(0.1, rel=1e-9)


@pytest.mark.parametrize(
    "kernel",
    [
        lambda x: [ind.sma(x, 30)],
        lambda x: [ind.ema(x, 26)],
        lambda x: [ind.ema(x, 2)],
        lambda x: [ind.rsi(x, 14)],
        lambda x: list(ind.macd(x, 12, 26, 9)),
        lambda x: list(ind.bbands(x, 20, 2.0)),
        lambda x: [ind.atr(x * 1.001, x * 0.999, x, 14)],
    ],
    ids=["sma", "ema", "ema2", "rsi", "macd", "bbands", "atr"],
)
def test_kernels_are_prefix_invariant_bit_for_bit(kernel):
    # What bots rely on: a history's prefix gives exactly the full history's values.
    x = walk(4500)
    full = kernel(x)
    for end in (1, 2, 27, 1023, 1024, 1025, 1050, 2049, 4499):
        for part, whole in zip(kernel(x[:end]), full, strict=True):
            assert np.array_equal(part, whole[:end], equal_nan=True), end


def test_linear_recurrence_on_empty_and_unit_alpha():
    assert ind.linear_recurrence(np.array([]), 0.5, 1.0).size == 0
    x = np.array([3.0, 1.0])
    np.testing.assert_array_equal(ind.linear_recurrence(x, 1.0, 99.0), x)

"""Shared vocabulary: decimals and their strings, epoch milliseconds, timeframes."""

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from exchanges.demo import feed
from exchanges.epoch import datetime_from_ms, ms_from_datetime, now_ms
from exchanges.numbers import plain_decimal, tidy, to_decimal
from exchanges.timeframes import TIMEFRAME_MS, TIMEFRAMES
from strategies import engine


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("10000.00"), "10000"),
        (Decimal("0.50"), "0.5"),
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("1E+4"), "10000"),
        (Decimal("-0.00"), "-0"),
        (Decimal("123456789012345678.123456789012345678"), "123456789012345678.123456789012345678"),
        (7, "7"),
        ("0.0010", "0.001"),
        (0.1, "0.1"),
        (1e-07, "0.0000001"),
        (1e22, "10000000000000000000000"),
        (np.float64(95000.5), "95000.5"),
        (np.int64(3), "3"),
    ],
)
def test_plain_decimal_writes_plain_notation_without_trailing_zeros(value, written):
    assert plain_decimal(value) == written


def test_plain_decimal_writes_a_float_as_numpy_does():
    values = np.random.default_rng(7).random(2000) * 10.0 ** np.arange(-8, 12).repeat(100)
    for value in values:
        assert plain_decimal(value) == np.format_float_positional(value, unique=True, trim="-")


@pytest.mark.parametrize("value", [Decimal("NaN"), float("inf"), "abc"])
def test_plain_decimal_refuses_what_is_not_a_finite_number(value):
    with pytest.raises(ValueError, match="number"):
        plain_decimal(value)


def test_tidy_is_exact_and_keeps_none():
    assert tidy(None) is None
    assert tidy(Decimal("0.0010")) == Decimal("0.001")
    assert str(tidy(Decimal("1.2E+3"))) == "1200"
    long = Decimal("123456789012345678.123456789012345670")
    assert tidy(long) == long  # no rounding to the context's 28 digits


def test_to_decimal_reads_what_venues_send():
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("5") == Decimal(5)
    assert to_decimal(None) is None
    assert to_decimal(True) is None
    assert to_decimal("junk") is None
    assert to_decimal(float("nan")) is None


def test_epoch_milliseconds_round_trip_exactly():
    # Through float seconds these come back a millisecond short: int(timestamp() * 1000).
    for ms, moment in [
        (545_267_574_486, datetime(1987, 4, 12, 23, 12, 54, 486_000, tzinfo=UTC)),
        (2_187_447_717_970, datetime(2039, 4, 26, 16, 21, 57, 970_000, tzinfo=UTC)),
    ]:
        assert int(moment.timestamp() * 1000) == ms - 1
        assert datetime_from_ms(ms) == moment
        assert ms_from_datetime(moment) == ms
    for ms in range(1_700_000_000_000, 1_700_000_000_000 + 5_000, 7):
        assert ms_from_datetime(datetime_from_ms(ms)) == ms
    assert datetime_from_ms(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert abs(now_ms() - ms_from_datetime(datetime.now(UTC))) < 1000


def test_one_list_of_timeframes():
    assert TIMEFRAMES == ("1m", "5m", "15m", "1h", "4h", "1d")
    assert TIMEFRAME_MS["4h"] == 4 * 3_600_000
    assert engine.TIMEFRAME_MS is TIMEFRAME_MS  # the strategy engine's is this one
    assert feed.TIMEFRAMES == {name: ms // 60_000 for name, ms in TIMEFRAME_MS.items()}

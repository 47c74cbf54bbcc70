"""The CSV format of dataset uploads: parse, check every line, report errors with line numbers.

    ts,open,high,low,close,volume
    1763856000000,95000.10,95020.00,94990.50,95010.00,12.5
    2025-11-23T00:01:00Z,95010.00,95030.00,95000.00,95025.00,8.25

- The first line is the header, exactly these six names (case and spaces around them do not
  matter); a UTF-8 byte order mark is allowed, blank lines are skipped.
- `ts` is the candle's open time: epoch milliseconds (an integer), or ISO 8601 with `Z` or an
  offset (a time without one is taken as UTC); at the latest 9999-01-01T00:00:00Z.
- Prices are positive numbers, volume is zero or more; `low <= open, close <= high`.
- Rows are in time order with unique timestamps; consecutive candles are a whole number of
  timeframes apart (gaps are allowed, as on real exchanges).

Errors name the physical line of the file ("line 7: high is below low"); the first
`MAX_ERRORS` bad lines are listed and the rest are counted, so a user fixes a file in one go.
"""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import UTC, datetime
from typing import BinaryIO

import numpy as np

from exchanges.epoch import ms_from_datetime
from strategies.engine import Candles

HEADER = ("ts", "open", "high", "low", "close", "volume")
MAX_ERRORS = 20
# Epoch ms below this are 1973 or earlier: almost surely a timestamp in seconds by mistake.
_MIN_PLAUSIBLE_MS = 100_000_000_000
_INTEGER = re.compile(r"^[+-]?\d+$")
# The latest open time accepted. Dates end with the year 9999 (Python's datetime, and so a
# dataset's start and end times); a larger number is a typo or another unit (microseconds).
_LATEST = "9999-01-01T00:00:00Z"
_LATEST_MS = 253_370_764_800_000


class CsvErrors(Exception):
    """The file has errors; `errors` are readable messages, each naming its line."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} errors in the CSV file")
        self.errors = errors


def _parse_ts(text: str) -> int:
    text = text.strip()
    if _INTEGER.match(text):
        # Decided on the digits before int(): thousands of them would hit Python's limit on
        # int-from-string conversion, and any number this long is out of range anyway.
        if len(text.lstrip("+-").lstrip("0")) > len(str(_LATEST_MS)):
            if text.startswith("-"):
                raise ValueError("ts is before the epoch")
            raise ValueError(_too_late(text))
        value = int(text)
        if value < 0:
            raise ValueError("ts is before the epoch")
        if value < _MIN_PLAUSIBLE_MS:
            raise ValueError(f"ts {value} looks like seconds; give epoch milliseconds")
        if value > _LATEST_MS:
            raise ValueError(_too_late(text))
        return value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"ts {text[:40]!r} is neither epoch milliseconds nor an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    value = ms_from_datetime(moment)
    if value < 0:
        raise ValueError("ts is before the epoch")
    if value > _LATEST_MS:
        raise ValueError(_too_late(text))
    return value


def _too_late(text: str) -> str:
    shown = text if len(text) <= 40 else f"{text[:40]}…"
    return f"ts {shown} is after {_LATEST}; give epoch milliseconds or an ISO 8601 time"


def _parse_number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text.strip()[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number")
    return value


def _check_candle(o: float, h: float, low: float, c: float, v: float) -> str | None:
    for name, value in (("open", o), ("high", h), ("low", low), ("close", c)):
        if value <= 0:
            return f"{name} must be above zero"
    if v < 0:
        return "volume must not be negative"
    if h < low:
        return "high is below low"
    if h < o or h < c:
        return "high is below open or close"
    if low > o or low > c:
        return "low is above open or close"
    return None


def _timeframe_name(timeframe_ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if timeframe_ms % size == 0:
            return f"{timeframe_ms // size}{unit}"
    return f"{timeframe_ms} ms"


def parse_candles(stream: BinaryIO, *, timeframe_ms: int, max_rows: int) -> Candles:
    """Read a candles CSV from a binary stream; raise CsvErrors listing what is wrong."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors="strict")
    reader = csv.reader(text)
    errors: list[str] = []
    more = 0  # bad lines beyond MAX_ERRORS, counted but not listed

    def bad(line: int, message: str) -> None:
        nonlocal more
        if len(errors) < MAX_ERRORS:
            errors.append(f"line {line}: {message}")
        else:
            more += 1

    ts: list[int] = []
    values: list[tuple[float, float, float, float, float]] = []
    previous_ts: int | None = None
    previous_line = 0
    header_seen = False
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if not header_seen:
                header_seen = True
                names = tuple(cell.strip().lower() for cell in row)
                if names != HEADER:
                    found = ",".join(row)[:80]
                    raise CsvErrors(
                        [f"line {line}: the header must be {','.join(HEADER)}, not {found}"]
                    )
                continue
            if len(row) != len(HEADER):
                bad(line, f"expected {len(HEADER)} columns, found {len(row)}")
                continue
            try:
                moment = _parse_ts(row[0])
                o, h, low, c, v = (
                    _parse_number(cell, name)
                    for cell, name in zip(row[1:], HEADER[1:], strict=True)
                )
            except ValueError as exc:
                bad(line, str(exc))
                continue
            problem = _check_candle(o, h, low, c, v)
            if problem is not None:
                bad(line, problem)
                continue
            if previous_ts is not None:
                if moment == previous_ts:
                    bad(line, f"duplicate timestamp (the same as line {previous_line})")
                    continue
                if moment < previous_ts:
                    bad(line, f"timestamp is before the previous candle's (line {previous_line})")
                    continue
                if (moment - previous_ts) % timeframe_ms:
                    bad(
                        line,
                        f"{(moment - previous_ts) / 1000:g} s after the previous candle (line "
                        f"{previous_line}), not a whole number of "
                        f"{_timeframe_name(timeframe_ms)} candles",
                    )
                    continue
            previous_ts, previous_line = moment, line
            if len(ts) >= max_rows:
                raise CsvErrors([f"line {line}: the file has more than {max_rows} candles"])
            ts.append(moment)
            values.append((o, h, low, c, v))
    except UnicodeDecodeError:
        raise CsvErrors(["the file is not UTF-8 text"]) from None
    except csv.Error as exc:
        raise CsvErrors([f"line {reader.line_num}: {exc}"]) from None
    finally:
        text.detach()  # leave the caller's stream open

    if not header_seen:
        raise CsvErrors(["the file is empty; the first line must be " + ",".join(HEADER)])
    if more:
        errors.append(f"and {more} more lines with errors")
    if errors:
        raise CsvErrors(errors)
    if not ts:
        raise CsvErrors(["the file has a header but no candles"])
    table = np.asarray(values, dtype=np.float64).reshape(-1, 5)
    return Candles(
        ts=np.asarray(ts, dtype=np.float64),
        open=np.ascontiguousarray(table[:, 0]),
        high=np.ascontiguousarray(table[:, 1]),
        low=np.ascontiguousarray(table[:, 2]),
        close=np.ascontiguousarray(table[:, 3]),
        volume=np.ascontiguousarray(table[:, 4]),
    )


def render_candles(candles: Candles) -> bytes:
    """The CSV form of `candles` (epoch ms timestamps, shortest round-trip numbers)."""
    out = io.StringIO()
    out.write(",".join(HEADER) + "\n")
    columns = [candles.ts.astype(np.int64).tolist()] + [
        getattr(candles, name).tolist() for name in HEADER[1:]
    ]
    for row in zip(*columns, strict=True):
        out.write(f"{row[0]},{row[1]!r},{row[2]!r},{row[3]!r},{row[4]!r},{row[5]!r}\n")
    return out.getvalue().encode("utf-8")

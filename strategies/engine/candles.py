"""Candles as the engine consumes them: six aligned float64 arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

FIELDS = ("ts", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class Candles:
    """Closed OHLCV candles, oldest first; ``ts`` is the candle's open time in ms since epoch (UTC).

    Build one with ``Candles.of(...)`` (or pass a mapping with the same keys wherever candles are
    accepted): the arrays are converted to contiguous float64 and checked once here, so the
    engine never meets NaN, misaligned or unsorted data.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def of(cls, data: Candles | Mapping[str, Any]) -> Candles:
        """Return ``data`` as checked Candles; raise ValueError on bad shapes or values."""
        if isinstance(data, Candles):
            return data
        missing = [name for name in FIELDS if name not in data]
        if missing:
            raise ValueError(f"candles lack {', '.join(missing)}")
        arrays = {name: np.ascontiguousarray(data[name], dtype=np.float64) for name in FIELDS}
        length = arrays["ts"].shape
        for name, array in arrays.items():
            if array.ndim != 1 or array.shape != length:
                raise ValueError(f"candles.{name} must be 1-D with as many rows as ts")
            if not np.isfinite(array).all():
                raise ValueError(f"candles.{name} contains NaN or infinite values")
        ts = arrays["ts"]
        if ts.size > 1 and not (ts[1:] > ts[:-1]).all():
            raise ValueError("candles.ts must be strictly increasing")
        return cls(**arrays)

    def __len__(self) -> int:
        return int(self.ts.size)

    def __getitem__(self, rows: slice) -> Candles:
        """Candles for a slice of rows (views, no copy); already checked, so not re-checked."""
        if not isinstance(rows, slice):
            raise TypeError("candles can only be sliced")
        return Candles(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

"""Files of the lab: candles of datasets and equity curves of backtests, as .npz under MEDIA_ROOT.

Datasets are `datasets/<workspace>/<dataset>.npz` with six float64 arrays `ts, open, high, low,
close, volume` (ts = candle open time in ms since the epoch; float64 holds it exactly for any
date of the next 280,000 years). Equity curves are `backtests/<workspace>/<backtest>.npz` with
`ts` (int64 ms) and `equity` (float64). Files are written uncompressed: 48 bytes per candle load
in milliseconds per million rows, where zlib would cost far more time than the disk it saves.
Writes go to a temporary file first and are renamed into place, so a reader never sees half a
file.

The dataset hash (`candles_sha256`) is SHA-256 over a canonical byte form of the candles, not
over the file (whose zip headers carry timestamps): the six columns in the order
ts, open, high, low, close, volume, each as little-endian IEEE-754 float64, concatenated with
no separators; -0.0 is written as 0.0. The same candles give the same hash on every machine,
whichever way they were stored.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from strategies.engine import Candles

FIELDS = ("ts", "open", "high", "low", "close", "volume")


class CandleFileError(Exception):
    """A dataset file is missing, unreadable or does not hold what its row says."""


@dataclass(frozen=True)
class Equity:
    """An equity curve: candle open times (int64 ms) and equity at each close (float64)."""

    ts: np.ndarray
    equity: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.size)


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def dataset_relpath(workspace_id, dataset_id) -> str:
    return f"datasets/{workspace_id}/{dataset_id}.npz"


def equity_relpath(workspace_id, backtest_id) -> str:
    return f"backtests/{workspace_id}/{backtest_id}.npz"


def candles_sha256(candles: Candles) -> str:
    """SHA-256 (hex) of the canonical byte form of `candles` (see the module docstring)."""
    digest = hashlib.sha256()
    for name in FIELDS:
        column = np.asarray(getattr(candles, name), dtype="<f8")
        # Adding 0.0 turns -0.0 into 0.0 and leaves every other value as it is.
        digest.update(np.ascontiguousarray(column + 0.0, dtype="<f8").tobytes())
    return digest.hexdigest()


def _write_npz(relpath: str, arrays: dict[str, np.ndarray]) -> int:
    """Write `arrays` atomically to MEDIA_ROOT/relpath; return the file size in bytes."""
    path = media_root() / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def write_candles(relpath: str, candles: Candles) -> int:
    """Store `candles` as a dataset file; return its size in bytes."""
    arrays = {name: np.asarray(getattr(candles, name), dtype=np.float64) for name in FIELDS}
    return _write_npz(relpath, arrays)


def read_candles(relpath: str, *, rows: int | None = None, sha256: str | None = None) -> Candles:
    """Load a dataset file; check the row count and the candles' hash when given.

    Raises CandleFileError with a readable message for a missing, unreadable or changed file.
    """
    path = media_root() / relpath
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.ascontiguousarray(data[name], dtype=np.float64) for name in FIELDS}
    except FileNotFoundError:
        raise CandleFileError("The dataset's file is missing from storage.") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise CandleFileError(
            f"The dataset's file cannot be read ({type(exc).__name__})."
        ) from None
    candles = Candles(**arrays)
    if rows is not None and len(candles) != rows:
        raise CandleFileError(
            f"The dataset's file holds {len(candles)} candles where {rows} were stored."
        )
    if sha256 is not None and candles_sha256(candles) != sha256:
        raise CandleFileError("The dataset's file no longer matches its sha256.")
    return candles


def write_equity(relpath: str, ts: np.ndarray, equity: np.ndarray) -> int:
    """Store an equity curve; return the file size in bytes."""
    return _write_npz(
        relpath,
        {"ts": np.asarray(ts, dtype=np.int64), "equity": np.asarray(equity, dtype=np.float64)},
    )


def read_equity(relpath: str) -> Equity:
    """Load an equity curve; raises CandleFileError when the file is missing or unreadable."""
    path = media_root() / relpath
    try:
        with np.load(path, allow_pickle=False) as data:
            return Equity(ts=data["ts"].astype(np.int64), equity=data["equity"].astype(np.float64))
    except FileNotFoundError:
        raise CandleFileError("The backtest's equity file is missing from storage.") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise CandleFileError(f"The equity file cannot be read ({type(exc).__name__}).") from None


def delete_file(relpath: str) -> None:
    """Remove a stored file if it exists (idempotent)."""
    if relpath:
        (media_root() / relpath).unlink(missing_ok=True)

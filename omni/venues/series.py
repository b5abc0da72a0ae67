"""Recorded market history as columns, whatever file it came from (gzip CSV or the Parquet store).

Every series is validated before it exists (``replay.load_klines`` for CSV, ``store.read_klines`` for Parquet): times
strictly increasing on their bar boundary, prices finite and > 0, OHLC consistent.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from omni.domain.market import MINUTE_MS

#: Funding rates at or beyond this magnitude are treated as corrupt (Bybit caps are a few 0.1 %).
MAX_ABS_FUNDING = 0.1
#: bar lengths a replay accepts, ms
REPLAY_SPANS = (MINUTE_MS, 3 * MINUTE_MS, 5 * MINUTE_MS)


@dataclass(frozen=True, slots=True, eq=False)
class KlineSeries:
    """One symbol's 1m klines as columns; ``ts`` = candle open time (epoch ms UTC)."""

    symbol: str
    path: str
    ts: array
    open: array
    high: array
    low: array
    close: array
    volume: array
    #: most decimals seen in the prices of the first rows (the tick guess for unknown symbols)
    price_decimals: int = 0
    #: bar length in minutes (1 for 1m files; 3 or 5 for files recorded at those intervals)
    minutes: int = 1

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True, eq=False)
class FundingSeries:
    """One symbol's funding settlements: ``ts`` (epoch ms UTC) and ``rate`` (fraction, 0.0001 = 0.01 %)."""

    symbol: str
    path: str
    ts: array
    rate: array

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True, eq=False)
class MarkSeries:
    """One symbol's 1m mark-price klines: ``ts`` (open time, epoch ms UTC) and OHLC."""

    symbol: str
    path: str
    ts: array
    open: array
    high: array
    low: array
    close: array

    def __len__(self) -> int:
        return len(self.ts)

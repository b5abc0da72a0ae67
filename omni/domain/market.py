"""Market data values: bars and funding settlements.

Bars are ``NamedTuple`` rather than frozen dataclasses on purpose: they are the one high-volume value
(hundreds of thousands per replayed day) and a tuple is created about three times faster; they are just as
immutable. Prices on bars are floats: per-bar work stays on floats, and exact decimals start at orders.
"""

from __future__ import annotations

from typing import NamedTuple

MINUTE_MS = 60_000

#: Supported timeframes in minutes, as written in config ("1m", "3m", "5m").
TIMEFRAMES = {"1m": 1, "3m": 3, "5m": 5}


class Bar(NamedTuple):
    """One OHLCV candle. ``ts`` is the candle's open time (epoch ms UTC); it closes at ``ts + minutes*60s``."""

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    minutes: int = 1

    @property
    def close_ts(self) -> int:
        return self.ts + self.minutes * MINUTE_MS


class Funding(NamedTuple):
    """A funding settlement: at ``ts`` every open position pays ``size * mark * rate`` (longs pay if > 0)."""

    symbol: str
    ts: int
    rate: float


def parse_timeframe(text: str) -> int:
    """'3m' -> 3. Raises ValueError for anything not in TIMEFRAMES."""
    try:
        return TIMEFRAMES[text]
    except KeyError:
        raise ValueError(f"unknown timeframe {text!r}; allowed: {', '.join(TIMEFRAMES)}") from None


class MarketBatch(NamedTuple):
    """Everything the market produced at one instant: bars that closed at ``ts`` and funding settled at ``ts``.

    ``ts`` is the moment the data became known (a bar's close time), which is what the clock is set to.
    """

    ts: int
    bars: list[Bar]
    fundings: list[Funding]

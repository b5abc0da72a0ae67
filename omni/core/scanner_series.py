"""The per-symbol ``Series`` of ``scanner.ReferenceScanner``: one symbol's recent bars on one timeframe, plus
rolling statistics (running sums over fixed windows, and a cached breakout channel recomputed only when its
extreme leaves the window), updated bar by bar. ``scanner_vec.SeriesView`` gives the same values from the
struct-of-arrays state of ``AssetScanner``.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from typing import TYPE_CHECKING

from omni.core.scanner_vec import TRIM_SLACK
from omni.domain.market import Bar
from omni.domain.orders import Side

if TYPE_CHECKING:
    from omni.core.scanner import ScannerParams


class Series:
    """Recent bars of one symbol on one timeframe, plus rolling statistics (running sums over fixed windows,
    and a cached breakout channel recomputed only when its extreme leaves the window)."""

    __slots__ = (
        "_hi",
        "_hi_at",
        "_lo",
        "_lo_at",
        "_tr",
        "_trim_at",
        "_trn",
        "_vr",
        "atr_sum",
        "closes",
        "highs",
        "lows",
        "minutes",
        "n",
        "opens",
        "params",
        "ret_sq_sum",
        "ret_sum",
        "signal",
        "signals_long",
        "signals_short",
        "turnover_sum",
        "zero_volume_run",
    )

    def __init__(self, minutes: int, params: ScannerParams):
        self.minutes = minutes
        self.params = params
        # compact float arrays (8 bytes a value): hundreds of symbols x 3 timeframes x a few hundred bars
        self.opens = array("d")
        self.highs = array("d")
        self.lows = array("d")
        self.closes = array("d")
        # rolling windows as fixed rings indexed by the bar count (slot n % size holds bar n's value)
        self._tr = [0.0] * params.atr_bars  # true ranges, for the ATR
        self._trn = [0.0] * params.turnover_bars  # turnovers
        self._vr = [0.0] * params.volatility_bars  # simple returns
        self.atr_sum = self.turnover_sum = self.ret_sum = self.ret_sq_sum = 0.0
        self.zero_volume_run = 0
        self.n = 0  # bars ever added (absolute index of the next bar)
        self._trim_at = params.history_bars + TRIM_SLACK  # bar count at which old history is cut back
        self._hi = -math.inf  # channel: highest high / lowest low of the last breakout_bars bars
        self._lo = math.inf
        self._hi_at = self._lo_at = -1  # absolute index of those extremes
        self.signal: tuple[Side, float] | None = None  # the breakout the last added bar made, if any
        # absolute indices of the bars that broke out, per side: the pre-trade simulator's entries
        self.signals_long = array("q")
        self.signals_short = array("q")

    def __len__(self) -> int:
        return len(self.closes)

    def add(self, bar: Bar) -> tuple[Side, float] | None:
        """Add a closed bar; returns (side, distance beyond the channel) if its close broke out."""
        _, _, o, h, lo, c, v, _ = bar
        closes = self.closes
        n = self.n
        prev = closes[-1] if n else o
        tr = (h if h > prev else prev) - (lo if lo < prev else prev)
        ring = self._tr
        i = n % len(ring)
        self.atr_sum += tr - ring[i]
        ring[i] = tr
        turnover = v * c
        ring = self._trn
        i = n % len(ring)
        self.turnover_sum += turnover - ring[i]
        ring[i] = turnover
        r = c / prev - 1.0 if prev > 0 else 0.0
        ring = self._vr
        i = n % len(ring)
        old = ring[i]
        ring[i] = r
        self.ret_sum += r - old
        self.ret_sq_sum += r * r - old * old
        self.zero_volume_run = self.zero_volume_run + 1 if v <= 0 else 0
        # breakout against the channel of the previous N bars, then roll the channel forward
        nb = self.params.breakout_bars
        hi, low = self._hi, self._lo
        signal = None
        if n >= nb:
            if c > hi:
                signal = (Side.BUY, c - hi)
                self.signals_long.append(n)
            elif c < low:
                signal = (Side.SELL, low - c)
                self.signals_short.append(n)
        self.opens.append(o)
        self.highs.append(h)
        self.lows.append(lo)
        closes.append(c)
        self.n = n + 1
        oldest = n + 1 - nb  # absolute index of the oldest bar in the new channel
        if h >= hi:
            self._hi, self._hi_at = h, n
        elif self._hi_at < oldest:
            self._rescan(oldest)
        if lo <= self._lo:
            self._lo, self._lo_at = lo, n
        elif self._lo_at < oldest:
            self._rescan(oldest)
        if n >= self._trim_at:
            keep = self.params.history_bars
            cut = len(closes) - keep
            for seq in (self.opens, self.highs, self.lows, closes):
                del seq[:cut]
            base = n + 1 - keep  # absolute index of the oldest bar kept
            for sig in (self.signals_long, self.signals_short):
                k = bisect_left(sig, base)
                if k:
                    del sig[:k]
            self._trim_at = n + TRIM_SLACK
        self.signal = signal
        return signal

    def entries(self, side: Side) -> list[int]:
        """Indices into the kept bars (``closes[i]``) where a breakout on ``side`` fired, ascending."""
        base = self.n - len(self.closes)
        return [i - base for i in (self.signals_long if side is Side.BUY else self.signals_short)]

    def _rescan(self, oldest: int) -> None:
        """Recompute the channel over the bars at absolute indices [oldest, n)."""
        base = self.n - len(self.closes)  # absolute index of closes[0]
        i = max(oldest, base) - base
        highs = self.highs[i:]
        lows = self.lows[i:]
        hi = max(highs)
        lo = min(lows)
        self._hi, self._hi_at = hi, base + i + (len(highs) - 1 - highs[::-1].index(hi))
        self._lo, self._lo_at = lo, base + i + (len(lows) - 1 - lows[::-1].index(lo))

    @property
    def atr(self) -> float:
        n = min(self.n, len(self._tr))
        return self.atr_sum / n if n else 0.0

    @property
    def turnover(self) -> float:
        n = min(self.n, len(self._trn))
        return self.turnover_sum / n if n else 0.0

    @property
    def volatility(self) -> float:
        """Realised volatility per bar: the standard deviation of simple returns over the window."""
        n = min(self.n, len(self._vr))
        if n < 2:
            return 0.0
        mean = self.ret_sum / n
        return math.sqrt(max(self.ret_sq_sum / n - mean * mean, 0.0))

    def breakout(self) -> tuple[Side, float] | None:
        """The breakout the last added bar made: (side, distance beyond the prior N-bar channel), or None."""
        return self.signal

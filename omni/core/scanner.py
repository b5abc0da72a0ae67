"""Asset scanner: per symbol and timeframe, rolling liquidity, volatility and an entry signal, updated
incrementally per bar; filters and ranks the symbols that signal into candidates, counting why others drop.

Per timeframe a symbol keeps its recent bars (the history the pre-trade simulator replays), a rolling
turnover sum, a rolling ATR and a rolling realised volatility (running sums; no recompute over the
window). The entry signal is a Donchian breakout: a close beyond the highest high / lowest low of the last
``breakout_bars`` bars, scored by how far beyond, in ATRs. The bars where it fired are kept per side
(``Series.entries``): the pre-trade simulator replays the order from those, not from every bar. Spread is not
in bar data: it is ``None`` here and filled in by venues that publish quotes.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from omni.core.bars import BarAggregator
from omni.core.scanner_vec import TRIM_SLACK, Book, SeriesView, gather
from omni.domain.instrument import Instrument
from omni.domain.market import Bar
from omni.domain.orders import Side

__all__ = ["TRIM_SLACK", "AssetScanner", "Candidate", "ReferenceScanner", "ScannerParams", "Series", "Tradability"]


@dataclass(frozen=True, slots=True)
class ScannerParams:
    timeframes: tuple[int, ...] = (1, 3, 5)
    breakout_bars: int = 20
    atr_bars: int = 14
    volatility_bars: int = 30
    turnover_bars: int = 60
    min_history_bars: int = 60
    min_turnover_usdt: float = 10_000.0  # average per bar over turnover_bars
    halted_bars: int = 5  # this many zero-volume bars in a row: treated as halted
    stop_atr: float = 1.5
    take_profit_atr: float = 4.0
    history_bars: int = 2000  # bars kept per timeframe for the pre-trade simulator
    blacklist: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ranked entry idea; distances are in price units, from ``entry`` (the signal bar's close)."""

    symbol: str
    side: Side
    timeframe: int
    ts: int  # decision time: the signal bar's close time
    entry: float
    stop_distance: float
    take_profit_distance: float
    score: float
    atr: float
    volatility: float  # realised, per bar (std of simple returns)
    turnover: float  # average USDT per bar
    spread: float | None
    series: Series | SeriesView  # the symbol's history on this timeframe, up to and including the signal bar


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


class _Symbol:
    __slots__ = ("last", "plan", "series")

    def __init__(self, timeframes: tuple[int, ...], params: ScannerParams):
        self.last: dict[int, int] = {}  # bar length (minutes) -> open time of the last bar taken
        self.series = {tf: Series(tf, params) for tf in timeframes}
        self.plan = tuple((tf, self.series[tf], BarAggregator(tf) if tf > 1 else None) for tf in timeframes)


@dataclass(frozen=True, slots=True)
class Tradability:
    """What one trade may use at the current capital: its margin share and the leverage cap."""

    margin_share: Decimal
    leverage_cap: Decimal


class ReferenceScanner:
    """Keeps per-symbol statistics for every timeframe, one ``Series`` object per symbol and timeframe updated
    bar by bar, and turns breakouts into ranked candidates. ``AssetScanner`` computes the same on arrays; this
    one is its reference (the equivalence tests run both)."""

    def __init__(self, instruments: dict[str, Instrument], params: ScannerParams):
        self.instruments = instruments
        self.params = params
        self._symbols: dict[str, _Symbol] = {}
        self.dropped: Counter[str] = Counter()
        self.signals = 0

    def series(self, symbol: str, timeframe: int) -> Series | None:
        st = self._symbols.get(symbol)
        return None if st is None else st.series.get(timeframe)

    def update(self, bar: Bar) -> list[tuple[Series, Side, float]] | None:
        """Fold one closed bar in; returns the breakouts it completed: (series, side, distance beyond).
        A bar not after the symbol's last bar of its length (a repeat or a late one) is dropped and counted
        in ``dropped["out_of_order"]``: the series never go backwards and the scanner never raises on it."""
        st = self._symbols.get(bar.symbol)
        if st is None:
            st = self._symbols[bar.symbol] = _Symbol(self.params.timeframes, self.params)
        out = None
        minutes = bar.minutes
        last = st.last
        if bar.ts <= last.get(minutes, -1):
            self.dropped["out_of_order"] += 1
            return None
        last[minutes] = bar.ts
        for tf, series, agg in st.plan:
            if minutes == tf:
                hit = series.add(bar)
                if hit is not None:
                    out = out or []
                    out.append((series, hit[0], hit[1]))
            elif minutes == 1 and agg is not None:
                done = agg.update_all(bar)
                for b in done:
                    hit = series.add(b)
                    if hit is not None:
                        out = out or []
                        out.append((series, hit[0], hit[1]))
        return out

    def update_batch(self, bars: list[Bar]) -> list[tuple[str, Series, Side, float]]:
        """``update`` for each bar in order; returns every breakout as (symbol, series, side, distance beyond)."""
        out = []
        for bar in bars:
            hits = self.update(bar)
            if hits:
                for series, side, beyond in hits:
                    out.append((bar.symbol, series, side, beyond))
        return out

    def candidates(
        self,
        breakouts: list[tuple[str, Any, Side, float]],
        now: int,
        trade: Tradability,
        skip: set[str] | frozenset[str] = frozenset(),
    ) -> list[Candidate]:
        """Filter this instant's breakouts and rank them best first; reasons for drops go to ``dropped``."""
        p = self.params
        out: list[Candidate] = []
        for symbol, series, side, beyond in breakouts:
            self.signals += 1
            reason = self._drop_reason(symbol, series, trade, skip)
            if reason is not None:
                self.dropped[reason] += 1
                continue
            atr = series.atr
            close = series.closes[-1]
            out.append(
                Candidate(
                    symbol,
                    side,
                    series.minutes,
                    now,
                    close,
                    atr * p.stop_atr,
                    atr * p.take_profit_atr,
                    beyond / atr,
                    atr,
                    series.volatility,
                    series.turnover,
                    None,
                    series,
                )
            )
        out.sort(key=lambda c: c.score, reverse=True)
        return out

    def _drop_reason(self, symbol: str, series: Any, trade: Tradability, skip: set[str] | frozenset[str]) -> str | None:
        p = self.params
        if symbol in p.blacklist:
            return "blacklisted"
        if symbol in skip:
            return "in_position"
        if len(series) < p.min_history_bars:
            return "short_history"
        if series.zero_volume_run >= p.halted_bars:
            return "halted"
        if series.atr <= 0:
            return "no_volatility"
        if series.turnover < p.min_turnover_usdt:
            return "illiquid"
        inst = self.instruments[symbol]
        price = Decimal(repr(series.closes[-1]))
        smallest = max(inst.min_notional, inst.min_qty * price)
        largest = trade.margin_share * min(trade.leverage_cap, inst.max_leverage)
        if smallest > largest:
            return "untradable_at_capital"
        return None


class AssetScanner(ReferenceScanner):
    """The scanner the pipeline runs: ``ReferenceScanner``'s results, computed on struct-of-arrays state
    (``scanner_vec.Book``: numpy arrays per timeframe indexed by symbol slot) for a whole batch at once.
    Its series are ``SeriesView`` objects with the same values as the reference's ``Series``. Requires
    ``history_bars >= breakout_bars`` (the config guarantees it)."""

    def __init__(self, instruments: dict[str, Instrument], params: ScannerParams):
        if params.history_bars < params.breakout_bars:
            raise ValueError(f"history_bars {params.history_bars} < breakout_bars {params.breakout_bars}")
        super().__init__(instruments, params)
        self._book = Book(params)

    def series(self, symbol: str, timeframe: int) -> SeriesView | None:  # type: ignore[override]
        book = self._book
        slot = book.slots.get(symbol)
        if slot is None or timeframe not in book.frames:
            return None
        return book.view(slot, timeframe)

    def update_batch(self, bars: list[Bar]) -> list[tuple[str, SeriesView, Side, float]]:  # type: ignore[override]
        """Fold a market instant's bars in (in list order, as ``update`` one by one would); returns the
        breakouts they completed as (symbol, series, side, distance beyond), in the per-bar order. Bars not
        after their symbol's last bar of the same length are dropped and counted in ``dropped["out_of_order"]``."""
        out, dropped = self._book.update_batch(bars)
        if dropped:
            self.dropped["out_of_order"] += dropped
        return out

    def update(self, bar: Bar) -> list[tuple[SeriesView, Side, float]] | None:  # type: ignore[override]
        """``update_batch([bar])`` (slow per bar: use ``update_batch``), as (series, side, beyond), None if none."""
        out = self.update_batch([bar])
        return [(series, side, beyond) for _, series, side, beyond in out] or None

    def candidates(
        self,
        breakouts: list[tuple[str, Any, Side, float]],
        now: int,
        trade: Tradability,
        skip: set[str] | frozenset[str] = frozenset(),
    ) -> list[Candidate]:
        """``ReferenceScanner.candidates`` (same filters in the same order, same values), with the series'
        statistics read in a few array gathers (``scanner_vec.gather``) instead of one by one."""
        if not all(type(b[1]) is SeriesView for b in breakouts):
            return super().candidates(breakouts, now, trade, skip)
        p = self.params
        dropped = self.dropped
        instruments = self.instruments
        blacklist = p.blacklist
        largest_of: dict[str, Decimal] = {}
        out: list[Candidate] = []
        self.signals += len(breakouts)
        for (symbol, series, side, beyond), (length, zvr, atr, turnover, close) in zip(
            breakouts, gather([b[1] for b in breakouts]), strict=True
        ):
            if symbol in blacklist:
                reason = "blacklisted"
            elif symbol in skip:
                reason = "in_position"
            elif length < p.min_history_bars:
                reason = "short_history"
            elif zvr >= p.halted_bars:
                reason = "halted"
            elif atr <= 0:
                reason = "no_volatility"
            elif turnover < p.min_turnover_usdt:
                reason = "illiquid"
            else:
                inst = instruments[symbol]
                largest = largest_of.get(symbol)
                if largest is None:
                    largest = largest_of[symbol] = trade.margin_share * min(trade.leverage_cap, inst.max_leverage)
                smallest = max(inst.min_notional, inst.min_qty * Decimal(repr(close)))
                reason = "untradable_at_capital" if smallest > largest else None
            if reason is not None:
                dropped[reason] += 1
                continue
            out.append(
                Candidate(
                    symbol,
                    side,
                    series.minutes,
                    now,
                    close,
                    atr * p.stop_atr,
                    atr * p.take_profit_atr,
                    beyond / atr,
                    atr,
                    series.volatility,
                    turnover,
                    None,
                    series,
                )
            )
        out.sort(key=lambda c: c.score, reverse=True)
        return out

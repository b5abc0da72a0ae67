"""Asset scanner: per symbol and timeframe, rolling liquidity, volatility and an entry signal, updated
incrementally per bar; filters and ranks the symbols that signal into candidates, counting why others drop.

Per timeframe a symbol keeps its recent bars (the history the pre-trade simulator replays), a rolling
turnover sum, a rolling ATR and a rolling realised volatility (running sums; no recompute over the
window). The entry signal is a Donchian breakout: a close beyond the highest high / lowest low of the last
``breakout_bars`` bars, scored by how far beyond, in ATRs. The bars where it fired are kept per side
(``Series.entries``): the pre-trade simulator replays the order from those, not from every bar. Spread is not
in bar data: it is ``None`` here and filled in by venues that publish quotes.

``AssetScanner`` (what the pipeline runs) folds a whole market instant in with ``update_batch`` on numpy
state per timeframe indexed by symbol slot (``scanner_book``, ``scanner_vec``); ``ReferenceScanner`` does the
same bar by bar with one ``Series`` (``scanner_series``) per symbol and timeframe, and is the reference the
equivalence tests compare it with (identical breakouts, statistics and candidates).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from omni.core.bars import BarAggregator
from omni.core.scanner_book import Book, gather
from omni.core.scanner_series import Series
from omni.core.scanner_vec import TRIM_SLACK, SeriesView
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
    one is its reference (the equivalence tests run both) and the faster one for a few dozen symbols
    (``make_scanner`` picks)."""

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
        blacklist = p.blacklist
        limits: dict[str, tuple] = {}
        out: list[Candidate] = []
        self.signals += len(breakouts)
        for (symbol, series, side, beyond), (length, zvr, atr, turnover, close, vol) in zip(
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
                reason = self._untradable(symbol, close, trade, limits)
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
                    vol,
                    turnover,
                    None,
                    series,
                )
            )
        out.sort(key=lambda c: c.score, reverse=True)
        return out

    def _untradable(self, symbol: str, close: float, trade: Tradability, limits: dict[str, tuple]) -> str | None:
        """``_drop_reason``'s last test (max(min_notional, min_qty * price) > the margin share at the capped
        leverage, in Decimal): decided on floats when ``min_qty * close`` is clearly (1e-9 relative: floats
        err ~1e-16 here) on one side of the limit, else in Decimal exactly as the reference does."""
        lim = limits.get(symbol)
        if lim is None:
            inst = self.instruments[symbol]
            largest = trade.margin_share * min(trade.leverage_cap, inst.max_leverage)
            big, qty = float(largest), float(inst.min_qty)
            sure = big > 0 and qty >= 0 and not inst.min_notional > largest
            lim = limits[symbol] = (inst, largest, qty, big * (1 - 1e-9), big * (1 + 1e-9), sure)
        inst, largest, qty, below, above, sure = lim
        if sure and close > 0:
            q = qty * close
            if q < below:
                return None
            if q > above:
                return "untradable_at_capital"
        smallest = max(inst.min_notional, inst.min_qty * Decimal(repr(close)))
        return "untradable_at_capital" if smallest > largest else None


#: from this many symbols on the vectorised scanner is faster; below it numpy's fixed cost per call dominates
#: (bench/decide.py, scanner batch p50: 10 symbols 0.057 ms per bar vs 0.180 ms vectorised, 30: 0.148 vs 0.213,
#: 120: 0.716 vs 0.378)
VECTOR_MIN_SYMBOLS = 64


def make_scanner(instruments: dict[str, Instrument], params: ScannerParams) -> ReferenceScanner:
    """The faster of the two (identical results) for a universe of this size: ``AssetScanner`` from
    ``VECTOR_MIN_SYMBOLS`` symbols on, else the per-bar ``ReferenceScanner`` (a sweep over 10 symbols runs a
    quarter faster with it)."""
    if len(instruments) >= VECTOR_MIN_SYMBOLS:
        return AssetScanner(instruments, params)
    return ReferenceScanner(instruments, params)

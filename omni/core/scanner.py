"""Asset scanner: per symbol and timeframe, rolling liquidity, volatility and an entry signal, updated
incrementally per bar; filters and ranks the symbols that signal into candidates, counting why others drop.

Per timeframe a symbol keeps its recent bars (the history the pre-trade simulator replays), a rolling
turnover sum, a rolling ATR and a rolling realised volatility (running sums; no recompute over the
window). The entry signal is a Donchian breakout: a close beyond the highest high / lowest low of the last
``breakout_bars`` bars, scored by how far beyond, in ATRs. Spread is not in bar data: it is ``None`` here
and filled in by venues that publish quotes.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from omni.core.bars import BarAggregator
from omni.domain.instrument import Instrument
from omni.domain.market import Bar
from omni.domain.orders import Side


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
    volatility: float  # realised, per bar (std of log returns)
    turnover: float  # average USDT per bar
    spread: float | None
    series: Series  # the symbol's history on this timeframe, up to and including the signal bar


class Series:
    """Recent bars of one symbol on one timeframe, plus rolling statistics. Lists, trimmed in chunks."""

    __slots__ = (
        "_tr",
        "_trn",
        "_vr",
        "atr_sum",
        "closes",
        "highs",
        "lows",
        "minutes",
        "opens",
        "params",
        "ret_sq_sum",
        "ret_sum",
        "ts",
        "turnover_sum",
        "volumes",
        "zero_volume_run",
    )

    def __init__(self, minutes: int, params: ScannerParams):
        self.minutes = minutes
        self.params = params
        self.ts: list[int] = []
        self.opens: list[float] = []
        self.highs: list[float] = []
        self.lows: list[float] = []
        self.closes: list[float] = []
        self.volumes: list[float] = []
        self._tr: list[float] = []  # true ranges, for the rolling ATR
        self._trn: list[float] = []  # turnovers
        self._vr: list[float] = []  # log returns
        self.atr_sum = self.turnover_sum = self.ret_sum = self.ret_sq_sum = 0.0
        self.zero_volume_run = 0

    def __len__(self) -> int:
        return len(self.closes)

    def add(self, bar: Bar) -> None:
        p = self.params
        closes = self.closes
        prev = closes[-1] if closes else bar.open
        tr = max(bar.high, prev) - min(bar.low, prev)
        self.atr_sum += tr - _push(self._tr, tr, p.atr_bars)
        turnover = bar.volume * bar.close
        self.turnover_sum += turnover - _push(self._trn, turnover, p.turnover_bars)
        r = math.log(bar.close / prev) if prev > 0 else 0.0
        old = _push(self._vr, r, p.volatility_bars)
        self.ret_sum += r - old
        self.ret_sq_sum += r * r - old * old
        self.zero_volume_run = self.zero_volume_run + 1 if bar.volume <= 0 else 0
        self.ts.append(bar.ts)
        self.opens.append(bar.open)
        self.highs.append(bar.high)
        self.lows.append(bar.low)
        closes.append(bar.close)
        self.volumes.append(bar.volume)
        if len(closes) > 2 * p.history_bars:
            cut = len(closes) - p.history_bars
            for seq in (self.ts, self.opens, self.highs, self.lows, closes, self.volumes):
                del seq[:cut]

    @property
    def atr(self) -> float:
        n = len(self._tr)
        return self.atr_sum / n if n else 0.0

    @property
    def turnover(self) -> float:
        n = len(self._trn)
        return self.turnover_sum / n if n else 0.0

    @property
    def volatility(self) -> float:
        n = len(self._vr)
        if n < 2:
            return 0.0
        mean = self.ret_sum / n
        return math.sqrt(max(self.ret_sq_sum / n - mean * mean, 0.0))

    def breakout(self) -> tuple[Side, float] | None:
        """(side, distance beyond the channel) if the last close broke the prior N-bar high or low."""
        n = self.params.breakout_bars
        if len(self.closes) <= n:
            return None
        close = self.closes[-1]
        hi = max(self.highs[-n - 1 : -1])
        if close > hi:
            return Side.BUY, close - hi
        lo = min(self.lows[-n - 1 : -1])
        if close < lo:
            return Side.SELL, lo - close
        return None


def _push(window: list[float], x: float, size: int) -> float:
    """Append ``x`` to a rolling window of ``size``; returns the value that fell out (0.0 if none)."""
    window.append(x)
    if len(window) > size:
        return window.pop(0)
    return 0.0


class _Symbol:
    __slots__ = ("aggs", "series")

    def __init__(self, timeframes: tuple[int, ...], params: ScannerParams):
        self.series = {tf: Series(tf, params) for tf in timeframes}
        self.aggs = {tf: BarAggregator(tf) for tf in timeframes if tf > 1}


@dataclass(frozen=True, slots=True)
class Tradability:
    """What one trade may use at the current capital: its margin share and the leverage cap."""

    margin_share: Decimal
    leverage_cap: Decimal


class AssetScanner:
    """Keeps per-symbol statistics for every timeframe and turns breakouts into ranked candidates."""

    def __init__(self, instruments: dict[str, Instrument], params: ScannerParams):
        self.instruments = instruments
        self.params = params
        self._symbols: dict[str, _Symbol] = {}
        self.dropped: Counter[str] = Counter()
        self.signals = 0

    def series(self, symbol: str, timeframe: int) -> Series | None:
        st = self._symbols.get(symbol)
        return None if st is None else st.series.get(timeframe)

    def update(self, bar: Bar) -> list[tuple[Series, Side, float]]:
        """Fold one closed bar in; returns the breakouts it completed: (series, side, distance beyond)."""
        st = self._symbols.get(bar.symbol)
        if st is None:
            st = self._symbols[bar.symbol] = _Symbol(self.params.timeframes, self.params)
        out = []
        for tf, series in st.series.items():
            if bar.minutes == tf:
                done: tuple[Bar, ...] = (bar,)
            elif bar.minutes == 1:
                done = st.aggs[tf].update_all(bar)
                if not done:
                    continue
            else:  # e.g. 5m data cannot make 3m bars
                continue
            for b in done:
                series.add(b)
            hit = series.breakout()
            if hit is not None:
                out.append((series, hit[0], hit[1]))
        return out

    def candidates(
        self,
        breakouts: list[tuple[str, Series, Side, float]],
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

    def _drop_reason(
        self, symbol: str, series: Series, trade: Tradability, skip: set[str] | frozenset[str]
    ) -> str | None:
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

"""The placeholder entry rule: a Donchian breakout with ATR-scaled stop and target.

A deliberately simple rule behind a narrow interface (``EntryRule.on_bar(bar) -> Signal | None``) so the
decision pipeline of the next milestone (scanner, sizer, pre-trade simulator) can replace it. It makes no
claim of edge; the risk guard and the stop-loss on every order are what bound its losses.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from omni.domain.market import Bar
from omni.domain.orders import Side


@dataclass(frozen=True, slots=True)
class Signal:
    """An entry idea: side, reference price and stop/target distances in price units."""

    symbol: str
    side: Side
    price: float
    stop_distance: float
    take_profit_distance: float
    timeframe: int
    reason: str


class EntryRule(Protocol):
    def on_bar(self, bar: Bar) -> Signal | None: ...


class _State:
    __slots__ = ("highs", "lows", "prev_close", "tr", "tr_sum")

    def __init__(self, lookback: int, atr_bars: int):
        self.highs: deque[float] = deque(maxlen=lookback)
        self.lows: deque[float] = deque(maxlen=lookback)
        self.tr: deque[float] = deque(maxlen=atr_bars)
        self.tr_sum = 0.0
        self.prev_close = 0.0


class BreakoutRule:
    """Long when a close breaks the highest high of the last ``lookback`` bars, short on the lowest low."""

    def __init__(self, lookback: int, atr_bars: int, stop_atr: float, take_profit_atr: float, timeframe: int):
        self.lookback = lookback
        self.atr_bars = atr_bars
        self.stop_atr = stop_atr
        self.take_profit_atr = take_profit_atr
        self.timeframe = timeframe
        self._state: dict[str, _State] = {}

    def on_bar(self, bar: Bar) -> Signal | None:
        st = self._state.get(bar.symbol)
        if st is None:
            st = self._state[bar.symbol] = _State(self.lookback, self.atr_bars)
            st.prev_close = bar.close
        tr = max(bar.high, st.prev_close) - min(bar.low, st.prev_close)
        if len(st.tr) == st.tr.maxlen:
            st.tr_sum -= st.tr[0]
        st.tr.append(tr)
        st.tr_sum += tr
        st.prev_close = bar.close
        signal = None
        if len(st.highs) == self.lookback and len(st.tr) == self.atr_bars:
            atr = st.tr_sum / self.atr_bars
            if atr > 0:
                if bar.close > max(st.highs):
                    signal = Signal(
                        bar.symbol,
                        Side.BUY,
                        bar.close,
                        atr * self.stop_atr,
                        atr * self.take_profit_atr,
                        self.timeframe,
                        f"close above {self.lookback}-bar high",
                    )
                elif bar.close < min(st.lows):
                    signal = Signal(
                        bar.symbol,
                        Side.SELL,
                        bar.close,
                        atr * self.stop_atr,
                        atr * self.take_profit_atr,
                        self.timeframe,
                        f"close below {self.lookback}-bar low",
                    )
        st.highs.append(bar.high)
        st.lows.append(bar.low)
        return signal

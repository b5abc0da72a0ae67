"""Counterfactual outcomes: what every forecast order would have done, taken or not.

Every candidate the pre-trade simulator gave a forecast (approved, vetoed or refused by the guard) is followed
from its decision on with the bars that arrive *later*: the exact order's entry (the signal bar's close moved
by the slippage), stop-loss, take-profit and liquidation prices, the time stop after ``max_hold_bars`` bars of
its timeframe, fees and the funding actually settled while it is open, judged bar by bar with the exchange's
intrabar rule (``omni.exchange.intrabar``) on the venue's own bars, exactly as the matching engine and the
trader do for a real position. An outcome is known only once its exit bar has closed, and nothing here is read
by any decision: the tracker is fed after the decisions of a batch are taken, its results go to reports (and to
the walk-forward recalibration, which only uses outcomes resolved before the fold it serves).
Floats: this is statistics, not accounting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from omni.domain.market import MINUTE_MS, Bar, Funding
from omni.exchange.intrabar import LIQUIDATION, STOP_LOSS, TAKE_PROFIT, adverse_hit, favourable_hit, slip

EXIT_NAMES = {LIQUIDATION: "Liquidation", STOP_LOSS: "StopLoss", TAKE_PROFIT: "TakeProfit", 4: "TimeStop"}


@dataclass(slots=True)
class Forecast:
    """One forecast and, once resolved, the outcome its order had."""

    ts: int  # decision time (the signal bar's close)
    symbol: str
    timeframe: int
    long: bool
    verdict: str
    client_id: str
    p: float  # the simulator's raw win probability
    p_cal: float  # after the walk-forward recalibration (== p when it is off)
    ev: float
    ev_lower: float
    n_eff: float
    # the order
    entry: float
    stop_loss: float
    take_profit: float
    liq: float
    qty: float
    margin: float
    deadline: int  # market time of the time stop
    tick: float = 0.0  # the symbol's tick: fills are rounded to it against the taker, as the venue does
    # the outcome (exit_ts 0 until resolved)
    net: float = 0.0
    exit: str = ""
    exit_ts: int = 0
    funding: float = field(default=0.0)

    @property
    def win(self) -> bool:
        return self.net > 0


def fill(buy: bool, price: float, slippage: float, low: float, high: float, tick: float) -> float:
    """A taker's fill as the venue makes it (``omni.exchange.rules.slipped_price`` on floats): moved by the
    slippage, kept inside the bar, rounded to the tick against the taker (no rounding when ``tick`` is 0)."""
    p = slip(buy, price, slippage, low, high)
    if tick <= 0:
        return p
    if buy:
        return math.ceil(p / tick - 1e-9) * tick
    return max(math.floor(p / tick + 1e-9) * tick, tick)


class OutcomeTracker:
    """Follows open forecasts on later bars; ``resolved`` collects them in the order they finish."""

    def __init__(self, taker_fee: float, slippage: float, max_hold_bars: int):
        self.fee = taker_fee
        self.slippage = slippage
        self.max_hold_bars = max_hold_bars
        self.open: dict[str, list[Forecast]] = {}
        self.resolved: list[Forecast] = []
        self.fresh: list[Forecast] = []  # resolved since the shell last took them (to journal them)
        self.tracked = 0
        self.last_close: dict[str, float] = {}  # per symbol with open forecasts: the mark for their funding
        self.keep = 500_000  # resolved outcomes kept in memory (the oldest are dropped beyond)

    def track(self, f: Forecast) -> None:
        self.open.setdefault(f.symbol, []).append(f)
        self.tracked += 1

    def on_funding(self, ev: Funding) -> None:
        """A settlement: every open forecast of the symbol decided before it pays size x last close x rate."""
        pending = self.open.get(ev.symbol)
        if not pending:
            return
        price = self.last_close.get(ev.symbol)
        for f in pending:
            if ev.ts > f.ts:
                f.funding += f.qty * (price or f.entry) * ev.rate * (1.0 if f.long else -1.0)

    def on_bar(self, bar: Bar) -> None:
        """One closed venue bar: step every open forecast of its symbol that was decided before it opened."""
        pending = self.open.get(bar.symbol)
        if not pending:
            return
        o, h, lo, c = bar.open, bar.high, bar.low, bar.close
        self.last_close[bar.symbol] = c
        close_ts = bar.ts + bar.minutes * MINUTE_MS
        keep = []
        for f in pending:
            if bar.ts < f.ts:  # a bar that opened before the decision (cannot happen in time order)
                keep.append(f)
                continue
            kind, trigger = adverse_hit(f.long, o, h, lo, f.stop_loss, f.liq)
            if kind == STOP_LOSS:
                self._exit(f, "StopLoss", fill(not f.long, trigger, self.slippage, lo, h, f.tick), close_ts)
            elif kind == LIQUIDATION:
                f.net = -f.margin - self.fee * f.qty * f.entry - f.funding
                f.exit, f.exit_ts = "Liquidation", close_ts
                self._done(f)
            else:
                tp = favourable_hit(f.long, o, h, lo, f.take_profit)
                if tp is not None:
                    self._exit(f, "TakeProfit", fill(not f.long, tp, self.slippage, lo, h, f.tick), close_ts)
                elif close_ts >= f.deadline:
                    self._exit(f, "TimeStop", fill(not f.long, c, self.slippage, lo, h, f.tick), close_ts)
                else:
                    keep.append(f)
        if keep:
            self.open[bar.symbol] = keep
        else:
            del self.open[bar.symbol]
            self.last_close.pop(bar.symbol, None)

    def _exit(self, f: Forecast, kind: str, price: float, ts: int) -> None:
        sign = 1.0 if f.long else -1.0
        f.net = f.qty * ((price - f.entry) * sign - self.fee * (f.entry + price)) - f.funding
        f.exit, f.exit_ts = kind, ts
        self._done(f)

    def _done(self, f: Forecast) -> None:
        self.resolved.append(f)
        self.fresh.append(f)
        if len(self.resolved) > self.keep + self.keep // 10:
            del self.resolved[: len(self.resolved) - self.keep]

    def resolved_before(self, ts: int) -> list[Forecast]:
        """Outcomes known at market time ``ts`` (their exit bar closed at or before it)."""
        return [f for f in self.resolved if f.exit_ts <= ts]

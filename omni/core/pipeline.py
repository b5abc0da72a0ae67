"""One pass per closed bar: entry rule -> sizing -> risk guard. Plain synchronous calls, no queues.

Returns a ``Decision`` (with its reason) whenever the rule had an idea; the shell logs it and sends the
approved order. Bars of symbols already in a position still update the rule's state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from omni.core.bars import BarAggregator
from omni.core.entry_rule import EntryRule, Signal
from omni.core.portfolio import Portfolio
from omni.core.risk import Approved, RiskGuard
from omni.core.sizing import NoTrade, SizingParams, size_entry
from omni.domain.instrument import Instrument
from omni.domain.market import Bar
from omni.domain.orders import OrderIntent


@dataclass(frozen=True, slots=True)
class Decision:
    symbol: str
    ts: int
    verdict: str  # "approved" | "refused" | "no_trade"
    reason: str
    detail: str
    signal: Signal
    intent: OrderIntent | None = None
    approved: Approved | None = None


class ClientIds:
    """Idempotent, unique order link ids: ``<run>-<seq>`` (Bybit allows 36 characters)."""

    def __init__(self, run_id: str):
        self.run_id = run_id[:24]
        self.seq = 0

    def next(self) -> str:
        self.seq += 1
        return f"{self.run_id}-{self.seq:07d}"


class DecisionPipeline:
    def __init__(
        self,
        instruments: dict[str, Instrument],
        rule: EntryRule,
        entry_timeframe: int,
        sizing: SizingParams,
        guard: RiskGuard,
        portfolio: Portfolio,
        client_ids: ClientIds,
    ):
        self.instruments = instruments
        self.rule = rule
        self.entry_timeframe = entry_timeframe
        self.sizing = sizing
        self.guard = guard
        self.portfolio = portfolio
        self.client_ids = client_ids
        self.entries_enabled = True
        self._agg: dict[str, BarAggregator] = {}

    def on_bar(self, bar: Bar, equity: Callable[[], Decimal], available: Callable[[], Decimal]) -> Decision | None:
        """Feed one closed 1m bar; returns a decision when the entry rule fired."""
        if self.entry_timeframe != 1:
            agg = self._agg.get(bar.symbol)
            if agg is None:
                agg = self._agg[bar.symbol] = BarAggregator(self.entry_timeframe)
            done = agg.update_all(bar)
            if not done:
                return None
            signal = None
            for bar in done:  # two bars finish at once when a gap ends a bucket: the rule sees both
                signal = self.rule.on_bar(bar)
        else:
            signal = self.rule.on_bar(bar)
        if signal is None or not self.entries_enabled or bar.symbol in self.portfolio.positions:
            return None
        now = bar.ts + bar.minutes * 60_000
        inst = self.instruments[bar.symbol]
        eq = equity()
        sized = size_entry(signal, inst, eq, available(), self.sizing, self.client_ids.next())
        if isinstance(sized, NoTrade):
            return Decision(bar.symbol, now, "no_trade", sized.reason, sized.detail, signal)
        verdict = self.guard.check(sized, inst, inst.round_price(signal.price), self.portfolio, eq)
        if isinstance(verdict, Approved):
            return Decision(bar.symbol, now, "approved", "ok", signal.reason, signal, sized, verdict)
        return Decision(bar.symbol, now, "refused", verdict.reason, verdict.detail, signal, sized)

"""The market task: the per-event hot path. Venue stream -> events into the ledger -> pipeline per bar ->
executor, as plain function calls; the only awaits are the venue's."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from omni.core.pipeline import DecisionPipeline
from omni.core.portfolio import Portfolio
from omni.core.risk import RiskGuard
from omni.domain.events import (
    CapitalTransfer,
    Event,
    Liquidated,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    StopRejected,
)
from omni.engine.executor import Executor
from omni.engine.journaling import JournalWriter, event_records, outcome_record
from omni.engine.telemetry import Telemetry
from omni.state import KillSwitchLatch
from omni.venues.base import Venue


class Trader:
    def __init__(
        self,
        venue: Venue,
        pipeline: DecisionPipeline,
        portfolio: Portfolio,
        guard: RiskGuard,
        executor: Executor,
        telemetry: Telemetry,
        log: Any,
        duration_ms: int | None = None,
        warmup_ms: int = 0,
    ):
        self.venue = venue
        self.pipeline = pipeline
        self.portfolio = portfolio
        self.guard = guard
        self.executor = executor
        self.telemetry = telemetry
        self.log = log
        self.duration_ms = duration_ms
        self.warmup_ms = warmup_ms  # market time that only warms the indicators up: no entries
        self.end_ts: int | None = None
        self._started = False
        self.first_ts: int | None = None  # the first batch's market time
        self.resume_after_ts: int | None = None  # a restarted sim: no entries before this market time
        self.latch: KillSwitchLatch | None = None
        self.journal: JournalWriter | None = None
        self._warm_until: int | None = None
        self.bars = 0
        self.market_ts = 0  # the newest batch time seen
        self.finished = False  # the market ended (data exhausted or --duration reached)
        self.kill_pending = False
        self.flatten_pending = False  # a kill-switch flatten left something open: the guard task retries
        self.pending_adjustment: Decimal | None = None  # a wallet difference the journal cannot explain (restart)
        self._risk_key: tuple[object, ...] | None = None
        #: time stop (strategy.max_hold_bars): symbol -> market time at which its position is closed at market,
        #: the decision time + max_hold_bars bars of the signal's timeframe (the rule the simulator replays)
        self.time_stops: dict[str, int] = {}
        self._time_stop_retry: dict[str, int] = {}  # symbol -> market time before which a refused one waits
        self._hold_ms: dict[str, int] = {}  # entries sent, not yet filled: their holding time

    async def run(self, stop: asyncio.Event) -> None:
        """Consume the venue stream until it ends, ``stop`` is set or the duration is reached. Safe to call
        again after a crash: it resumes where it was (duration, warm-up) after reconciling with the venue."""
        on_batch = self.pipeline.on_batch
        equity = self.venue.equity
        available = self.venue.available
        portfolio = self.portfolio
        if self._started:
            await self.reconcile()
        if self.pending_adjustment:
            now = self.venue.now_ms()
            amount, self.pending_adjustment = self.pending_adjustment, None
            await self.apply([CapitalTransfer(f"adjustment-{now}", amount, "Adjustment", now)])
        async for batch, events in self.venue.stream(stop):
            if not self._started:
                self._started = True
                self.first_ts = batch.ts
                if self.duration_ms is not None:
                    # market time from where this run starts: the open of its first bar, or for a resumed run (and
                    # a live venue, whose first batches may be history) the moment entries are allowed again
                    self.end_ts = (self.resume_after_ts or batch.ts - 60_000) + self.duration_ms
                portfolio.roll_day(batch.ts, equity())
                self.persist_risk()
                if self.warmup_ms or self.resume_after_ts:
                    self._warm_until = max(batch.ts + self.warmup_ms, self.resume_after_ts or 0)
                    self.pipeline.entries_enabled = False
            if batch.ts // 86_400_000 > portfolio.day:  # before this batch's fills are booked
                portfolio.roll_day(batch.ts, equity())
                self.persist_risk()
            if events:
                await self.apply(events)
            elif portfolio.positions:
                self.observe()
            if self.time_stops:
                await self.enforce_time_stops(batch.ts)
            if self.kill_pending:
                await self.trip()
            if self._warm_until is not None and batch.ts >= self._warm_until:
                self._warm_until = None
                self.pipeline.entries_enabled = not stop.is_set() and self.guard.kill_switch is None
                self.log.info("warmup_done", minutes=self.warmup_ms // 60_000, market_ts=batch.ts)
            self.bars += len(batch.bars)
            if batch.ts > self.market_ts:
                self.market_ts = batch.ts
            if batch.bars and batch.ts < self.market_ts - 60_000 and self.pipeline.entries_enabled:
                # a live venue's catch-up (bars filled in after a gap): history for the scanner, not a signal
                self.pipeline.entries_enabled = False
                decisions = on_batch(batch, equity, available)
                self.pipeline.entries_enabled = not stop.is_set() and self.guard.kill_switch is None
            else:
                decisions = on_batch(batch, equity, available)
            for decision in decisions:
                self.telemetry.decision(decision)
                if decision.approved is not None:
                    if stop.is_set() or not self.pipeline.entries_enabled:
                        # stopping (or the kill switch tripped) since this batch was decided: never sent
                        self.guard.settle(decision.approved.intent.symbol)
                        continue
                    hold_ms = self.pipeline.params.ghost.max_hold_bars * decision.candidate.timeframe * 60_000
                    self.set_time_stop(decision.symbol, decision.ts + hold_ms)
                    self._hold_ms[decision.symbol] = hold_ms  # re-anchored at the fill (see apply)
                    await self.apply(await self.executor.submit(decision.approved))
            outcomes = self.pipeline.outcomes
            if outcomes is not None and outcomes.fresh:
                fresh, outcomes.fresh = outcomes.fresh, []
                if self.journal is not None:
                    self.journal.add([outcome_record(f) for f in fresh])
            if self.end_ts is not None and batch.ts >= self.end_ts:
                self.finished = True
                return
            if stop.is_set():
                return
        self.finished = not stop.is_set()

    def set_time_stop(self, symbol: str, deadline: int | None) -> None:
        """Arm (or with None, clear) a symbol's time stop; journaled, so a restart keeps it."""
        self._time_stop_retry.pop(symbol, None)
        if deadline is None:
            self._hold_ms.pop(symbol, None)
            if self.time_stops.pop(symbol, None) is None:
                return
        else:
            self.time_stops[symbol] = deadline
        if self.journal is not None:
            self.journal.add([("meta", ("time_stops", json.dumps(self.time_stops)))])

    async def enforce_time_stops(self, now: int) -> None:
        """Close at market every position whose time stop has come (this batch's bars are already applied: a
        stop or take-profit inside the last bar wins, as in the simulator). A stop whose entry never became a
        position (rejected, cancelled, closed) is dropped once nothing is pending for the symbol."""
        positions = self.portfolio.positions
        held: dict[str, Any] | None = None
        for symbol, deadline in list(self.time_stops.items()):
            pos = positions.get(symbol)
            if pos is None:
                if symbol not in self.guard.pending:
                    self.set_time_stop(symbol, None)
                continue
            if now < deadline or now < self._time_stop_retry.get(symbol, 0):
                continue
            if held is None:
                held = await self.venue.positions()
            if symbol not in held:
                # the venue already saw it go flat (a stop or take-profit filled; its events are on their way to
                # the ledger): no close to send, the PositionChanged clears the time stop
                continue
            events = await self.executor.close(symbol, pos)
            # accepted or refused, the next try is a market minute later at the soonest: a live fill takes a while
            # to come back, and a refused close (110017: already flat, its fill not booked yet) must not repeat on
            # every batch. A position that went flat clears its time stop with its PositionChanged.
            self._time_stop_retry[symbol] = now + 60_000
            rejected = [e for e in events if isinstance(e, OrderRejected)]
            if not rejected:
                trade = self.portfolio.open_trades.get(symbol)
                if trade is not None:
                    trade.exit_reason = "TimeStop"
                self.log.info("time_stop", symbol=symbol, deadline_ts=deadline, market_ts=now)
            else:
                self.log.info("time_stop_refused", symbol=symbol, code=rejected[0].code, market_ts=now)
            await self.apply(events)

    async def reconcile(self) -> None:
        """Make the ledger's open positions match the venue's (after a crash in the middle of a batch)."""
        venue_positions = await self.venue.positions()
        mine = self.portfolio.positions
        if venue_positions != mine:
            self.log.warning("reconciled_positions", venue=sorted(venue_positions), ledger=sorted(mine))
            mine.clear()
            mine.update(venue_positions)
            for symbol, pos in venue_positions.items():
                self.portfolio.adopt(symbol, pos.side, pos.opened_ts or self.venue.now_ms())
        for pos in venue_positions.values():
            if pos.stop_loss is None:
                await self.apply(await self.executor.protect(pos))

    async def apply(self, events: list[Event]) -> None:
        """Fold venue events into the ledger, log them, and keep every position protected."""
        portfolio = self.portfolio
        unprotected = []
        journal = self.journal
        for ev in events:
            self.telemetry.event(ev)
            if journal is not None:
                journal.add(event_records(ev))
            closed = portfolio.apply(ev)
            if closed is not None:
                self.telemetry.trade_closed(closed)
            kind = type(ev)
            if kind is OrderFilled or kind is Liquidated:
                if ev.fill.closed_qty > 0 and ev.fill.symbol in self.guard.pending:
                    # a close for a symbol whose entry is still pending: the position opened and closed while
                    # its position pushes were lost (a private-stream gap); without this its slot stays taken
                    self.guard.settle(ev.fill.symbol)
            elif kind is PositionChanged:
                if ev.position is not None:
                    # the pending entry became a position; a flat push (e.g. Bybit's after set-leverage, before
                    # the fill) does not free its slot, or max_concurrent could be exceeded on the exchange
                    self.guard.settle(ev.symbol)
                    hold = self._hold_ms.pop(ev.symbol, None)
                    if hold is not None and ev.symbol in self.time_stops:
                        # held for max_hold_bars from the fill: the decision time in the sim, later on a live venue
                        # whose fill (or whose report of it) came late
                        self.set_time_stop(ev.symbol, max(self.time_stops[ev.symbol], ev.ts + hold))
                if ev.position is not None and ev.position.stop_loss is None:
                    unprotected.append(ev.position)
                elif ev.position is None:
                    self.executor.planned_stop.pop(ev.symbol, None)
                    if ev.symbol not in self.guard.pending:
                        self.set_time_stop(ev.symbol, None)
            elif kind is OrderRejected or kind is StopRejected:
                self.guard.settle(ev.symbol)
            elif kind is OrderCancelled and not ev.order.reduce_only:
                # an entry the exchange cancelled unfilled (or a pending one found cancelled by a resync):
                # its slot is free again, or the daemon would count it against max_concurrent forever
                self.guard.settle(ev.order.symbol)
        for pos in unprotected:
            if pos.symbol in portfolio.positions and portfolio.positions[pos.symbol].stop_loss is None:
                await self.apply(await self.executor.protect(pos))
        if events:
            self.observe()

    def observe(self) -> None:
        """Update drawdown and check the account limits with unrealised PnL included."""
        equity = self.venue.equity()
        self.portfolio.observe_equity(equity)
        reason = self.guard.observe(self.portfolio, equity)
        if reason is not None:
            self.log.error("kill_switch", reason=reason, equity=equity)
            self.kill_pending = True
        self.persist_risk()

    def persist_risk(self) -> None:
        """Journal the risk baselines when they change (day, its starting equity, peak, drawdown, trades today):
        a restart restores them, so a crash never resets the daily loss or the drawdown from peak."""
        if self.journal is None:
            return
        state = self.portfolio.risk_state()
        key = tuple(state.values())
        if key == self._risk_key:
            return
        self._risk_key = key
        state["venue"] = self.venue.name
        self.journal.add([("meta", ("risk_state", json.dumps(state)))])

    async def trip(self) -> None:
        """Kill switch: "no new entries" first (in memory, nothing can fail there), then the latch on disk and the
        journal (a failure there is logged, never stops what follows), then flatten until flat. A flatten that
        leaves anything open is retried by the guard task (``flatten_pending``)."""
        self.kill_pending = False
        self.pipeline.entries_enabled = False
        reason = self.guard.kill_switch
        if reason is not None:
            if self.latch is not None:
                try:
                    self.latch.trip(reason, self.venue.now_ms())
                except Exception as e:  # the disk may be full or read-only: flatten anyway
                    self.log.error("kill_switch_latch_failed", error=repr(e), latch=str(self.latch.path))
            if self.journal is not None:
                self.journal.add(
                    [
                        ("risk", (self.venue.now_ms(), "kill_switch", reason)),
                        ("meta", ("kill_switch", json.dumps(reason))),
                    ]
                )
        await self.reflatten()

    async def reflatten(self) -> None:
        """One flatten (rounds of cancel-all, closes and re-checks); ``flatten_pending`` stays set while the venue
        still holds positions or orders, so the guard task tries again."""
        self.flatten_pending = True
        try:
            await self.apply(await self.executor.flatten())
            flat = not await self.venue.positions() and not await self.venue.open_orders()
        except Exception as e:
            self.log.error("kill_switch_flatten_failed", error=repr(e))
            return
        self.flatten_pending = not flat

"""The executor: the only path from the core to a venue's order entry.

It takes ``Approved`` orders only (made by the risk guard), sets leverage first when asked, and keeps the
promise that every position has a stop-loss resting on the exchange: a position seen without one gets the
planned stop, and if the venue refuses that stop the position is closed at market at once.

``flatten`` (kill switch, shutdown) keeps going whatever fails: cancel-all repeated until the venue lists no
open order (Bybit cancels at most 500 per call), reduce-only market (IOC) closes with deterministic
orderLinkIds (110017, "reduce-only rule not satisfied", means already flat), a re-check after the venue settled,
up to ``attempts`` rounds; then ``flatten_incomplete`` is logged at error level and the caller retries later.
"""

from __future__ import annotations

import asyncio
import hashlib
from decimal import Decimal
from typing import Any

from omni.core.pipeline import ClientIds
from omni.core.portfolio import Portfolio
from omni.core.risk import Approved, RiskGuard
from omni.domain.events import Event, OrderRejected, StopRejected
from omni.domain.orders import Order, OrderIntent, Position, Side, TriggerBy
from omni.engine.journaling import JournalWriter
from omni.exchange import rules
from omni.venues.base import Venue


class Executor:
    def __init__(
        self,
        venue: Venue,
        guard: RiskGuard,
        portfolio: Portfolio,
        client_ids: ClientIds,
        log: Any,
        max_loss_per_trade: Decimal,
        stop_trigger: TriggerBy = TriggerBy.MARK_PRICE,
    ):
        self.venue = venue
        self.guard = guard
        self.portfolio = portfolio
        self.client_ids = client_ids
        self.log = log
        self.max_loss_per_trade = max_loss_per_trade
        self.stop_trigger = stop_trigger  # what a stop set after the fact triggers on (config risk.stop_trigger)
        self.planned_stop: dict[str, Decimal] = {}
        self._leverage: dict[str, Decimal] = {}  # last leverage the venue accepted, per symbol
        self.journal: JournalWriter | None = None
        self.flattens = 0  # flatten rounds started this run: part of their closes' deterministic link ids
        self.cancel_rounds = 5
        self.cancel_pause_s = 0.2  # Bybit's cancel-all acknowledges before it is done

    async def submit(self, approved: Approved) -> list[Event]:
        """Send an approved order. Anything else is a programming error."""
        if not isinstance(approved, Approved):
            raise TypeError(f"executor accepts only risk-approved orders, got {type(approved).__name__}")
        intent = approved.intent
        if not intent.reduce_only and self.guard.kill_switch is not None:
            # approved before the kill switch tripped (e.g. earlier in the same batch): stale, never sent
            self.guard.settle(intent.symbol)
            self.log.warning("entry_dropped_kill_switch", symbol=intent.symbol, client_id=intent.client_id)
            return []
        lev = intent.leverage
        if lev is not None and not intent.reduce_only and self._leverage.get(intent.symbol) != lev:
            reject = await self.venue.set_leverage(intent.symbol, lev)
            if reject is not None and reject.code != rules.LEVERAGE_NOT_MODIFIED:
                self.guard.settle(intent.symbol)
                return [
                    OrderRejected(intent.client_id, intent.symbol, reject.code, reject.message, self.venue.now_ms())
                ]
            self._leverage[intent.symbol] = lev
        if intent.stop_loss is not None:
            self.planned_stop[intent.symbol] = intent.stop_loss
        if self.journal is not None:  # the link id is on disk before the order can exist on the venue
            try:
                await self.journal.record_intent(intent, self.venue.now_ms())
            except Exception as e:
                if not intent.reduce_only:  # no new risk without a record of it
                    self.guard.settle(intent.symbol)
                    self.log.error("entry_refused_journal_unavailable", symbol=intent.symbol, error=repr(e))
                    return [
                        OrderRejected(
                            intent.client_id, intent.symbol, -1, f"journal unavailable: {e}", self.venue.now_ms()
                        )
                    ]
                # a close reduces risk: send it anyway; the record stays pending in memory
                self.log.error("close_sent_journal_unavailable", symbol=intent.symbol, error=repr(e))
        events = await self.venue.place(intent)
        if any(isinstance(e, OrderRejected) for e in events):
            self.guard.settle(intent.symbol)
            self.planned_stop.pop(intent.symbol, None)
        return events

    async def close(self, symbol: str, pos: Position, client_id: str | None = None) -> list[Event]:
        """Close a position at market (reduce-only, through the guard like every order)."""
        cid = client_id or self.client_ids.next()
        intent = OrderIntent(cid, symbol, pos.side.opposite, pos.size, reduce_only=True)
        verdict = self.guard.check(
            intent, self.venue.instruments[symbol], pos.entry_price, self.portfolio, self.venue.equity()
        )
        assert isinstance(verdict, Approved)  # reduce-only orders are always approved
        return await self.submit(verdict)

    async def protect(self, pos: Position) -> list[Event]:
        """Give a position without a stop-loss one; close it if the venue refuses the stop."""
        if pos.stop_loss is not None:
            return []
        inst = self.venue.instruments[pos.symbol]
        sl = self.planned_stop.get(pos.symbol)
        if sl is None:  # unknown position: stop at the per-trade loss limit
            dist = self.max_loss_per_trade / pos.size
            sl = (
                inst.price_down(pos.entry_price - dist)
                if pos.side is Side.BUY
                else inst.price_up(pos.entry_price + dist)
            )
        self.log.warning("stop_missing", symbol=pos.symbol, side=pos.side, size=pos.size, stop_loss=sl)
        events = await self.venue.set_trading_stop(pos.symbol, stop_loss=sl, trigger=self.stop_trigger)
        if any(isinstance(e, StopRejected) for e in events):
            self.log.error("stop_refused_closing", symbol=pos.symbol)
            events += await self.close(pos.symbol, pos)
        return events

    async def flatten(self, attempts: int = 3, settle_s: float = 2.0) -> list[Event]:
        """Cancel every order and close every position, and check it worked: up to ``attempts`` rounds, each
        ending with the venue settled (``settle_s``: fills arrive, Bybit is re-read by REST). Never raises for
        a venue error: what failed is logged and the next round tries again. Returns the events seen."""
        self.flattens += 1
        events: list[Event] = []
        positions: dict[str, Position] = {}
        left: list[Order] = []
        for attempt in range(1, attempts + 1):
            events += await self._cancel_until_none_open()
            # fills and position reports already received (queued while the market task lagged) first: the
            # positions read next are then the ones the exchange reported, not a view missing the latest entries
            events += self.venue.account_events()
            try:
                positions = await self.venue.positions()
            except Exception as e:
                self.log.error("flatten_positions_unreadable", attempt=attempt, error=repr(e))
                positions = dict(self.portfolio.positions)
            for symbol, pos in positions.items():
                cid = self.flatten_id(symbol, attempt)
                try:
                    closed = await self.close(symbol, pos, client_id=cid)
                except Exception as e:
                    self.log.error("flatten_close_failed", symbol=symbol, client_id=cid, error=repr(e))
                    continue
                for ev in closed:
                    if isinstance(ev, OrderRejected) and ev.code == rules.REDUCE_ONLY_RULE:
                        self.log.info("flatten_already_flat", symbol=symbol, client_id=cid)
                    elif isinstance(ev, OrderRejected):
                        self.log.error("flatten_close_rejected", symbol=symbol, code=ev.code, message=ev.message)
                events += closed
            try:
                events += await self.venue.settle(settle_s)
                positions = await self.venue.positions()
                left = await self.venue.open_orders()
            except Exception as e:
                self.log.error("flatten_recheck_failed", attempt=attempt, error=repr(e))
                continue
            if not positions and not left:
                return events
        self.log.error(
            "flatten_incomplete",
            attempts=attempts,
            open_positions=sorted(positions),
            open_orders=len(left),
            hint="the exchange still holds these; OMNI keeps retrying, check the account by hand",
        )
        return events

    async def _cancel_until_none_open(self) -> list[Event]:
        """cancel-all until the venue lists no open order (it cancels at most 500 per call on Bybit)."""
        events: list[Event] = []
        left: list[Order] = []
        for n in range(1, self.cancel_rounds + 1):
            try:
                events += await self.venue.cancel_all()
                left = await self.venue.open_orders()
            except Exception as e:
                self.log.error("cancel_all_failed", round=n, error=repr(e))
                left = []
                continue
            if not left:
                return events
            self.log.warning("cancel_all_left_orders", round=n, open_orders=len(left))
            await asyncio.sleep(self.cancel_pause_s * n)
        if left:
            self.log.error("cancel_all_incomplete", open_orders=len(left))
        return events

    def flatten_id(self, symbol: str, attempt: int) -> str:
        """The close's orderLinkId for ``symbol`` in this flatten round and attempt: the same on every retry of
        the same request, so a retry meets 110072 (duplicate) instead of closing twice (Bybit: at most 36 characters
        of A-Z a-z 0-9 _ -)."""
        head = f"{self.client_ids.run_id}-x{self.flattens}_{attempt}-"
        tail = symbol if len(head) + len(symbol) <= 36 else hashlib.sha1(symbol.encode()).hexdigest()[:8]
        return (head + tail)[:36]

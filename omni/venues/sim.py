"""SimVenue: the embedded exchange = exchange.matching + a market source + a virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal

from omni.clock import VirtualClock, monotonic
from omni.domain.events import Event
from omni.domain.instrument import Instrument
from omni.domain.market import MarketBatch
from omni.domain.orders import Order, OrderIntent, Position, TriggerBy
from omni.exchange.matching import MatchingEngine
from omni.exchange.rules import Reject

_NO_EVENTS: list[Event] = []  # shared and never mutated: most batches cause no events


class SimVenue:
    """A local Bybit-like exchange fed by a synthetic or recorded market at any speed.

    ``speed`` is market seconds per wall second; ``None`` runs as fast as the CPU allows, handing control to
    the event loop every ``yield_every`` batches so signals and telemetry still run. The first
    ``warmup_ms`` of market time are never paced: indicators warm up at once instead of keeping a live
    viewer waiting (the engine takes no entries during warm-up).
    """

    name = "sim"

    def __init__(
        self,
        source: Iterable[MarketBatch],
        matching: MatchingEngine,
        clock: VirtualClock,
        speed: float | None = None,
        yield_every: int = 64,
        warmup_ms: int = 0,
        resume_after_ts: int | None = None,
    ):
        self.matching = matching
        self.instruments: dict[str, Instrument] = matching.instruments
        self.clock = clock
        self.speed = speed
        self.yield_every = yield_every
        self.warmup_ms = warmup_ms
        #: a restart: batches up to this market time already happened (the account was restored from the
        #: journal); they are replayed to the decision core for history, but not matched again
        self.resume_after_ts = resume_after_ts
        self._source = iter(source)

    async def stream(self, stop: asyncio.Event) -> AsyncIterator[tuple[MarketBatch, list[Event]]]:
        on_bar = self.matching.on_bar
        holds, set_mark = self.matching.holds, self.matching.set_mark_bar
        # a replay with recorded mark-price bars: liquidation triggers on them (looked up only for open positions)
        mark_of = getattr(self._source, "mark_bar", None) if getattr(self._source, "mark", None) else None
        on_funding = self.matching.on_funding
        clock = self.clock
        speed = self.speed
        yield_every = self.yield_every
        wall0 = ts0 = None
        n = 0
        warm_until: int | None = None
        if stop.is_set():
            return
        for batch in self._source:
            if warm_until is None:
                warm_until = max(batch.ts + self.warmup_ms, self.resume_after_ts or 0)
            if speed is not None and batch.ts >= warm_until:
                if wall0 is None:
                    wall0, ts0 = monotonic(), batch.ts
                delay = wall0 + (batch.ts - ts0) / 1000.0 / speed - monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                        return
                    except TimeoutError:
                        pass
                elif stop.is_set():
                    return
            else:  # unpaced: warm-up, or max speed
                n += 1
                if n == yield_every:
                    # the only point where other tasks (signals, telemetry) run when unpaced
                    n = 0
                    await asyncio.sleep(0)
                    if stop.is_set():
                        return
            clock.advance_to(batch.ts)
            if self.resume_after_ts is not None and batch.ts <= self.resume_after_ts:
                yield batch, _NO_EVENTS
                continue
            events: list[Event] = _NO_EVENTS
            for bar in batch.bars:
                if mark_of is not None and holds(bar.symbol):
                    mark = mark_of(bar.symbol, bar.ts)
                    if mark is not None:
                        set_mark(bar.symbol, *mark)
                ev = on_bar(bar)
                if ev:
                    events = events + ev if events else list(ev)
            if batch.fundings:
                for funding in batch.fundings:
                    ev = on_funding(funding)
                    if ev:
                        events = events + ev if events else list(ev)
            yield batch, events

    async def place(self, intent: OrderIntent) -> list[Event]:
        return self.matching.place(intent, self.clock.now_ms())

    async def cancel_all(self) -> list[Event]:
        return self.matching.cancel_all(self.clock.now_ms())

    async def open_orders(self) -> list[Order]:
        return self.matching.open_orders()

    async def set_leverage(self, symbol: str, leverage: Decimal) -> Reject | None:
        return self.matching.set_leverage(symbol, leverage)

    async def set_trading_stop(
        self,
        symbol: str,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
        trigger: TriggerBy | None = None,
    ) -> list[Event]:
        return self.matching.set_trading_stop(
            symbol, self.clock.now_ms(), take_profit, stop_loss, tp_trigger=trigger, sl_trigger=trigger
        )

    async def positions(self) -> dict[str, Position]:
        return self.matching.positions()

    def last_price(self, symbol: str) -> Decimal | None:
        return self.matching.last_price(symbol)

    def balance(self) -> Decimal:
        return self.matching.balance

    def available(self) -> Decimal:
        return self.matching.available

    def equity(self) -> Decimal:
        return self.matching.equity()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def account_events(self) -> list[Event]:
        """Nothing waits on the sim: every event was returned when it happened."""
        return []

    async def settle(self, timeout_s: float = 0.0) -> list[Event]:
        """Nothing is in flight on the sim: every fill was returned when it happened."""
        return []

    async def close(self) -> None:
        return None

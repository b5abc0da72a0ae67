"""Events -> journal records, and the writer task that keeps SQLite off the hot path.

The hot path only appends records to a list; a supervised task flushes them in a worker thread every
``flush_s`` (and at shutdown). Order intents are the exception: ``record_intent`` is awaited before the order
is sent, so after a crash the journal always knows every orderLinkId that might exist on the venue. On the sim
venue (``durable_intents`` False) the exchange lives in this process and a restart rebuilds its account from this
journal: an order can exist only where its intent does, so the intent waits for the next flush in order, ahead
of its fills (a backtest no longer waits for a disk write per order).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from omni.core.outcomes import Forecast
from omni.core.pipeline import Decision
from omni.domain.events import (
    CapitalTransfer,
    Event,
    FundingPaid,
    Liquidated,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PositionChanged,
)
from omni.domain.orders import Fill, OrderIntent
from omni.journal import Journal

Record = tuple[str, tuple[Any, ...]]


def _s(x: object) -> str | None:
    return None if x is None else str(x)


def fill_record(f: Fill) -> Record:
    return (
        "fill",
        (
            f.exec_id,
            f.order_id,
            f.client_id,
            f.symbol,
            f.side.value,
            str(f.qty),
            str(f.price),
            str(f.fee),
            str(f.fee_rate),
            int(f.is_maker),
            f.exec_type.value,
            str(f.realised_pnl),
            str(f.closed_qty),
            f.stop_kind.value if f.stop_kind else None,
            f.ts,
        ),
    )


def event_records(ev: Event) -> list[Record]:
    kind = type(ev)
    if kind is OrderFilled:
        f = ev.fill  # type: ignore[union-attr]
        out = [fill_record(f)]
        if f.client_id:
            out.append(("order_status", (f.order_id, "Filled", None, f.ts, f.client_id)))
        return out
    if kind is FundingPaid or kind is Liquidated:
        return [fill_record(ev.fill)]  # type: ignore[union-attr]
    if kind is CapitalTransfer:
        return [("transfer", (ev.transfer_id, ev.ts, ev.kind, str(ev.amount)))]  # type: ignore[union-attr]
    if kind is OrderAccepted:
        o = ev.order  # type: ignore[union-attr]
        return [("order_status", (o.order_id, "New", None, ev.ts, o.client_id))] if o.client_id else []  # type: ignore[union-attr]
    if kind is OrderRejected:
        return [("order_status", (None, "Rejected", f"{ev.code} {ev.message}", ev.ts, ev.client_id))]  # type: ignore[union-attr]
    if kind is OrderCancelled:
        o = ev.order  # type: ignore[union-attr]
        return [("order_status", (o.order_id, "Cancelled", ev.reason, ev.ts, o.client_id))] if o.client_id else []  # type: ignore[union-attr]
    if kind is PositionChanged:
        p = ev.position  # type: ignore[union-attr]
        if p is None:
            return [("position", (ev.symbol, None, "0", None, None, None, None, None, None, ev.ts))]  # type: ignore[union-attr]
        return [
            (
                "position",
                (
                    ev.symbol,
                    p.side.value,
                    str(p.size),
                    str(p.entry_price),
                    str(p.leverage),  # type: ignore[union-attr]
                    str(p.margin),
                    str(p.liq_price),
                    _s(p.take_profit),
                    _s(p.stop_loss),
                    ev.ts,
                ),
            )
        ]  # type: ignore[union-attr]
    return []


def decision_record(d: Decision) -> Record:
    e = d.estimate
    i = d.intent
    return (
        "decision",
        (
            d.ts,
            d.symbol,
            d.verdict,
            d.reason,
            i.client_id if i else None,
            e.p if e else None,
            e.ev if e else None,
            e.ev_lower if e else None,
            e.n if e else None,
            d.detail,
        ),
    )


def outcome_record(f: Forecast) -> Record:
    side = "Buy" if f.long else "Sell"
    return (
        "outcome",
        (f.ts, f.symbol, f.timeframe, side, f.verdict, f.client_id, f.p, f.p_cal, f.ev, f.ev_lower, f.n_eff, f.net,
         f.exit, f.exit_ts),
    )  # fmt: skip


def intent_record(intent: OrderIntent, ts: int) -> Record:
    return (
        "order_intent",
        (
            intent.client_id,
            intent.symbol,
            intent.side.value,
            str(intent.qty),
            intent.order_type.value,
            _s(intent.price),
            int(intent.reduce_only),
            _s(intent.take_profit),
            _s(intent.stop_loss),
            _s(intent.leverage),
            ts,
            ts,
        ),
    )


#: on the sim, an order's intent flushes the queue once this many records wait (memory stays bounded)
QUEUED_FLUSH = 5000


class JournalWriter:
    """Buffers records from the hot path and writes them in a worker thread (one writer, WAL)."""

    def __init__(
        self, journal: Journal, log: Any, flush_s: float = 0.5, clock: Any = None, durable_intents: bool = True
    ):
        self.journal = journal
        self.durable_intents = durable_intents
        self.log = log
        self.clock = clock  # market time: stored with every flush, so a restart knows where the journal ends
        self.flush_s = flush_s
        self.pending: list[Record] = []
        self.written = 0
        self.error: Exception | None = None  # the last flush's failure, None once one succeeds
        self._lock = asyncio.Lock()  # one flush at a time: SQLite has one writer

    def add(self, records: list[Record]) -> None:
        if records:
            self.pending.extend(records)

    async def flush(self) -> None:
        async with self._lock:
            if not self.pending:
                return
            if self.clock is not None:
                self.pending.append(("meta", ("market_ts", json.dumps(self.clock()))))
            batch, self.pending = self.pending, []
            try:
                await asyncio.to_thread(self.journal.write, batch)
                self.written += len(batch)
                self.error = None
            except Exception as e:
                self.pending[:0] = batch  # kept for the next attempt, never dropped
                self.error = e
                raise

    async def read(self, fn: Any) -> Any:
        """Flush, then run ``fn(journal)`` in the writer's thread while no write can interleave."""
        await self.flush()
        async with self._lock:
            return await asyncio.to_thread(fn, self.journal)

    async def record_intent(self, intent: OrderIntent, ts: int) -> None:
        """Durably write an order's link id before it is sent (and flush what came before it, in order). With
        ``durable_intents`` off (the in-process sim) it is queued, ahead of anything the order causes, and written
        with the next flush (at once when ``QUEUED_FLUSH`` records wait); it raises as a failed write would while
        the last flush failed, so no entry is sent while the journal is known to be unwritable."""
        self.pending.append(intent_record(intent, ts))
        if self.durable_intents or len(self.pending) >= QUEUED_FLUSH:
            await self.flush()
        elif self.error is not None:
            raise self.error

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.flush_s)
            await self.flush()

    def snapshot(self, summary: dict[str, Any], ts: int) -> None:
        self.pending.append(("meta", ("summary", json.dumps(summary, default=str))))
        self.pending.append(("equity", (ts, str(summary["capital"]), str(summary["equity"]))))

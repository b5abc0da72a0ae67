"""At exit the ledger's last word is the exchange's, fills included: the final resync of a live venue counts only
the journal's execIds as booked and re-reads the last hour, so fills the stopped market task had taken from the
stream but never booked are handed out again and journaled."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from types import SimpleNamespace

from omni.domain.orders import ExecType, Fill, Side
from omni.engine.journaling import JournalWriter, fill_record
from omni.engine.supervisor import FINAL_REREAD_MS, Supervisor
from omni.journal import Journal

NOW = 1_796_048_400_000


class Log:
    def __getattr__(self, level):
        return lambda event, **kw: None


def fill(exec_id: str, ts: int) -> Fill:
    return Fill(exec_id, "o", "c", "BTCUSDT", Side.BUY, D("0.01"), D(20000), D("0.11"), D("0.00055"), False,
                ExecType.TRADE, D(0), ts)  # fmt: skip


class Venue:
    def __init__(self):
        self.seen_exec = {"booked", "seen-not-booked"}
        self.exec_since_ms = NOW - 60_000
        self.settled_with: set[str] | None = None

    def forget_unbooked(self, booked, since_ms):
        self.seen_exec = set(booked)
        self.exec_since_ms = min(self.exec_since_ms, since_ms)

    def now_ms(self):
        return NOW

    async def settle(self, timeout_s):
        self.settled_with = set(self.seen_exec)
        return []

    async def positions(self):
        return {}


def test_the_final_resync_forgets_what_the_journal_never_booked(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.write([fill_record(fill("booked", NOW - 120_000)), fill_record(fill("old", NOW - 3 * FINAL_REREAD_MS))])
    writer = JournalWriter(journal, Log())
    venue = Venue()
    applied = []

    async def apply(events):
        applied.extend(events)

    asm = SimpleNamespace(
        venue=venue,
        journal=writer,
        trader=SimpleNamespace(apply=apply),
        portfolio=SimpleNamespace(positions={}),
        cfg=SimpleNamespace(engine=SimpleNamespace(shutdown_timeout_s=4.0)),
    )
    asyncio.run(Supervisor(asm, Log())._final_reconcile())  # type: ignore[arg-type]
    assert venue.settled_with == {"booked"}  # "seen-not-booked" is read again; the old fill is outside the window
    assert venue.exec_since_ms == NOW - FINAL_REREAD_MS


def _execution(exec_id: str, ts: int) -> dict:
    return {"execId": exec_id, "orderId": "o5", "orderLinkId": "", "symbol": "BTCUSDT", "side": "Buy",
            "execQty": "0.001", "execPrice": "99312.2", "execFee": "0.05462171", "feeRate": "0.00055",
            "isMaker": False, "execType": "Trade", "execPnl": "-0.2824", "execTime": str(ts), "closedSize": "0.001",
            "stopOrderType": "StopLoss"}  # fmt: skip


def test_a_fill_made_but_not_yet_handed_out_is_not_handed_out_twice(tmp_path):
    """A resync after a reconnect made the closing fill's event, then the stop came before the market task took it:
    the final re-read (the journal never booked it) must not hand it out a second time beside the queued one (a CI
    run booked a stop-loss's PnL and fee twice in the summary, once in the journal)."""
    from omni.config import load_config
    from omni.domain.events import OrderFilled
    from omni.engine.assembly import bybit_venue
    from omni.logsetup import get

    cfg = load_config(None, env={"OMNI_ENGINE__STATE_DIR": str(tmp_path), "OMNI_VENUE__NAME": "bybit-testnet"})
    venue = bybit_venue(cfg, get("t"), "key", "secret")
    delivered = venue._executions([_execution("e5", NOW - 60_000)], source="rest")  # handed out, never booked
    venue._events = venue._executions([_execution("e6", NOW - 30_000)], source="rest")  # made, not handed out
    assert [e.fill.exec_id for e in delivered + venue._events] == ["e5", "e6"]
    venue.forget_unbooked(set(), NOW - FINAL_REREAD_MS)
    again = venue._executions([_execution("e5", NOW - 60_000), _execution("e6", NOW - 30_000)], source="rest")
    # e5 is read again (the ledger never booked it); e6 goes out once, from the queue
    assert [e.fill.exec_id for e in again] == ["e5"]
    assert [e.fill.exec_id for e in venue._events if isinstance(e, OrderFilled)] == ["e6"]

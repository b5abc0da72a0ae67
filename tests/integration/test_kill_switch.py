"""The kill switch flattens whatever fails: a latch that cannot be written, a cancel-all that leaves orders, a
close that errors once. On the sim venue, in-process (the Bybit path is in test_bybit_account.py)."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal as D

from structlog.testing import capture_logs

from omni.domain.orders import OrderIntent, OrderType, Side
from tests.integration.test_supervisor import make


def _trip_with_drawdown(tmp_path, **env):
    return make(
        tmp_path,
        OMNI_RISK__MAX_DRAWDOWN_PCT="2",
        OMNI_RISK__MAX_LOSS_PER_TRADE_USDT="0.2",
        OMNI_TARGETS__MIN_NET_PROFIT_USDT="0.1",
        **env,
    )


def test_a_kill_switch_whose_latch_cannot_be_written_still_flattens(tmp_path):
    # Arrange: the disk refuses the latch file; positions are kept at shutdown, so only the kill switch can close
    asm, sup = _trip_with_drawdown(tmp_path, OMNI_ENGINE__ON_SHUTDOWN="keep")

    def broken(reason, market_ts=None):
        raise OSError(28, "No space left on device")

    asm.trader.latch.trip = broken

    # Act
    with capture_logs() as logs:
        code = asyncio.run(sup.run())

    # Assert: tripped, said so, flat, and nothing entered after the trip
    assert code == 0
    assert asm.guard.kill_switch is not None
    events = [e["event"] for e in logs]
    assert "kill_switch_latch_failed" in events and "task_crashed" not in events
    trip = events.index("kill_switch")
    assert [e for e in logs[trip + 1 :] if e["event"] == "order" and e["reduce_only"]], "nothing was closed"
    assert not [e for e in logs[trip + 1 :] if e["event"] == "order" and not e["reduce_only"]]
    assert asm.venue.matching.positions() == {} and asm.portfolio.positions == {}


def _rest_orders(asm, n: int) -> None:
    """``n`` resting buy limits far below the market on the first symbols (after one bar has priced them)."""
    m = asm.venue.matching
    symbols = [s for s in asm.venue.instruments if m.last_price(s) is not None]
    for i in range(n):
        sym = symbols[i % len(symbols)]
        inst = asm.venue.instruments[sym]
        price = inst.price_down(m.last_price(sym) / 2)
        qty = max(inst.min_qty, inst.round_qty(D(12) / price) + inst.qty_step)
        intent = OrderIntent(f"rest-{i}", sym, Side.BUY, qty, OrderType.LIMIT, price)
        events = m.place(intent, asm.venue.now_ms())
        assert not [e for e in events if type(e).__name__ == "OrderRejected"], events


def _first_bar(asm) -> None:
    async def one():
        stop = asyncio.Event()
        async for batch, _ in asm.venue.stream(stop):
            if batch.bars:
                stop.set()
                return

    asyncio.run(one())


def test_a_cancel_all_that_leaves_orders_is_repeated_until_none_is_open(tmp_path):
    # Arrange: 7 resting orders; the venue cancels at most 3 per call (as Bybit cancels at most 500)
    asm, _ = make(tmp_path)
    _first_bar(asm)
    _rest_orders(asm, 7)
    calls = []
    m = asm.venue.matching

    async def capped_cancel_all():
        calls.append(len(m.open_orders()))
        return m.cancel_all(asm.venue.now_ms(), limit=3)

    asm.venue.cancel_all = capped_cancel_all
    asm.executor.cancel_pause_s = 0

    # Act
    with capture_logs() as logs:
        events = asyncio.run(asm.executor.flatten())

    # Assert
    assert m.open_orders() == []
    assert calls == [7, 4, 1]
    assert len([e for e in events if type(e).__name__ == "OrderCancelled"]) == 7
    assert [e["open_orders"] for e in logs if e["event"] == "cancel_all_left_orders"] == [4, 1]


def _with_a_position(tmp_path):
    """A sim run after its first bar, with a ~6 USDT long on the first priced symbol: (assembly, engine, symbol)."""
    asm, _ = make(tmp_path)
    _first_bar(asm)
    m = asm.venue.matching
    sym = next(s for s in asm.venue.instruments if m.last_price(s) is not None)
    inst = asm.venue.instruments[sym]
    qty = max(inst.min_qty, inst.round_qty(D(6) / m.last_price(sym)) + inst.qty_step)
    m.place(OrderIntent("entry-1", sym, Side.BUY, qty), asm.venue.now_ms())
    return asm, m, sym


def test_a_close_that_fails_once_is_retried_with_a_deterministic_link_id(tmp_path):
    # Arrange: an open position; the venue's first close attempt raises (a dropped connection)
    asm, m, sym = _with_a_position(tmp_path)
    assert sym in m.positions()
    sent = []
    real_place = asm.venue.place

    async def flaky_place(intent):
        sent.append(intent.client_id)
        if len(sent) == 1:
            raise ConnectionError("reset by peer")
        return await real_place(intent)

    asm.venue.place = flaky_place

    # Act
    with capture_logs() as logs:
        asyncio.run(asm.executor.flatten())

    # Assert: flat after the second attempt; the ids say round 1, attempts 1 and 2, and the symbol
    assert m.positions() == {}
    run_id = asm.executor.client_ids.run_id
    assert sent == [f"{run_id}-x1_1-{sym}", f"{run_id}-x1_2-{sym}"]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,36}", cid) for cid in sent)  # Bybit's orderLinkId rule
    assert [e["event"] for e in logs if e["event"].startswith("flatten_")] == ["flatten_close_failed"]


def test_a_close_of_an_already_flat_position_is_not_an_error(tmp_path):
    # Arrange: the venue reports a position that is already gone (a stale view): the close meets 110017
    asm, m, sym = _with_a_position(tmp_path)
    stale = dict(m.positions())
    m.close_position(sym, asm.venue.now_ms())
    views = [stale]

    async def positions():
        return views.pop(0) if views else m.positions()

    asm.venue.positions = positions

    # Act
    with capture_logs() as logs:
        asyncio.run(asm.executor.flatten())

    # Assert
    events = [e["event"] for e in logs]
    assert "flatten_already_flat" in events and "flatten_close_rejected" not in events
    assert "flatten_incomplete" not in events

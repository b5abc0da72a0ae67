"""Every position has a stop-loss resting on the exchange: a position found without one gets one, and if the
venue refuses that stop, the position is closed at market at once."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from structlog.testing import capture_logs

from omni.config import load_config
from omni.domain.events import StopRejected
from omni.domain.orders import OrderIntent, Side
from omni.engine.assembly import assemble
from omni.logsetup import get
from tests.factories import bar


def setup(tmp_path):
    cfg = load_config(None, env={"OMNI_MARKET__SYMBOLS": "5", "OMNI_ENGINE__STATE_DIR": str(tmp_path)})
    asm = assemble(cfg, get("t"))
    sym = next(iter(asm.venue.instruments))
    inst = asm.venue.instruments[sym]
    eng = asm.venue.matching
    price = float(inst.tick_size) * 10_000
    eng.on_bar(bar(sym, o=price))
    qty = inst.round_qty(D(6) / D(repr(price))) + inst.qty_step * 10
    return asm, sym, inst, eng, qty


def test_position_without_a_stop_gets_one(tmp_path):
    asm, sym, _inst, eng, qty = setup(tmp_path)
    events = eng.place(OrderIntent("naked", sym, Side.BUY, qty), 0)  # bypassing the executor on purpose

    async def act():
        with capture_logs() as logs:
            await asm.trader.apply(events)
        return logs

    logs = asyncio.run(act())
    pos = eng.position(sym)
    assert pos is not None and pos.stop_loss is not None and pos.stop_loss < pos.entry_price
    assert any(e["event"] == "stop_missing" for e in logs)
    assert asm.portfolio.positions[sym].stop_loss == pos.stop_loss


def test_position_whose_stop_is_refused_is_closed_at_market(tmp_path):
    asm, sym, _inst, eng, qty = setup(tmp_path)
    events = eng.place(OrderIntent("naked", sym, Side.BUY, qty), 0)
    venue = asm.venue

    async def refuse(symbol, take_profit=None, stop_loss=None, trigger=None):
        return [
            StopRejected(
                symbol, Side.BUY, 10001, "StopLoss set for Buy position should lower than base_price", venue.now_ms()
            )
        ]

    venue.set_trading_stop = refuse  # the venue refuses every stop

    async def act():
        with capture_logs() as logs:
            await asm.trader.apply(events)
        return logs

    logs = asyncio.run(act())
    assert eng.position(sym) is None  # closed at once
    assert sym not in asm.portfolio.positions
    assert any(e["event"] == "stop_refused_closing" for e in logs)
    assert venue.balance() == asm.portfolio.capital

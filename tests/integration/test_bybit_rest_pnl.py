"""Bybit's REST execution list has no ``execPnl`` (only the execution stream has it): a fill recovered by a REST
resync takes its realised PnL from the transaction log's row of that trade, never a silent zero."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

from omni.domain.events import OrderFilled
from omni.domain.market import Bar, MarketBatch
from omni.domain.orders import OrderIntent, Side
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.emulator.ws import WsHub
from omni.logsetup import get
from omni.venues.bybit import BybitVenue
from tests.factories import btc
from tests.integration.test_bybit_account import market_start

KEY, SECRET = "pnl-key", "pnl-secret"
INSTS = {"BTCUSDT": btc(), "ETHUSDT": dataclasses.replace(btc(), symbol="ETHUSDT")}


def stepped(n: int, step_at: int) -> list[MarketBatch]:
    """BTCUSDT at 20 000, then 20 100 from bar ``step_at`` on."""
    t0 = market_start()
    out = []
    for i in range(n):
        ts = t0 + i * 60_000
        p = 20_000.0 if i < step_at else 20_100.0
        eth = Bar("ETHUSDT", ts, 2_000.0, 2_000.0, 2_000.0, 2_000.0, 5.0)
        out.append(MarketBatch(ts + 60_000, [Bar("BTCUSDT", ts, p, p, p, p, 5.0), eth], []))
    return out


async def test_a_close_recovered_by_rest_books_the_realised_pnl_of_its_transaction_log_row():
    config = EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET, balance=D(10_000), margin_mode="ISOLATED_MARGIN")],
        instruments=INSTS,
        market=stepped(120, step_at=32),
        bar_seconds=0,
        warmup_bars=30,
        app_hooks=[WsHub.hook],
    )
    async with EmulatorServer(config) as srv:
        # Arrange: a long opened at 20 000 and closed at 20 100 on the exchange (+1 USDT realised) ...
        srv.state.place(KEY, OrderIntent("open-1", "BTCUSDT", Side.BUY, D("0.01")))
        srv.state.advance(3)
        srv.state.place(KEY, OrderIntent("close-1", "BTCUSDT", Side.SELL, D("0.01"), reduce_only=True))
        acct = srv.state.account(KEY)
        for _fill, item in acct.executions:  # ... listed by REST as Bybit lists them: no execPnl
            item.pop("execPnl", None)
        ws = srv.url.replace("http://", "ws://")
        venue = BybitVenue("bybit-testnet", srv.url, ws, ws, KEY, SECRET, get("pnl"), batch_grace_ms=100)
        try:
            # Act: the start's REST resync books both executions
            await venue.connect()
            booked = [e for e in venue.pending_events() if isinstance(e, OrderFilled)]
        finally:
            await venue.close()
    # Assert
    by_link = {e.fill.client_id: e.fill for e in booked}
    assert by_link["open-1"].realised_pnl == 0
    assert by_link["close-1"].realised_pnl == D(1)
    wallet = D(10_000) + sum(f.realised_pnl - f.fee for f in by_link.values())
    assert wallet == acct.engine.balance

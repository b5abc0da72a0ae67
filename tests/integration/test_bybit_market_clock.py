"""``venue.clock: market``: on an emulator whose market runs at another time than the wall clock (a rehearsal at
another speed or start), the daemon's "now" comes from the market only, so its windows, warm-up and resyncs see the
exchange's records. Through pybit against the emulator."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal as D

from omni.domain.events import CapitalTransfer, OrderFilled
from omni.domain.market import Bar, MarketBatch
from omni.domain.orders import OrderIntent, Side
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.emulator.ws import WsHub
from omni.logsetup import get
from omni.venues.bybit import BybitVenue
from tests.factories import btc

KEY, SECRET = "clock-key", "clock-secret"
#: the market's start: a winter evening of 2025, far from today's wall clock
START = int(datetime(2025, 1, 1, 21, 0, tzinfo=UTC).timestamp() * 1000)
INSTS = {"BTCUSDT": btc(), "ETHUSDT": dataclasses.replace(btc(), symbol="ETHUSDT")}


def market(n: int) -> list[MarketBatch]:
    out = []
    for i in range(n):
        ts = START + i * 60_000
        bars = [Bar("BTCUSDT", ts, 20_000.0, 20_010.0, 19_990.0, 20_000.0, 5.0),
                Bar("ETHUSDT", ts, 2_000.0, 2_001.0, 1_999.0, 2_000.0, 50.0)]  # fmt: skip
        out.append(MarketBatch(ts + 60_000, bars, []))
    return out


async def test_the_market_clock_follows_the_bars_and_the_resyncs_see_the_exchanges_records():
    config = EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET, balance=D(10_000), margin_mode="ISOLATED_MARGIN")],
        instruments=INSTS,
        market=market(300),
        bar_seconds=0,
        warmup_bars=60,
        app_hooks=[WsHub.hook],
    )
    async with EmulatorServer(config) as srv:
        ws = srv.url.replace("http://", "ws://")
        venue = BybitVenue("bybit-testnet", srv.url, ws, ws, KEY, SECRET, get("clock"), batch_grace_ms=100,
                           warmup_minutes=30, clock="market")  # fmt: skip
        stop = asyncio.Event()
        tasks = []
        try:
            # Act 1: connect; "now" is the market's (60 warm-up bars after 21:00), not today's wall clock
            await venue.connect()
            assert venue.now_ms() == START + 60 * 60_000 == srv.state.market_ts
            tasks = [asyncio.create_task(fn(stop)) for fn in venue.tasks().values()]

            # Act 2: the market moves on; batches come out in market time and the clock follows them
            seen = []

            async def consume():
                async for batch, events in venue.stream(stop):
                    seen.append((batch.ts, events))
                    if (
                        len([b for b, _ in seen if b]) >= 3
                        and any(isinstance(e, CapitalTransfer) for _, evs in seen for e in evs)
                        and any(isinstance(e, OrderFilled) for _, evs in seen for e in evs)
                    ):
                        return

            consumer = asyncio.create_task(consume())
            await asyncio.sleep(0.5)
            await venue.place(OrderIntent("clock-1", "BTCUSDT", Side.BUY, D("0.01"), stop_loss=D(19_000)))
            srv.transfer(D(100))
            for _ in range(5):
                srv.state.advance(1)
                await asyncio.sleep(0.3)
            await venue.resync()
            await asyncio.wait_for(consumer, 20)
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await venue.close()
        # Assert: the clock is the market's; the fill and the top-up (stamped in market time) were booked
        assert venue.now_ms() == srv.state.market_ts
        assert abs(venue.now_ms() - START) < 86_400_000
        fills = [e for _, evs in seen for e in evs if isinstance(e, OrderFilled)]
        assert fills and all(abs(f.fill.ts - START) < 86_400_000 for f in fills)
        [top_up] = [e for _, evs in seen for e in evs if isinstance(e, CapitalTransfer)]
        assert top_up.amount == D(100) and top_up.kind == "TRANSFER_IN"
        batch_times = [ts for ts, _ in seen]
        assert batch_times == sorted(batch_times) and batch_times[-1] <= srv.state.market_ts

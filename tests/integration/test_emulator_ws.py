"""The emulator's public WebSocket with the real pybit WebSocket in its default (merging) mode: pybit keeps
its own order book from our snapshot + deltas, so a delta that deleted a missing level would crash it."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal as D

import pytest

from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.emulator.ws import WsHub
from omni.venues.bybit_transport import LocalWebSocket
from omni.venues.synthetic import SyntheticMarket
from tests.factories import T0, btc


@pytest.fixture
async def server():
    insts = {"BTCUSDT": btc()}
    market = SyntheticMarket(insts, seed=5, start_ts=T0)
    market.start_prices["BTCUSDT"] = 20_000.0
    config = EmulatorConfig(
        accounts=[AccountConfig("k", "s", balance=D(1000))],
        instruments=insts,
        market=market,
        bar_seconds=0,
        app_hooks=[WsHub.hook],
    )
    async with EmulatorServer(config) as srv:
        srv.state.advance(5)
        yield srv


async def test_pybit_keeps_a_consistent_book_and_receives_trades_and_tickers(server):
    books, trades, tickers = [], [], []
    lock = threading.Lock()

    def on(kind):
        def cb(msg):
            with lock:
                {"book": books, "trade": trades, "ticker": tickers}[kind].append(msg)

        return cb

    def build():
        ws = LocalWebSocket(server.url.replace("http", "ws"), testnet=True, channel_type="linear")
        ws.orderbook_stream(depth=50, symbol="BTCUSDT", callback=on("book"))
        ws.trade_stream(symbol="BTCUSDT", callback=on("trade"))
        ws.ticker_stream(symbol="BTCUSDT", callback=on("ticker"))
        return ws

    ws = await asyncio.to_thread(build)
    try:
        await asyncio.sleep(0.3)
        for _ in range(8):
            server.state.advance(1)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert ws.is_connected()  # a bad delta would have killed pybit's socket
    finally:
        await asyncio.to_thread(ws.exit)
    with lock:
        assert len(books) >= 8 and trades and tickers
        book = books[-1]["data"]
        bids = sorted((float(p) for p, _ in book["b"]), reverse=True)
        asks = sorted(float(p) for p, _ in book["a"])
        assert bids and asks and bids[0] < asks[0] and len(bids) <= 50
        last = float(server.state.last_price("BTCUSDT"))
        assert bids[0] < last < asks[0]  # the merged book follows the market
        assert trades[-1]["data"][0]["s"] == "BTCUSDT"

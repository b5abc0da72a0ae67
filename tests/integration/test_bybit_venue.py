"""OMNI's BybitVenue (real pybit HTTP + WebSocket underneath) against the emulator on a free loopback port:
trade life cycle, socket drops with reconnect + resync, malformed frames, and the secret never logged."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from decimal import Decimal as D

import pytest
from structlog.testing import capture_logs

from omni.domain.events import OrderAccepted, OrderFilled, PositionChanged
from omni.domain.orders import OrderIntent, Side
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.emulator.ws import HUB, WsHub
from omni.logsetup import get
from omni.venues.bybit import BybitVenue
from omni.venues.synthetic import SyntheticMarket
from tests.factories import T0, btc

KEY, SECRET = "venue-key", "venue-secret-DO-NOT-LOG"


@pytest.fixture
async def server():
    insts = {"BTCUSDT": btc(), "ETHUSDT": dataclasses.replace(btc(), symbol="ETHUSDT")}
    market = SyntheticMarket(insts, seed=3, start_ts=T0)
    market.start_prices["BTCUSDT"] = 20_000.0
    market.start_prices["ETHUSDT"] = 2_000.0
    config = EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET, balance=D(10_000), margin_mode="ISOLATED_MARGIN")],  # set up before
        instruments=insts,
        market=market,
        bar_seconds=0,
        app_hooks=[WsHub.hook],
    )
    async with EmulatorServer(config) as srv:
        srv.state.advance(30)
        yield srv


def make_venue(srv: EmulatorServer, **kw) -> BybitVenue:
    ws = srv.url.replace("http://", "ws://")
    kw.setdefault("batch_grace_ms", 200)
    return BybitVenue("bybit-testnet", srv.url, ws, ws, KEY, SECRET, get("venue"), max_silence_s=2.0, **kw)


@contextlib.asynccontextmanager
async def running(venue: BybitVenue):
    """The venue connected with its background tasks (watchdogs, warm-up, resync...) running, as the
    supervisor runs them; a task that dies fails the test."""
    await venue.connect()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(fn(stop), name=name) for name, fn in venue.tasks().items()]
    try:
        yield venue
    finally:
        stop.set()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        await venue.close()
        assert not [r for r in done if isinstance(r, BaseException)], done


async def drain(venue: BybitVenue, until, timeout: float = 5.0) -> list:
    """Collect events from the venue stream until ``until(events)`` holds."""
    stop = asyncio.Event()
    seen: list = []

    async def run():
        async for _batch, events in venue.stream(stop):
            seen.extend(events)
            if until(seen):
                return

    await asyncio.wait_for(run(), timeout)
    return seen


def hub(srv: EmulatorServer) -> WsHub:
    return srv.app[HUB]


async def test_trade_life_cycle_through_pybit(server):
    async with running(make_venue(server)) as venue:
        assert set(venue.instruments) == {"BTCUSDT", "ETHUSDT"}
        assert venue.balance() == D(10_000)
        assert await venue.set_leverage("BTCUSDT", D(20)) is None
        last = server.state.last_price("BTCUSDT")
        intent = OrderIntent(
            "omni-t-1",
            "BTCUSDT",
            Side.BUY,
            D("0.01"),
            stop_loss=btc().round_price(last * D("0.98")),
            take_profit=btc().round_price(last * D("1.02")),
            leverage=D(20),
        )
        [accepted] = await venue.place(intent)
        assert isinstance(accepted, OrderAccepted) and accepted.order.client_id == "omni-t-1"
        events = await drain(
            venue,
            lambda ev: (
                any(isinstance(e, PositionChanged) and e.position for e in ev)
                and any(isinstance(e, OrderFilled) for e in ev)
            ),
        )
        fill = next(e.fill for e in events if isinstance(e, OrderFilled))
        assert fill.qty == D("0.01") and fill.client_id == "omni-t-1"
        pos = (await venue.positions())["BTCUSDT"]
        assert pos.size == D("0.01") and pos.stop_loss == intent.stop_loss
        # market bars arrive as 1m bars
        server.state.advance(2)
        stop = asyncio.Event()
        async for batch, _ in venue.stream(stop):
            if batch.bars:
                assert batch.bars[0].symbol in venue.instruments and batch.bars[0].minutes == 1
                break


async def test_duplicate_link_id_on_retry_is_looked_up_not_duplicated(server):
    async with running(make_venue(server)) as venue:
        intent = OrderIntent("omni-dup-1", "BTCUSDT", Side.BUY, D("0.01"), leverage=D(10))
        await venue.place(intent)
        [second] = await venue.place(intent)  # same orderLinkId again: Bybit says 110072
        assert second.code == 110072  # a first attempt that meets 110072 is a real duplicate: refused, not sent
        assert list(server.state.account(KEY).by_link) == ["omni-dup-1"]  # one order on the exchange


async def test_dropped_sockets_reconnect_and_resync_without_missing_a_fill(server):
    async with running(make_venue(server)) as venue:
        resyncs = venue.resyncs
        await hub(server).drop_all()
        # an order filled while the private socket is down must still be seen (resync by REST)
        intent = OrderIntent("omni-drop-1", "BTCUSDT", Side.BUY, D("0.01"), leverage=D(10))
        await venue.place(intent)
        for _ in range(60):
            await asyncio.sleep(0.1)
            if venue.resyncs > resyncs and "BTCUSDT" in await venue.positions():
                break
        assert "BTCUSDT" in await venue.positions()
        assert venue.resyncs > resyncs  # the watchdog rebuilt a socket and reloaded state by REST
        assert venue.private.reconnects + sum(p.reconnects for p in venue.public) >= 1


async def test_malformed_and_unknown_frames_are_logged_and_survived(server):
    async with running(make_venue(server)) as venue:
        with capture_logs() as logs:
            hub(server).inject("{not json")
            hub(server).inject(json.dumps({"topic": "kline.1.BTCUSDT", "data": [{"confirm": True}]}))
            hub(server).inject(json.dumps({"topic": "mystery.topic", "data": []}))
            server.state.advance(1)
            stop = asyncio.Event()

            async def consume():
                async for _ in venue.stream(stop):
                    pass

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.wait_for(task, 2)
        assert any(e["event"] == "ws_message_dropped" for e in logs)
        assert venue.counters["ws_malformed"] >= 2  # once per socket that got the garbage
        assert all(p.healthy() for p in venue.public) and venue.private.healthy()


async def test_the_api_secret_never_reaches_the_logs(server):
    with capture_logs() as logs:
        venue = make_venue(server)
        await venue.connect()
        await venue.place(OrderIntent("omni-log-1", "BTCUSDT", Side.BUY, D("0.01"), leverage=D(10)))
        await venue.close()
    assert SECRET not in json.dumps(logs, default=str)


async def test_mainnet_is_refused_before_any_request():
    from omni.domain.errors import VenueFatal

    with pytest.raises(VenueFatal, match="MAINNET"):
        BybitVenue("bybit-testnet", "https://api.bybit.com", "wss://x", "wss://x", KEY, SECRET, get("v"))


async def test_order_storm_backs_off_on_10006_and_never_meets_a_403(server):
    # Arrange: a client budget above the exchange's order limit (the default 8/s stays under Bybit's 10/s)
    async with running(make_venue(server, requests_per_second=40)) as venue:
        intents = [
            OrderIntent(f"omni-storm-{i}", "BTCUSDT", Side.BUY if i % 2 else Side.SELL, D("0.001"), leverage=D(10))
            for i in range(25)
        ]
        # Act
        results = await asyncio.gather(*(venue.place(i) for i in intents))
    # Assert: every order landed once, some were told to wait (10006), none hit the IP wall (403)
    assert all(isinstance(r[0], OrderAccepted) for r in results)
    served = [r for r in server.requests if r.path == "/v5/order/create"]
    assert any(r.ret_code == 10006 for r in served)
    assert not [r for r in server.requests if r.http_status == 403]
    assert len(server.state.account(KEY).by_link) == 25


@pytest.mark.parametrize("policy", ["close", "adopt"])
async def test_start_reconciles_positions_the_journal_does_not_know(server, tmp_path, policy):
    from omni.config import load_config
    from omni.engine.assembly import assemble_bybit, bybit_venue
    from omni.engine.supervisor import Supervisor

    # Arrange: a position opened on the account outside OMNI, with no stop-loss
    server.state.place(KEY, OrderIntent("outside-1", "BTCUSDT", Side.BUY, D("0.01")))
    url = server.url
    ws = url.replace("http://", "ws://")
    cfg = load_config(
        None,
        env={
            "OMNI_VENUE__NAME": "bybit-testnet",
            "OMNI_VENUE__REST_URL": url,
            "OMNI_VENUE__PUBLIC_WS_URL": ws,
            "OMNI_VENUE__PRIVATE_WS_URL": ws,
            "OMNI_ENGINE__STATE_DIR": str(tmp_path),
            "OMNI_ENGINE__UNKNOWN_POSITIONS": policy,
        },
    )
    with capture_logs() as logs:
        asm = await assemble_bybit(cfg, get("t"), bybit_venue(cfg, get("t"), KEY, SECRET))
        try:
            # Act
            await Supervisor(asm, get("t")).reconcile()
            await asyncio.sleep(0.3)
            await asm.venue.resync()
            positions = await asm.venue.positions()
        finally:
            await asm.venue.close()
    # Assert
    engine_pos = server.state.account(KEY).engine.position("BTCUSDT")
    if policy == "close":
        assert engine_pos is None and "BTCUSDT" not in positions
        assert any(e["event"] == "unknown_position_closing" for e in logs)
    else:
        assert engine_pos is not None and engine_pos.stop_loss is not None  # adopted, and given a stop
        assert any(e["event"] == "position_adopted" for e in logs)


async def test_account_events_hand_out_what_the_private_stream_queued_so_a_flatten_sees_every_position(server):
    """A rehearsal's shutdown left a position open: its entry's fill and position reports were queued while the
    market task lagged, the flatten read the positions without them and closed only the others. The reports
    already received are handed out (no I/O) before the positions are read."""
    async with running(make_venue(server)) as venue:
        last = server.state.last_price("BTCUSDT")
        intent = OrderIntent("omni-q-1", "BTCUSDT", Side.BUY, D("0.01"), stop_loss=btc().round_price(last * D("0.98")))
        await venue.place(intent)
        deadline = asyncio.get_running_loop().time() + 5
        while asyncio.get_running_loop().time() < deadline:  # the reports arrive; nobody reads the stream
            await asyncio.sleep(0.05)
            venue.inbox.drain()
            if len(venue.inbox.private) >= 2:
                break
        assert "BTCUSDT" not in await venue.positions()  # the cached view misses it until the reports are handled
        events = venue.account_events()
        assert any(isinstance(e, OrderFilled) and e.fill.client_id == "omni-q-1" for e in events)
        assert (await venue.positions())["BTCUSDT"].size == D("0.01")
        assert not venue.inbox.private and venue.account_events() == []  # each report once

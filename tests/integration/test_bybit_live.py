"""The live Bybit venue at the venue's real scale, through the real pybit against the emulator: 500+ symbols
with kline closes racing the warm-up, an idle private socket, a failed resync, unknown execution types, an
unfilled market order the exchange cancels, and executions booked once across a restart."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from decimal import Decimal as D

from structlog.testing import capture_logs

from omni.domain.events import FundingPaid, Liquidated, OrderAccepted, OrderCancelled, OrderFilled
from omni.domain.market import MINUTE_MS
from omni.domain.orders import OrderIntent, Side
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.emulator.ws import WsHub
from omni.logsetup import get
from omni.venues.bybit import BybitVenue
from omni.venues.instruments_file import generated_instruments
from tests.integration.test_bybit_venue import running

KEY, SECRET = "live-key", "live-secret"


def emulator(symbols: int, bar_seconds: float = 0.0, warmup_bars: int = 120, **kw) -> EmulatorServer:
    return EmulatorServer(
        EmulatorConfig(
            accounts=[AccountConfig(KEY, SECRET, balance=D(10_000))],
            instruments=generated_instruments(symbols, 7),
            seed=7,
            bar_seconds=bar_seconds,
            warmup_bars=warmup_bars,
            app_hooks=[WsHub.hook],
            **kw,
        )
    )


def venue_for(srv: EmulatorServer, **kw) -> BybitVenue:
    ws = srv.url.replace("http://", "ws://")
    kw.setdefault("batch_grace_ms", 300)
    kw.setdefault("warmup_minutes", 60)
    return BybitVenue("bybit-testnet", srv.url, ws, ws, KEY, SECRET, get("live"), **kw)


async def collect(venue: BybitVenue, seconds: float, until=None, until_batches=None) -> tuple[list, list]:
    """(batches with bars, events) from the stream for ``seconds`` or until ``until(events)`` /
    ``until_batches(batches)``."""
    stop = asyncio.Event()
    batches, events = [], []

    async def run():
        async for batch, evs in venue.stream(stop):
            if batch.bars:
                batches.append(batch)
            events.extend(evs)
            if until is not None and until(events):
                return
            if until_batches is not None and until_batches(batches):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run(), seconds)
    return batches, events


async def test_520_symbols_with_closes_racing_the_warm_up_emit_each_minute_once_in_order(shared_data):
    # runs where the Bybit-scale acceptance runs run (with ../shared/data): on two clean clones without it this
    # test hung once each (idle loop, cause not found yet); the timeout turns any recurrence into a failure
    async with asyncio.timeout(150):
        await _scale_520()


async def _scale_520() -> None:
    # Arrange: a Bybit-sized market whose minutes close every 0.1 s while the history loads
    async with emulator(520, bar_seconds=0.5) as srv:
        venue = venue_for(srv, symbols_per_socket=125)
        async with running(venue):
            # Act: until three live minutes went out after the warm-up

            def live_minutes(batches: list) -> bool:
                return sum(1 for b in batches if b.ts > venue.live_from_ms + MINUTE_MS) >= 3

            batches, _ = await collect(venue, 60.0, until_batches=live_minutes)
            # a repeated confirm of a minute already out (testnet sends two) is dropped, not emitted again
            last = batches[-1].bars[0]
            k = {"start": last.ts, "end": last.ts + MINUTE_MS - 1, "interval": "1", "open": "1", "close": "1",
                 "high": "1", "low": "1", "volume": "1", "turnover": "1", "confirm": True, "timestamp": 0}  # fmt: skip
            srv.hub.inject(json.dumps({"topic": f"kline.1.{last.symbol}", "data": [k]}))
            again, _ = await collect(venue, 1.0)
            shards = len(venue.public)
            reconnects = sum(p.reconnects for p in venue.public) + venue.private.reconnects
        # Assert: every symbol's minutes went out once, in order, without a hole; one batch per minute
        per_symbol: dict[str, list[int]] = {}
        for b in batches:
            assert len({x.ts for x in b.bars}) == 1 and b.ts == b.bars[0].ts + MINUTE_MS
            for x in b.bars:
                per_symbol.setdefault(x.symbol, []).append(x.ts)
        assert len(per_symbol) == 520
        for sym, ts in per_symbol.items():
            assert ts == sorted(set(ts)), f"{sym}: repeated or backwards minutes"
            assert all(b - a == MINUTE_MS for a, b in itertools.pairwise(ts)), f"{sym}: a hole"
            # the warm-up history (60 minutes), the minutes that closed while it loaded, and live ones
            assert len(ts) >= 60 + 3
        assert shards == 5 and reconnects == 0
        assert venue.feed.counters["duplicate"] >= 1
        assert all(x.ts > last.ts or x.symbol != last.symbol for b in again for x in b.bars)
        live = [b for b in batches if b.ts > venue.live_from_ms]
        assert live and max(len(b.bars) for b in live) == 520  # live minutes batched across all symbols


async def test_an_idle_private_socket_stays_up_on_pongs_alone():
    # Arrange: an hour of quiet compressed: pings every 0.2 s, dead after 1 s without a pong, no trades,
    # no market data (the emulator's market does not move)
    async with emulator(3, warmup_bars=30) as srv:
        venue = venue_for(srv, ping_interval_s=0.2, pong_timeout_s=1.0, max_silence_s=3600)
        async with running(venue):
            # Act
            await collect(venue, 8.0)
            # Assert
            assert venue.private.reconnects == 0 and all(p.reconnects == 0 for p in venue.public)
            assert venue.private.healthy()
            assert time.monotonic() - venue.private.ws.last_pong < 1.0  # pongs kept coming all along


async def test_a_failed_resync_is_logged_and_retried_until_it_succeeds():
    async with emulator(3, warmup_bars=30) as srv:
        venue = venue_for(srv, resync_interval_s=1.0)
        async with running(venue):
            await asyncio.wait_for(venue.warm.wait(), 10)
            before = venue.resyncs
            with capture_logs() as logs:
                srv.fail_next(4, status=503)  # as many 503s in a row as one call tries: the next resync fails
                # an order fills on the exchange meanwhile (not seen on the private socket: it is gapped)
                srv.hub.private_gap(6)
                await asyncio.sleep(0.2)
                srv.state.place(KEY, OrderIntent("outside-gap", "SYN001USDT", Side.BUY, D("1")))
                _, events = await collect(venue, 12.0, until=lambda ev: any(isinstance(e, OrderFilled) for e in ev))
        assert any(e["event"] == "resync_failed" for e in logs)
        assert venue.resyncs > before
        fills = [e for e in events if isinstance(e, OrderFilled)]
        assert [f.fill.client_id for f in fills] == ["outside-gap"]  # booked once, from the REST resync


async def test_unknown_execution_types_are_logged_kept_unseen_and_do_not_drop_the_frame():
    async with emulator(3, warmup_bars=30) as srv:
        venue = venue_for(srv)
        async with running(venue):
            good = {"category": "linear", "symbol": "SYN001USDT", "execId": "x-good", "orderId": "o-1",
                    "orderLinkId": "", "side": "Buy", "execQty": "1", "execPrice": "10", "execFee": "0.01",
                    "feeRate": "0.00055", "isMaker": False, "execType": "AdlTrade", "execPnl": "0.5",
                    "execTime": str(srv.state.now_ms()), "closedSize": "1"}  # fmt: skip
            unknown = dict(good, execId="x-new", execType="BrandNewType")
            funding = dict(good, execId="x-fund", execType="Funding")
            frame = {"id": "1", "topic": "execution", "creationTime": 0, "data": [unknown, good, funding]}
            with capture_logs() as logs:
                srv.hub.inject(json.dumps(frame))
                _, events = await collect(venue, 5.0, until=lambda ev: len(ev) >= 2)
        kinds = {type(e): e for e in events}
        assert kinds[OrderFilled].fill.exec_id == "x-good"  # an ADL fill is booked like a trade
        assert FundingPaid in kinds and Liquidated not in kinds
        assert "x-new" not in venue.seen_exec and "x-good" in venue.seen_exec
        assert any(e["event"] == "execution_unparsed" and e["exec_id"] == "x-new" for e in logs)


async def test_a_market_entry_cancelled_unfilled_reports_a_cancel():
    async with emulator(3, warmup_bars=30) as srv:
        venue = venue_for(srv)
        async with running(venue):
            srv.cancel_next_market_orders(1)
            events = await venue.place(OrderIntent("omni-cx-1", "SYN001USDT", Side.BUY, D("1"), leverage=D(5)))
            if not any(isinstance(e, OrderCancelled) for e in events):
                _, more = await collect(venue, 5.0, until=lambda ev: any(isinstance(e, OrderCancelled) for e in ev))
                events += more
        assert isinstance(events[0], OrderAccepted)
        cancels = [e for e in events if isinstance(e, OrderCancelled)]
        assert cancels and cancels[0].order.client_id == "omni-cx-1" and not cancels[0].order.reduce_only
        assert not [e for e in events if isinstance(e, OrderFilled)]


async def test_executions_are_booked_once_across_a_restart_including_those_made_while_down():
    async with emulator(3, warmup_bars=30) as srv:
        # run 1: a fill seen live
        v1 = venue_for(srv)
        async with running(v1):
            await v1.place(OrderIntent("omni-r-1", "SYN001USDT", Side.BUY, D("1"), leverage=D(5)))
            _, ev1 = await collect(v1, 5.0, until=lambda ev: any(isinstance(e, OrderFilled) for e in ev))
        seen = {e.fill.exec_id for e in ev1 if isinstance(e, OrderFilled)}
        last_ts = max(e.fill.ts for e in ev1 if isinstance(e, OrderFilled))
        # while down: another fill on the exchange
        srv.state.place(KEY, OrderIntent("omni-r-2", "SYN001USDT", Side.SELL, D("1"), reduce_only=True))
        # run 2: primed from the journal's view (seen execIds, last execution time)
        v2 = venue_for(srv)
        v2.seen_exec, v2.exec_since_ms = set(seen), last_ts
        async with running(v2):
            _, ev2 = await collect(v2, 3.0, until=lambda ev: any(isinstance(e, OrderFilled) for e in ev))
    fills2 = [e.fill for e in ev2 if isinstance(e, OrderFilled)]
    assert [f.client_id for f in fills2] == ["omni-r-2"]  # the one made while down, once; none re-booked
    assert len(seen) == 1


async def test_a_delisted_symbol_is_unsubscribed_by_the_hourly_refresh():
    async with emulator(6, warmup_bars=30) as srv:
        venue = venue_for(srv, instruments_refresh_s=0.5, symbols_per_socket=3)
        async with running(venue):
            await asyncio.wait_for(venue.warm.wait(), 10)
            gone = "SYN002USDT"
            shard = next(k for k, sh in enumerate(venue.shards) if gone in sh)
            before = venue.public[shard].reconnects
            with capture_logs() as logs:
                del srv.state.instruments[gone]  # Bybit stops listing it
                for _ in range(50):
                    await asyncio.sleep(0.1)
                    if venue.public[shard].reconnects > before:
                        break
        changed = [e for e in logs if e["event"] == "instruments_changed"]
        assert changed and changed[0]["removed"] == [gone] and changed[0]["status"] == {gone: "Delisted"}
        assert gone not in venue.feed.symbols and gone not in venue.tradable()
        assert all(gone not in sh for sh in venue.shards)
        assert venue.public[shard].reconnects > before  # its shard resubscribed without it
        assert gone in venue.instruments  # its spec is kept: an open position can still be closed

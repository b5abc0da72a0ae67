"""The account's rules and money on the Bybit venue, through pybit against the emulator: isolated margin and one-way
mode set (or the start refused) before any order, stops on the mark price, a kill switch that empties a book of
more than 500 orders, top-ups as capital, and a daily loss that survives a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from decimal import Decimal as D

import pytest
from pybit.unified_trading import HTTP
from structlog.testing import capture_logs

from omni.config import load_config
from omni.core.pipeline import ClientIds
from omni.core.portfolio import Portfolio
from omni.core.risk import Approved, Refused, RiskGuard
from omni.domain.errors import VenueFatal
from omni.domain.events import OrderFilled, PositionChanged
from omni.domain.market import Bar, MarketBatch
from omni.domain.orders import OrderIntent, OrderType, Side, StopKind, TriggerBy
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.emulator.ws import WsHub
from omni.engine.assembly import assemble_bybit, bybit_venue
from omni.engine.executor import Executor
from omni.engine.supervisor import Supervisor
from omni.journal import Journal
from omni.logsetup import get
from omni.venues.bybit import BybitVenue
from tests.factories import btc
from tests.unit.core.test_risk import limits

KEY, SECRET = "acct-key", "acct-secret"
START = D(10_000)
INSTS = {"BTCUSDT": btc(), "ETHUSDT": dataclasses.replace(btc(), symbol="ETHUSDT")}
PRICES = {"BTCUSDT": 20_000.0, "ETHUSDT": 2_000.0}
DAY_MS = 86_400_000


def market_start() -> int:
    """Where the market starts: 30 minutes ago, so it reaches the exchange clock after the emulator's 30 warm-up bars
    and the venue's windows (from its clock minus a margin) see every record; within 3 hours of midnight UTC the next
    day's first minutes instead, so a test's market never crosses a day (the venue reads records up to 7 days after
    its clock)."""
    now = int(time.time() * 1000)
    start = now - now % 60_000 - 30 * 60_000
    day_end = (now // DAY_MS + 1) * DAY_MS
    return day_end + 60_000 if day_end - start < 3 * 3_600_000 else start


def flat(n: int) -> list[MarketBatch]:
    """``n`` one-minute batches of flat bars: every fill at the same price, so only fees move the wallet."""
    out = []
    t0 = market_start()
    for i in range(n):
        ts = t0 + i * 60_000
        out.append(MarketBatch(ts + 60_000, [Bar(s, ts, p, p, p, p, 50.0) for s, p in PRICES.items()], []))
    return out


def emulator(account: AccountConfig | None = None, bars: int = 400) -> EmulatorServer:
    config = EmulatorConfig(
        accounts=[account or AccountConfig(KEY, SECRET, balance=START)],
        instruments=INSTS,
        market=flat(bars),
        bar_seconds=0,
        warmup_bars=30,
        app_hooks=[WsHub.hook],
    )
    return EmulatorServer(config)


def venue_of(srv: EmulatorServer, **kw) -> BybitVenue:
    ws = srv.url.replace("http://", "ws://")
    kw.setdefault("batch_grace_ms", 100)
    return BybitVenue("bybit-testnet", srv.url, ws, ws, KEY, SECRET, get("acct"), max_silence_s=5.0, **kw)


# ---------------------------------------------------------------- margin and position mode


async def test_a_flat_cross_margin_account_is_set_to_isolated_and_one_way_before_any_order():
    async with emulator(AccountConfig(KEY, SECRET, balance=START, position_mode="hedge")) as srv:
        acct = srv.state.account(KEY)
        assert acct.margin_mode == "REGULAR_MARGIN" and acct.coin_position_mode == 3
        venue = venue_of(srv)
        try:
            with capture_logs() as logs:
                await venue.connect()
        finally:
            await venue.close()
        assert acct.margin_mode == "ISOLATED_MARGIN" and acct.coin_position_mode == 0
        assert acct.engine.open_orders() == [] and acct.engine.positions() == {}
        modes = next(e for e in logs if e["event"] == "account_modes")
        assert modes["margin_mode_found"] == "REGULAR_MARGIN" and modes["margin_mode_set"] == "ISOLATED_MARGIN"


async def test_an_account_already_isolated_is_left_as_it_is():
    async with emulator(AccountConfig(KEY, SECRET, balance=START, margin_mode="ISOLATED_MARGIN")) as srv:
        venue = venue_of(srv)
        try:
            with capture_logs() as logs:
                await venue.connect()
        finally:
            await venue.close()
        assert not [e for e in logs if e["event"] == "margin_mode_set"]
        assert srv.state.account(KEY).margin_mode == "ISOLATED_MARGIN"


async def test_a_cross_margin_account_with_an_open_position_is_refused_and_left_untouched():
    async with emulator() as srv:
        srv.state.place(KEY, OrderIntent("outside-1", "BTCUSDT", Side.BUY, D("0.01")))
        venue = venue_of(srv)
        try:
            with pytest.raises(VenueFatal, match=r"REGULAR_MARGIN.*1 open position.*BTCUSDT.*isolated margin"):
                await venue.connect()
        finally:
            await venue.close()
        acct = srv.state.account(KEY)
        assert acct.margin_mode == "REGULAR_MARGIN" and len(acct.engine.positions()) == 1


@pytest.mark.parametrize(
    "account, kw, message",
    [
        (
            AccountConfig(KEY, SECRET, margin_mode="ISOLATED_MARGIN", account_type="classic"),
            {},
            "classic account",
        ),
        (AccountConfig(KEY, SECRET), {"set_margin_mode": False}, "venue.set_margin_mode is false"),
    ],
)
async def test_an_account_omni_must_not_or_cannot_set_is_refused_with_what_to_do(account, kw, message):
    async with emulator(account) as srv:
        venue = venue_of(srv, **kw)
        try:
            with pytest.raises(VenueFatal, match=message):
                await venue.connect()
        finally:
            await venue.close()
        assert srv.state.account(KEY).engine.open_orders() == []


# ---------------------------------------------------------------- stops on the mark price


async def test_an_entry_stop_sent_on_mark_price_triggers_on_the_mark_while_the_last_price_lags():
    # Arrange: a long with its stop 1 % below, on MarkPrice
    async with emulator() as srv:
        venue = venue_of(srv)
        try:
            await venue.connect()
            intent = OrderIntent("mark-1", "BTCUSDT", Side.BUY, D("0.01"), stop_loss=D(19_800),
                                 stop_trigger=TriggerBy.MARK_PRICE)  # fmt: skip
            await venue.place(intent)
            srv.state.advance(1)
            await venue.resync()
            assert "BTCUSDT" in await venue.positions()

            # Act: the mark drops through the stop; the last price stays at 20 000
            srv.state.pin_mark("BTCUSDT", D(19_700))
            srv.state.advance(1)
            events = await venue.settle(1.0)
        finally:
            await venue.close()
        # Assert: stopped out by the exchange on the mark, at the (lagging) last price
        stops = [e for e in events if isinstance(e, OrderFilled) and e.fill.stop_kind is StopKind.STOP_LOSS]
        assert stops and stops[0].fill.price == D(20_000)
        assert "BTCUSDT" not in await venue.positions()


async def test_a_stop_set_after_the_fact_carries_the_configured_trigger():
    async with emulator() as srv:
        venue = venue_of(srv)
        try:
            await venue.connect()
            await venue.place(OrderIntent("naked-1", "BTCUSDT", Side.BUY, D("0.01")))
            await venue.resync()
            [pos] = (await venue.positions()).values()
            executor = Executor(venue, RiskGuard(limits()), Portfolio(START), ClientIds("t"), get("t"), D(5))
            events = await executor.protect(pos)
        finally:
            await venue.close()
        assert [e for e in events if isinstance(e, PositionChanged) and e.position.stop_loss is not None]
        assert srv.state.account(KEY).engine._pos["BTCUSDT"].sl_by is TriggerBy.MARK_PRICE


# ---------------------------------------------------------------- the kill switch empties a big book


async def test_a_kill_switch_flatten_repeats_cancel_all_until_more_than_500_orders_are_gone():
    # Arrange: 520 resting limits (Bybit's cancel-all takes at most 500 per call) and an open position
    async with emulator(AccountConfig(KEY, SECRET, balance=D(1_000_000), margin_mode="ISOLATED_MARGIN")) as srv:
        for i in range(520):
            sym = "BTCUSDT" if i % 2 else "ETHUSDT"
            price, qty = (D(10_000), D("0.001")) if sym == "BTCUSDT" else (D(1_000), D("0.01"))
            srv.state.place(KEY, OrderIntent(f"rest-{i}", sym, Side.BUY, qty, OrderType.LIMIT, price))
        srv.state.place(KEY, OrderIntent("pos-1", "BTCUSDT", Side.BUY, D("0.01")))
        venue = venue_of(srv)
        try:
            await venue.connect()
            executor = Executor(venue, RiskGuard(limits()), Portfolio(START), ClientIds("kill"), get("t"), D(50))
            with capture_logs() as logs:
                await executor.flatten(settle_s=0.5)
            left = await venue.open_orders()
        finally:
            await venue.close()
        # Assert
        engine = srv.state.account(KEY).engine
        assert engine.open_orders() == [] and left == [] and engine.positions() == {}
        assert [e["open_orders"] for e in logs if e["event"] == "cancel_all_left_orders"] == [20]
        assert not [e for e in logs if e["event"] in ("flatten_incomplete", "cancel_all_incomplete")]


async def test_a_flatten_closes_a_position_whose_reports_wait_unread_in_the_private_queue():
    # Arrange: an entry filled on the exchange; its fill and position reports arrived but nobody read the stream
    # (the market task lagging, or stopped at shutdown): the venue's cached positions do not have it yet
    async with emulator() as srv:
        venue = venue_of(srv)
        try:
            await venue.connect()
            await venue.place(OrderIntent("lagged-1", "BTCUSDT", Side.BUY, D("0.01")))
            for _ in range(100):
                await asyncio.sleep(0.05)
                venue.inbox.drain()
                if len(venue.inbox.private) >= 2:
                    break
            assert await venue.positions() == {}
            executor = Executor(venue, RiskGuard(limits()), Portfolio(START), ClientIds("late"), get("t"), D(50))
            # Act: one attempt only: it must see the position in its first read
            with capture_logs() as logs:
                await executor.flatten(attempts=1, settle_s=0.5)
        finally:
            await venue.close()
        # Assert
        assert srv.state.account(KEY).engine.positions() == {}
        assert not [e for e in logs if e["event"] == "flatten_incomplete"]


# ---------------------------------------------------------------- capital: top-ups and restarts


async def _journaled_run(srv: EmulatorServer, tmp_path, minutes: int, during=None, **env):
    """Assemble the daemon on the emulator, run the supervisor while the market moves ``minutes`` bars (one every
    50 ms), then stop it; ``during(asm)`` runs half way. Returns the assembly and the log lines."""
    ws = srv.url.replace("http://", "ws://")
    base = {
        "OMNI_VENUE__NAME": "bybit-testnet",
        "OMNI_VENUE__REST_URL": srv.url,
        "OMNI_VENUE__PUBLIC_WS_URL": ws,
        "OMNI_VENUE__PRIVATE_WS_URL": ws,
        "OMNI_VENUE__RESYNC_INTERVAL_S": "1",
        "OMNI_VENUE__BATCH_GRACE_MS": "100",
        "OMNI_ENGINE__STATE_DIR": str(tmp_path),
        "OMNI_RISK__MAX_DAILY_LOSS_USDT": "3",
    }
    cfg = load_config(None, env=base | env)
    with capture_logs() as logs:
        asm = await assemble_bybit(cfg, get("t"), bybit_venue(cfg, get("t"), KEY, SECRET))
        sup = Supervisor(asm, get("t"))
        task = asyncio.create_task(sup.run())
        for i in range(minutes):
            await asyncio.sleep(0.05)
            srv.state.advance(1)
            if during is not None and i == minutes // 2:
                await during(asm)
        await asyncio.sleep(1.0)
        sup.request_stop()
        assert await asyncio.wait_for(task, 30) == 0
    return asm, logs


async def test_a_top_up_mid_run_is_capital_keeps_the_identity_exact_and_trips_nothing(tmp_path):
    async with emulator() as srv:

        async def top_up(asm):
            srv.transfer(D(250))
            await asyncio.sleep(2.5)  # a resync reads the transaction log

        asm, logs = await _journaled_run(srv, tmp_path, 40, during=top_up, OMNI_RISK__MAX_DRAWDOWN_PCT="1")
        wallet = srv.state.account(KEY).engine.balance
        http = HTTP(testnet=True, api_key=KEY, api_secret=SECRET)
        http.endpoint = srv.url
        log = await asyncio.to_thread(http.get_transaction_log, accountType="UNIFIED", currency="USDT", limit=1)
        newest_cash_balance = D(log["result"]["list"][0]["cashBalance"])
    p = asm.portfolio
    assert p.deposits == D(250) and p.withdrawals == 0
    assert asm.guard.kill_switch is None
    assert wallet == p.capital_start + p.deposits - p.withdrawals + p.adjustments + p.realised - p.fees - p.funding
    summary = next(e for e in logs if e["event"] == "final_summary")
    assert D(str(summary["total_profit"])) == p.realised - p.fees - p.funding  # the top-up is not profit
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        [row] = journal.rows("SELECT kind, amount FROM transfers")
        assert (row["kind"], row["amount"]) == ("TRANSFER_IN", "250")
    finally:
        journal.close()
    # the exchange's own record: the transaction log's newest cashBalance is the ledger's capital
    assert newest_cash_balance == p.capital


async def test_a_restart_after_2_9_usdt_of_daily_loss_leaves_only_the_rest_of_the_days_budget(tmp_path):
    # Arrange: run 1 journals the day's starting equity (10 000)
    async with emulator() as srv:
        await _journaled_run(srv, tmp_path, 5)
        # while the daemon is down the account loses 2.882 USDT in fees (flat prices: 0.131 BTC round trip at
        # 20 000, 0.055 % a leg)
        srv.state.place(KEY, OrderIntent("out-buy", "BTCUSDT", Side.BUY, D("0.131")))
        srv.state.place(KEY, OrderIntent("out-sell", "BTCUSDT", Side.SELL, D("0.131"), reduce_only=True))
        assert srv.state.account(KEY).engine.balance == START - D("2.882")

        # Act: run 2 starts from the same journal
        asm, logs = await _journaled_run(srv, tmp_path, 3, OMNI_ENGINE__UNKNOWN_POSITIONS="adopt")

    # Assert: the day's loss is restored, so only 0.118 USDT of the 3 USDT is left
    p = asm.portfolio
    assert p.day_start_equity == START and p.day_loss(START - D("2.882")) == D("2.882")
    assert any(e["event"] == "risk_state_restored" for e in logs)
    small = OrderIntent("e1", "BTCUSDT", Side.BUY, D("0.001"), stop_loss=D(19_990), leverage=D(5))
    big = OrderIntent("e2", "BTCUSDT", Side.BUY, D("0.01"), stop_loss=D(19_980), leverage=D(5))
    guard = RiskGuard(limits(max_daily_loss=D(3)))
    assert isinstance(guard.check(small, btc(), D(20_000), p, START - D("2.882")), Approved)
    guard = RiskGuard(limits(max_daily_loss=D(3)))
    verdict = guard.check(big, btc(), D(20_000), p, START - D("2.882"))
    assert isinstance(verdict, Refused) and verdict.reason == "daily_loss_budget", verdict
    # and the journal's capital_start is the first run's, with the loss booked as the fees it was
    assert p.capital_start == START and p.fees >= D("2.882")
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        state = journal.meta("risk_state")
        assert D(state["day_start_equity"]) == START and json.dumps(state)
    finally:
        journal.close()
    assert not [e for e in logs if e["event"] == "capital_unexplained"]


async def test_a_kill_switch_whose_latch_cannot_be_written_still_flattens_the_exchange(tmp_path):
    # Arrange: the daemon assembled on the emulator with an open position and a resting order on the exchange
    async with emulator(AccountConfig(KEY, SECRET, balance=START, margin_mode="ISOLATED_MARGIN")) as srv:
        srv.state.place(KEY, OrderIntent("pos-1", "BTCUSDT", Side.BUY, D("0.01"), stop_loss=D(19_000)))
        srv.state.place(KEY, OrderIntent("rest-1", "ETHUSDT", Side.BUY, D("0.01"), OrderType.LIMIT, D(1_000)))
        ws = srv.url.replace("http://", "ws://")
        env = {
            "OMNI_VENUE__NAME": "bybit-testnet",
            "OMNI_VENUE__REST_URL": srv.url,
            "OMNI_VENUE__PUBLIC_WS_URL": ws,
            "OMNI_VENUE__PRIVATE_WS_URL": ws,
            "OMNI_ENGINE__STATE_DIR": str(tmp_path),
            "OMNI_ENGINE__UNKNOWN_POSITIONS": "adopt",
        }
        cfg = load_config(None, env=env)
        asm = await assemble_bybit(cfg, get("t"), bybit_venue(cfg, get("t"), KEY, SECRET))
        try:
            await Supervisor(asm, get("t")).reconcile()

            def broken(reason, market_ts=None):
                raise PermissionError(13, "Read-only file system")

            asm.trader.latch.trip = broken
            asm.guard.kill_switch = "max_daily_loss: test"

            # Act
            with capture_logs() as logs:
                await asm.trader.trip()
        finally:
            await asm.venue.close()
        # Assert: said so, and the exchange holds nothing
        engine = srv.state.account(KEY).engine
        assert engine.positions() == {} and engine.open_orders() == []
        assert "kill_switch_latch_failed" in [e["event"] for e in logs]
        assert not asm.pipeline.entries_enabled and not asm.trader.flatten_pending

"""Emulator realism through the real pybit client: the state file survives a restart, market time on every
record, the pacing of --speed, closed PnL and the API key's information with Bybit's limits, and
``omni emulator`` itself (real-scale prices, most liquid first, --start, --state across a SIGTERM)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from omni.domain.market import MINUTE_MS
from omni.emulator import persist
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.venues.instruments_file import default_instruments_path
from tests.integration.conftest import omni_env
from tests.integration.test_emulator_rest import KEY, SECRET, START, _instruments, call, session, tick_round

START_MS = 1_750_000_000_000 - 1_750_000_000_000 % MINUTE_MS  # 2025-06-15 15:06 UTC
DAY_MS = 86_400_000


def config(tmp_path: Path | None = None, **kw: Any) -> EmulatorConfig:
    """A synthetic market of the REST tests' instruments that reaches ``START_MS`` after 30 warm-up bars."""
    kw.setdefault("bar_seconds", 0)
    kw.setdefault("start_prices", {"BTCUSDT": 20_000.0})
    kw.setdefault("start_ms", START_MS)
    return EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET, balance=START)], instruments=_instruments(), seed=7, warmup_bars=30,
        state_path=None if tmp_path is None else tmp_path / "exchange.json", **kw,
    )  # fmt: skip


async def refused(fn: Any, **params: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as e:
        await call(fn, **params)
    return e.value


def listing(result: dict[str, Any]) -> list[dict[str, Any]]:
    return result["result"]["list"]


async def exchange_view(http: HTTP) -> dict[str, Any]:
    """What a reconciliation reads: wallet, positions, open orders, order history, executions, the transaction
    log and closed PnL (no time window: the last 7 days / 24 h of market time)."""
    return {
        "wallet": listing(await call(http.get_wallet_balance, accountType="UNIFIED"))[0],
        "positions": listing(await call(http.get_positions, category="linear", settleCoin="USDT")),
        "open": listing(await call(http.get_open_orders, category="linear", settleCoin="USDT")),
        "history": listing(await call(http.get_order_history, category="linear", limit=50)),
        "executions": listing(await call(http.get_executions, category="linear", limit=100)),
        "log": listing(await call(http.get_transaction_log, accountType="UNIFIED", limit=50)),
        "closed": listing(await call(http.get_closed_pnl, category="linear", limit=100)),
        "key": (await call(http.get_api_key_information))["result"],
    }


# ---------------------------------------------------------------- state file


async def test_a_restart_from_the_state_file_shows_a_client_the_same_exchange_and_continues_it(tmp_path):
    # Arrange: a position with stops, a resting order, a closed trade, a top-up, funding: then the emulator stops
    async with EmulatorServer(config(tmp_path)) as server:
        http = session(server)
        last = D(listing(await call(http.get_tickers, category="linear", symbol="BTCUSDT"))[0]["lastPrice"])
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.05",
                   orderLinkId="entry-1", stopLoss=str(tick_round(last * D("0.95"))))  # fmt: skip
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Sell", orderType="Market",
                   qty="0.02", reduceOnly=True, orderLinkId="part-exit-1")  # fmt: skip
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
                   price=str(tick_round(last * D("0.8"))), orderLinkId="rest-1")  # fmt: skip
        server.transfer(D(25))
        server.state.advance(90)  # hourly funding on BTCUSDT: at least one settlement while held
        before = await exchange_view(http)
        market_ts, batches = server.state.market_ts, server.state.batches
    doc = persist.read(tmp_path / "exchange.json")
    assert doc["market"]["batches"] == batches and doc["market"]["market_ts"] == market_ts
    assert SECRET not in (tmp_path / "exchange.json").read_text()

    # Act: a new emulator on the same state file
    async with EmulatorServer(config(tmp_path)) as server:
        http = session(server)
        after = await exchange_view(http)

        # Assert: the same account, positions, orders, executions, logs; the market where it stopped
        assert server.restored and server.state.market_ts == market_ts
        for part in before:
            assert after[part] == before[part], part
        assert [e["execType"] for e in before["executions"]].count("Funding") >= 1
        assert {o["orderLinkId"] for o in before["history"]} >= {"entry-1", "part-exit-1", "rest-1"}
        assert len(before["closed"]) == 1 and before["open"][0]["orderLinkId"] == "rest-1"
        # ... and it goes on: the link ids are still known, the stop still rests, the orders still fill
        e = await refused(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                          qty="0.01", orderLinkId="entry-1")  # fmt: skip
        assert e.status_code == 110072
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Sell", orderType="Market",
                   qty="0.03", reduceOnly=True, orderLinkId="exit-2")  # fmt: skip
        server.state.advance(1)
        assert listing(await call(http.get_positions, category="linear", settleCoin="USDT")) == []
        closed = listing(await call(http.get_closed_pnl, category="linear"))
        assert len(closed) == 2
        wallet = D(listing(await call(http.get_wallet_balance, accountType="UNIFIED"))[0]["totalWalletBalance"])
        assert wallet == START + 25 + sum(D(c["closedPnl"]) for c in closed)


async def test_a_state_file_for_other_symbols_is_refused(tmp_path):
    async with EmulatorServer(config(tmp_path)):
        pass
    other = config(tmp_path)
    other.instruments = dict(list(_instruments().items())[:2])
    with pytest.raises(ValueError, match="same --symbols"):
        EmulatorServer(other)


async def test_the_state_file_is_written_periodically_and_atomically(tmp_path):
    async with EmulatorServer(config(tmp_path, state_every_s=0.05)) as server:
        path = tmp_path / "exchange.json"
        for _ in range(100):
            await asyncio.sleep(0.02)
            if path.exists():
                break
        assert persist.read(path)["market"]["batches"] == 30
        server.state.advance(3)
        await asyncio.sleep(0.2)
        assert persist.read(path)["market"]["batches"] == 33
        assert [p.name for p in tmp_path.iterdir()] == ["exchange.json"]  # no temporary file left


# ---------------------------------------------------------------- market time


async def test_records_carry_market_time_and_the_server_clock_stays_wall_time():
    async with EmulatorServer(config()) as server:
        http = session(server)
        state = server.state

        # Assert: after the warm-up the market is at --start; the server clock is the wall clock
        assert state.market_ts == START_MS
        server_time = int((await call(http.get_server_time))["result"]["timeSecond"])
        assert abs(server_time - time.time()) < 5
        kline = listing(await call(http.get_kline, category="linear", symbol="BTCUSDT", interval="1", limit=1))[0]
        assert int(kline[0]) == START_MS - MINUTE_MS  # the last closed bar opened a minute before

        # Act: trade, let the market move through a funding settlement
        placed = await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                            qty="0.01")  # fmt: skip
        state.advance(61)

        # Assert: the order, its execution, the log rows and funding carry market time
        order = listing(await call(http.get_order_history, category="linear", orderId=placed["result"]["orderId"]))
        assert int(order[0]["createdTime"]) == START_MS
        execs = listing(await call(http.get_executions, category="linear"))
        assert execs and all(START_MS <= int(e["execTime"]) <= state.market_ts for e in execs)
        funding = [e for e in execs if e["execType"] == "Funding"]
        assert funding and int(funding[0]["execTime"]) % 3_600_000 == 0
        rows = listing(await call(http.get_transaction_log, accountType="UNIFIED"))
        assert {int(r["transactionTime"]) for r in rows} == {int(e["execTime"]) for e in execs}
        history = listing(await call(http.get_funding_rate_history, category="linear", symbol="BTCUSDT"))
        assert int(history[0]["fundingRateTimestamp"]) == int(funding[0]["execTime"])


async def test_speed_sets_how_fast_bars_come_and_a_late_market_drops_its_backlog():
    async with EmulatorServer(config(bar_seconds=60 / 1200)) as server:  # --speed 1200: a bar every 50 ms
        assert server.speed == pytest.approx(1200)
        t0, b0 = time.monotonic(), server.state.batches
        await asyncio.sleep(1.0)
        bars = server.state.batches - b0
        assert 10 <= bars <= 21, f"{bars} bars in {time.monotonic() - t0:.2f} s"
        assert server.state.market_ts == START_MS + bars * MINUTE_MS


async def test_at_real_speed_on_the_wall_clock_a_bar_closes_on_the_minute():
    class Clock:
        def now_ms(self) -> int:
            return START_MS + 59_950  # 50 ms before the next minute

    async with EmulatorServer(config(bar_seconds=60.0, clock=Clock(), start_ms=START_MS + 59_950)) as server:
        assert server.state.market_ts == START_MS
        await asyncio.sleep(0.5)
        assert server.state.market_ts == START_MS + MINUTE_MS  # not a whole minute later


# ---------------------------------------------------------------- closed PnL, API key, limits


async def test_closed_pnl_has_one_row_per_closing_order_with_bybits_limits_and_windows():
    async with EmulatorServer(config()) as server:
        http = session(server)
        for i in range(3):
            await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                       qty="0.02")  # fmt: skip
            server.state.advance(2)
            await call(http.place_order, category="linear", symbol="BTCUSDT", side="Sell", orderType="Market",
                       qty="0.01", reduceOnly=True, orderLinkId=f"half-{i}")  # fmt: skip
            await call(http.place_order, category="linear", symbol="BTCUSDT", side="Sell", orderType="Market",
                       qty="0.01", reduceOnly=True)  # fmt: skip
            server.state.advance(2)
        rows = listing(await call(http.get_closed_pnl, category="linear", symbol="BTCUSDT"))
        assert len(rows) == 6 and all(r["closedSize"] == "0.01" and r["fillCount"] == "1" for r in rows)
        assert [int(r["createdTime"]) for r in rows] == sorted((int(r["createdTime"]) for r in rows), reverse=True)
        execs = listing(await call(http.get_executions, category="linear", limit=100))
        wallet = D(listing(await call(http.get_wallet_balance, accountType="UNIFIED"))[0]["totalWalletBalance"])
        assert wallet - START == sum(D(r["closedPnl"]) for r in rows)  # everything was closed
        assert sum(D(r["openFee"]) + D(r["closeFee"]) for r in rows) == sum(D(e["execFee"]) for e in execs)

        # paging: limit 1..100 and a cursor
        page = (await call(http.get_closed_pnl, category="linear", limit=4))["result"]
        rest = (await call(http.get_closed_pnl, category="linear", limit=4, cursor=page["nextPageCursor"]))["result"]
        assert page["list"] + rest["list"] == rows and rest["nextPageCursor"] == ""
        for bad in ({"limit": 101}, {"limit": 0}, {"startTime": 0, "endTime": 7 * DAY_MS + 1}, {"cursor": "x"}):
            assert (await refused(http.get_closed_pnl, category="linear", **bad)).status_code == 10001
        # windows: the last 7 days by default; [start, start + 7 d] with only a start
        assert listing(await call(http.get_closed_pnl, category="linear", endTime=START_MS - 1)) == []
        assert len(listing(await call(http.get_closed_pnl, category="linear", startTime=START_MS))) == 6


async def test_query_api_tells_the_key_and_its_user_id_and_order_lists_keep_bybits_limits():
    async with EmulatorServer(config()) as server:
        http = session(server)
        info = (await call(http.get_api_key_information))["result"]
        assert (info["apiKey"], info["userID"], info["readOnly"], info["uta"]) == (KEY, 100001, 0, 1)
        assert info["secret"] == "" and info["permissions"]["ContractTrade"] == ["Order", "Position"]
        for fn in (http.get_order_history, http.get_open_orders):
            for limit in (0, 51):
                e = await refused(fn, category="linear", settleCoin="USDT", limit=limit)
                assert e.status_code == 10001
        assert (await refused(http.get_executions, category="linear", limit=101)).status_code == 10001
        e = await refused(http.get_order_history, category="linear", startTime=0, endTime=8 * DAY_MS)
        assert e.status_code == 10001
        # openOnly=1: the most recent closed orders instead of the open ones
        placed = await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                            qty="0.01")  # fmt: skip
        closed = listing(await call(http.get_open_orders, category="linear", settleCoin="USDT", openOnly=1))
        assert [o["orderId"] for o in closed] == [placed["result"]["orderId"]]
        assert listing(await call(http.get_open_orders, category="linear", settleCoin="USDT")) == []


# ---------------------------------------------------------------- omni emulator


class Emulator:
    """``omni emulator`` as a real process on a free port."""

    def __init__(self, tmp_path: Path, *flags: str) -> None:
        self.err_path = tmp_path / f"emulator-{time.monotonic_ns()}.err"
        cmd = [sys.executable, "-m", "omni", "emulator", "--port", "0", "--api-key", KEY, "--api-secret", SECRET,
               "--warmup-bars", "30", "--balance", "1000", *flags]  # fmt: skip
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=err, stderr=err, cwd=tmp_path, env=omni_env())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"emulator on (http://127\.0\.0\.1:\d+)", self.err_path.read_text())
            if found:
                self.url = found.group(1)
                return
            if self.proc.poll() is not None:
                raise AssertionError(self.err_path.read_text()[-2000:])
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError("emulator did not start")

    def http(self) -> HTTP:
        http = HTTP(testnet=True, api_key=KEY, api_secret=SECRET, retry_delay=0)
        http.endpoint = self.url
        return http

    def ready(self) -> dict[str, Any]:
        return next(json.loads(line) for line in self.err_path.read_text().splitlines()
                    if '"emulator_ready"' in line)  # fmt: skip

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


@pytest.mark.slow
def test_omni_emulator_lists_the_most_liquid_at_their_real_prices_from_start_and_keeps_its_state(tmp_path):
    # Arrange
    flags = ["--symbols", "3", "--start", "2025-06-15T21:00Z", "--speed", "60", "--state", str(tmp_path / "s.json")]
    emu = Emulator(tmp_path, *flags)
    try:
        http = emu.http()
        ready = emu.ready()
        tickers = {t["symbol"]: D(t["lastPrice"]) for t in http.get_tickers(category="linear")["result"]["list"]}
        # Assert: market time from --start, the most liquid symbols (BTCUSDT first) at their real scale
        assert ready["market_ts"] == 1_750_021_200_000 and ready["speed"] == 60 and not ready["restored"]
        assert "BTCUSDT" in tickers and tickers["BTCUSDT"] > 10_000
        if default_instruments_path() is not None:
            assert set(tickers) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
            assert 500 < tickers["ETHUSDT"] < 10_000
        # Act: an order, then SIGTERM (writes the state), then a restart on the same file
        http.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001",
                         orderLinkId="kept-1")  # fmt: skip
        before = http.get_order_history(category="linear")["result"]["list"]
    finally:
        assert emu.stop() == 0
    again = Emulator(tmp_path, *flags)
    try:
        # Assert: the same order, the same position, and the market did not restart
        after = again.http().get_order_history(category="linear")["result"]["list"]
        assert after == before and after[0]["orderLinkId"] == "kept-1"
        assert again.ready()["restored"] and again.ready()["market_ts"] >= ready["market_ts"]
        pos = again.http().get_positions(category="linear", symbol="BTCUSDT")["result"]["list"][0]
        assert pos["size"] == "0.001"
    finally:
        assert again.stop() == 0


def test_omni_emulator_refuses_start_with_replayed_data(tmp_path):
    data = tmp_path / "BTCUSDT.csv"
    data.write_text("ts,open,high,low,close,volume\n")
    run = subprocess.run(
        [sys.executable, "-m", "omni", "emulator", "--api-key", "k", "--api-secret", "s", "--data", str(data),
         "--start", "21:00"], capture_output=True, text=True, timeout=60, env=omni_env(),
    )  # fmt: skip
    assert run.returncode == 2 and "--start applies to the synthetic market" in run.stderr

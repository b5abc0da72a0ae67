"""Chaos faults of the emulator, each shown to fire and to do what it says, with the real pybit ``HTTP`` client
(blocking: run in a worker thread) and raw aiohttp WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP
from structlog.testing import capture_logs

from omni.emulator import auth
from omni.emulator.chaos import ChaosConfig
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.emulator.ws import PRIVATE_PATH, PUBLIC_PATH, WsHub
from omni.venues.synthetic import SyntheticMarket
from tests.factories import T0, btc

KEY, SECRET = "chaos-key", "chaos-secret"
PRIVATE = ("order", "execution", "position", "wallet")


@contextlib.asynccontextmanager
async def emulator(**chaos: Any) -> AsyncIterator[EmulatorServer]:
    insts = {"BTCUSDT": btc()}
    market = SyntheticMarket(insts, seed=11, start_ts=T0)
    market.start_prices["BTCUSDT"] = 20_000.0
    config = EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET, balance=D(10_000))],
        instruments=insts,
        market=market,
        bar_seconds=0,
        app_hooks=[WsHub.hook],
        chaos=ChaosConfig(**chaos),
    )
    async with EmulatorServer(config) as srv:
        yield srv


def session(server: EmulatorServer, **kw: Any) -> HTTP:
    kw.setdefault("retry_delay", 0)
    http = HTTP(testnet=True, api_key=KEY, api_secret=SECRET, **kw)
    http.endpoint = server.url
    return http


async def call(fn, *args: Any, **params: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **params)


def market_buy(http: HTTP, link: str = "", qty: str = "0.01") -> Any:
    params = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": qty}
    if link:
        params["orderLinkId"] = link
    return http.place_order(**params)


def chaos_lines(logs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "chaos" and e["kind"] == kind]


@contextlib.asynccontextmanager
async def socket(server: EmulatorServer, private: bool = True, topics: tuple[str, ...] = PRIVATE):
    async with aiohttp.ClientSession() as http:
        path = PRIVATE_PATH if private else PUBLIC_PATH
        async with http.ws_connect(server.url.replace("http", "ws") + path) as ws:
            if private:
                expires = int(time.time() * 1000) + 10_000
                await ws.send_json({"op": "auth", "args": [KEY, expires, auth.ws_sign(SECRET, expires)]})
                assert (await ws.receive_json(timeout=2))["success"]
            await ws.send_json({"op": "subscribe", "args": list(topics)})
            assert (await ws.receive_json(timeout=2))["success"]
            yield ws


async def frames(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict[str, Any]]:
    """Every text frame that arrives within ``seconds``."""
    out: list[dict[str, Any]] = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type is not aiohttp.WSMsgType.TEXT:
            break
        out.append(json.loads(msg.data))
    return out


async def until(condition, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.01)


# ------------------------------------------------------------ off by default


async def test_a_default_config_starts_no_chaos_task_and_changes_nothing():
    async with emulator() as server:
        assert server.chaos_tasks == []
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("emulator-chaos")]
        assert server.hub is not None and server.hub.latency is None
        assert server.state.cancel_market_roll is None
        http = session(server)
        placed = await call(market_buy, http, "plain")
        hist = await call(http.get_order_history, category="linear", orderId=placed["result"]["orderId"])
        assert hist["result"]["list"][0]["orderStatus"] == "Filled"


async def test_only_the_timer_faults_switched_on_get_a_task_and_stop_cancels_them():
    async with emulator(ws_drop_every=60, rate_limit_every=60) as server:
        tasks = list(server.chaos_tasks)
        assert sorted(t.get_name() for t in tasks) == ["emulator-chaos-rate_limit", "emulator-chaos-ws_drop"]
    assert all(t.done() for t in tasks) and server.chaos_tasks == []


# ------------------------------------------------------------ WebSocket faults


async def test_ws_drop_closes_every_socket_from_the_server_side():
    with capture_logs() as logs:
        async with emulator(ws_drop_every=0.3) as server, socket(server) as priv, socket(
            server, private=False, topics=("tickers.BTCUSDT",)
        ) as pub:  # fmt: skip
            for ws in (priv, pub):
                msg = await ws.receive(timeout=2)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert any(e["sockets"] == 2 for e in chaos_lines(logs, "ws_drop"))


async def test_ws_stall_keeps_the_socket_open_but_silent_then_delivers_late():
    with capture_logs() as logs:
        async with emulator(ws_stall_every=0.2, ws_stall_seconds=0.8) as server, socket(server) as ws:
            hub = server.hub
            assert hub is not None
            await until(lambda: hub.stalled_until > time.monotonic())
            sent = time.monotonic()
            await ws.send_json({"op": "ping", "req_id": "p1"})
            pong = await ws.receive_json(timeout=3)
            waited = time.monotonic() - sent
            assert pong["op"] == "pong" and pong["req_id"] == "p1"
            assert waited > 0.3  # held back by the stall, not lost, and the socket is still open
            assert not ws.closed
    fired = chaos_lines(logs, "ws_stall")
    assert fired and fired[0]["seconds"] == 0.8


async def test_private_gap_skips_private_frames_while_pings_and_public_frames_still_flow():
    # the first gap comes after >= 1.2 s (every 1.5 s jittered +-20 %), so the start is gap-free
    with capture_logs() as logs:
        async with emulator(private_gap_every=1.5, private_gap_seconds=5) as server, socket(server) as ws, socket(
            server, private=False, topics=("tickers.BTCUSDT",)
        ) as pub:  # fmt: skip
            http = session(server)
            hub = server.hub
            assert hub is not None
            await call(market_buy, http, "before-gap")
            seen = await frames(ws, 0.2)
            assert {f.get("topic") for f in seen} >= {"order", "execution", "position", "wallet"}

            await until(lambda: hub.private_gap_until > time.monotonic())
            skipped = hub.skipped
            placed = await call(market_buy, http, "in-gap")
            server.state.advance(1)
            await ws.send_json({"op": "ping", "req_id": "p2"})
            seen = await frames(ws, 0.3)
            assert [f["op"] for f in seen] == ["pong"]  # only the pong: no private topic frame at all
            assert hub.skipped > skipped
            assert any(f.get("topic") == "tickers.BTCUSDT" for f in await frames(pub, 0.2))
            # REST still tells the truth: the client recovers by resync
            hist = await call(http.get_order_history, category="linear", orderId=placed["result"]["orderId"])
            assert hist["result"]["list"][0]["orderStatus"] == "Filled"
            pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
            assert pos["size"] == "0.02"
    assert chaos_lines(logs, "private_gap")[0]["seconds"] == 5


# ------------------------------------------------------------ REST faults


async def test_rest_fail_rate_one_fails_every_request_and_applies_no_order():
    with capture_logs() as logs:
        async with emulator(rest_fail_rate=1.0, seed=4) as server:
            http = session(server, max_retries=1)
            codes = []
            for i in range(8):
                with pytest.raises((FailedRequestError, InvalidRequestError)) as e:
                    await call(market_buy, http, f"f{i}")
                codes.append(e.value.status_code)
            with pytest.raises((FailedRequestError, InvalidRequestError)):
                await call(http.get_server_time)
            assert set(codes) == {503, 10016}  # both shapes: HTTP 503 with a text body, 200 with retCode 10016
            assert server.state.account(KEY).orders == {}
            assert server.state.account(KEY).engine.positions() == {}
    fired = chaos_lines(logs, "rest_fail")
    assert len(fired) == 9 and fired[0]["path"] == "/v5/order/create"


async def test_rate_limit_timer_windows_answer_10006_with_a_near_future_reset():
    with capture_logs() as logs:
        async with emulator(rate_limit_every=0.3, rate_limit_seconds=1.0) as server:
            await until(lambda: server._rate_limited_until > time.monotonic())
            ts = int(time.time() * 1000)
            query = "category=linear&symbol=BTCUSDT"
            headers = {"X-BAPI-API-KEY": KEY, "X-BAPI-TIMESTAMP": str(ts), "X-BAPI-RECV-WINDOW": "5000",
                       "X-BAPI-SIGN": auth.rest_sign(SECRET, KEY, ts, 5000, query)}  # fmt: skip
            async with aiohttp.ClientSession() as client:
                async with client.get(f"{server.url}/v5/position/list?{query}", headers=headers) as r:
                    body = await r.json()
                    reset, now = int(r.headers["X-Bapi-Limit-Reset-Timestamp"]), int(r.headers["Timenow"])
                    assert (r.status, body["retCode"], body["retMsg"]) == (200, 10006, "Too many visits!")
                    assert r.headers["X-Bapi-Limit-Status"] == "0" and r.headers["X-Bapi-Limit"] == "50"
                    assert now < reset <= now + 1_000
                async with client.get(f"{server.url}/v5/market/time") as r:  # public: unaffected
                    assert (await r.json())["retCode"] == 0
    assert chaos_lines(logs, "rate_limit")[0]["seconds"] == 1.0


async def test_pybit_sleeps_through_a_rate_limit_window_and_succeeds():
    async with emulator(rate_limit_seconds=0.4) as server:
        http = session(server)
        await server.fire("rate_limit")
        started = time.monotonic()
        pos = await call(http.get_positions, category="linear", symbol="BTCUSDT")
        assert pos["retCode"] == 0
        assert time.monotonic() - started > 0.25  # it waited for the reset timestamp
        codes = [s.ret_code for s in server.requests if s.path == "/v5/position/list"]
        assert codes[0] == 10006 and codes[-1] == 0


async def test_reply_lost_applies_the_order_and_a_retry_with_the_same_link_id_gets_110072():
    with capture_logs() as logs:
        async with emulator(reply_lost_rate=1.0) as server:
            http = session(server)
            with pytest.raises(requests.exceptions.ConnectionError, match="without response"):
                await call(market_buy, http, "lost-1")
            acct = server.state.account(KEY)
            assert "lost-1" in acct.by_link  # applied, although the client never heard
            with pytest.raises(InvalidRequestError) as e:
                await call(market_buy, http, "lost-1")
            assert e.value.status_code == 110072
            # a naive client (pybit's own force_retry) resends the same request and gets 110072 too
            naive = session(server, force_retry=True)
            with pytest.raises(InvalidRequestError) as e:
                await call(market_buy, naive, "lost-2")
            assert e.value.status_code == 110072
            hist = await call(http.get_order_history, category="linear")
            assert sorted(o["orderLinkId"] for o in hist["result"]["list"]) == ["lost-1", "lost-2"]
            assert all(o["orderStatus"] == "Filled" for o in hist["result"]["list"])
            # and a client without orderLinkId would now hold a duplicate: both orders stand
            with pytest.raises(requests.exceptions.ConnectionError):
                await call(market_buy, http)
            with pytest.raises(requests.exceptions.ConnectionError):
                await call(market_buy, http)
            assert len(acct.orders) == 4
            assert [s.http_status for s in server.requests if s.path == "/v5/order/create"].count(0) == 4
    fired = chaos_lines(logs, "reply_lost")
    assert len(fired) == 4 and fired[0]["order_link_id"] == "lost-1" and fired[0]["order_id"]


async def test_latency_delays_rest_replies_and_ws_frames_keeping_their_order():
    with capture_logs() as logs:
        async with emulator(latency_ms=150) as server, socket(server, private=False, topics=("tickers.BTCUSDT",)) as ws:
            http = session(server)
            waits = []
            for _ in range(5):
                started = time.monotonic()
                await call(http.get_server_time)
                waits.append(time.monotonic() - started)
            assert all(0.07 <= w < 0.5 for w in waits)
            assert 0.1 < sum(waits) / len(waits) < 0.3
            hub = server.hub
            assert hub is not None
            for i in range(30):  # queued at once, each delayed by its own jittered latency
                hub.inject(json.dumps({"topic": "probe", "n": i}))
            got = [f["n"] for f in await frames(ws, 0.6) if f.get("topic") == "probe"]
            assert got == list(range(30))
    [line] = chaos_lines(logs, "latency")  # continuous: logged once, when armed
    assert line["ms"] == 150 and line["continuous"]


async def test_first_ws_frame_is_delayed_by_latency():
    async with emulator(latency_ms=200) as server, socket(server, private=False, topics=("tickers.BTCUSDT",)) as ws:
        started = time.monotonic()
        await ws.send_json({"op": "ping", "req_id": "l"})
        assert (await ws.receive_json(timeout=2))["ret_msg"] == "pong"
        assert 0.09 < time.monotonic() - started < 0.6


# ------------------------------------------------------------ market orders cancelled unfilled


async def test_cancel_next_market_orders_accepts_then_cancels_unfilled():
    with capture_logs() as logs:
        async with emulator() as server, socket(server) as ws:
            http = session(server)
            server.cancel_next_market_orders(1)
            placed = await call(market_buy, http, "unfilled")
            assert placed["retCode"] == 0
            order_id = placed["result"]["orderId"]
            pushed = await frames(ws, 0.3)
            states = [o["orderStatus"] for f in pushed if f.get("topic") == "order" for o in f["data"]]
            assert states == ["New", "Cancelled"]
            assert not [f for f in pushed if f.get("topic") == "execution"]
            item = (await call(http.get_order_history, category="linear", orderId=order_id))["result"]["list"][0]
            assert (item["orderStatus"], item["cumExecQty"], item["orderType"]) == ("Cancelled", "0", "Market")
            assert (item["cancelType"], item["rejectReason"]) == ("UNKNOWN", "EC_CancelForNoFullFill")
            assert item["orderLinkId"] == "unfilled" and item["timeInForce"] == "IOC"
            execs = await call(http.get_executions, category="linear", orderId=order_id)
            assert execs["result"]["list"] == []
            pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
            assert pos["size"] == "0"
            # one only: the next market order fills
            nxt = await call(market_buy, http, "filled")
            hist = await call(http.get_order_history, category="linear", orderId=nxt["result"]["orderId"])
            assert hist["result"]["list"][0]["orderStatus"] == "Filled"
    assert [e["order_link_id"] for e in chaos_lines(logs, "cancel_market")] == ["unfilled"]


async def test_cancel_market_rate_spares_limit_orders_and_refused_orders_keep_their_error():
    async with emulator(cancel_market_rate=1.0) as server:
        http = session(server)
        placed = await call(market_buy, http, "m1")
        hist = await call(http.get_order_history, category="linear", orderId=placed["result"]["orderId"])
        assert hist["result"]["list"][0]["orderStatus"] == "Cancelled"
        last = server.state.last_price("BTCUSDT")
        assert last is not None
        limit = await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
                           qty="0.01", price=str(last - 100))  # fmt: skip
        hist = await call(http.get_order_history, category="linear", orderId=limit["result"]["orderId"])
        assert hist["result"]["list"][0]["orderStatus"] == "New"
        with pytest.raises(InvalidRequestError) as e:  # below the minimum qty: refused as it would be anyway
            await call(market_buy, http, "tiny", qty="0.0001")
        assert e.value.status_code == 10001

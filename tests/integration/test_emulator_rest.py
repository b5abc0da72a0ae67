"""The real, unmodified pybit ``HTTP`` client against the emulator on a free loopback port.

pybit is blocking, the server runs in the test's event loop: every pybit call goes through a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from omni.domain.market import Bar, MarketBatch
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.venues.synthetic import SyntheticMarket
from tests.factories import T0, btc, small_alt

KEY, SECRET = "emu-key", "emu-secret"
START = D(10_000)


class ShiftedClock:
    """Wall time plus an adjustable offset (to make the client's timestamps stale)."""

    offset_ms = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms


def _instruments() -> dict:
    # hourly funding so a held position meets a settlement
    hourly_btc = dataclasses.replace(btc(), funding_interval_min=60)
    insts = [hourly_btc, small_alt()]
    insts += [dataclasses.replace(small_alt(), symbol=f"X{i}USDT") for i in range(3)]
    return {i.symbol: i for i in insts}


@pytest.fixture
async def server():
    instruments = _instruments()
    market = SyntheticMarket(instruments, seed=7, start_ts=T0)
    market.start_prices["BTCUSDT"] = 20_000.0
    config = EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET, balance=START)],
        instruments=instruments,
        market=market,
        bar_seconds=0,
        clock=ShiftedClock(),
    )
    async with EmulatorServer(config) as srv:
        yield srv


def session(server: EmulatorServer, key: str = KEY, secret: str = SECRET, **kw: Any) -> HTTP:
    kw.setdefault("retry_delay", 0)
    http = HTTP(testnet=True, api_key=key, api_secret=secret, ignore_codes={110043}, **kw)
    http.endpoint = server.url
    return http


async def call(fn, **params: Any) -> Any:
    return await asyncio.to_thread(fn, **params)


def tick_round(x: D) -> D:
    return x.quantize(D("0.1"))


async def test_full_life_cycle_keeps_wallet_equal_to_the_sum_of_executions(server: EmulatorServer):
    http = session(server)
    # Arrange: server time and the instruments, paginated
    t = await call(http.get_server_time)
    assert abs(int(t["result"]["timeSecond"]) - time.time()) < 5
    symbols, cursor = [], None
    while True:
        page = await call(http.get_instruments_info, category="linear", limit=2, cursor=cursor)
        symbols += [i["symbol"] for i in page["result"]["list"]]
        cursor = page["result"]["nextPageCursor"]
        if not cursor:
            break
    assert symbols == sorted(server.state.instruments)
    assert (await call(http.set_leverage, category="linear", symbol="BTCUSDT", buyLeverage="20", sellLeverage="20"))[
        "retCode"
    ] == 0
    again = await call(http.set_leverage, category="linear", symbol="BTCUSDT", buyLeverage="20", sellLeverage="20")
    assert again["retCode"] == 110043

    # Act: a market buy with TP/SL one bar before a funding settlement
    state = server.state
    while state.next_funding_ts("BTCUSDT") - state.market_ts > 60_000:
        state.advance(1)
    last = D((await call(http.get_tickers, category="linear", symbol="BTCUSDT"))["result"]["list"][0]["lastPrice"])
    tp, sl = tick_round(last * D("1.02")), tick_round(last * D("0.98"))
    placed = await call(
        http.place_order,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Market",
        qty="0.05",
        orderLinkId="entry-1",
        takeProfit=str(tp),
        stopLoss=str(sl),
    )
    order_id = placed["result"]["orderId"]

    # Assert: filled, and the position carries the stops
    hist = await call(http.get_order_history, category="linear", orderId=order_id)
    assert hist["result"]["list"][0]["orderStatus"] == "Filled"
    pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert (pos["side"], pos["size"], pos["leverage"]) == ("Buy", "0.05", "20")
    assert D(pos["stopLoss"]) == sl and D(pos["takeProfit"]) == tp

    # Act: let the market run until a stop closes the position
    for _ in range(20_000):
        server.state.advance(1)
        if server.state.account(KEY).engine.position("BTCUSDT") is None:
            break
    pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert (pos["side"], pos["size"]) == ("", "0")

    # Assert: executions explain the wallet to the last 1e-8 USDT
    execs = (await call(http.get_executions, category="linear", symbol="BTCUSDT", limit=100))["result"]["list"]
    kinds = [e["execType"] for e in execs]
    assert kinds.count("Trade") == 2 and "Funding" in kinds
    exit_fill = execs[0]
    assert exit_fill["stopOrderType"] in ("TakeProfit", "StopLoss") and exit_fill["closedSize"] == "0.05"
    assert [e["seq"] for e in execs] == sorted((e["seq"] for e in execs), reverse=True)
    wallet = (await call(http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
    balance = D(wallet["coin"][0]["walletBalance"])
    assert balance == START + sum(D(e["execPnl"]) - D(e["execFee"]) for e in execs)
    assert balance == server.state.account(KEY).engine.balance
    assert D(wallet["totalAvailableBalance"]) == balance
    closing = (await call(http.get_order_history, category="linear", orderId=exit_fill["orderId"]))["result"]["list"]
    assert closing[0]["createType"] in ("CreateByTakeProfit", "CreateByStopLoss")


async def test_resting_limit_order_is_amended_and_cancelled_keeping_its_ids(server: EmulatorServer):
    http = session(server)
    last = server.state.last_price("BTCUSDT")
    assert last is not None
    price = tick_round(last * D("0.9"))
    placed = await call(
        http.place_order,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.01",
        price=str(price),
        orderLinkId="lim-1",
    )
    oid = placed["result"]["orderId"]

    await call(http.amend_order, category="linear", symbol="BTCUSDT", orderLinkId="lim-1", price=str(price - 10))
    open_ = (await call(http.get_open_orders, category="linear", symbol="BTCUSDT"))["result"]["list"]
    assert [(o["orderId"], o["orderLinkId"], D(o["price"])) for o in open_] == [(oid, "lim-1", price - 10)]
    wallet = (await call(http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
    assert D(wallet["coin"][0]["totalOrderIM"]) > 0

    cancelled = await call(http.cancel_order, category="linear", symbol="BTCUSDT", orderId=oid)
    assert cancelled["result"] == {"orderId": oid, "orderLinkId": "lim-1"}
    assert (await call(http.get_open_orders, category="linear", symbol="BTCUSDT"))["result"]["list"] == []
    with pytest.raises(InvalidRequestError) as e:
        await call(http.cancel_order, category="linear", symbol="BTCUSDT", orderId=oid)
    assert e.value.status_code == 110001

    await call(
        http.place_order,
        category="linear",
        symbol="BTCUSDT",
        side="Sell",
        orderType="Limit",
        qty="0.01",
        price=str(tick_round(last * D("1.1"))),
    )
    done = await call(http.cancel_all_orders, category="linear", settleCoin="USDT")
    assert len(done["result"]["list"]) == 1


async def test_trading_stop_sets_the_position_stops(server: EmulatorServer):
    http = session(server)
    await call(http.place_order, category="linear", symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.01")
    last = server.state.last_price("BTCUSDT")
    assert last is not None
    await call(
        http.set_trading_stop,
        category="linear",
        symbol="BTCUSDT",
        positionIdx=0,
        stopLoss=str(tick_round(last * D("1.05"))),
    )
    pos = (await call(http.get_positions, category="linear", settleCoin="USDT"))["result"]["list"]
    assert [(p["side"], D(p["stopLoss"])) for p in pos] == [("Sell", tick_round(last * D("1.05")))]
    with pytest.raises(InvalidRequestError) as e:  # a short's stop-loss must lie above the market
        await call(
            http.set_trading_stop,
            category="linear",
            symbol="BTCUSDT",
            positionIdx=0,
            stopLoss=str(tick_round(last * D("0.95"))),
        )
    assert e.value.status_code == 10001


async def test_duplicate_order_link_id_is_refused_with_110072(server: EmulatorServer):
    http = session(server)
    params = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.001"}
    await call(http.place_order, orderLinkId="dup-1", **params)
    with pytest.raises(InvalidRequestError) as e:
        await call(http.place_order, orderLinkId="dup-1", **params)
    assert e.value.status_code == 110072


async def test_bad_signature_and_unknown_key_are_refused(server: EmulatorServer):
    with pytest.raises(InvalidRequestError) as bad_sign:
        await call(session(server, secret="wrong").get_wallet_balance, accountType="UNIFIED")
    assert bad_sign.value.status_code == 10004
    assert bad_sign.value.message == "Error sign, please check your signature generation algorithm"
    with pytest.raises(InvalidRequestError) as unknown:
        await call(session(server, key="nobody").get_wallet_balance, accountType="UNIFIED")
    assert unknown.value.status_code == 10003


async def test_missing_auth_headers_get_http_401(server: EmulatorServer):
    url = f"{server.url}/v5/position/list?category=linear&symbol=BTCUSDT"
    async with aiohttp.ClientSession() as client, client.get(url) as resp:
        assert resp.status == 401


async def test_stale_timestamp_is_refused_with_10002_until_pybit_gives_up(server: EmulatorServer):
    clock = server.state.clock
    assert isinstance(clock, ShiftedClock)
    clock.offset_ms = 60_000  # the server runs a minute ahead: every client timestamp is stale
    with pytest.raises(FailedRequestError) as e:
        await call(session(server, max_retries=2).get_wallet_balance, accountType="UNIFIED")
    assert e.value.status_code == 400  # pybit: "Bad Request. Retries exceeded maximum."
    assert [r.ret_code for r in server.requests][-2:] == [10002, 10002]


async def test_order_storm_gets_10006_with_a_future_reset_and_pybit_recovers(server: EmulatorServer):
    last = server.state.last_price("BTCUSDT")
    assert last is not None
    price = str(tick_round(last * D("0.8")))
    loop = asyncio.get_running_loop()

    def place(i: int) -> dict:
        http = session(server)
        return http.place_order(
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Limit",
            qty="0.001",
            price=price,
            orderLinkId=f"storm-{i}",
        )

    with ThreadPoolExecutor(max_workers=15) as pool:
        results = await asyncio.gather(*(loop.run_in_executor(pool, place, i) for i in range(15)))

    assert all(r["retCode"] == 0 for r in results)
    limited = [r for r in server.requests if r.ret_code == 10006]
    assert limited, "15 orders at once must exceed 10/s"
    assert all(int(r.headers["X-Bapi-Limit-Reset-Timestamp"]) > r.ts for r in limited)
    assert all(r.http_status != 403 for r in server.requests)
    _, _, headers = await call(
        session(server, return_response_headers=True).get_open_orders, category="linear", symbol="BTCUSDT"
    )
    assert headers["X-Bapi-Limit"] == "50" and int(headers["X-Bapi-Limit-Status"]) == 49


async def test_ip_budget_breach_gets_http_403(server: EmulatorServer):
    async with aiohttp.ClientSession() as client:

        async def get() -> int:
            async with client.get(f"{server.url}/v5/market/time") as resp:
                return resp.status

        statuses = [await get() for _ in range(600)]
        assert set(statuses) == {200}
        assert await get() == 403
    with pytest.raises(FailedRequestError) as e:
        await call(session(server).get_server_time)
    assert e.value.status_code == 403


async def test_market_endpoints_answer_in_bybit_shapes(server: EmulatorServer):
    http = session(server)
    kline = (await call(http.get_kline, category="linear", symbol="BTCUSDT", interval="5", limit=3))["result"]
    assert len(kline["list"]) == 3 and all(len(row) == 7 for row in kline["list"])
    assert int(kline["list"][0][0]) > int(kline["list"][1][0])  # newest first
    assert int(kline["list"][0][0]) % 300_000 == 0
    book = (await call(http.get_orderbook, category="linear", symbol="BTCUSDT", limit=5))["result"]
    assert len(book["b"]) == len(book["a"]) == 5 and D(book["b"][0][0]) < D(book["a"][0][0])
    ticker = (await call(http.get_tickers, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert D(ticker["ask1Price"]) - D(ticker["bid1Price"]) == D("0.2") and ticker["fundingIntervalHour"] == "1"
    assert D(ticker["lastPrice"]) == server.state.last_price("BTCUSDT")
    funding = (await call(http.get_funding_rate_history, category="linear", symbol="BTCUSDT"))["result"]["list"]
    assert funding and set(funding[0]) == {"symbol", "fundingRate", "fundingRateTimestamp"}
    tiers = (await call(http.get_risk_limit, category="linear", symbol="BTCUSDT"))["result"]["list"]
    assert [t["maintenanceMargin"] for t in tiers] == ["0.005", "0.01", "0.015"]
    fees = (await call(http.get_fee_rates, category="linear", symbol="BTCUSDT"))["result"]["list"]
    assert fees == [{"symbol": "BTCUSDT", "takerFeeRate": "0.00055", "makerFeeRate": "0.0002"}]
    with pytest.raises(InvalidRequestError) as e:
        await call(http.get_tickers, category="linear", symbol="NOPEUSDT")
    assert e.value.status_code == 10001


async def test_listeners_get_private_items_in_ws_shapes_and_public_updates(server: EmulatorServer):
    seen: list[tuple[str, list[dict]]] = []
    server.state.listeners.append(lambda topic, data: seen.append((topic, data)))
    await call(
        session(server).place_order,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Market",
        qty="0.01",
        orderLinkId="ws-1",
    )
    topics = [t for t, _ in seen]
    assert topics == ["order", "execution", "position", "wallet"]
    orders = dict(seen)["order"]
    assert [o["orderStatus"] for o in orders] == ["New", "Filled"] and orders[0]["category"] == "linear"
    execution = dict(seen)["execution"][0]
    assert (execution["category"], execution["orderLinkId"], execution["execQty"]) == ("linear", "ws-1", "0.01")
    assert "entryPrice" in dict(seen)["position"][0]
    seen.clear()
    server.state.advance(1)
    public = {t for t, _ in seen}
    assert {"kline.1.BTCUSDT", "kline.5.BTCUSDT", "tickers.BTCUSDT"} <= public


def _flat_then_crash() -> list[MarketBatch]:
    batches = []
    for i in range(70):
        ts = T0 + i * 60_000
        low = 15_000.0 if i == 65 else 20_000.0
        batches.append(MarketBatch(ts + 60_000, [Bar("BTCUSDT", ts, 20_000.0, 20_000.0, low, 20_000.0, 5.0)], []))
    return batches


async def test_liquidation_is_a_bust_trade_and_the_wallet_still_adds_up():
    config = EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET, balance=START)],
        instruments={"BTCUSDT": btc()},
        market=_flat_then_crash(),
        warmup_bars=60,
        bar_seconds=0,
    )
    async with EmulatorServer(config) as server:
        http = session(server)
        await call(http.set_leverage, category="linear", symbol="BTCUSDT", buyLeverage="50", sellLeverage="50")
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.1")
        server.state.advance(10)
        execs = (await call(http.get_executions, category="linear"))["result"]["list"]
        assert [e["execType"] for e in execs] == ["BustTrade", "Trade"]
        assert execs[0]["createType"] == "CreateByLiq" and D(execs[0]["execPnl"]) == D(-40)
        wallet = (await call(http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
        assert D(wallet["totalWalletBalance"]) == START + sum(D(e["execPnl"]) - D(e["execFee"]) for e in execs)
        liq_order = (await call(http.get_order_history, category="linear", orderId=execs[0]["orderId"]))["result"]
        assert liq_order["list"][0]["createType"] == "CreateByLiq"


def test_server_refuses_to_start_without_a_key_pair():
    with pytest.raises(ValueError, match="API key pair"):
        EmulatorServer(EmulatorConfig(accounts=[AccountConfig(KEY, "")]))


async def test_fail_next_injects_http_and_business_failures(server: EmulatorServer):
    http = session(server)
    server.fail_next(1, status=502)
    with pytest.raises(FailedRequestError) as http_error:
        await call(http.get_server_time)
    assert http_error.value.status_code == 502
    server.fail_next(1, ret_code=10016)
    with pytest.raises(InvalidRequestError) as business:
        await call(http.get_server_time)
    assert business.value.status_code == 10016
    assert (await call(http.get_server_time))["retCode"] == 0

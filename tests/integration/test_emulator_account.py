"""The emulator's account endpoints through the real pybit HTTP client (and its private WebSocket): account info and
modes, set-margin-mode, switch-mode, the transaction log, transfers and demo-apply-money, mark-price stops,
cancel-all's 500 cap and reduce-only refusals."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from decimal import Decimal as D
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from omni.domain.market import Bar, Funding, MarketBatch
from omni.domain.orders import OrderIntent, OrderType, Side
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig, StateError
from omni.emulator.ws import WsHub
from omni.venues.bybit_transport import LocalWebSocket
from omni.venues.synthetic import SyntheticMarket
from tests.factories import T0, btc, small_alt
from tests.integration.test_emulator_rest import KEY, SECRET, START, _instruments, call, session, tick_round

DAY_MS = 86_400_000
DEMO_APPLY = "/v5/account/demo-apply-money"


def flat_market(n: int, prices: dict[str, float], funding_every: int = 0, rate: float = 0.0001) -> list[MarketBatch]:
    """``n`` one-minute batches of flat bars at ``prices``; a funding settlement every ``funding_every`` bars."""
    out = []
    for i in range(n):
        ts = T0 + i * 60_000
        bars = [Bar(s, ts, p, p, p, p, 5.0) for s, p in prices.items()]
        fundings = [Funding(s, ts + 60_000, rate) for s in prices] if funding_every and i % funding_every == 0 else []
        out.append(MarketBatch(ts + 60_000, bars, fundings))
    return out


def emulator(
    *accounts: AccountConfig, market: Iterable[MarketBatch] | None = None, instruments: dict | None = None, **kw: Any
) -> EmulatorServer:
    instruments = instruments or _instruments()
    if market is None:
        synthetic = SyntheticMarket(instruments, seed=7, start_ts=T0)
        synthetic.start_prices["BTCUSDT"] = 20_000.0
        market = synthetic
    kw.setdefault("bar_seconds", 0)
    accounts = accounts or (AccountConfig(KEY, SECRET, balance=START),)
    return EmulatorServer(EmulatorConfig(accounts=list(accounts), instruments=instruments, market=market, **kw))


async def refused(fn: Callable[..., Any], *args: Any, **params: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as e:
        await asyncio.to_thread(fn, *args, **params)
    return e.value


def demo_apply(http: HTTP, **params: Any) -> dict:
    """POST /v5/account/demo-apply-money with parameters, through pybit's request path (its own
    ``request_demo_trading_funds`` takes none)."""
    return http._submit_request(method="POST", path=f"{http.endpoint}{DEMO_APPLY}", query=params, auth=True)


async def test_demo_apply_money_allows_one_request_a_minute():
    async with emulator() as server:
        # a sentinel retry code: pybit raises 10006 at once instead of sleeping until the reset
        http = HTTP(testnet=True, api_key=KEY, api_secret=SECRET, retry_codes={-1})
        http.endpoint = server.url
        money = [{"coin": "USDT", "amountStr": "1"}]
        assert (await asyncio.to_thread(demo_apply, http, utaDemoApplyMoney=money))["retCode"] == 0
        e = await refused(demo_apply, http, utaDemoApplyMoney=money)
        assert e.status_code == 10006
        served = server.requests[-1]
        assert served.headers["X-Bapi-Limit"] == "1"
        assert 55_000 < int(served.headers["X-Bapi-Limit-Reset-Timestamp"]) - served.ts <= 60_000
        assert server.state.account(KEY).engine.balance == START + 1


MARKET = {"category": "linear", "symbol": "BTCUSDT", "orderType": "Market"}


# ---------------------------------------------------------------- account info and margin mode


async def test_account_info_defaults_to_a_uta_in_cross_margin_and_reads_the_start_options():
    async with emulator() as server:
        info = await call(session(server).get_account_info)
        assert info["retCode"] == 0
        assert info["result"] == {
            "unifiedMarginStatus": 5, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False,
            "spotHedgingStatus": "OFF", "updatedTime": info["result"]["updatedTime"], "dcpStatus": "OFF",
            "timeWindow": 0, "smpGroup": 0,
        }  # fmt: skip
        assert abs(int(info["result"]["updatedTime"]) - time.time() * 1000) < 60_000
    classic = AccountConfig(KEY, SECRET, margin_mode="ISOLATED_MARGIN", account_type="classic")
    async with emulator(classic) as server:
        result = (await call(session(server).get_account_info))["result"]
        assert (result["unifiedMarginStatus"], result["marginMode"]) == (1, "ISOLATED_MARGIN")
        e = await refused(session(server).set_margin_mode, setMarginMode="REGULAR_MARGIN")
        assert e.status_code == 10028
        e = await refused(session(server).get_transaction_log, accountType="UNIFIED")
        assert e.status_code == 10028
    with pytest.raises(ValueError, match="margin_mode"):
        AccountConfig(KEY, SECRET, margin_mode="CROSS")


async def test_set_margin_mode_applies_account_wide_and_is_refused_while_anything_is_open():
    async with emulator() as server:
        http = HTTP(testnet=True, api_key=KEY, api_secret=SECRET, ignore_codes={3400045}, retry_delay=0,
                    return_response_headers=True)  # fmt: skip
        http.endpoint = server.url
        # Act: switch to isolated on a flat account
        ok, _, headers = await call(http.set_margin_mode, setMarginMode="ISOLATED_MARGIN")
        # Assert: accepted as testnet answers, and read back
        assert (ok["retCode"], ok["retMsg"], ok["result"]) == (0, "Request accepted", {"reasons": []})
        assert headers["X-Bapi-Limit"] == "5"
        info, _, _ = await call(http.get_account_info)
        assert info["result"]["marginMode"] == "ISOLATED_MARGIN"
        # Act: a position open
        await call(http.place_order, side="Buy", qty="0.01", **MARKET)
        failed, _, _ = await call(http.set_margin_mode, setMarginMode="REGULAR_MARGIN")
        # Assert: Bybit's failure with its reasons, mode unchanged
        assert (failed["retCode"], failed["retMsg"]) == (3400045, "Set margin mode failed")
        assert [r["reasonCode"] for r in failed["result"]["reasons"]] == ["3400208"]
        assert (await call(http.get_account_info))[0]["result"]["marginMode"] == "ISOLATED_MARGIN"
        # an open order alone also blocks it
        await call(http.place_order, side="Sell", qty="0.01", reduceOnly=True, **MARKET)
        last = server.state.last_price("BTCUSDT")
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
                   price=str(tick_round(last * D("0.9"))))  # fmt: skip
        failed, _, _ = await call(http.set_margin_mode, setMarginMode="PORTFOLIO_MARGIN")
        assert [r["reasonCode"] for r in failed["result"]["reasons"]] == ["3400054"]
        await call(http.cancel_all_orders, category="linear", settleCoin="USDT")
        assert (await call(http.set_margin_mode, setMarginMode="PORTFOLIO_MARGIN"))[0]["retCode"] == 0
        assert server.state.account(KEY).margin_mode == "PORTFOLIO_MARGIN"
        e = await refused(session(server).set_margin_mode, setMarginMode="CROSS_MARGIN")
        assert e.status_code == 10001


# ---------------------------------------------------------------- position mode


async def test_switch_mode_refuses_no_change_positions_and_orders_and_hedge_mode_refuses_orders():
    async with emulator() as server:
        http = session(server)
        e = await refused(http.switch_position_mode, category="linear", coin="USDT", mode=0)
        assert (e.status_code, e.message) == (110025, "Position mode has not been modified.")
        await call(http.place_order, side="Buy", qty="0.01", **MARKET)
        e = await refused(http.switch_position_mode, category="linear", symbol="BTCUSDT", mode=3)
        assert e.status_code == 110024
        await call(http.place_order, side="Sell", qty="0.01", reduceOnly=True, **MARKET)
        last = server.state.last_price("BTCUSDT")
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
                   price=str(tick_round(last * D("0.9"))))  # fmt: skip
        e = await refused(http.switch_position_mode, category="linear", coin="USDT", mode=3)
        assert e.status_code == 110028
        await call(http.cancel_all_orders, category="linear", symbol="BTCUSDT")
        # Act: hedge mode on BTCUSDT
        assert (await call(http.switch_position_mode, category="linear", symbol="BTCUSDT", mode=3))["retCode"] == 0
        # Assert: recorded, and orders refused (the emulator trades one-way only); other symbols unaffected
        acct = server.state.account(KEY)
        assert (acct.position_mode("BTCUSDT"), acct.position_mode("ALTUSDT")) == (3, 0)
        e = await refused(http.place_order, side="Buy", qty="0.01", **MARKET)
        assert (e.status_code, e.message) == (10001, "position idx not match position mode")
        e = await refused(http.place_order, side="Buy", qty="0.01", positionIdx=1, **MARKET)
        assert e.status_code == 10001 and "not supported" in e.message
        e = await refused(http.switch_position_mode, category="linear", symbol="BTCUSDT", mode=3)
        assert e.status_code == 110025
        # back to one-way for the whole coin
        assert (await call(http.switch_position_mode, category="linear", coin="USDT", mode=0))["retCode"] == 0
        assert (await call(http.place_order, side="Buy", qty="0.01", **MARKET))["retCode"] == 0
    async with emulator(AccountConfig(KEY, SECRET, balance=START, position_mode="hedge")) as server:
        e = await refused(session(server).place_order, side="Buy", qty="0.01", **MARKET)
        assert e.status_code == 10001
        one_way = await call(session(server).switch_position_mode, category="linear", coin="USDT", mode=0)
        assert one_way["retCode"] == 0


# ---------------------------------------------------------------- transaction log


async def _all_rows(http, **params: Any) -> list[dict]:
    rows, cursor = [], None
    while True:
        page = (await call(http.get_transaction_log, accountType="UNIFIED", cursor=cursor, **params))["result"]
        rows += page["list"]
        cursor = page["nextPageCursor"]
        if not cursor:
            return rows


async def test_transaction_log_books_every_cash_change_and_adds_up_to_the_wallet_exactly():
    async with emulator() as server:
        http = session(server)
        state = server.state
        server.transfer(D(250))  # a top-up before trading
        # Act: round trips around funding settlements (BTCUSDT settles hourly), a withdrawal in between
        for i in range(6):
            await call(http.place_order, side="Buy" if i % 2 == 0 else "Sell", qty="0.02", **MARKET)
            state.advance(25)
            await call(http.place_order, side="Sell" if i % 2 == 0 else "Buy", qty="0.02", reduceOnly=True, **MARKET)
            if i == 2:
                server.transfer(D("-100.5"))
        # Assert: paging with limit 5 gives the same rows as one page of 50, newest first
        rows = await _all_rows(http, limit=5)
        assert rows == (await call(http.get_transaction_log, accountType="UNIFIED", limit=50))["result"]["list"]
        assert [int(r["transactionTime"]) for r in rows] == sorted((int(r["transactionTime"]) for r in rows),
                                                                   reverse=True)  # fmt: skip
        assert len({r["id"] for r in rows}) == len(rows)
        kinds = [r["type"] for r in rows]
        assert kinds.count("TRADE") == 12 and kinds.count("TRANSFER_IN") == 1 and kinds.count("TRANSFER_OUT") == 1
        assert kinds.count("SETTLEMENT") >= 1
        # every execution is a row: trades by tradeId = execId, funding with the opposite sign of execFee
        execs = (await call(http.get_executions, category="linear", limit=100))["result"]["list"]
        by_trade = {r["tradeId"]: r for r in rows}
        for e in execs:
            row = by_trade[e["execId"]]
            if e["execType"] == "Funding":
                assert row["type"] == "SETTLEMENT" and D(row["funding"]) == -D(e["execFee"])
                assert D(row["tradePrice"]) == D(e["execPrice"]) and row["side"] == e["side"]
            else:
                assert row["type"] == "TRADE" and D(row["fee"]) == D(e["execFee"])
                assert D(row["cashFlow"]) == D(e["execPnl"]) and row["orderId"] == e["orderId"]
                assert (row["qty"], row["tradePrice"]) == (e["execQty"], e["execPrice"])
        # the identity, exactly: each cashBalance is the previous one plus the row's change, the last is the wallet
        balance = START
        for r in reversed(rows):
            assert D(r["change"]) == D(r["cashFlow"]) + D(r["funding"] or 0) - D(r["fee"] or 0)
            balance += D(r["change"])
            assert D(r["cashBalance"]) == balance, r
        wallet = (await call(http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
        assert D(wallet["coin"][0]["walletBalance"]) == balance == state.account(KEY).engine.balance
        transfers = sum(D(r["cashFlow"]) for r in rows if r["type"].startswith("TRANSFER"))
        realised = sum(D(r["cashFlow"]) for r in rows if r["type"] == "TRADE")
        fees = sum(D(r["fee"]) for r in rows if r["type"] == "TRADE")
        funding_paid = -sum(D(r["funding"]) for r in rows if r["type"] == "SETTLEMENT")
        assert transfers == D("149.5")
        assert balance == START + transfers + realised - fees - funding_paid
        # filters: type, category, baseCoin, currency
        settlements = await _all_rows(http, type="SETTLEMENT")
        assert settlements and {r["type"] for r in settlements} == {"SETTLEMENT"}
        assert all(r["category"] == "linear" for r in await _all_rows(http, category="linear"))
        assert len(await _all_rows(http, baseCoin="BTC")) == len(rows) - 2
        assert await _all_rows(http, currency="USDC") == []


async def test_transaction_log_windows_and_limits_are_bybits():
    async with emulator() as server:
        http = session(server)
        state = server.state
        server.transfer(D(10))
        old_ts = state.market_ts
        state.advance(1500)  # more than a day later
        server.transfer(D(20))
        # the default window is the last 24 h of exchange time
        assert [r["cashFlow"] for r in await _all_rows(http)] == ["20"]
        # only startTime: [start, start + 24 h]; only endTime: [end - 24 h, end]
        assert [r["cashFlow"] for r in await _all_rows(http, startTime=old_ts - 1000)] == ["10"]
        assert [r["cashFlow"] for r in await _all_rows(http, endTime=old_ts + 1000)] == ["10"]
        both = await _all_rows(http, startTime=old_ts, endTime=state.market_ts)
        assert [r["cashFlow"] for r in both] == ["20", "10"]
        for bad in ({"limit": 0}, {"limit": 51}, {"startTime": old_ts, "endTime": old_ts + 7 * DAY_MS + 1},
                    {"startTime": old_ts, "endTime": old_ts - 1}, {"accountType": "CONTRACT"}):  # fmt: skip
            e = await refused(http.get_transaction_log, **({"accountType": "UNIFIED"} | bad))
            assert e.status_code == 10001, bad
        ok = await call(http.get_transaction_log, accountType="UNIFIED", startTime=old_ts,
                        endTime=old_ts + 7 * DAY_MS)  # fmt: skip
        assert ok["retCode"] == 0


async def test_liquidation_is_its_own_row_in_the_transaction_log():
    insts = {"BTCUSDT": btc()}
    batches = flat_market(70, {"BTCUSDT": 20_000.0})
    crash = batches[65].bars[0]
    batches[65] = MarketBatch(batches[65].ts, [crash._replace(low=15_000.0)], [])
    async with emulator(market=batches, instruments=insts) as server:
        http = session(server)
        await call(http.set_leverage, category="linear", symbol="BTCUSDT", buyLeverage="50", sellLeverage="50")
        await call(http.place_order, side="Buy", qty="0.1", **MARKET)
        server.state.advance(10)
        rows = await _all_rows(http)
        assert [r["type"] for r in rows] == ["LIQUIDATION", "TRADE"]
        liq = rows[0]
        assert (D(liq["cashFlow"]), liq["size"], liq["side"]) == (D(-40), "0", "Sell")
        balance = server.state.account(KEY).engine.balance
        assert D(liq["cashBalance"]) == balance == START + sum(D(r["change"]) for r in rows)


# ---------------------------------------------------------------- transfers


async def test_top_ups_move_the_wallet_book_transfer_rows_and_push_wallet_on_the_private_stream():
    # demo-apply-money allows 1 request a minute (test_demo_apply_money_allows_one_request_a_minute): not here
    async with emulator(app_hooks=[WsHub.hook], uid_limits={DEMO_APPLY: 100}) as server:
        http = session(server)
        wallets: list[D] = []
        got = threading.Event()

        def on_wallet(msg: dict) -> None:
            wallets.append(D(msg["data"][0]["coin"][0]["walletBalance"]))
            got.set()

        def build() -> LocalWebSocket:
            ws = LocalWebSocket(server.url.replace("http", "ws"), testnet=True, channel_type="private",
                                api_key=KEY, api_secret=SECRET)  # fmt: skip
            ws.wallet_stream(callback=on_wallet)
            return ws

        ws = await asyncio.to_thread(build)

        async def next_wallet() -> D:
            assert await asyncio.to_thread(got.wait, 5), "no wallet push"
            got.clear()
            return wallets[-1]

        try:
            await asyncio.sleep(0.2)
            # Act / Assert: the test hook
            row = server.transfer(D(100))
            assert (row.type, row.cash_balance) == ("TRANSFER_IN", START + 100)
            assert await next_wallet() == START + 100
            # demo trading's top-up with amounts (other coins are accepted and ignored), then a reduction
            money = [{"coin": "USDT", "amountStr": "250"}, {"coin": "ETH", "amountStr": "1"}]
            added = await asyncio.to_thread(demo_apply, http, adjustType=0, utaDemoApplyMoney=money)
            assert added["retCode"] == 0
            assert await next_wallet() == START + 350
            fifty = [{"coin": "USDT", "amountStr": "50"}]
            taken = await asyncio.to_thread(demo_apply, http, adjustType=1, utaDemoApplyMoney=fifty)
            assert taken["retCode"] == 0
            assert await next_wallet() == START + 300
        finally:
            await asyncio.to_thread(ws.exit)
        wallet = (await call(http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
        assert D(wallet["coin"][0]["walletBalance"]) == D(wallet["totalAvailableBalance"]) == START + 300
        rows = await _all_rows(http)
        assert [(r["type"], r["cashFlow"], r["cashBalance"]) for r in rows] == [
            ("TRANSFER_OUT", "-50", str(START + 300)), ("TRANSFER_IN", "250", str(START + 350)),
            ("TRANSFER_IN", "100", str(START + 100)),
        ]  # fmt: skip
        with pytest.raises(StateError) as no_money:
            server.transfer(-(START + 301))  # never more than is available
        assert no_money.value.code == 110007
        e = await refused(demo_apply, http, utaDemoApplyMoney=[{"coin": "USDT", "amountStr": "100001"}])
        assert e.status_code == 10001
        e = await refused(demo_apply, http, utaDemoApplyMoney=[{"coin": "DOGE", "amountStr": "1"}])
        assert e.status_code == 10001
        # pybit's own method sends no body: the emulator then applies 100 000 USDT (Bybit's default is not documented)
        demo = HTTP(demo=True, api_key=KEY, api_secret=SECRET, retry_delay=0, max_retries=1)
        demo.endpoint = server.url
        assert (await call(demo.request_demo_trading_funds))["retCode"] == 0
        assert server.state.account(KEY).engine.balance == START + 100_300


# ---------------------------------------------------------------- mark price


async def test_a_mark_price_stop_fires_on_the_mark_while_the_last_price_does_not_move():
    keys = ("mark", "last", "stop")
    accounts = [AccountConfig(k, SECRET, balance=START) for k in keys]
    market = flat_market(200, {"BTCUSDT": 20_000.0})
    async with emulator(*accounts, market=market, instruments={"BTCUSDT": btc()}) as server:
        http = {k: session(server, key=k) for k in keys}
        entry = {"side": "Buy", "qty": "0.01", "stopLoss": "19800", **MARKET}
        placed = await call(http["mark"].place_order, slTriggerBy="MarkPrice", tpTriggerBy="MarkPrice",
                            takeProfit="21000", **entry)  # fmt: skip
        await call(http["last"].place_order, slTriggerBy="LastPrice", **entry)
        await call(http["stop"].place_order, side="Buy", qty="0.01", **MARKET)
        await call(http["stop"].set_trading_stop, category="linear", symbol="BTCUSDT", positionIdx=0, tpslMode="Full",
                   stopLoss="19800", slTriggerBy="MarkPrice")  # fmt: skip
        order = await call(http["mark"].get_order_history, category="linear", orderId=placed["result"]["orderId"])
        assert (order["result"]["list"][0]["slTriggerBy"], order["result"]["list"][0]["tpTriggerBy"]) == (
            "MarkPrice", "MarkPrice")  # fmt: skip
        # Act: the mark drops to 19 700 while the last price stays at 20 000
        server.state.pin_mark("BTCUSDT", D(19_700))
        ticker = (await call(http["mark"].get_tickers, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
        assert (ticker["lastPrice"], ticker["markPrice"]) == ("20000", "19700")
        pos = (await call(http["last"].get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
        assert (pos["markPrice"], pos["unrealisedPnl"]) == ("19700", "-3")
        server.state.advance(1)
        # Assert: both MarkPrice stops fired (at the last price of that moment), the LastPrice one did not
        for k in ("mark", "stop"):
            flat = (await call(http[k].get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
            assert flat["size"] == "0", k
            [exit_fill] = (await call(http[k].get_executions, category="linear", limit=1))["result"]["list"]
            assert (exit_fill["stopOrderType"], exit_fill["execPrice"], exit_fill["markPrice"]) == (
                "StopLoss", "20000", "19700")  # fmt: skip
        held = (await call(http["last"].get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
        assert (held["size"], held["stopLoss"]) == ("0.01", "19800")
        # a MarkPrice stop above the mark is refused like Bybit's base-price rule
        e = await refused(http["last"].set_trading_stop, category="linear", symbol="BTCUSDT", positionIdx=0,
                          stopLoss="19750", slTriggerBy="MarkPrice")  # fmt: skip
        assert e.status_code == 10001 and "MarkPrice" in e.message
        # the mark back on the last price
        server.state.set_mark_offset("BTCUSDT", D(0))
        assert server.state.mark_price("BTCUSDT") == server.state.last_price("BTCUSDT")


# ---------------------------------------------------------------- cancel-all and reduce-only


async def test_cancel_all_cancels_at_most_500_orders_per_call():
    insts = {"BTCUSDT": btc(), "ALTUSDT": small_alt()}
    market = flat_market(100, {"BTCUSDT": 20_000.0, "ALTUSDT": 1.0})
    async with emulator(AccountConfig(KEY, SECRET, balance=D(100_000)), market=market, instruments=insts) as server:
        for i in range(600):
            symbol, price, qty = ("ALTUSDT", D("0.9"), D(10)) if i % 2 else ("BTCUSDT", D(18_000), D("0.001"))
            server.state.place(KEY, OrderIntent(f"o{i}", symbol, Side.BUY, qty, OrderType.LIMIT, price))
        http = session(server)
        first = (await call(http.cancel_all_orders, category="linear", settleCoin="USDT"))["result"]
        assert len(first["list"]) == 500 and first["success"] == "1"
        assert len(server.state.account(KEY).engine.open_orders()) == 100
        second = (await call(http.cancel_all_orders, category="linear", settleCoin="USDT"))["result"]
        assert len(second["list"]) == 100
        assert {o["orderLinkId"] for o in first["list"] + second["list"]} == {f"o{i}" for i in range(600)}
        assert (await call(http.get_open_orders, category="linear", settleCoin="USDT"))["result"]["list"] == []


async def test_reduce_only_without_a_position_or_in_its_direction_is_refused_with_110017():
    async with emulator() as server:
        http = session(server)
        e = await refused(http.place_order, side="Sell", qty="0.01", reduceOnly=True, **MARKET)
        assert (e.status_code, e.message) == (110017, "Reduce-only rule not satisfied")
        await call(http.place_order, side="Buy", qty="0.01", **MARKET)
        e = await refused(http.place_order, side="Buy", qty="0.01", reduceOnly=True, **MARKET)
        assert e.status_code == 110017
        last = server.state.last_price("BTCUSDT")
        e = await refused(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
                          qty="0.01", price=str(tick_round(last * D("0.9"))), reduceOnly=True)  # fmt: skip
        assert e.status_code == 110017
        closed = await call(http.place_order, side="Sell", qty="0.05", reduceOnly=True, **MARKET)  # truncated
        assert closed["retCode"] == 0
        pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
        assert pos["size"] == "0"

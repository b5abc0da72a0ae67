"""Contract: the emulator's REST replies and socket messages have the shapes of Bybit's own recorded payloads.

One emulator (REST through the real pybit client, sockets through a plain aiohttp client) is driven once so every
list has items (a position with a stop, a resting order, fills, a funding settlement, a closed trade); then each
reply or message is compared with a published payload: the same keys, recursively, and the same JSON types
(``shapes.differences``). The payloads are other projects' files (nautilus_trader's and ccxt's recordings, listed
with repository, commit, path and licence in ``fixtures/SOURCES.md``); the project commits none of them. Put them in
a folder laid out as SOURCES.md says and point ``OMNI_CONTRACT_FIXTURES`` at it to run these checks; without it they
skip. The recorded Bybit order book of ``../shared/data`` and the closed-PnL field list of Bybit's docs need no
download.

Every difference that remains is listed below with its reason, and the lists are exact: a new difference, or
one that went away, fails the test until this file says why. The reasons are of a few kinds:
- NEWER: a field of Bybit's current docs (bybit-exchange/docs, docs/v5/...) that the older recording lacks;
- TRIMMED: the fixture was saved without parts every Bybit reply has (``retExtInfo``, ``time``, ``category``);
- CCXT: ccxt's recordings add ``nextPageCursor`` to the first item of a page and ``timestamp`` to a ticker;
- and a few named one by one (a hand-written fixture's spelling, a field Bybit does not send).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from omni.emulator.auth import ws_sign
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.emulator.ws import WsHub
from omni.venues.instruments_file import shared_data_dir
from tests.contract.shapes import differences
from tests.integration.test_emulator_rest import KEY, SECRET, START, _instruments, call, session, tick_round

FIXTURES = Path(os.environ.get("OMNI_CONTRACT_FIXTURES") or Path(__file__).parent / "fixtures")
NEWER = "NEWER: in Bybit's docs field list (docs/v5/{}), newer than this recording"
TRIMMED = "TRIMMED: the fixture was saved without it; every Bybit reply of this endpoint has it"
CCXT = "CCXT: ccxt adds it to what it records; not a Bybit field"
EXEC_PNL = (
    "NOT BYBIT: Bybit's REST execution list has no execPnl (docs/v5/order/execution; ccxt's recorded reply has "
    "none) - only the execution stream does. The shared codec writes it and the daemon's codec reads it from REST "
    "items (omni/venues/bybit_codec_trading.fill_from_item): on Bybit a fill recovered by REST would book 0 PnL. "
    "Kept until the daemon stops relying on it (reported)"
)
SETTLE_COIN_TYPE = "NOT IN DOCS: sent by the shared codec (omni/venues/bybit_codec.instrument_to_item); harmless"
MMR_SPELLING = (
    "SPELLING: Bybit's docs table and position stream say mmrSysUpdatedTime; this hand-written fixture (and the "
    "docs' REST example) say mmrSysUpdateTime"
)
NO_PERMISSION = "the emulated key has none of these permissions: an empty list"
#: /v5/position/closed-pnl: Bybit's docs table (docs/v5/position/close-pnl), every value a string; no licensed
#: recorded reply was found (see SOURCES.md)
CLOSED_PNL_FIELDS = (
    "symbol", "orderId", "side", "qty", "orderPrice", "orderType", "execType", "closedSize", "cumEntryValue",
    "avgEntryPrice", "cumExitValue", "avgExitPrice", "closedPnl", "fillCount", "leverage", "openFee", "closeFee",
    "createdTime", "updatedTime",
)  # fmt: skip


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def newer(where: str, *fields: str, prefix: str = "result.list[].") -> dict[str, str]:
    return {f"{prefix}{f}: extra here": NEWER.format(where) for f in fields}


# ---------------------------------------------------------------- one emulator, driven once


async def _collect() -> dict[str, Any]:
    config = EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET, balance=START)], instruments=_instruments(), seed=7, warmup_bars=30,
        bar_seconds=0, start_prices={"BTCUSDT": 20_000.0}, app_hooks=[WsHub.hook],
    )  # fmt: skip
    out: dict[str, Any] = {}
    async with EmulatorServer(config) as server, aiohttp.ClientSession() as web:
        http = session(server)
        public = await web.ws_connect(server.url + "/v5/public/linear")
        private = await web.ws_connect(server.url + "/v5/private")
        expires = server.state.now_ms() + 10_000
        await private.send_json({"op": "auth", "args": [KEY, expires, ws_sign(SECRET, expires)]})
        await private.receive_json()
        await private.send_json({"op": "subscribe", "args": ["order", "execution", "position", "wallet"]})
        await private.receive_json()
        topics = ["kline.5.BTCUSDT", "tickers.BTCUSDT", "orderbook.200.BTCUSDT", "publicTrade.BTCUSDT"]
        await public.send_json({"op": "subscribe", "args": topics})
        await public.receive_json()

        last = D(listing(await call(http.get_tickers, category="linear", symbol="BTCUSDT"))[0]["lastPrice"])
        stop = str(tick_round(last * D("0.95")))
        out["create"] = await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                                   orderType="Market", qty="0.05", stopLoss=stop)  # fmt: skip
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01",
                   price=str(tick_round(last * D("0.8"))))  # fmt: skip
        settlement = server.state.next_funding_ts("BTCUSDT")  # hourly on this BTCUSDT: one while the position is held
        while server.state.market_ts < settlement:
            server.state.advance(1)
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Sell", orderType="Market",
                   qty="0.02", reduceOnly=True)  # fmt: skip
        server.state.advance(2)
        await asyncio.sleep(0.2)
        for ws in (private, public):
            while True:
                try:
                    msg = await ws.receive_json(timeout=0.3)
                except TimeoutError:
                    break
                topic = msg.get("topic", "")
                out.setdefault(f"ws:{topic}:{msg.get('type', '')}" if "orderbook" in topic else f"ws:{topic}", msg)

        out["instruments"] = await call(http.get_instruments_info, category="linear", symbol="BTCUSDT")
        out["kline"] = await call(http.get_kline, category="linear", symbol="BTCUSDT", interval="1")
        out["tickers"] = await call(http.get_tickers, category="linear", symbol="BTCUSDT")
        out["orderbook"] = await call(http.get_orderbook, category="linear", symbol="BTCUSDT")
        out["positions"] = await call(http.get_positions, category="linear", symbol="BTCUSDT")
        out["realtime"] = await call(http.get_open_orders, category="linear", symbol="BTCUSDT")
        out["history"] = await call(http.get_order_history, category="linear")
        out["executions"] = await call(http.get_executions, category="linear")
        out["funding_executions"] = await call(http.get_executions, category="linear", execType="Funding")
        out["wallet"] = await call(http.get_wallet_balance, accountType="UNIFIED")
        out["account_info"] = await call(http.get_account_info)
        out["transaction_log"] = await call(http.get_transaction_log, accountType="UNIFIED")
        out["query_api"] = await call(http.get_api_key_information)
        out["closed_pnl"] = await call(http.get_closed_pnl, category="linear")
    return out


def listing(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return reply["result"]["list"]


@pytest.fixture(scope="module")
def emulated() -> dict[str, Any]:
    return asyncio.run(_collect())


# ---------------------------------------------------------------- the cases

#: name -> (fixture file, what of the emulator's output, what of the fixture, leniency, documented differences)
CASES: dict[str, tuple[str, str, Any, dict[str, bool], dict[str, str]]] = {
    "instruments-info": ("nautilus_trader/http_instrument_btc_usdt.json", "instruments", None, {}, {
        **newer("market/instrument", "copyTrading", "upperFundingRate", "lowerFundingRate", "isPreListing",
                "preListingInfo", "riskParameters", "symbolType", "displayName", "forbidUplWithdrawal",
                "lotSizeFilter.maxMktOrderQty", "lotSizeFilter.minNotionalValue"),
        "result.list[].settleCoinType: extra here": SETTLE_COIN_TYPE,
        "result.category: extra here": TRIMMED, "result.nextPageCursor: extra here": TRIMMED,
        "retExtInfo: extra here": TRIMMED,
    }),
    "kline": ("nautilus_trader/http_get_klines_linear.json", "kline", None, {}, {}),
    "tickers": ("nautilus_trader/http_tickers_linear.json", "tickers", None, {},
                newer("market/tickers", "preOpenPrice", "preQty", "curPreListingPhase", "fundingIntervalHour",
                      "fundingCap")),
    "tickers (recorded by ccxt, 2024-11)": ("ccxt/fetchFundingRate_tickers.json", "tickers", None,
                                            {"numbers_as_strings": True}, {
        "result.list[].timestamp: missing here": CCXT,
        **newer("market/tickers", "fundingIntervalHour", "fundingCap"),
    }),
    "orderbook": ("nautilus_trader/http_get_orderbook.json", "orderbook", None, {},
                  {"retExtInfo: extra here": TRIMMED}),
    "position list": ("nautilus_trader/http_get_positions.json", "positions", None, {}, {
        "result.list[].mmrSysUpdateTime: missing here": MMR_SPELLING,
        "result.list[].mmrSysUpdatedTime: extra here": MMR_SPELLING,
        **newer("position/position", "positionIMByMp", "positionMMByMp", "breakEvenPrice", "sessionAvgPrice"),
    }),
    "order realtime": ("nautilus_trader/http_get_orders_realtime.json", "realtime", None, {"null_is_any": True}, {
        **newer("order/open-order", "createType", "cumFeeDetail", "marketUnit"),
        "result.category: extra here": TRIMMED,
    }),
    "order history": ("nautilus_trader/http_get_orders_history.json", "history", None, {"null_is_any": True}, {
        **newer("order/order-list", "createType", "cumFeeDetail", "marketUnit"),
        "result.category: extra here": TRIMMED,
    }),
    "order create (recorded by ccxt)": ("ccxt/createMarketBuyOrderWithCost_order_create.json", "create", None,
                                        {"numbers_as_strings": True}, {}),
    "execution list": ("nautilus_trader/http_get_executions.json", "executions", None, {}, {
        "result.list[].execPnl: extra here": EXEC_PNL,
        **newer("order/execution", "execFeeV2"),
        "result.list[].marketUnit: extra here": "in Bybit's recorded reply (ccxt, 2024-03), not in this fixture",
    }),
    "execution list (recorded by ccxt, 2024-03)": ("ccxt/fetchFundingHistory_execution_list.json",
                                                   "funding_executions", "result", {"numbers_as_strings": True}, {
        "result.list[].nextPageCursor: missing here": CCXT,
        "result.list[].execPnl: extra here": EXEC_PNL,
        **newer("order/execution", "execFeeV2"),
    }),
    "wallet-balance": ("nautilus_trader/account_wallet_balance.json", "wallet", "result.list.0", {},
                       newer("account/wallet-balance", "free", "spotHedgingQty", "spotBorrow", prefix="coin[].")),
    "account info": ("nautilus_trader/http_get_account_info.json", "account_info", None, {},
                     {"retExtInfo: extra here": TRIMMED, "time: extra here": TRIMMED}),
    "transaction-log (recorded by ccxt, 2024-02)": ("ccxt/fetchLedger_transaction_log.json", "transaction_log", None,
                                                    {"numbers_as_strings": True}, {
        "result.list[].nextPageCursor: missing here": CCXT,
        **newer("account/transaction-log", "transSubType", "extraFees"),
    }),
    "query-api": ("nautilus_trader/http_get_user_query_api.json", "query_api", None, {}, {
        f"result.permissions.{k}: empty here, cannot compare": NO_PERMISSION
        for k in ("Earn", "FiatP2P", "FiatBybitPay", "FiatConvertBroker", "FiatBitPay", "BitCard", "ByXPost")
    }),
    "ws order": ("nautilus_trader/ws_order.json", "ws:order", None, {},
                 newer("websocket/private/order", "createType", "cumFeeDetail", "isLeverage", "marketUnit",
                       "closedPnl", prefix="data[].")),
    "ws execution": ("nautilus_trader/ws_execution.json", "ws:execution", None, {},
                     newer("websocket/private/execution", "createType", "execPnl", "feeCurrency", "marketUnit",
                           prefix="data[].")),
    "ws position": ("nautilus_trader/ws_position.json", "ws:position", None, {},
                    newer("websocket/private/position", "positionIMByMp", "positionMMByMp", "curRealisedPnl",
                          "breakEvenPrice", prefix="data[].")),
    "ws wallet": ("nautilus_trader/ws_wallet.json", "ws:wallet", None, {},
                  newer("websocket/private/wallet", "free", "spotBorrow", prefix="data[].coin[].")),
    "ws kline": ("nautilus_trader/ws_kline.json", "ws:kline.5.BTCUSDT", None, {}, {}),
    "ws tickers": ("nautilus_trader/ws_ticker_linear.json", "ws:tickers.BTCUSDT", None, {},
                   newer("websocket/public/ticker", "predictedDeliveryPrice", "basisRate", "deliveryFeeRate",
                         "deliveryTime", "basis", "preOpenPrice", "preQty", "curPreListingPhase",
                         "fundingIntervalHour", "fundingCap", prefix="data.")),
    "ws publicTrade": ("nautilus_trader/ws_trade.json", "ws:publicTrade.BTCUSDT", None, {},
                       newer("websocket/public/trade", "seq", prefix="data[].")),
    "ws orderbook snapshot": ("nautilus_trader/ws_orderbook_snapshot.json", "ws:orderbook.200.BTCUSDT:snapshot",
                              None, {}, {"cts: extra here": "hand-written fixture: Bybit's recorded frames carry "
                                                              "cts (the XRPUSDT case below)"}),
    "ws orderbook delta": ("nautilus_trader/ws_orderbook_delta.json", "ws:orderbook.200.BTCUSDT:delta", None, {},
                           {"cts: extra here": "hand-written fixture: Bybit's recorded frames carry cts"}),
}  # fmt: skip


def _pick(doc: Any, where: str | None) -> Any:
    for part in (where or "").split(".") if where else ():
        doc = doc[int(part)] if part.isdigit() else doc[part]
    return doc


@pytest.mark.parametrize("case", list(CASES))
def test_the_emulator_has_bybits_shape(emulated: dict[str, Any], case: str) -> None:
    path, key, where, lenient, documented = CASES[case]
    if not (FIXTURES / path).is_file():
        pytest.skip(f"{path} not in {FIXTURES} (set OMNI_CONTRACT_FIXTURES: see tests/contract/fixtures/SOURCES.md)")
    want = fixture(path)
    got = emulated[key]
    if where == "result":
        got = {"result": got["result"]}
    elif where:
        got = _pick(got, where)
    found = differences(want, got, **lenient)
    unexplained = sorted(set(found) - set(documented))
    gone = sorted(set(documented) - set(found))
    assert not unexplained, f"{case}: differences from Bybit's payload nobody explained: {unexplained}"
    assert not gone, f"{case}: documented differences that no longer occur (update the list): {gone}"


def test_closed_pnl_has_the_fields_of_bybits_docs(emulated: dict[str, Any]) -> None:
    want = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [dict.fromkeys(CLOSED_PNL_FIELDS,
            "")], "nextPageCursor": ""}, "retExtInfo": {}, "time": 0}  # fmt: skip
    assert differences(want, emulated["closed_pnl"]) == []


@pytest.mark.skipif(shared_data_dir() is None, reason="shared data (../shared/data) absent")
def test_orderbook_frames_have_the_shape_bybit_published(emulated: dict[str, Any]) -> None:
    path = shared_data_dir() / "orderbook" / "bybit-linear" / "XRPUSDT.jsonl.gz"  # type: ignore[operator]
    if not path.is_file():
        pytest.skip("no recorded Bybit order book in the shared data")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        recorded = [json.loads(line) for line in f]
    for kind in ("snapshot", "delta"):
        bybit = next(m for m in recorded if m["type"] == kind)
        assert differences(bybit, emulated[f"ws:orderbook.200.BTCUSDT:{kind}"]) == [], kind

"""Bybit V5 JSON <-> domain, on the shapes of shared/docs/bybit-v5.md §4 and captured fixtures."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from omni.domain.errors import VenueFatal, VenueRetryable
from omni.domain.instrument import build_tiers
from omni.domain.market import Bar, Funding
from omni.domain.orders import (
    ExecType,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    StopKind,
    TimeInForce,
)
from omni.venues import bybit_codec as codec
from omni.venues import bybit_codec_account as account_codec
from omni.venues import bybit_codec_trading as trading_codec
from tests.factories import btc

# docs/v5 instruments-info linear item (as quoted in shared/docs/bybit-v5.md §4)
INSTRUMENT = json.loads(
    '{"symbol":"BTCUSDT","contractType":"LinearPerpetual","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT",'
    '"settleCoin":"USDT","launchTime":"1585526400000","deliveryTime":"0","priceScale":"2","leverageFilter":'
    '{"minLeverage":"1","maxLeverage":"100.00","leverageStep":"0.01"},"priceFilter":{"minPrice":"0.10",'
    '"maxPrice":"1999999.80","tickSize":"0.10"},"lotSizeFilter":{"maxOrderQty":"1190.000","minOrderQty":"0.001",'
    '"qtyStep":"0.001","postOnlyMaxOrderQty":"1190.000","maxMktOrderQty":"500.000","minNotionalValue":"5"},'
    '"unifiedMarginTrade":true,"fundingInterval":480,"copyTrading":"both","upperFundingRate":"0.00375",'
    '"lowerFundingRate":"-0.00375","isPreListing":false,"preListingInfo":null,"riskParameters":'
    '{"priceLimitRatioX":"0.01","priceLimitRatioY":"0.02"},"symbolType":""}'
)
# execution stream item (docs example)
EXECUTION = json.loads(
    '{"category":"linear","symbol":"BTCUSDT","closedSize":"0.5","execFee":"26.3725275","execId":"0ab1",'
    '"execPrice":"95900.1","execQty":"0.5","execType":"Trade","execValue":"47950.05","feeRate":"0.00055",'
    '"markPrice":"95901.48","leavesQty":"0","orderId":"9aac","orderLinkId":"","orderPrice":"94942.5",'
    '"orderQty":"0.5","orderType":"Market","stopOrderType":"UNKNOWN","side":"Sell","execTime":"1746270400353",'
    '"isMaker":false,"seq":140612148849382,"execPnl":"0.05","createType":"CreateByUser","feeCurrency":"USDT"}'
)
# funding execution (nautilus_trader test_data/ws_account_execution_funding.json, trimmed)
FUNDING = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "closedSize": "0",
    "execFee": "0.7506234",
    "execId": "7d33",
    "execPrice": "80626.20",
    "execQty": "0.093",
    "execType": "Funding",
    "execValue": "7498.2366",
    "feeRate": "0.0001",
    "markPrice": "80626.20",
    "leavesQty": "0",
    "orderId": "acd8",
    "orderLinkId": "",
    "orderPrice": "0",
    "orderQty": "0.093",
    "orderType": "UNKNOWN",
    "stopOrderType": "UNKNOWN",
    "side": "Buy",
    "execTime": "1788508800000",
    "isMaker": False,
    "seq": 140612148849384,
    "feeCurrency": "USDT",
}
# order stream item (nautilus_trader test_data/ws_account_order.json, trimmed)
ORDER = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "orderId": "abcdef123456",
    "side": "Buy",
    "orderType": "Limit",
    "cancelType": "CancelByUser",
    "price": "30000",
    "qty": "0.010",
    "timeInForce": "GTC",
    "orderStatus": "Cancelled",
    "orderLinkId": "client-1",
    "reduceOnly": False,
    "leavesQty": "0.010",
    "cumExecQty": "0",
    "cumExecValue": "0",
    "avgPrice": "0",
    "positionIdx": 0,
    "cumExecFee": "0",
    "createdTime": "1700000000000",
    "updatedTime": "1700000005000",
    "rejectReason": "",
    "takeProfit": "0",
    "stopLoss": "0",
}
# position/list rows (nautilus_trader test_data/http_get_positions.json, trimmed)
POSITION = {
    "positionIdx": 0,
    "riskId": 1,
    "riskLimitValue": "150",
    "symbol": "BTCUSDT",
    "side": "Buy",
    "size": "0.5",
    "avgPrice": "50000.00",
    "positionValue": "25000",
    "leverage": "10",
    "positionBalance": "2500.00",
    "markPrice": "50500.00",
    "liqPrice": "45000.00",
    "bustPrice": "44500.00",
    "positionMM": "250.00",
    "positionIM": "2500.00",
    "takeProfit": "55000.00",
    "stopLoss": "48000.00",
    "createdTime": "1676538056258",
}
FLAT = {
    "symbol": "SOLUSDT",
    "side": "",
    "size": "0",
    "avgPrice": "0",
    "leverage": "10",
    "liqPrice": "",
    "takeProfit": "0.00",
    "stopLoss": "0.00",
}


def test_dstr_is_plain_and_exact():
    assert [codec.dstr(x) for x in (D("0.00100"), D("2E+4"), D("-1.50"), D("0E-8"), None)] == [
        "0.001",
        "20000",
        "-1.5",
        "0",
        "",
    ]


def test_dopt_treats_blank_and_zero_levels_as_unset():
    assert [codec.dopt(x) for x in ("", None, "0", "0.00", "48000.00")] == [None, None, None, None, D(48000)]


def test_instrument_from_the_documented_item():
    inst = codec.instrument_from_item(INSTRUMENT)
    assert (inst.symbol, inst.tick_size, inst.qty_step, inst.min_qty, inst.max_qty) == (
        "BTCUSDT",
        D("0.1"),
        D("0.001"),
        D("0.001"),
        D(1190),
    )
    assert (inst.max_leverage, inst.min_notional, inst.funding_interval_min) == (D(100), D(5), 480)


def test_instrument_round_trips_with_its_tiers():
    inst = btc()
    item = codec.instrument_to_item(inst)
    assert item["lotSizeFilter"]["minNotionalValue"] == "5" and item["leverageFilter"]["maxLeverage"] == "100.00"
    assert item["priceScale"] == "1" and item["fundingInterval"] == 480
    assert codec.instrument_from_item(item, codec.risk_tiers_from_items(codec.risk_tiers_to_items(inst))) == inst


def test_risk_limit_items_are_fractions_and_a_blank_deduction_is_derived():
    items = codec.risk_tiers_to_items(btc())
    assert items[0] == {
        "id": 1,
        "symbol": "BTCUSDT",
        "riskLimitValue": "2000000",
        "maintenanceMargin": "0.005",
        "initialMargin": "0.01",
        "isLowestRisk": 1,
        "maxLeverage": "100.00",
        "mmDeduction": "",
    }
    for it in items:
        it["mmDeduction"] = ""
    expected = build_tiers(
        [D(2_000_000), D(4_000_000), D(6_000_000)],
        [D("0.005"), D("0.01"), D("0.015")],
        [D("0.01"), D("0.015"), D("0.02")],
    )
    assert codec.risk_tiers_from_items(items) == expected


def test_kline_row_and_funding_item():
    inst = btc()
    bar = Bar("BTCUSDT", 1_670_608_800_000, 17071.0, 17073.0, 17027.0, 17055.5, 15.744626, 1)
    row = codec.bar_to_kline_row(bar, inst)
    assert row == ["1670608800000", "17071", "17073", "17027", "17055.5", "15.744", "268521.792"]
    assert codec.kline_row_to_bar("BTCUSDT", row)[:6] == ("BTCUSDT", 1_670_608_800_000, 17071, 17073, 17027, 17055.5)
    item = codec.funding_to_item(Funding("ETHPERP", 1_672_041_600_000, 0.0001))
    assert item == {"symbol": "ETHPERP", "fundingRate": "0.0001", "fundingRateTimestamp": "1672041600000"}
    assert codec.funding_from_item(item) == Funding("ETHPERP", 1_672_041_600_000, 0.0001)


def test_order_from_a_captured_stream_item():
    order = trading_codec.order_from_item(ORDER)
    assert order == Order(
        "abcdef123456",
        "client-1",
        "BTCUSDT",
        Side.BUY,
        D("0.01"),
        OrderType.LIMIT,
        D(30000),
        TimeInForce.GTC,
        False,
        OrderStatus.CANCELLED,
        D(0),
        1_700_000_000_000,
    )
    extra = trading_codec.order_extra_from_item(ORDER)
    assert (extra.cancel_type, extra.avg_price, extra.updated_ts) == ("CancelByUser", None, 1_700_000_005_000)


def test_order_round_trips_and_reports_leaves_and_fees():
    order = Order(
        "o1",
        "link-1",
        "BTCUSDT",
        Side.SELL,
        D("0.02"),
        OrderType.MARKET,
        None,
        TimeInForce.GTC,
        False,
        OrderStatus.FILLED,
        D("0.02"),
        5,
        take_profit=D(19000),
        stop_loss=D(21000),
    )
    extra = trading_codec.OrderExtra(D(20000), D(400), D("0.22"), 6)
    item = trading_codec.order_to_item(order, extra, ws=True)
    assert (item["orderStatus"], item["timeInForce"], item["leavesQty"], item["cumExecFee"]) == (
        "Filled",
        "IOC",
        "0",
        "0.22",
    )
    assert (item["avgPrice"], item["tpslMode"], item["category"], item["cumFeeDetail"]) == (
        "20000",
        "Full",
        "linear",
        {"USDT": "0.22"},
    )
    assert trading_codec.order_from_item(item) == order
    resting = Order(
        "o2",
        "",
        "BTCUSDT",
        Side.BUY,
        D("0.02"),
        OrderType.LIMIT,
        D(19000),
        TimeInForce.POST_ONLY,
        True,
        OrderStatus.NEW,
    )
    item = trading_codec.order_to_item(resting)
    assert (item["leavesQty"], item["leavesValue"], item["takeProfit"], item["avgPrice"]) == ("0.02", "380", "0", "")
    assert trading_codec.order_from_item(item) == resting


def test_fill_from_the_documented_execution():
    fill = trading_codec.fill_from_item(EXECUTION)
    assert (fill.side, fill.qty, fill.price, fill.fee, fill.fee_rate) == (
        Side.SELL,
        D("0.5"),
        D("95900.1"),
        D("26.3725275"),
        D("0.00055"),
    )
    assert (fill.exec_type, fill.closed_qty, fill.realised_pnl, fill.is_maker, fill.stop_kind) == (
        ExecType.TRADE,
        D("0.5"),
        D("0.05"),
        False,
        None,
    )


def test_funding_execution_carries_the_payment_as_fee_and_the_rate_as_fee_rate():
    fill = trading_codec.fill_from_item(FUNDING)
    assert (fill.exec_type, fill.fee, fill.fee_rate, fill.price) == (
        ExecType.FUNDING,
        D("0.7506234"),
        D("0.0001"),
        D("80626.2"),
    )
    item = trading_codec.fill_to_item(fill, seq=9)
    assert (item["orderType"], item["execValue"], item["execFee"], item["feeRate"]) == (
        "UNKNOWN",
        "7498.2366",
        "0.7506234",
        "0.0001",
    )


@pytest.mark.parametrize(
    ("exec_type", "stop_kind", "create_type"),
    [
        (ExecType.TRADE, StopKind.STOP_LOSS, "CreateByStopLoss"),
        (ExecType.TRADE, None, "CreateByUser"),
        (ExecType.BUST_TRADE, None, "CreateByLiq"),
    ],
)
def test_fill_round_trips(exec_type: ExecType, stop_kind: StopKind | None, create_type: str):
    fill = Fill(
        "e1",
        "o1",
        "c1",
        "BTCUSDT",
        Side.SELL,
        D("0.5"),
        D(19700),
        D("5.4175"),
        D("0.00055"),
        False,
        exec_type,
        D("-150"),
        7,
        D("0.5"),
        stop_kind,
    )
    item = trading_codec.fill_to_item(fill, seq=3, mark_price=D(19690), ws=True)
    assert (item["createType"], item["seq"], item["category"], item["markPrice"]) == (create_type, 3, "linear", "19690")
    assert trading_codec.fill_from_item(item) == fill


def test_position_from_captured_rows_and_the_flat_row():
    pos = trading_codec.position_from_item(POSITION)
    assert pos == Position(
        "BTCUSDT",
        Side.BUY,
        D("0.5"),
        D(50000),
        D(10),
        D(2500),
        D(45000),
        D(44500),
        D(55000),
        D(48000),
        1_676_538_056_258,
    )
    assert trading_codec.position_from_item(FLAT) is None


def test_position_round_trips_and_reports_margins_by_tier():
    inst = btc()
    pos = Position("BTCUSDT", Side.SELL, D("0.5"), D(20000), D(20), D(500), D("20900"), D(21000), None, D(20500), 3)
    item = trading_codec.position_to_item("BTCUSDT", pos, inst=inst, mark=D(19900), leverage=D(20), seq=4)
    assert (item["positionValue"], item["positionMM"], item["unrealisedPnl"], item["riskId"]) == (
        "10000",
        "50",
        "50",
        1,
    )
    assert (item["takeProfit"], item["stopLoss"], item["positionIdx"]) == ("0", "20500", 0)
    assert trading_codec.position_from_item(item) == pos
    ws = trading_codec.position_to_item("BTCUSDT", pos, inst=inst, mark=D(19900), leverage=D(20), ws=True)
    assert ws["entryPrice"] == "20000" and "avgPrice" not in ws and ws["category"] == "linear"
    flat = trading_codec.position_to_item("BTCUSDT", None, inst=inst, mark=D(19900), leverage=D(10))
    assert (flat["side"], flat["size"], flat["liqPrice"], flat["positionIM"]) == ("", "0", "", "0")
    assert trading_codec.position_from_item(flat) is None


def test_wallet_account_totals():
    acct = account_codec.wallet_to_account(
        balance=D(1000),
        available=D(880),
        equity=D(1010),
        unrealised=D(10),
        position_im=D(100),
        order_im=D(20),
        position_mm=D(5),
        cum_realised=D(-3),
    )
    assert (acct["accountType"], acct["totalWalletBalance"], acct["totalAvailableBalance"]) == (
        "UNIFIED",
        "1000",
        "880",
    )
    assert (acct["totalInitialMargin"], acct["totalMarginBalance"], acct["accountIMRate"]) == ("120", "1010", "0.1188")
    coin = acct["coin"][0]
    assert (coin["coin"], coin["totalOrderIM"], coin["totalPositionIM"], coin["cumRealisedPnl"]) == (
        "USDT",
        "20",
        "100",
        "-3",
    )
    assert account_codec.wallet_from_account(acct) == (D(1000), D(880))


def test_intent_round_trips_through_place_order_params():
    intent = OrderIntent(
        "cid-1",
        "BTCUSDT",
        Side.BUY,
        D("0.010"),
        OrderType.LIMIT,
        D("19999.9"),
        TimeInForce.POST_ONLY,
        take_profit=D(21000),
        stop_loss=D(19000),
    )
    params = trading_codec.intent_to_params(intent)
    assert params == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "19999.9",
        "timeInForce": "PostOnly",
        "orderLinkId": "cid-1",
        "positionIdx": 0,
        "tpslMode": "Full",
        "takeProfit": "21000",
        "tpTriggerBy": "LastPrice",
        "stopLoss": "19000",
        "slTriggerBy": "LastPrice",
    }
    assert trading_codec.params_to_intent(params) == intent
    market = OrderIntent("", "BTCUSDT", Side.SELL, D("0.001"), reduce_only=True)
    assert trading_codec.params_to_intent(trading_codec.intent_to_params(market)) == market


def test_params_accept_json_numbers_as_ws_order_entry_sends_them():
    params = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": 0.001,
        "price": 20000.5,
    }
    intent = trading_codec.params_to_intent(params)
    assert (intent.qty, intent.price) == (D("0.001"), D("20000.5"))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"category": "spot"}, 10001),
        ({"qty": ""}, 10001),
        ({"orderType": "Limit"}, 10001),  # no price
        ({"orderLinkId": "x" * 37}, 10001),
        ({"orderLinkId": "bad id"}, 10001),
        ({"reduceOnly": True, "stopLoss": "19000"}, 10001),
        ({"positionIdx": 1}, 10001),
        ({"timeInForce": "GTD"}, 10001),
        ({"triggerPrice": "21000"}, 110057),
        ({"qty": "abc"}, 10001),
    ],
)
def test_params_refusals_carry_bybit_codes(change: dict, code: int):
    params = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.001"}
    with pytest.raises(codec.CodecError) as e:
        trading_codec.params_to_intent(params | change)
    assert e.value.code == code


@pytest.mark.parametrize("code", [10002, 10006, 10016, 10429, 10000, 10019])
def test_transient_ret_codes_are_retryable(code: int):
    err = codec.venue_error(code, "msg")
    assert isinstance(err, VenueRetryable) and err.code == code


@pytest.mark.parametrize("code", [10001, 10003, 10004, 110007, 110017, 110043, 110072, 110094])
def test_other_ret_codes_are_fatal(code: int):
    err = codec.venue_error(code, "msg")
    assert isinstance(err, VenueFatal) and not isinstance(err, VenueRetryable) and err.code == code

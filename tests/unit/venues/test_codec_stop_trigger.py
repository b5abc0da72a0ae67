"""Bybit codec: the stop trigger on orders and trading stops (tp/slTriggerBy) and transaction-log rows."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest

from omni.domain.orders import Order, OrderIntent, OrderStatus, OrderType, Side, TimeInForce, TriggerBy
from omni.venues import bybit_codec as codec
from omni.venues import bybit_codec_trading as trading_codec
from omni.venues.bybit_codec_account import (
    TX_SETTLEMENT,
    TX_TRANSFER_OUT,
    Transaction,
    transaction_from_item,
    transaction_to_item,
)

MARK, LAST = TriggerBy.MARK_PRICE, TriggerBy.LAST_PRICE
ENTRY = OrderIntent("e-1", "BTCUSDT", Side.BUY, D("0.01"), take_profit=D(21000), stop_loss=D(19000), stop_trigger=MARK)


def test_an_intents_stop_trigger_travels_as_tp_and_sl_trigger_by_both_ways():
    params = trading_codec.intent_to_params(ENTRY)
    assert (params["slTriggerBy"], params["tpTriggerBy"]) == ("MarkPrice", "MarkPrice")
    assert trading_codec.params_to_intent(params) == ENTRY
    last = dataclasses.replace(ENTRY, stop_trigger=LAST)
    assert trading_codec.intent_to_params(last)["slTriggerBy"] == "LastPrice"
    plain = {k: v for k, v in params.items() if not k.endswith("TriggerBy")}
    assert trading_codec.params_to_intent(plain).stop_trigger is LAST  # Bybit's default


def test_one_trigger_given_sets_the_intents_and_bad_or_mixed_triggers_are_refused():
    params = trading_codec.intent_to_params(ENTRY)
    only_sl = {k: v for k, v in params.items() if k != "tpTriggerBy"}
    assert trading_codec.params_to_intent(only_sl).stop_trigger is MARK
    for change in ({"tpTriggerBy": "LastPrice"}, {"slTriggerBy": "IndexPrice"}, {"slTriggerBy": "Mark"}):
        with pytest.raises(codec.CodecError) as e:
            trading_codec.params_to_intent(params | change)
        assert e.value.code == 10001


def test_order_items_report_and_read_the_trigger():
    order = Order.new("o1", ENTRY, 1)
    item = trading_codec.order_to_item(order)
    assert (item["slTriggerBy"], item["tpTriggerBy"]) == ("MarkPrice", "MarkPrice")
    assert trading_codec.order_from_item(item).stop_trigger is MARK
    bare = Order("o2", "", "BTCUSDT", Side.BUY, D(1), OrderType.MARKET, None, TimeInForce.GTC, False, OrderStatus.NEW)
    assert trading_codec.order_to_item(bare)["slTriggerBy"] == ""


def test_trading_stop_params_round_trip():
    stop = trading_codec.TradingStop(
        "BTCUSDT", take_profit=D(21000), stop_loss=D(19000), tp_trigger=LAST, sl_trigger=MARK
    )
    params = trading_codec.trading_stop_to_params(stop)
    assert params == {"category": "linear", "symbol": "BTCUSDT", "positionIdx": 0, "tpslMode": "Full",
                      "takeProfit": "21000", "tpTriggerBy": "LastPrice", "stopLoss": "19000",
                      "slTriggerBy": "MarkPrice"}  # fmt: skip
    assert trading_codec.params_to_trading_stop(params) == stop
    only_sl = trading_codec.trading_stop_to_params(trading_codec.TradingStop("BTCUSDT", stop_loss=D(19000)))
    assert "slTriggerBy" not in only_sl and trading_codec.params_to_trading_stop(only_sl).sl_trigger is None
    for bad in ({"positionIdx": 1}, {"stopLoss": "0"}, {"tpslMode": "Partial"}, {"slTriggerBy": "IndexPrice"}):
        with pytest.raises(codec.CodecError):
            trading_codec.params_to_trading_stop(params | bad)


def test_transaction_rows_are_exact_strings_and_parse_back():
    row = Transaction("1_BTCUSDT_3", TX_SETTLEMENT, 1_700_000_000_000, D("99.991"), funding=D("-0.009"),
                            fee=D(0), symbol="BTCUSDT", side="Buy", qty=D("0.01"), size=D("0.01"),
                            price=D(90000), fee_rate=D("0.00001"), trade_id="f1")  # fmt: skip
    item = transaction_to_item(row)
    assert item["funding"] == "-0.009" and item["change"] == "-0.009" and item["cashBalance"] == "99.991"
    assert item["currency"] == "USDT" and item["transactionTime"] == "1700000000000" and item["cashFlow"] == "0"
    assert transaction_from_item(item) == row
    out = D("-49.991")
    transfer = Transaction("1_USDT_4", TX_TRANSFER_OUT, 1, D(50), out, category="", qty=out)
    back = transaction_to_item(transfer)
    assert (back["funding"], back["fee"], back["change"], back["side"]) == ("", "", "-49.991", "None")

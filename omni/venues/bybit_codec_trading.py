"""Bybit V5 JSON <-> domain values for trading, pure (no I/O): orders, order entry, executions, positions.

Order items (REST and ``order`` stream) <-> ``Order`` + ``OrderExtra``; place_order params <-> ``OrderIntent``
(validated as Bybit does, for the emulator); trading-stop params <-> ``TradingStop``; execution items <-> ``Fill``;
position items <-> ``Position``. The shared basics (CATEGORY, COIN, CodecError, dstr/dnum/dopt) are in bybit_codec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from omni.domain.instrument import ZERO, Instrument
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
    TriggerBy,
)
from omni.exchange import rules
from omni.venues.bybit_codec import CATEGORY, COIN, CodecError, dnum, dopt, dstr, item_error

_LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_STATUS_IN = {
    "Created": OrderStatus.NEW, "Active": OrderStatus.NEW, "New": OrderStatus.NEW,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED, "Untriggered": OrderStatus.NEW,
    "Triggered": OrderStatus.NEW, "Filled": OrderStatus.FILLED, "Cancelled": OrderStatus.CANCELLED,
    "PartiallyFilledCanceled": OrderStatus.CANCELLED, "Deactivated": OrderStatus.CANCELLED,
    "Rejected": OrderStatus.REJECTED,
}  # fmt: skip
#: FOK does not exist in the domain; IOC is the closest (a documented approximation).
_TIF_IN = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.IOC, "PostOnly": TimeInForce.POST_ONLY}
#: tp/slTriggerBy values the domain models (Bybit also has IndexPrice, read as the default LastPrice)
_TRIGGER_IN = {t.value: t for t in TriggerBy}
CREATE_BY_STOP = {StopKind.TAKE_PROFIT: "CreateByTakeProfit", StopKind.STOP_LOSS: "CreateByStopLoss"}
_ORDER_FIXED = {
    "blockTradeId": "", "isLeverage": "", "positionIdx": 0, "orderIv": "", "marketUnit": "", "triggerPrice": "",
    "tpLimitPrice": "0", "slLimitPrice": "0", "triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "",
    "placeType": "", "smpType": "None", "smpGroup": 0, "smpOrderId": "",
}  # fmt: skip
_EXEC_FIXED = {"execFeeV2": "", "feeCurrency": COIN, "tradeIv": "", "markIv": "", "indexPrice": "",
               "underlyingPrice": "", "blockTradeId": ""}  # fmt: skip
_POSITION_FIXED = {
    "positionIdx": 0, "tradeMode": 0, "positionStatus": "Normal", "autoAddMargin": 0, "tpslMode": "Full",
    "trailingStop": "0", "breakEvenPrice": "", "isReduceOnly": False, "mmrSysUpdatedTime": "",
    "leverageSysUpdatedTime": "",
}  # fmt: skip


# ---------------------------------------------------------------- orders


@dataclass(frozen=True, slots=True)
class OrderExtra:
    """What Bybit reports about an order beyond the domain ``Order``."""

    avg_price: Decimal | None = None
    cum_exec_value: Decimal = ZERO
    cum_exec_fee: Decimal = ZERO
    updated_ts: int = 0
    create_type: str = "CreateByUser"
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    stop_order_type: str = ""
    closed_pnl: Decimal = ZERO


def order_to_item(order: Order, extra: OrderExtra | None = None, *, ws: bool = False) -> dict[str, Any]:
    """An /v5/order/realtime item; ``ws`` adds the private ``order`` stream fields."""
    x = extra or OrderExtra(updated_ts=order.created_ts)
    done = order.status in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)
    leaves = ZERO if done else order.qty - order.filled_qty
    price = order.price or ZERO
    tif = TimeInForce.IOC if order.order_type is OrderType.MARKET else order.tif
    tp, sl = order.take_profit, order.stop_loss
    item: dict[str, Any] = {
        "orderId": order.order_id, "orderLinkId": order.client_id, "symbol": order.symbol, "price": dstr(price),
        "qty": dstr(order.qty), "side": order.side.value, "orderStatus": order.status.value,
        "createType": x.create_type, "cancelType": x.cancel_type, "rejectReason": x.reject_reason,
        "avgPrice": dstr(x.avg_price) if x.avg_price else "", "leavesQty": dstr(leaves),
        "leavesValue": dstr(leaves * price), "cumExecQty": dstr(order.filled_qty),
        "cumExecValue": dstr(x.cum_exec_value), "cumExecFee": dstr(x.cum_exec_fee),
        "cumFeeDetail": {COIN: dstr(x.cum_exec_fee)}, "timeInForce": tif.value,
        "orderType": order.order_type.value, "stopOrderType": x.stop_order_type,
        "takeProfit": dstr(tp) or "0", "stopLoss": dstr(sl) or "0",
        "tpTriggerBy": order.stop_trigger.value if tp is not None else "",
        "slTriggerBy": order.stop_trigger.value if sl is not None else "",
        "tpslMode": "Full" if tp is not None or sl is not None else "", "reduceOnly": order.reduce_only,
        "closeOnTrigger": bool(x.stop_order_type), "createdTime": str(order.created_ts),
        "updatedTime": str(x.updated_ts or order.created_ts), **_ORDER_FIXED,
    }  # fmt: skip
    if ws:
        item |= {"category": CATEGORY, "closedPnl": dstr(x.closed_pnl), "feeCurrency": COIN}
    return item


def order_from_item(item: dict[str, Any]) -> Order:
    """Parse an order item (REST or ``order`` stream)."""
    try:
        order_type = OrderType(item["orderType"])
        price = dopt(item.get("price")) if order_type is OrderType.LIMIT else None
        # a market order is IOC on Bybit; in the domain its tif is unused and GTC (as params_to_intent makes it)
        tif = _TIF_IN[item.get("timeInForce") or "GTC"] if order_type is OrderType.LIMIT else TimeInForce.GTC
        return Order(
            item["orderId"], item.get("orderLinkId") or "", item["symbol"], Side(item["side"]),
            dnum(item["qty"], "qty"), order_type, price, tif,
            bool(item.get("reduceOnly", False)), _STATUS_IN[item["orderStatus"]],
            dnum(item.get("cumExecQty") or "0", "cumExecQty"), int(item.get("createdTime") or 0),
            dopt(item.get("takeProfit")), dopt(item.get("stopLoss")),
            _TRIGGER_IN.get(item.get("slTriggerBy") or item.get("tpTriggerBy") or "", TriggerBy.LAST_PRICE),
        )  # fmt: skip
    except (KeyError, ValueError) as e:
        raise item_error("order", item, "orderId", e) from None


def order_extra_from_item(item: dict[str, Any]) -> OrderExtra:
    fee = item.get("cumExecFee") or (item.get("cumFeeDetail") or {}).get(COIN) or "0"
    return OrderExtra(
        dopt(item.get("avgPrice")), dnum(item.get("cumExecValue") or "0"), dnum(fee), int(item.get("updatedTime") or 0),
        item.get("createType") or "", item.get("cancelType") or "", item.get("rejectReason") or "",
        item.get("stopOrderType") or "", dnum(item.get("closedPnl") or "0"),
    )  # fmt: skip


# ---------------------------------------------------------------- executions


def fill_to_item(
    fill: Fill,
    *,
    seq: int,
    order: Order | None = None,
    mark_price: Decimal | None = None,
    leaves_qty: Decimal = ZERO,
    ws: bool = False,
) -> dict[str, Any]:
    """An /v5/execution/list item (``ws`` adds ``category`` as the ``execution`` stream does).

    Funding: execValue = qty x mark, feeRate = the rate, execFee = the payment (> 0 paid), orderType UNKNOWN.
    ``execPnl`` is the fill's realised PnL before fees (BustTrade: minus the lost margin), so over all
    executions walletBalance = start + sum(execPnl) - sum(execFee).
    """
    funding = fill.exec_type is ExecType.FUNDING
    if funding:
        create_type = ""
    elif fill.exec_type is ExecType.BUST_TRADE:
        create_type = "CreateByLiq"
    else:
        create_type = CREATE_BY_STOP.get(fill.stop_kind, "CreateByUser")  # type: ignore[arg-type]
    order_price = order.price if order is not None and order.price is not None else ZERO
    order_type = "UNKNOWN" if funding else (order.order_type.value if order else OrderType.MARKET.value)
    item: dict[str, Any] = {
        "symbol": fill.symbol, "orderId": fill.order_id, "orderLinkId": fill.client_id, "side": fill.side.value,
        "orderPrice": dstr(order_price), "orderQty": dstr(order.qty if order is not None else fill.qty),
        "leavesQty": dstr(leaves_qty), "createType": create_type, "orderType": order_type,
        "stopOrderType": fill.stop_kind.value if fill.stop_kind else "UNKNOWN", "execFee": dstr(fill.fee),
        "execId": fill.exec_id, "execPrice": dstr(fill.price), "execQty": dstr(fill.qty),
        "execType": fill.exec_type.value, "execValue": dstr(fill.qty * fill.price), "execTime": str(fill.ts),
        "isMaker": fill.is_maker, "feeRate": dstr(fill.fee_rate),
        "markPrice": dstr(mark_price if mark_price is not None else fill.price),
        "closedSize": dstr(fill.closed_qty), "execPnl": dstr(fill.realised_pnl), "seq": seq, **_EXEC_FIXED,
    }  # fmt: skip
    if ws:
        item["category"] = CATEGORY
    return item


def fill_from_item(item: dict[str, Any]) -> Fill:
    """Parse an execution item (REST or ``execution`` stream)."""
    stop = item.get("stopOrderType") or ""
    try:
        kind = StopKind(stop) if stop in (StopKind.TAKE_PROFIT.value, StopKind.STOP_LOSS.value) else None
        return Fill(
            item["execId"], item.get("orderId") or "", item.get("orderLinkId") or "", item["symbol"],
            Side(item["side"]), dnum(item["execQty"], "execQty"), dnum(item["execPrice"], "execPrice"),
            dnum(item.get("execFee") or "0", "execFee"), dnum(item.get("feeRate") or "0", "feeRate"),
            bool(item.get("isMaker", False)), ExecType(item["execType"]),
            dnum(item.get("execPnl") or "0", "execPnl"), int(item["execTime"]),
            dnum(item.get("closedSize") or "0", "closedSize"), kind,
        )  # fmt: skip
    except (KeyError, ValueError) as e:
        raise item_error("execution", item, "execId", e) from None


# ---------------------------------------------------------------- positions


def position_to_item(
    symbol: str,
    pos: Position | None,
    *,
    inst: Instrument,
    mark: Decimal | None,
    leverage: Decimal,
    seq: int = 0,
    cur_realised: Decimal = ZERO,
    cum_realised: Decimal = ZERO,
    updated_ts: int = 0,
    ws: bool = False,
) -> dict[str, Any]:
    """A /v5/position/list item; ``pos`` None gives Bybit's flat row (side '', size '0')."""
    value = pos.value if pos is not None else ZERO
    tier = inst.tier_for_value(value)
    mm = rules.money(rules.maintenance_margin(value, tier)) if pos is not None else ZERO
    upnl = rules.money(pos.unrealised(mark)) if pos is not None and mark is not None else ZERO
    im = pos.margin if pos is not None else ZERO
    tp = pos.take_profit if pos is not None else None
    sl = pos.stop_loss if pos is not None else None
    item: dict[str, Any] = {
        "riskId": tier.tier, "riskLimitValue": dstr(tier.limit), "symbol": symbol,
        "side": pos.side.value if pos is not None else "", "size": dstr(pos.size) if pos is not None else "0",
        "avgPrice": dstr(pos.entry_price) if pos is not None else "0", "positionValue": dstr(value),
        "adlRankIndicator": 2 if pos is not None else 0, "leverage": dstr(leverage), "positionBalance": dstr(im),
        "markPrice": dstr(mark), "liqPrice": dstr(pos.liq_price) if pos is not None else "",
        "bustPrice": dstr(pos.bust_price) if pos is not None else "", "positionIM": dstr(im),
        "positionIMByMp": dstr(im), "positionMM": dstr(mm), "positionMMByMp": dstr(mm),
        "takeProfit": dstr(tp) or "0", "stopLoss": dstr(sl) or "0", "unrealisedPnl": dstr(upnl),
        "curRealisedPnl": dstr(cur_realised), "cumRealisedPnl": dstr(cum_realised), "seq": seq,
        "createdTime": str(pos.opened_ts if pos is not None else 0), "updatedTime": str(updated_ts),
        **_POSITION_FIXED,
    }  # fmt: skip
    if ws:
        item["category"] = CATEGORY
        item["entryPrice"] = item.pop("avgPrice")
    return item


def position_from_item(item: dict[str, Any]) -> Position | None:
    """Parse a position item (REST or stream); None for a flat row."""
    size = dnum(item.get("size") or "0", "size")
    if size == 0 or not item.get("side"):
        return None
    try:
        return Position(
            item["symbol"], Side(item["side"]), size, dnum(item.get("avgPrice") or item.get("entryPrice"), "avgPrice"),
            dnum(item["leverage"], "leverage"),
            dnum(item.get("positionIM") or item.get("positionBalance") or "0", "positionIM"),
            dopt(item.get("liqPrice")) or ZERO, dopt(item.get("bustPrice")) or ZERO, dopt(item.get("takeProfit")),
            dopt(item.get("stopLoss")), int(item.get("openTime") or item.get("createdTime") or 0),
        )  # fmt: skip
    except (KeyError, ValueError) as e:
        raise item_error("position", item, "symbol", e) from None


# ---------------------------------------------------------------- order entry


def intent_to_params(intent: OrderIntent) -> dict[str, Any]:
    """place_order parameters for pybit (numbers as strings, one-way mode, TP/SL on ``intent.stop_trigger``)."""
    params: dict[str, Any] = {"category": CATEGORY, "symbol": intent.symbol, "side": intent.side.value,
                              "orderType": intent.order_type.value, "qty": dstr(intent.qty)}  # fmt: skip
    if intent.order_type is OrderType.LIMIT:
        params["price"] = dstr(intent.price)
        params["timeInForce"] = intent.tif.value
    if intent.client_id:
        params["orderLinkId"] = intent.client_id
    params["positionIdx"] = 0
    if intent.reduce_only:
        params["reduceOnly"] = True
    if intent.take_profit is not None or intent.stop_loss is not None:
        params["tpslMode"] = "Full"
    if intent.take_profit is not None:
        params |= {"takeProfit": dstr(intent.take_profit), "tpTriggerBy": intent.stop_trigger.value}
    if intent.stop_loss is not None:
        params |= {"stopLoss": dstr(intent.stop_loss), "slTriggerBy": intent.stop_trigger.value}
    return params


def _trigger(params: dict[str, Any], name: str) -> TriggerBy | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if raw == "IndexPrice":
        raise CodecError(f"{name} IndexPrice is not supported by the emulator (LastPrice, MarkPrice)")
    trigger = _TRIGGER_IN.get(raw) if isinstance(raw, str) else None
    if trigger is None:
        raise CodecError(f"{name} invalid: {raw!r}")
    return trigger


@dataclass(frozen=True, slots=True)
class TradingStop:
    """A /v5/position/trading-stop request (tpslMode Full): levels and their triggers, None = unchanged."""

    symbol: str
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    tp_trigger: TriggerBy | None = None
    sl_trigger: TriggerBy | None = None


def trading_stop_to_params(stop: TradingStop) -> dict[str, Any]:
    """set_trading_stop parameters for pybit (one-way mode, whole-position TP/SL)."""
    params: dict[str, Any] = {"category": CATEGORY, "symbol": stop.symbol, "positionIdx": 0, "tpslMode": "Full"}
    if stop.take_profit is not None:
        params["takeProfit"] = dstr(stop.take_profit)
        if stop.tp_trigger is not None:
            params["tpTriggerBy"] = stop.tp_trigger.value
    if stop.stop_loss is not None:
        params["stopLoss"] = dstr(stop.stop_loss)
        if stop.sl_trigger is not None:
            params["slTriggerBy"] = stop.sl_trigger.value
    return params


def params_to_trading_stop(params: dict[str, Any]) -> TradingStop:
    """Validate trading-stop parameters (one-way, tpslMode Full) as the emulator serves them (CodecError)."""
    if params.get("category") != CATEGORY:
        raise CodecError(f"category only support linear, got {params.get('category')!r}")
    if params.get("symbol") in (None, ""):
        raise CodecError("Missing some parameters that must be filled in, symbol")
    if str(params.get("positionIdx") or 0) != "0":
        raise CodecError("position idx not match position mode")
    if params.get("tpslMode") not in (None, "", "Full"):
        raise CodecError("only tpslMode Full is supported by the emulator")
    levels: dict[str, Decimal | None] = {}
    for name in ("takeProfit", "stopLoss"):
        raw = params.get(name)
        value = dnum(raw, name) if raw not in (None, "") else None
        if value is not None and value <= 0:
            raise CodecError(f"cancelling {name} with '0' is not supported by the emulator")
        levels[name] = value
    if levels["takeProfit"] is None and levels["stopLoss"] is None:
        raise CodecError("Missing some parameters that must be filled in, takeProfit or stopLoss")
    return TradingStop(params["symbol"], levels["takeProfit"], levels["stopLoss"],
                       _trigger(params, "tpTriggerBy"), _trigger(params, "slTriggerBy"))  # fmt: skip


def _flag(value: Any, name: str) -> bool:
    if value in (None, "", False, "false", 0, "0"):
        return False
    if value in (True, "true", 1, "1"):
        return True
    raise CodecError(f"{name} invalid: {value!r}")


def params_to_intent(params: dict[str, Any]) -> OrderIntent:
    """Validate place_order parameters as Bybit does and map them to an OrderIntent (CodecError otherwise).

    Accepts JSON numbers as well as strings (WS order entry sends numbers)."""
    if params.get("category") != CATEGORY:
        raise CodecError(f"category only support linear, got {params.get('category')!r}")
    for name in ("symbol", "side", "orderType", "qty"):
        if params.get(name) in (None, ""):
            raise CodecError(f"Missing some parameters that must be filled in, {name}")
    try:
        side, order_type = Side(params["side"]), OrderType(params["orderType"])
    except ValueError:
        raise CodecError(f"params error: side {params['side']!r} / orderType {params['orderType']!r}") from None
    qty = dnum(params["qty"], "qty")
    if qty <= 0:
        raise CodecError("Qty invalid")
    if params.get("triggerPrice") not in (None, "", "0"):
        raise CodecError("conditional orders (triggerPrice) are not supported by the emulator", 110057)
    if str(params.get("positionIdx") or 0) != "0":
        raise CodecError("position idx not match position mode")
    if params.get("tpslMode") not in (None, "", "Full"):
        raise CodecError("only tpslMode Full is supported")
    tif_raw = params.get("timeInForce") or "GTC"
    if tif_raw not in _TIF_IN:
        raise CodecError(f"timeInForce invalid: {tif_raw!r}")
    link = params.get("orderLinkId") or ""
    if link and not (isinstance(link, str) and _LINK_ID.match(link)):
        raise CodecError("orderLinkId invalid: up to 36 characters of A-Z a-z 0-9 _ -")
    price = None
    if order_type is OrderType.LIMIT:
        if params.get("price") in (None, ""):
            raise CodecError("Missing some parameters that must be filled in, price")
        price = dnum(params["price"], "price")
    reduce_only = _flag(params.get("reduceOnly"), "reduceOnly") or _flag(params.get("closeOnTrigger"), "closeOnTrigger")
    take_profit, stop_loss = dopt(params.get("takeProfit"), "takeProfit"), dopt(params.get("stopLoss"), "stopLoss")
    if reduce_only and (take_profit is not None or stop_loss is not None):
        raise CodecError("TP/SL are not allowed on a reduce-only order")
    tp_by = _trigger(params, "tpTriggerBy") if take_profit is not None else None
    sl_by = _trigger(params, "slTriggerBy") if stop_loss is not None else None
    if tp_by is not None and sl_by is not None and tp_by is not sl_by:
        raise CodecError("tpTriggerBy and slTriggerBy must be the same in the emulator")
    return OrderIntent(
        client_id=link,
        symbol=params["symbol"],
        side=side,
        qty=qty,
        order_type=order_type,
        price=price,
        tif=TimeInForce.GTC if order_type is OrderType.MARKET else _TIF_IN[tif_raw],
        reduce_only=reduce_only,
        take_profit=take_profit,
        stop_loss=stop_loss,
        stop_trigger=sl_by or tp_by or TriggerBy.LAST_PRICE,
    )

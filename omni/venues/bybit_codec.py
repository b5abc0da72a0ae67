"""Bybit V5 JSON <-> domain values, pure (no I/O). Numbers travel as decimal strings both ways.

Used by the emulator (domain -> JSON, in Bybit's exact shapes) and by the Bybit venue (JSON -> domain).
Shapes follow shared/docs/bybit-v5.md §4 (USDT linear perpetuals, one-way mode, positionIdx 0). Fields the
domain does not model are emitted with Bybit's neutral values (the ``_*_FIXED`` tables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from omni.domain.errors import VenueError, VenueFatal, VenueRetryable
from omni.domain.instrument import ZERO, Instrument, RiskTier, default_tiers
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
    TriggerBy,
)
from omni.exchange import rules
from omni.venues.instruments_file import first_tier_limit

CATEGORY = "linear"
COIN = "USDT"
#: Bybit's usual funding cap on majors (fundingCap, upper/lowerFundingRate); the domain does not model it.
FUNDING_CAP = Decimal("0.005")
PARAM_ERROR = 10001
#: retCodes worth retrying: 10000 timeout, 10002 clock skew, 10006/10429 rate limits, 10016 server error,
#: 10019 service restarting, and the rest of pybit's default retry set. Everything else is fatal.
RETRYABLE_CODES = frozenset({10000, 10002, 10006, 10016, 10019, 10429, 30034, 30035, 130035, 130150})
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
_COIN_FIXED = {"free": "", "locked": "0", "spotHedgingQty": "0", "borrowAmount": "0", "availableToWithdraw": "",
               "accruedInterest": "0", "bonus": "0", "marginCollateral": True, "collateralSwitch": True,
               "spotBorrow": "0"}  # fmt: skip


class CodecError(ValueError):
    """A Bybit request or reply that does not map onto the domain; ``code`` is the retCode to answer with."""

    def __init__(self, message: str, code: int = PARAM_ERROR):
        self.code = code
        self.message = message
        super().__init__(message)


# ---------------------------------------------------------------- scalars


def dstr(x: Decimal | int | None) -> str:
    """Exact plain decimal string ('0.001', '20000', '-1.5'); None -> ''."""
    if x is None:
        return ""
    if x == 0:
        return "0"
    return format(Decimal(x).normalize(), "f")


def dnum(x: Any, name: str = "value") -> Decimal:
    """Parse a Bybit number (string, int, or a JSON float via its repr) into a finite Decimal."""
    if isinstance(x, bool) or x is None:
        raise CodecError(f"{name} invalid: {x!r}")
    try:
        value = Decimal(repr(x) if isinstance(x, float) else str(x).strip())
    except InvalidOperation:
        raise CodecError(f"{name} invalid: {x!r}") from None
    if not value.is_finite():
        raise CodecError(f"{name} invalid: {x!r}")
    return value


def dopt(x: Any, name: str = "value") -> Decimal | None:
    """Optional level: '', None, '0', '0.00' mean unset (Bybit's TP/SL/avgPrice/liqPrice convention)."""
    if x is None or x == "":
        return None
    value = dnum(x, name)
    return None if value == 0 else value


def _scale(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _wrap(kind: str, item: dict[str, Any], key: str, e: Exception) -> CodecError:
    return e if isinstance(e, CodecError) else CodecError(f"bad {kind} item {item.get(key)!r}: {e!r}")


# ---------------------------------------------------------------- instruments and risk tiers


def instrument_to_item(inst: Instrument, *, status: str = "Trading", launch_ms: int = 0) -> dict[str, Any]:
    """One /v5/market/instruments-info linear item."""
    qty, tick = dstr(inst.max_qty), dstr(inst.tick_size)
    return {
        "symbol": inst.symbol, "contractType": "LinearPerpetual", "status": status,
        "baseCoin": inst.symbol.removesuffix(COIN), "quoteCoin": COIN, "settleCoin": COIN,
        "launchTime": str(launch_ms), "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(_scale(inst.tick_size)),
        "leverageFilter": {"minLeverage": dstr(inst.min_leverage), "maxLeverage": f"{inst.max_leverage:.2f}",
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": dstr(inst.tick_size * 19_999_998), "tickSize": tick},
        "lotSizeFilter": {"maxOrderQty": qty, "minOrderQty": dstr(inst.min_qty), "qtyStep": dstr(inst.qty_step),
                          "postOnlyMaxOrderQty": qty, "maxMktOrderQty": qty,
                          "minNotionalValue": dstr(inst.min_notional)},
        "unifiedMarginTrade": True, "fundingInterval": inst.funding_interval_min, "settleCoinType": "",
        "copyTrading": "both", "upperFundingRate": dstr(FUNDING_CAP), "lowerFundingRate": dstr(-FUNDING_CAP),
        "isPreListing": False, "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"}, "symbolType": "",
    }  # fmt: skip


def instrument_from_item(item: dict[str, Any], risk_tiers: tuple[RiskTier, ...] | None = None) -> Instrument:
    """Parse an instruments-info item; without ``risk_tiers`` the assumed default ladder is used."""
    try:
        lev, price, lot = item["leverageFilter"], item["priceFilter"], item["lotSizeFilter"]
        max_lev = dnum(lev["maxLeverage"], "maxLeverage")
        return Instrument(
            symbol=item["symbol"],
            tick_size=dnum(price["tickSize"], "tickSize"),
            qty_step=dnum(lot["qtyStep"], "qtyStep"),
            min_qty=dnum(lot["minOrderQty"], "minOrderQty"),
            max_qty=dnum(lot["maxOrderQty"], "maxOrderQty"),
            max_leverage=max_lev,
            risk_tiers=risk_tiers or default_tiers(max_lev, first_tier_limit(max_lev)),
            min_notional=dnum(lot.get("minNotionalValue", "5"), "minNotionalValue"),
            min_leverage=dnum(lev.get("minLeverage", "1"), "minLeverage"),
            funding_interval_min=int(item.get("fundingInterval", 480)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise _wrap("instruments-info", item, "symbol", e) from None


def risk_tiers_to_items(inst: Instrument) -> list[dict[str, Any]]:
    """The symbol's /v5/market/risk-limit items (linear: rates as fractions, not percent)."""
    return [
        {"id": t.tier, "symbol": inst.symbol, "riskLimitValue": dstr(t.limit), "maintenanceMargin": dstr(t.mmr),
         "initialMargin": dstr(t.imr), "isLowestRisk": 1 if i == 0 else 0, "maxLeverage": f"{t.max_leverage:.2f}",
         "mmDeduction": dstr(t.mm_deduction) if t.mm_deduction else ""}
        for i, t in enumerate(inst.risk_tiers)
    ]  # fmt: skip


def risk_tiers_from_items(items: list[dict[str, Any]]) -> tuple[RiskTier, ...]:
    """Parse one symbol's risk-limit items; a blank ``mmDeduction`` is derived as Bybit defines it."""
    tiers: list[RiskTier] = []
    derived = ZERO
    for i, it in enumerate(sorted(items, key=lambda it: int(it["id"]))):
        limit, mmr = dnum(it["riskLimitValue"], "riskLimitValue"), dnum(it["maintenanceMargin"], "maintenanceMargin")
        if i > 0:
            derived += tiers[-1].limit * (mmr - tiers[-1].mmr)
        raw = it.get("mmDeduction")
        deduction = derived if raw in (None, "") else dnum(raw, "mmDeduction")
        imr, lev = dnum(it["initialMargin"], "initialMargin"), dnum(it["maxLeverage"], "maxLeverage")
        tiers.append(RiskTier(i + 1, limit, mmr, imr, lev, deduction))
    return tuple(tiers)


# ---------------------------------------------------------------- market data


def bar_to_kline_row(bar: Bar, inst: Instrument) -> list[str]:
    """[start, open, high, low, close, volume(base), turnover(quote)] as /v5/market/kline lists it."""
    r = inst.round_price
    volume = inst.round_qty(bar.volume)
    turnover = (volume * r(bar.close)).quantize(Decimal("0.0001"), ROUND_DOWN)
    prices = [dstr(r(p)) for p in (bar.open, bar.high, bar.low, bar.close)]
    return [str(bar.ts), *prices, dstr(volume), dstr(turnover)]


def kline_row_to_bar(symbol: str, row: list[str], minutes: int = 1) -> Bar:
    """Parse one kline row (prices become floats: bars are the per-bar hot path)."""
    return Bar(symbol, int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]), minutes)


def funding_to_item(funding: Funding) -> dict[str, str]:
    """One /v5/market/funding/history item."""
    rate = dstr(Decimal(repr(funding.rate)))
    return {"symbol": funding.symbol, "fundingRate": rate, "fundingRateTimestamp": str(funding.ts)}


def funding_from_item(item: dict[str, Any]) -> Funding:
    return Funding(item["symbol"], int(item["fundingRateTimestamp"]), float(item["fundingRate"]))


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
        raise _wrap("order", item, "orderId", e) from None


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
        raise _wrap("execution", item, "execId", e) from None


# ---------------------------------------------------------------- positions and wallet


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
        raise _wrap("position", item, "symbol", e) from None


def _rate(part: Decimal, whole: Decimal) -> str:
    return dstr((part / whole).quantize(Decimal("0.0001"))) if whole > 0 else "0"


def wallet_to_account(
    *,
    balance: Decimal,
    available: Decimal,
    equity: Decimal,
    unrealised: Decimal,
    position_im: Decimal,
    order_im: Decimal = ZERO,
    position_mm: Decimal = ZERO,
    cum_realised: Decimal = ZERO,
) -> dict[str, Any]:
    """One UNIFIED wallet-balance account object (USDT only; USD values = USDT)."""
    im = position_im + order_im
    coin = {
        "coin": COIN, "equity": dstr(equity), "usdValue": dstr(equity), "walletBalance": dstr(balance),
        "totalOrderIM": dstr(order_im), "totalPositionIM": dstr(position_im), "totalPositionMM": dstr(position_mm),
        "unrealisedPnl": dstr(unrealised), "cumRealisedPnl": dstr(cum_realised), **_COIN_FIXED,
    }  # fmt: skip
    return {
        "accountType": "UNIFIED", "accountIMRate": _rate(im, equity), "accountMMRate": _rate(position_mm, equity),
        "accountLTV": "0", "totalEquity": dstr(equity), "totalWalletBalance": dstr(balance),
        "totalMarginBalance": dstr(balance + unrealised), "totalAvailableBalance": dstr(available),
        "totalPerpUPL": dstr(unrealised), "totalInitialMargin": dstr(im),
        "totalMaintenanceMargin": dstr(position_mm), "coin": [coin],
    }  # fmt: skip


def wallet_from_account(account: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(USDT walletBalance, totalAvailableBalance) from a wallet-balance account object."""
    for coin in account.get("coin") or []:
        if coin.get("coin") == COIN:
            return dnum(coin["walletBalance"], "walletBalance"), dnum(account["totalAvailableBalance"])
    raise CodecError("wallet has no USDT coin")


# ---------------------------------------------------------------- transaction log (account/transaction-log)

#: transaction-log ``type`` values the emulator books (Bybit's names, docs/v5/enum "type(uta-translog)")
TX_TRADE, TX_SETTLEMENT, TX_LIQUIDATION = "TRADE", "SETTLEMENT", "LIQUIDATION"
TX_TRANSFER_IN, TX_TRANSFER_OUT = "TRANSFER_IN", "TRANSFER_OUT"


@dataclass(frozen=True, slots=True)
class Transaction:
    """One /v5/account/transaction-log row of the USDT wallet.

    ``cash_flow`` is realised PnL (trades, liquidation) or the amount moved (transfers, signed); ``funding`` > 0 is
    received (the opposite sign of an execution's ``execFee``); ``fee`` > 0 is paid. So ``change = cash_flow +
    funding - fee`` and ``cash_balance`` is the wallet balance right after the row.
    """

    id: str
    type: str
    ts: int
    cash_balance: Decimal
    cash_flow: Decimal = ZERO
    funding: Decimal | None = None
    fee: Decimal | None = None
    symbol: str = ""
    category: str = CATEGORY
    side: str = "None"
    qty: Decimal = ZERO
    size: Decimal = ZERO  # the position after the row, signed (short < 0)
    price: Decimal | None = None
    fee_rate: Decimal | None = None
    trade_id: str = ""
    order_id: str = ""
    order_link_id: str = ""

    @property
    def change(self) -> Decimal:
        return self.cash_flow + (self.funding or ZERO) - (self.fee or ZERO)


def transaction_to_item(tx: Transaction) -> dict[str, Any]:
    """A transaction-log list item, every number a string ('' where Bybit leaves a field empty)."""
    return {
        "id": tx.id, "symbol": tx.symbol, "category": tx.category, "side": tx.side,
        "transactionTime": str(tx.ts), "type": tx.type, "transSubType": "", "qty": dstr(tx.qty),
        "size": dstr(tx.size), "currency": COIN, "tradePrice": dstr(tx.price), "funding": dstr(tx.funding),
        "fee": dstr(tx.fee), "cashFlow": dstr(tx.cash_flow), "change": dstr(tx.change),
        "cashBalance": dstr(tx.cash_balance), "feeRate": dstr(tx.fee_rate), "bonusChange": "",
        "tradeId": tx.trade_id, "orderId": tx.order_id, "orderLinkId": tx.order_link_id, "extraFees": "",
    }  # fmt: skip


def transaction_from_item(item: dict[str, Any]) -> Transaction:
    """Parse a transaction-log item (numbers exact; empty strings become None / 0)."""
    try:
        return Transaction(
            str(item["id"]), item["type"], int(item["transactionTime"]), dnum(item["cashBalance"], "cashBalance"),
            dnum(item.get("cashFlow") or "0", "cashFlow"),
            dnum(item["funding"], "funding") if item.get("funding") not in (None, "") else None,
            dnum(item["fee"], "fee") if item.get("fee") not in (None, "") else None,
            item.get("symbol") or "", item.get("category") or "", item.get("side") or "None",
            dnum(item.get("qty") or "0", "qty"), dnum(item.get("size") or "0", "size"), dopt(item.get("tradePrice")),
            dnum(item["feeRate"], "feeRate") if item.get("feeRate") not in (None, "") else None,
            item.get("tradeId") or "", item.get("orderId") or "", item.get("orderLinkId") or "",
        )  # fmt: skip
    except (KeyError, ValueError, TypeError) as e:
        raise _wrap("transaction-log", item, "id", e) from None


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


# ---------------------------------------------------------------- errors


def is_retryable(ret_code: int) -> bool:
    return ret_code in RETRYABLE_CODES


def venue_error(ret_code: int, ret_msg: str) -> VenueError:
    """The domain error for a non-zero retCode: VenueRetryable for RETRYABLE_CODES, VenueFatal otherwise."""
    cls = VenueRetryable if is_retryable(ret_code) else VenueFatal
    return cls(ret_msg or f"retCode {ret_code}", ret_code)

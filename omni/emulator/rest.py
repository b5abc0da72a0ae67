"""Bybit V5 REST endpoints of the emulator as plain functions: (state, params, api_key) -> ``result`` object.

No HTTP here: ``server.py`` authenticates, rate-limits, parses parameters and wraps results in Bybit's envelope.
A refusal is raised as ``ApiError`` / ``StateError`` / ``CodecError`` (each has Bybit's retCode) and answered
with HTTP 200. Lists are newest first and paginate with an opaque ``cursor`` like Bybit's.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from omni.domain.orders import ExecType
from omni.emulator.state import OPEN, EmulatorState
from omni.venues import bybit_codec as codec

Params = dict[str, Any]
Handler = Callable[[EmulatorState, Params, str], dict[str, Any]]
PARAM_ERROR = 10001
KLINE_MINUTES = {"1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "120": 120, "240": 240, "360": 360, "720": 720}

#: Per-UID limits (requests per rolling second) of the private endpoints (docs/v5/rate-limit, design note 7).
UID_LIMITS = {
    "/v5/order/create": 10, "/v5/order/amend": 10, "/v5/order/cancel": 10, "/v5/order/cancel-all": 10,
    "/v5/position/set-leverage": 10, "/v5/position/trading-stop": 10, "/v5/order/realtime": 50,
    "/v5/order/history": 50, "/v5/position/list": 50, "/v5/execution/list": 50,
    "/v5/account/wallet-balance": 50, "/v5/account/fee-rate": 5,
}  # fmt: skip


class ApiError(Exception):
    """A refused request: Bybit's retCode and retMsg."""

    def __init__(self, code: int, message: str):
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message


# ------------------------------------------------------------ parameter helpers


def _get(params: Params, name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise ApiError(PARAM_ERROR, f"Missing some parameters that must be filled in, {name}")
        return None
    return str(value)


def _int(params: Params, name: str, default: int, lo: int = 1, hi: int = 1 << 62) -> int:
    raw = _get(params, name)
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(PARAM_ERROR, f"params error: {name} must be an integer in [{lo}, {hi}]")
    return int(raw)


def _linear(params: Params, required: bool = True) -> None:
    category = _get(params, "category", required)
    if category is not None and category != codec.CATEGORY:
        raise ApiError(PARAM_ERROR, f"params error: category only support linear, got {category}")


def _symbol(state: EmulatorState, params: Params, required: bool = True) -> str | None:
    symbol = _get(params, "symbol", required)
    if symbol is not None and symbol not in state.instruments:
        raise ApiError(PARAM_ERROR, f"params error: symbol invalid: {symbol}")
    return symbol


def _page(items: list, params: Params, default: int, most: int) -> tuple[list, str]:
    """One page of ``items`` from ``cursor`` (an offset), and the next cursor ('' at the end)."""
    limit = _int(params, "limit", default, 1, most)
    start = _int(params, "cursor", 0, 0)
    end = start + limit
    return items[start:end], str(end) if end < len(items) else ""


def _window(params: Params, ts: int, start: str = "startTime", end: str = "endTime") -> bool:
    lo, hi = _int(params, start, 0, 0), _int(params, end, 1 << 62, 0)
    return lo <= ts <= hi


# ------------------------------------------------------------ market (public)


def server_time(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    now = state.now_ms()
    return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


def instruments_info(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    status = _get(params, "status")
    insts = [state.instruments[symbol]] if symbol else [state.instruments[s] for s in sorted(state.instruments)]
    items = [] if status not in (None, "Trading") else [codec.instrument_to_item(i) for i in insts]
    page, cursor = _page(items, params, 500, 1000)
    return {"category": codec.CATEGORY, "list": page, "nextPageCursor": cursor}


def tickers(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    symbols = [symbol] if symbol else sorted(state.instruments)
    # a symbol without a price yet (a replay file that starts later) is not listed
    return {"category": codec.CATEGORY, "list": [state.ticker(s) for s in symbols if state.bars(s)]}


def kline(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params, required=False)
    symbol = _symbol(state, params)
    assert symbol is not None
    interval = _get(params, "interval", True)
    minutes = KLINE_MINUTES.get(interval or "")
    bars = state.bars(symbol)
    if minutes is None or (bars and minutes % bars[-1].minutes):
        raise ApiError(PARAM_ERROR, f"params error: interval {interval} is not served by the emulator")
    inst = state.instruments[symbol]
    rows = [codec.bar_to_kline_row(b, inst) for b in reversed(state.candles(symbol, minutes))
            if _window(params, b.ts, "start", "end")]  # fmt: skip
    return {"category": codec.CATEGORY, "symbol": symbol, "list": rows[: _int(params, "limit", 200, 1, 1000)]}


def orderbook(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params)
    assert symbol is not None
    bids, asks = state.book(symbol, _int(params, "limit", 25, 1, 500))
    now = state.now_ms()

    def side(levels: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
        return [[codec.dstr(p), codec.dstr(q)] for p, q in levels]

    return {"s": symbol, "b": side(bids), "a": side(asks), "ts": now, "u": state.market_ts // 60_000,
            "seq": state.market_ts // 60_000, "cts": state.market_ts}  # fmt: skip


def funding_history(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params)
    assert symbol is not None
    items = [codec.funding_to_item(f) for f in reversed(state.fundings(symbol)) if _window(params, f.ts)]
    return {"category": codec.CATEGORY, "list": items[: _int(params, "limit", 200, 1, 200)]}


def risk_limit(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    symbols = [symbol] if symbol else sorted(state.instruments)
    items = [t for s in symbols for t in codec.risk_tiers_to_items(state.instruments[s])]
    page, cursor = _page(items, params, 500, 500)
    return {"category": codec.CATEGORY, "list": page, "nextPageCursor": cursor}


# ------------------------------------------------------------ account


def wallet_balance(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    account_type = _get(params, "accountType", True)
    if account_type != "UNIFIED":
        raise ApiError(PARAM_ERROR, "accountType only support UNIFIED")
    coin = _get(params, "coin")
    if coin is not None and codec.COIN not in coin.split(","):
        return {"list": []}
    return {"list": [state.account(key).wallet_item()]}


def fee_rate(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params, required=False)
    symbol = _symbol(state, params, False)
    cfg = state.account(key).config
    taker, maker = codec.dstr(cfg.taker_fee), codec.dstr(cfg.maker_fee)
    symbols = [symbol] if symbol else sorted(state.instruments)
    return {"list": [{"symbol": s, "takerFeeRate": taker, "makerFeeRate": maker} for s in symbols]}


# ------------------------------------------------------------ orders


def _ids(params: Params) -> tuple[str | None, str | None]:
    order_id, link_id = _get(params, "orderId"), _get(params, "orderLinkId")
    if order_id is None and link_id is None:
        raise ApiError(PARAM_ERROR, "params error: orderId or orderLinkId is required")
    return order_id, link_id


def create_order(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _symbol(state, params)
    rec = state.place(key, codec.params_to_intent(params))
    return {"orderId": rec.order.order_id, "orderLinkId": rec.order.client_id}


def amend_order(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params)
    assert symbol is not None
    order_id, link_id = _ids(params)
    for unsupported in ("triggerPrice", "takeProfit", "stopLoss"):
        if _get(params, unsupported) is not None:
            raise ApiError(PARAM_ERROR, f"amending {unsupported} is not supported by the emulator")
    qty, price = _get(params, "qty"), _get(params, "price")
    rec = state.amend(key, symbol, order_id, link_id, codec.dnum(qty, "qty") if qty else None,
                      codec.dnum(price, "price") if price else None)  # fmt: skip
    return {"orderId": rec.order.order_id, "orderLinkId": rec.order.client_id}


def cancel_order(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params)
    assert symbol is not None
    rec = state.cancel(key, symbol, *_ids(params))
    return {"orderId": rec.order.order_id, "orderLinkId": rec.order.client_id}


def cancel_all(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    if symbol is None and _get(params, "settleCoin") is None and _get(params, "baseCoin") is None:
        raise ApiError(PARAM_ERROR, "Missing some parameters that must be filled in, symbol or settleCoin")
    recs = state.cancel_all(key, symbol)
    return {"list": [{"orderId": r.order.order_id, "orderLinkId": r.order.client_id} for r in recs], "success": "1"}


def _orders(state: EmulatorState, params: Params, key: str, open_only: bool) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    order_id, link_id = _get(params, "orderId"), _get(params, "orderLinkId")
    status = _get(params, "orderStatus")
    by_id = order_id is not None or link_id is not None
    recs = [
        r for r in reversed(state.account(key).orders.values())
        if (symbol is None or r.order.symbol == symbol)
        and (order_id is None or r.order.order_id == order_id)
        and (link_id is None or r.order.client_id == link_id)
        and (status is None or r.order.status.value == status)
        and (r.order.status in OPEN or not open_only or by_id)
    ]  # fmt: skip
    page, cursor = _page([r.item() for r in recs], params, 20, 50)
    return {"category": codec.CATEGORY, "list": page, "nextPageCursor": cursor}


def open_orders(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """Open orders; with orderId/orderLinkId also a recently closed one (as Bybit does)."""
    if _get(params, "symbol") is None and _get(params, "settleCoin") is None and _get(params, "baseCoin") is None:
        raise ApiError(PARAM_ERROR, "Missing some parameters that must be filled in, symbol or settleCoin")
    return _orders(state, params, key, True)


def order_history(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """Every order of the account in any status (filter with orderStatus), newest first."""
    return _orders(state, params, key, False)


# ------------------------------------------------------------ positions and executions


def positions(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """With ``symbol`` one row even when flat; with ``settleCoin`` every open position."""
    _linear(params)
    symbol = _symbol(state, params, False)
    acct = state.account(key)
    if symbol is not None:
        symbols = [symbol]
    elif _get(params, "settleCoin") in (codec.COIN,) or _get(params, "baseCoin") is not None:
        symbols = sorted(acct.engine.positions())
    else:
        raise ApiError(PARAM_ERROR, "Missing some parameters that must be filled in, symbol or settleCoin")
    page, cursor = _page([acct.position_item(s) for s in symbols], params, 20, 200)
    return {"category": codec.CATEGORY, "list": page, "nextPageCursor": cursor}


def set_leverage(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params)
    assert symbol is not None
    buy = codec.dnum(_get(params, "buyLeverage", True), "buyLeverage")
    sell = codec.dnum(_get(params, "sellLeverage", True), "sellLeverage")
    if buy != sell:
        raise ApiError(PARAM_ERROR, "buyLeverage must equal sellLeverage in one-way mode")
    state.set_leverage(key, symbol, buy)
    return {}


def trading_stop(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """Set the position's TP/SL (tpslMode Full, last price). Removing one with '0' is not supported yet."""
    _linear(params)
    symbol = _symbol(state, params)
    assert symbol is not None
    if str(params.get("positionIdx", 0)) != "0":
        raise ApiError(PARAM_ERROR, "position idx not match position mode")
    if _get(params, "tpslMode") not in (None, "Full"):
        raise ApiError(PARAM_ERROR, "only tpslMode Full is supported by the emulator")
    levels = {}
    for name in ("takeProfit", "stopLoss"):
        raw = _get(params, name)
        if raw is not None and codec.dnum(raw, name) == 0:
            raise ApiError(PARAM_ERROR, f"cancelling {name} with '0' is not supported by the emulator")
        levels[name] = codec.dnum(raw, name) if raw is not None else None
    if levels["takeProfit"] is None and levels["stopLoss"] is None:
        raise ApiError(PARAM_ERROR, "Missing some parameters that must be filled in, takeProfit or stopLoss")
    state.trading_stop(key, symbol, levels["takeProfit"], levels["stopLoss"])
    return {}


def executions(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    order_id, link_id = _get(params, "orderId"), _get(params, "orderLinkId")
    exec_type = _get(params, "execType")
    if exec_type is not None and exec_type not in {t.value for t in ExecType}:
        raise ApiError(PARAM_ERROR, f"params error: execType {exec_type}")
    items = [
        item for fill, item in reversed(state.account(key).executions)
        if (symbol is None or fill.symbol == symbol)
        and (order_id is None or fill.order_id == order_id)
        and (link_id is None or fill.client_id == link_id)
        and (exec_type is None or fill.exec_type.value == exec_type)
        and _window(params, fill.ts)
    ]  # fmt: skip
    page, cursor = _page(items, params, 50, 100)
    return {"category": codec.CATEGORY, "list": page, "nextPageCursor": cursor}


#: (method, path) -> (handler, private)
ROUTES: dict[tuple[str, str], tuple[Handler, bool]] = {
    ("GET", "/v5/market/time"): (server_time, False),
    ("GET", "/v5/market/instruments-info"): (instruments_info, False),
    ("GET", "/v5/market/tickers"): (tickers, False),
    ("GET", "/v5/market/kline"): (kline, False),
    ("GET", "/v5/market/orderbook"): (orderbook, False),
    ("GET", "/v5/market/funding/history"): (funding_history, False),
    ("GET", "/v5/market/risk-limit"): (risk_limit, False),
    ("GET", "/v5/account/wallet-balance"): (wallet_balance, True),
    ("GET", "/v5/account/fee-rate"): (fee_rate, True),
    ("POST", "/v5/order/create"): (create_order, True),
    ("POST", "/v5/order/amend"): (amend_order, True),
    ("POST", "/v5/order/cancel"): (cancel_order, True),
    ("POST", "/v5/order/cancel-all"): (cancel_all, True),
    ("GET", "/v5/order/realtime"): (open_orders, True),
    ("GET", "/v5/order/history"): (order_history, True),
    ("GET", "/v5/position/list"): (positions, True),
    ("POST", "/v5/position/set-leverage"): (set_leverage, True),
    ("POST", "/v5/position/trading-stop"): (trading_stop, True),
    ("GET", "/v5/execution/list"): (executions, True),
}

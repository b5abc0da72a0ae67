"""Bybit V5 private REST endpoints of the emulator as plain functions: (state, params, api_key) -> ``result``.

No HTTP here: ``server.py`` authenticates, rate-limits, parses parameters and wraps results in Bybit's envelope.
The public market endpoints are ``rest_market.py``, the parameter helpers ``rest_common.py``; ``ROUTES`` lists
them all. Lists are newest first and paginate with an opaque ``cursor`` like Bybit's; the history lists
(executions, order history, closed PnL, transaction log) take Bybit's time windows around market time.

Limits as Bybit documents them (docs/v5): order realtime and history ``limit`` 1..50 (default 20; realtime with
``openOnly=1`` lists the 500 most recent closed orders), executions 1..100 (default 50), closed PnL 1..100
(default 50), transaction log 1..50 (default 20), positions 1..200 (default 20); executions, order history and
closed PnL cover 7 days by default and at most, the transaction log 24 h by default and 7 days at most. A query
by orderId / orderLinkId finds the order whatever its time. Not modelled: Bybit's order history shows orders
cancelled or rejected without a fill for 24 h only; the emulator keeps them for the whole 7-day window.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omni.domain.orders import ExecType
from omni.emulator import rest_market as market
from omni.emulator.account import UTA_ONLY, UTA_ONLY_MSG
from omni.emulator.ledger import WindowError
from omni.emulator.rest_common import PARAM_ERROR, ApiError, Handler, Params, cursor_param, history_window
from omni.emulator.rest_common import get as _get
from omni.emulator.rest_common import int_param as _int
from omni.emulator.rest_common import linear as _linear
from omni.emulator.rest_common import page as _page
from omni.emulator.rest_common import symbol_param as _symbol
from omni.emulator.state import OPEN, EmulatorState
from omni.venues import bybit_codec as codec
from omni.venues import bybit_codec_account as account_codec
from omni.venues import bybit_codec_trading as trading_codec

__all__ = ["PARAM_ERROR", "ROUTES", "SUCCESS_MSG", "UID_LIMITS", "UID_WINDOWS_MS", "ApiError", "Handler", "Params"]

#: Per-UID limits (requests per rolling second) of the private endpoints (docs/v5/rate-limit, design note 7).
UID_LIMITS = {
    "/v5/order/create": 10, "/v5/order/amend": 10, "/v5/order/cancel": 10, "/v5/order/cancel-all": 10,
    "/v5/position/set-leverage": 10, "/v5/position/trading-stop": 10, "/v5/order/realtime": 50,
    "/v5/order/history": 50, "/v5/position/list": 50, "/v5/execution/list": 50,
    "/v5/account/wallet-balance": 50, "/v5/account/fee-rate": 5, "/v5/account/info": 50,
    "/v5/account/set-margin-mode": 5, "/v5/position/switch-mode": 10, "/v5/account/transaction-log": 25,
    "/v5/account/demo-apply-money": 1, "/v5/position/closed-pnl": 50, "/v5/user/query-api": 10,
}  # fmt: skip
#: endpoints whose UID window is not one second (docs/v5/demo: demo-apply-money is 1 request per minute)
UID_WINDOWS_MS = {"/v5/account/demo-apply-money": 60_000}
#: retMsg of a success where Bybit does not say "OK" (set-margin-mode: "Request accepted", as testnet answers)
SUCCESS_MSG = {"/v5/account/set-margin-mode": "Request accepted"}
#: demo-apply-money: the coins it takes and the most one request may apply of each (docs/v5/demo)
DEMO_MONEY_MAX = {"BTC": Decimal(15), "ETH": Decimal(200), "USDT": Decimal(100_000), "USDC": Decimal(100_000)}
#: demo-apply-money with no ``utaDemoApplyMoney`` (pybit's ``request_demo_trading_funds()`` sends no body): the
#: amount Bybit applies then is not documented; the emulator applies the USDT maximum
DEMO_MONEY_DEFAULT = [{"coin": "USDT", "amountStr": "100000"}]
#: /v5/order/realtime with openOnly=1 lists at most this many of the most recent closed orders
CLOSED_KEPT = 500


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


def account_info(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    return state.account(key).info()


def set_margin_mode(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """Account-wide margin mode; refused (3400045, ``result.reasons``) while a position or an order is open."""
    mode = _get(params, "setMarginMode", True)
    assert mode is not None
    state.set_margin_mode(key, mode)
    return {"reasons": []}


def _uta(state: EmulatorState, key: str) -> None:
    if not state.account(key).unified:
        raise ApiError(UTA_ONLY, UTA_ONLY_MSG)


def transaction_log(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """The account's cash changes (TRADE, SETTLEMENT, LIQUIDATION, TRANSFER_IN/OUT), newest first."""
    _uta(state, key)
    account_type = _get(params, "accountType")
    if account_type not in (None, "UNIFIED"):
        raise ApiError(PARAM_ERROR, "accountType only support UNIFIED")
    start, end = _get(params, "startTime"), _get(params, "endTime")
    cursor = cursor_param(params)
    try:
        rows, after = state.account(key).ledger.query(
            state.market_ts, start=None if start is None else _int(params, "startTime", 0, 0),
            end=None if end is None else _int(params, "endTime", 0, 0), limit=_int(params, "limit", 20, 1, 50),
            cursor=cursor, category=_get(params, "category"),
            currency=_get(params, "currency"), base_coin=_get(params, "baseCoin"), kind=_get(params, "type"),
        )  # fmt: skip
    except WindowError as e:
        raise ApiError(PARAM_ERROR, f"params error: {e}") from None
    items = [account_codec.transaction_to_item(r) for r in rows]
    return {"list": items, "nextPageCursor": "" if after is None else str(after)}


def demo_apply_money(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """Demo trading's top-up (adjustType 0 adds, 1 takes away): the USDT part moves the wallet as a transfer;
    the other coins are accepted and ignored (the emulated wallet holds USDT only). No list: DEMO_MONEY_DEFAULT."""
    adjust = str(params.get("adjustType", 0))
    if adjust not in ("0", "1"):
        raise ApiError(PARAM_ERROR, "params error: adjustType must be 0 or 1")
    items = params.get("utaDemoApplyMoney") or DEMO_MONEY_DEFAULT
    if not isinstance(items, list):
        raise ApiError(PARAM_ERROR, "params error: utaDemoApplyMoney must be a list of {coin, amountStr}")
    usdt = Decimal(0)
    for item in items:
        coin = item.get("coin") if isinstance(item, dict) else None
        if coin not in DEMO_MONEY_MAX:
            raise ApiError(PARAM_ERROR, f"params error: coin {coin!r} (BTC, ETH, USDT, USDC)")
        amount = codec.dnum(item.get("amountStr"), "amountStr")
        if not 0 < amount <= DEMO_MONEY_MAX[coin]:
            raise ApiError(PARAM_ERROR, f"params error: amountStr {amount} for {coin} (at most {DEMO_MONEY_MAX[coin]})")
        if coin == codec.COIN:
            usdt += amount
    if usdt:
        state.transfer(key, usdt if adjust == "0" else -usdt)
    return {}


# ------------------------------------------------------------ orders


def _ids(params: Params) -> tuple[str | None, str | None]:
    order_id, link_id = _get(params, "orderId"), _get(params, "orderLinkId")
    if order_id is None and link_id is None:
        raise ApiError(PARAM_ERROR, "params error: orderId or orderLinkId is required")
    return order_id, link_id


def _one_way(state: EmulatorState, params: Params, key: str, symbol: str) -> None:
    """The emulator trades one-way only: in hedge mode every order and stop is refused."""
    if state.account(key).position_mode(symbol) == 0:
        return
    if str(params.get("positionIdx") or 0) == "0":
        raise ApiError(PARAM_ERROR, "position idx not match position mode")
    raise ApiError(PARAM_ERROR, "hedge mode (positionIdx 1/2) is not supported by the emulator: switch to one-way")


def create_order(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    symbol = _symbol(state, params)
    assert symbol is not None
    _one_way(state, params, key, symbol)
    rec = state.place(key, trading_codec.params_to_intent(params))
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


def _orders(state: EmulatorState, params: Params, key: str, realtime: bool) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    order_id, link_id = _get(params, "orderId"), _get(params, "orderLinkId")
    status = _get(params, "orderStatus")
    by_id = order_id is not None or link_id is not None
    open_only = str(params.get("openOnly") or 0) != "1"
    lo, hi = (0, 1 << 62) if realtime or by_id else history_window(state, params)
    recs = [
        r for r in reversed(state.account(key).orders.values())
        if (symbol is None or r.order.symbol == symbol)
        and (order_id is None or r.order.order_id == order_id)
        and (link_id is None or r.order.client_id == link_id)
        and (status is None or r.order.status.value == status)
        and lo <= r.order.created_ts <= hi
    ]  # fmt: skip
    if realtime and not by_id:  # open orders, or (openOnly=1) the 500 most recent closed ones
        recs = [r for r in recs if (r.order.status in OPEN) == open_only]
        if not open_only:
            recs = recs[:CLOSED_KEPT]
    page, cursor = _page([r.item() for r in recs], params, 20, 50)
    return {"category": codec.CATEGORY, "list": page, "nextPageCursor": cursor}


def open_orders(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """Open orders; with orderId/orderLinkId also a closed one, with ``openOnly=1`` the recent closed ones."""
    if _get(params, "symbol") is None and _get(params, "settleCoin") is None and _get(params, "baseCoin") is None:
        raise ApiError(PARAM_ERROR, "Missing some parameters that must be filled in, symbol or settleCoin")
    return _orders(state, params, key, True)


def order_history(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """Every order of the account created in the window (7 days; any status, filter with orderStatus), newest
    first; by orderId/orderLinkId whatever its time."""
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
    """Set the position's TP/SL (tpslMode Full) and their triggers (tp/slTriggerBy: LastPrice or MarkPrice; left
    out: the level keeps its trigger, LastPrice for a new one). Removing one with '0' is not supported yet."""
    _linear(params)
    symbol = _symbol(state, params)
    assert symbol is not None
    _one_way(state, params, key, symbol)
    stop = trading_codec.params_to_trading_stop(params)
    state.trading_stop(key, symbol, stop.take_profit, stop.stop_loss, stop.tp_trigger, stop.sl_trigger)
    return {}


def switch_mode(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """Position mode of one symbol or of every USDT perpetual (``coin``): 0 one-way, 3 hedge (recorded; the
    emulator then refuses orders until it is one-way again)."""
    _linear(params)
    symbol = _symbol(state, params, False)
    coin = _get(params, "coin")
    if symbol is None and coin is None:
        raise ApiError(PARAM_ERROR, "Missing some parameters that must be filled in, symbol or coin")
    if symbol is None and coin != codec.COIN:
        raise ApiError(PARAM_ERROR, f"params error: coin only support {codec.COIN}, got {coin}")
    mode = str(params.get("mode", ""))
    if mode not in ("0", "3"):
        raise ApiError(PARAM_ERROR, "params error: mode must be 0 (one-way) or 3 (hedge)")
    state.switch_position_mode(key, int(mode), symbol)
    return {}


def executions(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    order_id, link_id = _get(params, "orderId"), _get(params, "orderLinkId")
    exec_type = _get(params, "execType")
    if exec_type is not None and exec_type not in {t.value for t in ExecType}:
        raise ApiError(PARAM_ERROR, f"params error: execType {exec_type}")
    lo, hi = (0, 1 << 62) if order_id is not None or link_id is not None else history_window(state, params)
    items = [
        item for fill, item in reversed(state.account(key).executions)
        if (symbol is None or fill.symbol == symbol)
        and (order_id is None or fill.order_id == order_id)
        and (link_id is None or fill.client_id == link_id)
        and (exec_type is None or fill.exec_type.value == exec_type)
        and lo <= fill.ts <= hi
    ]  # fmt: skip
    page, cursor = _page(items, params, 50, 100)
    return {"category": codec.CATEGORY, "list": page, "nextPageCursor": cursor}


def closed_pnl(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """One row per closing order, newest first (see ``closed_pnl.py``): limit 1..100, 7-day windows."""
    _linear(params)
    symbol = _symbol(state, params, False)
    start = None if _get(params, "startTime") is None else _int(params, "startTime", 0, 0)
    end = None if _get(params, "endTime") is None else _int(params, "endTime", 0, 0)
    try:
        rows, after = state.account(key).closed.query(
            state.market_ts, start=start, end=end, limit=_int(params, "limit", 50, 1, 100),
            cursor=cursor_param(params), symbol=symbol,
        )  # fmt: skip
    except WindowError as e:
        raise ApiError(PARAM_ERROR, f"params error: {e}") from None
    return {"category": codec.CATEGORY, "list": [r.item() for r in rows],
            "nextPageCursor": "" if after is None else str(after)}  # fmt: skip


# ------------------------------------------------------------ user


def query_api(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    """The API key's information (docs/v5/user/apikey-info); ``userID`` is the account's UID (100001 for the
    first key), the id journals can be keyed by."""
    return state.account(key).key_info()


#: (method, path) -> (handler, private)
ROUTES: dict[tuple[str, str], tuple[Handler, bool]] = {
    ("GET", "/v5/market/time"): (market.server_time, False),
    ("GET", "/v5/market/instruments-info"): (market.instruments_info, False),
    ("GET", "/v5/market/tickers"): (market.tickers, False),
    ("GET", "/v5/market/kline"): (market.kline, False),
    ("GET", "/v5/market/mark-price-kline"): (market.mark_price_kline, False),
    ("GET", "/v5/market/orderbook"): (market.orderbook, False),
    ("GET", "/v5/market/funding/history"): (market.funding_history, False),
    ("GET", "/v5/market/risk-limit"): (market.risk_limit, False),
    ("GET", "/v5/account/wallet-balance"): (wallet_balance, True),
    ("GET", "/v5/account/fee-rate"): (fee_rate, True),
    ("GET", "/v5/account/info"): (account_info, True),
    ("POST", "/v5/account/set-margin-mode"): (set_margin_mode, True),
    ("GET", "/v5/account/transaction-log"): (transaction_log, True),
    ("POST", "/v5/account/demo-apply-money"): (demo_apply_money, True),
    ("POST", "/v5/order/create"): (create_order, True),
    ("POST", "/v5/order/amend"): (amend_order, True),
    ("POST", "/v5/order/cancel"): (cancel_order, True),
    ("POST", "/v5/order/cancel-all"): (cancel_all, True),
    ("GET", "/v5/order/realtime"): (open_orders, True),
    ("GET", "/v5/order/history"): (order_history, True),
    ("GET", "/v5/position/list"): (positions, True),
    ("POST", "/v5/position/set-leverage"): (set_leverage, True),
    ("POST", "/v5/position/trading-stop"): (trading_stop, True),
    ("POST", "/v5/position/switch-mode"): (switch_mode, True),
    ("GET", "/v5/execution/list"): (executions, True),
    ("GET", "/v5/position/closed-pnl"): (closed_pnl, True),
    ("GET", "/v5/user/query-api"): (query_api, True),
}

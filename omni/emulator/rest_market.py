"""The emulator's public market endpoints (no key needed): server time, instruments, tickers, klines, order
book, funding history and risk limits, as plain functions (state, params, api_key) -> ``result``.

Times: ``/v5/market/time`` answers the server clock (``EmulatorState.now_ms``, wall time by default), which is
what clients sign with; klines, tickers and funding carry market time (see ``state.py``). The order book's
``ts`` is the server clock, its ``cts`` the market time of the last bar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omni.emulator.rest_common import PARAM_ERROR, ApiError, Params
from omni.emulator.rest_common import get as _get
from omni.emulator.rest_common import in_window as _window
from omni.emulator.rest_common import int_param as _int
from omni.emulator.rest_common import linear as _linear
from omni.emulator.rest_common import page as _page
from omni.emulator.rest_common import symbol_param as _symbol
from omni.emulator.state import EmulatorState
from omni.venues import bybit_codec as codec

#: instruments-info fields of Bybit's docs (docs/v5/market/instrument) the shared codec leaves out
INSTRUMENT_EXTRA = {"displayName": "", "forbidUplWithdrawal": False}
KLINE_MINUTES = {"1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "120": 120, "240": 240, "360": 360, "720": 720}


def server_time(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    now = state.now_ms()
    return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


def instruments_info(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    status = _get(params, "status")
    insts = [state.instruments[symbol]] if symbol else [state.instruments[s] for s in sorted(state.instruments)]
    items = [] if status not in (None, "Trading") else [codec.instrument_to_item(i) | INSTRUMENT_EXTRA for i in insts]
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

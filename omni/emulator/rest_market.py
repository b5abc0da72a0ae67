"""The emulator's public market endpoints (no key needed): server time, instruments, tickers, klines, mark-price
klines, order book, funding history and risk limits, as plain functions (state, params, api_key) -> ``result``.

Paging, as Bybit's (docs/v5/market):

- ``kline`` and ``mark-price-kline``: ``interval`` (1, 3, 5, 15, 30, 60, 120, 240, 360, 720 minutes: served from
  the 1m history; D/W/M are refused with 10001), ``start``/``end`` (ms, inclusive bounds on a candle's start
  time), ``limit`` 1..1000 (default 200). Rows newest first: the newest ``limit`` candles of [start, end]; with
  ``start`` alone, the oldest ``limit`` from ``start``. kline rows are [start, open, high, low, close, volume,
  turnover], mark-price rows [start, open, high, low, close] (see ``market.py`` for the mark's basis). The history
  served is the last ``EmulatorConfig.history_bars`` 1m bars.
- ``funding/history``: ``startTime``/``endTime`` (ms, inclusive), ``limit`` 1..200 (default 200), newest first:
  the newest ``limit`` settlements in the window; ``startTime`` without ``endTime`` is refused (10001) as Bybit
  does.
- ``instruments-info`` (``limit`` 1..1000, default 500) and ``risk-limit`` (tiers; ``limit`` 1..500, default 500:
  Bybit documents no ``limit`` there) page with an opaque ``cursor``; ``nextPageCursor`` is "" on the last page.

Times: ``/v5/market/time`` answers the server clock (``EmulatorState.now_ms``, wall time by default), which is
what clients sign with; klines, tickers and funding carry market time (see ``state.py``). The order book's
``ts`` is the server clock, its ``cts`` the market time of the last bar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omni.domain.market import Bar
from omni.emulator.rest_common import PARAM_ERROR, ApiError, Params
from omni.emulator.rest_common import get as _get
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


def _opt_ms(params: Params, name: str) -> int | None:
    return None if _get(params, name) is None else _int(params, name, 0, 0)


def _candles(state: EmulatorState, params: Params, category_required: bool) -> tuple[str, list[Bar]]:
    """The symbol and the kline page (newest first) a kline-like request asks for."""
    _linear(params, required=category_required)
    symbol = _symbol(state, params)
    assert symbol is not None
    interval = _get(params, "interval", True)
    minutes = KLINE_MINUTES.get(interval or "")
    bars = state.bars(symbol)
    if minutes is None or (bars and minutes % bars[-1].minutes):
        raise ApiError(PARAM_ERROR, f"params error: interval {interval} is not served by the emulator")
    start, end = _opt_ms(params, "start"), _opt_ms(params, "end")
    limit = _int(params, "limit", 200, 1, 1000)
    return symbol, state.market.candles_between(symbol, minutes, start, end, limit)


def kline(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    symbol, candles = _candles(state, params, False)
    inst = state.instruments[symbol]
    return {"category": codec.CATEGORY, "symbol": symbol, "list": [codec.bar_to_kline_row(b, inst) for b in candles]}


def mark_price_kline(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    symbol, candles = _candles(state, params, False)
    return {"category": codec.CATEGORY, "symbol": symbol, "list": [state.market.mark_row(b) for b in candles]}


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
    start, end = _opt_ms(params, "startTime"), _opt_ms(params, "endTime")
    if start is not None and end is None:
        raise ApiError(PARAM_ERROR, "params error: endTime is required when startTime is given")
    limit = _int(params, "limit", 200, 1, 200)
    lo, hi = start or 0, 1 << 62 if end is None else end
    items: list[dict[str, str]] = []
    for f in reversed(state.fundings(symbol)):
        if len(items) == limit or f.ts < lo:
            break
        if f.ts <= hi:
            items.append(codec.funding_to_item(f))
    return {"category": codec.CATEGORY, "list": items}


def risk_limit(state: EmulatorState, params: Params, key: str) -> dict[str, Any]:
    _linear(params)
    symbol = _symbol(state, params, False)
    symbols = [symbol] if symbol else sorted(state.instruments)
    items = [t for s in symbols for t in codec.risk_tiers_to_items(state.instruments[s])]
    page, cursor = _page(items, params, 500, 500)
    return {"category": codec.CATEGORY, "list": page, "nextPageCursor": cursor}

"""Parameter helpers of the emulator's REST endpoints: Bybit's refusals (``ApiError``), paging and time windows.

A refusal is raised as ``ApiError`` (or ``StateError`` / ``CodecError``: each has Bybit's retCode) and answered
with HTTP 200 by ``server.py``. Lists paginate with an opaque ``cursor`` like Bybit's (here an offset).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omni.emulator.ledger import MAX_WINDOW_MS, WindowError, window
from omni.emulator.state import EmulatorState
from omni.venues import bybit_codec as codec

Params = dict[str, Any]
Handler = Callable[[EmulatorState, Params, str], dict[str, Any]]
PARAM_ERROR = 10001


class ApiError(Exception):
    """A refused request: Bybit's retCode and retMsg."""

    def __init__(self, code: int, message: str):
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message


# ------------------------------------------------------------ parameter helpers


def get(params: Params, name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise ApiError(PARAM_ERROR, f"Missing some parameters that must be filled in, {name}")
        return None
    return str(value)


def int_param(params: Params, name: str, default: int, lo: int = 1, hi: int = 1 << 62) -> int:
    raw = get(params, name)
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(PARAM_ERROR, f"params error: {name} must be an integer in [{lo}, {hi}]")
    return int(raw)


def linear(params: Params, required: bool = True) -> None:
    category = get(params, "category", required)
    if category is not None and category != codec.CATEGORY:
        raise ApiError(PARAM_ERROR, f"params error: category only support linear, got {category}")


def symbol_param(state: EmulatorState, params: Params, required: bool = True) -> str | None:
    symbol = get(params, "symbol", required)
    if symbol is not None and symbol not in state.instruments:
        raise ApiError(PARAM_ERROR, f"params error: symbol invalid: {symbol}")
    return symbol


def page(items: list, params: Params, default: int, most: int) -> tuple[list, str]:
    """One page of ``items`` from ``cursor`` (an offset), and the next cursor ('' at the end)."""
    limit = int_param(params, "limit", default, 1, most)
    start = int_param(params, "cursor", 0, 0)
    end = start + limit
    return items[start:end], str(end) if end < len(items) else ""


def in_window(params: Params, ts: int, start: str = "startTime", end: str = "endTime") -> bool:
    lo, hi = int_param(params, start, 0, 0), int_param(params, end, 1 << 62, 0)
    return lo <= ts <= hi


def history_window(state: EmulatorState, params: Params, default_ms: int = MAX_WINDOW_MS) -> tuple[int, int]:
    """The [start, end] of a history query (executions, order history, closed PnL): Bybit's rules, 7 days by
    default and at most, around market time (``ledger.window``)."""
    start = None if get(params, "startTime") is None else int_param(params, "startTime", 0, 0)
    end = None if get(params, "endTime") is None else int_param(params, "endTime", 0, 0)
    try:
        return window(state.market_ts, start, end, default_ms)
    except WindowError as e:
        raise ApiError(PARAM_ERROR, f"params error: {e}") from None


def cursor_param(params: Params) -> int | None:
    """An opaque cursor handed out by a list (digits here); ApiError for anything else."""
    cursor = get(params, "cursor")
    if cursor is not None and not cursor.isdigit():
        raise ApiError(PARAM_ERROR, "params error: cursor invalid")
    return None if cursor is None else int(cursor)

"""The conservative intrabar rule, on floats: which of a position's levels a bar reaches, and at what price.

Shared by the matching engine (sim venue, emulator) and the pre-trade simulator, so both judge a bar alike:
1. the adverse path first: a gap through the stop-loss or liquidation price triggers at the open; otherwise the
   adverse level nearer the open (the higher of SL and liquidation for a long) is hit first;
2. then the favourable path: the take-profit (a gap through it triggers at the open).
So when SL and TP both lie inside one bar, the SL wins. Liquidation beats a stop only when it is nearer.
"""

from __future__ import annotations

LIQUIDATION = 1
STOP_LOSS = 2
TAKE_PROFIT = 3


def adverse_hit(long: bool, open_: float, high: float, low: float, sl: float | None, liq: float) -> tuple[int, float]:
    """The adverse level a bar reached: (LIQUIDATION | STOP_LOSS, trigger price) or (0, 0.0) if none."""
    if long:
        if sl is None or liq >= sl:
            return (LIQUIDATION, liq) if low <= liq else (0, 0.0)
        if open_ <= liq:  # gapped through both: the liquidation engine gets there first
            return LIQUIDATION, liq
        if open_ <= sl:
            return STOP_LOSS, open_
        return (STOP_LOSS, sl) if low <= sl else (0, 0.0)
    if sl is None or liq <= sl:
        return (LIQUIDATION, liq) if high >= liq else (0, 0.0)
    if open_ >= liq:
        return LIQUIDATION, liq
    if open_ >= sl:
        return STOP_LOSS, open_
    return (STOP_LOSS, sl) if high >= sl else (0, 0.0)


def favourable_hit(long: bool, open_: float, high: float, low: float, tp: float | None) -> float | None:
    """The take-profit trigger price if the bar reached it (the open when it gapped through), else None."""
    if tp is None:
        return None
    if long:
        if high >= tp:
            return open_ if open_ >= tp else tp
        return None
    if low <= tp:
        return open_ if open_ <= tp else tp
    return None


def slip(long_taker: bool, price: float, slippage: float, low: float, high: float) -> float:
    """A taker fill price: ``price`` moved ``slippage`` (fraction) against the taker, kept inside [low, high]."""
    if long_taker:
        return min(price * (1.0 + slippage), high)
    return max(price * (1.0 - slippage), low)

"""Placeholder sizing: the largest qty whose loss at the stop fits the per-trade limit, at the lowest
leverage that fits the capital share, with the liquidation price beyond the stop. No fit: no trade.

The next milestone's leverage sizer (min net profit at TP after fees and funding) replaces this.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from omni.core.entry_rule import Signal
from omni.domain.instrument import ONE, Instrument
from omni.domain.orders import OrderIntent, Side
from omni.exchange import rules


@dataclass(frozen=True, slots=True)
class SizingParams:
    max_loss_per_trade: Decimal
    max_leverage: Decimal
    max_notional: Decimal
    max_concurrent: int
    taker_fee: Decimal
    slippage: Decimal  # fraction
    dynamic_leverage: bool = True


@dataclass(frozen=True, slots=True)
class NoTrade:
    reason: str
    detail: str


def size_entry(
    sig: Signal, inst: Instrument, equity: Decimal, available: Decimal, p: SizingParams, client_id: str
) -> OrderIntent | NoTrade:
    """Turn a signal into an exact order on the symbol's tick and step, or say why not.

    The margin share per trade is equity / max_concurrent, never more than what is available now (less the
    entry fee).
    """
    entry = inst.round_price(sig.price)
    dist = Decimal(repr(sig.stop_distance))
    tp_dist = Decimal(repr(sig.take_profit_distance))
    if sig.side is Side.BUY:
        sl, tp = inst.price_down(entry - dist), inst.price_up(entry + tp_dist)
    else:
        sl, tp = inst.price_up(entry + dist), inst.price_down(entry - tp_dist)
    if sl <= 0 or sl == entry or tp <= 0 or tp == entry:
        return NoTrade("stop_too_tight", f"stop {sl} / target {tp} vs entry {entry}")
    tick = inst.tick_size
    exit_worst = sl * (1 - p.slippage) - tick if sig.side is Side.BUY else sl * (1 + p.slippage) + tick
    per_unit = abs(entry - exit_worst) + (entry + exit_worst) * p.taker_fee
    if equity <= 0:
        return NoTrade("no_equity", f"equity {equity}")
    budget = min(equity / p.max_concurrent, available)  # margin share per trade
    lev_cap = min(p.max_leverage, inst.max_leverage)
    qty_by_loss = p.max_loss_per_trade / per_unit
    # margin + entry fee must fit the budget: qty * entry * (1/lev + fee) <= budget
    qty_by_margin = budget / (entry * (1 / lev_cap + p.taker_fee))
    qty_by_notional = min(p.max_notional, inst.risk_tiers[-1].limit) / entry
    qty = inst.round_qty(min(qty_by_loss, qty_by_margin, qty_by_notional, inst.max_qty))
    if qty < inst.min_qty or qty * entry < inst.min_notional:
        return NoTrade(
            "below_min_order",
            f"qty {qty} (notional {qty * entry:.4f}) below min qty {inst.min_qty} / notional {inst.min_notional}",
        )
    notional = qty * entry
    if p.dynamic_leverage:
        leverage = max(ONE, (notional / (budget - notional * p.taker_fee)).to_integral_value(ROUND_CEILING))
    else:
        leverage = lev_cap
    leverage = min(leverage, rules.max_leverage_for_value(inst, notional), lev_cap)
    if rules.check_risk_limit(inst, notional, leverage) is not None:
        return NoTrade("risk_limit_tier", f"notional {notional} beyond the risk tier allowed at {leverage}x")
    if notional / leverage + notional * p.taker_fee > budget:
        return NoTrade("no_leverage_fits", f"margin {notional / leverage:.4f} > share {budget:.4f} at {leverage}x")
    margin = rules.initial_margin(notional, leverage)
    liq = rules.liquidation_price(inst, sig.side, entry, qty, leverage, margin)
    if (liq >= sl) if sig.side is Side.BUY else (liq <= sl):
        return NoTrade("liq_before_stop", f"liquidation {liq} not beyond stop {sl} at {leverage}x")
    return OrderIntent(client_id, inst.symbol, sig.side, qty, take_profit=tp, stop_loss=sl, leverage=leverage)

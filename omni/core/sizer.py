"""Leverage sizer: the quantity and leverage that make a candidate reach the minimum net profit at its
take-profit after fees, slippage and expected funding, within every limit; or a typed reason why not.

Per unit of quantity (exact decimals):
    net at TP   = (TP fill - entry) x side - taker x (entry + TP fill) - expected funding
    loss at SL  = (entry - SL fill) x side + taker x (entry + SL fill) + expected funding (if paid)
with the entry and both exits filled as market orders moved by the slippage allowance and rounded to the
tick against us (the SL one more tick), as the sim venue fills them. The smallest quantity whose net at TP
reaches ``min_profit`` is taken (more size only adds risk), then the lowest leverage whose margin fits the
trade's margin share (the liquidation price stays as far away as possible). Margin and the entry fee are
budgeted at the larger of the reference price and the fill (the venue checks them at the last price). It must hold that:
    loss at SL <= max_loss_per_trade;  leverage <= min(symbol max, risk-tier max for the notional, config cap);
    the liquidation price lies beyond the SL by ``liq_buffer`` (fraction of entry); notional <= caps.
No fit: no trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_UP, Decimal

from omni.domain.instrument import ONE, ZERO, Instrument
from omni.domain.orders import OrderIntent, Side
from omni.exchange import rules


@dataclass(frozen=True, slots=True)
class SizerParams:
    min_profit: Decimal
    max_loss_per_trade: Decimal
    leverage_cap: Decimal
    max_notional: Decimal
    taker_fee: Decimal
    slippage: Decimal  # fraction of price, against us on market exits
    liq_buffer: Decimal = Decimal("0.005")  # liquidation at least this fraction of entry beyond the SL
    dynamic_leverage: bool = True


@dataclass(frozen=True, slots=True)
class Sized:
    """A sized order and the numbers that justify it (USDT unless noted); ``entry`` is the expected fill."""

    intent: OrderIntent
    entry: Decimal
    net_at_tp: Decimal
    loss_at_sl: Decimal
    margin: Decimal
    liq_price: Decimal
    fees_round_trip_tp: Decimal
    funding_expected: Decimal
    entry_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class NoFit:
    reason: str
    detail: str


def size(
    inst: Instrument,
    side: Side,
    entry_price: float,
    stop_distance: float,
    take_profit_distance: float,
    margin_budget: Decimal,
    p: SizerParams,
    client_id: str,
    funding_rate: float = 0.0,
    expected_settlements: float = 0.0,
) -> Sized | NoFit:
    """Size one candidate. ``margin_budget`` is what this trade may tie up as margin (compound share, capped
    by what is available); ``expected_settlements`` is how many funding settlements the hold is expected to
    cross (may be fractional)."""
    long = side is Side.BUY
    sign = 1 if long else -1
    e = inst.round_price(entry_price)
    dist = Decimal(repr(stop_distance))
    tp_dist = Decimal(repr(take_profit_distance))
    if long:
        sl, tp = inst.price_down(e - dist), inst.price_up(e + tp_dist)
    else:
        sl, tp = inst.price_up(e + dist), inst.price_down(e - tp_dist)
    if sl <= 0 or tp <= 0 or sl == e or tp == e:
        return NoFit("stop_too_tight", f"stop {sl} / target {tp} vs entry {e}")
    fee = p.taker_fee
    slip = p.slippage
    # fills as the sim venue makes them: market orders moved by the slippage, rounded against us on the tick
    # (and the stop one tick more, for a stop that triggers through its level)
    if long:
        e_fill = inst.price_up(e * (1 + slip))
        tp_fill = inst.price_down(tp * (1 - slip))
        sl_fill = inst.price_down(sl * (1 - slip)) - inst.tick_size
    else:
        e_fill = inst.price_down(e * (1 - slip))
        tp_fill = inst.price_up(tp * (1 + slip))
        sl_fill = inst.price_up(sl * (1 + slip)) + inst.tick_size
    funding_unit = e_fill * Decimal(repr(funding_rate)) * Decimal(repr(expected_settlements)) * sign  # > 0: paid
    net_unit = (tp_fill - e_fill) * sign - fee * (e_fill + tp_fill) - funding_unit
    if net_unit <= 0:
        return NoFit(
            "fees_exceed_target_move",
            f"move to TP {abs(tp - e)} nets {net_unit:.8f}/unit after fees, slippage and funding",
        )
    if (tp_fill <= e_fill or sl >= e_fill) if long else (tp_fill >= e_fill or sl <= e_fill):
        # the expected fill (slippage, tick rounding) reaches a level: only funding income would make it pay,
        # and the risk guard refuses a take-profit that is not beyond the fill
        return NoFit("fees_exceed_target_move", f"stop {sl} / target {tp} not beyond the expected fill {e_fill}")
    loss_unit = (e_fill - sl_fill) * sign + fee * (e_fill + sl_fill) + max(funding_unit, ZERO)
    step = inst.qty_step
    # two 1e-8 of headroom: the venue rounds each leg's fee on its own
    qty = max(
        _ceil_step((p.min_profit + 2 * rules.MONEY) / net_unit, step),
        inst.min_qty,
        _ceil_step(inst.min_notional / e, step),
    )
    if qty * e < inst.min_notional:  # the venue checks the order value at the reference price
        qty += step
    if qty > inst.max_qty:
        return NoFit("qty_over_max", f"qty {qty} > {inst.max_qty}")
    loss = rules.money(qty * loss_unit)
    if loss > p.max_loss_per_trade:
        return NoFit(
            "loss_at_stop_over_cap",
            f"qty {qty} for {p.min_profit} net at TP would lose {loss} at SL > {p.max_loss_per_trade} "
            f"(reward/risk after costs {net_unit / loss_unit:.2f}, needs >= "
            f"{p.min_profit / p.max_loss_per_trade:.2f})",
        )
    # the venue prices margin and risk limits at the last price, our fill at the slipped one: take the larger
    notional = qty * max(e, e_fill)
    top = inst.risk_tiers[-1].limit
    if notional > p.max_notional or notional > top:
        return NoFit("notional_cap", f"notional {notional:.2f} > cap {min(p.max_notional, top)}")
    lev_cap = min(p.leverage_cap, inst.max_leverage, rules.max_leverage_for_value(inst, notional))
    entry_fee = rules.trade_fee(qty, e_fill, fee)
    room = margin_budget - rules.trade_fee(qty, max(e, e_fill), fee)  # the venue checks the fee at the last price
    if room <= 0:
        return NoFit("no_margin", f"margin budget {margin_budget} does not cover the entry fee {entry_fee}")
    if p.dynamic_leverage:
        needed = notional / room
        leverage = max(ONE, Decimal(int(needed.to_integral_value(ROUND_CEILING))))
        if leverage > lev_cap >= needed:  # a fractional cap (e.g. a tier's 66.66x) still fits
            leverage = lev_cap
    else:
        leverage = lev_cap
    if leverage > lev_cap:
        return NoFit(
            "no_leverage_fits", f"notional {notional:.2f} on margin {room:.4f} needs {leverage}x > cap {lev_cap}x"
        )
    if rules.initial_margin(notional, leverage) > room:
        return NoFit("no_leverage_fits", f"margin at {leverage}x > budget {room:.8f}")
    margin = rules.initial_margin(qty * e_fill, leverage)  # what the position will hold
    tier = rules.check_risk_limit(inst, notional, leverage)
    if tier is not None:
        return NoFit("risk_limit_tier", tier.message)
    # the position the venue opens holds margin on the fill value: that is what sets its liquidation price
    liq = rules.liquidation_price(inst, side, e_fill, qty, leverage, margin)
    buffer = e * p.liq_buffer
    if (liq >= sl - buffer) if long else (liq <= sl + buffer):
        return NoFit("liq_too_close", f"liquidation {liq} within {buffer:.8f} of stop {sl} at {leverage}x")
    intent = OrderIntent(client_id, inst.symbol, side, qty, take_profit=tp, stop_loss=sl, leverage=leverage)
    fees_tp = rules.money(fee * qty * (e_fill + tp_fill))
    return Sized(
        intent,
        e_fill,
        rules.money(qty * net_unit),
        loss,
        margin,
        liq,
        fees_tp,
        rules.money(qty * funding_unit),
        entry_fee,
    )


def _ceil_step(qty: Decimal, step: Decimal) -> Decimal:
    return (qty / step).to_integral_value(ROUND_UP) * step

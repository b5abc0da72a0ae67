"""Bybit USDT linear-perpetual rules as pure functions: fees, funding, margin, liquidation, order checks.

This is the one place these rules exist. The sim venue's matching engine, the Bybit emulator and the
pre-trade simulator call these functions; none of them re-derives the maths.

Money is ``Decimal``; amounts are quantized to ``MONEY`` (1e-8 USDT, finer than Bybit's 1e-8 execFee
display) exactly once, where they are created, so every later sum is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Decimal

from omni.domain.instrument import ZERO, Instrument, RiskTier
from omni.domain.orders import OrderIntent, OrderType, Side

MONEY = Decimal("0.00000001")


def money(x: Decimal) -> Decimal:
    """Quantize a USDT amount to 1e-8 (banker's rounding)."""
    return x.quantize(MONEY, ROUND_HALF_EVEN)


# ---------------------------------------------------------------- fees and funding


def trade_fee(qty: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """Fee in USDT for one fill: qty x price x rate (Bybit execFee). Positive = paid."""
    return money(qty * price * rate)


def funding_payment(side: Side, size: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """Funding a position pays at a settlement: size x mark x rate; longs pay positive rates.

    Returns the amount paid (negative = received).
    """
    return money(size * mark * rate * side.sign)


# ---------------------------------------------------------------- margin and liquidation


def initial_margin(value: Decimal, leverage: Decimal) -> Decimal:
    """Initial margin of a position of ``value`` USDT at ``leverage`` (rounded up: never under-reserve)."""
    return (value / leverage).quantize(MONEY, ROUND_UP)


def maintenance_margin(value: Decimal, tier: RiskTier) -> Decimal:
    """Maintenance margin: value x MMR - mmDeduction of the tier the value falls in."""
    return value * tier.mmr - tier.mm_deduction


def liquidation_price(
    inst: Instrument, side: Side, entry: Decimal, size: Decimal, leverage: Decimal, margin: Decimal | None = None
) -> Decimal:
    """Isolated-margin liquidation price (Bybit help "Liquidation Price (USDT Contract)").

    long:  LP = entry - (IM - MM) / size      short: LP = entry + (IM - MM) / size
    with IM the position margin (``margin``, default value/leverage) and MM from the risk tier.
    Rounded to the tick towards the entry (conservative: liquidation comes no later than the formula).
    1 BTC at 20 000, 50x, MMR 0.5 % -> IM 400, MM 100, LP 19 700.
    """
    value = entry * size
    im = value / leverage if margin is None else margin
    mm = maintenance_margin(value, inst.tier_for_value(value))
    if side is Side.BUY:
        lp = entry - (im - mm) / size
        return max(inst.round_price(lp, ROUND_CEILING), inst.tick_size) if lp > 0 else inst.tick_size
    return inst.round_price(entry + (im - mm) / size, ROUND_FLOOR)


def bankruptcy_price(side: Side, entry: Decimal, size: Decimal, margin: Decimal) -> Decimal:
    """Price at which the position margin is exactly used up: entry -/+ margin/size."""
    p = entry - margin / size if side is Side.BUY else entry + margin / size
    return money(max(p, ZERO))


# ---------------------------------------------------------------- rejections


@dataclass(frozen=True, slots=True)
class Reject:
    """A Bybit business rejection: ``code`` is retCode, ``message`` is retMsg."""

    code: int
    message: str


# Bybit retCodes used by the rules below, with the reason beside each.
PARAM_ERROR = 10001  # qty/price/leverage/TP-SL parameter errors share this code on Bybit
ORDER_NOT_FOUND = 110001
INSUFFICIENT_AVAILABLE = 110007  # "ab not enough for new order"
LEVERAGE_RISK_LIMIT = 110013  # leverage not allowed for the position's risk tier
REDUCE_ONLY_RULE = 110017  # reduce-only would grow or open a position
LEVERAGE_NOT_MODIFIED = 110043
DUPLICATE_LINK_ID = 110072
POSITION_ABOVE_RISK_LIMIT = 110090  # position would exceed the risk-limit tier allowed at this leverage
NOTIONAL_BELOW_MIN = 110094
POST_ONLY_WOULD_TAKE = "EC_PostOnlyWillTakeLiquidity"  # a cancel reason, not a retCode


def check_stops(
    side: Side,
    base_price: Decimal,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
    liq_price: Decimal | None = None,
) -> Reject | None:
    """Bybit's trigger-direction rule for a position of ``side`` at ``base_price`` (last price).

    A long's stop-loss must be below the market (and above its liquidation price), its take-profit above;
    mirrored for a short.
    """
    side_name = side.value
    if stop_loss is not None:
        wrong = stop_loss >= base_price if side is Side.BUY else stop_loss <= base_price
        if wrong:
            rel = "lower" if side is Side.BUY else "higher"
            return Reject(
                PARAM_ERROR,
                f"StopLoss:{stop_loss} set for {side_name} position should {rel} than base_price:{base_price}"
                "??LastPrice",
            )
        if liq_price is not None and (stop_loss <= liq_price if side is Side.BUY else stop_loss >= liq_price):
            rel = "higher" if side is Side.BUY else "lower"
            return Reject(PARAM_ERROR, f"StopLoss:{stop_loss} should be {rel} than liq_price:{liq_price}")
    if take_profit is not None:
        wrong = take_profit <= base_price if side is Side.BUY else take_profit >= base_price
        if wrong:
            rel = "higher" if side is Side.BUY else "lower"
            return Reject(
                PARAM_ERROR,
                f"TakeProfit:{take_profit} set for {side_name} position should {rel} than "
                f"base_price:{base_price}??LastPrice",
            )
    return None


def check_leverage(inst: Instrument, leverage: Decimal, position_value: Decimal = ZERO) -> Reject | None:
    """Set-leverage rule: within [min, max] of the symbol, and allowed for the current position's tier."""
    if leverage < inst.min_leverage or leverage > inst.max_leverage:
        return Reject(
            PARAM_ERROR,
            f"leverage invalid: {leverage} not in [{inst.min_leverage}, {inst.max_leverage}] for {inst.symbol}",
        )
    if position_value > 0 and inst.max_value_for_leverage(leverage) < position_value:
        return Reject(LEVERAGE_RISK_LIMIT, "Due to risk limit, cannot set leverage")
    return None


def max_leverage_for_value(inst: Instrument, value: Decimal) -> Decimal:
    """Highest leverage a position of ``value`` USDT may use (its risk tier's max leverage)."""
    return min(inst.tier_for_value(value).max_leverage, inst.max_leverage)


def check_order_shape(inst: Instrument, intent: OrderIntent, ref_price: Decimal) -> Reject | None:
    """Static checks of one order against the symbol: qty min/max/step, price tick, min notional."""
    qty = intent.qty
    if qty < inst.min_qty:
        return Reject(PARAM_ERROR, "The number of contracts exceeds minimum limit allowed")
    if qty > inst.max_qty:
        return Reject(PARAM_ERROR, "The number of contracts exceeds maximum limit allowed")
    if not inst.on_step(qty):
        return Reject(PARAM_ERROR, f"Qty invalid: {qty} is not a multiple of qtyStep {inst.qty_step}")
    if intent.order_type is OrderType.LIMIT:
        if intent.price is None or intent.price <= 0:
            return Reject(PARAM_ERROR, "Limit order needs a positive price")
        if not inst.on_tick(intent.price):
            return Reject(PARAM_ERROR, f"Price invalid: {intent.price} is not a multiple of tickSize {inst.tick_size}")
    for name, level in (("TakeProfit", intent.take_profit), ("StopLoss", intent.stop_loss)):
        if level is not None and (level <= 0 or not inst.on_tick(level)):
            return Reject(PARAM_ERROR, f"{name}:{level} is not a positive multiple of tickSize {inst.tick_size}")
    price = intent.price if intent.order_type is OrderType.LIMIT and intent.price else ref_price
    if not intent.reduce_only and qty * price < inst.min_notional:
        return Reject(NOTIONAL_BELOW_MIN, f"Order does not meet minimum order value {inst.min_notional}USDT")
    return None


def check_risk_limit(inst: Instrument, new_value: Decimal, leverage: Decimal) -> Reject | None:
    """A position may not grow beyond the largest tier whose max leverage admits ``leverage``."""
    allowed = inst.max_value_for_leverage(leverage)
    if new_value > allowed:
        if new_value > inst.risk_tiers[-1].limit:
            return Reject(
                POSITION_ABOVE_RISK_LIMIT,
                f"Order placement failed as your position may exceed the max limit {inst.risk_tiers[-1].limit}",
            )
        lower = max_leverage_for_value(inst, new_value)
        return Reject(
            POSITION_ABOVE_RISK_LIMIT,
            "Order placement failed as your position may exceed the max limit. "
            f"Please adjust your leverage to {lower} or below to increase the max. position limit",
        )
    return None


def slipped_price(inst: Instrument, side: Side, price: float, slippage: float, low: float, high: float) -> Decimal:
    """Fill price of a taker order: ``price`` moved ``slippage`` (fraction) against ``side``, kept inside
    the bar's [low, high], then rounded to the tick against the taker. Exact decimal maths, so a product that
    lands on a tick is not pushed a tick further by float error."""
    p = Decimal(repr(price))
    if slippage:
        s = Decimal(repr(slippage))
        p = p * (1 + s) if side is Side.BUY else p * (1 - s)
    if side is Side.BUY:
        return inst.price_up(min(p, Decimal(repr(high))))
    return max(inst.price_down(max(p, Decimal(repr(low)))), inst.tick_size)

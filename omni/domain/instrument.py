"""Instrument specs of a linear perpetual and the exact rounding onto its tick and step."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
#: Bybit's minimum order value on USDT linear perpetuals (lotSizeFilter.minNotionalValue).
DEFAULT_MIN_NOTIONAL = Decimal(5)


@dataclass(frozen=True, slots=True)
class RiskTier:
    """One rung of a symbol's risk-limit ladder (Bybit /v5/market/risk-limit).

    ``limit`` is the largest position value (USDT) the tier allows; ``mmr``/``imr`` are rates;
    ``mm_deduction`` makes the maintenance margin continuous across tiers.
    """

    tier: int
    limit: Decimal
    mmr: Decimal
    imr: Decimal
    max_leverage: Decimal
    mm_deduction: Decimal = ZERO


def build_tiers(limits: list[Decimal], mmrs: list[Decimal], imrs: list[Decimal]) -> tuple[RiskTier, ...]:
    """Build a ladder, deriving ``mm_deduction`` as Bybit does: sum_{i<n} limit_i * (mmr_{i+1} - mmr_i)."""
    tiers = []
    deduction = ZERO
    for i, (limit, mmr, imr) in enumerate(zip(limits, mmrs, imrs, strict=True)):
        if i > 0:
            deduction += limits[i - 1] * (mmr - mmrs[i - 1])
        tiers.append(RiskTier(i + 1, limit, mmr, imr, (ONE / imr).quantize(Decimal("0.01"), ROUND_DOWN), deduction))
    return tuple(tiers)


def default_tiers(max_leverage: Decimal, first_limit: Decimal, count: int = 5) -> tuple[RiskTier, ...]:
    """An assumed ladder for symbols whose real tiers are unknown (the recorded data has none).

    Tier 1 has IMR = 1/max_leverage and MMR = IMR/2 (BTCUSDT: 1 %, 0.5 %); each next tier adds one more
    ``first_limit`` of room and raises both rates by the tier-1 MMR, as Bybit's published ladders do.
    """
    imr1 = ONE / max_leverage
    mmr1 = imr1 / 2
    limits = [first_limit * (i + 1) for i in range(count)]
    imrs = [imr1 + mmr1 * i for i in range(count)]
    mmrs = [mmr1 + mmr1 * i for i in range(count)]
    return build_tiers(limits, mmrs, imrs)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A USDT linear perpetual as the venue lists it. All limits are exact decimals."""

    symbol: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_leverage: Decimal
    risk_tiers: tuple[RiskTier, ...]
    min_notional: Decimal = DEFAULT_MIN_NOTIONAL
    min_leverage: Decimal = ONE
    funding_interval_min: int = 480
    # float mirrors for the per-bar hot path (never sent to a venue)
    tick_f: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.qty_step <= 0:
            raise ValueError(f"{self.symbol}: tick_size and qty_step must be positive")
        if not self.risk_tiers:
            raise ValueError(f"{self.symbol}: at least one risk tier is required")
        object.__setattr__(self, "tick_f", float(self.tick_size))

    def round_price(self, price: Decimal | float | str, mode: str = ROUND_HALF_EVEN) -> Decimal:
        """Round ``price`` onto the tick (``mode``: a decimal rounding constant)."""
        p = price if isinstance(price, Decimal) else Decimal(repr(price) if isinstance(price, float) else price)
        return (p / self.tick_size).to_integral_value(mode) * self.tick_size

    def price_down(self, price: Decimal | float) -> Decimal:
        """Largest tick at or below ``price``."""
        return self.round_price(price, ROUND_FLOOR)

    def price_up(self, price: Decimal | float) -> Decimal:
        """Smallest tick at or above ``price``."""
        return self.round_price(price, ROUND_CEILING)

    def round_qty(self, qty: Decimal | float | str) -> Decimal:
        """Round ``qty`` down onto the step (never more than asked)."""
        q = qty if isinstance(qty, Decimal) else Decimal(repr(qty) if isinstance(qty, float) else qty)
        return (q / self.qty_step).to_integral_value(ROUND_DOWN) * self.qty_step

    def on_tick(self, price: Decimal) -> bool:
        return price % self.tick_size == 0

    def on_step(self, qty: Decimal) -> bool:
        return qty % self.qty_step == 0

    def tier_for_value(self, value: Decimal) -> RiskTier:
        """The risk tier that applies to a position of ``value`` USDT (the last tier if beyond all)."""
        for tier in self.risk_tiers:
            if value <= tier.limit:
                return tier
        return self.risk_tiers[-1]

    def max_value_for_leverage(self, leverage: Decimal) -> Decimal:
        """Largest position value allowed at ``leverage`` (0 if no tier allows it)."""
        best = ZERO
        for tier in self.risk_tiers:
            if tier.max_leverage >= leverage:
                best = tier.limit
        return best

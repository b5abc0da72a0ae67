"""Compound controller: each trade's margin share is a fraction of current equity, so profits are reinvested
and losses shrink the size. It only proposes a budget; the sizer and the risk guard still apply every limit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from omni.domain.instrument import ZERO


@dataclass(frozen=True, slots=True)
class CompoundController:
    fraction_per_trade: Decimal  # of equity, as margin for one trade
    max_margin_per_trade: Decimal | None = None  # absolute cap, USDT

    def margin_budget(self, equity: Decimal, available: Decimal) -> Decimal:
        """Margin one new trade may use: fraction x equity, never more than is available or the cap."""
        if equity <= 0 or available <= 0:
            return ZERO
        budget = min(equity * self.fraction_per_trade, available)
        if self.max_margin_per_trade is not None:
            budget = min(budget, self.max_margin_per_trade)
        return budget

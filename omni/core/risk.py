"""The risk guard: the single choke point every order passes, and the kill switch.

The executor accepts only ``Approved`` orders, and only ``RiskGuard`` can make one (the constructor checks a
private token), so no code path reaches a venue around the guard. Orders that only reduce risk
(reduce-only closes) are always approved, even with the kill switch tripped; entries need every check.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from omni.core.portfolio import Portfolio
from omni.domain.instrument import ZERO, Instrument
from omni.domain.orders import OrderIntent, Side
from omni.exchange import rules

_TOKEN = object()


class Approved:
    """An order the risk guard let through. Only ``RiskGuard`` can construct one, and nothing can change it
    afterwards: the intent it carries is the order that was checked (``OrderIntent`` is frozen too)."""

    __slots__ = ("intent", "max_loss")
    intent: OrderIntent
    max_loss: Decimal

    def __init__(self, intent: OrderIntent, max_loss: Decimal, _token: object = None):
        if _token is not _TOKEN:
            raise TypeError("Approved orders come from RiskGuard.check(), not from direct construction")
        object.__setattr__(self, "intent", intent)
        object.__setattr__(self, "max_loss", max_loss)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an Approved order is immutable: cannot set {name!r} after the risk guard approved it")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"an Approved order is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"Approved({self.intent.client_id} {self.intent.symbol} {self.intent.side.value} {self.intent.qty})"


@dataclass(frozen=True, slots=True)
class Refused:
    """The guard's no, with the limit that said it."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_concurrent: int
    max_loss_per_trade: Decimal
    max_daily_loss: Decimal
    max_drawdown_pct: Decimal
    max_leverage: Decimal
    max_notional: Decimal
    taker_fee: Decimal
    slippage: Decimal = ZERO  # fraction of price allowed for slippage at the stop


def loss_at_stop(
    intent: OrderIntent, entry: Decimal, taker_fee: Decimal, slippage: Decimal = ZERO, tick: Decimal = ZERO
) -> Decimal:
    """Planned loss of an entry stopped out: the move to the stop plus slippage and one tick of rounding
    against us, and taker fees on both legs (USDT). A gap through the stop can still lose more: that is
    what the daily-loss and drawdown limits are for."""
    assert intent.stop_loss is not None
    sl = intent.stop_loss
    exit_price = sl * (1 - slippage) - tick if intent.side is Side.BUY else sl * (1 + slippage) + tick
    move = (entry - exit_price) * intent.side.sign
    fees = intent.qty * (entry + exit_price) * taker_fee
    return rules.money(intent.qty * move + fees)


class RiskGuard:
    """Hard limits from config; trips a latched kill switch on daily loss or drawdown."""

    def __init__(self, limits: Limits, kill_switch: str | None = None):
        self.limits = limits
        self.kill_switch: str | None = kill_switch
        self.pending: set[str] = set()  # symbols with an approved entry not yet reflected as a position

    def check(
        self, intent: OrderIntent, inst: Instrument, entry: Decimal, portfolio: Portfolio, equity: Decimal
    ) -> Approved | Refused:
        """Approve or refuse one order. ``entry`` is the expected fill price, ``equity`` the account's now."""
        lim = self.limits
        if intent.reduce_only:
            return Approved(intent, ZERO, _TOKEN)
        if self.kill_switch is not None:
            return Refused("kill_switch", self.kill_switch)
        if intent.stop_loss is None:
            return Refused("no_stop_loss", "every entry must carry a stop-loss")
        if intent.symbol in portfolio.positions or intent.symbol in self.pending:
            return Refused("already_open", f"{intent.symbol} already has a position or pending entry")
        busy = len(portfolio.positions) + len(self.pending)
        if busy >= lim.max_concurrent:
            return Refused("max_concurrent", f"{busy} open/pending >= {lim.max_concurrent}")
        if intent.leverage is None:
            return Refused("no_leverage", "an entry must state its leverage so liquidation can be checked")
        leverage = intent.leverage
        cap = min(lim.max_leverage, inst.max_leverage)
        if leverage > cap:
            return Refused("max_leverage", f"leverage {leverage} > {cap}")
        notional = intent.qty * entry
        if notional > lim.max_notional:
            return Refused("max_notional", f"notional {notional} > {lim.max_notional}")
        tier_reject = rules.check_risk_limit(inst, notional, leverage)
        if tier_reject is not None:
            return Refused("risk_limit_tier", tier_reject.message)
        stop_side_ok = intent.stop_loss < entry if intent.side is Side.BUY else intent.stop_loss > entry
        if not stop_side_ok:
            return Refused("stop_wrong_side", f"stop {intent.stop_loss} on the wrong side of entry {entry}")
        tp = intent.take_profit
        if tp is not None and (tp <= entry if intent.side is Side.BUY else tp >= entry):
            return Refused("take_profit_wrong_side", f"take-profit {tp} on the wrong side of entry {entry}")
        margin = rules.initial_margin(notional, leverage)
        liq = rules.liquidation_price(inst, intent.side, entry, intent.qty, leverage, margin)
        beyond = liq < intent.stop_loss if intent.side is Side.BUY else liq > intent.stop_loss
        if not beyond:
            return Refused("liq_before_stop", f"liquidation {liq} not beyond stop {intent.stop_loss}")
        max_loss = loss_at_stop(intent, entry, lim.taker_fee, lim.slippage, inst.tick_size)
        if max_loss > lim.max_loss_per_trade:
            return Refused("max_loss_per_trade", f"loss at stop {max_loss} > {lim.max_loss_per_trade}")
        day_left = lim.max_daily_loss - portfolio.day_loss(equity)
        if max_loss > day_left:
            return Refused("daily_loss_budget", f"loss at stop {max_loss} > {day_left} left today")
        self.pending.add(intent.symbol)
        return Approved(intent, max_loss, _TOKEN)

    def settle(self, symbol: str) -> None:
        """The approved entry for ``symbol`` became a position or failed: it is no longer pending."""
        self.pending.discard(symbol)

    def observe(self, portfolio: Portfolio, equity: Decimal) -> str | None:
        """Check account-level limits; trips (and latches) the kill switch. Returns the new trip reason."""
        if self.kill_switch is not None:
            return None
        lim = self.limits
        loss = portfolio.day_loss(equity)
        if loss >= lim.max_daily_loss:
            self.kill_switch = f"max_daily_loss: lost {loss} today >= {lim.max_daily_loss}"
            return self.kill_switch
        dd = portfolio.drawdown_pct(equity)
        if dd >= lim.max_drawdown_pct:
            self.kill_switch = f"max_drawdown: {dd:.2f}% from peak >= {lim.max_drawdown_pct}%"
            return self.kill_switch
        return None

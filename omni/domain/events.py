"""Venue -> core events. Every venue (sim, Bybit) reports what happened with these values only."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from omni.domain.orders import Fill, Order, Position, Side


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    order: Order
    ts: int


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The venue refused an order or command with Bybit's ``code`` and message."""

    client_id: str
    symbol: str
    code: int
    message: str
    ts: int


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    order: Order
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class OrderFilled:
    fill: Fill
    order: Order | None  # None for executions with no order (funding)


@dataclass(frozen=True, slots=True)
class FundingPaid:
    """A funding settlement on an open position; ``amount`` > 0 was paid, < 0 received."""

    fill: Fill
    rate: Decimal


@dataclass(frozen=True, slots=True)
class Liquidated:
    """A position was liquidated on mark price and closed at the bankruptcy price."""

    fill: Fill
    liq_price: Decimal
    mark_price: Decimal


@dataclass(frozen=True, slots=True)
class PositionChanged:
    """The position after a change; ``position`` is None once flat."""

    symbol: str
    position: Position | None
    ts: int


@dataclass(frozen=True, slots=True)
class WalletChanged:
    balance: Decimal
    available: Decimal
    ts: int


#: transaction-log types that move money in or out of the account: capital, and the risk baselines move with them.
#: Any other cash change no execution explains (a bonus, a fee refund, interest, an unexplained difference) is
#: booked as an adjustment: it counts as profit or loss and the baselines stay.
CAPITAL_KINDS = frozenset({"TRANSFER_IN", "TRANSFER_OUT"})


@dataclass(frozen=True, slots=True)
class CapitalTransfer:
    """Money moved into (``amount`` > 0: a deposit, a testnet top-up, a transfer in) or out of (< 0) the trading
    account (``kind`` in ``CAPITAL_KINDS``), or another cash change no execution explains (``kind`` the exchange's
    transaction type, or "Adjustment" for a wallet difference no record explains). Deposits and withdrawals are
    capital, not profit, and move the risk baselines; the others are adjustments and do not."""

    transfer_id: str
    amount: Decimal
    kind: str  # "TRANSFER_IN", "TRANSFER_OUT", "Adjustment", "BONUS", ...
    ts: int

    @property
    def moves_capital(self) -> bool:
        return self.kind in CAPITAL_KINDS


@dataclass(frozen=True, slots=True)
class StopRejected:
    """A TP/SL could not be set on a position (the position may now be unprotected)."""

    symbol: str
    side: Side
    code: int
    message: str
    ts: int


Event = (
    OrderAccepted
    | OrderRejected
    | OrderCancelled
    | OrderFilled
    | FundingPaid
    | Liquidated
    | PositionChanged
    | WalletChanged
    | StopRejected
    | CapitalTransfer
)

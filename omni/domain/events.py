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


@dataclass(frozen=True, slots=True)
class CapitalTransfer:
    """Money moved into (``amount`` > 0: a deposit, a testnet top-up, a transfer in) or out of (< 0) the trading
    account, or (``kind`` "Adjustment") a difference between the wallet and the journal that no record explains.
    Capital, not profit: deposits and withdrawals move the risk baselines; an adjustment does not."""

    transfer_id: str
    amount: Decimal
    kind: str  # "TRANSFER_IN", "TRANSFER_OUT", "Adjustment", ...
    ts: int


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

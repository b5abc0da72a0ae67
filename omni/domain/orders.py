"""Orders, fills and positions: exact decimals, Bybit's vocabulary (one-way mode, isolated margin)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from omni.domain.instrument import ZERO


class Side(StrEnum):
    BUY = "Buy"
    SELL = "Sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "Market"
    LIMIT = "Limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    POST_ONLY = "PostOnly"


class OrderStatus(StrEnum):
    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"


#: Allowed order status transitions, one table (h11 style). Terminal states have no way out.
TRANSITIONS: dict[OrderStatus | None, frozenset[OrderStatus]] = {
    None: frozenset({OrderStatus.NEW, OrderStatus.REJECTED}),
    OrderStatus.NEW: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
}


def can_transition(old: OrderStatus | None, new: OrderStatus) -> bool:
    return new in TRANSITIONS[old]


class ExecType(StrEnum):
    TRADE = "Trade"
    FUNDING = "Funding"
    BUST_TRADE = "BustTrade"  # liquidation, closed at the bankruptcy price
    # the rest of Bybit's execution types: fills the exchange makes for you, booked like trades
    ADL_TRADE = "AdlTrade"  # auto-deleveraging
    DELIVERY = "Delivery"
    SETTLE = "Settle"
    BLOCK_TRADE = "BlockTrade"
    MOVE_POSITION = "MovePosition"


class TriggerBy(StrEnum):
    """The price a position's take-profit/stop-loss triggers on (Bybit's tpTriggerBy/slTriggerBy)."""

    LAST_PRICE = "LastPrice"
    MARK_PRICE = "MarkPrice"


class StopKind(StrEnum):
    """Why a position-attached order fired."""

    TAKE_PROFIT = "TakeProfit"
    STOP_LOSS = "StopLoss"


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What the core wants a venue to do: every number already on the symbol's tick and step."""

    client_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    leverage: Decimal | None = None
    #: what the take-profit and stop-loss trigger on (Bybit's default is the last price)
    stop_trigger: TriggerBy = TriggerBy.LAST_PRICE


@dataclass(frozen=True, slots=True)
class Order:
    """The venue's view of an order."""

    order_id: str
    client_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    price: Decimal | None
    tif: TimeInForce
    reduce_only: bool
    status: OrderStatus
    filled_qty: Decimal = ZERO
    created_ts: int = 0
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    stop_trigger: TriggerBy = TriggerBy.LAST_PRICE

    @classmethod
    def new(cls, order_id: str, intent: OrderIntent, ts: int) -> Order:
        """A just-accepted order for ``intent``: status New, nothing filled."""
        return cls(
            order_id,
            intent.client_id,
            intent.symbol,
            intent.side,
            intent.qty,
            intent.order_type,
            intent.price,
            intent.tif,
            intent.reduce_only,
            OrderStatus.NEW,
            ZERO,
            ts,
            intent.take_profit,
            intent.stop_loss,
            intent.stop_trigger,
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``fee`` > 0 is paid; for funding, ``fee`` is the payment and ``price`` the mark."""

    exec_id: str
    order_id: str
    client_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_rate: Decimal
    is_maker: bool
    exec_type: ExecType
    realised_pnl: Decimal
    ts: int
    closed_qty: Decimal = ZERO
    stop_kind: StopKind | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """An isolated-margin position in one-way mode. ``size`` > 0; ``side`` tells the direction."""

    symbol: str
    side: Side
    size: Decimal
    entry_price: Decimal
    leverage: Decimal
    margin: Decimal
    liq_price: Decimal
    bust_price: Decimal
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    opened_ts: int = 0

    @property
    def value(self) -> Decimal:
        return self.size * self.entry_price

    def unrealised(self, mark: Decimal) -> Decimal:
        return (mark - self.entry_price) * self.size * self.side.sign

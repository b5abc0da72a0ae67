"""An emulated account's closed PnL (GET /v5/position/closed-pnl): one row per order that closed (part of) a
position.

A row is made by the first fill of an order that reduces or closes a position and grows with that order's later
closing fills (``fillCount``). Its figures follow Bybit's definition of Closed P&L (help center, "Why did my
closed P&L record a loss"): the position P&L of the closed size minus the fee to open it, the funding paid
while holding it and the fee to close it, each taken pro rata of the position closed:

    closedPnl = execPnl (exit - entry) - openFee - funding - closeFee

so the rows of a position closed in full add up to its whole effect on the wallet. A liquidation (BustTrade)
makes a row whose PnL is the lost margin. The position being closed is followed from the fills themselves,
with the engine's arithmetic (entry value taken pro rata, rounded as ``rules.money``).

Queries follow Bybit: newest first (by ``createdTime``), ``limit`` 1..100 (default 50), an opaque ``cursor``,
and a window of at most 7 days: none given = the last 7 days, only ``startTime`` = [start, start + 7 d], only
``endTime`` = [end - 7 d, end]. "Now" is the market's time, as for every record of the emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from omni.domain.instrument import ZERO
from omni.domain.orders import ExecType, Fill, Order, Side
from omni.emulator.ledger import MAX_WINDOW_MS, window
from omni.exchange import rules
from omni.venues import bybit_codec as codec

_AVG = Decimal("0.00000001")


@dataclass(slots=True)
class ClosedPnl:
    """One closed-pnl row (one closing order)."""

    symbol: str
    order_id: str
    side: Side
    qty: Decimal
    order_price: Decimal
    order_type: str
    exec_type: str
    leverage: Decimal
    created_ts: int
    updated_ts: int
    closed_size: Decimal = ZERO
    entry_value: Decimal = ZERO
    exit_value: Decimal = ZERO
    pnl: Decimal = ZERO
    open_fee: Decimal = ZERO
    close_fee: Decimal = ZERO
    funding: Decimal = ZERO
    fills: int = 0

    def item(self) -> dict[str, Any]:
        s = codec.dstr
        size = self.closed_size or Decimal(1)
        return {
            "symbol": self.symbol, "orderId": self.order_id, "side": self.side.value, "qty": s(self.qty),
            "orderPrice": s(self.order_price), "orderType": self.order_type, "execType": self.exec_type,
            "closedSize": s(self.closed_size), "cumEntryValue": s(self.entry_value),
            "avgEntryPrice": s((self.entry_value / size).quantize(_AVG).normalize()),
            "cumExitValue": s(self.exit_value), "avgExitPrice": s((self.exit_value / size).quantize(_AVG).normalize()),
            "closedPnl": s(self.pnl), "fillCount": str(self.fills), "leverage": s(self.leverage),
            "openFee": s(self.open_fee), "closeFee": s(self.close_fee),
            "createdTime": str(self.created_ts), "updatedTime": str(self.updated_ts),
        }  # fmt: skip


@dataclass(slots=True)
class OpenPosition:
    """The position the closed-pnl book follows: size, entry value, and the open fees and funding not yet
    assigned to a closed part."""

    side: Side
    size: Decimal = ZERO
    entry_value: Decimal = ZERO
    open_fee: Decimal = ZERO
    funding: Decimal = ZERO


class ClosedPnlBook:
    """Closed-pnl rows of one account, oldest first."""

    def __init__(self) -> None:
        self.rows: list[ClosedPnl] = []
        self.by_order: dict[str, int] = {}  # public orderId -> index of its row
        self.open: dict[str, OpenPosition] = {}

    def on_fill(self, fill: Fill, order: Order | None, leverage: Decimal) -> ClosedPnl | None:
        """Follow one execution (``fill`` carries the public order id); returns the row it made or grew."""
        sym = fill.symbol
        pos = self.open.get(sym)
        if fill.exec_type is ExecType.FUNDING:
            if pos is not None:
                pos.funding += fill.fee
            return None
        row = None
        closed = min(fill.closed_qty, pos.size) if pos is not None else ZERO
        close_fee = fill.fee if closed == fill.qty else rules.money(fill.fee * closed / fill.qty) if closed else ZERO
        if pos is not None and closed > 0:
            full = closed == pos.size
            entry_part = pos.entry_value if full else rules.money(pos.entry_value * closed / pos.size)
            open_fee = pos.open_fee if full else rules.money(pos.open_fee * closed / pos.size)
            funding = pos.funding if full else rules.money(pos.funding * closed / pos.size)
            row = self._row(fill, order, leverage)
            row.closed_size += closed
            row.entry_value += entry_part
            row.exit_value += closed * fill.price
            row.open_fee += open_fee
            row.close_fee += close_fee
            row.funding += funding
            row.pnl += fill.realised_pnl - open_fee - funding - close_fee
            row.fills += 1
            row.updated_ts = fill.ts
            pos.size -= closed
            pos.entry_value -= entry_part
            pos.open_fee -= open_fee
            pos.funding -= funding
            if full:
                del self.open[sym]
                pos = None
        opening = fill.qty - closed if fill.exec_type is ExecType.TRADE else ZERO
        if opening > 0:
            if pos is None:
                pos = self.open[sym] = OpenPosition(fill.side)
            pos.size += opening
            pos.entry_value += opening * fill.price
            pos.open_fee += fill.fee - close_fee
        return row

    def _row(self, fill: Fill, order: Order | None, leverage: Decimal) -> ClosedPnl:
        i = self.by_order.get(fill.order_id)
        if i is not None:
            return self.rows[i]
        liquidation = fill.exec_type is ExecType.BUST_TRADE
        row = ClosedPnl(
            fill.symbol, fill.order_id, fill.side, order.qty if order is not None else fill.qty,
            order.price if order is not None and order.price is not None else ZERO,
            order.order_type.value if order is not None else "Market", fill.exec_type.value, leverage,
            fill.ts, fill.ts,
        )  # fmt: skip
        if liquidation:
            row.order_type = "Market"
        self.by_order[fill.order_id] = len(self.rows)
        self.rows.append(row)
        return row

    def query(
        self, now: int, *, start: int | None = None, end: int | None = None, limit: int = 50,
        cursor: int | None = None, symbol: str | None = None,
    ) -> tuple[list[ClosedPnl], int | None]:  # fmt: skip
        """One page, newest first, and the cursor of the next one (None at the end). Raises WindowError."""
        lo, hi = window(now, start, end, MAX_WINDOW_MS)
        page: list[ClosedPnl] = []
        i = len(self.rows) if cursor is None else min(cursor, len(self.rows))
        while i > 0:
            i -= 1
            row = self.rows[i]
            if not lo <= row.created_ts <= hi or (symbol is not None and row.symbol != symbol):
                continue
            if len(page) == limit:
                return page, i + 1
            page.append(row)
        return page, None

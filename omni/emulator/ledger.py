"""An emulated account's transaction log (GET /v5/account/transaction-log): every cash change of the wallet.

One row per execution (``TRADE``; a liquidation's bust trade is ``LIQUIDATION``), per funding settlement
(``SETTLEMENT``) and per transfer (``TRANSFER_IN`` / ``TRANSFER_OUT``), booked in the order they happened with
``cashBalance`` = the wallet balance right after the row, exactly. So over the whole log
``balance = start + sum(change)`` = start + transfers + realised PnL - fees + funding received.

Queries follow Bybit: newest first, ``limit`` 1..50 (default 20), an opaque ``cursor`` that stays valid while new
rows arrive, and a time window: none given = the last 24 h, only ``startTime`` = [start, start + 24 h], only
``endTime`` = [end - 24 h, end], both = at most 7 days apart. "Now" is the exchange's time (the last market
batch), the clock every record is stamped with.
"""

from __future__ import annotations

from decimal import Decimal

from omni.domain.instrument import ZERO
from omni.domain.orders import ExecType, Fill, Side
from omni.venues import bybit_codec as codec
from omni.venues.bybit_codec_account import (
    TX_LIQUIDATION,
    TX_SETTLEMENT,
    TX_TRADE,
    TX_TRANSFER_IN,
    TX_TRANSFER_OUT,
    Transaction,
)

DAY_MS = 86_400_000
MAX_WINDOW_MS = 7 * DAY_MS


class WindowError(ValueError):
    """A time window Bybit refuses."""


def window(
    now: int, start: int | None, end: int | None, default_ms: int, max_ms: int = MAX_WINDOW_MS
) -> tuple[int, int]:
    """Bybit's time window of a history query: both given = [start, end] (at most ``max_ms`` apart), only
    ``start`` = [start, start + default], only ``end`` = [end - default, end], none = [now - default, now].
    Raises WindowError for a window Bybit refuses."""
    if start is not None and end is not None:
        if start > end:
            raise WindowError("startTime needs to be smaller than endTime")
        if end - start > max_ms:
            raise WindowError("The time range between startTime and endTime cannot exceed 7 days")
        return start, end
    if start is not None:
        return start, start + default_ms
    end = now if end is None else end
    return end - default_ms, end


class Ledger:
    """The rows of one account, oldest first, and the cash balance they add up to."""

    def __init__(self, uid: int, balance: Decimal):
        self.uid = uid
        self.cash = balance
        self.rows: list[Transaction] = []
        self._sizes: dict[str, Decimal] = {}  # signed position size per symbol, after the last row

    def _next_id(self, symbol: str) -> str:
        return f"{self.uid}_{symbol or codec.COIN}_{len(self.rows) + 1}"

    def book_fill(self, fill: Fill) -> Transaction:
        """The row of one execution (``fill`` carries the public order id / orderLinkId)."""
        sym = fill.symbol
        if fill.exec_type is ExecType.FUNDING:
            received = -fill.fee
            self.cash += received
            rate = fill.fee_rate if fill.side is Side.BUY else -fill.fee_rate
            row = Transaction(
                self._next_id(sym), TX_SETTLEMENT, fill.ts, self.cash, ZERO, received, ZERO, sym, codec.CATEGORY,
                fill.side.value, fill.qty, fill.qty * fill.side.sign, fill.price, rate, fill.exec_id, fill.order_id,
                fill.client_id,
            )  # fmt: skip
        else:
            liquidation = fill.exec_type is ExecType.BUST_TRADE
            size = ZERO if liquidation else self._sizes.get(sym, ZERO) + fill.qty * fill.side.sign
            if size:
                self._sizes[sym] = size
            else:
                self._sizes.pop(sym, None)
            self.cash += fill.realised_pnl - fill.fee
            kind = TX_LIQUIDATION if liquidation else TX_TRADE
            row = Transaction(
                self._next_id(sym), kind, fill.ts, self.cash, fill.realised_pnl, None, fill.fee, sym, codec.CATEGORY,
                fill.side.value, fill.qty, size, fill.price, fill.fee_rate, fill.exec_id, fill.order_id,
                fill.client_id,
            )  # fmt: skip
        self.rows.append(row)
        return row

    def book_transfer(self, amount: Decimal, ts: int) -> Transaction:
        """A transfer into (> 0) or out of (< 0) the wallet; qty and cashFlow carry the signed amount."""
        self.cash += amount
        kind = TX_TRANSFER_IN if amount > 0 else TX_TRANSFER_OUT
        row = Transaction(self._next_id(""), kind, ts, self.cash, amount, category="", qty=amount)
        self.rows.append(row)
        return row

    def query(
        self, now: int, *, start: int | None = None, end: int | None = None, limit: int = 20, cursor: int | None = None,
        category: str | None = None, currency: str | None = None, base_coin: str | None = None,
        kind: str | None = None,
    ) -> tuple[list[Transaction], int | None]:  # fmt: skip
        """One page, newest first, and the cursor of the next one (None at the end). Raises WindowError."""
        start, end = window(now, start, end, DAY_MS)
        if currency is not None and codec.COIN not in currency.split(","):
            return [], None
        page: list[Transaction] = []
        i = len(self.rows) if cursor is None else min(cursor, len(self.rows))
        while i > 0:
            i -= 1
            row = self.rows[i]
            if not start <= row.ts <= end:
                continue
            if (category is not None and row.category != category) or (kind is not None and row.type != kind):
                continue
            if base_coin is not None and (not row.symbol or row.symbol.removesuffix(codec.COIN) != base_coin):
                continue
            if len(page) == limit:
                return page, i + 1
            page.append(row)
        return page, None

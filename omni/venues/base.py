"""The one venue seam. The engine talks to every venue (sim, Bybit) through this protocol only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Protocol

from omni.domain.events import Event
from omni.domain.instrument import Instrument
from omni.domain.market import MarketBatch
from omni.domain.orders import Order, OrderIntent, Position, TriggerBy
from omni.exchange.rules import Reject


class Venue(Protocol):
    name: str
    instruments: dict[str, Instrument]

    def stream(self, stop: asyncio.Event) -> AsyncIterator[tuple[MarketBatch, list[Event]]]:
        """Market data and account events in the order they happened; ends when ``stop`` is set or data ends."""
        ...

    async def place(self, intent: OrderIntent) -> list[Event]:
        """Send one order; returns the events known so far (at least accepted or rejected)."""
        ...

    async def cancel_all(self) -> list[Event]: ...

    async def open_orders(self) -> list[Order]:
        """Every order resting on the venue (entries, closes, conditional orders), read from the venue."""
        ...

    def account_events(self) -> list[Event]:
        """Account events the venue has received but not handed out yet (no I/O, no wait)."""
        ...

    async def settle(self, timeout_s: float = 3.0) -> list[Event]:
        """Events still in flight (fills of the last orders), collected at shutdown."""
        ...

    async def set_leverage(self, symbol: str, leverage: Decimal) -> Reject | None: ...

    async def set_trading_stop(
        self,
        symbol: str,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
        trigger: TriggerBy | None = None,
    ) -> list[Event]:
        """Attach the position's TP/SL; ``trigger`` is the price they trigger on (None: the venue's default)."""
        ...

    async def positions(self) -> dict[str, Position]: ...

    def last_price(self, symbol: str) -> Decimal | None: ...

    def balance(self) -> Decimal:
        """Wallet balance (cash), USDT."""
        ...

    def available(self) -> Decimal:
        """Balance not tied up as position or order margin, USDT."""
        ...

    def equity(self) -> Decimal:
        """Wallet balance plus unrealised PnL at the last known prices, USDT."""
        ...

    def now_ms(self) -> int: ...

    async def close(self) -> None: ...

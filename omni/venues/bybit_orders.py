"""Bybit venue, orders: place, cancel, leverage, take-profit / stop-loss, and the settling at shutdown.

A mixin of ``bybit.BybitVenue`` (which sets the REST client it uses; the account part keeps the positions and
our entry orders these calls update). Orders go out on the REST ``order`` budget. A ``place`` whose reply is
lost is retried with the same ``orderLinkId``: a retry that meets 110072 (duplicate link id), or the last
failed retry, looks the first attempt up instead of duplicating it or reporting it refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

from omni.domain.errors import VenueError, VenueRetryable
from omni.domain.events import Event, OrderAccepted, OrderCancelled, OrderRejected, PositionChanged, StopRejected
from omni.domain.orders import Order, OrderIntent, OrderStatus, Side, TriggerBy
from omni.exchange.rules import Reject
from omni.venues import bybit_codec as codec
from omni.venues import bybit_codec_trading as trading_codec
from omni.venues.bybit_codec import CATEGORY

DUPLICATE_LINK_ID = 110072


class BybitOrders:
    async def place(self, intent: OrderIntent) -> list[Event]:
        """Create an order; a retry that meets 110072 looks the first attempt up instead of duplicating it."""
        params = trading_codec.intent_to_params(intent)
        attempt = 0
        while True:
            attempt += 1
            try:
                res = await self.rest.call(self.http.place_order, "order", retry=False,
                                           **{"category": CATEGORY, **params})  # fmt: skip
                break
            except VenueRetryable as e:
                if attempt >= 6:
                    found = await self._safe_find(intent)  # the reply may have been lost, not the order
                    if found is not None:
                        return self._accepted(found)
                    return [OrderRejected(intent.client_id, intent.symbol, e.code or -1, str(e), self.now_ms())]
                await asyncio.sleep(min(0.2 * 2**attempt, 3) * (0.5 + random.random()))  # jitter: no herd
            except VenueError as e:
                if e.code == DUPLICATE_LINK_ID and attempt > 1:
                    found = await self._safe_find(intent)
                    if found is not None:
                        return self._accepted(found)
                return [OrderRejected(intent.client_id, intent.symbol, e.code or -1, str(e), self.now_ms())]
        order = await self._safe_find(intent, res.get("orderId"))
        if order is None:  # accepted, not yet visible in the lists: describe it from what we sent
            order = Order.new(res.get("orderId", ""), intent, self.now_ms())
        return self._accepted(order)

    def _accepted(self, order: Order) -> list[Event]:
        if not order.reduce_only and order.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
            self._entries[order.order_id] = order
        events: list[Event] = [OrderAccepted(order, self.now_ms())]
        if order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED) and not order.reduce_only:
            events.append(OrderCancelled(order, "cancelled before it filled", self.now_ms()))
        return events

    async def _safe_find(self, intent: OrderIntent, order_id: str | None = None) -> Order | None:
        try:
            return await self._find_order(intent, order_id)
        except VenueError as e:
            self.log.warning("order_lookup_failed", client_id=intent.client_id, error=str(e))
            return None

    async def _find_order(self, intent: OrderIntent, order_id: str | None = None) -> Order | None:
        for fn in (self.http.get_open_orders, self.http.get_order_history):
            res = await self.rest.call(
                fn, "order", category=CATEGORY, symbol=intent.symbol,
                **({"orderId": order_id} if order_id else {"orderLinkId": intent.client_id}),
            )  # fmt: skip
            items = res.get("list", [])
            if items:
                return trading_codec.order_from_item(items[0])
        return None

    async def cancel_all(self) -> list[Event]:
        """One cancel-all (Bybit cancels at most 500 orders per call, conditional ones included, and
        acknowledges before it is done): the caller re-reads ``open_orders`` and repeats."""
        await self.rest.call(self.http.cancel_all_orders, "order", category=CATEGORY, settleCoin="USDT")
        return []

    async def open_orders(self) -> list[Order]:
        """Every open order of the account (linear, USDT), all pages, from REST."""
        items = await self.rest.pages(self.http.get_open_orders, "order", category=CATEGORY, settleCoin="USDT",
                                      limit=50)  # fmt: skip
        out: list[Order] = []
        for item in items:
            try:
                out.append(trading_codec.order_from_item(item))
            except codec.CodecError as e:  # still an open order: counted, never dropped
                self.log.warning("open_order_unparsable", error=str(e), order_id=item.get("orderId"))
                out.append(Order.new(item.get("orderId", "?"), _placeholder(item), self.now_ms()))
        return out

    async def set_leverage(self, symbol: str, leverage: Decimal) -> Reject | None:
        try:
            await self.rest.call(self.http.set_leverage, "order", category=CATEGORY, symbol=symbol,
                                 buyLeverage=codec.dstr(leverage), sellLeverage=codec.dstr(leverage))  # fmt: skip
        except VenueError as e:
            return Reject(e.code or -1, str(e))
        return None  # 110043 (unchanged) is in pybit's ignore_codes

    async def set_trading_stop(
        self,
        symbol: str,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
        trigger: TriggerBy | None = None,
    ) -> list[Event]:
        stop = trading_codec.TradingStop(symbol, take_profit, stop_loss, trigger, trigger)
        params = trading_codec.trading_stop_to_params(stop)
        try:
            await self.rest.call(self.http.set_trading_stop, "order", **params)
        except VenueError as e:
            pos = self._positions.get(symbol)
            side = pos.side if pos else Side.BUY
            return [StopRejected(symbol, side, e.code or -1, str(e), self.now_ms())]
        pos = self._positions.get(symbol)
        if pos is None:
            return []
        updated = replace(pos, take_profit=take_profit or pos.take_profit, stop_loss=stop_loss or pos.stop_loss)
        self._positions[symbol] = updated
        return [PositionChanged(symbol, updated, self.now_ms())]

    def account_events(self) -> list[Event]:
        """The private stream's messages already received but not yet handed out (queued while the market task
        was busy, or after it stopped), handled now, and the events a resync made and nobody took: no I/O, no
        wait. A flatten reads the positions after this, so it closes what the exchange reported, not a stale view."""
        events: list[Event] = []
        inbox = self.inbox
        if inbox is not None:
            inbox.drain()
            while inbox.private:
                events += self._handle(*inbox.private.popleft())
        events = self._events + events
        self._events = []
        return events

    async def settle(self, timeout_s: float = 3.0) -> list[Event]:
        """After a flatten at shutdown: take the private stream's reports for a while, then resync by REST,
        so the ledger ends consistent with the exchange."""
        events: list[Event] = []
        deadline = time.monotonic() + timeout_s
        inbox = self.inbox
        while inbox is not None and time.monotonic() < deadline:
            item = inbox.pop()
            if item is None:
                if not self._positions:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(inbox.wake.wait(), 0.2)
                continue
            if item[0] == "private":
                events += self._handle(*item)
        with contextlib.suppress(VenueError, TimeoutError):  # what was booked stays; the journal says the rest
            await asyncio.wait_for(self.resync(), max(0.5, deadline - time.monotonic() + 2))
        events += self._events
        self._events = []
        return events


def _placeholder(item: dict[str, Any]) -> OrderIntent:
    """An order Bybit lists that the codec cannot read: enough of it to count it as open."""
    return OrderIntent(str(item.get("orderLinkId") or ""), str(item.get("symbol") or "?"), Side.BUY, Decimal(0))

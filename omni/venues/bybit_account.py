"""Bybit venue, account: executions, positions, our pending entry orders and the wallet, kept in step with Bybit.

A mixin of ``bybit.BybitVenue`` (which sets the configuration, the REST client and the socket inbox it uses):
- Executions are booked from the execution stream and from ``/v5/execution/list`` (after every (re)connect
  and every ``resync_interval_s``, since the last known execution minus a margin, in 7-day windows), each
  execId once across restarts (``seen_exec`` comes from the journal, ``exec_since_ms`` is the cursor; only a
  complete REST pass moves it, never past an execution that could not be parsed).
- Positions, entry orders (not reduce-only: a cancelled or rejected one frees its slot) and the wallet come
  from the private socket (``order``, ``execution``, ``position``, ``wallet``) and from the same REST resync.
- Capital changes come from ``/v5/account/transaction-log`` (same passes and window as the executions): a
  ``TRANSFER_IN`` / ``TRANSFER_OUT`` row (a deposit, a testnet top-up, a transfer) is capital, any other cash
  change no execution explains (a bonus, a fee refund, interest) an adjustment; each row id once across restarts
  (``seen_tx`` comes from the journal). Rows of executions (TRADE, SETTLEMENT, LIQUIDATION, ADL, DELIVERY) are
  booked from the executions.
- A resync's events wait in ``_events`` until the stream (or ``settle``) hands them out.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

from omni.domain.errors import VenueError
from omni.domain.events import (
    CapitalTransfer,
    Event,
    FundingPaid,
    Liquidated,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PositionChanged,
)
from omni.domain.instrument import ZERO
from omni.domain.orders import ExecType, Order, OrderStatus, Position
from omni.exchange.rules import money
from omni.venues import bybit_codec as codec
from omni.venues import bybit_codec_account as account_codec
from omni.venues import bybit_codec_trading as trading_codec
from omni.venues.bybit_codec import CATEGORY
from omni.venues.bybit_market import pause
from omni.venues.bybit_transport import LocalWebSocket, WsSupervisor

WEEK_MS = 7 * 86_400_000
#: transaction-log rows that executions already book (execution/list: Trade, Funding, BustTrade, AdlTrade, Delivery)
EXECUTION_TX_TYPES = frozenset({"TRADE", "SETTLEMENT", "LIQUIDATION", "ADL", "DELIVERY"})
EXEC_MARGIN_MS = 600_000  # executions are re-read from a while before the last REST pass saw (execIds dedupe)


class BybitAccount:
    def _init_account(self) -> None:
        self._positions: dict[str, Position] = {}
        self._balance = ZERO
        self._available = ZERO
        self.seen_exec: set[str] = set()  # the journal's execIds: each execution is booked once, ever
        self.exec_since_ms: int | None = None  # read executions from here (the journal's last one)
        self._trade_pnl: dict[str, Decimal] = {}  # execId -> realised PnL, from the transaction log's rows
        self.seen_tx: set[str] = set()  # the journal's transaction-log ids (transfers): each booked once, ever
        self._unparsed_exec_ts: int | None = None
        self._entries: dict[str, Order] = {}  # our open entry orders (not reduce-only), by orderId
        self._events: list[Event] = []  # from REST resyncs, handed out by the stream
        self._resync_lock = asyncio.Lock()
        self._resync_wanted = asyncio.Event()
        self.private: WsSupervisor | None = None
        self.resyncs = 0

    # ------------------------------------------------------------ REST resync

    async def resync(self) -> list[Event]:
        """Wallet, executions, positions and our pending entries by REST (after connect, every (re)connect
        and every ``resync_interval_s``). The events go out through the stream (and are returned)."""
        async with self._resync_lock:
            self.resyncs += 1
            events = await self._resync_transfers()  # before the executions move the cursor they share
            events += await self._resync_executions()
            events += await self._resync_positions()
            events += await self._resync_entries()
            wallet = await self.rest.call(self.http.get_wallet_balance, "account", accountType="UNIFIED", coin="USDT")
            accounts = wallet.get("list", [])
            if accounts:
                self._balance, self._available = account_codec.wallet_from_account(accounts[0])
            if events:
                self._events += events
                self._wake()
            return events

    async def _resync_loop(self, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                wanted = asyncio.create_task(self._resync_wanted.wait())
                await asyncio.wait([wanted, stopping], timeout=self.resync_interval_s,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                wanted.cancel()
                if stop.is_set():
                    return
                await self._resync_once(stop)
        finally:
            stopping.cancel()

    async def _resync_once(self, stop: asyncio.Event) -> None:
        self._resync_wanted.clear()
        try:
            await self.resync()
        except VenueError as e:  # logged, and tried again soon; the next interval would anyway
            self.log.warning("resync_failed", error=str(e), retry_in_s=5)
            await pause(stop, 5)
            self._resync_wanted.set()

    def _since(self) -> tuple[int, int]:
        """(start, now) of a REST pass: the last execution a complete pass saw minus a margin."""
        now = self.now_ms()
        since = (self.exec_since_ms if self.exec_since_ms is not None else now) - EXEC_MARGIN_MS
        return max(since, now - 4 * WEEK_MS), now  # Bybit keeps 2 years; a month down needs a human anyway

    async def _weekly(self, fn: Any, limit: int, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list endpoint from ``_since()`` to now, in 7-day windows (Bybit's longest); at least one,
        even when the cursor looks later than our clock (an exchange clock ahead of ours, or an emulator's market
        time)."""
        start, now = self._since()
        items: list[dict[str, Any]] = []
        while True:
            end = start + WEEK_MS - 1
            items += await self.rest.pages(fn, "account", startTime=start, endTime=end, limit=limit, **params)
            if end >= now:
                return items
            start = end + 1

    async def _resync_transfers(self) -> list[Event]:
        """Cash changes no execution explains, from the transaction log: deposits, top-ups and transfers (capital)
        and the rest (adjustments), each id once."""
        items = await self._weekly(self.http.get_transaction_log, 50, accountType="UNIFIED", currency="USDT")
        self._trade_pnl = {}  # the same window as the executions read next: only those rows are needed
        events: list[Event] = []
        for item in sorted(items, key=lambda i: (int(i.get("transactionTime") or 0), str(i.get("id")))):
            tx_id = str(item.get("id") or "")
            kind = str(item.get("type") or "")
            if kind in EXECUTION_TX_TYPES and item.get("tradeId"):
                # an execution's realised PnL: Bybit's REST execution list has no execPnl (only the stream has it)
                with contextlib.suppress(ArithmeticError, ValueError, TypeError):
                    self._trade_pnl[str(item["tradeId"])] = Decimal(str(item.get("cashFlow") or "0"))
            if not tx_id or tx_id in self.seen_tx or kind in EXECUTION_TX_TYPES:
                continue
            try:
                tx = account_codec.transaction_from_item(item)
            except codec.CodecError as e:
                self.counters["transaction_unparsed"] += 1
                self.log.error("transaction_unparsed", tx_id=tx_id, type=kind, error=str(e))
                continue
            self.seen_tx.add(tx_id)
            if tx.change == 0:
                continue
            event = CapitalTransfer(tx_id, tx.change, kind, tx.ts)
            self.log.warning("capital_transfer", tx_id=tx_id, type=kind, amount=tx.change, capital=event.moves_capital)
            events.append(event)
        return events

    async def _resync_executions(self) -> list[Event]:
        items = await self._weekly(self.http.get_executions, 100, category=CATEGORY)
        items.sort(key=lambda i: (int(i.get("execTime") or 0), str(i.get("execId"))))
        self._unparsed_exec_ts = None
        events = self._executions(items, source="rest")
        # only a complete REST pass moves the cursor (a socket push of a later fill says nothing about an earlier
        # one lost in a gap); never past an execution that could not be parsed, so the next pass reads it again
        newest = max((int(i.get("execTime") or 0) for i in items), default=0)
        if newest:
            cursor = max(self.exec_since_ms or 0, newest)
            if self._unparsed_exec_ts is not None:
                cursor = min(cursor, self._unparsed_exec_ts)
            self.exec_since_ms = cursor
        return events

    def _executions(self, items: list[dict[str, Any]], source: str) -> list[Event]:
        """Execution items -> events, each execId once; an item that cannot be parsed is logged and left
        unseen (the next resync tries again), and never stops the others."""
        events: list[Event] = []
        for item in items:
            exec_id = item.get("execId")
            if not exec_id or exec_id in self.seen_exec:
                continue
            if item.get("execPnl") in (None, ""):  # a REST item: the PnL comes from the transaction log
                pnl = self._realised_of(item)
                if pnl is None:  # its TRADE row is not visible yet: the next resync books it
                    self.counters["execution_pnl_pending"] += 1
                    ts = int(item.get("execTime") or 0) or None
                    if ts is not None:
                        self._unparsed_exec_ts = min(ts, self._unparsed_exec_ts or ts)
                    continue
                item = {**item, "execPnl": str(pnl)}
            try:
                fill = trading_codec.fill_from_item(item)
            except codec.CodecError as e:
                self.counters["execution_unparsed"] += 1
                self.log.error("execution_unparsed", source=source, exec_id=exec_id, error=str(e),
                               exec_type=item.get("execType"))  # fmt: skip
                ts = int(item.get("execTime") or 0) or None
                if ts is not None:
                    self._unparsed_exec_ts = min(ts, self._unparsed_exec_ts or ts)
                continue
            self.seen_exec.add(exec_id)
            if fill.exec_type is ExecType.FUNDING:
                events.append(FundingPaid(fill, Decimal(item.get("feeRate") or "0")))
            elif fill.exec_type is ExecType.BUST_TRADE:
                events.append(
                    Liquidated(fill, Decimal(item.get("execPrice") or "0"), Decimal(item.get("markPrice") or "0"))
                )
            else:
                events.append(OrderFilled(fill, None))
        return events

    def _realised_of(self, item: dict[str, Any]) -> Decimal | None:
        """The realised PnL of an execution item without ``execPnl`` (Bybit's REST list): zero for an opening
        fill or funding, else its transaction-log row's ``cashFlow``; None while that row is not visible."""
        closed = str(item.get("closedSize") or "0")
        if item.get("execType") == ExecType.FUNDING.value or Decimal(closed) == 0:
            return ZERO
        return self._trade_pnl.get(str(item.get("execId")))

    def forget_unbooked(self, booked: set[str], since_ms: int) -> None:
        """Count as seen only the executions the journal booked, and re-read from ``since_ms``: the next resync hands
        out again what this run saw but never booked (events in flight when the market task stopped).

        Events already made but not yet handed out (``self._events``: a resync the stopped market task never
        delivered) stay seen: the next ``settle`` hands them out, and a re-read must not hand them out twice."""
        queued = {ev.fill.exec_id for ev in self._events if isinstance(ev, OrderFilled | FundingPaid | Liquidated)}
        self.seen_exec = set(booked) | queued
        self.exec_since_ms = since_ms if self.exec_since_ms is None else min(self.exec_since_ms, since_ms)

    def position_symbols(self) -> list[str]:
        """The symbols the account holds a position in, as last read or pushed."""
        return sorted(self._positions)

    async def _resync_positions(self) -> list[Event]:
        items = await self.rest.pages(self.http.get_positions, "account", category=CATEGORY, settleCoin="USDT",
                                      limit=200)  # fmt: skip
        events: list[Event] = []
        seen = set()
        for item in items:
            try:
                pos = trading_codec.position_from_item(item)
            except codec.CodecError as e:  # still a position: kept as we knew it, read again next time
                self.log.error("position_unparsed", error=str(e), symbol=item.get("symbol"))
                seen.add(item.get("symbol"))
                self._resync_wanted.set()
                continue
            sym = item["symbol"]
            seen.add(sym)
            if pos != self._positions.get(sym):
                events.append(PositionChanged(sym, pos, self.now_ms()))
            if pos is None:
                self._positions.pop(sym, None)
            else:
                self._positions[sym] = pos
        for sym in [s for s in self._positions if s not in seen]:
            del self._positions[sym]
            events.append(PositionChanged(sym, None, self.now_ms()))
        return events

    async def _resync_entries(self) -> list[Event]:
        """Our entry orders that Bybit no longer lists as open: cancelled or rejected ones free their slot."""
        if not self._entries:
            return []
        items = await self.rest.pages(self.http.get_open_orders, "account", category=CATEGORY, settleCoin="USDT",
                                      limit=50)  # fmt: skip
        open_ids = {i.get("orderId") for i in items}
        events: list[Event] = []
        for oid in list(self._entries):
            if oid in open_ids:
                continue
            res = await self.rest.call(self.http.get_order_history, "account", category=CATEGORY, orderId=oid)
            found = res.get("list", []) or []
            if not found:
                continue  # not visible yet
            events += self._order_items(found)
        return events

    def pending_events(self) -> list[Event]:
        """Events a resync produced that the stream has not handed out yet (read-only view)."""
        return list(self._events)

    # ------------------------------------------------------------ private socket

    def _private_socket(self) -> WsSupervisor:
        assert self.inbox is not None
        cb = self.inbox.callback("private")

        def build() -> Any:
            return LocalWebSocket(
                self.private_ws, testnet=self.testnet, channel_type="private", api_key=self._key,
                api_secret=self._secret, callback_function=cb, ping_interval=self.ping_interval_s,
                ping_timeout=min(10.0, self.ping_interval_s / 2), private_auth_expire=10,
            )  # fmt: skip

        def subscribe(ws: Any) -> None:
            for topic in ("order", "execution", "position", "wallet"):
                ws.subscribe(topic, callback=cb)

        return WsSupervisor("private", build, subscribe, self.resync, self.log, max_silence_s=None,
                            pong_timeout_s=self.pong_timeout_s)  # fmt: skip

    def _private(self, msg: dict[str, Any]) -> list[Event]:
        topic = msg.get("topic")
        data = msg.get("data") or []
        events: list[Event] = []
        if topic == "wallet":
            for account in data:
                try:
                    self._balance, self._available = account_codec.wallet_from_account(account)
                except (codec.CodecError, KeyError, ValueError, TypeError) as e:  # the next resync reads it by REST
                    self.counters["wallet_unparsed"] += 1
                    self.log.warning("wallet_unparsed", error=repr(e), account_type=account.get("accountType"))
        elif topic == "position":
            for item in data:
                try:
                    pos = trading_codec.position_from_item(item)
                except codec.CodecError as e:
                    self.log.error("position_unparsed", error=str(e))
                    self._resync_wanted.set()
                    continue
                sym = item["symbol"]
                if pos is None:
                    self._positions.pop(sym, None)
                else:
                    self._positions[sym] = pos
                events.append(PositionChanged(sym, pos, int(item.get("updatedTime") or 0) or self.now_ms()))
        elif topic == "execution":
            events += self._executions(list(data), source="ws")
        elif topic == "order":
            events += self._order_items(list(data))
        else:
            self.counters["ws_unknown_topic"] += 1
            self.log.info("ws_unknown_private", topic=topic)
        return events

    def _order_items(self, items: list[dict[str, Any]]) -> list[Event]:
        events: list[Event] = []
        for item in items:
            try:
                order = trading_codec.order_from_item(item)
            except codec.CodecError as e:
                self.counters["order_unparsed"] += 1
                self.log.error("order_unparsed", error=str(e), status=item.get("orderStatus"))
                self._resync_wanted.set()
                continue
            known = self._entries.get(order.order_id)
            if order.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
                if not order.reduce_only:
                    self._entries.setdefault(order.order_id, order)
                continue
            self._entries.pop(order.order_id, None)
            ts = int(item.get("updatedTime") or self.now_ms())
            reason = item.get("rejectReason") or item.get("cancelType") or ""
            if order.status is OrderStatus.CANCELLED and known is not None:
                events.append(OrderCancelled(order, reason, ts))
            elif order.status is OrderStatus.REJECTED and known is not None:
                events.append(OrderRejected(order.client_id, order.symbol, -1, f"rejected by Bybit: {reason}", ts))
        return events

    # ------------------------------------------------------------ state

    async def positions(self) -> dict[str, Position]:
        return dict(self._positions)

    def balance(self) -> Decimal:
        return self._balance

    def available(self) -> Decimal:
        return self._available

    def equity(self) -> Decimal:
        upl = ZERO
        for sym, p in self._positions.items():
            last = self._last.get(sym)
            if last is not None:
                upl += p.unrealised(last)
        return self._balance + money(upl)

"""BybitVenue: Bybit testnet / demo trading (or the local emulator) through the official pybit client.

The rest of OMNI sees the same async ``Venue`` interface as the sim: plain domain types in and out.
- REST: pybit ``HTTP`` (blocking) in ``asyncio.to_thread``, under an asyncio-throttle rate limit; tenacity
  retries only what is safe: reads, and order creation with the same orderLinkId (a 110072 on a retry means
  the first attempt landed: look the order up, never send a duplicate).
- WebSocket: public ``kline.1.<SYMBOL>`` (confirmed candles become 1m bars) and private ``order``,
  ``execution``, ``position``, ``wallet``; pybit's threads only enqueue raw messages (``bybit_transport``).
- A watchdog per socket rebuilds it with backoff; after every (re)connect, orders, positions, wallet and
  executions are resynced by REST, because private topics send no snapshot.
- Private traffic to a mainnet host is refused; keys come from the environment only and are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from asyncio_throttle import Throttler
from pybit.exceptions import FailedRequestError, InvalidRequestError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from omni.domain.errors import VenueError, VenueFatal, VenueRetryable
from omni.domain.events import (
    Event,
    FundingPaid,
    Liquidated,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    StopRejected,
)
from omni.domain.instrument import ZERO, Instrument
from omni.domain.market import MarketBatch
from omni.domain.orders import ExecType, Order, OrderIntent, OrderStatus, Position, Side
from omni.exchange.rules import Reject, money
from omni.venues import bybit_codec as codec
from omni.venues.bybit_transport import (
    LocalHTTP,
    LocalWebSocket,
    WsSupervisor,
    check_not_mainnet,
    threadsafe_enqueue,
)

DUPLICATE_LINK_ID = 110072
_STOP: Any = object()  # queue sentinel: the stream's stop event fired
CATEGORY = "linear"


class BybitVenue:
    def __init__(
        self,
        name: str,
        rest_url: str,
        public_ws: str,
        private_ws: str,
        api_key: str,
        api_secret: str,
        log: Any,
        *,
        symbols: list[str] | None = None,
        allow_mainnet: bool = False,
        requests_per_second: float = 8.0,
        recv_window: int = 5000,
        max_silence_s: float = 30.0,
        testnet: bool = True,
    ):
        check_not_mainnet(rest_url, allow_mainnet)
        if not api_key or not api_secret:
            raise VenueFatal("BYBIT_API_KEY and BYBIT_API_SECRET must be set (environment or .env)")
        self.name = name
        self.rest_url = rest_url
        self.public_ws = public_ws
        self.private_ws = private_ws
        self.log = log
        self.symbols_wanted = symbols
        self.max_silence_s = max_silence_s
        self.testnet = testnet
        self._key, self._secret = api_key, api_secret
        self.http = LocalHTTP(
            rest_url,
            testnet=testnet,
            api_key=api_key,
            api_secret=api_secret,
            recv_window=recv_window,
            retry_delay=1,
            max_retries=3,
            ignore_codes={110043},
            timeout=10,
        )
        self.throttle = Throttler(rate_limit=max(1, int(requests_per_second)), period=1.0)
        self.instruments: dict[str, Instrument] = {}
        self.queue: asyncio.Queue[tuple[str, float, Any]] = asyncio.Queue()
        self._positions: dict[str, Position] = {}
        self._last: dict[str, Decimal] = {}
        self._balance = ZERO
        self._available = ZERO
        self._seen_exec: set[str] = set()
        self._orders: dict[str, OrderStatus] = {}
        self._offset_ms = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop = asyncio.Event()
        self.public: WsSupervisor | None = None
        self.private: WsSupervisor | None = None
        self.resyncs = 0

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Clock offset, instruments (paginated), account state, then the sockets and their watchdogs."""
        t0 = time.time()
        server = await self._call(self.http.get_server_time)
        self._offset_ms = int(int(server["timeNano"]) // 1_000_000 - (t0 + time.time()) * 500)
        self.instruments = await self._load_instruments()
        await self.resync()
        loop = asyncio.get_running_loop()
        symbols = list(self.instruments)
        public_cb = threadsafe_enqueue(loop, self.queue, "public")
        private_cb = threadsafe_enqueue(loop, self.queue, "private")

        def build_public() -> Any:
            return LocalWebSocket(
                self.public_ws,
                testnet=self.testnet,
                channel_type=CATEGORY,
                callback_function=public_cb,
                ping_interval=20,
                ping_timeout=10,
            )

        def sub_public(ws: Any) -> None:
            for i in range(0, len(symbols), 10):  # Bybit takes up to 10 args per subscribe
                ws.kline_stream(interval=1, symbol=symbols[i : i + 10], callback=public_cb)

        def build_private() -> Any:
            return LocalWebSocket(
                self.private_ws,
                testnet=self.testnet,
                channel_type="private",
                api_key=self._key,
                api_secret=self._secret,
                callback_function=private_cb,
                ping_interval=20,
                ping_timeout=10,
                private_auth_expire=10,
            )

        def sub_private(ws: Any) -> None:
            ws.order_stream(callback=private_cb)
            ws.execution_stream(callback=private_cb)
            ws.position_stream(callback=private_cb)
            ws.wallet_stream(callback=private_cb)

        self.public = WsSupervisor(
            "public", build_public, sub_public, self.resync, self.log, max_silence_s=self.max_silence_s
        )
        self.private = WsSupervisor(
            "private", build_private, sub_private, self.resync, self.log, max_silence_s=10 * self.max_silence_s
        )  # private streams are quiet
        await self.public.connect()
        await self.private.connect()
        self._tasks = [
            asyncio.create_task(s.watch(self._stop), name=f"ws-{s.name}") for s in (self.public, self.private)
        ]
        self.log.info(
            "venue_connected", venue=self.name, url=self.rest_url, symbols=len(symbols), clock_offset_ms=self._offset_ms
        )

    async def close(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        for s in (self.public, self.private):
            if s is not None:
                await s.close()

    # ------------------------------------------------------------ REST helpers

    async def _call(self, fn: Callable[..., Any], *, retry: bool = True, **params: Any) -> dict[str, Any]:
        """One REST call off the loop, throttled; retries VenueRetryable errors if ``retry``."""

        async def once() -> dict[str, Any]:
            async with self.throttle:
                try:
                    reply = await asyncio.to_thread(fn, **params)
                except InvalidRequestError as e:
                    raise codec.venue_error(int(e.status_code), str(e.message)) from None
                except FailedRequestError as e:
                    code = int(e.status_code or 0)
                    # pybit's own retries (10002, 10006) end as "Retries exceeded" with status 400: still retryable
                    gave_up = "Retries exceeded" in str(e.message)
                    cls = VenueRetryable if gave_up or code in (0, 429, 500, 502, 503, 504) else VenueFatal
                    raise cls(str(e.message), code) from None
                except ValueError as e:  # pybit's negative sleep on a stale 10006 reset header
                    raise VenueRetryable(f"pybit: {e}", 10006) from None
                except (ConnectionError, TimeoutError, OSError) as e:
                    raise VenueRetryable(f"network: {e!r}") from None
            return reply["result"] if isinstance(reply, dict) and "result" in reply else reply

        if not retry:
            return await once()
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(4),
            reraise=True,
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(VenueRetryable),
        ):
            with attempt:
                return await once()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _load_instruments(self) -> dict[str, Instrument]:
        out: dict[str, Instrument] = {}
        cursor = ""
        while True:
            res = await self._call(
                self.http.get_instruments_info, category=CATEGORY, limit=1000, **({"cursor": cursor} if cursor else {})
            )
            for item in res.get("list", []):
                if item.get("status", "Trading") != "Trading" or item.get("quoteCoin", "USDT") != "USDT":
                    continue
                sym = item["symbol"]
                if self.symbols_wanted and sym not in self.symbols_wanted:
                    continue
                out[sym] = codec.instrument_from_item(item)
            cursor = res.get("nextPageCursor") or ""
            if not cursor:
                break
        for sym in list(out):  # real risk tiers for the symbols we trade
            res = await self._call(self.http.get_risk_limit, category=CATEGORY, symbol=sym)
            items = res.get("list", [])
            if items:
                out[sym] = replace(out[sym], risk_tiers=codec.risk_tiers_from_items(items))
        return out

    async def settle(self, timeout_s: float = 3.0) -> list[Event]:
        """After a flatten at shutdown: wait for the private stream to report the closes, then resync by REST.
        Returns every event received meanwhile, so the ledger ends consistent with the exchange."""
        events: list[Event] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                item = await asyncio.wait_for(self.queue.get(), 0.2)
            except TimeoutError:
                if not self._positions:
                    break
                continue
            if item is not _STOP:
                events += self._translate(item[0], item[2])[1]
        await self.resync()
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is not _STOP:
                events += self._translate(item[0], item[2])[1]
        return events

    async def history(self, minutes: int) -> list[MarketBatch]:
        """The last ``minutes`` closed 1m bars of every symbol, as market batches oldest first (warm-up)."""
        by_ts: dict[int, list[Any]] = {}
        limit = max(1, min(1000, minutes + 1))
        for sym in self.instruments:
            res = await self._call(self.http.get_kline, category=CATEGORY, symbol=sym, interval="1", limit=limit)
            rows = res.get("list", [])[1:]  # newest first; the first candle is still open
            for row in reversed(rows):
                bar = codec.kline_row_to_bar(sym, row, 1)
                by_ts.setdefault(bar.ts + 60_000, []).append(bar)
        return [MarketBatch(ts, bars, []) for ts, bars in sorted(by_ts.items())]

    async def resync(self) -> list[Event]:
        """Reload wallet, positions and open orders by REST (after connect and every reconnect)."""
        self.resyncs += 1
        wallet = await self._call(self.http.get_wallet_balance, accountType="UNIFIED", coin="USDT")
        accounts = wallet.get("list", [])
        if accounts:
            self._balance, self._available = codec.wallet_from_account(accounts[0])
        res = await self._call(self.http.get_positions, category=CATEGORY, settleCoin="USDT")
        events: list[Event] = []
        seen = set()
        for item in res.get("list", []):
            pos = codec.position_from_item(item)
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
        if events:
            await self.queue.put(("resync", time.monotonic(), events))
        return events

    # ------------------------------------------------------------ Venue interface

    async def stream(self, stop: asyncio.Event) -> AsyncIterator[tuple[MarketBatch, list[Event]]]:
        async def wake_on_stop() -> None:  # one waiter for the whole stream, not a task per message
            await stop.wait()
            self.queue.put_nowait(_STOP)

        waker = asyncio.create_task(wake_on_stop())
        try:
            while not stop.is_set():
                item = await self.queue.get()
                if item is _STOP:
                    return
                tag, _, msg = item
                batch, events = self._translate(tag, msg)
                if batch is not None or events:
                    yield batch or MarketBatch(self.now_ms(), [], []), events
        finally:
            waker.cancel()

    def _translate(self, tag: str, msg: Any) -> tuple[MarketBatch | None, list[Event]]:
        """A raw socket message -> (market batch, events). Malformed or unknown messages are logged, survived."""
        if tag == "resync":
            return None, list(msg)
        try:
            if not isinstance(msg, dict):
                raise ValueError("not a JSON object")
            if tag == "public":
                if self.public is not None:
                    self.public.touch()
                return self._public(msg), []
            if self.private is not None:
                self.private.touch()
            return None, self._private(msg)
        except (KeyError, ValueError, TypeError, codec.CodecError) as e:
            self.log.warning("ws_message_dropped", socket=tag, error=repr(e), message=str(msg)[:300])
            return None, []

    def _public(self, msg: dict[str, Any]) -> MarketBatch | None:
        topic = msg.get("topic", "")
        if not topic.startswith("kline."):
            if "op" not in msg and "success" not in msg:
                self.log.info("ws_unknown_public", topic=topic or None)
            return None
        symbol = topic.rsplit(".", 1)[1]
        bars = []
        for k in msg["data"]:
            if not k.get("confirm"):
                continue
            row = [k["start"], k["open"], k["high"], k["low"], k["close"], k["volume"], k.get("turnover", "0")]
            bar = codec.kline_row_to_bar(symbol, row, 1)
            bars.append(bar)
            inst = self.instruments.get(symbol)
            self._last[symbol] = inst.round_price(bar.close) if inst else Decimal(k["close"])
        if not bars:
            return None
        return MarketBatch(bars[-1].ts + 60_000, bars, [])

    def _private(self, msg: dict[str, Any]) -> list[Event]:
        topic = msg.get("topic")
        data = msg.get("data") or []
        events: list[Event] = []
        if topic == "wallet":
            for account in data:
                self._balance, self._available = codec.wallet_from_account(account)
        elif topic == "position":
            for item in data:
                pos = codec.position_from_item(item)
                sym = item["symbol"]
                if pos is None:
                    self._positions.pop(sym, None)
                else:
                    self._positions[sym] = pos
                events.append(PositionChanged(sym, pos, int(item.get("updatedTime") or self.now_ms())))
        elif topic == "execution":
            for item in data:
                if item.get("execId") in self._seen_exec:
                    continue  # a resync or a redelivery: every fill is applied once
                self._seen_exec.add(item["execId"])
                fill = codec.fill_from_item(item)
                if fill.exec_type is ExecType.FUNDING:
                    events.append(FundingPaid(fill, Decimal(item.get("feeRate") or "0")))
                elif fill.exec_type is ExecType.BUST_TRADE:
                    events.append(
                        Liquidated(fill, Decimal(item.get("execPrice") or "0"), Decimal(item.get("markPrice") or "0"))
                    )
                else:
                    events.append(OrderFilled(fill, None))
        elif topic == "order":
            for item in data:
                order = codec.order_from_item(item)
                before = self._orders.get(order.order_id)
                self._orders[order.order_id] = order.status
                if order.status is OrderStatus.CANCELLED and before is not OrderStatus.CANCELLED:
                    events.append(
                        OrderCancelled(
                            order,
                            item.get("rejectReason") or item.get("cancelType") or "",
                            int(item.get("updatedTime") or 0),
                        )
                    )
        elif topic is None:
            op = msg.get("op")
            if op == "auth" and msg.get("success") is False:
                self.log.error("ws_auth_failed", message=msg.get("ret_msg"))
            elif op not in ("auth", "subscribe", "pong", "ping"):
                self.log.info("ws_unknown_private", op=op)
        return events

    async def place(self, intent: OrderIntent) -> list[Event]:
        """Create an order; a retry that meets 110072 looks the first attempt up instead of duplicating it."""
        params = codec.intent_to_params(intent)
        attempt = 0
        while True:
            attempt += 1
            try:
                res = await self._call(self.http.place_order, retry=False, **{"category": CATEGORY, **params})
                break
            except VenueRetryable as e:
                if attempt >= 6:
                    return [OrderRejected(intent.client_id, intent.symbol, e.code or -1, str(e), self.now_ms())]
                await asyncio.sleep(min(0.2 * 2**attempt, 3) * (0.5 + random.random()))  # jitter: no herd
            except VenueError as e:
                if e.code == DUPLICATE_LINK_ID and attempt > 1:
                    found = await self._find_order(intent)
                    if found is not None:
                        return [OrderAccepted(found, self.now_ms())]
                return [OrderRejected(intent.client_id, intent.symbol, e.code or -1, str(e), self.now_ms())]
        order = await self._find_order(intent, res.get("orderId"))
        if order is None:  # accepted, not yet visible in the lists: describe it from what we sent
            order = Order.new(res.get("orderId", ""), intent, self.now_ms())
        return [OrderAccepted(order, self.now_ms())]

    async def _find_order(self, intent: OrderIntent, order_id: str | None = None) -> Any:
        for fn in (self.http.get_open_orders, self.http.get_order_history):
            res = await self._call(
                fn,
                category=CATEGORY,
                symbol=intent.symbol,
                **({"orderId": order_id} if order_id else {"orderLinkId": intent.client_id}),
            )
            items = res.get("list", [])
            if items:
                return codec.order_from_item(items[0])
        return None

    async def cancel_all(self) -> list[Event]:
        await self._call(self.http.cancel_all_orders, category=CATEGORY, settleCoin="USDT")
        return []

    async def set_leverage(self, symbol: str, leverage: Decimal) -> Reject | None:
        try:
            await self._call(
                self.http.set_leverage,
                category=CATEGORY,
                symbol=symbol,
                buyLeverage=codec.dstr(leverage),
                sellLeverage=codec.dstr(leverage),
            )
        except VenueError as e:
            return Reject(e.code or -1, str(e))
        return None  # 110043 (unchanged) is in pybit's ignore_codes

    async def set_trading_stop(
        self, symbol: str, take_profit: Decimal | None = None, stop_loss: Decimal | None = None
    ) -> list[Event]:
        params: dict[str, Any] = {"category": CATEGORY, "symbol": symbol, "positionIdx": 0, "tpslMode": "Full"}
        if take_profit is not None:
            params["takeProfit"] = codec.dstr(take_profit)
        if stop_loss is not None:
            params["stopLoss"] = codec.dstr(stop_loss)
        try:
            await self._call(self.http.set_trading_stop, **params)
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

    async def positions(self) -> dict[str, Position]:
        return dict(self._positions)

    def last_price(self, symbol: str) -> Decimal | None:
        return self._last.get(symbol)

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

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self._offset_ms

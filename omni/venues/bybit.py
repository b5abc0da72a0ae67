"""BybitVenue: Bybit testnet / demo trading (or the local emulator) through the official pybit client.

The rest of OMNI sees the same async ``Venue`` interface as the sim: plain domain types in and out. Built to
start on a Bybit-sized market (~500 linear perpetuals) and run for weeks (../shared/docs/live-path.md):
- Start-up (``connect``): server time (pybit signs with it), instruments and risk tiers in a few paged calls,
  wallet, positions, open orders and executions; then the private socket and the public kline sockets,
  sharded (``symbols_per_socket`` topics each, subscribed in chunks, every ack checked).
- Market data: socket pushes go to a ``KlineFeed`` from the moment of subscription; the 1m history (limit
  1000) loads by REST behind it (``warmup`` task, progress logged), then the feed emits each confirmed minute
  once, in order, one batch per minute across symbols (``batch_grace_ms``). Holes are filled by REST.
- Money: executions are booked from the execution stream and from ``/v5/execution/list`` (after every
  (re)connect and every ``resync_interval_s``, since the last known execution minus a margin, in 7-day
  windows), each execId once across restarts (``seen_exec`` comes from the journal).
- Background tasks (``tasks()``) run under the supervisor's TaskGroup: socket watchdogs, warm-up, gap fills,
  periodic resync, tickers (funding rates, one call a minute), hourly instrument refresh, clock sync.
- REST on separate budgets (``bybit_rest``); private traffic to a mainnet host is refused; keys never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

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
from omni.domain.market import MINUTE_MS, Bar, Funding, MarketBatch
from omni.domain.orders import ExecType, Order, OrderIntent, OrderStatus, Position, Side
from omni.exchange.rules import Reject, money
from omni.venues import bybit_codec as codec
from omni.venues.bybit_feed import KlineFeed
from omni.venues.bybit_rest import NO_PYBIT_RETRIES, RestClient
from omni.venues.bybit_transport import (
    Inbox,
    LocalHTTP,
    LocalWebSocket,
    WsSupervisor,
    check_not_mainnet,
    patch_pybit_clock,
)

DUPLICATE_LINK_ID = 110072
CATEGORY = "linear"
WEEK_MS = 7 * 86_400_000
EXEC_MARGIN_MS = 600_000  # executions are re-read from a while before the last REST pass saw (execIds dedupe)
SUBSCRIBE_CHUNK = 50  # kline topics per subscribe message
Task = Callable[[asyncio.Event], Awaitable[None]]


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
        market_requests_per_second: float = 40.0,
        account_requests_per_second: float = 20.0,
        ip_requests_per_second: float = 80.0,
        recv_window: int = 5000,
        max_silence_s: float = 90.0,
        pong_timeout_s: float = 60.0,
        ping_interval_s: float = 20.0,
        batch_grace_ms: int = 1500,
        symbols_per_socket: int = 125,
        resync_interval_s: float = 60.0,
        tickers_interval_s: float = 60.0,
        instruments_refresh_s: float = 3600.0,
        clock_sync_s: float = 300.0,
        warmup_minutes: int = 0,
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
        self.symbols_wanted = set(symbols) if symbols else None
        self.max_silence_s = max_silence_s
        self.pong_timeout_s = pong_timeout_s
        self.ping_interval_s = ping_interval_s
        self.symbols_per_socket = symbols_per_socket
        self.resync_interval_s = resync_interval_s
        self.tickers_interval_s = tickers_interval_s
        self.instruments_refresh_s = instruments_refresh_s
        self.clock_sync_s = clock_sync_s
        self.warmup_minutes = warmup_minutes
        self.testnet = testnet
        self._key, self._secret = api_key, api_secret
        self.http = LocalHTTP(
            rest_url,
            testnet=testnet,
            api_key=api_key,
            api_secret=api_secret,
            recv_window=recv_window,
            retry_codes=set(NO_PYBIT_RETRIES),
            max_retries=1,
            ignore_codes={110043, 110025},
            timeout=10,
        )
        self.rest = RestClient(
            self.http,
            ip_per_s=ip_requests_per_second,
            market_per_s=market_requests_per_second,
            account_per_s=account_requests_per_second,
            order_per_s=requests_per_second,
            on_clock_skew=self.sync_clock,
        )
        self.instruments: dict[str, Instrument] = {}  # every USDT perpetual seen (closing needs delisted specs)
        self.status: dict[str, str] = {}
        self.feed = KlineFeed([], batch_grace_ms)
        self.inbox: Inbox | None = None
        self._positions: dict[str, Position] = {}
        self._last: dict[str, Decimal] = {}
        self._last_ts: dict[str, int] = {}
        self._balance = ZERO
        self._available = ZERO
        self.seen_exec: set[str] = set()  # the journal's execIds: each execution is booked once, ever
        self.exec_since_ms: int | None = None  # read executions from here (the journal's last one)
        self._unparsed_exec_ts: int | None = None
        self._entries: dict[str, Order] = {}  # our open entry orders (not reduce-only), by orderId
        self._fundings: list[Funding] = []
        self._events: list[Event] = []  # from REST resyncs, handed out by the stream
        self._offset_ms = 0
        self._resync_lock = asyncio.Lock()
        self._resync_wanted = asyncio.Event()
        self._gap_queue: asyncio.Queue[tuple[str, int, int]] = asyncio.Queue()
        self.shards: list[list[str]] = []
        self.public: list[WsSupervisor] = []
        self.private: WsSupervisor | None = None
        self._sockets: dict[str, WsSupervisor] = {}
        self.resyncs = 0
        self.counters: Counter[str] = Counter()
        self.warm = asyncio.Event()
        self.live_from_ms = 0  # market time from which bars are live (before: warm-up history)

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Clock, instruments and tiers, account state, then the sockets (private first, then public shards)."""
        t0 = time.monotonic()
        self.inbox = Inbox(asyncio.get_running_loop())
        await self.sync_clock()
        patch_pybit_clock(lambda: self._offset_ms)
        await self.load_instruments()
        tradable = self.tradable()
        self.feed.set_symbols(tradable)
        self.log.info("venue_instruments", listed=len(self.instruments), trading=len(tradable),
                      rest_calls=sum(self.rest.calls.values()), seconds=round(time.monotonic() - t0, 2))  # fmt: skip
        await self.resync()
        self.private = self._private_socket()
        self._register(self.private)
        await self.private.connect()
        self.live_from_ms = self.now_ms() - self.now_ms() % MINUTE_MS
        per = self.symbols_per_socket
        self.shards = [tradable[i : i + per] for i in range(0, len(tradable), per)] or [[]]
        for k in range(len(self.shards)):
            sup = self._public_socket(k)
            self.public.append(sup)
            self._register(sup)
        await asyncio.gather(*(s.connect() for s in self.public))
        self.log.info(
            "venue_connected", venue=self.name, url=self.rest_url, symbols=len(tradable), sockets=len(self.public) + 1,
            clock_offset_ms=self._offset_ms, seconds=round(time.monotonic() - t0, 2),
        )  # fmt: skip

    def _register(self, sup: WsSupervisor) -> None:
        assert self.inbox is not None
        self._sockets[sup.name] = sup

        def control(msg: dict[str, Any]) -> None:
            sup.on_control(msg)
            if msg.get("success") is False:
                self.log.error("ws_request_refused", socket=sup.name, op=msg.get("op"), message=msg.get("ret_msg"))

        self.inbox.control[sup.name] = control

    def tradable(self) -> list[str]:
        return sorted(s for s, st in self.status.items() if st == "Trading")

    def tasks(self) -> dict[str, Task]:
        """The venue's background work, for the supervisor's TaskGroup (each restarted if it crashes)."""
        out: dict[str, Task] = {s.name: s.watch for s in self._sockets.values()}
        out |= {
            "warmup": self._warmup, "gapfill": self._gapfill, "resync": self._resync_loop,
            "tickers": self._tickers_loop, "instruments": self._instruments_loop, "clock": self._clock_loop,
        }  # fmt: skip
        return out

    async def close(self) -> None:
        socks = list(self._sockets.values())
        await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)

    # ------------------------------------------------------------ sockets

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

    def _public_socket(self, k: int) -> WsSupervisor:
        assert self.inbox is not None
        name = f"public-{k}"
        cb = self.inbox.callback(name)

        def build() -> Any:
            return LocalWebSocket(
                self.public_ws, testnet=self.testnet, channel_type=CATEGORY, callback_function=cb,
                ping_interval=self.ping_interval_s, ping_timeout=min(10.0, self.ping_interval_s / 2),
            )  # fmt: skip

        def subscribe(ws: Any) -> None:
            symbols = self.shards[k]
            for i in range(0, len(symbols), SUBSCRIBE_CHUNK):
                ws.kline_stream(interval=1, symbol=symbols[i : i + SUBSCRIBE_CHUNK], callback=cb)

        async def on_reconnect() -> None:  # klines missed while down: ask REST for every quiet symbol
            self._queue_gaps(self.feed.stale(self._minute_now(), minutes=2))

        return WsSupervisor(name, build, subscribe, on_reconnect, self.log, max_silence_s=self.max_silence_s,
                            pong_timeout_s=self.pong_timeout_s)  # fmt: skip

    # ------------------------------------------------------------ REST: instruments, clock

    async def sync_clock(self) -> None:
        t0 = time.time()
        server = await self.rest.call(self.http.get_server_time, "market")
        t1 = time.time()
        offset = int(int(server["timeNano"]) // 1_000_000 - (t0 + t1) * 500)
        if abs(offset - self._offset_ms) > 500 or abs(offset) > 500:
            self.log.warning("clock_offset", offset_ms=offset, hint="run chrony/ntp; signatures use server time")
        self._offset_ms = offset

    async def load_instruments(self) -> None:
        """Every USDT linear perpetual (cursor-paged) and every risk tier (paged, not one call per symbol)."""
        items = await self.rest.pages(self.http.get_instruments_info, "market", category=CATEGORY, limit=1000)
        tiers = await self.rest.pages(self.http.get_risk_limit, "market", category=CATEGORY)
        by_symbol: dict[str, list[dict[str, Any]]] = {}
        for t in tiers:
            by_symbol.setdefault(t.get("symbol", ""), []).append(t)
        status: dict[str, str] = {}
        for item in items:
            sym = item.get("symbol", "")
            perpetual = item.get("contractType", "LinearPerpetual") == "LinearPerpetual"
            if item.get("quoteCoin", "USDT") != "USDT" or not perpetual:
                continue
            if self.symbols_wanted is not None and sym not in self.symbols_wanted:
                continue
            try:
                tier_items = by_symbol.get(sym)
                tiers_of = codec.risk_tiers_from_items(tier_items) if tier_items else None
                inst = codec.instrument_from_item(item, tiers_of)
            except codec.CodecError as e:
                self.log.warning("instrument_refused", symbol=sym, error=str(e))
                continue
            old = self.instruments.get(sym)
            if old is not None and old.funding_interval_min != inst.funding_interval_min:
                self.log.info("funding_interval_changed", symbol=sym, minutes=inst.funding_interval_min)
            self.instruments[sym] = inst
            status[sym] = item.get("status", "Trading")
        for sym in set(self.status) - set(status):
            status[sym] = "Delisted"
        if self.symbols_wanted:
            missing = sorted(self.symbols_wanted - set(self.instruments))
            if missing:
                self.log.warning("symbols_not_listed", symbols=missing)
        self.status = status

    # ------------------------------------------------------------ background tasks

    async def _warmup(self, stop: asyncio.Event) -> None:
        """1m history (limit 1000) of every tradable symbol, behind the already-subscribed sockets."""
        if self.warm.is_set():
            return
        t0 = time.monotonic()
        symbols = list(self.feed.symbols - self.feed.ready)
        total, done, bars = len(symbols), 0, 0
        limit = max(2, min(1000, self.warmup_minutes + 2))
        last_log = t0
        sem = asyncio.Semaphore(8)

        async def one(sym: str) -> None:
            nonlocal done, bars, last_log
            async with sem:
                if stop.is_set():
                    return
                try:
                    got = await self._load_klines(sym, limit=limit)
                except VenueError as e:
                    self.log.warning("warmup_symbol_failed", symbol=sym, error=str(e))
                    got = 0
            self.feed.mark_ready(sym)
            done += 1
            bars += got
            now = time.monotonic()
            if now - last_log >= 2.0:
                last_log = now
                self.log.info("warmup_progress", symbols=done, of=total, bars=bars, seconds=round(now - t0, 1))

        await asyncio.gather(*(one(s) for s in symbols))
        if stop.is_set():
            return
        self.feed.warm_done()
        self.warm.set()
        self._wake()
        self.log.info("warmup_loaded", symbols=total, bars=bars, minutes=limit - 2,
                      seconds=round(time.monotonic() - t0, 1), rest_calls=dict(self.rest.calls))  # fmt: skip

    async def _load_klines(
        self, sym: str, *, limit: int = 1000, start: int | None = None, end: int | None = None
    ) -> int:
        """Closed 1m bars from REST into the feed (the open candle is dropped); returns how many."""
        now = self.now_ms()
        params: dict[str, Any] = {"category": CATEGORY, "symbol": sym, "interval": "1", "limit": limit}
        if start is not None:
            params["start"] = start
        params["end"] = end if end is not None else now
        res = await self.rest.call(self.http.get_kline, "market", **params)
        n = 0
        wall = self._wall_ms()
        for row in reversed(res.get("list", []) or []):
            try:
                bar = codec.kline_row_to_bar(sym, row, 1)
            except (codec.CodecError, ValueError, IndexError, TypeError):
                self.counters["bad_kline_row"] += 1
                continue
            if bar.ts + MINUTE_MS > now or (start is not None and bar.ts < start):
                continue
            if self.feed.add(bar, wall, live=False):
                n += 1
                self._set_last(sym, bar)
        return n

    async def _gapfill(self, stop: asyncio.Event) -> None:
        """Fill holes the feed reports, four at a time; a fill that fails is retried, then given up on."""

        async def worker() -> None:
            while not stop.is_set():
                sym, first, last = await self._gap_queue.get()
                try:
                    for k in range(3):
                        try:
                            got = await self._load_klines(sym, limit=1000, start=first, end=last + MINUTE_MS - 1)
                            self.counters["gap_minutes_filled"] += got
                            break
                        except VenueError as e:
                            self.log.warning("gap_fill_failed", symbol=sym, attempt=k + 1, error=str(e))
                            await asyncio.sleep(0.5 * 2**k)
                finally:
                    self.feed.resolve_gap(sym)
                    self._wake()

        async def stale_check() -> None:
            while not stop.is_set():
                await _pause(stop, 30)
                if self.warm.is_set():
                    self._queue_gaps(self.feed.stale(self._minute_now()))

        tasks = [asyncio.create_task(worker()) for _ in range(4)] + [asyncio.create_task(stale_check())]
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in [*tasks, stopping]:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for r in results:  # a worker that died: the supervisor logs it and restarts the task
            if isinstance(r, Exception):
                raise r

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
            await _pause(stop, 5)
            self._resync_wanted.set()

    async def _tickers_loop(self, stop: asyncio.Event) -> None:
        """Funding rates and next funding times of every symbol: one ``tickers`` call per interval."""
        while not stop.is_set():
            try:
                res = await self.rest.call(self.http.get_tickers, "market", category=CATEGORY)
                found = []
                for t in res.get("list", []) or []:
                    sym = t.get("symbol")
                    if sym in self.feed.symbols and t.get("fundingRate") not in (None, ""):
                        with contextlib.suppress(ValueError, TypeError):
                            found.append(Funding(sym, int(t.get("nextFundingTime") or 0), float(t["fundingRate"])))
                self._fundings = found
                self._wake()
            except VenueError as e:
                self.log.warning("tickers_failed", error=str(e))
            await _pause(stop, self.tickers_interval_s)

    async def _instruments_loop(self, stop: asyncio.Event) -> None:
        """Hourly: new listings join (history, then klines), delisted or halted symbols stop (no entries)."""
        while not stop.is_set():
            if await _pause(stop, self.instruments_refresh_s):
                return
            before = set(self.tradable())
            try:
                await self.load_instruments()
            except VenueError as e:
                self.log.warning("instruments_refresh_failed", error=str(e))
                continue
            after = set(self.tradable())
            added, removed = sorted(after - before), sorted(before - after)
            if not added and not removed:
                continue
            self.log.info("instruments_changed", added=added, removed=removed,
                          status={s: self.status.get(s) for s in removed})  # fmt: skip
            self.feed.set_symbols(after)
            touched = set()
            for k, shard in enumerate(self.shards):
                if any(s in removed for s in shard):
                    self.shards[k] = [s for s in shard if s not in removed]
                    touched.add(k)
            if added:
                self.shards[-1] += added
                touched.add(len(self.shards) - 1)
            for k in touched:  # resubscribe the shard: its watchdog rebuilds it
                self.public[k].failed = "symbols changed"
            for sym in added:  # history first; a symbol whose history fails still trades on live bars
                try:
                    await self._load_klines(sym, limit=max(2, min(1000, self.warmup_minutes + 2)))
                except VenueError as e:
                    self.log.warning("warmup_symbol_failed", symbol=sym, error=str(e))
                self.feed.mark_ready(sym)
                self._wake()

    async def _clock_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await _pause(stop, self.clock_sync_s):
                return
            try:
                await self.sync_clock()
            except VenueError as e:
                self.log.warning("clock_sync_failed", error=str(e))

    def _queue_gaps(self, gaps: list[tuple[str, int, int]]) -> None:
        for g in gaps:
            self._gap_queue.put_nowait(g)

    # ------------------------------------------------------------ REST resync

    async def resync(self) -> list[Event]:
        """Wallet, executions, positions and our pending entries by REST (after connect, every (re)connect
        and every ``resync_interval_s``). The events go out through the stream (and are returned)."""
        async with self._resync_lock:
            self.resyncs += 1
            events = await self._resync_executions()
            events += await self._resync_positions()
            events += await self._resync_entries()
            wallet = await self.rest.call(self.http.get_wallet_balance, "account", accountType="UNIFIED", coin="USDT")
            accounts = wallet.get("list", [])
            if accounts:
                self._balance, self._available = codec.wallet_from_account(accounts[0])
            if events:
                self._events += events
                self._wake()
            return events

    async def _resync_executions(self) -> list[Event]:
        now = self.now_ms()
        since = (self.exec_since_ms if self.exec_since_ms is not None else now) - EXEC_MARGIN_MS
        since = max(since, now - 4 * WEEK_MS)  # Bybit keeps 2 years, but a month down needs a human anyway
        items: list[dict[str, Any]] = []
        start = since
        while True:  # 7-day windows up to now; at least one, even when the last execution looks later than
            end = start + WEEK_MS - 1  # our clock (an exchange clock ahead of ours, or an emulator's market time)
            items += await self.rest.pages(self.http.get_executions, "account", category=CATEGORY,
                                           startTime=start, endTime=end, limit=100)  # fmt: skip
            if end >= now:
                break
            start = end + 1
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
            try:
                fill = codec.fill_from_item(item)
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

    async def _resync_positions(self) -> list[Event]:
        items = await self.rest.pages(self.http.get_positions, "account", category=CATEGORY, settleCoin="USDT",
                                      limit=200)  # fmt: skip
        events: list[Event] = []
        seen = set()
        for item in items:
            try:
                pos = codec.position_from_item(item)
            except codec.CodecError as e:
                self.log.error("position_unparsed", error=str(e))
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

    # ------------------------------------------------------------ the stream

    async def stream(self, stop: asyncio.Event) -> AsyncIterator[tuple[MarketBatch, list[Event]]]:
        assert self.inbox is not None, "connect() first"
        inbox = self.inbox

        async def wake_on_stop() -> None:
            await stop.wait()
            inbox.wake.set()

        waker = asyncio.create_task(wake_on_stop())
        busy = 0
        try:
            while not stop.is_set():
                events: list[Event] = []
                for _ in range(5000):
                    item = inbox.pop()
                    if item is None:
                        break
                    events += self._handle(*item)
                    if events:
                        break  # account events go out at once
                if self._events:
                    events = self._events + events
                    self._events = []
                if inbox.overflowed:
                    self.log.warning("ws_inbox_overflow", dropped=inbox.overflowed)
                    self.counters["inbox_overflow"] += inbox.overflowed
                    inbox.overflowed = 0
                    self._resync_wanted.set()
                self._queue_gaps(self.feed.gaps())
                batches = self.feed.take(self._wall_ms())
                if events:
                    yield MarketBatch(self.now_ms(), [], self._take_fundings()), events
                for i, b in enumerate(batches):
                    fundings = self._take_fundings()
                    yield (b._replace(fundings=fundings) if fundings else b), []
                    if i % 32 == 31:  # a warm-up's hundreds of minutes: let signals and sockets in
                        await asyncio.sleep(0)
                        if stop.is_set():
                            break
                busy += 1
                if busy % 64 == 0:  # a steady flow never leaves the loop idle: let timers and cancels in
                    await asyncio.sleep(0)
                if not events and not batches and not inbox.items:
                    busy = 0
                    deadline = self.feed.next_deadline()
                    if deadline is None:  # every producer (sockets, tasks, the stop) sets wake
                        await inbox.wake.wait()
                    else:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(inbox.wake.wait(), max(0.01, (deadline - self._wall_ms()) / 1000))
        finally:
            waker.cancel()

    def pending_events(self) -> list[Event]:
        """Events a resync produced that the stream has not handed out yet (read-only view)."""
        return list(self._events)

    def _take_fundings(self) -> list[Funding]:
        out, self._fundings = self._fundings, []
        return out

    def _wake(self) -> None:
        if self.inbox is not None:
            self.inbox.wake.set()

    def _handle(self, tag: str, msg: Any) -> list[Event]:
        """One raw socket message. Malformed or unknown input is logged and survived, never raised."""
        sup = self._sockets.get(tag)
        if sup is not None:
            sup.touch()
        if not isinstance(msg, dict) or "_malformed" in msg:
            self.counters["ws_malformed"] += 1
            self.log.warning("ws_message_dropped", socket=tag, message=str(msg)[:300])
            return []
        if "topic" not in msg:
            if sup is not None:
                sup.on_control(msg)
            if msg.get("success") is False:
                self.log.error("ws_request_refused", socket=tag, op=msg.get("op"), message=msg.get("ret_msg"))
            return []
        try:
            if tag == "private":
                return self._private(msg)
            self._public(msg)
        except Exception as e:  # a shape we do not know: keep the socket and the stream alive
            self.counters["ws_unhandled"] += 1
            self.log.warning("ws_message_dropped", socket=tag, error=repr(e), message=str(msg)[:300])
        return []

    def _public(self, msg: dict[str, Any]) -> None:
        topic = msg["topic"]
        if not topic.startswith("kline."):
            self.counters["ws_unknown_topic"] += 1
            return
        symbol = topic.rsplit(".", 1)[1]
        wall = self._wall_ms()
        for k in msg.get("data") or []:
            if not k.get("confirm"):
                continue  # only closed candles reach the scanner
            row = [k["start"], k["open"], k["high"], k["low"], k["close"], k["volume"], k.get("turnover", "0")]
            bar = codec.kline_row_to_bar(symbol, row, 1)
            if self.feed.add(bar, wall):
                self._set_last(symbol, bar)

    def _set_last(self, symbol: str, bar: Bar) -> None:
        prev = self._last_ts.get(symbol, -1)
        if bar.ts >= prev:
            self._last_ts[symbol] = bar.ts
            inst = self.instruments.get(symbol)
            self._last[symbol] = inst.round_price(bar.close) if inst else Decimal(repr(bar.close))

    def _private(self, msg: dict[str, Any]) -> list[Event]:
        topic = msg.get("topic")
        data = msg.get("data") or []
        events: list[Event] = []
        if topic == "wallet":
            for account in data:
                with contextlib.suppress(codec.CodecError, KeyError, ValueError, TypeError):
                    self._balance, self._available = codec.wallet_from_account(account)
        elif topic == "position":
            for item in data:
                try:
                    pos = codec.position_from_item(item)
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
                order = codec.order_from_item(item)
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

    # ------------------------------------------------------------ orders

    async def place(self, intent: OrderIntent) -> list[Event]:
        """Create an order; a retry that meets 110072 looks the first attempt up instead of duplicating it."""
        params = codec.intent_to_params(intent)
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
                return codec.order_from_item(items[0])
        return None

    async def cancel_all(self) -> list[Event]:
        await self.rest.call(self.http.cancel_all_orders, "order", category=CATEGORY, settleCoin="USDT")
        return []

    async def set_leverage(self, symbol: str, leverage: Decimal) -> Reject | None:
        try:
            await self.rest.call(self.http.set_leverage, "order", category=CATEGORY, symbol=symbol,
                                 buyLeverage=codec.dstr(leverage), sellLeverage=codec.dstr(leverage))  # fmt: skip
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

    # ------------------------------------------------------------ state

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

    def _wall_ms(self) -> float:
        return time.monotonic() * 1000

    def _minute_now(self) -> int:
        now = self.now_ms()
        return now - now % MINUTE_MS


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()

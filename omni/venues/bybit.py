"""BybitVenue: Bybit testnet / demo trading (or the local emulator) through the official pybit client.

The rest of OMNI sees the same async ``Venue`` interface as the sim: plain domain types in and out. Built to
start on a Bybit-sized market (~500 linear perpetuals) and run for weeks (../shared/docs/live-path.md):
- Start-up (``connect``): server time (pybit signs with it), instruments and risk tiers in a few paged calls,
  wallet, positions, open orders and executions; then the private socket and the public kline sockets,
  sharded (``symbols_per_socket`` topics each, subscribed in chunks, every ack checked).
- Three parts, one mixin module each, composed here: market data (``bybit_market``: clock, instruments,
  klines into a ``KlineFeed``, funding rates), the account (``bybit_account``: executions, positions, entry
  orders and wallet, by socket and by REST resync, each execId booked once across restarts) and the orders
  (``bybit_orders``: place, cancel, leverage, stops, settle). This module holds construction, start-up, the
  background task list, and the stream: raw socket messages in (routed to the market or the account part),
  market batches and account events out.
- Background tasks (``tasks()``) run under the supervisor's TaskGroup: socket watchdogs, warm-up, gap fills,
  periodic resync, tickers (funding rates, one call a minute), hourly instrument refresh, clock sync.
- REST on separate budgets (``bybit_rest``); private traffic to a mainnet host is refused; keys never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from omni.domain.errors import VenueFatal
from omni.domain.events import Event
from omni.domain.market import MarketBatch
from omni.venues.bybit_account import BybitAccount
from omni.venues.bybit_market import BybitMarket
from omni.venues.bybit_modes import BybitModes
from omni.venues.bybit_orders import BybitOrders
from omni.venues.bybit_rest import NO_PYBIT_RETRIES, RestClient
from omni.venues.bybit_transport import (
    Inbox,
    LocalHTTP,
    WsSupervisor,
    check_not_mainnet,
    patch_pybit_clock,
)

Task = Callable[[asyncio.Event], Awaitable[None]]


class BybitVenue(BybitMarket, BybitAccount, BybitOrders, BybitModes):
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
        set_margin_mode: bool = True,
        clock: str = "exchange",
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
        self.set_margin_mode = set_margin_mode  # may set the account's margin mode to isolated (when flat)
        self.account_modes: dict[str, Any] = {}
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
        self.inbox: Inbox | None = None
        self._sockets: dict[str, WsSupervisor] = {}
        self.counters: Counter[str] = Counter()
        self._init_market(batch_grace_ms, clock)
        self._init_account()

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Clock, the account's rules (isolated margin, one-way mode), instruments and tiers, account state, then
        the sockets (private first, then public shards)."""
        t0 = time.monotonic()
        self.inbox = Inbox(asyncio.get_running_loop())
        await self.sync_clock()
        patch_pybit_clock(lambda: self._offset_ms)
        await self.prepare_account()  # isolated margin, one-way mode, or a clear refusal: before anything else
        await self.load_instruments()
        tradable = self.tradable()
        self.feed.set_symbols(tradable)
        if self.market_clock and tradable:
            await self.probe_market_time(tradable[0])
        self.log.info("venue_instruments", listed=len(self.instruments), trading=len(tradable),
                      rest_calls=sum(self.rest.calls.values()), seconds=round(time.monotonic() - t0, 2))  # fmt: skip
        await self.resync()
        self.private = self._private_socket()
        self._register(self.private)
        await self.private.connect()
        self.live_from_ms = self._minute_now()
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

"""Bybit venue, market data: the clock, the instruments, the 1m klines and the funding rates.

A mixin of ``bybit.BybitVenue`` (which sets the configuration, the REST client and the socket inbox it uses):
- Clock: server time by REST (pybit signs with it), again every ``clock_sync_s`` and whenever the REST client
  meets a clock-skew error. ``now_ms`` (the daemon's market "now": windows of the resyncs, the warm-up's end,
  day changes, pacing) is, with ``clock="exchange"`` (the default, right for Bybit), our clock plus that offset;
  with ``clock="market"`` (a rehearsal on the emulator at another speed or start: its records carry market time,
  its server clock is wall time) it is taken from the market only: the order book's ``cts`` at connect, then
  every kline close, never going back, standing still between bars.
- Instruments: every USDT linear perpetual and every risk tier in a few paged calls; refreshed hourly, new
  listings join (history, then klines), delisted or halted symbols stop (no entries).
- Klines: socket pushes go to a ``KlineFeed`` from the moment of subscription (public sockets sharded,
  ``symbols_per_socket`` topics each, subscribed in chunks); the 1m history (limit 1000) loads by REST behind
  it (``_warmup`` task, progress logged), then the feed emits each confirmed minute once, in order, one batch
  per minute across symbols (``batch_grace_ms``). Holes are filled by REST (``_gapfill``).
- Funding: one ``tickers`` call a minute gives every symbol's rate and next funding time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any

from omni.domain.errors import VenueError
from omni.domain.instrument import Instrument
from omni.domain.market import MINUTE_MS, Bar, Funding
from omni.venues import bybit_codec as codec
from omni.venues.bybit_codec import CATEGORY
from omni.venues.bybit_feed import KlineFeed
from omni.venues.bybit_transport import LocalWebSocket, WsSupervisor

SUBSCRIBE_CHUNK = 50  # kline topics per subscribe message


class BybitMarket:
    def _init_market(self, batch_grace_ms: int, clock: str = "exchange") -> None:
        if clock not in ("exchange", "market"):
            raise ValueError(f"clock must be 'exchange' or 'market', got {clock!r}")
        self.market_clock = clock == "market"
        self._market_ms = 0  # market time from the bars (clock="market")
        self.instruments: dict[str, Instrument] = {}  # every USDT perpetual seen (closing needs delisted specs)
        self.status: dict[str, str] = {}
        self.feed = KlineFeed([], batch_grace_ms)
        self._last: dict[str, Decimal] = {}
        self._last_ts: dict[str, int] = {}
        self._fundings: list[Funding] = []
        self._offset_ms = 0
        self._gap_queue: asyncio.Queue[tuple[str, int, int]] = asyncio.Queue()
        self.shards: list[list[str]] = []
        self.public: list[WsSupervisor] = []
        self.warm = asyncio.Event()
        self.live_from_ms = 0  # market time from which bars are live (before: warm-up history)

    # ------------------------------------------------------------ clock

    async def sync_clock(self) -> None:
        t0 = time.time()
        server = await self.rest.call(self.http.get_server_time, "market")
        t1 = time.time()
        offset = int(int(server["timeNano"]) // 1_000_000 - (t0 + t1) * 500)
        if abs(offset - self._offset_ms) > 500 or abs(offset) > 500:
            self.log.warning("clock_offset", offset_ms=offset, hint="run chrony/ntp; signatures use server time")
        self._offset_ms = offset

    async def _clock_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await pause(stop, self.clock_sync_s):
                return
            try:
                await self.sync_clock()
            except VenueError as e:
                self.log.warning("clock_sync_failed", error=str(e))

    def now_ms(self) -> int:
        if self.market_clock:
            return self._market_ms
        return int(time.time() * 1000) + self._offset_ms

    def _market_at_least(self, ts: int) -> None:
        if ts > self._market_ms:
            self._market_ms = ts

    async def probe_market_time(self, symbol: str) -> None:
        """``clock="market"``: the market's "now" before any kline arrives, from the order book's ``cts`` (the
        matching engine's time of the book, market time on the emulator)."""
        res = await self.rest.call(self.http.get_orderbook, "market", category=CATEGORY, symbol=symbol, limit=1)
        cts = int(res.get("cts") or res.get("ts") or 0)
        if not cts:
            raise VenueError(f"cannot read the market time: the order book of {symbol} has no cts")
        self._market_at_least(cts)
        self.log.info("market_clock", market_ts=self._market_ms, symbol=symbol)

    def _wall_ms(self) -> float:
        return time.monotonic() * 1000

    def _minute_now(self) -> int:
        now = self.now_ms()
        return now - now % MINUTE_MS

    # ------------------------------------------------------------ instruments

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

    def tradable(self) -> list[str]:
        return sorted(s for s, st in self.status.items() if st == "Trading")

    async def _instruments_loop(self, stop: asyncio.Event) -> None:
        """Hourly: new listings join (history, then klines), delisted or halted symbols stop (no entries)."""
        while not stop.is_set():
            if await pause(stop, self.instruments_refresh_s):
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

    # ------------------------------------------------------------ public sockets

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

    def _public(self, msg: dict[str, Any]) -> None:
        topic = msg["topic"]
        if not topic.startswith("kline."):
            self.counters["ws_unknown_topic"] += 1
            return
        symbol = topic.rsplit(".", 1)[1]
        wall = self._wall_ms()
        for k in msg.get("data") or []:
            if self.market_clock:  # market time from the bars: an open candle's start, a closed one's end
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    self._market_at_least(int(k["start"]) + (MINUTE_MS if k.get("confirm") else 0))
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

    def last_price(self, symbol: str) -> Decimal | None:
        return self._last.get(symbol)

    # ------------------------------------------------------------ warm-up and gaps (REST klines)

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
                await pause(stop, 30)
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

    def _queue_gaps(self, gaps: list[tuple[str, int, int]]) -> None:
        for g in gaps:
            self._gap_queue.put_nowait(g)

    # ------------------------------------------------------------ funding

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
            await pause(stop, self.tickers_interval_s)

    def _take_fundings(self) -> list[Funding]:
        out, self._fundings = self._fundings, []
        return out


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()

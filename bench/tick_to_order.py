"""Tick-to-order benchmark: from the kline frame that completes a minute arriving on the socket to the signed
order request received by the exchange, through the daemon a user runs; plus, as a separate named line, the
venue adapter alone.

End to end (the goal figures; ``--symbols 10 500``): the emulator (``bench/tick_emulator.py``: ``omni emulator``
as the CLI builds it, Bybit's listed instruments from ../shared/data when present, else generated ones;
``bar_seconds=0``) runs in its own process, on loopback; this process assembles the real daemon exactly as
``omni run --venue bybit-testnet`` does (``load_config`` with OMNI_* settings pointing the venue at the emulator,
``bybit_venue``, ``assemble_bybit``, ``Supervisor.run``: every task of a real run: the market task's
``Trader.run``, socket watchdogs, warm-up, gap fills, resync, tickers, guard, telemetry, the journal writer; JSON
log lines at info level to a file; a fresh state dir and SQLite journal) with pybit's HTTP and WebSocket clients
underneath. Settings: the daemon's defaults (timeframes 1m, 3m, 5m; 10 positions at most) plus what makes it
trade (``E2E_ACTIVE``: the simulator's veto off, a 0.3 USDT profit target, no pacing, no turnover floor, stops
1 ATR / take-profit 2 ATR so positions turn over, 2 USDT loss cap per trade, loss limits that never trip). Two
changes, both to keep the compressed market (a minute every ~60-250 ms) from meeting limits that a live minute
(60 s) never meets: the venue's REST throttles (asyncio-throttle, IP and lanes) are kept with their rates
raised (the config caps them at 50-120/s), and so are the emulator's IP and per-UID limits; the first order of
a minute is never throttled live.
After the warm-up (the emulator serves the history; the daemon loads it and consumes its batches), the emulator
plays minutes on command: one ``state.advance(1)`` (its matching engine sees the bar first, so stops and
take-profits fill and push private frames, then the minute's kline.1 frames go out) each time the daemon is
idle, as between live candles: no REST request in flight or for ``--quiet-ms``, under 10 % of a CPU over that
window (the daemon's process, all threads, from /proc), at least ``--interval-ms`` after the previous minute.
Timestamps, CLOCK_MONOTONIC in both processes (``time.monotonic_ns()`` is system-wide on Linux):
- t0 (emulator): the minute's last ``kline.1`` frame written to its socket (``ws.send_str`` returned): the frame
  that completes the minute for the daemon's feed (it waits for every symbol, up to ``batch_grace_ms``);
- t1 (emulator): ``POST /v5/order/create`` received, body read (an aiohttp middleware);
- between them, in the daemon (wrappers set on instances of the assembled daemon, no library code changed):
  the pybit socket threads handing the minute's last frame over (``loop.call_soon_threadsafe``), its
  ``venue._handle``, ``feed.take`` emitting the batch, ``pipeline.on_batch`` (scanner updates, then ``_decide``:
  ``scanner.candidates``, sizer, ``estimate`` = the simulator, ``guard.check``), ``executor.submit``,
  ``venue.set_leverage``, the journal's ``record_intent``, ``venue.place`` and pybit's ``place_order`` call on
  its worker thread.
Sample = t1 of the first entry order sent for a minute (reduce-only orders are not entries) minus that minute's
t0; minutes without an entry give none (how many did is printed). The first 5 minutes are left out. The stage
table splits the samples at those stamps (their sum is the sample). Percentiles are nearest-rank; a p99.9 needs
1,000 samples or more to be more than the maximum, which the report says when it is not the case.
Left out: the real network (loopback here, microseconds; to Bybit: milliseconds to hundreds of ms each way),
TLS (wss:// and https:// to Bybit; plain ws:// and http:// here), Bybit's own matching and publishing latency,
and the time between a minute's end and Bybit publishing its klines. The emulator writes a minute's frames in a
burst (all 500 within a few ms) right after building them; if Bybit spreads them out, the daemon parses most of
them before the last one arrives and the 500-symbol figure shrinks. The emulator and the daemon share the
machine's CPUs (two here, with other work): the figures include that contention. The set-leverage round trip
before an entry (when its dynamic leverage changes) is in the sample, as it is in the daemon's path.
``--what-if-no-utf8-check`` (informational) repeats the runs with websocket-client's per-frame UTF-8 check
(pure Python without wsaccel) skipped in this process, to show its share.

Goals (issue 10): p50 <= 2 ms at 10 symbols, <= 10 ms at 500 symbols.

Adapter only (the previous benchmark, kept; line "adapter only (stub HTTP, trivial decision)"): in-process
latency from a market message arriving at the Bybit venue adapter to the order request being handed to the
client, through the real ``BybitVenue`` and no network.

Workload: one ``BybitVenue`` built without ``connect()`` and set up as ``connect()`` and the warm-up leave it for
one symbol: BTCUSDT as Bybit lists it (tick 0.1, step 0.001) in ``venue.instruments``, status Trading, one shard;
``venue.inbox`` a real ``Inbox`` on the running loop; one real ``WsSupervisor`` "public-0" as ``venue.public[0]``,
registered with ``venue._register`` (so ``_handle`` finds it in ``venue._sockets`` and runs ``touch()``, and the
inbox checks it for control frames; never connected); ``venue.feed`` (the real ``KlineFeed``) with that symbol and
its history done (``set_symbols``, ``warm_done``), so a confirmed minute that follows the last one goes out at
once. Its ``http`` (the venue's and its ``RestClient``'s) is a stub: ``place_order(**params)`` takes
``time.perf_counter_ns()`` first thing (that instant is "handed to the client": where pybit would sign and send)
and returns a Bybit-shaped reply; the lookup after placing (``get_open_orders``) answers at once with the order.
A producer thread plays pybit's socket thread: it builds one raw ``kline.1.BTCUSDT`` frame (a dict, as pybit
hands it over after ``json.loads``; confirm=true, and each one the next minute: ``start`` 60 s after the previous
one, so the feed neither drops it as a duplicate nor holds it for a hole), stamps t0 = ``perf_counter_ns()`` and
calls the real ``Inbox.callback("public-0")``, so the thread -> loop hop is included (``call_soon_threadsafe`` ->
``Inbox.put`` -> ``inbox.wake``). A consumer coroutine runs ``async for batch, events in venue.stream(stop)``: the
stream wakes, pops the message, ``venue._handle`` (touch, kline dict -> ``Bar``, ``KlineFeed.add``, last price on
the tick), ``feed.gaps()`` and ``feed.take()`` (the minute is due: one ``MarketBatch``) and yields it; per batch
the consumer makes a trivial decision (side from the candle's colour, 0.001 BTC at market, stop-loss 1 % away on
the tick, a unique client id from the real ``ClientIds``) and awaits ``venue.place(intent)``:
``intent_to_params``, then ``venue.rest.call(..., retry=False)`` on the real ``RestClient``: the "order" lane's
and the IP's asyncio-throttle ``Throttler`` (kept, but with their rates raised from 8/s and 80/s to 1e9/s so they
never sleep: the rate limit is a policy, not latency) and ``asyncio.to_thread``, so the stub runs on a worker
thread and the time until it is called includes that hop. Sample = t1 - t0 per message.

Left out: the socket and pybit's receive thread up to the callback (the frame read and ``json.loads`` in
``LocalWebSocket._on_message``); pybit's request signing and the HTTP round trip; the feed's batching across
symbols; the venue's background tasks; the engine (scanner, simulator, risk, sizing, journal), replaced by the
trivial decision. The lookup after placing comes after t1: it is in the cycle, not in the sample. Closed loop:
the producer sends the next frame only when the previous ``place`` has returned. ``--gap-us`` adds idle time
before each frame. The first ``--warmup`` messages are left out. Also measured: a bare thread -> loop hop and a
bare ``asyncio.to_thread`` hop, with no venue, for reference; an instrumented pass for where the time goes; and,
for information, everything pinned to one CPU.

Adapter-only goal (its own, from before issue 10): p50 <= 50 us, p99 <= 250 us.

    python bench/tick_to_order.py [--quick] [--symbols N ...] [--minutes N] [--interval-ms MS] [--quiet-ms MS]
                                  [--timeframes "1m, 3m, 5m"] [--keep DIR] [--no-e2e] [--what-if-no-utf8-check]
                                  [--no-adapter] [--messages N] [--gap-us US] [--no-breakdown] [--no-pinned]
                                  [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asyncio_throttle import Throttler  # noqa: E402

from omni import logsetup  # noqa: E402
from omni.core.pipeline import ClientIds  # noqa: E402
from omni.domain.events import OrderAccepted  # noqa: E402
from omni.domain.instrument import Instrument, build_tiers  # noqa: E402
from omni.domain.orders import Order, OrderIntent, OrderStatus, OrderType, Side, TimeInForce  # noqa: E402
from omni.venues import bybit_codec_trading as trading_codec  # noqa: E402
from omni.venues.bybit import BybitVenue  # noqa: E402
from omni.venues.bybit_rest import LANES  # noqa: E402
from omni.venues.bybit_transport import TESTNET_REST, TESTNET_WS, Inbox, WsSupervisor  # noqa: E402

perf_ns = time.perf_counter_ns
SYMBOL = "BTCUSDT"
TAG = "public-0"  # the public socket (shard 0) carrying the symbol
START_MS = 1_700_000_000_000 - (1_700_000_000_000 % 60_000)
QTY = D("0.001")
SL_LONG, SL_SHORT = D("0.99"), D("1.01")
GOAL_P50_US = 50.0
GOAL_P99_US = 250.0
RATE_UNLIMITED = 10**9  # Throttler rate (IP and every lane): never sleeps at this benchmark's pace
WAIT_S = 10.0  # a stalled side gives up after this long


def btc() -> Instrument:
    """BTCUSDT as Bybit lists it (as tests/factories.btc()): tick 0.1, step 0.001."""
    tiers = build_tiers(
        [D(2_000_000), D(4_000_000), D(6_000_000)],
        [D("0.005"), D("0.01"), D("0.015")],
        [D("0.01"), D("0.015"), D("0.02")],
    )
    return Instrument(SYMBOL, D("0.1"), D("0.001"), D("0.001"), D(100), D(100), tiers)


# ---------------------------------------------------------------- statistics


def pct(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in microseconds."""
    if not sorted_ns:
        return float("nan")
    k = max(0, min(len(sorted_ns) - 1, math.ceil(q / 100 * len(sorted_ns)) - 1))
    return sorted_ns[k] / 1000


def stats(samples: list[int]) -> dict[str, float]:
    s = sorted(samples)
    n = len(s)
    return {
        "n": n,
        "p50": pct(s, 50),
        "p99": pct(s, 99),
        "p99.9": pct(s, 99.9),
        "max": s[-1] / 1000 if s else float("nan"),
        "mean": sum(s) / n / 1000 if s else float("nan"),
    }


def fmt(st: dict[str, float]) -> str:
    return (
        f"n={st['n']:<7,d} p50 {st['p50']:8.1f}  p99 {st['p99']:8.1f}  p99.9 {st['p99.9']:8.1f}  "
        f"max {st['max']:9.1f}  mean {st['mean']:7.1f}  (us)"
    )


# ---------------------------------------------------------------- the stub client and the producer


class StubHTTP:
    """Stands in for pybit's ``HTTP``. ``place_order`` stamps the hand-off first thing; no I/O anywhere."""

    def __init__(self) -> None:
        self.placed_ns = 0
        self.placed_link = ""
        self.placed: dict[str, Any] = {}
        self.seq = 0
        template = Order(
            "0", "", SYMBOL, Side.BUY, QTY, OrderType.MARKET, None, TimeInForce.GTC, False, OrderStatus.NEW
        )
        self.item = trading_codec.order_to_item(template)

    def place_order(self, **params: Any) -> dict[str, Any]:
        t = perf_ns()
        self.placed_ns = t
        self.placed_link = params.get("orderLinkId", "")
        self.placed = params
        self.seq += 1
        result = {"orderId": str(self.seq), "orderLinkId": self.placed_link}
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": t // 1_000_000}

    def get_open_orders(self, **params: Any) -> dict[str, Any]:
        p = self.placed
        item = {
            **self.item,
            "orderId": params.get("orderId", ""),
            "orderLinkId": p.get("orderLinkId", ""),
            "side": p["side"],
            "qty": p["qty"],
            "stopLoss": p.get("stopLoss", "0"),
        }
        return {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [item], "nextPageCursor": ""}}

    def get_order_history(self, **params: Any) -> dict[str, Any]:
        return {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [], "nextPageCursor": ""}}


def kline_frame(i: int, rng: random.Random, price: float) -> tuple[dict[str, Any], float]:
    """The i-th confirmed 1m candle as Bybit's public ``kline.1.BTCUSDT`` frame (after json.loads): minute i after
    START_MS, so consecutive frames are consecutive minutes (the feed drops a minute it has already emitted)."""
    start = START_MS + i * 60_000
    o = price
    c = round(o + rng.gauss(0.0, 15.0), 1)
    h = round(max(o, c) + abs(rng.gauss(0.0, 5.0)), 1)
    low = round(min(o, c) - abs(rng.gauss(0.0, 5.0)), 1)
    vol = round(rng.uniform(1.0, 50.0), 3)
    k = {
        "start": start,
        "end": start + 59_999,
        "interval": "1",
        "open": f"{o:.1f}",
        "close": f"{c:.1f}",
        "high": f"{h:.1f}",
        "low": f"{low:.1f}",
        "volume": f"{vol:.3f}",
        "turnover": f"{vol * c:.4f}",
        "confirm": True,
        "timestamp": start + 60_000 + 7,
    }
    return {"topic": f"kline.1.{SYMBOL}", "data": [k], "ts": start + 60_000 + 9, "type": "snapshot"}, c


class Producer:
    """The producer thread (pybit's socket thread): a frame, t0, the callback; then wait for the go-ahead.
    ``on_stall`` is called (from this thread) if the go-ahead never comes, so the consumer can stop too."""

    def __init__(
        self,
        callback: Callable[[Any], None],
        n: int,
        gap_us: float = 0.0,
        seed: int = 7,
        on_stall: Callable[[], None] | None = None,
    ):
        self.callback = callback
        self.on_stall = on_stall
        self.n = n
        self.gap_s = gap_us / 1e6
        self.t0 = [0] * n
        self.go = threading.Event()
        self.error: str | None = None
        self.rng = random.Random(seed)
        self.thread = threading.Thread(target=self.run, name="producer", daemon=True)

    def run(self) -> None:
        rng, price, t0, cb, go, gap = self.rng, 40_000.0, self.t0, self.callback, self.go, self.gap_s
        for i in range(self.n):
            if not go.wait(WAIT_S):
                self.error = f"consumer stalled at message {i}"
                if self.on_stall is not None:
                    self.on_stall()
                return
            go.clear()
            msg, price = kline_frame(i, rng, price)
            if gap:
                time.sleep(gap)  # the loop sits idle in its selector, as between live messages
            t0[i] = perf_ns()
            cb(msg)


def quiet_log() -> Any:
    logsetup.configure("json", "warning", stream=io.StringIO())
    return logsetup.get("bench")


def make_venue(log: Any, loop: asyncio.AbstractEventLoop) -> tuple[BybitVenue, StubHTTP]:
    """A BybitVenue as connect() and the warm-up would leave it, minus the network: stub client, one instrument,
    the real Inbox on this loop, one registered (never connected) public socket, the feed ready for the symbol."""
    venue = BybitVenue(
        "bybit-bench", TESTNET_REST, TESTNET_WS, TESTNET_WS, "bench-key", "bench-secret", log, symbols=[SYMBOL]
    )
    stub = StubHTTP()
    venue.http = stub  # type: ignore[assignment]
    venue.rest.http = stub
    venue.rest.ip = Throttler(rate_limit=RATE_UNLIMITED, period=1.0)
    venue.rest.lanes = {lane: Throttler(rate_limit=RATE_UNLIMITED, period=1.0) for lane in LANES}
    venue.instruments = {SYMBOL: btc()}
    venue.status = {SYMBOL: "Trading"}
    venue.inbox = Inbox(loop)
    venue.shards = [[SYMBOL]]
    sup = WsSupervisor(TAG, lambda: None, lambda ws: None, venue.resync, log)  # touch() and on_control() only
    venue.public = [sup]
    venue._register(sup)  # venue._sockets[TAG] and the inbox's control handler, as connect() does
    venue.feed.set_symbols([SYMBOL])
    venue.feed.warm_done()  # history loaded: each confirmed minute goes out as soon as it arrives
    venue.warm.set()
    return venue, stub


# ---------------------------------------------------------------- the measured path


async def tick_to_order(
    n: int, gap_us: float = 0.0, breakdown: bool = False, profile: cProfile.Profile | None = None
) -> dict[str, Any]:
    """Run n messages through Inbox -> venue.stream -> decision -> venue.place; returns per-message samples (ns)."""
    log = quiet_log()
    loop = asyncio.get_running_loop()
    venue, stub = make_venue(log, loop)
    assert venue.inbox is not None
    stop = asyncio.Event()
    producer = Producer(venue.inbox.callback(TAG), n, gap_us, on_stall=lambda: loop.call_soon_threadsafe(stop.set))
    inst = venue.instruments[SYMBOL]
    ids = ClientIds("tick")
    t1 = [0] * n
    marks = {"ta": 0, "tb": 0, "tk": 0, "tt": 0}
    stages: dict[str, list[int]] = {k: [0] * n for k in ("tc", "td")}
    stage_marks: dict[str, list[int]] = {k: [0] * n for k in ("ta", "tb", "tk", "tt")}
    restore: Callable[[], None] | None = None
    if breakdown:  # instrumentation for the second pass only: wraps, never edits, the library
        handle, take = venue._handle, venue.feed.take

        def timed_handle(tag: str, msg: Any) -> Any:
            ta = perf_ns()
            out = handle(tag, msg)
            marks["ta"], marks["tb"] = ta, perf_ns()
            return out

        def timed_take(now_wall_ms: float) -> Any:
            out = take(now_wall_ms)
            if out:  # the stream calls take() on every turn; only the one that emits the minute counts
                marks["tk"] = perf_ns()
            return out

        venue._handle = timed_handle  # type: ignore[method-assign]
        venue.feed.take = timed_take  # type: ignore[method-assign]
        to_thread = asyncio.to_thread

        def timed_to_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            if getattr(fn, "__name__", "") == "place_order":
                marks["tt"] = perf_ns()
            return to_thread(fn, *args, **kwargs)

        asyncio.to_thread = timed_to_thread  # type: ignore[assignment]

        def restore() -> None:
            asyncio.to_thread = to_thread

    done = 0
    mismatched = 0
    t_start = time.perf_counter()
    producer.thread.start()
    producer.go.set()
    if profile is not None:
        profile.enable()
    try:
        async for batch, _events in venue.stream(stop):
            tc = perf_ns()
            bar = batch.bars[-1]
            i = (bar.ts - START_MS) // 60_000
            long = bar.close >= bar.open
            last = venue.last_price(SYMBOL)
            sl = inst.round_price(last * (SL_LONG if long else SL_SHORT))  # type: ignore[operator]
            intent = OrderIntent(ids.next(), SYMBOL, Side.BUY if long else Side.SELL, QTY, stop_loss=sl)
            td = perf_ns()
            placed = await venue.place(intent)
            t1[i] = stub.placed_ns
            if stub.placed_link != intent.client_id or type(placed[0]) is not OrderAccepted:
                mismatched += 1
            if breakdown:
                stages["tc"][i], stages["td"][i] = tc, td
                for k in ("ta", "tb", "tk", "tt"):
                    stage_marks[k][i] = marks[k]
            done += 1
            if done >= n or producer.error:
                stop.set()
            else:
                producer.go.set()
    finally:
        if profile is not None:
            profile.disable()
        if restore is not None:
            restore()
    wall = time.perf_counter() - t_start
    producer.go.set()
    producer.thread.join(WAIT_S)
    if producer.error:
        raise RuntimeError(f"{producer.error} (KlineFeed counters {dict(venue.feed.counters)})")
    if mismatched:
        raise RuntimeError(f"{mismatched} placements did not match their intent")
    if done != n or stub.seq != n:
        raise RuntimeError(f"{done} batches and {stub.seq} orders for {n} messages")
    out: dict[str, Any] = {"n": done, "wall_s": wall, "t0": producer.t0, "t1": t1, "orders": stub.seq}
    if breakdown:
        out |= stages | stage_marks
    return out


# ---------------------------------------------------------------- references (no venue)


async def bare_hop(n: int, gap_us: float = 0.0) -> list[int]:
    """An ``Inbox`` callback on a thread -> ``await inbox.wake.wait()`` and ``inbox.pop()`` on the loop, closed
    loop (the venue's hand-over, without the stream's ``wait_for`` and timeout)."""
    inbox = Inbox(asyncio.get_running_loop())
    producer = Producer(inbox.callback(TAG), n, gap_us)
    out = [0] * n
    producer.thread.start()
    producer.go.set()
    for _ in range(n):
        item = inbox.pop()
        while item is None:  # pop() clears the wake-up when the inbox is empty
            await inbox.wake.wait()
            item = inbox.pop()
        t = perf_ns()
        msg = item[1]
        out[(msg["data"][0]["start"] - START_MS) // 60_000] = t
        producer.go.set()
    producer.thread.join(WAIT_S)
    if producer.error:
        raise RuntimeError(producer.error)
    return [b - a for a, b in zip(producer.t0, out, strict=True)]


async def bare_to_thread(n: int) -> list[int]:
    """``await asyncio.to_thread(fn)`` from the loop: the call until fn starts on the worker thread."""
    box = [0]

    def stamp() -> None:
        box[0] = perf_ns()

    out = []
    for _ in range(n):
        t = perf_ns()
        await asyncio.to_thread(stamp)
        out.append(box[0] - t)
    return out


# ---------------------------------------------------------------- end to end: the daemon against the emulator

E2E_KEY, E2E_SECRET = "bench-key", "bench-secret-never-logged"
E2E_BALANCE = "10000"
E2E_GOAL_P50_MS = {10: 2.0, 500: 10.0}
#: the daemon's settings for the run (as tests/integration/conftest.py ACTIVE, so it trades): the simulator's veto
#: off, a small profit target, no pacing, no turnover floor; risk limits that never stop entries in a long run
E2E_ACTIVE = {
    "OMNI_GHOST__MIN_EV_LOWER_USDT": "-1000",
    "OMNI_GHOST__MIN_SAMPLES": "1",
    "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "0.3",
    "OMNI_PACER__SPACING": "false",
    "OMNI_STRATEGY__STOP_ATR": "1",
    "OMNI_STRATEGY__TAKE_PROFIT_ATR": "2",
    "OMNI_RISK__MAX_LOSS_PER_TRADE_USDT": "2",
    "OMNI_SCANNER__MIN_TURNOVER_USDT": "0",
    "OMNI_RISK__MAX_DAILY_LOSS_USDT": "1000000",
    "OMNI_RISK__MAX_DRAWDOWN_PCT": "100",
}
#: the daemon counts as idle (the next minute may come) below this share of a CPU over the quiet window
E2E_IDLE_CPU = 0.1
E2E_WARMUP_MINUTES = 5  # measured minutes left out first (entries start after the first live minute)
EMULATOR = Path(__file__).resolve().parent / "tick_emulator.py"
mono_ns = time.monotonic_ns


class DaemonStamps:
    """Stamps in the daemon process (``time.monotonic_ns``), taken by wrappers set on instances of the assembled
    daemon: ``venue.feed.take``, ``pipeline.on_batch`` / ``_decide`` / ``estimate``, ``pipeline.scanner.candidates``,
    ``guard.check`` (through the pipeline), ``executor.submit``, ``venue.set_leverage``, the journal writer's
    ``record_intent``, ``venue.place`` and ``venue.http.place_order`` (pybit's call, on the worker thread)."""

    def __init__(self) -> None:
        self.batch = 0  # ts of the batch being decided
        self.take: dict[int, int] = {}
        self.on_batch: dict[int, tuple[int, int, int]] = {}  # ts -> (start, end, bars)
        self.decide: dict[int, list[int]] = {}  # ts -> [start, end, candidates ns, ghost ns, guard ns, evaluated]
        self.submits: dict[int, list[str]] = {}  # ts -> client ids submitted for it, in order
        self.submit: dict[str, int] = {}  # client id -> submit start
        self.cid = ""
        self.leverage: dict[str, tuple[int, int]] = {}
        self.intent: dict[str, tuple[int, int]] = {}
        self.place: dict[str, tuple[int, int]] = {}
        self.pybit: dict[str, int] = {}
        self.handed: dict[int, int] = {}  # minute start -> last kline.1 frame handed over by a pybit thread
        self.first_handed: dict[int, int] = {}  # minute start -> first kline.1 frame handed over
        self.handled: dict[int, int] = {}  # minute start -> last kline.1 frame entering venue._handle


def instrument_daemon(asm: Any, st: DaemonStamps) -> None:
    """Wrap (on the instances, never in the library) the calls whose times make the stage breakdown."""
    venue, pipeline, executor = asm.venue, asm.pipeline, asm.executor
    feed_take = venue.feed.take

    def take(now_wall_ms: float) -> Any:
        out = feed_take(now_wall_ms)
        if out:
            t = mono_ns()
            for b in out:
                st.take.setdefault(b.ts, t)
        return out

    venue.feed.take = take
    on_batch = pipeline.on_batch

    def timed_on_batch(batch: Any, equity: Any, available: Any) -> Any:
        t = mono_ns()
        st.batch = batch.ts
        out = on_batch(batch, equity, available)
        st.on_batch[batch.ts] = (t, mono_ns(), len(batch.bars))
        return out

    pipeline.on_batch = timed_on_batch
    decide, estimate, candidates = pipeline._decide, pipeline.estimate, pipeline.scanner.candidates
    guard_check = pipeline.guard.check

    def timed_decide(*a: Any) -> Any:
        rec = st.decide[st.batch] = [mono_ns(), 0, 0, 0, 0, 0]
        out = decide(*a)
        rec[1] = mono_ns()
        rec[5] = len(out)
        return out

    def timed_candidates(*a: Any, **k: Any) -> Any:
        t = mono_ns()
        out = candidates(*a, **k)
        st.decide[st.batch][2] += mono_ns() - t
        return out

    def timed_estimate(*a: Any) -> Any:
        t = mono_ns()
        out = estimate(*a)
        st.decide[st.batch][3] += mono_ns() - t
        return out

    def timed_check(*a: Any) -> Any:
        t = mono_ns()
        out = guard_check(*a)
        rec = st.decide.get(st.batch)
        if rec is not None and not rec[1]:  # inside _decide (the executor's closes call check too)
            rec[4] += mono_ns() - t
        return out

    pipeline._decide = timed_decide
    pipeline.estimate = timed_estimate
    pipeline.scanner.candidates = timed_candidates
    pipeline.guard.check = timed_check  # the same RiskGuard as executor.guard and trader.guard
    submit = executor.submit

    async def timed_submit(approved: Any) -> Any:
        cid = approved.intent.client_id
        st.submit[cid] = mono_ns()
        st.submits.setdefault(st.batch, []).append(cid)
        st.cid = cid
        return await submit(approved)

    executor.submit = timed_submit
    set_leverage = venue.set_leverage

    async def timed_leverage(*a: Any, **k: Any) -> Any:
        t = mono_ns()
        out = await set_leverage(*a, **k)
        st.leverage[st.cid] = (t, mono_ns())
        return out

    venue.set_leverage = timed_leverage
    writer = asm.journal
    record_intent = writer.record_intent

    async def timed_record(intent: Any, ts: int) -> Any:
        t = mono_ns()
        out = await record_intent(intent, ts)
        st.intent[intent.client_id] = (t, mono_ns())
        return out

    writer.record_intent = timed_record
    place = venue.place

    async def timed_place(intent: Any) -> Any:
        t = mono_ns()
        out = await place(intent)
        st.place[intent.client_id] = (t, mono_ns())
        return out

    venue.place = timed_place
    place_order = venue.http.place_order

    def timed_place_order(**params: Any) -> Any:  # on the worker thread: where pybit signs and sends
        st.pybit[params.get("orderLinkId", "")] = mono_ns()
        return place_order(**params)

    venue.http.place_order = timed_place_order
    loop = asyncio.get_running_loop()
    soon = loop.call_soon_threadsafe
    put = venue.inbox.put

    def threadsafe(callback: Any, *args: Any, **kw: Any) -> Any:  # pybit's socket threads hand frames over here
        if callback == put and len(args) == 2:
            start = kline_start(args[1])
            if start is not None:
                t = mono_ns()
                st.handed[start] = t
                st.first_handed.setdefault(start, t)
        return soon(callback, *args, **kw)

    loop.call_soon_threadsafe = threadsafe  # type: ignore[method-assign]
    handle = venue._handle

    def timed_handle(tag: str, msg: Any) -> Any:
        start = kline_start(msg)
        if start is not None:
            st.handled[start] = mono_ns()
        return handle(tag, msg)

    venue._handle = timed_handle


def kline_start(msg: Any) -> int | None:
    """The minute (open time) of a confirmed kline.1 frame, else None."""
    if type(msg) is dict and msg.get("topic", "").startswith("kline.1."):
        data = msg.get("data")
        if data and data[0].get("confirm"):
            return int(data[0]["start"])
    return None


def unthrottle(venue: Any) -> None:
    """The venue's REST budgets (asyncio-throttle, IP and every lane) kept, their rates raised so they never
    sleep: the market runs a minute every fraction of a second here, and the budgets (8 orders/s, 80 requests/s)
    would bite where a live minute (60 s) never makes them; the first order of a minute is never throttled live.
    The config caps these rates (<= 50-120/s), hence the instance change."""
    venue.rest.ip = Throttler(rate_limit=RATE_UNLIMITED, period=1.0)
    venue.rest.lanes = {lane: Throttler(rate_limit=RATE_UNLIMITED, period=1.0) for lane in LANES}


def e2e_config(url: str, state_dir: Path, timeframes: str) -> Any:
    from omni.config import load_config

    ws = url.replace("http://", "ws://")
    env = {
        "OMNI_VENUE__NAME": "bybit-testnet",
        "OMNI_VENUE__REST_URL": url,
        "OMNI_VENUE__PUBLIC_WS_URL": ws,
        "OMNI_VENUE__PRIVATE_WS_URL": ws,
        "OMNI_CAPITAL_USDT": E2E_BALANCE,
        "OMNI_ENGINE__STATE_DIR": str(state_dir),
        "OMNI_ENGINE__ON_SHUTDOWN": "keep",
        "OMNI_TELEMETRY__LOG_FORMAT": "json",
        "OMNI_STRATEGY__TIMEFRAMES": f"[{timeframes}]",
        **E2E_ACTIVE,
    }
    return load_config(None, env=env)


class EmulatorProcess:
    """``bench/tick_emulator.py`` as a subprocess (asyncio pipes: no thread in this process)."""

    def __init__(self, symbols: int, out: Path, warmup_bars: int, err: Path):
        self.symbols, self.out, self.warmup_bars, self.err = symbols, out, warmup_bars, err
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.listed = 0

    async def start(self) -> None:
        cmd = [sys.executable, str(EMULATOR), "--symbols", str(self.symbols), "--out", str(self.out),
               "--api-key", E2E_KEY, "--api-secret", E2E_SECRET, "--balance", E2E_BALANCE,
               "--warmup-bars", str(self.warmup_bars)]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_") or k == "OMNI_SHARED_DATA"}
        self._err = open(self.err, "w")  # noqa: SIM115
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._err, env=env
        )
        line = await self.line(300)
        if not line.startswith("READY "):
            raise RuntimeError(f"emulator: {line!r} {self.err.read_text()[-2000:]}")
        _, self.url, listed = line.split()
        self.listed = int(listed)

    async def line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise RuntimeError(f"emulator exited: {self.err.read_text()[-2000:]}")
        return raw.decode().strip()

    def send(self, text: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((text + "\n").encode())

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                self.send("QUIT")
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._err.close()


async def e2e_run(
    symbols: int, minutes: int, min_interval_s: float, quiet_ms: float, timeframes: str, workdir: Path,
    progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """One end-to-end run: emulator subprocess, the daemon assembled and supervised here, ``minutes`` minutes."""
    from omni.engine.assembly import assemble_bybit, bybit_venue, warmup_ms
    from omni.engine.supervisor import Supervisor

    t_start = time.monotonic()
    out = workdir / "emulator.json"
    cfg_probe = e2e_config("http://127.0.0.1:1", workdir / "state", timeframes)
    warmup_bars = warmup_ms(cfg_probe) // 60_000 + 60
    emu = EmulatorProcess(symbols, out, warmup_bars, workdir / "emulator.err")
    log_file = open(workdir / "daemon.jsonl", "w")  # noqa: SIM115
    sup_task: asyncio.Task | None = None
    try:
        await emu.start()
        t_emulator = time.monotonic() - t_start
        cfg = e2e_config(emu.url, workdir / "state", timeframes)
        logsetup.configure("json", cfg.telemetry.log_level, stream=log_file)  # as the daemon: JSON lines, info
        log = logsetup.get("omni")
        venue = bybit_venue(cfg, log, E2E_KEY, E2E_SECRET)
        unthrottle(venue)
        asm = await assemble_bybit(cfg, log, venue)
        st = DaemonStamps()
        instrument_daemon(asm, st)
        sup = Supervisor(asm, log)
        sup_task = asyncio.create_task(sup.run(), name="supervisor")
        await asyncio.wait_for(venue.warm.wait(), 600)
        while asm.trader.market_ts < venue.feed.newest + 60_000:  # the history's batches consumed
            if sup_task.done():
                raise RuntimeError(f"daemon stopped during warm-up: {sup_task.result()}")
            await asyncio.sleep(0.05)
        t_ready = time.monotonic() - t_start
        emu.send(f"RUN {minutes + E2E_WARMUP_MINUTES} {min_interval_s} {quiet_ms} {E2E_IDLE_CPU}")
        t_run = time.monotonic()
        while True:
            reading = asyncio.ensure_future(emu.line(600))
            await asyncio.wait({reading, sup_task}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                reading.cancel()
                raise RuntimeError(f"daemon stopped during the run (exit code {sup_task.result()})")
            line = reading.result()
            if line.startswith("DONE"):
                break
            if progress and line.startswith("PROGRESS"):
                k = int(line.split()[1])
                el = time.monotonic() - t_run
                print(f"  ... {k} minutes, {el:.0f} s", file=sys.stderr, flush=True)
        await asyncio.sleep(0.5)  # the last minute's orders and their lookups
        run_s = time.monotonic() - t_run
        sup.request_stop()
        code = await asyncio.wait_for(sup_task, 60)
        records = json.loads(out.read_text())
        result = {
            "symbols": symbols, "listed": emu.listed, "minutes": minutes, "timeframes": timeframes,
            "stamps": st, "emulator": records, "exit_code": code, "decisions": dict(asm.telemetry.decisions),
            "trades": asm.portfolio.trades_today, "setup_s": t_ready, "emulator_start_s": t_emulator,
            "run_s": run_s, "min_interval_s": min_interval_s, "quiet_ms": quiet_ms,
            "rest_calls": dict(venue.rest.calls), "feed": dict(venue.feed.counters), "venue": dict(venue.counters),
        }  # fmt: skip
    finally:
        if sup_task is not None and not sup_task.done():
            sup_task.cancel()
            with contextlib.suppress(BaseException):
                await sup_task
        await emu.stop()
        logsetup.configure("json", "warning", stream=io.StringIO())
        log_file.close()
    crashed = 0
    with open(workdir / "daemon.jsonl") as f:
        for line in f:
            if '"task_crashed"' in line or '"task_gave_up"' in line:
                crashed += 1
    result["crashed"] = crashed
    result["wall_s"] = time.monotonic() - t_start
    return result


def e2e_samples(r: dict[str, Any]) -> dict[str, Any]:
    """Join the two processes' stamps: per measured minute, its completing frame (t0) and its first order's
    request received by the emulator (t1), with the stages in between."""
    st: DaemonStamps = r["stamps"]
    emu = r["emulator"]
    orders = {link: (t_in, t_body, reduce_only) for t_in, t_body, link, _sym, reduce_only in emu["orders"]}
    minutes = emu["minutes"][E2E_WARMUP_MINUTES:]
    samples: list[int] = []
    rows: list[dict[str, int]] = []
    with_order = with_decisions = 0
    busy_before = 0
    for close_ts, t_adv, t_first, t0, frames in minutes:
        cids = [c for c in st.submits.get(close_ts, []) if c in orders and not orders[c][2]]
        if st.decide.get(close_ts):
            with_decisions += 1
        if not cids:
            continue
        with_order += 1
        cid = cids[0]
        t1 = orders[cid][1]
        start = close_ts - 60_000
        dec = st.decide[close_ts]
        ob = st.on_batch[close_ts]
        lev = st.leverage.get(cid)
        intent = st.intent.get(cid, (0, 0))
        place = st.place.get(cid, (0, 0))
        row = {
            "t0": t0, "t1": t1, "adv": t_adv, "first": t_first, "take": st.take.get(close_ts, 0),
            "handed": st.handed.get(start, 0), "first_handed": st.first_handed.get(start, 0),
            "handled": st.handled.get(start, 0),
            "on_start": ob[0], "dec_start": dec[0], "dec_end": dec[1], "candidates": dec[2], "ghost": dec[3],
            "guard": dec[4], "evaluated": dec[5], "submit": st.submit[cid], "lev": (lev[1] - lev[0]) if lev else 0,
            "lev_used": 1 if lev else 0, "intent": intent[1] - intent[0], "place": place[0],
            "pybit": st.pybit.get(cid, 0), "t1_in": orders[cid][0], "frames": frames,
        }  # fmt: skip
        if row["take"] and row["take"] < t0:
            busy_before += 1
        rows.append(row)
        samples.append(t1 - t0)
    return {"samples": samples, "rows": rows, "minutes": len(minutes), "with_order": with_order,
            "with_decisions": with_decisions, "early": busy_before}  # fmt: skip


def ms_stats(samples: list[int]) -> dict[str, float]:
    s = stats(samples)
    return {k: (v / 1000 if k != "n" else v) for k, v in s.items()}


def fmt_ms(st: dict[str, float]) -> str:
    return (
        f"n={st['n']:<6,d} p50 {st['p50']:7.3f}  p99 {st['p99']:7.3f}  p99.9 {st['p99.9']:7.3f}  "
        f"max {st['max']:7.3f}  mean {st['mean']:7.3f}  (ms)"
    )


def e2e_report(r: dict[str, Any], what_if: bool = False) -> dict[str, float]:
    j = e2e_samples(r)
    n = len(j["samples"])
    print(
        f"\n== end to end{' (WHAT-IF: no UTF-8 check of WebSocket text frames; informational)' if what_if else ''}, "
        f"{r['symbols']} symbols ({r['listed']} listed by the emulator), timeframes "
        f"{r['timeframes']}: {j['minutes']:,} minutes measured (+{E2E_WARMUP_MINUTES} left out), "
        f"the next minute once the daemon is idle (>= {r['min_interval_s'] * 1000:.0f} ms after the previous one, "
        f"no REST request and < {E2E_IDLE_CPU:.0%} of a CPU for {r['quiet_ms']:.0f} ms: "
        f"{r['run_s'] / (r['minutes'] + E2E_WARMUP_MINUTES) * 1000:.0f} ms per minute)"
    )
    st = ms_stats(j["samples"])
    print(f"tick -> order (end to end)  {fmt_ms(st)}")
    print(
        f"  minutes with an entry order: {j['with_order']:,} of {j['minutes']:,} (with decisions: "
        f"{j['with_decisions']:,}); samples {n:,}"
        + ("" if n >= 1000 else f"; p99.9 needs >= 1,000 samples: with {n:,} it is the maximum or next to it")
    )
    if j["early"]:
        print(
            f"  !! in {j['early']} sampled minutes the batch left the feed before t0 (the emulator descheduled between "
            "writing the last frame and stamping it, or the feed's grace expired): those samples are too short"
        )
    rows = j["rows"]
    if rows:

        def d(a: str, b: str) -> list[int]:
            return [x[b] - x[a] for x in rows]

        dec_rest = [x["dec_end"] - x["dec_start"] - x["candidates"] - x["ghost"] - x["guard"] for x in rows]
        sub_rest = [x["place"] - x["submit"] - x["lev"] - x["intent"] for x in rows]
        parts = [
            ("frame -> pybit cb", d("t0", "handed"), "loopback, pybit's socket thread: recv, frame, json.loads"),
            ("cb -> _handle", d("handed", "handled"), "call_soon_threadsafe, loop wake-up, Inbox, earlier frames"),
            ("_handle -> batch", d("handled", "take"), "_handle (kline -> Bar, KlineFeed.add), gaps, take"),
            ("batch -> pipeline", d("take", "on_start"), "stream yield, Trader: account events, day roll"),
            ("scanner", d("on_start", "dec_start"), "scanner.update per bar (indicators, breakouts)"),
            ("candidates", [x["candidates"] for x in rows], "scanner.candidates: ranking, tradability"),
            ("sizer etc.", dec_rest, "sizer.size per candidate, Decision objects"),
            ("simulator", [x["ghost"] for x in rows], "pipeline.estimate: ghost replay per sized candidate"),
            ("risk guard", [x["guard"] for x in rows], "guard.check per simulated candidate"),
            ("-> submit", d("dec_end", "submit"), "decisions logged (log line + journal record each)"),
            ("set leverage", [x["lev"] for x in rows], "REST set-leverage round trip when the leverage changes"),
            ("journal intent", [x["intent"] for x in rows], "record_intent: SQLite flush in a worker thread"),
            ("submit other", sub_rest, "executor checks"),
            ("place -> pybit", d("place", "pybit"), "intent_to_params, throttles, to_thread hop"),
            ("pybit -> emulator", d("pybit", "t1"), "pybit signs, requests sends, loopback TCP, aiohttp parse"),
        ]
        whole = stats(j["samples"])
        lev_n = sum(x["lev_used"] for x in rows)
        evaluated = sorted(x["evaluated"] for x in rows)
        print(
            f"  where the time goes (the first order of each sampled minute; candidates evaluated before it: "
            f"median {evaluated[len(evaluated) // 2]}, max {evaluated[-1]}; set-leverage before it in {lev_n:,}):"
        )
        print(f"    {'stage':18s} {'p50':>8s} {'p99':>8s} {'mean':>8s} {'share':>6s}  what")
        for name, vals, what in parts:
            s = stats(vals)
            share = s["mean"] / whole["mean"] if whole["mean"] else float("nan")
            print(
                f"    {name:18s} {s['p50'] / 1000:8.3f} {s['p99'] / 1000:8.3f} {s['mean'] / 1000:8.3f} "
                f"{share:6.1%}  {what}"
            )
        burst = stats([x["t0"] - x["adv"] for x in rows])
        spread = stats([x["t0"] - x["first"] for x in rows])
        first = stats([x["first_handed"] - x["first"] for x in rows])
        print(
            f"    the minute's first kline.1 frame: written -> handed over by pybit p50 {first['p50'] / 1000:.3f} ms, "
            f"p99 {first['p99'] / 1000:.3f} ms (one frame, no backlog); the emulator wrote the minute's "
            f"{rows[-1]['frames']} frames within {spread['p50'] / 1000:.3f} ms (p50, first -> last) after building "
            f"them (advance -> last frame written p50 {burst['p50'] / 1000:.3f} ms, before t0)"
        )
    print(
        f"  run: setup {r['setup_s']:.1f} s (emulator up {r['emulator_start_s']:.1f} s), measured {r['run_s']:.1f} s, "
        f"wall {r['wall_s']:.1f} s; daemon exit {r['exit_code']}, task crashes {r['crashed']}; "
        f"decisions {r['decisions']}"
    )
    return st


# ---------------------------------------------------------------- main


def trimmed(values: list[int], warmup: int) -> list[int]:
    return values[warmup:]


def diffs(a: list[int], b: list[int]) -> list[int]:
    return [y - x for x, y in zip(a, b, strict=True)]


def measure(args: argparse.Namespace, total: int, warm: int, label: str) -> dict[str, dict[str, float]]:
    """Tick -> order, the two bare hops and (unless --no-breakdown) the stage breakdown; prints them."""
    print(f"\n== {label}")
    r = asyncio.run(tick_to_order(total, args.gap_us))
    main_st = stats(trimmed(diffs(r["t0"], r["t1"]), warm))
    print(f"adapter only (stub HTTP, trivial decision)  {fmt(main_st)}")
    print(
        f"cycle                {r['n'] / r['wall_s']:,.0f} msg/s closed loop ({r['wall_s']:.2f} s; a cycle includes "
        f"the post-placement lookup and the producer's wake-up), orders {r['orders']:,}"
    )
    if not args.no_breakdown:  # right after the main pass: the machine's state drifts between passes
        nb = min(total, args.breakdown_messages + warm)
        b = asyncio.run(tick_to_order(nb, args.gap_us, breakdown=True))
        t0, ta, tb, tk, tc, td, tt_, t1 = (
            trimmed(b[k], warm) for k in ("t0", "ta", "tb", "tk", "tc", "td", "tt", "t1")
        )
        parts = [
            ("hop + stream()", t0, ta, "callback -> _handle entry: call_soon_threadsafe, Inbox.put, wake, pop"),
            ("_handle", ta, tb, "touch, kline dict -> Bar, KlineFeed.add, last price on the tick"),
            ("feed", tb, tk, "pop (empty), feed.gaps(), feed.take(): the minute is due -> MarketBatch"),
            ("yield", tk, tc, "async generator yield -> consumer"),
            ("decision", tc, td, "side, stop-loss on the tick, OrderIntent, client id"),
            ("place -> to_thread", td, tt_, "intent_to_params, RestClient.call/once, 2 Throttler.acquire"),
            ("to_thread -> client", tt_, t1, "executor submit, worker wake-up, GIL"),
        ]
        whole = stats(diffs(t0, t1))
        print(
            f"breakdown, instrumented pass of {whole['n']:,} (its tick -> order p50 {whole['p50']:.1f} us, "
            f"mean {whole['mean']:.1f} us):"
        )
        print(f"  {'stage':20s} {'p50':>8s} {'p99':>8s} {'mean':>8s} {'share':>6s}  what")
        for name, a, z, what in parts:
            st = stats(diffs(a, z))
            share = st["mean"] / whole["mean"]
            print(f"  {name:20s} {st['p50']:8.1f} {st['p99']:8.1f} {st['mean']:8.1f} {share:6.1%}  {what}")
        tr, pl = stats(diffs(ta, tk)), stats(diffs(td, t1))
        print(
            f"  message vs place: _handle + feed {tr['mean']:.1f} us mean ({tr['mean'] / whole['mean']:.0%}), "
            f"place up to the client {pl['mean']:.1f} us mean ({pl['mean'] / whole['mean']:.0%})"
        )
    hop = stats(trimmed(asyncio.run(bare_hop(total, args.gap_us)), warm))
    tt = stats(trimmed(asyncio.run(bare_to_thread(total)), warm))
    print(f"bare thread->loop    {fmt(hop)}   (reference: Inbox callback -> wake / pop, no venue)")
    print(f"bare to_thread hop   {fmt(tt)}   (reference: loop -> worker thread, no venue)")
    return {"main": main_st, "hop": hop, "to_thread": tt}


def adapter_only(args: argparse.Namespace) -> list[tuple[str, str, str, bool | None]]:
    """The adapter-only measurement (stub HTTP, trivial decision); returns its summary rows."""
    n = args.messages or (10_000 if args.quick else 100_000)
    warm = args.warmup if args.warmup is not None else (200 if args.quick else 1000)
    args.breakdown_messages = args.breakdown_messages or (5_000 if args.quick else 20_000)
    total = n + warm
    print(
        f"\n== adapter only: BybitVenue in process, stub HTTP client, no network, trivial decision; {n:,} "
        f"kline.1.{SYMBOL} frames measured (+{warm:,} warm-up), closed loop (one message in flight), idle gap "
        f"before each frame {args.gap_us:g} us. RestClient's throttles kept (order lane and IP), rates "
        f"{RATE_UNLIMITED:.0e}/s (defaults 8/s and 80/s) so they never sleep; place() without retries "
        "(retry=False, as the venue calls it)"
    )
    cpus = sorted(os.sched_getaffinity(0))
    res = measure(args, total, warm, f"adapter only, default CPU affinity (CPUs {cpus}): the goal figures")
    pinned: dict[str, dict[str, float]] | None = None
    if not args.no_pinned and not args.quick and len(cpus) > 1:
        # new threads inherit the creating thread's affinity: the producer thread and the loop's executor threads
        # are created inside the pass, so pinning the main thread pins them all
        os.sched_setaffinity(0, {cpus[0]})
        try:
            label = f"pinned to CPU {cpus[0]} (os.sched_setaffinity; producer, loop and executor threads share it)"
            pinned = measure(args, total, warm, "adapter only, " + label + ": informational")
        finally:
            os.sched_setaffinity(0, cpus)
    if args.profile:
        prof = cProfile.Profile()
        asyncio.run(tick_to_order(min(total, 20_000), args.gap_us, profile=prof))
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
        print("\n-- cProfile, loop thread, whole cycle (tottime) --\n" + s.getvalue())
    m, hop = res["main"], res["hop"]
    rows: list[tuple[str, str, str, bool | None]] = [
        ("adapter only p50", f"{m['p50']:.1f} us", f"<= {GOAL_P50_US:.0f} us", m["p50"] <= GOAL_P50_US),
        ("adapter only p99", f"{m['p99']:.1f} us", f"<= {GOAL_P99_US:.0f} us", m["p99"] <= GOAL_P99_US),
        ("adapter only p99.9", f"{m['p99.9']:.1f} us", "(report)", None),
        ("bare thread->loop p50", f"{hop['p50']:.1f} us", "(~3.5 us ref)", None),
    ]
    if pinned is not None:
        pm = pinned["main"]
        rows += [
            ("adapter only, pinned p50", f"{pm['p50']:.1f} us", f"(<= {GOAL_P50_US:.0f} us)", None),
            ("adapter only, pinned p99", f"{pm['p99']:.1f} us", f"(<= {GOAL_P99_US:.0f} us)", None),
        ]
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run (< 60 s): 10 symbols, 150 minutes; adapter 10k")
    g = ap.add_argument_group("end to end (the daemon against the emulator in another process)")
    g.add_argument("--symbols", type=int, nargs="*", default=None, help="symbol counts (default: 10 500)")
    g.add_argument(
        "--minutes",
        type=int,
        default=None,
        help="measured minutes per run (default 6000 up to 50 symbols, else 2000; quick 150)",
    )
    g.add_argument("--interval-ms", type=float, default=20.0, help="least time between minutes (default 20)")
    g.add_argument("--quiet-ms", type=float, default=30.0, help="idle this long before the next minute (default 30)")
    g.add_argument("--timeframes", default="1m, 3m, 5m", help="strategy.timeframes (default the daemon's: 1m, 3m, 5m)")
    g.add_argument("--keep", type=Path, default=None, help="keep the runs' files (logs, journal) under this folder")
    g.add_argument("--no-e2e", action="store_true", help="skip the end-to-end runs")
    g.add_argument(
        "--what-if-no-utf8-check",
        action="store_true",
        help="informational, goals not judged: the daemon's pybit sockets skip websocket-client's pure-Python UTF-8 "
        "check of each text frame (patched in this process only), to show its share",
    )
    a = ap.add_argument_group("adapter only (BybitVenue in process, stub HTTP client, trivial decision)")
    a.add_argument("--no-adapter", action="store_true", help="skip the adapter-only measurement")
    a.add_argument("--messages", type=int, default=None, help="measured messages (default 100000; quick 10000)")
    a.add_argument("--warmup", type=int, default=None, help="messages left out first (default 1000; quick 200)")
    a.add_argument("--gap-us", type=float, default=0.0, help="idle time before each frame (default 0)")
    a.add_argument("--no-breakdown", action="store_true", help="skip the instrumented passes")
    a.add_argument("--breakdown-messages", type=int, default=None, help="instrumented pass (default 20000)")
    a.add_argument("--no-pinned", action="store_true", help="skip the informational pass pinned to one CPU")
    a.add_argument("--profile", action="store_true", help="cProfile the loop thread in an extra pass")
    args = ap.parse_args()
    symbol_counts = args.symbols if args.symbols is not None else ([10] if args.quick else [10, 500])

    policy = asyncio.get_event_loop_policy().__class__.__name__
    load = os.getloadavg()[0]
    busy = "  << busy machine: figures may be inflated, rerun when idle" if load > 0.75 * (os.cpu_count() or 1) else ""
    print(
        f"== tick -> order. Python {platform.python_version()}, {os.cpu_count()} CPUs, {policy}, GIL switch interval "
        f"{sys.getswitchinterval() * 1000:.0f} ms; load average (1 min) {load:.2f} at start{busy}"
    )
    summary: list[tuple[str, str, str, bool | None]] = []
    what_if = args.what_if_no_utf8_check
    if what_if:
        import websocket._abnf

        websocket._abnf.validate_utf8 = lambda data: True  # what continuous_frame.extract calls per text frame
    if not args.no_e2e:
        for n in symbol_counts:
            minutes = args.minutes or (150 if args.quick else (6000 if n <= 50 else 2000))
            interval, quiet = args.interval_ms, args.quiet_ms
            t = time.monotonic()
            with tempfile.TemporaryDirectory(prefix=f"omni-tick-{n}-") as tmp:
                work = Path(tmp)
                if args.keep is not None:
                    work = args.keep / f"symbols-{n}"
                    work.mkdir(parents=True, exist_ok=True)
                r = asyncio.run(e2e_run(n, minutes, interval / 1000, quiet, args.timeframes, work))
            st = e2e_report(r, what_if)
            print(f"  wall time of this run: {time.monotonic() - t:.1f} s")
            goal = None if what_if else E2E_GOAL_P50_MS.get(n)
            label = f"end to end, {n} symbols" + (" (what-if: no UTF-8 check)" if what_if else "")
            summary += [
                (f"{label} p50", f"{st['p50']:.3f} ms", f"<= {goal:g} ms" if goal else "(report)",
                 st["p50"] <= goal if goal else None),
                (f"{label} p99", f"{st['p99']:.3f} ms", "(report)", None),
                (f"{label} p99.9", f"{st['p99.9']:.3f} ms", f"(report; n={st['n']:,})", None),
            ]  # fmt: skip
    if not args.no_adapter:
        summary += adapter_only(args)
    print("\n== summary")
    w = max(len(row[0]) for row in summary)
    print(f"{'figure':{w}s}  {'value':>12s}  {'goal':20s}  met")
    for name, value, goal, met in summary:
        shown = "-" if met is None else ("yes" if met else "NO")
        print(f"{name:{w}s}  {value:>12s}  {goal:20s}  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

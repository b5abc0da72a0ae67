"""Tick-to-order benchmark: in-process latency from a market message arriving at the Bybit venue adapter to the
order request being handed to the client, through the real ``BybitVenue`` and no network.

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
symbols (on a full market a minute goes out when every ready symbol has closed it or ``batch_grace_ms`` after its
first close: that wait is market timing, not code, and one ready symbol never waits); the venue's background
tasks (watchdogs, warm-up, gap fills, resync, tickers); the engine (scanner, risk, sizing), replaced by the
trivial decision. The lookup after placing (``_safe_find`` -> ``get_open_orders`` through ``RestClient.call``
with its tenacity retry) comes after t1: it is in the cycle, not in the sample.

Closed loop: the producer sends the next frame only when the previous ``place`` has returned (one message in
flight, the loop idle in the stream's ``wait_for(inbox.wake.wait())`` when a frame arrives, as between live
candles); it is not a throughput test. ``--gap-us`` adds idle time before each frame. The first ``--warmup``
messages are left out.

Also measured: a bare thread -> loop hop (an ``Inbox`` callback on a thread -> ``await inbox.wake.wait()`` and
``inbox.pop()`` on the loop, without the stream's ``wait_for``) and a bare ``asyncio.to_thread`` hop (loop ->
worker thread), with no venue, for reference; and, in a second, instrumented pass (``venue._handle`` and
``venue.feed.take`` wrapped on the instances, ``asyncio.to_thread`` wrapped in this process only; no library code
is changed), where the time goes: hop + ``stream()`` machinery, ``_handle``, the feed (``gaps``, ``take``), the
generator's yield, the decision, ``place`` up to ``asyncio.to_thread``, and the to_thread hop to the stub.
Everything runs twice: with the default CPU affinity (the goal figures) and, for information, pinned to one CPU
(on small VMs a wake-up across vCPUs can cost tens of microseconds per thread hop, and this path has two).

Goal: p50 <= 50 us, p99 <= 250 us (the issue's reference: a bare asyncio hop measures ~3.5 us p50 there).

    python bench/tick_to_order.py [--messages N] [--quick] [--gap-us US] [--no-breakdown] [--no-pinned]
                                  [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import os
import platform
import pstats
import random
import sys
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
    print(f"tick -> order        {fmt(main_st)}")
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=None, help="measured messages (default 100000; quick 10000)")
    ap.add_argument("--warmup", type=int, default=None, help="messages left out first (default 1000; quick 200)")
    ap.add_argument(
        "--gap-us", type=float, default=0.0, help="idle time before each frame (default 0: next frame at once)"
    )
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the instrumented passes")
    ap.add_argument("--breakdown-messages", type=int, default=None, help="instrumented pass (default 20000)")
    ap.add_argument("--no-pinned", action="store_true", help="skip the informational pass pinned to one CPU")
    ap.add_argument("--profile", action="store_true", help="cProfile the loop thread in an extra pass")
    args = ap.parse_args()
    n = args.messages or (10_000 if args.quick else 100_000)
    warm = args.warmup if args.warmup is not None else (200 if args.quick else 1000)
    args.breakdown_messages = args.breakdown_messages or (5_000 if args.quick else 20_000)
    total = n + warm

    print(
        f"== tick -> order: BybitVenue in process, no network; {n:,} kline.1.{SYMBOL} frames measured "
        f"(+{warm:,} warm-up), closed loop (one message in flight), idle gap before each frame {args.gap_us:g} us"
    )
    policy = asyncio.get_event_loop_policy().__class__.__name__
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {policy}, GIL switch interval "
        f"{sys.getswitchinterval() * 1000:.0f} ms; RestClient's throttles kept (order lane and IP), rates "
        f"{RATE_UNLIMITED:.0e}/s (defaults 8/s and 80/s) so they never sleep; place() without retries "
        "(retry=False, as the venue calls it)"
    )
    load = os.getloadavg()[0]
    busy = "  << busy machine: figures may be inflated, rerun when idle" if load > 0.75 * (os.cpu_count() or 1) else ""
    print(f"load average (1 min) {load:.2f} at start{busy}")

    cpus = sorted(os.sched_getaffinity(0))
    res = measure(args, total, warm, f"default CPU affinity (CPUs {cpus}): the goal figures")
    pinned: dict[str, dict[str, float]] | None = None
    if not args.no_pinned and len(cpus) > 1:
        # new threads inherit the creating thread's affinity: the producer thread and the loop's executor threads
        # are created inside the pass, so pinning the main thread pins them all
        os.sched_setaffinity(0, {cpus[0]})
        try:
            label = f"pinned to CPU {cpus[0]} (os.sched_setaffinity; producer, loop and executor threads share it)"
            pinned = measure(args, total, warm, label + ": informational")
        finally:
            os.sched_setaffinity(0, cpus)

    if args.profile:
        prof = cProfile.Profile()
        asyncio.run(tick_to_order(min(total, 20_000), args.gap_us, profile=prof))
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
        print("\n-- cProfile, loop thread, whole cycle (tottime) --\n" + s.getvalue())

    m, hop = res["main"], res["hop"]
    rows = [
        ("tick -> order p50", f"{m['p50']:.1f} us", f"<= {GOAL_P50_US:.0f} us", m["p50"] <= GOAL_P50_US),
        ("tick -> order p99", f"{m['p99']:.1f} us", f"<= {GOAL_P99_US:.0f} us", m["p99"] <= GOAL_P99_US),
        ("tick -> order p99.9", f"{m['p99.9']:.1f} us", "(report)", None),
        ("tick -> order max", f"{m['max']:.1f} us", "(report)", None),
        ("bare thread->loop p50", f"{hop['p50']:.1f} us", "(~3.5 us ref)", None),
    ]
    if pinned is not None:
        pm = pinned["main"]
        rows += [
            ("pinned: tick -> order p50", f"{pm['p50']:.1f} us", f"(<= {GOAL_P50_US:.0f} us)", None),
            ("pinned: tick -> order p99", f"{pm['p99']:.1f} us", f"(<= {GOAL_P99_US:.0f} us)", None),
            ("pinned: tick -> order p99.9", f"{pm['p99.9']:.1f} us", "(report)", None),
            ("pinned: bare thread->loop p50", f"{pinned['hop']['p50']:.1f} us", "(reference)", None),
        ]
    print("\n== summary (goals judged on the default-affinity run)")
    w = max(len(row[0]) for row in rows)
    print(f"{'figure':{w}s}  {'value':>12s}  {'goal':14s}  met")
    for name, value, goal, met in rows:
        shown = "-" if met is None else ("yes" if met else "NO")
        print(f"{name:{w}s}  {value:>12s}  {goal:14s}  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

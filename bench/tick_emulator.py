"""The emulator side of ``bench/tick_to_order.py`` (end-to-end): ``omni emulator`` as the CLI builds it, in its own
process, with the bench's timestamps added by hooks (no library code changed) and the market driven minute by
minute on command.

Started by the bench as ``python bench/tick_emulator.py --symbols N --out FILE ...``; talks over stdin/stdout,
one line each way:

    -> READY <url>                 the server listens (warm-up bars fed)
    <- RUN <minutes> <min_interval_s> <quiet_ms> <cpu_share>
    -> PROGRESS <k>                every 100 minutes
    -> DONE <minutes>              the records are in --out (JSON)
    <- QUIT (or EOF)               stop and exit

What the hooks record, on CLOCK_MONOTONIC (``time.monotonic_ns()``: system-wide on Linux, comparable with the
bench process's stamps):
- the WebSocket hub's per-connection sender is replaced by the same loop with a stamp right after each
  ``kline.1.*`` frame has been written to the socket (``await ws.send_str`` returned: the frame's bytes are in
  the kernel); chaos is off, so the stall and latency steps of the hub's own sender are no-ops and left out;
- the hub's market listener is wrapped to count the ``kline.1.*`` frames each minute queues;
- an aiohttp middleware stamps every REST request when aiohttp dispatches it (headers parsed) and again once its
  body is read (``await request.read()``, cached for the endpoint); for ``/v5/order/create`` and
  ``/v5/position/set-leverage`` it keeps the body's orderLinkId / symbol / reduceOnly, parsed after the stamps.

The driver (``RUN``): per minute, wait until the daemon is idle, as between live candles 60 s apart: at least
``min_interval_s`` since the previous minute, no REST request in flight nor any for ``quiet_ms``, and the bench
process (the daemon: this process's parent, every thread, from /proc/<pid>/task/*/schedstat, polled every 5 ms)
using at most ``cpu_share`` of a CPU over the last ``quiet_ms``; then
``state.advance(1)`` (the matching engines see the bar: stops and take-profits may fill and push private
frames first; then the public frames are queued), wait until every queued ``kline.1`` frame of the minute is
written, and record (minute close ts, advance start, first and last kline.1 frame written, frames). The last
frame written is the one that completes the minute for the daemon's feed: t0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from omni import logsetup  # noqa: E402
from omni.emulator.server import ORDER_CREATE, EmulatorConfig, EmulatorServer  # noqa: E402
from omni.emulator.state import AccountConfig, EmulatorState  # noqa: E402
from omni.emulator.ws import HUB, PRIVATE_PATH, PUBLIC_PATH, WsHub  # noqa: E402
from omni.venues.instruments_file import default_instruments_path, generated_instruments, load_instruments  # noqa: E402

mono_ns = time.monotonic_ns
SET_LEVERAGE = "/v5/position/set-leverage"
WS_PATHS = (PUBLIC_PATH, PRIVATE_PATH)
KLINE1 = '{"topic": "kline.1.'  # how json.dumps starts the hub's kline.1 frames
#: raised so the compressed market (a minute every fraction of a second) never meets a limit that the live pace
#: (a minute every 60 s) would not meet either; the limits are a policy, not latency
RAISED = 10**9
RAISED_PATHS = (ORDER_CREATE, SET_LEVERAGE, "/v5/position/trading-stop", "/v5/order/realtime", "/v5/order/history",
                "/v5/position/list", "/v5/execution/list", "/v5/account/wallet-balance", "/v5/order/cancel",
                "/v5/order/cancel-all", "/v5/account/transaction-log", "/v5/account/fee-rate")  # fmt: skip


class Recorder:
    """The stamps, in this process."""

    def __init__(self) -> None:
        self.queued = 0  # kline.1 frames queued so far (all minutes)
        self.sent = 0  # kline.1 frames written so far
        self.first_sent_ns = 0  # first kline.1 frame written since the last reset
        self.last_sent_ns = 0
        self.all_sent = asyncio.Event()
        self.in_flight = 0
        self.last_request_ns = mono_ns()
        self.minutes: list[tuple[int, int, int, int, int]] = []  # (close ts, advance, first sent, t0, frames)
        self.raw: list[tuple[str, int, int, bytes]] = []  # (path, dispatched, body read, body) of orders/leverage
        self.requests: dict[str, int] = {}  # path -> count

    def frame_sent(self) -> None:
        t = mono_ns()
        self.sent += 1
        if not self.first_sent_ns:
            self.first_sent_ns = t
        self.last_sent_ns = t
        if self.sent >= self.queued:
            self.all_sent.set()

    def records(self) -> dict[str, Any]:
        orders, leverage = [], []
        for path, t_in, t_body, body in self.raw:
            try:
                p = json.loads(body)
            except ValueError:
                p = {}
            if path == ORDER_CREATE:
                reduce_only = p.get("reduceOnly") in (True, "true", "True")
                orders.append([t_in, t_body, p.get("orderLinkId", ""), p.get("symbol", ""), reduce_only])
            else:
                leverage.append([t_in, t_body, p.get("symbol", "")])
        return {"minutes": self.minutes, "orders": orders, "leverage": leverage, "requests": self.requests}


def bench_hook(rec: Recorder):  # type: ignore[no-untyped-def]
    """An ``EmulatorConfig.app_hooks`` entry (after ``WsHub.hook``): the stamps above."""

    def hook(app: web.Application, state: EmulatorState) -> None:
        hub: WsHub = app[HUB]

        async def sender(c: Any) -> None:  # WsHub._sender without chaos (stall / latency: off here)
            while True:
                _queued, text = await c.out.get()
                if c.ws.closed:
                    return
                await c.ws.send_str(text)
                hub.sent += 1
                if text.startswith(KLINE1):
                    rec.frame_sent()

        hub._sender = sender  # type: ignore[method-assign]
        public = hub._public
        conns = hub.conns

        def listener(topic: str, data: list[dict[str, Any]]) -> None:
            if topic.startswith("kline.1."):
                rec.queued += sum(1 for c in conns if not c.private and topic in c.topics)
            public(topic, data)

        state.listeners[state.listeners.index(public)] = listener

        @web.middleware
        async def stamp(request: web.Request, handler: Any) -> web.StreamResponse:
            t_in = mono_ns()
            if request.path in WS_PATHS:  # a socket's whole life: not a request in flight
                return await handler(request)
            rec.in_flight += 1
            try:
                path = request.path
                if path in (ORDER_CREATE, SET_LEVERAGE):
                    body = await request.read()
                    rec.raw.append((path, t_in, mono_ns(), body))
                rec.requests[path] = rec.requests.get(path, 0) + 1
                return await handler(request)
            finally:
                rec.in_flight -= 1
                rec.last_request_ns = mono_ns()

        app.middlewares.append(stamp)

    return hook


def cpu_ns(pid: int) -> int:
    """CPU time used so far by every thread of process ``pid`` (ns, from /proc/<pid>/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


async def idle(rec: Recorder, pid: int, since_ns: int, quiet_ns: int, cpu_share: float) -> int:
    """Wait until the daemon is idle: no REST request in flight nor any for ``quiet_ns``, and the daemon process
    (``pid``, all threads) used at most ``cpu_share`` of a CPU over the last ``quiet_ns``. Polled every 5 ms
    from ``since_ns`` on. Returns how many polls it took."""
    await asyncio.sleep(max(0, since_ns - mono_ns()) / 1e9)
    history: deque[tuple[int, int]] = deque()
    polls = 0
    while True:
        polls += 1
        now, used = mono_ns(), cpu_ns(pid)
        history.append((now, used))
        while len(history) > 1 and history[1][0] <= now - quiet_ns:
            history.popleft()
        t_old, used_old = history[0]
        quiet = not rec.in_flight and now - rec.last_request_ns >= quiet_ns
        if quiet and now - t_old >= quiet_ns and used - used_old <= cpu_share * (now - t_old):
            return polls
        await asyncio.sleep(0.005)


async def drive(
    server: EmulatorServer, rec: Recorder, minutes: int, min_interval_s: float, quiet_ms: float, cpu_share: float
) -> None:
    state = server.state
    min_ns, quiet_ns = int(min_interval_s * 1e9), int(quiet_ms * 1e6)
    pid = os.getppid()  # the bench: the daemon runs in it
    last = 0
    for k in range(minutes):
        await idle(rec, pid, last + min_ns, quiet_ns, cpu_share)
        rec.first_sent_ns = 0
        rec.all_sent.clear()
        before = rec.queued
        last = t_adv = mono_ns()
        state.advance(1)
        frames = rec.queued - before
        if frames and rec.sent < rec.queued:
            await asyncio.wait_for(rec.all_sent.wait(), 60)
        rec.minutes.append((state.market_ts, t_adv, rec.first_sent_ns, rec.last_sent_ns, frames))
        if (k + 1) % 100 == 0:
            print(f"PROGRESS {k + 1}", flush=True)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--api-secret", required=True)
    ap.add_argument("--balance", default="10000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup-bars", type=int, default=600)
    args = ap.parse_args()
    logsetup.configure("json", "warning", stream=sys.stderr)
    path = default_instruments_path()  # as `omni emulator`: Bybit's listed instruments when present
    if path is not None:
        known = load_instruments(path)
        instruments = {s: known[s] for s in sorted(known)[: args.symbols]}
    else:
        instruments = generated_instruments(args.symbols, args.seed)
    rec = Recorder()
    config = EmulatorConfig(
        accounts=[AccountConfig(args.api_key, args.api_secret, balance=Decimal(args.balance))],
        instruments=instruments,
        seed=args.seed,
        symbols=args.symbols,
        warmup_bars=args.warmup_bars,
        bar_seconds=0,
        ip_limit=RAISED,
        uid_limits=dict.fromkeys(RAISED_PATHS, RAISED),
        app_hooks=[WsHub.hook, bench_hook(rec)],
        request_log=100,
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with EmulatorServer(config) as server:
        print(f"READY {server.url} {len(server.state.instruments)}", flush=True)
        while True:
            line = (await reader.readline()).decode().split()
            if not line or line[0] == "QUIT":
                break
            if line[0] == "RUN":
                minutes, min_interval, quiet, share = int(line[1]), float(line[2]), float(line[3]), float(line[4])
                await drive(server, rec, minutes, min_interval, quiet, share)
                args.out.write_text(json.dumps(rec.records()))
                print(f"DONE {len(rec.minutes)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

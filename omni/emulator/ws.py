"""The emulator's WebSocket side: /v5/public/linear and /v5/private, as pybit expects them.

- RFC 6455 pings are answered by aiohttp (``autoping``); text ``{"op":"ping"}`` gets Bybit's pong (public:
  ``ret_msg "pong"``; private: ``op "pong"`` with ``args``). Any other stray frame without a ``topic`` would
  kill pybit's socket, so the hub only ever sends acks, pongs and topic frames.
- Subscribe acks echo ``req_id``; topics are pushed exactly as subscribed (``order``, ``kline.1.BTCUSDT``).
- Public topics: ``kline.{1,3,5}.S``, ``tickers.S``, ``orderbook.{1,50,200}.S`` (a snapshot first, then deltas
  with ``u``/``seq`` that only delete levels that exist; depth 1 is snapshot-only, as on Bybit) and
  ``publicTrade.S`` (one trade per bar at its close, taker side from the bar's direction).
- Private sockets must ``auth`` first (signature over ``GET/realtime`` + expires, expiry in the future).
- Test hooks: ``drop_all()`` closes every socket (pybit sees a close and reconnects), ``stall(seconds)`` stops
  all pushes for a while (a silent, half-dead socket: queued frames, text pongs included, go out late; aiohttp
  still answers RFC 6455 protocol pings), ``private_gap(seconds)`` drops private topic frames for a while (never
  sent; pongs and acks still go out), ``inject(text)`` sends a raw frame to every socket. ``latency`` (a callable
  giving seconds) delays every frame by that much from when it was queued, keeping each socket's order.
  The chaos timers of ``server.py`` drive these hooks (see ``chaos.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from omni.emulator.auth import AuthFailure, check_ws
from omni.emulator.state import EmulatorState

PUBLIC_PATH = "/v5/public/linear"
PRIVATE_PATH = "/v5/private"
PRIVATE_TOPICS = frozenset({"order", "execution", "position", "wallet"})
#: where the hub lives on the aiohttp application
HUB: web.AppKey[WsHub] = web.AppKey("ws_hub")


class _Conn:
    def __init__(self, ws: web.WebSocketResponse, private: bool):
        self.ws = ws
        self.private = private
        self.conn_id = uuid.uuid4().hex[:20]
        self.topics: set[str] = set()
        self.key: str | None = None
        self.out: asyncio.Queue[tuple[float, str]] = asyncio.Queue()  # (monotonic time queued, frame)
        self.books: dict[str, tuple[dict[str, str], dict[str, str]]] = {}  # topic -> (bids, asks) last sent

    def push(self, text: str) -> None:
        self.out.put_nowait((time.monotonic(), text))


class WsHub:
    """All WebSocket connections of one emulator, fed by the state's listeners."""

    def __init__(self, state: EmulatorState):
        self.state = state
        self.conns: set[_Conn] = set()
        self.stalled_until = 0.0
        self.private_gap_until = 0.0
        #: seconds to delay each frame by (chaos latency); None: no delay
        self.latency: Callable[[], float] | None = None
        self.sent = 0
        self.skipped = 0  # private frames dropped by a private gap
        self._ids = itertools.count(1)
        self._seq = 0
        state.listeners.append(self._public)
        state.public_wanted = self.wants
        for key, account in state.accounts.items():
            account.listeners.append(self._private_for(key))

    @classmethod
    def hook(cls, app: web.Application, state: EmulatorState) -> None:
        """``EmulatorConfig.app_hooks`` entry: add the two socket routes to the app."""
        hub = cls(state)
        app[HUB] = hub
        app.router.add_get(PUBLIC_PATH, hub.public_handler)
        app.router.add_get(PRIVATE_PATH, hub.private_handler)
        app.on_shutdown.append(lambda _app: hub.close_all())

    def wants(self, key: str) -> bool:
        """Does a public socket subscribe ``key`` (a topic), or, given a bare symbol, its book or trades?"""
        if "." in key:
            return any(key in c.topics for c in self.conns if not c.private)
        suffix = "." + key
        return any(t.endswith(suffix) and not t.startswith("kline.") for c in self.conns if not c.private
                   for t in c.topics)  # fmt: skip

    # ------------------------------------------------------------ test hooks

    async def drop_all(self) -> None:
        """Close every socket from the server side (as a restart or a network blip would)."""
        for c in list(self.conns):
            with contextlib.suppress(Exception):
                await c.ws.close()

    def stall(self, seconds: float) -> None:
        """Push nothing (but keep the sockets open) for ``seconds``: a silently dead stream."""
        self.stalled_until = time.monotonic() + seconds

    def private_gap(self, seconds: float) -> None:
        """Drop (never send) private topic frames for ``seconds``; sockets stay up and still answer pings."""
        self.private_gap_until = max(self.private_gap_until, time.monotonic() + seconds)

    def inject(self, text: str) -> None:
        """Send a raw frame to every socket (malformed and unknown messages)."""
        for c in self.conns:
            c.push(text)

    async def close_all(self) -> None:
        await self.drop_all()

    # ------------------------------------------------------------ publishing

    def _public(self, topic: str, data: list[dict[str, Any]]) -> None:
        if not self.conns or topic in PRIVATE_TOPICS:
            return
        payload = data[0] if topic.startswith("tickers.") and data else data
        frame = None
        for c in self.conns:
            if not c.private and topic in c.topics:
                if frame is None:
                    msg = {"topic": topic, "type": "snapshot", "ts": self.state.now_ms(), "data": payload}
                    if topic.startswith("tickers."):
                        msg["cs"] = self.state.batches  # Bybit's cross sequence: grows with every update
                    frame = json.dumps(msg)
                c.push(frame)
        if topic.startswith("tickers."):  # once per symbol per bar: the book and the trade move with it
            self._book_and_trade(topic.split(".", 1)[1])

    def _book_and_trade(self, symbol: str) -> None:
        now = self.state.now_ms()
        self._seq += 1
        for c in self.conns:
            if c.private:
                continue
            for depth in (1, 50, 200):
                topic = f"orderbook.{depth}.{symbol}"
                if topic in c.topics:
                    c.push(self._book_frame(c, topic, symbol, depth, now))
            topic = f"publicTrade.{symbol}"
            if topic in c.topics:
                trade = self._trade(symbol, now)
                if trade is not None:
                    c.push(json.dumps({"topic": topic, "type": "snapshot", "ts": now, "data": [trade]}))

    def _book_frame(self, c: _Conn, topic: str, symbol: str, depth: int, now: int) -> str:
        bids_l, asks_l = self.state.book(symbol, depth)
        bids = {str(p): str(q) for p, q in bids_l}
        asks = {str(p): str(q) for p, q in asks_l}
        prev = c.books.get(topic)
        c.books[topic] = (bids, asks)
        u = self._seq
        if prev is None or depth == 1:
            data = {
                "s": symbol,
                "b": [[p, q] for p, q in bids.items()],
                "a": [[p, q] for p, q in asks.items()],
                "u": 1 if prev is None else u,
                "seq": u,
            }
            return json.dumps({"topic": topic, "type": "snapshot", "ts": now, "data": data, "cts": now})

        def diff(old: dict[str, str], new: dict[str, str]) -> list[list[str]]:
            out = [[p, "0"] for p in old if p not in new]  # only levels that exist are deleted
            out += [[p, q] for p, q in new.items() if old.get(p) != q]
            return out

        data = {"s": symbol, "b": diff(prev[0], bids), "a": diff(prev[1], asks), "u": u, "seq": u}
        return json.dumps({"topic": topic, "type": "delta", "ts": now, "data": data, "cts": now})

    def _trade(self, symbol: str, now: int) -> dict[str, Any] | None:
        bars = self.state.bars(symbol)
        if not bars:
            return None
        bar = bars[-1]
        inst = self.state.instruments[symbol]
        return {
            "T": now,
            "s": symbol,
            "S": "Buy" if bar.close >= bar.open else "Sell",
            "v": str(inst.min_qty),
            "p": str(inst.round_price(bar.close)),
            "L": "PlusTick" if bar.close >= bar.open else "MinusTick",
            "i": uuid.uuid4().hex,
            "BT": False,
            "seq": self._seq,
        }

    def _private_for(self, key: str):  # type: ignore[no-untyped-def]
        def listener(topic: str, data: list[dict[str, Any]]) -> None:
            if time.monotonic() < self.private_gap_until:
                self.skipped += sum(1 for c in self.conns if c.private and c.key == key and topic in c.topics)
                return
            frame = None
            for c in self.conns:
                if c.private and c.key == key and topic in c.topics:
                    if frame is None:
                        frame = json.dumps(
                            {
                                "id": f"{next(self._ids)}",
                                "topic": topic,
                                "creationTime": self.state.now_ms(),
                                "data": data,
                            }
                        )
                    c.push(frame)

        return listener

    async def _sender(self, c: _Conn) -> None:
        while True:
            queued, text = await c.out.get()
            delay = self.stalled_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.latency is not None:
                delay = queued + self.latency() - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if c.ws.closed:
                return
            await c.ws.send_str(text)
            self.sent += 1

    # ------------------------------------------------------------ handlers

    async def public_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, private=False)

    async def private_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, private=True)

    async def _serve(self, request: web.Request, private: bool) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        c = _Conn(ws, private)
        self.conns.add(c)
        sender = asyncio.create_task(self._sender(c))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                    if not isinstance(req, dict):
                        raise ValueError("not an object")
                except ValueError:
                    continue  # Bybit ignores garbage; never answer with a topic-less error pybit would choke on
                self._handle(c, req)
        finally:
            self.conns.discard(c)
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
        return ws

    def _handle(self, c: _Conn, req: dict[str, Any]) -> None:
        op = req.get("op")
        req_id = req.get("req_id") or ""
        if op == "ping":
            if c.private:
                c.push(
                    json.dumps(
                        {"req_id": req_id, "op": "pong", "args": [str(self.state.now_ms())], "conn_id": c.conn_id}
                    )
                )
            else:
                c.push(
                    json.dumps(
                        {"success": True, "ret_msg": "pong", "conn_id": c.conn_id, "req_id": req_id, "op": "ping"}
                    )
                )
        elif op == "auth" and c.private:
            secrets = {k: a.config.api_secret for k, a in self.state.accounts.items()}
            try:
                c.key = check_ws(req.get("args") or [], secrets, self.state.now_ms())
                reply: dict[str, Any] = {"success": True, "ret_msg": "", "op": "auth", "conn_id": c.conn_id}
            except AuthFailure as e:
                reply = {"success": False, "ret_msg": e.message, "op": "auth", "conn_id": c.conn_id, "retCode": e.code}
            c.push(json.dumps(reply))
        elif op in ("subscribe", "unsubscribe"):
            args = [a for a in (req.get("args") or []) if isinstance(a, str)]
            ok = bool(args) and (c.key is not None if c.private else True)
            if ok and op == "subscribe":
                c.topics.update(args)
            elif ok:
                c.topics.difference_update(args)
            c.push(
                json.dumps(
                    {
                        "success": ok,
                        "ret_msg": "" if ok else "subscribe failed",
                        "conn_id": c.conn_id,
                        "req_id": req_id,
                        "op": op,
                    }
                )
            )

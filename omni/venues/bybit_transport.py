"""pybit, tamed for asyncio: endpoints pointed anywhere without patching pybit, blocking calls off the loop,
WebSocket callbacks handed to the loop thread-safely, a watchdog that rebuilds dead sockets, and the mainnet
guard. Facts behind each choice: ../shared/docs/bybit-v5.md (sections 1, 2 and 6).

- REST: ``pybit.unified_trading.HTTP`` with ``endpoint`` set to the base URL (a public attribute read at every
  call); called through ``asyncio.to_thread`` under an asyncio-throttle limit.
- WebSocket: a ``WebSocket`` subclass whose ``_connect`` swaps in the base URL (survives pybit's own
  reconnects), in raw mode (``callback_function``) so pybit's order-book merge and subscribe-reply bugs never
  run; the callback only does ``loop.call_soon_threadsafe(queue.put_nowait, msg)`` inside ``try``, because an
  exception there kills pybit's socket for good.
- pybit's reconnect gives up silently: ``WsSupervisor`` watches pongs, acks and ``is_connected()`` (and
  message age on data sockets) and rebuilds the socket with backoff and jitter, then the venue resyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from pybit.unified_trading import HTTP, WebSocket

from omni.domain.errors import VenueFatal

#: The only hosts private (order, account) calls may reach without ``venue.allow_mainnet``: Bybit testnet, demo
#: trading, and this machine (the emulator). An allowlist: any other host (``api.bybit.com``, a trailing-dot
#: ``api.bybit.com.``, a regional mirror, a proxy) may be real money and is refused.
PAPER_REST_HOSTS = frozenset({"api-testnet.bybit.com", "api-demo.bybit.com", "api-demo-testnet.bybit.com"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

TESTNET_REST = "https://api-testnet.bybit.com"
DEMO_REST = "https://api-demo.bybit.com"
TESTNET_WS = "wss://stream-testnet.bybit.com"
MAINNET_WS = "wss://stream.bybit.com"  # public market data for demo trading comes from mainnet sockets
DEMO_WS = "wss://stream-demo.bybit.com"


def default_urls(venue: str) -> tuple[str, str, str]:
    """(REST base, public WS base, private WS base) for ``bybit-testnet`` or ``bybit-demo``."""
    if venue == "bybit-testnet":
        return TESTNET_REST, TESTNET_WS, TESTNET_WS
    if venue == "bybit-demo":
        return DEMO_REST, MAINNET_WS, DEMO_WS
    raise ValueError(f"not a Bybit venue: {venue!r}")


def check_not_mainnet(rest_url: str, allow_mainnet: bool = False) -> None:
    """Refuse private (order, account) traffic to any host but testnet, demo trading or loopback unless the user
    opted in explicitly with ``venue.allow_mainnet``."""
    parsed = urlparse(rest_url)
    host = (parsed.hostname or "").lower()
    paper = parsed.scheme in ("http", "https") and (host in PAPER_REST_HOSTS or host in LOOPBACK_HOSTS)
    if paper and parsed.scheme == "http" and host not in LOOPBACK_HOSTS:
        paper = False  # keys in clear text to a remote host: refuse as well
    if not paper and not allow_mainnet:
        raise VenueFatal(
            f"refusing private calls to {rest_url!r} (host {host or '?'}): it is not Bybit testnet "
            "(https://api-testnet.bybit.com), demo trading (https://api-demo.bybit.com) or this machine, so it may "
            "be Bybit MAINNET with real money. Set venue.allow_mainnet: true only if you really mean real money."
        )


class LocalHTTP(HTTP):
    """pybit's HTTP session with its base URL replaced (testnet, demo, or the local emulator)."""

    def __init__(self, base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.endpoint = base_url.rstrip("/")


class LocalWebSocket(WebSocket):
    """pybit's WebSocket connecting to ``ws_base`` + the channel's path (e.g. /v5/public/linear), with the
    liveness pybit hides from a raw callback (pongs never reach it) and no way for a message to kill it."""

    def __init__(self, ws_base: str, **kwargs: Any):
        self._omni_ws_base = ws_base.rstrip("/")
        self.last_pong = time.monotonic()  # RFC 6455 pong or Bybit's JSON pong, whichever came last
        self.last_message = time.monotonic()
        super().__init__(**kwargs)

    def _connect(self, url: str) -> None:  # pybit calls this on connect and on every reconnect
        path = urlparse(self.WS_URL).path  # "/v5/public/linear" or "/v5/private"
        self.last_pong = time.monotonic()
        super()._connect(self._omni_ws_base + path)

    def _is_custom_pong(self, message: Any) -> bool:  # pybit drops JSON pongs here, before the callback
        if isinstance(message, dict) and (message.get("ret_msg") == "pong" or message.get("op") == "pong"):
            self.last_pong = time.monotonic()
            return True
        return False

    def _on_pong(self) -> None:  # an RFC 6455 pong: the connection is alive even if no data flows
        self.last_pong = time.monotonic()
        with contextlib.suppress(Exception):
            super()._on_pong()

    def _on_message(self, message: Any) -> None:
        """pybit's version lets a JSON error escape (which kills the socket for good): never raise here."""
        try:
            parsed = json.loads(message)
        except (TypeError, ValueError):
            parsed = {"_malformed": str(message)[:300]}
        with contextlib.suppress(Exception):
            if not self._is_custom_pong(parsed):
                self.last_message = time.monotonic()
                self.callback(parsed)


class Inbox:
    """Raw socket messages handed from pybit's threads to the event loop, in arrival order per kind (account
    messages before market data).

    Private messages are never dropped. Public ones beyond ``max_public`` waiting are dropped and counted
    (``overflowed`` tells the venue to refill from REST), so a stalled consumer cannot eat the memory.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_public: int = 200_000):
        self.loop = loop
        self.private: deque[tuple[str, Any]] = deque()
        self.public: deque[tuple[str, Any]] = deque()
        #: messages from pybit's threads not yet sorted by the loop (deque appends are thread-safe)
        self.arrived: deque[tuple[str, Any]] = deque()
        self._drain_scheduled = False
        self.max_public = max_public
        self.overflowed = 0
        self.wake = asyncio.Event()
        #: tag -> handler of the socket's control frames (auth/subscribe acks): handled on arrival, not queued,
        #: so a reconnect is noticed even while the stream's consumer is busy
        self.control: dict[str, Callable[[dict[str, Any]], None]] = {}

    def callback(self, tag: str) -> Callable[[Any], None]:
        """A pybit callback for the socket ``tag``: it appends the message and wakes the loop only when no wake is
        pending, so a burst costs one wake-up, not one per message: each wake writes a byte to the loop's self-pipe,
        which a signal shares, and a full pipe (thousands of klines while the loop is busy) drops a Ctrl-C. It
        never raises into pybit."""
        loop, arrived = self.loop, self.arrived

        def cb(message: Any) -> None:
            arrived.append((tag, message))  # before the check: a drain that cleared the flag will see it
            if not self._drain_scheduled:
                self._drain_scheduled = True
                with contextlib.suppress(Exception):  # a closed loop at shutdown: nothing to hand over
                    loop.call_soon_threadsafe(self.drain)

        return cb

    def drain(self) -> None:
        """Sort what pybit's threads handed over into the queues (on the loop)."""
        self._drain_scheduled = False
        arrived, put = self.arrived, self.put
        while arrived:
            put(*arrived.popleft())

    def put(self, tag: str, message: Any) -> None:
        handler = self.control.get(tag)
        if handler is not None and isinstance(message, dict) and "topic" not in message and "op" in message:
            with contextlib.suppress(Exception):
                handler(message)
            return
        if tag.startswith("public"):
            if len(self.public) >= self.max_public:
                self.overflowed += 1
                return
            self.public.append((tag, message))
        else:
            self.private.append((tag, message))
        self.wake.set()

    @property
    def items(self) -> int:
        return len(self.private) + len(self.public)

    def pop(self) -> tuple[str, Any] | None:
        """The next message: account messages first (a fill is never queued behind thousands of klines)."""
        if self.private:
            return self.private.popleft()
        if self.public:
            return self.public.popleft()
        self.wake.clear()
        return None


def patch_pybit_clock(offset_ms: Callable[[], int]) -> None:
    """Make pybit sign HTTP requests and WebSocket auth with server time (local clock + measured offset).

    pybit reads ``_helpers.generate_timestamp`` at every call; Bybit refuses a timestamp more than 1 s ahead
    of its own clock whatever recv_window is (10002), so a fast local clock would fail every private call.
    """
    from pybit import _helpers

    def generate_timestamp() -> int:
        return int(time.time() * 1000) + offset_ms()

    _helpers.generate_timestamp = generate_timestamp


class WsSupervisor:
    """Owns one pybit socket: builds it off the loop, subscribes, and rebuilds it when it is dead.

    Dead means: pybit gave up (``exited``) or is disconnected, no pong (control or JSON) for ``pong_timeout_s``
    (liveness from the protocol: an idle private socket with no trades for hours answers pings and stays),
    a failed auth or subscribe ack, or, for a data socket, no message for ``max_silence_s`` (None: never).
    ``build`` creates a connected LocalWebSocket (blocking; run in a thread). ``subscribe(ws)`` subscribes it
    (blocking). ``on_reconnect`` is awaited after every rebuild and whenever the server's conn_id changes
    (pybit reconnected by itself); the venue resyncs there.
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], Any],
        subscribe: Callable[[Any], None],
        on_reconnect: Callable[[], Any],
        log: Any,
        max_silence_s: float | None = 90.0,
        pong_timeout_s: float = 60.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        ack_timeout_s: float = 10.0,
    ):
        self.name = name
        self.build = build
        self.subscribe = subscribe
        self.on_reconnect = on_reconnect
        self.log = log
        self.max_silence_s = max_silence_s
        self.pong_timeout_s = pong_timeout_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.ack_timeout_s = ack_timeout_s
        self.ws: Any = None
        self.last_message = time.monotonic()
        self.reconnects = 0
        self.conn_id: str | None = None
        self.awaiting_acks: set[str] = set()
        self._acked: set[str] = set()  # acks can arrive before subscribe() returns: remember them
        self.subscribed_at = time.monotonic()
        self.failed: str | None = None  # why the socket must be rebuilt (a refused auth or subscription)
        self._conn_changed = False

    def touch(self) -> None:
        self.last_message = time.monotonic()

    def on_control(self, msg: dict[str, Any]) -> None:
        """An auth/subscribe ack from this socket: check it, and notice a new server connection."""
        conn = msg.get("conn_id")
        if conn and self.conn_id is not None and conn != self.conn_id:
            self._conn_changed = True
        if conn:
            self.conn_id = conn
        op = msg.get("op")
        if op == "subscribe":
            self._acked.add(msg.get("req_id") or "")
            self.awaiting_acks.discard(msg.get("req_id") or "")
        if msg.get("success") is False and op in ("auth", "subscribe"):
            self.failed = f"{op} refused: {msg.get('ret_msg')}"

    async def connect(self) -> None:
        self.failed = None
        self.conn_id = None  # a new socket's first ack is not a reconnect
        self._acked = set()
        self.ws = await asyncio.to_thread(self.build)
        await asyncio.to_thread(self.subscribe, self.ws)
        self.awaiting_acks = set(getattr(self.ws, "subscriptions", {}) or {}) - self._acked
        self._conn_changed = False
        self.subscribed_at = time.monotonic()
        self.touch()

    def unhealthy(self) -> str | None:
        """Why the socket must be rebuilt, or None."""
        ws = self.ws
        if ws is None:
            return "no socket"
        if self.failed:
            return self.failed
        now = time.monotonic()
        try:
            if getattr(ws, "exited", False) or not ws.is_connected():
                return "disconnected"
        except Exception:
            return "disconnected"
        if now - getattr(ws, "last_pong", now) > self.pong_timeout_s:
            return f"no pong for {now - ws.last_pong:.0f}s"
        if self.awaiting_acks and now - self.subscribed_at > self.ack_timeout_s:
            return f"{len(self.awaiting_acks)} subscriptions not acknowledged"
        last = max(self.last_message, getattr(ws, "last_message", 0.0), self.subscribed_at)
        if self.max_silence_s is not None and now - last > self.max_silence_s:
            return f"no data for {now - last:.0f}s"
        return None

    def healthy(self) -> bool:
        return self.unhealthy() is None

    async def watch(self, stop: asyncio.Event, period_s: float = 0.5) -> None:
        """Run until ``stop``: check health every ``period_s``; rebuild with backoff and jitter when dead.
        A failed rebuild or resync is logged and retried; nothing escapes but cancellation."""
        delay = self.backoff_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period_s)
            if stop.is_set():
                return
            if self._conn_changed:  # pybit reconnected on its own: the gap still needs a resync
                self._conn_changed = False
                self.reconnects += 1
                self.log.warning("ws_reconnected", socket=self.name, reconnects=self.reconnects, by="pybit")
                await self._resync(stop)
            why = self.unhealthy()
            if why is None:
                delay = self.backoff_s
                continue
            self.log.warning("ws_unhealthy", socket=self.name, reason=why)
            await self.close()
            try:
                await self.connect()
            except Exception as e:  # server down: back off and try again
                wait = delay * (0.5 + random.random())
                self.log.warning("ws_reconnect_failed", socket=self.name, error=repr(e), retry_in_s=round(wait, 2))
                await self.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            self.reconnects += 1
            self.log.info("ws_reconnected", socket=self.name, reconnects=self.reconnects)
            delay = self.backoff_s
            await self._resync(stop)

    async def _resync(self, stop: asyncio.Event) -> None:
        delay = self.backoff_s
        while not stop.is_set():
            try:
                await self.on_reconnect()
                return
            except Exception as e:
                wait = delay * (0.5 + random.random())
                self.log.warning("resync_failed", socket=self.name, error=repr(e), retry_in_s=round(wait, 2))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                delay = min(delay * 2, self.max_backoff_s)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Close the socket; pybit's ``exit`` waits without a bound for its thread to let go of the socket, so
        give up after ``timeout_s`` (a leaked daemon thread beats a shutdown or a rebuild that hangs)."""
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(ws.exit), timeout_s)

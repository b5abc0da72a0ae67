"""pybit, tamed for asyncio: endpoints pointed anywhere without patching pybit, blocking calls off the loop,
WebSocket callbacks handed to the loop thread-safely, a watchdog that rebuilds dead sockets, and the mainnet
guard. Facts behind each choice: ../shared/docs/bybit-v5.md (sections 1, 2 and 6).

- REST: ``pybit.unified_trading.HTTP`` with ``endpoint`` set to the base URL (a public attribute read at every
  call); called through ``asyncio.to_thread`` under an asyncio-throttle limit.
- WebSocket: a ``WebSocket`` subclass whose ``_connect`` swaps in the base URL (survives pybit's own
  reconnects), in raw mode (``callback_function``) so pybit's order-book merge and subscribe-reply bugs never
  run; the callback only does ``loop.call_soon_threadsafe(queue.put_nowait, msg)`` inside ``try``, because an
  exception there kills pybit's socket for good.
- pybit's reconnect gives up silently: ``WsSupervisor`` watches message age and ``is_connected()`` and
  rebuilds the socket with exponential backoff, then tells the venue to resync by REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from pybit.unified_trading import HTTP, WebSocket

from omni.domain.errors import VenueFatal

#: Hosts where orders would be real money. Private calls there are refused unless explicitly allowed.
MAINNET_REST_HOSTS = frozenset(
    f"api.{d}.{t}" for d in ("bybit", "bytick", "bybit-tr") for t in ("com", "nl", "com.hk", "kz", "eu")
)

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
    """Refuse private (order, account) traffic to a mainnet host unless the user opted in explicitly."""
    host = (urlparse(rest_url).hostname or "").lower()
    if host in MAINNET_REST_HOSTS and not allow_mainnet:
        raise VenueFatal(
            f"refusing to trade on Bybit MAINNET ({host}): OMNI paper-trades on testnet "
            "(api-testnet.bybit.com) or demo trading (api-demo.bybit.com). Set venue.allow_mainnet only if you "
            "really mean real money."
        )


class LocalHTTP(HTTP):
    """pybit's HTTP session with its base URL replaced (testnet, demo, or the local emulator)."""

    def __init__(self, base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.endpoint = base_url.rstrip("/")


class LocalWebSocket(WebSocket):
    """pybit's WebSocket connecting to ``ws_base`` + the channel's path (e.g. /v5/public/linear)."""

    def __init__(self, ws_base: str, **kwargs: Any):
        self._omni_ws_base = ws_base.rstrip("/")
        super().__init__(**kwargs)

    def _connect(self, url: str) -> None:  # pybit calls this on connect and on every reconnect
        path = urlparse(self.WS_URL).path  # "/v5/public/linear" or "/v5/private"
        super()._connect(self._omni_ws_base + path)


def threadsafe_enqueue(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], tag: str) -> Callable[[Any], None]:
    """A pybit callback that only hands the message to the event loop; it never raises into pybit."""

    def callback(message: Any) -> None:
        # a closed loop during shutdown: drop the message; never let an exception reach pybit's thread
        with contextlib.suppress(Exception):
            loop.call_soon_threadsafe(queue.put_nowait, (tag, time.monotonic(), message))

    return callback


class WsSupervisor:
    """Owns one pybit socket: builds it off the loop, subscribes, and rebuilds it when it goes quiet or dies.

    ``build`` creates a connected LocalWebSocket (blocking; run in a thread). ``subscribe(ws)`` subscribes it
    (blocking). ``on_reconnect`` is awaited after every rebuild (the venue resyncs by REST there).
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], Any],
        subscribe: Callable[[Any], None],
        on_reconnect: Callable[[], Any],
        log: Any,
        max_silence_s: float = 30.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ):
        self.name = name
        self.build = build
        self.subscribe = subscribe
        self.on_reconnect = on_reconnect
        self.log = log
        self.max_silence_s = max_silence_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.ws: Any = None
        self.last_message = time.monotonic()
        self.reconnects = 0

    def touch(self) -> None:
        self.last_message = time.monotonic()

    async def connect(self) -> None:
        self.ws = await asyncio.to_thread(self.build)
        await asyncio.to_thread(self.subscribe, self.ws)
        self.touch()

    def healthy(self) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            connected = bool(ws.is_connected())
        except Exception:
            connected = False
        return connected and time.monotonic() - self.last_message < self.max_silence_s

    async def watch(self, stop: asyncio.Event, period_s: float = 0.5) -> None:
        """Run until ``stop``: check health every ``period_s``; rebuild with backoff when unhealthy."""
        delay = self.backoff_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period_s)
            if stop.is_set() or self.healthy():
                delay = self.backoff_s
                continue
            self.log.warning("ws_unhealthy", socket=self.name, silence_s=round(time.monotonic() - self.last_message, 1))
            await self.close()
            try:
                await self.connect()
            except Exception as e:  # server down: back off and try again
                self.log.warning("ws_reconnect_failed", socket=self.name, error=repr(e), retry_in_s=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            self.reconnects += 1
            self.log.info("ws_reconnected", socket=self.name, reconnects=self.reconnects)
            delay = self.backoff_s
            await self.on_reconnect()

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(ws.exit)

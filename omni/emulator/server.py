"""The emulator's HTTP front: an aiohttp app on 127.0.0.1 that answers like Bybit V5 REST.

Per request, in Bybit's order: the per-IP budget (600 requests / 5 s, else HTTP 403), authentication of private
endpoints (``auth.py``), the per-UID rolling 1 s limit of the endpoint (retCode 10006 "Too many visits!"),
then the endpoint (``rest.py``). Replies use Bybit's envelope with HTTP 200 for business errors; private replies
carry ``X-Bapi-Limit``, ``X-Bapi-Limit-Status`` and ``X-Bapi-Limit-Reset-Timestamp`` (now, or the future reset
when exceeded: pybit sleeps until then and would crash on a past one).

Market pacing: after ``warmup_bars`` bars fed at start, a background task feeds one 1m bar every ``bar_seconds``
wall seconds (``speed`` = 60 / ``bar_seconds``: 1 is real time, 60 an hour a minute), on a fixed schedule (the
time ``advance`` takes does not add up); a market that cannot keep up drops the backlog rather than starve the
server, and says so once (``emulator_market_behind``). At real speed with the market's clock on the wall clock
(the default start) each bar closes on the wall clock's minute, as on Bybit. After the warm-up the market's time
is ``start_ms`` (default: now) floored to the minute; its first bar opened ``warmup_bars`` minutes earlier. See
``state.py`` for market time (every record) versus server time (signatures, rate limits, ``/v5/market/time``).

State file (``state_path``, see ``persist.py``): loaded at start when it exists (no warm-up then: the market
resumes where it stopped), written every ``state_every_s`` seconds and at ``stop``.

Chaos (``EmulatorConfig.chaos``, all off by default, see ``chaos.py``): timer faults run as tasks started in
``start`` and cancelled in ``stop`` (only those switched on); per-request faults are applied here: ``rest_fail``
after the IP budget (the request is not applied), ``rate_limit`` windows after authentication, ``reply_lost``
after a successful order create (the order stands, the connection is closed without a reply), ``latency`` on
every reply. ``EmulatorServer.requests`` records a lost reply with ``http_status`` 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from omni.clock import LiveClock
from omni.domain.market import MINUTE_MS
from omni.emulator import auth, persist, rest
from omni.emulator.chaos import Chaos, chaos_event
from omni.emulator.settings import AppHook, EmulatorConfig, Served, Window, build_market, set_start_prices
from omni.emulator.state import EmulatorState, StateError
from omni.emulator.ws import HUB, WsHub
from omni.venues.bybit_codec import CodecError
from omni.venues.bybit_codec_account import Transaction

__all__ = ["AppHook", "EmulatorConfig", "EmulatorServer", "Served", "build_market", "set_start_prices"]

log = structlog.get_logger(__name__)

RATE_LIMITED = 10006
RATE_LIMITED_MSG = "Too many visits!"
IP_LIMITED_TEXT = "access too frequent"
SERVER_ERROR = 10016
SERVER_ERROR_MSG = "Internal System Error."
ORDER_CREATE = "/v5/order/create"
#: a 10006 reset time is never closer than this (ms): pybit computes ``reset - its now`` and crashes when < 0
MIN_RESET_AHEAD_MS = 50
UID_WINDOW_MS = 1000

RET_CODE = web.ResponseKey("ret_code", int)


class EmulatorServer:
    """``async with EmulatorServer(config) as server:`` serves ``server.url`` until the block ends."""

    def __init__(self, config: EmulatorConfig):
        if not config.accounts or not all(a.api_key and a.api_secret for a in config.accounts):
            raise ValueError("the emulator refuses to start without an API key pair (api_key and api_secret)")
        self.config = config
        clock = config.clock or LiveClock()
        saved = None
        if config.state_path is not None and Path(config.state_path).exists():
            saved = persist.read(config.state_path)
        instruments, market, self.market_source = build_market(config, clock.now_ms(), saved and saved["market"])
        self.state = EmulatorState(
            instruments, market, config.accounts, clock=clock,
            history_bars=config.history_bars, kline_intervals=config.kline_intervals,
        )  # fmt: skip
        #: True when the state came from ``state_path`` (no warm-up: the market resumes where it was saved)
        self.restored = saved is not None
        if saved is not None:
            persist.restore(self.state, saved)
            log.info("emulator_state_loaded", path=str(config.state_path), market_ts=self.state.market_ts,
                     batches=self.state.batches)  # fmt: skip
        self._saver: asyncio.Task | None = None
        #: market batches the pacing dropped because ``advance`` could not keep up
        self.behind = 0
        self.port = 0
        self.requests: deque[Served] = deque(maxlen=config.request_log)
        self._ip: dict[str, Window] = {}
        self._uid: dict[tuple[str, str], Window] = {}
        self._fail: deque[tuple[int, int | None]] = deque()
        self._drop = 0
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task | None = None
        self.chaos = Chaos(config.chaos)
        self.chaos_tasks: list[asyncio.Task] = []
        self._rate_limited_until = 0.0  # time.monotonic() end of a chaos rate-limit window
        if config.chaos.cancel_market_rate > 0:
            rate = config.chaos.cancel_market_rate
            self.state.cancel_market_roll = lambda: self.chaos.roll("cancel_market", rate)

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def app(self) -> web.Application:
        """The running aiohttp application (after ``start``)."""
        assert self._runner is not None, "server not started"
        return self._runner.app

    def fail_next(self, n: int = 1, status: int = 500, ret_code: int | None = None) -> None:
        """Answer the next ``n`` requests with HTTP ``status``, or with HTTP 200 and ``ret_code`` if given (a 10006
        carries ``X-Bapi-Limit-*`` headers, its reset timestamp ``MIN_RESET_AHEAD_MS`` ahead); not applied."""
        self._fail.extend([(status, ret_code)] * n)

    def drop_next(self, n: int = 1) -> None:
        """Test hook: the next ``n`` REST requests are not applied nor answered: the connection is closed without
        a reply (pybit raises ``requests.ConnectionError``); ``requests`` records each with ``http_status`` 0."""
        self._drop += n

    def transfer(self, amount: Decimal, api_key: str | None = None) -> Transaction:
        """Test hook: move ``amount`` USDT into (> 0, a top-up) or out of (< 0) an account's wallet (default: the
        first account): books a TRANSFER_IN / TRANSFER_OUT row and pushes ``wallet`` on the private stream."""
        return self.state.transfer(api_key or self.config.accounts[0].api_key, amount)

    def cancel_next_market_orders(self, n: int = 1) -> None:
        """The next ``n`` market orders (not reduce-only) are accepted, then cancelled unfilled by the exchange."""
        self.state.cancel_next_market_orders(n)

    @property
    def hub(self) -> WsHub | None:
        """The WebSocket hub, if ``WsHub.hook`` is among the app hooks (after ``start``)."""
        return self._runner.app.get(HUB) if self._runner is not None else None

    def build_app(self) -> web.Application:
        app = web.Application()
        for (method, path), (handler, private) in rest.ROUTES.items():
            app.router.add_route(method, path, self._endpoint(handler, private))
        for hook in self.config.app_hooks:
            hook(app, self.state)
        return app

    @property
    def speed(self) -> float:
        """Market minutes per wall minute (60 / ``bar_seconds``; 0 when the market does not run by itself)."""
        return 60.0 / self.config.bar_seconds if self.config.bar_seconds > 0 else 0.0

    def save_state(self) -> dict[str, Any] | None:
        """Write the state file now (when there is one); returns the document written."""
        if self.config.state_path is None:
            return None
        doc = persist.snapshot(self.state, self.market_source)
        persist.write(self.config.state_path, doc)
        return doc

    async def _save_loop(self) -> None:
        path = self.config.state_path
        assert path is not None
        while True:
            await asyncio.sleep(self.config.state_every_s)
            try:
                doc = persist.snapshot(self.state, self.market_source)
                await asyncio.to_thread(persist.write, path, doc)
            except Exception:  # a full disk must not stop the exchange; the next write tries again
                log.exception("emulator_state_write_failed", path=str(path))

    async def start(self) -> None:
        if self.config.warmup_bars > 0 and not self.restored:
            self.state.advance(self.config.warmup_bars)
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.config.bar_seconds > 0:
            self._task = asyncio.create_task(self._run_market(), name="emulator-market")
        self._start_chaos()
        if self.config.state_path is not None and self.config.state_every_s > 0:
            self._saver = asyncio.create_task(self._save_loop(), name="emulator-state")
        log.info("emulator_started", url=self.url, symbols=len(self.state.instruments), market_ts=self.state.market_ts,
                 speed=self.speed)  # fmt: skip

    async def stop(self) -> None:
        for task in self.chaos_tasks:
            task.cancel()
        for task in self.chaos_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.chaos_tasks = []
        for name in ("_task", "_saver"):
            task = getattr(self, name)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                setattr(self, name, None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            try:
                self.save_state()
            except Exception:
                log.exception("emulator_state_write_failed", path=str(self.config.state_path))

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run_market(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.config.bar_seconds
        first = period
        lag_ms = self.state.now_ms() - self.state.market_ts
        if abs(period - 60.0) < 1e-9 and 0 <= lag_ms < MINUTE_MS:  # real time, market on the wall clock
            first = period - lag_ms / 1000
        due = loop.time() + first
        while not self.state.exhausted:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                self.state.advance(1)
            except Exception:  # an emulator bug: say so loudly, stop the market, keep answering requests
                log.exception("emulator_market_failed", market_ts=self.state.market_ts)
                return
            due += period
            late = loop.time() - due
            if late > period:  # cannot keep up: drop the backlog instead of starving the server
                if not self.behind:
                    log.warning("emulator_market_behind", bar_seconds=period, late_s=round(late, 3))
                self.behind += int(late // period)
                due = loop.time() + period
        log.info("emulator_market_exhausted", market_ts=self.state.market_ts)

    # ------------------------------------------------------------ chaos

    def _start_chaos(self) -> None:
        cfg = self.config.chaos
        hub = self.hub
        if cfg.latency_ms > 0:
            if hub is not None:
                hub.latency = self.chaos.latency_s
            chaos_event("latency", ms=cfg.latency_ms, jitter="0.5x..1.5x", continuous=True)
        for kind, every in cfg.timers.items():
            if kind != "rate_limit" and hub is None:
                log.warning("chaos_needs_websocket", kind=kind)
                continue
            self.chaos_tasks.append(asyncio.create_task(self._chaos_timer(kind, every), name=f"emulator-chaos-{kind}"))

    async def _chaos_timer(self, kind: str, every: float) -> None:
        for wait in self.chaos.schedule(kind, every):
            await asyncio.sleep(wait)
            try:
                await self.fire(kind)
            except Exception:  # a bug in a fault must not end the faults (nor the server)
                log.exception("emulator_chaos_failed", kind=kind)

    async def fire(self, kind: str) -> None:
        """Fire one timer fault now (what the chaos timers call; tests may call it directly)."""
        cfg, hub = self.config.chaos, self.hub
        if kind == "rate_limit":
            self._rate_limited_until = time.monotonic() + cfg.rate_limit_seconds
            chaos_event(kind, seconds=cfg.rate_limit_seconds)
            return
        if hub is None:
            raise ValueError(f"chaos {kind} needs the WebSocket hub (WsHub.hook)")
        if kind == "ws_drop":
            chaos_event(kind, sockets=len(hub.conns))
            await hub.drop_all()
        elif kind == "ws_stall":
            chaos_event(kind, seconds=cfg.ws_stall_seconds, sockets=len(hub.conns))
            hub.stall(cfg.ws_stall_seconds)
        elif kind == "private_gap":
            chaos_event(kind, seconds=cfg.private_gap_seconds, sockets=sum(c.private for c in hub.conns))
            hub.private_gap(cfg.private_gap_seconds)
        else:
            raise ValueError(f"not a timer fault: {kind}")

    # ------------------------------------------------------------ the request path

    def _endpoint(self, handler: rest.Handler, private: bool) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.StreamResponse:
            if self._drop > 0:
                self._drop -= 1
                self.requests.append(Served(request.method, request.path, 0, None, self.state.now_ms(), {}))
                return self._abort(request)
            response = await self._serve(request, handler, private)
            delay = self.chaos.latency_s()
            if delay > 0:
                await asyncio.sleep(delay)
            rate = self.config.chaos.reply_lost_rate
            if request.path == ORDER_CREATE and response.get(RET_CODE) == 0 and self.chaos.roll("reply_lost", rate):
                self.requests.append(Served(request.method, request.path, 0, 0, self.state.now_ms(), {}))
                result = self._json(response.body if isinstance(response, web.Response) else None).get("result")
                chaos_event("reply_lost", path=request.path, order_id=(result or {}).get("orderId", ""),
                            order_link_id=self._json(await request.read()).get("orderLinkId", ""))  # fmt: skip
                return self._abort(request)
            self.requests.append(Served(request.method, request.path, response.status, response.get(RET_CODE),
                                        self.state.now_ms(), dict(response.headers)))  # fmt: skip
            return response

        return serve

    async def _serve(self, request: web.Request, handler: rest.Handler, private: bool) -> web.Response:
        state = self.state
        now = state.now_ms()
        ip = request.remote or "?"
        window = self._ip.setdefault(ip, Window(self.config.ip_limit, self.config.ip_window_ms))
        if not window.hit(now)[0]:
            return web.Response(status=403, text=IP_LIMITED_TEXT)
        if self._fail:
            status, ret_code = self._fail.popleft()
            if ret_code is None:
                return web.Response(status=status, text="injected failure")
            if ret_code == RATE_LIMITED:  # pybit sleeps until the reset timestamp: it must lie ahead
                limit = self.config.uid_limits.get(request.path, rest.UID_LIMITS.get(request.path, 50))
                headers = {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": "0",
                           "X-Bapi-Limit-Reset-Timestamp": str(now + MIN_RESET_AHEAD_MS)}  # fmt: skip
                return self._reply(now, None, ret_code, RATE_LIMITED_MSG, headers)
            return self._reply(now, None, ret_code, "injected failure")
        if self.chaos.roll("rest_fail", self.config.chaos.rest_fail_rate):
            if self.chaos.coin("rest_fail"):
                chaos_event("rest_fail", path=request.path, http_status=503)
                return web.Response(status=503, text="503 Service Temporarily Unavailable")
            chaos_event("rest_fail", path=request.path, ret_code=SERVER_ERROR)
            return self._reply(now, None, SERVER_ERROR, SERVER_ERROR_MSG)
        body = await request.read()
        headers: dict[str, str] = {}
        key = ""
        if private:
            payload = auth.rest_payload(request.method, request.rel_url.raw_query_string, body)
            try:
                key = auth.check_rest(request.headers, payload, state.secrets, now)
            except auth.AuthFailure as e:
                return self._reply(now, None, e.code, e.message, status=e.http_status)
            limit = self.config.uid_limits.get(request.path, rest.UID_LIMITS.get(request.path, 50))
            left = self._rate_limited_until - time.monotonic()
            if left > 0:  # a chaos rate-limit window: refused until its end, which the reset timestamp says
                reset = now + max(math.ceil(left * 1000), MIN_RESET_AHEAD_MS)
                headers = {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": "0",
                           "X-Bapi-Limit-Reset-Timestamp": str(reset)}  # fmt: skip
                return self._reply(now, None, RATE_LIMITED, RATE_LIMITED_MSG, headers)
            span = rest.UID_WINDOWS_MS.get(request.path, UID_WINDOW_MS)
            uid = self._uid.setdefault((key, request.path), Window(limit, span))
            allowed, remaining, reset = uid.hit(now)
            if not allowed:
                reset = max(reset, now + MIN_RESET_AHEAD_MS)
            headers = {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": str(remaining),
                       "X-Bapi-Limit-Reset-Timestamp": str(reset)}  # fmt: skip
            if not allowed:
                return self._reply(now, None, RATE_LIMITED, RATE_LIMITED_MSG, headers)
        try:
            params = self._params(request, body)
            result = handler(state, params, key)
        except (rest.ApiError, StateError, CodecError) as e:
            return self._reply(now, getattr(e, "result", None), e.code, e.message, headers)
        except Exception:  # a bug in the emulator: answer like Bybit's internal error, keep serving
            log.exception("emulator_endpoint_failed", path=request.path)
            return self._reply(now, None, SERVER_ERROR, SERVER_ERROR_MSG, headers)
        return self._reply(now, result, 0, rest.SUCCESS_MSG.get(request.path, "OK"), headers)

    @staticmethod
    def _json(body: Any) -> dict[str, Any]:
        """A JSON object body, or {} (for log details only)."""
        try:
            value = json.loads(body)
        except (TypeError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    @staticmethod
    def _abort(request: web.Request) -> web.StreamResponse:
        """Hang up without a reply: requests (pybit) raises ConnectionError ("Remote end closed connection without
        response"). The response returned is never written: aiohttp drops writes to a closed transport quietly."""
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=499, text="reply lost")

    @staticmethod
    def _params(request: web.Request, body: bytes) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        if not body.strip():
            return {}
        try:
            params = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise rest.ApiError(rest.PARAM_ERROR, "params error: request body is not JSON") from None
        if not isinstance(params, dict):
            raise rest.ApiError(rest.PARAM_ERROR, "params error: request body must be a JSON object")
        return params

    @staticmethod
    def _reply(
        now: int, result: dict[str, Any] | None, code: int, message: str,
        headers: dict[str, str] | None = None, status: int = 200,
    ) -> web.Response:  # fmt: skip
        body = {"retCode": code, "retMsg": message, "result": result or {}, "retExtInfo": {}, "time": now}
        extra = {"Ret_code": str(code), "Traceid": uuid.uuid4().hex, "Timenow": str(now), **(headers or {})}
        response = web.json_response(body, status=status, headers=extra)
        response[RET_CODE] = code
        return response

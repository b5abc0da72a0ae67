"""Opt-in Prometheus metrics and a health endpoint, on 127.0.0.1 (``telemetry.metrics_port``).

``/metrics``: the brief's six metrics plus equity, fees, funding, drawdown, orders, rejects, decisions by
verdict and reason, WebSocket reconnects and event-loop lag. ``/health``: 200 while the event loop keeps up and
the market task is alive, 503 otherwise (Docker's HEALTHCHECK uses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class MetricsServer:
    def __init__(self, asm: Any, host: str, port: int, max_lag_s: float = 5.0):
        self.asm = asm
        self.host = host
        self.port = port
        self.max_lag_s = max_lag_s
        self.lag_s = 0.0
        self.registry = CollectorRegistry()
        r = self.registry
        self.g = {
            name: Gauge(f"omni_{name}", help_, registry=r)
            for name, help_ in (
                ("capital_usdt", "Wallet balance (cash), USDT"),
                ("equity_usdt", "Balance plus unrealised PnL, USDT"),
                ("total_profit_usdt", "Capital minus starting capital, USDT"),
                ("trades_today", "Entries today (UTC)"),
                ("active_trades", "Open positions"),
                ("avg_profit_per_trade_usdt", "Average net PnL per closed trade, USDT"),
                ("success_rate", "Closed trades with a positive net PnL / closed trades"),
                ("fees_paid_usdt", "Trading fees paid, USDT"),
                ("funding_paid_usdt", "Funding paid (negative: received), USDT"),
                ("max_drawdown_usdt", "Largest drop from peak equity, USDT"),
                ("orders_total", "Orders accepted by the venue"),
                ("rejects_total", "Orders rejected by the venue"),
                ("ws_reconnects_total", "WebSocket rebuilds by the watchdog"),
                ("loop_lag_seconds", "Event-loop lag measured by the metrics task"),
                ("kill_switch", "1 when the kill switch is tripped"),
            )
        }
        self.decisions = Gauge("omni_decisions", "Decisions by verdict and reason", ["verdict", "reason"], registry=r)
        self._runner: web.AppRunner | None = None

    def update(self) -> None:
        asm = self.asm
        m = asm.portfolio.metrics()
        venue = asm.venue
        g = self.g
        g["capital_usdt"].set(float(venue.balance()))
        g["equity_usdt"].set(float(venue.equity()))
        g["total_profit_usdt"].set(float(venue.balance() - asm.portfolio.capital_start - asm.portfolio.net_transfers))
        g["trades_today"].set(m["trades_today"])
        g["active_trades"].set(m["active_trades"])
        g["avg_profit_per_trade_usdt"].set(float(m["avg_profit_per_trade"]))
        g["success_rate"].set(m["success_rate"] or 0.0)
        g["fees_paid_usdt"].set(float(m["fees_paid"]))
        g["funding_paid_usdt"].set(float(m["funding_paid"]))
        g["max_drawdown_usdt"].set(float(m["max_drawdown"]))
        g["orders_total"].set(asm.telemetry.orders)
        g["rejects_total"].set(asm.telemetry.rejects)
        socks = [getattr(venue, "public", None), getattr(venue, "private", None)]
        g["ws_reconnects_total"].set(sum(s.reconnects for s in socks if s is not None))
        g["loop_lag_seconds"].set(self.lag_s)
        g["kill_switch"].set(1 if asm.guard.kill_switch else 0)
        for key, n in asm.telemetry.decisions.items():
            verdict, _, reason = key.partition(":")
            self.decisions.labels(verdict=verdict, reason=reason or "ok").set(n)

    async def _metrics(self, _: web.Request) -> web.Response:
        self.update()
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, _: web.Request) -> web.Response:
        ok = self.lag_s < self.max_lag_s and not self.asm.trader.finished
        body = {
            "status": "ok" if ok else "unhealthy",
            "loop_lag_s": round(self.lag_s, 4),
            "market_ts": self.asm.venue.now_ms(),
            "kill_switch": self.asm.guard.kill_switch,
        }
        return web.json_response(body, status=200 if ok else 503)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1] if self.port == 0 else self.port

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; measure the event-loop lag twice a second."""
        await self.start()
        try:
            while not stop.is_set():
                t0 = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                self.lag_s = max(0.0, time.monotonic() - t0 - 0.5) if not stop.is_set() else self.lag_s
        finally:
            if self._runner is not None:
                await self._runner.cleanup()

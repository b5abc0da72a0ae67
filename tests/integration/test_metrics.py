"""Opt-in Prometheus metrics and the health endpoint, on a running daemon (in-process)."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request

from structlog.testing import capture_logs

from omni.config import load_config
from omni.engine.assembly import assemble
from omni.engine.supervisor import Supervisor
from omni.logsetup import get
from tests.integration.conftest import ACTIVE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_and_health_while_the_daemon_runs(tmp_path):
    port = free_port()
    cfg = load_config(
        None,
        env={
            "OMNI_MARKET__SYMBOLS": "20",
            "OMNI_MARKET__SPEED": "3000",
            "OMNI_ENGINE__STATE_DIR": str(tmp_path),
            "OMNI_TELEMETRY__METRICS_PORT": str(port),
            **ACTIVE,
        },
    )
    asm = assemble(cfg, get("t"), duration_s=6 * 3600)
    sup = Supervisor(asm, get("t"))
    seen: dict = {}

    async def main():
        async def probe():
            for _ in range(100):
                await asyncio.sleep(0.1)
                if asm.telemetry.orders and sup.metrics is not None:
                    break
            seen["metrics"] = await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/metrics")
            seen["health"] = await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/health")
            sup.request_stop()

        with capture_logs():
            task = asyncio.create_task(probe())
            code = await sup.run()
            await task
        return code

    assert asyncio.run(main()) == 0
    status, text = seen["metrics"]
    assert status == 200
    for name in (
        "omni_capital_usdt",
        "omni_total_profit_usdt",
        "omni_trades_today",
        "omni_active_trades",
        "omni_avg_profit_per_trade_usdt",
        "omni_success_rate",
        "omni_orders_total",
        "omni_rejects_total",
        "omni_ws_reconnects_total",
        "omni_loop_lag_seconds",
        'omni_decisions{reason="ok",verdict="approved"}',
    ):
        assert name in text, name
    status, body = seen["health"]
    assert status == 200 and json.loads(body)["status"] == "ok"

"""The supervisor in-process: crash restarts, giving up cleanly, signals, kill switch, shutdown modes."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from omni.config import load_config
from omni.engine import supervisor as supervisor_mod
from omni.engine.assembly import assemble
from omni.engine.supervisor import Supervisor
from omni.logsetup import get
from tests.integration.conftest import ACTIVE


def make(tmp_path, duration_s=6 * 3600, **env):
    base = {
        "OMNI_MARKET__SYMBOLS": "20",
        "OMNI_MARKET__SPEED": "max",
        "OMNI_ENGINE__RESTART_BACKOFF_S": "0.01",
        "OMNI_TELEMETRY__SUMMARY_INTERVAL_S": "0.2",
    }
    base.update(ACTIVE)
    base["OMNI_ENGINE__STATE_DIR"] = str(tmp_path / "state")
    base.update(env)
    cfg = load_config(None, env=base)
    asm = assemble(cfg, get("test"), duration_s=duration_s)
    return asm, Supervisor(asm, get("test"), tmp_path / "summary.json")


def test_crashed_market_task_is_restarted_and_the_run_completes(tmp_path):
    asm, sup = make(tmp_path)
    real_run = asm.trader.run
    calls = {"n": 0}

    async def flaky(stop):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("boom")
        await real_run(stop)

    asm.trader.run = flaky
    with capture_logs() as logs:
        code = asyncio.run(sup.run())
    assert code == 0
    assert calls["n"] == 3
    crashes = [e for e in logs if e["event"] == "task_crashed"]
    assert [c["attempt"] for c in crashes] == [1, 2] and all(c["task"] == "market" for c in crashes)
    assert asm.trader.finished


def test_task_that_keeps_crashing_stops_the_daemon_cleanly(tmp_path):
    asm, sup = make(tmp_path, OMNI_ENGINE__MAX_TASK_RESTARTS="2")

    async def always(stop):
        raise RuntimeError("always")

    asm.trader.run = always
    with capture_logs() as logs:
        code = asyncio.run(sup.run())
    assert code == 1
    assert [e["task"] for e in logs if e["event"] == "task_gave_up"] == ["market"]
    assert len([e for e in logs if e["event"] == "task_crashed"]) == 2
    assert any(e["event"] == "final_summary" for e in logs)
    assert (tmp_path / "summary.json").exists()


def test_first_signal_stops_gracefully_second_exits_at_once(tmp_path, monkeypatch):
    asm, sup = make(tmp_path)
    exits = []
    monkeypatch.setattr(supervisor_mod.os, "_exit", lambda code: exits.append(code))
    clock = iter([10.0, 10.0 + supervisor_mod.REPEAT_SIGNAL_S])  # the second a full second later: not a repeat
    monkeypatch.setattr(supervisor_mod, "monotonic", lambda: next(clock))
    with capture_logs():
        sup._on_signal(signal.SIGINT)
        assert sup.stop.is_set() and not asm.pipeline.entries_enabled and exits == []
        sup._on_signal(signal.SIGINT)
    assert exits == [130]


def test_kill_switch_flattens_and_blocks_new_entries(tmp_path):
    # a tight drawdown limit (2 % of 12 USDT) trips the switch on the first losses
    asm, sup = make(
        tmp_path,
        OMNI_RISK__MAX_DRAWDOWN_PCT="2",
        OMNI_RISK__MAX_LOSS_PER_TRADE_USDT="0.2",
        OMNI_TARGETS__MIN_NET_PROFIT_USDT="0.1",
    )
    with capture_logs() as logs:
        code = asyncio.run(sup.run())
    assert code == 0
    assert asm.guard.kill_switch is not None and asm.guard.kill_switch.startswith("max_drawdown")
    trip = next(i for i, e in enumerate(logs) if e["event"] == "kill_switch")
    after = logs[trip + 1 :]
    entries_after = [e for e in after if e["event"] == "order" and not e["reduce_only"]]
    assert entries_after == []  # only closes reach the venue once the switch tripped
    assert asm.portfolio.positions == {}  # flattened at the trip
    late = [e for e in after if e["event"] == "decision" and e["ts"] > logs[trip - 1].get("ts", 0)]
    assert not [e for e in late if e["verdict"] == "approved"]


def test_close_on_shutdown_leaves_no_position(tmp_path):
    asm, sup = make(tmp_path, OMNI_RISK__MAX_DAILY_LOSS_USDT="50", OMNI_RISK__MAX_LOSS_PER_TRADE_USDT="0.5")
    with capture_logs():
        asyncio.run(sup.run())
    assert asm.venue.matching.positions() == {}
    assert asm.venue.balance() == asm.portfolio.capital
    assert asm.portfolio.fees > Decimal(0)


@pytest.mark.parametrize("mode", ["close", "keep"])
def test_ledger_matches_venue_wallet_exactly(tmp_path, mode):
    asm, sup = make(tmp_path, OMNI_ENGINE__ON_SHUTDOWN=mode, OMNI_RISK__MAX_DAILY_LOSS_USDT="50")
    with capture_logs():
        asyncio.run(sup.run())
    p = asm.portfolio
    assert asm.venue.balance() == p.capital_start + p.realised - p.fees - p.funding


def test_kill_switch_latch_survives_a_restart_until_reset(tmp_path):
    env = {
        "OMNI_RISK__MAX_DRAWDOWN_PCT": "2",
        "OMNI_RISK__MAX_LOSS_PER_TRADE_USDT": "0.2",
        "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "0.1",
    }
    asm, sup = make(tmp_path, **env)
    with capture_logs():
        asyncio.run(sup.run())
    reason = asm.guard.kill_switch
    assert reason is not None and (tmp_path / "state" / "kill_switch.json").exists()
    # Act: a new run from the same state dir
    again, sup2 = make(tmp_path, duration_s=12 * 3600, **env)
    with capture_logs() as logs:
        asyncio.run(sup2.run())
    # Assert: still latched, nothing entered, and it said so at start
    assert again.guard.kill_switch == reason
    assert again.portfolio.trades_total == 0
    assert any(e["event"] == "kill_switch_latched" for e in logs)
    # and an explicit reset clears it
    cfg = load_config(None, env={"OMNI_ENGINE__STATE_DIR": str(tmp_path / "state"), "OMNI_MARKET__SYMBOLS": "20"})
    with capture_logs():  # the same market (another one would be refused: its journal is this market's)
        fresh = assemble(cfg, get("test"), reset_kill_switch=True)
    assert fresh.guard.kill_switch is None

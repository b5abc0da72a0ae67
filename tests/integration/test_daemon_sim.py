"""The daemon end to end on the sim venue, as a user runs it: a real `omni run` subprocess."""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
import time
from decimal import Decimal

from tests.integration.conftest import (
    ACTIVE,
    assert_accounting_identity,
    assert_run_invariants,
    omni_env,
    parse_lines,
    run_omni,
)

FAST = {"OMNI_MARKET__SYMBOLS": "40", "OMNI_TELEMETRY__SUMMARY_INTERVAL_S": "0.5", **ACTIVE}


def test_synthetic_day_at_max_speed_completes_with_exact_accounting(tmp_path):
    # Act: one simulated day of 40 symbols as fast as the CPU allows
    t0 = time.monotonic()
    run = run_omni(["run", "--speed", "max", "--duration", "86400"], tmp_path, **FAST)
    wall = time.monotonic() - t0
    # Assert
    assert run.returncode == 0, run.stderr
    s = run.summary
    assert s is not None and s["bars"] == 40 * 1440
    assert wall < 60
    assert s["trades_total"] > 0 and s["orders"] > 0
    assert_accounting_identity(s)
    assert_run_invariants(run, max_concurrent=10)
    assert not run.named("liquidation")
    assert Decimal(s["largest_loss"]) >= -Decimal("0.5") - Decimal("0.5")  # loss cap plus gap-slippage room
    assert len(run.named("final_summary")) == 1
    assert {"capital", "total_profit", "trades_today", "active_trades", "avg_profit_per_trade", "success_rate"} <= set(
        s
    )


def test_keep_on_shutdown_leaves_positions_open_and_identity_holds(tmp_path):
    run = run_omni(
        ["run", "--speed", "max", "--duration", "21600"],
        tmp_path,
        OMNI_ENGINE__ON_SHUTDOWN="keep",
        OMNI_RISK__MAX_DAILY_LOSS_USDT="100",
        OMNI_RISK__MAX_DRAWDOWN_PCT="100",
        **FAST,
    )
    assert run.returncode == 0, run.stderr
    assert run.summary["active_trades"] > 0
    [kept] = run.named("shutdown_keep_positions")
    assert len(kept["open_positions"]) == run.summary["active_trades"]
    assert_accounting_identity(run.summary)


def test_sigterm_stops_within_five_seconds_with_summary(tmp_path):
    # Arrange: a paced run that would go on for hours
    summary = tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "omni", "run", "--speed", "600", "--summary-json", str(summary)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=omni_env(**FAST),
    )
    try:
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline:  # wait until it trades or at least runs
            line = proc.stdout.readline()
            seen.append(line)
            if '"event": "summary"' in line:
                break
        # Act
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        proc.kill()
    # Assert
    assert proc.returncode == 0, err
    assert elapsed < 5
    events = parse_lines("".join(seen) + out)
    assert any(e["event"] == "shutdown_requested" for e in events)
    assert any(e["event"] == "final_summary" for e in events)
    assert summary.exists()
    import json

    s = json.loads(summary.read_text())
    assert s["active_trades"] == 0  # on_shutdown: close
    assert_accounting_identity(s)


def test_bad_data_file_is_refused_naming_file_and_line(tmp_path):
    bad = tmp_path / "BTCUSDT.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("ts,open,high,low,close,volume\n")
        f.write("1699999980000,100,101,99,100,5\n")
        f.write("1700000040000,100,101,99,nan,5\n")
    run = run_omni(["run", "--speed", "max", "--data", str(bad)], tmp_path)
    assert run.returncode == 2
    assert str(bad) in run.stderr and "line 3" in run.stderr
    assert not run.named("order") and not run.named("fill")


def test_replay_without_data_is_a_usage_error(tmp_path):
    run = run_omni(["run", "--market", "replay"], tmp_path)
    assert run.returncode == 2 and "--data" in run.stderr


def test_bybit_venue_without_keys_is_a_clear_usage_error(tmp_path):
    run = run_omni(["run", "--venue", "bybit-testnet"], tmp_path, BYBIT_API_KEY="", BYBIT_API_SECRET="")
    assert run.returncode == 2 and "BYBIT_API_KEY" in run.stderr
    assert run.events == [] or all(e["event"] != "order" for e in run.events)


def test_replay_of_recorded_data_one_day(tmp_path, shared_data):
    kl = shared_data / "klines" / "1m" / "binance-usdm" / "BTCUSDT.csv.gz"
    if not kl.exists():
        import pytest

        pytest.skip("BTCUSDT 1m file absent")
    run = run_omni(
        ["run", "--speed", "max", "--duration", "86400", "--data", str(kl)],
        tmp_path,
        OMNI_TELEMETRY__SUMMARY_INTERVAL_S="1",
    )
    assert run.returncode == 0, run.stderr
    assert run.summary["bars"] == 1441 or run.summary["bars"] >= 1380
    assert_accounting_identity(run.summary)
    assert_run_invariants(run, max_concurrent=10)

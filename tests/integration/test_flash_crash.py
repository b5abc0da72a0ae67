"""Scenario: the recorded 2025-10-10 crash (Bybit 5m: ADA, AVAX and WIF fell 49-64 % inside one candle).

The daemon trades through it with the simulator's veto off (to be exposed on purpose) and the limits must hold:
no liquidation, no position without a stop, never more positions than allowed, losses beyond the per-trade cap
only from a gap through the stop and reported as such, no entry after a kill-switch trip, exact accounting.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pytest

from omni.config import load_config
from omni.engine.backtest import for_backtest, run_backtest
from tests.integration.conftest import Run, assert_accounting_identity, assert_run_invariants, parse_lines

START = 1_759_795_200_000  # 2025-10-07 00:00 UTC
END = 1_760_227_200_000  # 2025-10-12 00:00 UTC
SYMBOLS = ("ADAUSDT", "AVAXUSDT", "WIFUSDT", "BTCUSDT")


def slice_file(src, dst, lo=START, hi=END):
    with gzip.open(src, "rt") as f, gzip.open(dst, "wt") as out:
        out.write(f.readline())
        for line in f:
            ts = int(line.split(",", 1)[0])
            if lo <= ts < hi:
                out.write(line)


@pytest.fixture
def crash_files(tmp_path, shared_data):
    files = []
    for sym in SYMBOLS:
        src = shared_data / "klines" / "5m" / "bybit-linear" / f"{sym}.csv.gz"
        if not src.exists():
            pytest.skip(f"{src} absent")
        dst = tmp_path / "data" / "klines" / f"{sym}.csv.gz"
        dst.parent.mkdir(parents=True, exist_ok=True)
        slice_file(src, dst)
        files.append(dst)
        fund = shared_data / "funding" / "bybit-linear" / f"{sym}.csv.gz"
        if fund.exists():
            fdst = tmp_path / "data" / "funding" / f"{sym}.csv.gz"
            fdst.parent.mkdir(parents=True, exist_ok=True)
            slice_file(fund, fdst, START - 86_400_000, END)
            files.append(fdst)
    return files


def test_limits_hold_through_the_october_2025_crash(tmp_path, crash_files):
    env = {
        "OMNI_STRATEGY__TIMEFRAMES": "[5m]",
        "OMNI_GHOST__MIN_EV_LOWER_USDT": "-1000",  # veto off: be exposed to the crash on purpose
        "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "0.3",
        "OMNI_RISK__MAX_LOSS_PER_TRADE_USDT": "0.5",
        "OMNI_PACER__SPACING": "false",
        "OMNI_SCANNER__MIN_TURNOVER_USDT": "0",
        "OMNI_SCANNER__MIN_HISTORY_BARS": "30",
        "OMNI_GHOST__MIN_SAMPLES": "5",
        "OMNI_GHOST__MAX_HOLD_BARS": "24",
    }
    out = tmp_path / "out"
    cfg = for_backtest(load_config(None, env=env), out, crash_files)
    result = run_backtest(cfg, out)
    events = parse_lines((out / "events.jsonl").read_text())
    run = Run(result.exit_code, events, "", result.summary)
    s = result.summary

    assert result.exit_code == 0
    assert s["trades_total"] > 0  # it did trade through the period
    assert not [e for e in events if e["event"] == "liquidation"]
    assert_run_invariants(run, max_concurrent=10)
    assert_accounting_identity(json.loads((out / "summary.json").read_text()))
    cap = Decimal("0.5")
    reported = {g["client_id"] for g in s["gap_losses"]}
    for t in result.trades:
        if t.net < -cap:
            assert t.client_id in reported and t.exit_reason in ("StopLoss", "Close")
    trip = next((i for i, e in enumerate(events) if e["event"] == "kill_switch"), None)
    if trip is not None:
        assert not [e for e in events[trip:] if e["event"] == "order" and not e["reduce_only"]]

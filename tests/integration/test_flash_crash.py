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
CRASHED = SYMBOLS[:3]
CRASH_DAY = (1_760_054_400_000, 1_760_140_800_000)  # 2025-10-10 00:00 .. 2025-10-11 00:00 UTC
BAR_MS = 300_000  # the files are 5m klines, `ts` = candle open time


def slice_file(src, dst, lo=START, hi=END):
    with gzip.open(src, "rt") as f, gzip.open(dst, "wt") as out:
        out.write(f.readline())
        for line in f:
            ts = int(line.split(",", 1)[0])
            if lo <= ts < hi:
                out.write(line)


def crash_candle(kline_files) -> tuple[int, str, float]:
    """(open time, symbol, drop) of the 5m candle of 2025-10-10 whose low fell furthest below its open, over
    ``CRASHED`` (in the recorded data: 21:15 UTC, the same candle for all three)."""
    worst = (0, "", 0.0)
    for path in kline_files:
        with gzip.open(path, "rt") as f:
            header = f.readline().strip().split(",")
            ts_i, open_i, low_i = header.index("ts"), header.index("open"), header.index("low")
            for line in f:
                row = line.split(",")
                ts = int(row[ts_i])
                if CRASH_DAY[0] <= ts < CRASH_DAY[1]:
                    drop = 1 - float(row[low_i]) / float(row[open_i])
                    if drop > worst[2]:
                        worst = (ts, path.name.split(".")[0], drop)
    return worst


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
        # 1.0, not 0.3: with the smaller target the churn trips the kill switch (drawdown) ~18 h before the crash
        # and nothing is open when it comes; with this one three positions are open through the crash candle and
        # the kill switch trips after it (daily loss, ~10 h later), so the check after a trip is exercised too
        "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "1.0",
        "OMNI_RISK__MAX_LOSS_PER_TRADE_USDT": "0.5",
        "OMNI_PACER__SPACING": "false",
        "OMNI_SCANNER__MIN_TURNOVER_USDT": "0",
        "OMNI_SCANNER__MIN_HISTORY_BARS": "30",
        "OMNI_GHOST__MIN_SAMPLES": "5",
        "OMNI_STRATEGY__MAX_HOLD_BARS": "24",
    }
    out = tmp_path / "out"
    cfg = for_backtest(load_config(None, env=env), out, crash_files)
    result = run_backtest(cfg, out)
    events = parse_lines((out / "events.jsonl").read_text())
    run = Run(result.exit_code, events, "", result.summary)
    s = result.summary

    assert result.exit_code == 0
    assert s["trades_total"] > 0  # it did trade through the period
    # ... and was exposed to the crash: some position was open through its candle (opened no later than the
    # candle's open; a fill inside a candle is stamped at its close, so closed at that close or later)
    klines = [p for p in crash_files if p.parent.name == "klines" and p.name.split(".")[0] in CRASHED]
    crash_ts, crash_sym, drop = crash_candle(klines)
    assert drop > 0.4, (crash_ts, crash_sym, drop)  # found the crash (49-64 % inside one candle)
    through = [
        t
        for t in result.trades
        if t.symbol in CRASHED and t.opened_ts <= crash_ts and (t.closed_ts is None or t.closed_ts >= crash_ts + BAR_MS)
    ]
    assert through, f"no position open through the crash candle at {crash_ts} ({crash_sym} -{drop:.0%})"
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

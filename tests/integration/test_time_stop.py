"""The trade the simulator forecasts is the trade the daemon places: a whole backtest on the synthetic market with
a short time stop. Live positions are closed by the time stop exactly ``max_hold_bars`` bars after the decision,
none is held longer, and every taken trade's realised exit is the one the counterfactual tracker computed for
its order from the same bars (reason, time and, within rounding and funding, net)."""

from __future__ import annotations

import json

import pytest

from omni.config import load_config
from omni.engine.backtest import for_backtest, run_backtest
from tests.integration.conftest import ACTIVE, assert_accounting_identity

HOLD = 3


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("time_stop")
    env = {**ACTIVE, "OMNI_STRATEGY__MAX_HOLD_BARS": str(HOLD), "OMNI_STRATEGY__TAKE_PROFIT_ATR": "6",
           "OMNI_MARKET__SYMBOLS": "20", "OMNI_RISK__MAX_DAILY_LOSS_USDT": "100", "OMNI_RISK__MAX_DRAWDOWN_PCT": "100",
           "OMNI_GHOST__LOOKBACK_BARS": "600"}  # fmt: skip
    cfg = for_backtest(load_config(None, env=env), out, None)
    return out, run_backtest(cfg, out, duration_s=12 * 3600)


def test_live_positions_get_the_time_stop_the_simulator_assumes(result):
    out, r = result
    assert r.exit_code == 0
    assert_accounting_identity(json.loads((out / "summary.json").read_text()))
    closed = [t for t in r.trades if t.closed_ts is not None]
    stopped = [t for t in closed if t.exit_reason == "TimeStop"]
    assert stopped, f"no time stop in {len(closed)} trades: {[t.exit_reason for t in closed][:20]}"
    hold_ms = HOLD * 60_000
    assert all(t.closed_ts - t.opened_ts == hold_ms for t in stopped)
    assert all(t.closed_ts - t.opened_ts <= hold_ms for t in closed)  # nobody outlives the time stop


def test_every_taken_trade_exits_as_its_counterfactual_said(result):
    _, r = result
    by_client = {t.client_id: t for t in r.trades if t.closed_ts is not None}
    forecasts = [f for f in r.forecasts if f.verdict == "approved" and f.client_id in by_client]
    assert len(forecasts) >= 10
    for f in forecasts:
        t = by_client[f.client_id]
        assert (f.exit, f.exit_ts) == (t.exit_reason, t.closed_ts), (f, t)
        assert abs(f.net - float(t.net)) <= 1e-6 * max(1.0, f.qty * f.entry), (f, t)  # floats vs exact decimals


def test_vetoed_candidates_get_an_outcome_too(result):
    out, r = result
    s = json.loads((out / "summary.json").read_text())
    untaken = [f for f in r.forecasts if f.verdict != "approved"]
    assert untaken and all(f.exit in ("StopLoss", "TakeProfit", "TimeStop", "Liquidation") for f in untaken)
    assert s["forecasts"]["n"] == len(r.forecasts)
    assert s["forecasts"]["taken"]["n"] <= s["forecasts"]["n"]


def test_the_recalibration_state_is_kept_in_the_state_directory(result):
    out, r = result
    saved = json.loads((out / "state" / "calibration.json").read_text())
    assert saved["method"] == "isotonic" and saved["folds"]
    assert saved["folds"][0]["fold"] == 0 and saved["folds"][0]["n_fit"] == 0  # nothing before the first fold
    assert r.summary["recalibration"]["folds"][0]["fold"] == 0

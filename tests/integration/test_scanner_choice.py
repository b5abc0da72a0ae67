"""The daemon runs the faster of the two scanners for its universe (``make_scanner``): the per-bar one for a few
dozen symbols, the vectorised one from ``VECTOR_MIN_SYMBOLS`` on. Both give the same run: a synthetic backtest of
20 symbols with either scanner forced makes the same decisions and trades and ends on the same summary."""

from __future__ import annotations

import json

import pytest

from omni.config import load_config
from omni.core import scanner as scanner_mod
from omni.core.scanner import AssetScanner, ReferenceScanner, ScannerParams, make_scanner
from omni.engine.backtest import for_backtest, run_backtest
from omni.venues.instruments_file import generated_instruments
from tests.integration.conftest import ACTIVE


@pytest.mark.parametrize("n", [1, scanner_mod.VECTOR_MIN_SYMBOLS - 1, scanner_mod.VECTOR_MIN_SYMBOLS, 500])
def test_the_universe_size_picks_the_scanner(n):
    s = make_scanner(generated_instruments(n, seed=1), ScannerParams(timeframes=(1,)))
    assert type(s) is (AssetScanner if n >= scanner_mod.VECTOR_MIN_SYMBOLS else ReferenceScanner)


def backtest(tmp_path, monkeypatch, threshold: int) -> tuple[dict, list, list]:
    monkeypatch.setattr(scanner_mod, "VECTOR_MIN_SYMBOLS", threshold)
    made: list[type] = []
    pick = scanner_mod.make_scanner
    monkeypatch.setattr("omni.engine.assembly.make_scanner", lambda *a: made.append(type(s := pick(*a))) or s)
    env = {**ACTIVE, "OMNI_MARKET__SYMBOLS": "20", "OMNI_CAPITAL_USDT": "100", "OMNI_RISK__MAX_DAILY_LOSS_USDT": "100",
           "OMNI_RISK__MAX_DRAWDOWN_PCT": "100", "OMNI_GHOST__LOOKBACK_BARS": "600"}  # fmt: skip
    cfg = for_backtest(load_config(None, env=env), tmp_path, None)
    r = run_backtest(cfg, tmp_path, duration_s=6 * 3600)
    summary = json.loads((tmp_path / "summary.json").read_text())
    kept = ("capital", "realised_pnl", "fees_paid", "funding_paid", "trades_total", "wins", "losses", "decisions",
            "scanner_dropped", "scanner_signals")  # fmt: skip
    trades = [(t.symbol, t.side, t.opened_ts, t.closed_ts, t.net, t.exit_reason) for t in r.trades]
    forecasts = [(f.ts, f.symbol, f.verdict, f.p, f.ev, f.ev_lower, f.n_eff) for f in r.forecasts]
    assert made == [ReferenceScanner if threshold > 20 else AssetScanner]
    return {k: summary.get(k) for k in kept}, trades, forecasts


def test_either_scanner_gives_the_same_backtest(tmp_path, monkeypatch):
    per_bar = backtest(tmp_path / "reference", monkeypatch, 10_000)
    vector = backtest(tmp_path / "vector", monkeypatch, 1)
    assert per_bar[0]["trades_total"] > 10 and per_bar[0]["scanner_signals"] > 100, per_bar[0]
    assert per_bar == vector

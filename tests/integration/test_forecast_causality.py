"""The future is poison, end to end: counterfactual outcomes and the walk-forward recalibration never reach a
decision before their time.

Two backtests over the same recorded-format files, except that every bar from market time T on is replaced by
a different random walk in the second. Every decision before T (verdict, reason, raw and recalibrated p, EV and
its bound) must be identical in both, while the recalibration is fitting and switching maps on the way (small
folds, small minimum fit) and the counterfactual outcomes keep resolving. Decisions after T differ (the check
is not vacuous), and the outcomes resolved before T are identical too.
"""

from __future__ import annotations

import gzip
import math
import random

import pytest

from omni.config import load_config
from omni.core.recalibration import WalkForwardCalibration
from omni.engine.backtest import for_backtest, run_backtest
from tests.integration.conftest import ACTIVE

START = 1_748_736_000_000  # 2025-06-01 00:00 UTC
DAYS = 3
T = START + 2 * 86_400_000  # the poison starts here
SYMBOLS = {"BTCUSDT": 30_000.0, "ETHUSDT": 2_000.0, "SOLUSDT": 150.0}


def write_walk(path, start_price: float, seed: int, poison_seed: int | None) -> None:
    rnd = random.Random(seed)
    bad = random.Random(poison_seed) if poison_seed is not None else None
    c = start_price
    with gzip.open(path, "wt") as f:
        f.write("ts,open,high,low,close,volume\n")
        for i in range(DAYS * 1440):
            ts = START + i * 60_000
            r = bad if (bad is not None and ts >= T) else rnd
            o = c
            c = o * math.exp(r.gauss(0.0, 0.0015))
            h = max(o, c) * (1 + r.random() * 0.001)
            lo = min(o, c) * (1 - r.random() * 0.001)
            f.write(f"{ts},{o:.6f},{h:.6f},{lo:.6f},{c:.6f},{100 + r.random() * 50:.3f}\n")


def backtest(tmp_path, name: str, poison: bool):
    folder = tmp_path / name / "data"
    folder.mkdir(parents=True)
    files = []
    for k, (sym, price) in enumerate(SYMBOLS.items()):
        p = folder / f"{sym}.csv.gz"
        write_walk(p, price, seed=k, poison_seed=100 + k if poison else None)
        files.append(p)
    env = {**ACTIVE, "OMNI_CALIBRATION__FOLD_DAYS": "0.25", "OMNI_CALIBRATION__MIN_FIT": "20",
           "OMNI_GHOST__LOOKBACK_BARS": "600", "OMNI_STRATEGY__MAX_HOLD_BARS": "20",
           "OMNI_RISK__MAX_DAILY_LOSS_USDT": "100", "OMNI_RISK__MAX_DRAWDOWN_PCT": "100"}  # fmt: skip
    out = tmp_path / name / "out"
    cfg = for_backtest(load_config(None, env=env), out, files)
    return run_backtest(cfg, out)


def key(d):
    e = d.estimate
    return (d.ts, d.symbol, d.candidate.timeframe, d.verdict, d.reason, e and (e.p, e.ev, e.ev_lower, e.n_eff), d.p_cal)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    # a random walk has nothing to recalibrate, so the auto switch would keep every map off: force each fitted map
    # on, so that the outcomes it was fitted on reach decisions, and the test shows when they may
    refit = WalkForwardCalibration._refit

    def always_on(self, k, now, resolved):
        refit(self, k, now, resolved)
        self.current.active = self.current.mapping is not None

    tmp = tmp_path_factory.mktemp("causality")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(WalkForwardCalibration, "_refit", always_on)
        return backtest(tmp, "clean", False), backtest(tmp, "poisoned", True)


def test_decisions_before_the_poison_are_identical(runs):
    clean, dirty = runs
    before = [key(d) for d in clean.decisions if d.ts < T]
    assert len(before) >= 50
    assert [key(d) for d in dirty.decisions if d.ts < T] == before
    forecasts = [d for d in clean.decisions if d.ts < T and d.estimate is not None]
    assert forecasts and any(d.p_cal != d.estimate.p for d in forecasts), "the recalibration never acted before T"


def test_the_poison_changes_what_comes_after(runs):
    clean, dirty = runs
    assert [key(d) for d in clean.decisions if d.ts >= T] != [key(d) for d in dirty.decisions if d.ts >= T]


def test_outcomes_resolved_before_the_poison_are_identical(runs):
    clean, dirty = runs

    def done(r):
        return [(f.ts, f.symbol, f.timeframe, f.exit, f.exit_ts, f.net) for f in r.forecasts if f.exit_ts < T]

    assert done(clean) and done(clean) == done(dirty)

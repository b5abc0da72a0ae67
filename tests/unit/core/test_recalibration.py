"""Walk-forward recalibration: fitted on earlier folds' resolved outcomes only, switched on only where it raised
skill out of sample on the earlier folds it served."""

from __future__ import annotations

import random

from omni.core.outcomes import Forecast
from omni.core.recalibration import WalkForwardCalibration

FOLD = 1_000_000


def forecast(ts: int, p: float, win: bool, resolved_after: int = 10) -> Forecast:
    f = Forecast(ts, "X", 1, True, "vetoed", "", p, p, 0.0, 0.0, 1.0, 100.0, 99.0, 102.0, 50.0, 1.0, 10.0, ts + 10)
    f.net, f.exit, f.exit_ts = (1.0 if win else -1.0), "TakeProfit" if win else "StopLoss", ts + resolved_after
    return f


def folds_of(p: float, rate: float, folds: int, per_fold: int = 300, seed: int = 1) -> list[Forecast]:
    rnd = random.Random(seed)
    return [forecast(k * FOLD + i * 100, p, rnd.random() < rate) for k in range(folds) for i in range(per_fold)]


def test_a_map_that_helps_out_of_sample_is_switched_on_after_it_proved_itself():
    # forecasts say 0.9, outcomes win 30 %: a map toward 0.3 helps on every fold
    resolved = folds_of(0.9, 0.3, 4)
    wf = WalkForwardCalibration(FOLD, "isotonic", min_fit=100)
    wf.fold_of(0)
    out = [wf.apply(0.9, k * FOLD + 1, resolved) for k in range(4)]
    assert out[0] == 0.9 and out[1] == 0.9  # fold 0: nothing to fit; fold 1: a map, not yet judged
    assert [f.active for f in wf.folds] == [False, False, True, True]
    assert abs(out[3] - 0.3) < 0.06
    assert wf.folds[1].n_fit == 300 and wf.folds[2].n_fit == 600  # earlier folds only


def test_a_map_is_on_only_where_it_gained_and_a_calibrated_forecast_stays_near_itself():
    resolved = folds_of(0.3, 0.3, 4, seed=2)  # already calibrated: any gain is sampling noise
    wf = WalkForwardCalibration(FOLD, "platt", min_fit=100)
    wf.fold_of(0)
    for k in range(4):
        assert abs(wf.apply(0.3, k * FOLD + 1, resolved) - 0.3) < 0.03
    assert all(f.active == (f.mapping is not None and f.gain is not None and f.gain > 0) for f in wf.folds)


def test_outcomes_not_resolved_yet_or_of_the_current_fold_are_not_used():
    late = [forecast(i * 100, 0.9, False, resolved_after=5 * FOLD) for i in range(300)]  # resolve far later
    current = [forecast(FOLD + i, 0.9, False) for i in range(300)]  # fold 1 itself
    wf = WalkForwardCalibration(FOLD, "isotonic", min_fit=100)
    wf.fold_of(0)
    wf.apply(0.9, FOLD + 500, late + current)
    assert wf.folds[-1].n_fit == 0 and wf.folds[-1].mapping is None


def test_off_is_the_identity_and_fits_nothing():
    wf = WalkForwardCalibration(FOLD, "off")
    assert wf.apply(0.77, 5 * FOLD, folds_of(0.9, 0.3, 4)) == 0.77 and wf.folds == []

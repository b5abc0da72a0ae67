"""The forecast report: every forecast (taken or not) on its counterfactual outcome, taken trades on their realised
one, folds of market time from the first forecast, and the Markdown section."""

from __future__ import annotations

import pytest

from omni.core.calibration import DAY_MS, forecast_markdown, forecast_report


def row(day: float, p: float, win: bool, taken: bool = False, realised: bool | None = None, ev_lower: float = -0.1):
    return {
        "ts": int(day * DAY_MS),
        "p": p,
        "p_cal": 0.5,
        "win": win,
        "net": 1.0 if win else -0.5,
        "ev_lower": ev_lower,
        "taken": taken,
        "realised_win": realised,
        "realised_net": None if realised is None else (1.0 if realised else -0.5),
    }


def test_all_forecasts_taken_trades_and_folds_by_hand():
    # Arrange: fold 0 (days 0-1) forecasts 0.8/0.2 with outcomes 1/0; fold 1 (days 2-3) the reverse
    rows = [row(0.1, 0.8, True, taken=True, realised=False), row(0.2, 0.2, False), row(2.5, 0.8, False),
            row(3.5, 0.2, True)]  # fmt: skip
    # Act
    rep = forecast_report(rows, fold_ms=2 * DAY_MS)
    # Assert: all 4: Brier = (0.04 + 0.04 + 0.64 + 0.64) / 4 = 0.34, base rate 0.5, BSS = 1 - 0.34 / 0.25
    assert rep["n"] == 4 and rep["all"]["brier"] == pytest.approx(0.34)
    assert rep["all"]["bss"] == pytest.approx(1 - 0.34 / 0.25)
    # the taken trade is scored on its realised outcome (a loss), not on the counterfactual win
    assert rep["taken"]["n"] == 1 and rep["taken"]["brier"] == pytest.approx(0.64)
    assert rep["taken_counterfactual"]["brier"] == pytest.approx(0.04)
    # recalibrated p (0.5 everywhere) scores the base rate exactly
    assert rep["all_calibrated"]["bss"] == pytest.approx(0.0)
    folds = {f["fold"]: f for f in rep["folds"]}
    assert set(folds) == {0, 1}
    assert folds[0]["all"]["bss"] == pytest.approx(1 - 0.04 / 0.25)
    assert folds[1]["all"]["bss"] == pytest.approx(1 - 0.64 / 0.25)
    assert folds[1]["start_ts"] == int(0.1 * DAY_MS) + 2 * DAY_MS
    assert sum(b["n"] for b in rep["ev"]) == 4


def test_the_markdown_names_every_sample_and_marks_uncalibrated_bins():
    rows = [row(d / 10, 0.9, d % 4 == 0) for d in range(40)]
    lines = "\n".join(forecast_markdown(forecast_report(rows, fold_ms=DAY_MS)))
    assert "all (raw p)" in lines and "all (recalibrated p)" in lines and "taken (realised)" in lines
    assert "| 0.9-1.0 | 40 |" in lines and "| NO |" in lines  # 0.9 forecast, 0.25 realised
    assert "Per walk-forward fold" in lines


def test_no_forecast_says_so():
    assert "No forecast" in "\n".join(forecast_markdown(forecast_report([], fold_ms=DAY_MS)))

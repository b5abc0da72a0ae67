"""Forecast scoring against hand-worked numbers: Brier, log loss, skill, Murphy, Wilson, reliability table,
day-block bootstrap, EV table, and the isotonic / Platt recalibration maps."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest

from omni.core.scoring import (
    Isotonic,
    Platt,
    brier,
    brier_skill,
    bss_block_bootstrap,
    ev_table,
    fit_isotonic,
    fit_platt,
    log_loss,
    murphy,
    recalibrator_from_dict,
    reliability_table,
    score,
    wilson,
)

P4 = [0.9, 0.2, 0.6, 0.5]
O4 = [1, 0, 0, 1]
# squared errors 0.01, 0.04, 0.36, 0.25 -> sum 0.66 -> BS 0.165; base rate 0.5 -> BS_ref 0.25 -> BSS 1 - 0.66
BS4 = 0.165


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _calibrated(days: int, per_day: int, seed: int) -> tuple[list[float], list[int], list[int]]:
    rng = random.Random(seed)
    p, o, d = [], [], []
    for day in range(days):
        for _ in range(per_day):
            x = rng.uniform(0.05, 0.95)
            p.append(x)
            o.append(1 if rng.random() < x else 0)
            d.append(day)
    return p, o, d


# ---- Brier, log loss, skill ----


def test_brier_by_hand():
    assert brier(P4, O4) == pytest.approx(BS4)
    assert brier([1.0, 0.0], [True, False]) == 0.0
    assert brier([0.0], [1]) == 1.0


def test_log_loss_by_hand():
    # -(ln 0.9 + ln 0.8 + ln 0.4 + ln 0.5) / 4 = 1.937942 / 4
    assert log_loss(P4, O4) == pytest.approx(0.4844855, abs=1e-7)


def test_log_loss_clips_certain_misses():
    assert log_loss([0.0, 1.0], [1, 0]) == pytest.approx(-math.log(1e-6))
    assert log_loss([0.0], [1], eps=0.01) == pytest.approx(-math.log(0.01))


def test_brier_skill_by_hand():
    assert brier_skill(P4, O4) == pytest.approx(1 - 0.165 / 0.25)  # 0.34
    # base rate 0.25 -> BS_ref 0.1875; forecasting the base rate scores exactly BS_ref -> skill 0
    assert brier_skill([0.25] * 4, [1, 0, 0, 0]) == pytest.approx(0.0)


def test_brier_skill_is_none_when_every_outcome_is_the_same():
    assert brier_skill([0.3, 0.7], [1, 1]) is None
    assert brier_skill([0.3, 0.7], [0, 0]) is None


@pytest.mark.parametrize(
    ("p", "o"),
    [([0.5], [1, 0]), ([1.2], [1]), ([-0.1], [0]), ([float("nan")], [1]), ([0.5], [2]), ([0.5], [0.5]), ([], [])],
)
def test_bad_input_is_refused(p, o):
    with pytest.raises(ValueError):
        brier(p, o)


# ---- Murphy decomposition ----


def test_murphy_by_hand_and_identity_when_forecasts_are_constant_per_bin():
    p = [0.15] * 4 + [0.65] * 3
    o = [0, 0, 1, 0, 1, 1, 0]
    # bin 0.1-0.2: n 4, mean p 0.15, rate 1/4; bin 0.6-0.7: n 3, mean p 0.65, rate 2/3; overall rate 3/7
    rel = (4 * (0.15 - 0.25) ** 2 + 3 * (0.65 - 2 / 3) ** 2) / 7
    res = (4 * (0.25 - 3 / 7) ** 2 + 3 * (2 / 3 - 3 / 7) ** 2) / 7
    unc = 3 / 7 * 4 / 7
    bs = (3 * 0.15**2 + 0.85**2 + 2 * 0.35**2 + 0.65**2) / 7
    m = murphy(p, o)
    assert m["reliability"] == pytest.approx(rel)
    assert m["resolution"] == pytest.approx(res)
    assert m["uncertainty"] == pytest.approx(unc)
    assert m["reliability"] - m["resolution"] + m["uncertainty"] == pytest.approx(bs, abs=1e-12)
    assert brier(p, o) == pytest.approx(bs)


def test_murphy_identity_is_only_approximate_when_forecasts_vary_within_a_bin():
    p, o = [0.11, 0.19], [0, 1]  # same bin, mean 0.15, rate 0.5
    m = murphy(p, o)
    assert m["reliability"] == pytest.approx(0.35**2)
    assert m["resolution"] == 0.0
    assert m["reliability"] - m["resolution"] + m["uncertainty"] != pytest.approx(brier(p, o))


# ---- Wilson ----


def test_wilson_known_values():
    lo, hi = wilson(30, 100)
    assert lo == pytest.approx(0.2189, abs=1e-4)
    assert hi == pytest.approx(0.3958, abs=1e-4)
    # k = 0, n = 5: centre = half = (3.8416 / 10) / 1.76832
    assert wilson(0, 5) == pytest.approx((0.0, 2 * 0.38416 / 1.76832))
    lo, hi = wilson(5, 5)
    assert hi == 1.0
    assert lo == pytest.approx(1 - 2 * 0.38416 / 1.76832)


def test_wilson_empty_and_bad_counts():
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(3, 2)
    with pytest.raises(ValueError):
        wilson(-1, 2)


# ---- reliability table ----


def test_reliability_table_flags():
    p = [0.3] * 100 + [0.75] * 5 + [1.0] * 2
    o = [1] * 30 + [0] * 70 + [0] * 5 + [1, 1]
    rows = reliability_table(p, o)
    assert [r["bin"] for r in rows] == ["0.3-0.4", "0.7-0.8", "0.9-1.0"]
    mid, high, top = rows
    assert mid["n"] == 100
    assert mid["mean_forecast"] == pytest.approx(0.3)
    assert mid["realised_rate"] == pytest.approx(0.3)
    assert (mid["wilson_low"], mid["wilson_high"]) == pytest.approx((0.2189, 0.3958), abs=1e-4)
    assert mid["contains"] is True
    assert mid["small"] is False
    # 0 wins of 5 -> (0, 0.4345), which misses 0.75
    assert high["n"] == 5
    assert high["realised_rate"] == 0.0
    assert high["wilson_high"] == pytest.approx(0.4345, abs=1e-4)
    assert high["contains"] is False
    assert high["small"] is True
    assert top["n"] == 2
    assert top["contains"] is True  # 2 of 2: the interval reaches 1.0
    assert reliability_table([], []) == []


def test_reliability_table_small_threshold_and_other_bin_counts():
    rows = reliability_table([0.1, 0.3, 0.8], [0, 1, 1], bins=4, small=1)
    assert [r["bin"] for r in rows] == ["0.00-0.25", "0.25-0.50", "0.75-1.00"]
    assert not any(r["small"] for r in rows)


# ---- day-block bootstrap ----


def test_bootstrap_is_deterministic_for_a_seed():
    p, o, d = _calibrated(30, 10, seed=3)
    first = bss_block_bootstrap(p, o, d, reps=300, seed=7)
    assert first == bss_block_bootstrap(p, o, d, reps=300, seed=7)
    assert first != bss_block_bootstrap(p, o, d, reps=300, seed=8)


def test_bootstrap_interval_contains_the_point_skill_of_a_calibrated_set():
    p, o, d = _calibrated(60, 20, seed=11)
    point = brier_skill(p, o)
    interval = bss_block_bootstrap(p, o, d, reps=500, level=0.90, seed=0)
    assert point is not None
    assert interval is not None
    lo, hi = interval
    assert lo < point < hi
    assert lo > 0.0  # calibrated forecasts spread over 0.05-0.95 carry real skill
    wider = bss_block_bootstrap(p, o, d, reps=500, level=0.99, seed=0)
    assert wider is not None
    assert wider[0] <= lo and wider[1] >= hi


def test_bootstrap_resamples_whole_days():
    # two days: each day alone has a base rate of 0 or 1, so only mixed resamples count, and every mixed
    # resample of two days takes one of each: BSS of the whole set, every time
    p, o, d = [0.8, 0.7, 0.2, 0.1], [1, 1, 0, 0], [1, 1, 2, 2]
    bs = (0.04 + 0.09 + 0.04 + 0.01) / 4
    interval = bss_block_bootstrap(p, o, d, reps=200)
    assert interval == pytest.approx((1 - bs / 0.25, 1 - bs / 0.25))


def test_bootstrap_none_for_one_day_or_no_valid_resample():
    assert bss_block_bootstrap([0.2, 0.8], [0, 1], [5, 5]) is None
    assert bss_block_bootstrap([0.2, 0.8], [1, 1], [1, 2]) is None  # every resample has base rate 1
    with pytest.raises(ValueError):
        bss_block_bootstrap([0.2, 0.8], [0, 1], [1])


# ---- EV table ----


def test_ev_table_groups_by_rank_and_flags():
    rows = ev_table([5, 1, 3, 2, 4], [6, 0, 1, 3, 4], bins=2)
    # sorted by bound: (1, 0), (2, 3) | (3, 1), (4, 4), (5, 6)
    assert [r["n"] for r in rows] == [2, 3]
    first, second = rows
    assert (first["mean_bound"], first["min_bound"], first["max_bound"]) == (1.5, 1.0, 2.0)
    assert first["mean_realised"] == 1.5
    assert first["realised_at_or_above"] is True  # equal counts as reaching the bound
    assert (second["mean_bound"], second["min_bound"], second["max_bound"]) == (4.0, 3.0, 5.0)
    assert second["mean_realised"] == pytest.approx(11 / 3)
    assert second["realised_at_or_above"] is False


def test_ev_table_group_sizes():
    assert [r["n"] for r in ev_table([3, 1, 2], [0, 0, 0])] == [1, 1, 1]  # fewer points than bins
    rows = ev_table([float(i) for i in range(23)], [0.0] * 23)
    assert len(rows) == 10
    assert sum(r["n"] for r in rows) == 23
    assert {r["n"] for r in rows} == {2, 3}
    assert all(a["max_bound"] < b["min_bound"] for a, b in itertools.pairwise(rows))
    assert ev_table([], []) == []


# ---- score ----


def test_score_collects_everything():
    s = score(P4, O4, days=[1, 1, 2, 2])
    assert s["n"] == 4
    assert s["base_rate"] == 0.5
    assert s["brier"] == pytest.approx(BS4)
    assert s["brier_ref"] == 0.25
    assert s["bss"] == pytest.approx(0.34)
    assert s["log_loss"] == pytest.approx(0.4844855, abs=1e-7)
    assert set(s["murphy"]) == {"reliability", "resolution", "uncertainty"}
    assert [r["bin"] for r in s["reliability"]] == ["0.2-0.3", "0.5-0.6", "0.6-0.7", "0.9-1.0"]
    assert isinstance(s["bss_interval_90"], list)
    assert len(s["bss_interval_90"]) == 2
    assert json.loads(json.dumps(s)) == s


def test_score_without_days_or_data():
    assert score(P4, O4)["bss_interval_90"] is None
    empty = score([], [])
    assert empty["n"] == 0
    assert empty["reliability"] == []
    assert all(v is None for k, v in empty.items() if k not in ("n", "reliability"))


# ---- isotonic ----


def test_isotonic_hand_pav():
    iso = fit_isotonic([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    # 0 | 1, 0 violate -> pooled at 0.5 | 1
    assert iso.thresholds == (0.1, 0.2, 0.4)
    assert iso.values == (0.0, 0.5, 1.0)
    assert iso(0.05) == 1e-3
    assert iso(0.1) == 1e-3
    assert iso(0.25) == 0.5
    assert iso(0.39) == 0.5
    assert iso(0.4) == 1 - 1e-3
    assert iso(0.9) == 1 - 1e-3


def test_isotonic_pools_backwards_and_ties():
    # 1, 1, 0 -> 2/3, then 0 -> 2/4, then 1 stays: blocks [0.1..0.4] -> 0.5, [0.5] -> 1
    iso = fit_isotonic([0.5, 0.4, 0.3, 0.2, 0.1], [1, 0, 0, 1, 1])
    assert iso.thresholds == (0.1, 0.5)
    assert iso.values == (0.5, 1.0)
    # tied forecasts form one block: 0.2 -> 1/2, below 0.1 -> 1: pooled to 2/3
    tied = fit_isotonic([0.2, 0.2, 0.1], [1, 0, 1])
    assert tied.thresholds == (0.1,)
    assert tied.values == pytest.approx((2 / 3,))


def test_isotonic_is_monotone_and_keeps_the_outcome_sum():
    rng = random.Random(5)
    p = [rng.random() for _ in range(300)]
    o = [1 if rng.random() < x else 0 for x in p]
    iso = fit_isotonic(p, o)
    grid = [i / 200 for i in range(201)]
    out = [iso(x) for x in grid]
    assert all(a <= b for a, b in itertools.pairwise(out))
    assert all(1e-3 <= y <= 1 - 1e-3 for y in out)
    # PAV block means: fitted values at the data points sum to the number of wins
    unclipped = Isotonic(iso.thresholds, iso.values, eps=0.0)
    assert sum(unclipped(x) for x in p) == pytest.approx(sum(o))


# ---- Platt ----


def test_platt_recovers_known_parameters():
    rng = random.Random(1)
    a, b = 1.5, -0.4
    p, o = [], []
    for _ in range(20000):
        x = rng.uniform(0.02, 0.98)
        p.append(x)
        o.append(1 if rng.random() < _sigmoid(a * math.log(x / (1 - x)) + b) else 0)
    fit = fit_platt(p, o)
    assert fit.a == pytest.approx(a, abs=0.1)
    assert fit.b == pytest.approx(b, abs=0.1)
    assert fit(0.5) == pytest.approx(_sigmoid(fit.b))


def test_platt_stays_finite_on_separable_data():
    fit = fit_platt([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert math.isfinite(fit.a) and math.isfinite(fit.b)
    assert fit(0.1) < 0.5 < fit(0.9)


def test_platt_call_clips_the_logit():
    assert Platt(1.0, 0.0)(0.0) == pytest.approx(1e-6)
    assert Platt(1.0, 0.0)(1.0) == pytest.approx(1 - 1e-6)


# ---- persistence ----


def test_round_trips_through_json():
    iso = fit_isotonic([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    platt = Platt(1.3, -0.2)
    for m in (iso, platt):
        d = json.loads(json.dumps(m.to_dict()))
        assert type(m).from_dict(d) == m
        assert recalibrator_from_dict(d) == m
    assert iso.to_dict()["kind"] == "isotonic"
    assert platt.to_dict()["kind"] == "platt"


def test_from_dict_refuses_the_wrong_kind():
    with pytest.raises(ValueError):
        recalibrator_from_dict({"kind": "spline"})
    with pytest.raises(ValueError):
        Platt.from_dict({"kind": "isotonic", "a": 1, "b": 0})
    with pytest.raises(ValueError):
        Isotonic.from_dict({"kind": "isotonic", "thresholds": [0.2, 0.1], "values": [0.1, 0.2]})

"""Overfitting statistics against hand-worked numbers: Sharpe, PSR, effective trials, deflated Sharpe, CSCV PBO
(an exactly enumerated S = 4 case plus noise / real-edge matrices) and the walk-forward chain."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from omni.core.overfit import (
    deflated_sharpe,
    effective_trials,
    expected_max_sharpe,
    moments,
    pbo_cscv,
    psr,
    psr_from_moments,
    sharpe,
)
from omni.core.walk_forward import walk_forward_chain

# symmetric sample: mean 1, deviations -2 -1 0 1 2 -> ddof-1 variance 10/4 = 2.5, SR = 1/√2.5 = 0.632456;
# population m2 = 10/5 = 2, m4 = (16 + 1 + 0 + 1 + 16)/5 = 6.8 -> γ₃ = 0, γ₄ = 6.8/4 = 1.7
SYM = [-1.0, 0.0, 1.0, 2.0, 3.0]


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# ---- sharpe, moments, psr ----


def test_sharpe_of_one_two_three_is_two():
    # mean 2, ddof-1 std √((1 + 0 + 1)/2) = 1
    assert sharpe([1, 2, 3]) == pytest.approx(2.0)
    assert sharpe(np.array([-1.0, -2.0, -3.0])) == pytest.approx(-2.0)


def test_sharpe_degenerate_samples_are_zero():
    assert sharpe([]) == 0.0
    assert sharpe([5.0]) == 0.0
    assert sharpe([0.1, 0.1, 0.1]) == 0.0  # zero std, positive mean: still 0.0


def test_sharpe_rejects_nan_and_matrices():
    with pytest.raises(ValueError, match="finite"):
        sharpe([1.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        sharpe([[1.0, 2.0], [3.0, 4.0]])


def test_moments_of_symmetric_sample_by_hand():
    skew, kurt = moments(SYM)
    assert skew == pytest.approx(0.0, abs=1e-12)
    assert kurt == pytest.approx(1.7)
    assert moments([2.0, 2.0]) == (0.0, 3.0)


def test_moments_of_skewed_sample_by_hand():
    # [0, 0, 0, 4]: mean 1, deviations -1 -1 -1 3 -> m2 = 12/4 = 3, m3 = (-3 + 27)/4 = 6, m4 = (3 + 81)/4 = 21
    skew, kurt = moments([0.0, 0.0, 0.0, 4.0])
    assert skew == pytest.approx(6.0 / 3.0**1.5)
    assert kurt == pytest.approx(21.0 / 9.0)


def test_psr_of_symmetric_sample_matches_hand_formula():
    sr = 1.0 / math.sqrt(2.5)
    assert sharpe(SYM) == pytest.approx(sr)
    # Φ(SR √(T−1) / √(1 + (γ₄ − 1)/4 SR²)) = Φ(1.264911 / √(1 + 0.175 · 0.4)) = Φ(1.222836) ≈ 0.889304
    expected = _phi(sr * 2.0 / math.sqrt(1.0 + (1.7 - 1.0) / 4.0 * sr * sr))
    assert psr(SYM) == pytest.approx(expected)
    assert psr(SYM) == pytest.approx(0.889304, abs=1e-6)


def test_psr_against_own_sharpe_is_one_half():
    assert psr(SYM, sr_star=sharpe(SYM)) == pytest.approx(0.5)


def test_psr_falls_as_the_benchmark_rises():
    assert psr(SYM, 0.0) > psr(SYM, 0.3) > psr(SYM, 0.6)


def test_psr_skew_enters_the_denominator():
    # negative skew with a positive SR widens the interval (1 − γ₃ SR̂ grows) -> PSR closer to 1/2
    sr, t = 0.3, 100
    normal = psr_from_moments(sr, t, 0.0, 3.0)
    left = psr_from_moments(sr, t, -2.0, 3.0)
    assert normal == pytest.approx(_phi(0.3 * math.sqrt(99) / math.sqrt(1 + 0.5 * 0.09)))
    assert 0.5 < left < normal


def test_psr_of_constant_returns_uses_zero_sharpe():
    # SR̂ = 0, γ₃ = 0, γ₄ = 3 -> Φ(−0.1 · √4) = Φ(−0.2)
    assert psr([0.5] * 5, sr_star=0.1) == pytest.approx(_phi(-0.2))


def test_psr_with_fewer_than_two_returns_is_one_half():
    assert psr([3.0]) == 0.5
    assert psr_from_moments(1.0, 1, 0.0, 3.0) == 0.5


def test_psr_non_positive_radicand_gives_the_limit():
    # 1 − γ₃ SR̂ + (γ₄ − 1)/4 SR̂² = 1 − 2 + 0 < 0 (inconsistent moments): z = ±∞
    assert psr_from_moments(1.0, 10, 2.0, 1.0, sr_star=0.5) == 1.0
    assert psr_from_moments(1.0, 10, 2.0, 1.0, sr_star=1.5) == 0.0
    assert psr_from_moments(1.0, 10, 2.0, 1.0, sr_star=1.0) == 0.5


# ---- effective_trials ----


def test_effective_trials_of_identical_columns_is_one():
    col = np.random.default_rng(0).normal(size=(200, 1))
    assert effective_trials(np.repeat(col, 5, axis=1)) == pytest.approx(1.0)
    assert effective_trials(np.hstack([col, -2.0 * col + 1.0])) == pytest.approx(1.0)  # perfectly anti-correlated


def test_effective_trials_of_independent_columns_is_about_n():
    m = np.random.default_rng(0).normal(size=(20_000, 10))
    assert effective_trials(m) == pytest.approx(10.0, abs=0.1)


def test_effective_trials_of_two_blocks_of_identical_columns_is_about_two():
    b = np.random.default_rng(1).normal(size=(5000, 2))
    assert effective_trials(np.repeat(b, 3, axis=1)) == pytest.approx(2.0, abs=0.01)


def test_effective_trials_of_one_column_is_one():
    assert effective_trials(np.arange(10.0).reshape(10, 1)) == 1.0


def test_effective_trials_constant_columns_count_as_one_trial():
    live = np.array([1.0, -1.0, 2.0, 0.5])
    m = np.column_stack([live, np.zeros(4), np.full(4, 3.0)])
    # C = [[1,0,0],[0,1,1],[0,1,1]]: Σ C_ij² = 5 -> N_eff = 9/5 (eigenvalues 1 and 2: (1+2)²/(1+4))
    assert effective_trials(m) == pytest.approx(9.0 / 5.0)
    assert effective_trials(np.zeros((4, 3))) == pytest.approx(1.0)


# ---- deflated_sharpe ----


def test_expected_max_sharpe_by_hand():
    # N = 10, V = 0.01: Φ⁻¹(0.9) = 1.281552, Φ⁻¹(1 − 1/(10e)) = Φ⁻¹(0.963212) = 1.789242
    # SR₀ = 0.1 · (0.422784 · 1.281552 + 0.577216 · 1.789242) = 0.1 · (0.541820 + 1.032778) = 0.1574598
    assert expected_max_sharpe(0.01, 10) == pytest.approx(0.1574598, abs=1e-6)
    assert expected_max_sharpe(0.01, 1) == 0.0
    assert expected_max_sharpe(0.0, 10) == 0.0


def _search(seed: int = 3, t: int = 250, n: int = 20) -> np.ndarray:
    m = np.random.default_rng(seed).normal(0.0, 1.0, size=(t, n))
    m[:, 4] += 0.15  # a modest edge in column 4
    return m


def test_deflated_sharpe_more_trials_raise_sr0_and_lower_dsr():
    m = _search()
    few = deflated_sharpe(m, best=4, n_trials=5)
    many = deflated_sharpe(m, best=4, n_trials=500)
    assert few.sr_best == many.sr_best == pytest.approx(sharpe(m[:, 4]))
    assert 0.0 < few.sr0 < many.sr0
    assert many.dsr < few.dsr < psr(m[:, 4])


def test_deflated_sharpe_fields_by_hand():
    m = _search()
    d = deflated_sharpe(m, best=4)
    srs = [sharpe(m[:, j]) for j in range(m.shape[1])]
    assert (d.best, d.t, d.n) == (4, 250, 20)
    assert d.v == pytest.approx(np.var(srs, ddof=1))
    assert d.n_eff == pytest.approx(effective_trials(m))
    assert d.sr0 == pytest.approx(expected_max_sharpe(d.v, d.n_eff))
    assert d.dsr == pytest.approx(psr(m[:, 4], d.sr0))


def test_deflated_sharpe_one_effective_trial_is_plain_psr():
    col = np.random.default_rng(2).normal(0.1, 1.0, size=(100, 1))
    d = deflated_sharpe(np.repeat(col, 4, axis=1), best=0)
    assert d.n_eff == pytest.approx(1.0)
    assert d.sr0 == 0.0
    assert d.dsr == pytest.approx(psr(col[:, 0]))
    assert deflated_sharpe(col, best=0, n_trials=50).sr0 == 0.0  # one column: V = 0


def test_deflated_sharpe_rejects_bad_arguments():
    m = _search()
    with pytest.raises(ValueError, match="best"):
        deflated_sharpe(m, best=20)
    with pytest.raises(ValueError, match="n_trials"):
        deflated_sharpe(m, best=0, n_trials=0)


def test_deflated_sharpe_to_dict_is_json_safe():
    d = deflated_sharpe(_search(), best=4).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {"best", "t", "n", "n_eff", "v", "sr_best", "sr0", "dsr"}


# ---- pbo_cscv ----

# S = 4 blocks of 2 rows, N = 3 trials. A block at level x holds the rows (x + 1, x − 1). On a half made of two
# blocks at levels a, b the rows are a ± 1, b ± 1: mean m = (a + b)/2, ddof-1 variance 4(δ² + 1)/3 with
# δ = (a − b)/2, so SR̂ = (√3/2) · m / √(δ² + 1). Below, f = m / √(δ² + 1) (SR̂ in units of √3/2).
LEVELS = [
    [1, -2, 2, -1],  # trial 0
    [-1, 2, 1, 1],  # trial 1
    [0, 0, 1, -2],  # trial 2
]
# f on the six block pairs (with A = 1.5/√1.25 = 1.341641, B = 0.5/√3.25 = 0.277350, C = 0.5/√1.25 = 0.447214,
# D = 1/√2 = 0.707107):
#            (0,1)  (0,2)  (0,3)  (1,2)  (1,3)  (2,3)
# trial 0     -B     +A      0      0     -A     +B
# trial 1     +B      0      0     +A     +A      1
# trial 2      0     +C     -D     +C     -D     -B
# combination (IS -> OOS): IS f; n*; OOS f; rank of n* on OOS (1 = worst, ties averaged); λ = ln(rank/(4 − rank))
#   (0,1) -> (2,3): -B, +B, 0 -> n* = 1 (IS +B); OOS +B, 1, -B -> 1 is best: rank 3, λ = ln 3
#   (0,2) -> (1,3): +A, 0, +C -> n* = 0 (IS +A); OOS -A, +A, -D -> 0 is worst: rank 1, λ = ln(1/3)
#   (0,3) -> (1,2): 0, 0, -D -> tie, n* = 0 (IS 0); OOS 0, +A, +C -> worst: rank 1, λ = ln(1/3)
#   (1,2) -> (0,3): 0, +A, +C -> n* = 1 (IS +A); OOS 0, 0, -D -> 1 ties 0 at the top: rank 2.5, λ = ln(5/3)
#   (1,3) -> (0,2): -A, +A, -D -> n* = 1 (IS +A); OOS +A, 0, +C -> 1 (at 0) is worst: rank 1, λ = ln(1/3)
#   (2,3) -> (0,1): +B, 1, -B -> n* = 1 (IS 1); OOS -B, +B, 0 -> 1 (at +B) is best: rank 3, λ = ln 3
# λ ≤ 0 in 3 of 6 -> PBO = 0.5; n*'s OOS f: 1, -A, 0, 0, 0, +B -> below 0 once: probability of OOS loss 1/6.
_A, _B = 1.5 / math.sqrt(1.25), 0.5 / math.sqrt(3.25)
TINY_RANKS = [3.0, 1.0, 1.0, 2.5, 1.0, 3.0]
TINY_IS = [_B, _A, 0.0, _A, _A, 1.0]
TINY_OOS = [1.0, -_A, 0.0, 0.0, 0.0, _B]


def _tiny_matrix() -> np.ndarray:
    lv = np.array(LEVELS, dtype=float).T  # 4 blocks x 3 trials
    m = np.repeat(lv, 2, axis=0)
    m[0::2] += 1.0
    m[1::2] -= 1.0
    return np.vstack([np.full((1, 3), 99.0), m])  # one extra oldest row, which T mod S = 9 mod 4 drops


def test_pbo_tiny_case_enumerated_by_hand():
    p = pbo_cscv(_tiny_matrix(), blocks=4)
    assert (p.s, p.n, p.t, p.rows_dropped, p.block_rows, p.combinations) == (4, 3, 8, 1, 2, 6)
    assert not p.s_reduced
    assert p.lambdas == pytest.approx([math.log(r / (4.0 - r)) for r in TINY_RANKS])
    k = math.sqrt(3.0) / 2.0
    assert p.is_sharpe == pytest.approx([k * v for v in TINY_IS])
    assert p.oos_sharpe == pytest.approx([k * v for v in TINY_OOS])
    assert p.pbo == 0.5
    assert p.prob_oos_loss == pytest.approx(1 / 6)
    slope, intercept = np.polyfit([k * v for v in TINY_IS], [k * v for v in TINY_OOS], 1)
    assert p.degradation_slope == pytest.approx(slope)
    assert p.degradation_intercept == pytest.approx(intercept)


def test_pbo_all_tied_out_of_sample_sits_at_the_median():
    # identical trials: every half ties all N, so n* = 0 with average rank (N + 1)/2 -> ω̄ = 1/2, λ = 0, PBO = 1
    col = np.random.default_rng(5).normal(size=(40, 1))
    p = pbo_cscv(np.repeat(col, 3, axis=1), blocks=4)
    assert p.lambdas == pytest.approx([0.0] * 6)
    assert p.pbo == 1.0


def _brute_lambdas(m: np.ndarray, s: int) -> list[float]:
    m = m[m.shape[0] % s :]
    size, n = m.shape[0] // s, m.shape[1]
    out = []
    for combo in itertools.combinations(range(s), s // 2):
        inside = np.concatenate([np.arange(b * size, (b + 1) * size) for b in combo])
        outside = np.setdiff1d(np.arange(m.shape[0]), inside)
        sr_in = np.array([sharpe(m[inside, j]) for j in range(n)])
        sr_out = np.array([sharpe(m[outside, j]) for j in range(n)])
        v = sr_out[int(np.argmax(sr_in))]
        rank = (sr_out < v).sum() + ((sr_out == v).sum() + 1) / 2
        out.append(math.log(rank / (n + 1 - rank)))
    return out


def test_pbo_vectorised_matches_row_by_row_sharpe():
    m = np.random.default_rng(7).normal(size=(83, 6))
    m[:, 2] = 0.25  # a constant trial: SR̂ 0 on every half
    assert pbo_cscv(m, blocks=6).lambdas == pytest.approx(_brute_lambdas(m, 6))


def test_pbo_of_pure_noise_is_near_one_half():
    m = np.random.default_rng(1).normal(size=(800, 50))
    p = pbo_cscv(m)
    assert (p.s, p.combinations, p.n) == (16, 12870, 50)
    assert 0.35 <= p.pbo <= 0.65


def test_pbo_of_a_real_edge_is_near_zero():
    m = np.random.default_rng(1).normal(size=(800, 50))
    m[:, 7] += 0.2  # +0.2 std drift throughout
    p = pbo_cscv(m)
    assert p.pbo < 0.1
    assert p.prob_oos_loss < 0.1


def test_pbo_short_sample_reduces_blocks():
    m = np.random.default_rng(2).normal(size=(7, 3))
    p = pbo_cscv(m, blocks=16)
    assert p.s_reduced
    assert (p.s, p.s_requested, p.rows_dropped, p.t, p.combinations) == (6, 16, 1, 6, 20)


def test_pbo_rejects_odd_blocks_and_tiny_inputs():
    m = np.random.default_rng(2).normal(size=(40, 3))
    with pytest.raises(ValueError, match="even"):
        pbo_cscv(m, blocks=5)
    with pytest.raises(ValueError, match="even"):
        pbo_cscv(m, blocks=0)
    with pytest.raises(ValueError, match="2 trials"):
        pbo_cscv(m[:, :1])
    with pytest.raises(ValueError, match="2 rows"):
        pbo_cscv(m[:1])


def test_pbo_to_dict_is_json_safe():
    p = pbo_cscv(_tiny_matrix(), blocks=4)
    d = p.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert "lambdas" not in d
    assert sum(d["lambda_histogram"]["counts"]) == 6
    assert d["lambda_histogram"]["edges"][0] == pytest.approx(-math.log(3))
    full = p.to_dict(per_combination=True)
    assert json.loads(json.dumps(full)) == full
    assert len(full["lambdas"]) == len(full["is_sharpe"]) == len(full["oos_sharpe"]) == 6


# ---- walk_forward_chain ----

# trial x fold:
#            f0  f1  f2  f3
# trial 0     3  -1   2   0
# trial 1     1   2  -1   4
# trial 2     0   1   3  -2
# k=1: sums over f0: 3, 1, 0 -> trial 0 (IS 3); f1 = -1, 2, 1 -> -1 is worst: rank 1/3; median 1
# k=2: sums over f0..f1: 2, 3, 1 -> trial 1 (IS 3); f2 = 2, -1, 3 -> -1 is worst: rank 1/3; median 2
# k=3: sums over f0..f2: 4, 2, 4 -> tie, trial 0 (IS 4); f3 = 0, 4, -2 -> middle: rank 2/3; median 0
# total = -1 - 1 + 0 = -2; mean rank = (1/3 + 1/3 + 2/3)/3 = 4/9; sum of medians = 3
FOLDS = [[3, -1, 2, 0], [1, 2, -1, 4], [0, 1, 3, -2]]


def test_walk_forward_chain_by_hand():
    c = walk_forward_chain(np.array(FOLDS, dtype=float))
    assert (c.n, c.k) == (3, 4)
    assert [(s.fold, s.trial, s.is_score, s.oos_score) for s in c.steps] == [
        (1, 0, 3.0, -1.0),
        (2, 1, 3.0, -1.0),
        (3, 0, 4.0, 0.0),
    ]
    assert [s.oos_rank for s in c.steps] == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    assert [s.oos_median for s in c.steps] == [1.0, 2.0, 0.0]
    assert c.total == -2.0
    assert c.mean_rank == pytest.approx(4 / 9)
    assert c.median_total == 3.0


def test_walk_forward_chain_ties_on_the_test_fold_share_the_average_rank():
    # fold 1: trial 0 (chosen, 5 on fold 0) ties trial 1 at the top: ranks 2 and 3 -> 2.5 / 3
    c = walk_forward_chain([[5, 1], [0, 1], [0, 0]])
    assert c.steps[0].trial == 0
    assert c.steps[0].oos_rank == pytest.approx(2.5 / 3)


def test_walk_forward_chain_needs_two_folds():
    with pytest.raises(ValueError, match="at least 2 folds"):
        walk_forward_chain(np.ones((3, 1)))


def test_walk_forward_chain_to_dict_is_json_safe():
    d = walk_forward_chain(FOLDS).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert [s["trial"] for s in d["steps"]] == [0, 1, 0]

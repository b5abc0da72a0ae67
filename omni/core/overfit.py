"""Judging a parameter search honestly: Sharpe ratio, probabilistic and deflated Sharpe ratio, the effective number
of trials and the probability of backtest overfitting by CSCV (the walk-forward chain of chosen trials is in
``walk_forward.py``). Pure and synchronous; formulas from docs/statistics.md (sections 5 and 6).

Conventions. Returns are per period (per day or per trade; the caller says which) and Sharpe ratios are *not*
annualised: SR̂ = mean / std of the same periods. A matrix is T × N: rows are periods in time order (row 0 the
oldest), columns are trials. Inputs must be finite (NaN / inf raise ValueError).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

EULER_GAMMA = 0.5772156649015329  # Euler–Mascheroni constant γ
_NORMAL = NormalDist()
_CHUNK_CELLS = 1 << 21  # combinations × trials handled at once by pbo_cscv (bounds its memory to a few tens of MB)

Floats = NDArray[np.float64]


def _vector(returns: ArrayLike) -> Floats:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("returns must be finite (no NaN or inf)")
    return r


def _matrix(matrix: ArrayLike, what: str = "matrix") -> Floats:
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"{what} must be two-dimensional (T periods × N trials), got shape {m.shape}")
    if m.shape[1] < 1:
        raise ValueError(f"{what} has no columns (trials)")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{what} must be finite (no NaN or inf)")
    return m


def _phi(z: float) -> float:
    """Standard normal cdf Φ(z) = (1 + erf(z / √2)) / 2."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# ---- Sharpe ratio and PSR (statistics.md §5) ----


def sharpe(returns: ArrayLike) -> float:
    """SR̂ = mean(r) / std(r), std with ddof = 1, per period, not annualised (statistics.md §5).

    Degenerate samples give 0.0 rather than NaN / inf: fewer than 2 returns, or all returns equal (zero std,
    whatever the mean). Non-finite returns raise ValueError.
    """
    r = _vector(returns)
    if r.size < 2 or r.max() == r.min():
        return 0.0
    sd = float(r.std(ddof=1))
    return 0.0 if sd == 0.0 else float(r.mean()) / sd


def moments(returns: ArrayLike) -> tuple[float, float]:
    """(γ₃, γ₄): skewness m₃ / m₂^{3/2} and kurtosis m₄ / m₂² (NOT excess; 3 for a normal), from the population
    (biased, 1/T) central moments m_k = (1/T) Σ (r − r̄)^k, as in Bailey & López de Prado (2012).
    Fewer than 2 returns or all returns equal: (0.0, 3.0), the normal values."""
    r = _vector(returns)
    if r.size < 2 or r.max() == r.min():
        return 0.0, 3.0
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    if m2 == 0.0:
        return 0.0, 3.0
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / (m2 * m2)


def psr_from_moments(sr: float, t: int, skew: float, kurt: float, sr_star: float = 0.0) -> float:
    """PSR(SR*) = Φ( (SR̂ − SR*) √(T − 1) / √(1 − γ₃ SR̂ + ((γ₄ − 1)/4) SR̂²) ) from summary statistics
    (Bailey & López de Prado 2012, "The Sharpe Ratio Efficient Frontier"; statistics.md §5).

    sr: the sample SR̂ (per period), t: the number of returns T, skew: γ₃, kurt: γ₄ (not excess).
    T < 2 gives 0.5 (no evidence either way; Φ(0)). The radicand is ≥ (1 − γ₃ SR̂ / 2)² ≥ 0 for any real sample
    (since γ₄ ≥ γ₃² + 1); if it is ≤ 0 anyway (a two-point sample at the boundary, rounding, or inconsistent
    moments) the z-score is taken as ±∞: 1.0 when SR̂ > SR*, 0.0 when SR̂ < SR*, 0.5 when equal.
    """
    if t < 2:
        return 0.5
    radicand = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    diff = sr - sr_star
    if radicand <= 0.0 or not math.isfinite(radicand):
        return 1.0 if diff > 0 else 0.0 if diff < 0 else 0.5
    return _phi(diff * math.sqrt(t - 1) / math.sqrt(radicand))


def psr(returns: ArrayLike, sr_star: float = 0.0) -> float:
    """Probabilistic Sharpe ratio: the probability that the true (per-period) SR exceeds sr_star, given T returns
    with sample SR̂ (``sharpe``), skewness γ₃ and kurtosis γ₄ (``moments``):
    PSR(SR*) = Φ( (SR̂ − SR*) √(T − 1) / √(1 − γ₃ SR̂ + ((γ₄ − 1)/4) SR̂²) )
    (Bailey & López de Prado 2012; statistics.md §5). Guards as in ``psr_from_moments``; all-equal returns have
    SR̂ = 0, γ₃ = 0, γ₄ = 3, so PSR = Φ(−SR* √(T − 1)).
    """
    r = _vector(returns)
    skew, kurt = moments(r)
    return psr_from_moments(sharpe(r), int(r.size), skew, kurt, sr_star)


# ---- effective number of trials and the deflated Sharpe ratio (statistics.md §5) ----


def _sharpe_columns(m: Floats) -> Floats:
    """``sharpe`` of every column of a T × N matrix (same degenerate rules: T < 2 or a constant column → 0)."""
    t, n = m.shape
    if t < 2:
        return np.zeros(n)
    sd = m.std(axis=0, ddof=1)
    const = (m.max(axis=0) == m.min(axis=0)) | (sd == 0.0)
    return np.where(const, 0.0, m.mean(axis=0) / np.where(const, 1.0, sd))


def effective_trials(matrix: ArrayLike) -> float:
    """Effectively independent trials among the N columns of a T × N return matrix: the participation ratio of the
    eigenvalues λ_i of the N × N correlation matrix C, N_eff = (Σ λ_i)² / Σ λ_i², in [1, N] (statistics.md §5:
    "estimate N from the trials' correlations").

    Computed without an eigendecomposition, since Σ λ_i = trace C = N and Σ λ_i² = trace C² = Σ_ij C_ij², so
    N_eff = N² / Σ_ij C_ij². N identical (or ±perfectly correlated) columns give 1, N uncorrelated columns give N
    (with a finite T, sample correlations of order 1/√T pull it slightly below N: ≈ N / (1 + (N − 1)/T)).
    Columns with zero variance (constant, or T < 2) are treated as perfectly correlated with each other and
    uncorrelated with the others, i.e. together they count as one trial. N = 1 gives 1.0.
    """
    m = _matrix(matrix)
    t, n = m.shape
    if n == 1:
        return 1.0
    const = (m.max(axis=0) == m.min(axis=0)) if t >= 1 else np.ones(n, dtype=bool)
    live = ~const
    c = np.zeros((n, n))
    if live.any():
        x = m[:, live] - m[:, live].mean(axis=0)
        x /= np.sqrt((x * x).sum(axis=0))
        c_live = np.clip(x.T @ x, -1.0, 1.0)
        np.fill_diagonal(c_live, 1.0)
        c[np.ix_(live, live)] = c_live
    c[np.ix_(const, const)] = 1.0
    return float(np.clip(n * n / float((c * c).sum()), 1.0, n))


def expected_max_sharpe(v: float, n_trials: float) -> float:
    """SR₀ = √V · ( (1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)) ): the expected maximum SR̂ among N independent
    trials whose true SR is 0 and whose SR̂ vary with variance V (γ Euler–Mascheroni, e Euler's number; Bailey &
    López de Prado 2014, "The Deflated Sharpe Ratio"; statistics.md §5). N ≤ 1 or V ≤ 0 gives 0.0."""
    if n_trials <= 1.0 or v <= 0.0:
        return 0.0
    g = EULER_GAMMA
    return math.sqrt(v) * (
        (1.0 - g) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials) + g * _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    )


@dataclass(frozen=True, slots=True)
class DSR:
    """Deflated Sharpe ratio of the best trial of a search (see ``deflated_sharpe``)."""

    best: int  # column of the trial judged
    t: int  # returns per trial (T)
    n: int  # trials (columns) in the matrix
    n_eff: float  # N used in SR₀: n_trials when given, else effective_trials(matrix)
    v: float  # variance (ddof = 1) of the N columns' SR̂; 0.0 with a single column
    sr_best: float  # SR̂ of the best column, per period
    sr0: float  # the deflated benchmark SR₀ (expected maximum SR̂ of N_eff luck-only trials)
    dsr: float  # PSR(SR₀) of the best column

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "t": self.t,
            "n": self.n,
            "n_eff": self.n_eff,
            "v": self.v,
            "sr_best": self.sr_best,
            "sr0": self.sr0,
            "dsr": self.dsr,
        }


def deflated_sharpe(matrix: ArrayLike, best: int, n_trials: float | None = None) -> DSR:
    """DSR = PSR(SR₀) of column ``best`` of a T × N return matrix, with SR₀ = ``expected_max_sharpe(V, N)``,
    V = the variance (ddof = 1) of the N columns' SR̂ and N = n_trials, or ``effective_trials(matrix)`` when None
    (Bailey & López de Prado 2014; statistics.md §5). DSR near 1: the best trial's Sharpe is unlikely to be luck
    of the search; below 0.95: do not trust the winner.

    N ≤ 1 gives SR₀ = 0, so DSR = PSR(0); a single column has V = 0 and so SR₀ = 0 whatever n_trials says.
    ``best`` must be a column index in [0, N); n_trials, when given, must be a positive finite number.
    """
    m = _matrix(matrix)
    t, n = m.shape
    if isinstance(best, bool) or not isinstance(best, int | np.integer) or not 0 <= best < n:
        raise ValueError(f"best must be a column index in [0, {n}), got {best!r}")
    if n_trials is not None and not (math.isfinite(n_trials) and n_trials > 0):
        raise ValueError(f"n_trials must be a positive finite number, got {n_trials!r}")
    srs = _sharpe_columns(m)
    v = float(srs.var(ddof=1)) if n >= 2 else 0.0
    n_eff = float(n_trials) if n_trials is not None else effective_trials(m)
    sr0 = expected_max_sharpe(v, n_eff)
    col = m[:, int(best)]
    skew, kurt = moments(col)
    sr_best = sharpe(col)
    return DSR(
        best=int(best),
        t=t,
        n=n,
        n_eff=n_eff,
        v=v,
        sr_best=sr_best,
        sr0=sr0,
        dsr=psr_from_moments(sr_best, t, skew, kurt, sr0),
    )


# ---- probability of backtest overfitting, CSCV (statistics.md §6) ----


@dataclass(frozen=True, slots=True)
class PBO:
    """Combinatorially symmetric cross-validation of a search (see ``pbo_cscv``). Per-combination tuples are in
    the order of itertools.combinations(range(s), s // 2) (the in-sample blocks)."""

    pbo: float  # share of combinations with λ ≤ 0
    s: int  # blocks used
    s_requested: int  # blocks asked for
    s_reduced: bool  # True when T < s_requested forced s = the largest even number ≤ T
    n: int  # trials (columns)
    t: int  # rows used (T minus the dropped oldest rows), = s × block_rows
    rows_dropped: int  # oldest rows dropped so that s divides the rest (T mod s)
    block_rows: int  # rows per block
    combinations: int  # binom(s, s/2)
    lambdas: tuple[float, ...]  # λ_C = ln(ω̄ / (1 − ω̄)) per combination
    is_sharpe: tuple[float, ...]  # SR̂ of n* on its in-sample half, per combination
    oos_sharpe: tuple[float, ...]  # SR̂ of n* on the out-of-sample half, per combination
    degradation_slope: float | None  # least-squares slope of oos_sharpe on is_sharpe; None if is_sharpe is constant
    degradation_intercept: float | None
    prob_oos_loss: float  # share of combinations where n*'s out-of-sample SR̂ < 0

    def lambda_median(self) -> float:
        return float(np.median(self.lambdas))

    def lambda_histogram(self, bins: int = 20) -> tuple[list[float], list[int]]:
        """(edges, counts) of λ over [−ln N, ln N], the whole range ω̄ ∈ [1/(N + 1), N/(N + 1)] can give."""
        top = math.log(self.n)
        counts, edges = np.histogram(np.asarray(self.lambdas), bins=bins, range=(-top, top))
        return [float(e) for e in edges], [int(c) for c in counts]

    def to_dict(self, per_combination: bool = False) -> dict[str, Any]:
        """JSON-safe summary with a 20-bin λ histogram; the per-combination lists only when asked for (there are
        12,870 of each at s = 16)."""
        edges, counts = self.lambda_histogram()
        d: dict[str, Any] = {
            "pbo": self.pbo,
            "s": self.s,
            "s_requested": self.s_requested,
            "s_reduced": self.s_reduced,
            "n": self.n,
            "t": self.t,
            "rows_dropped": self.rows_dropped,
            "block_rows": self.block_rows,
            "combinations": self.combinations,
            "lambda_median": self.lambda_median(),
            "lambda_histogram": {"edges": edges, "counts": counts},
            "degradation_slope": self.degradation_slope,
            "degradation_intercept": self.degradation_intercept,
            "prob_oos_loss": self.prob_oos_loss,
        }
        if per_combination:
            d["lambdas"] = list(self.lambdas)
            d["is_sharpe"] = list(self.is_sharpe)
            d["oos_sharpe"] = list(self.oos_sharpe)
        return d


def _half_sharpe(
    idx: NDArray[np.intp], s1: Floats, s2: Floats, hi: Floats, lo: Floats, mu: Floats, rows: int
) -> Floats:
    """SR̂ (``sharpe`` rules) of every trial on the union of the blocks idx[c] for each combination c.

    s1, s2: per-block sums of the column-centred returns and of their squares (S × N); hi, lo: per-block max / min
    of the raw returns; mu: the column means that were subtracted; rows: rows in the union."""
    if rows < 2:
        return np.zeros((idx.shape[0], s1.shape[1]))
    sum1 = s1[idx].sum(axis=1)
    sum2 = s2[idx].sum(axis=1)
    mean_c = sum1 / rows
    var = (sum2 - sum1 * mean_c) / (rows - 1)
    const = (hi[idx].max(axis=1) == lo[idx].min(axis=1)) | (var <= 0.0)
    return np.where(const, 0.0, (mean_c + mu) / np.sqrt(np.where(const, 1.0, var)))


def pbo_cscv(matrix: ArrayLike, blocks: int = 16) -> PBO:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey, Borwein,
    López de Prado & Zhu 2017, "The Probability of Backtest Overfitting"; statistics.md §6), with the Sharpe
    ratio (``sharpe``) as the performance statistic.

    1. M = the T × N matrix (rows in time order, oldest first); drop the oldest T mod S rows.
    2. Cut the rows into S contiguous blocks of equal size.
    3. For every combination C of S/2 blocks (binom(S, S/2) of them): in-sample J = the rows of C,
       out-of-sample J̄ = the rest.
    4. SR̂ of every trial on J and on J̄; n* = argmax on J (ties: the lowest column index).
    5. ω̄ = rank of n* among the N trials on J̄ / (N + 1), rank 1 = worst, tied trials sharing the average of their
       ranks (so an all-tied J̄ puts n* exactly at the median, ω̄ = 1/2); λ_C = ln(ω̄ / (1 − ω̄)).
    6. PBO = share of combinations with λ_C ≤ 0 (n* at or below the out-of-sample median).

    Also: performance degradation, the least-squares line oos = a + b · is through the combinations' (SR̂ of n* on
    J, SR̂ of n* on J̄) (slope b, intercept a), and the probability of out-of-sample loss, the share of
    combinations with SR̂ of n* on J̄ < 0. Noise gives PBO near 0.5; trust a search only at about 0.2 or less.

    ``blocks`` (S) must be even and ≥ 2 (ValueError otherwise). If T < S, the largest even S' ≤ T is used and
    ``s_reduced`` says so; T < 2 or N < 2 raise ValueError. Vectorised over combinations from per-block sums;
    numerically the SR̂ on a half equals ``sharpe`` of its rows up to rounding.
    """
    m = _matrix(matrix)
    t_all, n = m.shape
    if isinstance(blocks, bool) or not isinstance(blocks, int | np.integer) or blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even integer >= 2, got {blocks!r}")
    if n < 2:
        raise ValueError("pbo_cscv needs at least 2 trials (columns) to rank")
    if t_all < 2:
        raise ValueError(f"pbo_cscv needs at least 2 rows, got {t_all}")
    s = int(blocks) if t_all >= blocks else t_all - t_all % 2
    dropped = t_all % s
    m = m[dropped:]
    t = m.shape[0]
    size = t // s
    half = s // 2
    rows = half * size

    mu = m.mean(axis=0)
    x = (m - mu).reshape(s, size, n)
    s1 = x.sum(axis=1)
    s2 = (x * x).sum(axis=1)
    raw = m.reshape(s, size, n)
    hi = raw.max(axis=1)
    lo = raw.min(axis=1)

    combos = np.array(list(itertools.combinations(range(s), half)), dtype=np.intp)
    count = combos.shape[0]
    member = np.zeros((count, s), dtype=bool)
    member[np.arange(count)[:, None], combos] = True
    others = np.nonzero(~member)[1].reshape(count, half).astype(np.intp)

    is_best = np.empty(count)
    oos_best = np.empty(count)
    rank = np.empty(count)
    step = max(1, _CHUNK_CELLS // (n * half))
    for a in range(0, count, step):
        b = min(a + step, count)
        sr_in = _half_sharpe(combos[a:b], s1, s2, hi, lo, mu, rows)
        sr_out = _half_sharpe(others[a:b], s1, s2, hi, lo, mu, rows)
        star = np.argmax(sr_in, axis=1)
        at = np.arange(b - a)
        v = sr_out[at, star]
        is_best[a:b] = sr_in[at, star]
        oos_best[a:b] = v
        below = (sr_out < v[:, None]).sum(axis=1)
        tied = (sr_out == v[:, None]).sum(axis=1)  # includes n* itself
        rank[a:b] = below + (tied + 1) / 2.0

    lambdas = np.log(rank) - np.log(n + 1 - rank)  # ln(ω̄ / (1 − ω̄)) with ω̄ = rank / (N + 1)
    pbo = float(np.mean(2.0 * rank <= n + 1))  # λ ≤ 0 ⇔ ω̄ ≤ 1/2, decided on the exact half-integer ranks
    dx = is_best - is_best.mean()
    sxx = float(dx @ dx)
    if sxx > 0.0:
        slope: float | None = float(dx @ (oos_best - oos_best.mean())) / sxx
        intercept: float | None = float(oos_best.mean()) - slope * float(is_best.mean())
    else:
        slope = intercept = None
    return PBO(
        pbo=pbo,
        s=s,
        s_requested=int(blocks),
        s_reduced=s != blocks,
        n=n,
        t=t,
        rows_dropped=dropped,
        block_rows=size,
        combinations=count,
        lambdas=tuple(float(v) for v in lambdas),
        is_sharpe=tuple(float(v) for v in is_best),
        oos_sharpe=tuple(float(v) for v in oos_best),
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_best < 0.0)),
    )


# ---- walk-forward chain of chosen trials (statistics.md §7) ----

"""Scoring and recalibrating win-probability forecasts: Brier, log loss, skill, Murphy decomposition, Wilson
intervals, a reliability table, a day-block bootstrap of the skill score, an EV-bound table, and isotonic / Platt
recalibration maps. Pure and synchronous; formulas from docs/statistics.md (sections 1, 2, 4, 8)."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LOGIT_EPS = 1e-6
ISOTONIC_EPS = 1e-3
_SCORE_KEYS = ("base_rate", "brier", "brier_ref", "bss", "bss_interval_90", "log_loss", "murphy")


def _checked(p: Sequence[float], o: Sequence[int | bool], empty_ok: bool = True) -> tuple[list[float], list[int]]:
    if not empty_ok and not p:
        raise ValueError("no forecasts to score")
    if len(p) != len(o):
        raise ValueError(f"{len(p)} forecasts but {len(o)} outcomes")
    ps = [float(x) for x in p]
    if any(not 0.0 <= x <= 1.0 for x in ps):
        raise ValueError("forecasts must lie in [0, 1]")
    if any(x not in (0, 1) for x in o):
        raise ValueError("outcomes must be 0/1 or bool")
    return ps, [int(x) for x in o]


def _bin_of(x: float, bins: int) -> int:
    return min(int(x * bins), bins - 1)


def _label(i: int, bins: int) -> str:
    digits = next((d for d in range(1, 4) if 10**d % bins == 0), 3)
    return f"{i / bins:.{digits}f}-{(i + 1) / bins:.{digits}f}"


def _groups(p: list[float], o: list[int], bins: int) -> list[tuple[int, list[float], list[int]]]:
    """Non-empty bins, in order, as (index, forecasts, outcomes)."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    by_bin: list[tuple[list[float], list[int]]] = [([], []) for _ in range(bins)]
    for x, y in zip(p, o, strict=True):
        ps, os_ = by_bin[_bin_of(x, bins)]
        ps.append(x)
        os_.append(y)
    return [(i, ps, os_) for i, (ps, os_) in enumerate(by_bin) if ps]


def brier(p: Sequence[float], o: Sequence[int | bool]) -> float:
    """Brier score BS = (1/n) Σ (p_i − o_i)² (Brier 1950; statistics.md §1)."""
    ps, os_ = _checked(p, o, empty_ok=False)
    return sum((x - y) ** 2 for x, y in zip(ps, os_, strict=True)) / len(ps)


def log_loss(p: Sequence[float], o: Sequence[int | bool], eps: float = 1e-6) -> float:
    """Log loss −(1/n) Σ [o ln p + (1 − o) ln(1 − p)], p clipped to [eps, 1 − eps] (statistics.md §1)."""
    ps, os_ = _checked(p, o, empty_ok=False)
    total = 0.0
    for x, y in zip(ps, os_, strict=True):
        c = min(max(x, eps), 1.0 - eps)
        total += math.log(c) if y else math.log(1.0 - c)
    return -total / len(ps)


def brier_skill(p: Sequence[float], o: Sequence[int | bool]) -> float | None:
    """BSS = 1 − BS / BS_ref, BS_ref = ō(1 − ō) of these outcomes; None when BS_ref = 0 (statistics.md §1)."""
    ps, os_ = _checked(p, o, empty_ok=False)
    rate = sum(os_) / len(os_)
    ref = rate * (1.0 - rate)
    return None if ref == 0.0 else 1.0 - brier(ps, os_) / ref


def murphy(p: Sequence[float], o: Sequence[int | bool], bins: int = 10) -> dict[str, float]:
    """Murphy (1973) BS ≈ REL − RES + UNC over equal-width forecast bins (statistics.md §1)."""
    ps, os_ = _checked(p, o, empty_ok=False)
    n = len(ps)
    rate = sum(os_) / n
    rel = res = 0.0
    for _, bp, bo in _groups(ps, os_, bins):
        mean_p, mean_o = sum(bp) / len(bp), sum(bo) / len(bo)
        rel += len(bp) * (mean_p - mean_o) ** 2
        res += len(bp) * (mean_o - rate) ** 2
    return {"reliability": rel / n, "resolution": res / n, "uncertainty": rate * (1.0 - rate)}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Two-sided Wilson (1927) score interval for k successes in n trials; (0, 1) when n = 0 (statistics.md §2)."""
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    ph = k / n
    denom = 1.0 + z * z / n
    centre = (ph + z * z / (2 * n)) / denom
    half = z * math.sqrt(ph * (1.0 - ph) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)  # the bounds are exactly 0 / 1 there; avoid rounding
    return low, 1.0 if k == n else min(1.0, centre + half)


def reliability_table(
    p: Sequence[float], o: Sequence[int | bool], bins: int = 10, z: float = 1.96, small: int = 30
) -> list[dict[str, Any]]:
    """Per non-empty bin: n_k, p̄_k, ō_k and ō_k's Wilson interval, judged by containing p̄_k (statistics.md §1-2)."""
    ps, os_ = _checked(p, o)
    table = []
    for i, bp, bo in _groups(ps, os_, bins):
        n, k = len(bp), sum(bo)
        mean_p = sum(bp) / n
        low, high = wilson(k, n, z)
        table.append(
            {
                "bin": _label(i, bins),
                "n": n,
                "mean_forecast": mean_p,
                "realised_rate": k / n,
                "wilson_low": low,
                "wilson_high": high,
                "contains": low <= mean_p <= high,
                "small": n < small,
            }
        )
    return table


def _quantile(sorted_xs: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, Hyndman & Fan type 7)."""
    h = (len(sorted_xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (h - lo) * (sorted_xs[hi] - sorted_xs[lo])


def bss_block_bootstrap(
    p: Sequence[float],
    o: Sequence[int | bool],
    days: Sequence[int],
    reps: int = 1000,
    level: float = 0.90,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile interval of BSS over resamples of whole days, each with its own base rate (statistics.md §1, §8)."""
    ps, os_ = _checked(p, o)
    if len(days) != len(ps):
        raise ValueError(f"{len(ps)} forecasts but {len(days)} day labels")
    if not 0.0 < level < 1.0:
        raise ValueError("level must lie in (0, 1)")
    # Per day: count, sum of squared errors, wins. A resample's BS and base rate follow from these sums.
    sums: dict[int, list[float]] = {}
    for x, y, d in zip(ps, os_, days, strict=True):
        s = sums.setdefault(d, [0.0, 0.0, 0.0])
        s[0] += 1
        s[1] += (x - y) ** 2
        s[2] += y
    per_day = [sums[d] for d in sorted(sums)]
    if len(per_day) < 2:
        return None
    rng = random.Random(seed)
    stats = []
    for _ in range(reps):
        n = sq = wins = 0.0
        for _ in range(len(per_day)):
            c, e, w = per_day[rng.randrange(len(per_day))]
            n, sq, wins = n + c, sq + e, wins + w
        rate = wins / n
        if rate in (0.0, 1.0):
            continue
        stats.append(1.0 - (sq / n) / (rate * (1.0 - rate)))
    if not stats:
        return None
    stats.sort()
    tail = (1.0 - level) / 2.0
    return _quantile(stats, tail), _quantile(stats, 1.0 - tail)


def ev_table(ev_lower: Sequence[float], realised: Sequence[float], bins: int = 10) -> list[dict[str, Any]]:
    """Equal-count groups by rank of the EV lower bound: did the realised mean reach the bound? (statistics.md §1)."""
    if len(ev_lower) != len(realised):
        raise ValueError(f"{len(ev_lower)} bounds but {len(realised)} realised values")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    pairs = sorted(zip((float(x) for x in ev_lower), (float(y) for y in realised), strict=True), key=lambda t: t[0])
    n = len(pairs)
    g = min(bins, n)
    table = []
    for i in range(g):
        chunk = pairs[i * n // g : (i + 1) * n // g]
        bounds = [b for b, _ in chunk]
        mean_bound = sum(bounds) / len(chunk)
        mean_realised = sum(r for _, r in chunk) / len(chunk)
        table.append(
            {
                "n": len(chunk),
                "mean_bound": mean_bound,
                "min_bound": bounds[0],
                "max_bound": bounds[-1],
                "mean_realised": mean_realised,
                "realised_at_or_above": mean_realised >= mean_bound,
            }
        )
    return table


def score(
    p: Sequence[float], o: Sequence[int | bool], days: Sequence[int] | None = None, bins: int = 10, seed: int = 0
) -> dict[str, Any]:
    """All of statistics.md §1 in one JSON-able dict; bss_interval_90 only when day labels are given."""
    ps, os_ = _checked(p, o)
    n = len(ps)
    if n == 0:
        return {"n": 0, **dict.fromkeys(_SCORE_KEYS), "reliability": []}
    rate = sum(os_) / n
    interval = None if days is None else bss_block_bootstrap(ps, os_, days, level=0.90, seed=seed)
    return {
        "n": n,
        "base_rate": rate,
        "brier": brier(ps, os_),
        "brier_ref": rate * (1.0 - rate),
        "bss": brier_skill(ps, os_),
        "bss_interval_90": None if interval is None else list(interval),
        "log_loss": log_loss(ps, os_),
        "murphy": murphy(ps, os_, bins),
        "reliability": reliability_table(ps, os_, bins),
    }


# ---- recalibration (statistics.md §4) ----


@dataclass(frozen=True)
class Isotonic:
    """Step map from pool-adjacent-violators: block j covers [thresholds[j], thresholds[j+1]) → values[j]."""

    thresholds: tuple[float, ...]
    values: tuple[float, ...]
    eps: float = ISOTONIC_EPS

    def __post_init__(self) -> None:
        if not self.thresholds or len(self.thresholds) != len(self.values):
            raise ValueError("isotonic map needs as many thresholds as values, at least one")
        if any(a >= b for a, b in zip(self.thresholds, self.thresholds[1:], strict=False)):
            raise ValueError("isotonic thresholds must increase")
        if any(a > b for a, b in zip(self.values, self.values[1:], strict=False)):
            raise ValueError("isotonic values must not decrease")

    def __call__(self, p: float) -> float:
        v = self.values[max(bisect_right(self.thresholds, p) - 1, 0)]
        return min(max(v, self.eps), 1.0 - self.eps)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "isotonic", "thresholds": list(self.thresholds), "values": list(self.values), "eps": self.eps}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Isotonic:
        if d.get("kind") != "isotonic":
            raise ValueError(f"not an isotonic map: kind={d.get('kind')!r}")
        eps = float(d.get("eps", ISOTONIC_EPS))
        return cls(tuple(float(x) for x in d["thresholds"]), tuple(float(x) for x in d["values"]), eps)


def fit_isotonic(p: Sequence[float], o: Sequence[int | bool]) -> Isotonic:
    """Isotonic regression: pool-adjacent-violators on points sorted by p, ties pooled first (statistics.md §4)."""
    ps, os_ = _checked(p, o, empty_ok=False)
    # Tied forecasts first become one point: [p, weight, sum of outcomes].
    points: list[list[float]] = []
    for x, y in sorted(zip(ps, os_, strict=True)):
        if points and points[-1][0] == x:
            points[-1][1] += 1
            points[-1][2] += y
        else:
            points.append([x, 1.0, float(y)])
    blocks: list[list[float]] = []  # [lowest p, weight, sum of outcomes]
    for point in points:
        blocks.append(point)
        while len(blocks) > 1 and blocks[-2][2] / blocks[-2][1] > blocks[-1][2] / blocks[-1][1]:
            _, w, s = blocks.pop()
            blocks[-1][1] += w
            blocks[-1][2] += s
    return Isotonic(tuple(b[0] for b in blocks), tuple(b[2] / b[1] for b in blocks))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _logit(p: float) -> float:
    c = min(max(p, LOGIT_EPS), 1.0 - LOGIT_EPS)
    return math.log(c / (1.0 - c))


@dataclass(frozen=True)
class Platt:
    """Platt scaling p' = σ(a · logit(p) + b), logit on p clipped to [1e-6, 1 − 1e-6]."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, p: float) -> float:
        return _sigmoid(self.a * _logit(p) + self.b)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "platt", "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Platt:
        if d.get("kind") != "platt":
            raise ValueError(f"not a Platt map: kind={d.get('kind')!r}")
        return cls(float(d["a"]), float(d["b"]))


def fit_platt(
    p: Sequence[float], o: Sequence[int | bool], ridge: float = 1e-3, max_iter: int = 100, tol: float = 1e-10
) -> Platt:
    """Platt (1999) scaling by maximum likelihood: damped Newton on (a, b), ridge toward identity (statistics.md §4)."""
    ps, os_ = _checked(p, o, empty_ok=False)
    xs = [_logit(x) for x in ps]

    def loss(a: float, b: float) -> float:
        # −log-likelihood via softplus(z) − o·z, stable for large |z|, plus the ridge toward (1, 0)
        total = 0.0
        for x, y in zip(xs, os_, strict=True):
            z = a * x + b
            total += max(z, 0.0) + math.log1p(math.exp(-abs(z))) - y * z
        return total + 0.5 * ridge * ((a - 1.0) ** 2 + b * b)

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(max_iter):
        ga, gb = ridge * (a - 1.0), ridge * b
        haa, hab, hbb = ridge, 0.0, ridge
        for x, y in zip(xs, os_, strict=True):
            q = _sigmoid(a * x + b)
            w = q * (1.0 - q)
            ga += (q - y) * x
            gb += q - y
            haa += w * x * x
            hab += w * x
            hbb += w
        det = haa * hbb - hab * hab  # > 0: the ridge makes the Hessian positive definite
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        step = 1.0
        while step > 1e-10:  # halve until the loss does not rise
            na, nb = a - step * da, b - step * db
            new = loss(na, nb)
            if new <= current:
                break
            step /= 2.0
        else:
            break
        a, b, current = na, nb, new
        if abs(step * da) + abs(step * db) < tol:
            break
    return Platt(a, b)


def recalibrator_from_dict(d: Mapping[str, Any]) -> Isotonic | Platt:
    """Rebuild a persisted recalibration map by its "kind"."""
    kind = d.get("kind")
    if kind == "isotonic":
        return Isotonic.from_dict(d)
    if kind == "platt":
        return Platt.from_dict(d)
    raise ValueError(f"unknown recalibrator kind: {kind!r}")

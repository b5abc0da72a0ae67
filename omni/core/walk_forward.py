"""The nested walk-forward chain of a parameter search (docs/statistics.md section 7): for each fold k >= 1 the trial
best on the folds before k, scored on fold k, which it never saw. Pure and synchronous."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from omni.core.overfit import _matrix


@dataclass(frozen=True, slots=True)
class ChainStep:
    fold: int  # k, the out-of-sample fold
    trial: int  # the chosen trial: best sum of scores on folds 0..k-1 (ties: lowest index)
    is_score: float  # its sum of scores on folds 0..k-1
    oos_score: float  # its score on fold k
    oos_rank: float  # its rank among all N on fold k as a fraction, 1 = best, 1/N = worst (ties averaged)
    oos_median: float  # median score of all N trials on fold k

    def to_dict(self) -> dict[str, Any]:
        return {
            "fold": self.fold,
            "trial": self.trial,
            "is_score": self.is_score,
            "oos_score": self.oos_score,
            "oos_rank": self.oos_rank,
            "oos_median": self.oos_median,
        }


@dataclass(frozen=True, slots=True)
class Chain:
    """Anchored walk-forward selection (see ``walk_forward_chain``)."""

    n: int  # trials
    k: int  # folds
    steps: tuple[ChainStep, ...]  # one per fold 1..K-1
    total: float  # Σ of the chosen trials' out-of-sample scores
    mean_rank: float  # mean of the steps' oos_rank (0.5-ish for luck, near 1 for a real, stable edge)
    median_total: float  # Σ of the per-fold medians: what a typical trial earned on the same folds

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "k": self.k,
            "steps": [s.to_dict() for s in self.steps],
            "total": self.total,
            "mean_rank": self.mean_rank,
            "median_total": self.median_total,
        }


def walk_forward_chain(fold_scores: ArrayLike) -> Chain:
    """Anchored walk-forward selection over K consecutive folds (statistics.md §7): fold_scores is N × K (trial ×
    fold, e.g. each trial's net USDT on each fold, folds in time order). For each k = 1..K-1, the trial with the
    best sum of scores on folds 0..k-1 (ties: lowest index) is chosen using nothing of fold k, and its score on
    fold k is its out-of-sample result. The out-of-sample rank is (number of trials scoring below it + (number
    tied with it, itself included, + 1) / 2) / N, i.e. the average rank with 1 = worst divided by N, so 1 = best.
    total = Σ_k the chosen trials' fold-k scores. K < 2 raises ValueError (nothing to test out of sample).
    """
    f = _matrix(fold_scores, "fold_scores")
    if f.shape[0] < 1:
        raise ValueError("fold_scores has no trials (rows)")
    n, k = f.shape
    if k < 2:
        raise ValueError(f"walk_forward_chain needs at least 2 folds (one to choose on, one to test), got {k}")
    cum = np.cumsum(f, axis=1)
    steps = []
    for j in range(1, k):
        trial = int(np.argmax(cum[:, j - 1]))
        fold = f[:, j]
        v = fold[trial]
        rank = (np.sum(fold < v) + (np.sum(fold == v) + 1) / 2.0) / n
        steps.append(
            ChainStep(
                fold=j,
                trial=trial,
                is_score=float(cum[trial, j - 1]),
                oos_score=float(v),
                oos_rank=float(rank),
                oos_median=float(np.median(fold)),
            )
        )
    return Chain(
        n=n,
        k=k,
        steps=tuple(steps),
        total=float(sum(s.oos_score for s in steps)),
        mean_rank=float(np.mean([s.oos_rank for s in steps])),
        median_total=float(sum(s.oos_median for s in steps)),
    )

"""Walk-forward recalibration of the simulator's win probability (statistics.md section 4).

Market time is cut into folds of ``fold_ms`` from the first forecast. At the first decision of fold k a map
p -> p' (isotonic or Platt) is fitted on the outcomes of folds < k that were resolved by then (anchored: all
earlier folds), and nothing of fold k or later. The map is *applied* in fold k only where recalibration raised
skill out of sample so far: for every earlier fold j that had a map (fitted on folds < j), the Brier skill of
the mapped forecasts on fold j is compared with the raw ones; the map is switched on when the mean gain is
positive. Raw p is always kept beside p'. ``folds`` records each fold's fit and decision for the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omni.core.outcomes import Forecast
from omni.core.scoring import Isotonic, Platt, brier_skill, fit_isotonic, fit_platt, recalibrator_from_dict


@dataclass(slots=True)
class FoldFit:
    fold: int
    start_ts: int
    n_fit: int
    active: bool
    gain: float | None  # mean BSS gain of the maps on the earlier folds they served (out of sample)
    folds_judged: int
    mapping: Isotonic | Platt | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fold": self.fold,
            "start_ts": self.start_ts,
            "n_fit": self.n_fit,
            "active": self.active,
            "gain": self.gain,
            "folds_judged": self.folds_judged,
            "mapping": None if self.mapping is None else self.mapping.to_dict(),
        }


@dataclass(slots=True)
class WalkForwardCalibration:
    fold_ms: int
    method: str = "isotonic"  # isotonic | platt | off
    min_fit: int = 200
    origin: int | None = None
    current: FoldFit | None = None
    folds: list[FoldFit] = field(default_factory=list)
    on_refit: Callable[[WalkForwardCalibration], None] | None = None

    def fold_of(self, ts: int) -> int:
        if self.origin is None:
            self.origin = ts
        return max(0, (ts - self.origin) // self.fold_ms)

    def apply(self, p: float, now: int, resolved: list[Forecast]) -> float:
        """The calibrated probability for a forecast made at ``now`` (``resolved``: outcomes in exit order)."""
        if self.method == "off":
            return p
        k = self.fold_of(now)
        if self.current is None or self.current.fold != k:
            self._refit(k, now, resolved)
        cur = self.current
        assert cur is not None
        return cur.mapping(p) if cur.active and cur.mapping is not None else p

    def _refit(self, k: int, now: int, resolved: list[Forecast]) -> None:
        known = [f for f in resolved if f.exit_ts <= now and self.fold_of(f.ts) < k]
        mapping: Isotonic | Platt | None = None
        if len(known) >= self.min_fit:
            p = [f.p for f in known]
            o = [1 if f.win else 0 for f in known]
            mapping = fit_isotonic(p, o) if self.method == "isotonic" else fit_platt(p, o)
        gains = []
        for fit in self.folds:
            if fit.mapping is None:
                continue
            fold = [f for f in known if self.fold_of(f.ts) == fit.fold]
            if len(fold) < 20:
                continue
            o = [1 if f.win else 0 for f in fold]
            raw = brier_skill([f.p for f in fold], o)
            mapped = brier_skill([fit.mapping(f.p) for f in fold], o)
            if raw is not None and mapped is not None:
                gains.append(mapped - raw)
        gain = sum(gains) / len(gains) if gains else None
        start = (self.origin or now) + k * self.fold_ms
        self.current = FoldFit(k, start, len(known), mapping is not None and gain is not None and gain > 0, gain,
                               len(gains), mapping)  # fmt: skip
        self.folds.append(self.current)
        if self.on_refit is not None:
            self.on_refit(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "fold_ms": self.fold_ms,
            "origin": self.origin,
            "folds": [f.to_dict() for f in self.folds],
        }

    @staticmethod
    def mapping_from(d: dict[str, Any] | None) -> Isotonic | Platt | None:
        return None if not d else recalibrator_from_dict(d)

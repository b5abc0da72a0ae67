"""Consecutive walk-forward folds over a replay's time range, with a warm-up before each and an embargo between.

The traded range (after the first warm-up) is cut into K equal folds in time order. Fold k is replayed from
``replay_from`` (its warm-up: history for the scanner and the simulator, no entries) and trades from
``trade_from`` to ``end``; positions still open at ``end`` are closed there, so no trade straddles two folds. Fold
k > 0 starts trading an *embargo* (the longest holding time: ``strategy.max_hold_bars`` of the slowest timeframe)
after fold k - 1 ends, so even the market the last trades of one fold saw is not the first of the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    replay_from: int  # epoch ms: first bar replayed (warm-up)
    trade_from: int  # entries allowed from here
    end: int  # exclusive: last bar opens before this

    @property
    def hours(self) -> int:
        return -(-(self.end - self.trade_from) // 3_600_000)

    def to_dict(self) -> dict[str, object]:
        iso = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        return {"index": self.index, "replay_from": iso(self.replay_from), "trade_from": iso(self.trade_from),
                "end": iso(self.end), "hours": self.hours}  # fmt: skip


def plan_folds(first_open: int, end: int, k: int, warmup_ms: int, embargo_ms: int) -> list[Fold]:
    """K folds over bars opening in [first_open, end); ValueError when a fold would have nothing to trade."""
    if k < 2:
        raise ValueError("a walk-forward needs at least 2 folds")
    start = first_open + warmup_ms
    span = (end - start) // k
    span -= span % MINUTE_MS
    if span <= embargo_ms + MINUTE_MS:
        days = (end - first_open) / 86_400_000
        raise ValueError(f"{days:.1f} days of data cannot hold {k} folds after a {warmup_ms / 3_600_000:g} h warm-up "
                         f"and a {embargo_ms / 60_000:g} min embargo each: use fewer folds or more data")  # fmt: skip
    folds = []
    for i in range(k):
        lo = start + i * span
        hi = start + (i + 1) * span if i < k - 1 else end
        trade_from = lo + (embargo_ms if i else 0)
        folds.append(Fold(i, trade_from - warmup_ms, trade_from, hi))
    return folds

"""Pacer: spaces entries across the UTC day toward the daily target, and says how the day is going.

seconds_per_trade = seconds remaining in the day / trades remaining. An entry is allowed once that long has
passed since the previous one. The pacer never lowers any bar and never forces a trade: when the market offers
fewer qualifying trades than the target, the day ends behind target, and the summary says so.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Pace:
    status: str  # "on_track" | "behind" | "ahead" | "target_met"
    trades_today: int
    target: int
    expected_by_now: float
    seconds_per_trade: float


class Pacer:
    def __init__(self, target_per_day: int, spacing: bool = True, tolerance: float = 0.1):
        self.target = target_per_day
        self.spacing = spacing
        self.tolerance = tolerance
        self.last_entry_ts: int | None = None

    def seconds_per_trade(self, now: int, trades_today: int) -> float:
        """Seconds left in the UTC day / trades left to the target (the day's average once it is met)."""
        left = self.target - trades_today
        if left <= 0:
            return 86_400.0 / self.target
        return (DAY_MS - now % DAY_MS) / 1000.0 / left

    def allows(self, now: int, trades_today: int) -> bool:
        """May an entry be placed now? (Spacing only; every other check still applies.)"""
        last = self.last_entry_ts
        if not self.spacing or last is None or now // DAY_MS != last // DAY_MS:
            return True
        gap = self.seconds_per_trade(last, max(trades_today - 1, 0))
        return (now - last) / 1000.0 >= gap

    def record_entry(self, now: int) -> None:
        self.last_entry_ts = now

    def pace(self, now: int, trades_today: int) -> Pace:
        """How the day is going: ``behind`` whenever fewer trades were made than expected by now (no tolerance
        below: 0 trades with a positive expectation is behind), ``ahead`` above the expectation plus the
        tolerance, ``on_track`` in between, ``target_met`` once the day's target is reached."""
        expected = self.target * (now % DAY_MS) / DAY_MS
        if trades_today >= self.target:
            status = "target_met"
        elif trades_today < expected:
            status = "behind"
        elif trades_today > expected * (1 + self.tolerance):
            status = "ahead"
        else:
            status = "on_track"
        return Pace(status, trades_today, self.target, round(expected, 2), self.seconds_per_trade(now, trades_today))

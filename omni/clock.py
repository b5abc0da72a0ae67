"""The one injectable clock. Only this module reads wall time; everything else asks a Clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time, epoch milliseconds UTC."""
        ...


class LiveClock:
    """Wall-clock time (live venues)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class VirtualClock:
    """Market time, advanced by the feed (replay, sim, tests). Never goes backwards."""

    def __init__(self, start_ms: int = 0):
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance_to(self, ts_ms: int) -> None:
        if ts_ms > self._now:
            self._now = ts_ms


def monotonic() -> float:
    """Seconds from an arbitrary start, for measuring wall durations (pacing, timeouts)."""
    return time.monotonic()

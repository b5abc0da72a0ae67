"""Aggregate 1m bars into N-minute bars aligned to the epoch (3m bars open at ts % 180_000 == 0).

Gaps: when a 1m bar belongs to a later bucket than the one in progress, the bar in progress is emitted
as it is, incomplete (fewer than N minutes, its open/high/low/close/volume from the minutes that traded):
it is what the market did, and holding it back would stall every consumer until data resumed. Such a bar
keeps its bucket's open time and ``minutes``, so ``close_ts`` is the bucket's nominal close time.
"""

from __future__ import annotations

from omni.domain.market import MINUTE_MS, Bar

_tnew = tuple.__new__


class BarAggregator:
    """Build ``minutes``-minute bars from the 1m bars of ONE symbol, fed in time order. A bar that is not a 1m
    bar of this symbol strictly after the last one is dropped and counted (``dropped``), never raised."""

    __slots__ = ("_c", "_end", "_h", "_last", "_lo", "_o", "_start", "_symbol", "_v", "dropped", "minutes", "span")

    def __init__(self, minutes: int) -> None:
        if minutes < 1:
            raise ValueError(f"minutes must be >= 1, got {minutes}")
        self.minutes = minutes
        self.span = minutes * MINUTE_MS  # bucket length, ms
        self._symbol = ""
        self._start = self._end = -1  # open time of the bucket in progress, and its end; -1 when none
        self._last = -1  # open time of the last 1m bar consumed
        self._o = self._h = self._lo = self._c = self._v = 0.0
        self.dropped = 0  # bars refused (not 1m, another symbol, or not after the last one): never a crash

    @property
    def in_progress(self) -> bool:
        return self._start >= 0

    def update(self, bar: Bar) -> Bar | None:
        """Consume a 1m bar; return the N-minute bar it completes, else None.

        In the rare case where a gap ends on the last minute of a bucket two bars finish at once (the
        incomplete one before the gap and the one-minute bucket); this returns only the later one. Use
        ``update_all`` (as MultiTimeframe does) to receive both.
        """
        ts = bar[1]
        if ts < self._end and ts > self._last:  # same bucket, in order: the hot path
            self._last = ts
            if bar[3] > self._h:
                self._h = bar[3]
            if bar[4] < self._lo:
                self._lo = bar[4]
            self._c = bar[5]
            self._v += bar[6]
            if ts + MINUTE_MS == self._end:
                return self._emit()
            return None
        done = self._roll(bar)
        return done[-1] if done else None

    def update_all(self, bar: Bar) -> tuple[Bar, ...]:
        """Consume a 1m bar; return every bar it finishes (0, 1, or 2 when a gap ends on a bucket's last minute)."""
        ts = bar[1]
        if ts < self._end and ts > self._last:  # same hot path as update(), inlined: no extra call
            self._last = ts
            if bar[3] > self._h:
                self._h = bar[3]
            if bar[4] < self._lo:
                self._lo = bar[4]
            self._c = bar[5]
            self._v += bar[6]
            if ts + MINUTE_MS == self._end:
                return (self._emit(),)
            return ()
        return self._roll(bar)

    def flush(self) -> Bar | None:
        """Emit the bar in progress, incomplete, and reset (e.g. at the end of a replay); None if none."""
        return self._emit() if self._start >= 0 else None

    def _roll(self, bar: Bar) -> tuple[Bar, ...]:
        """Slow path: first bar, new bucket (maybe after a gap), or a bad bar (dropped and counted in
        ``dropped``: a duplicate or late bar from a live feed must never stop the market task)."""
        ts = bar[1]
        if bar[7] != 1 or ts <= self._last or (self._symbol and bar[0] != self._symbol):
            self.dropped += 1
            return ()
        out: tuple[Bar, ...] = ()
        if self._start >= 0:  # the bucket in progress ended without its last minute: emit it incomplete
            out = (self._emit(),)
        start = ts - ts % self.span
        self._symbol = bar[0]
        self._start, self._end, self._last = start, start + self.span, ts
        self._o, self._h, self._lo, self._c, self._v = bar[2], bar[3], bar[4], bar[5], bar[6]
        if ts + MINUTE_MS == self._end:
            out += (self._emit(),)
        return out

    def _emit(self) -> Bar:
        done = _tnew(Bar, (self._symbol, self._start, self._o, self._h, self._lo, self._c, self._v, self.minutes))
        self._start = self._end = -1
        return done


class MultiTimeframe:
    """Per-symbol aggregators for several timeframes (minutes); 1 passes the 1m bars through."""

    __slots__ = ("_aggs", "_higher", "_pass_1m", "timeframes")

    def __init__(self, timeframes: list[int]) -> None:
        if not timeframes or any(tf < 1 for tf in timeframes):
            raise ValueError(f"timeframes must be positive minutes, got {timeframes}")
        self.timeframes = sorted(set(timeframes))
        self._pass_1m = 1 in self.timeframes
        self._higher = [tf for tf in self.timeframes if tf > 1]
        self._aggs: dict[str, list[BarAggregator]] = {}

    def update(self, bar: Bar) -> list[Bar]:
        """Consume a 1m bar; return it (if 1m is wanted) and every higher-timeframe bar it finishes."""
        aggs = self._aggs.get(bar[0])
        if aggs is None:
            aggs = self._aggs[bar[0]] = [BarAggregator(tf) for tf in self._higher]
        out = [bar] if self._pass_1m else []
        for agg in aggs:
            done = agg.update_all(bar)
            if done:
                out += done
        return out

    def flush(self) -> list[Bar]:
        """Emit every incomplete bar in progress (end of data), in symbol then timeframe order."""
        out = []
        for symbol in sorted(self._aggs):
            for agg in self._aggs[symbol]:
                done = agg.flush()
                if done is not None:
                    out.append(done)
        return out

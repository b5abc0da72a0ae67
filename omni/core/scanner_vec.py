"""Struct-of-arrays scanner state: every symbol's rolling statistics, breakout channel and recent bars per
timeframe as numpy arrays indexed by a symbol slot, updated for all the symbols of a market instant at once.

``Frame`` (one timeframe) keeps each statistic as one array over slots, each rolling window as a ring
(slots x window) and the kept history as a ring of ``history_bars + TRIM_SLACK`` bars per slot. ``Frame.add``
folds one bar into each of a set of distinct slots with the same float operations, in the same order per slot,
as ``scanner_series.Series.add`` does for one symbol (running sums updated old-out/new-in, never re-summed; the
channel is the exact max/min of the last ``breakout_bars`` highs/lows, kept as ``Series`` keeps it: replaced
by a new extreme, rescanned from a ring of those bars when its bar leaves the window), so every statistic and
breakout is bit-identical to it. ``Aggregator`` does what ``bars.BarAggregator.update_all`` does, for many
symbols' 1m bars at once (``scanner_book.Book`` routes a batch through both). ``SeriesView`` is one symbol's
series on one timeframe with the attributes of ``Series`` that the candidates filter and the simulator read.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from typing import Any

import numpy as np

from omni.domain.orders import Side

#: history may run this many bars over ``history_bars`` before it is cut back (amortises the cut, bounds memory)
TRIM_SLACK = 64
MINUTE_MS = 60_000
_F8, _I8 = np.float64, np.int64


class Frame:
    """One timeframe's state for every slot. Per slot: ``n`` bars ever added, ``length`` bars kept (the trim
    rule of ``Series``: past ``history_bars + TRIM_SLACK`` cut back to ``history_bars``, then every TRIM_SLACK
    bars), running sums, rings, the last close, the last bar's breakout, and the breakout bar indices per side."""

    def __init__(self, minutes: int, params: Any):
        p = params
        self.minutes = minutes
        self.params = p
        self.nb = p.breakout_bars
        self.keep = p.history_bars
        self.ring = p.history_bars + TRIM_SLACK  # the longest history kept after a bar is added
        # name -> (dtype, ring width or 0 for one value per slot, initial value)
        self.spec = {
            "n": (_I8, 0, 0),
            "length": (_I8, 0, 0),
            "trim_at": (_I8, 0, self.ring),
            "atr_sum": (_F8, 0, 0.0),
            "turnover_sum": (_F8, 0, 0.0),
            "ret_sum": (_F8, 0, 0.0),
            "ret_sq_sum": (_F8, 0, 0.0),
            "zero_volume_run": (_I8, 0, 0),
            "last_close": (_F8, 0, 0.0),
            "sig": (np.int8, 0, 0),  # last bar's breakout: 1 long, -1 short, 0 none
            "sig_beyond": (_F8, 0, 0.0),
            "tr": (_F8, p.atr_bars, 0.0),
            "trn": (_F8, p.turnover_bars, 0.0),
            "vr": (_F8, p.volatility_bars, 0.0),
            "ch_hi": (_F8, self.nb, -math.inf),  # rings of the last nb highs / lows (for a channel rescan)
            "ch_lo": (_F8, self.nb, math.inf),
            "hi": (_F8, 0, -math.inf),  # channel: highest high / lowest low of the last nb bars
            "lo": (_F8, 0, math.inf),
            "hi_at": (_I8, 0, -1),  # absolute index of a bar holding that extreme
            "lo_at": (_I8, 0, -1),
            "opens": (_F8, self.ring, 0.0),
            "highs": (_F8, self.ring, 0.0),
            "lows": (_F8, self.ring, 0.0),
            "closes": (_F8, self.ring, 0.0),
        }
        self.cap = 0
        self.flat: dict[str, np.ndarray] = {}  # the rings as flat views: slot s, position i at s * width + i
        for name, (dt, w, _) in self.spec.items():
            setattr(self, name, np.zeros((0, w) if w else 0, dt))
            if w:
                self.flat[name] = getattr(self, name).reshape(-1)
        self.signals_long: list[array] = []
        self.signals_short: list[array] = []

    def grow(self, cap: int) -> None:
        for name, (dt, w, fill) in self.spec.items():
            old = getattr(self, name)
            new = np.full((cap, w) if w else cap, fill, dt)
            new[: self.cap] = old
            setattr(self, name, new)
            if w:
                self.flat[name] = new.reshape(-1)
        for _ in range(cap - self.cap):
            self.signals_long.append(array("q"))
            self.signals_short.append(array("q"))
        self.cap = cap

    def add(self, s: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray):
        """Add one closed bar to each slot of ``s`` (distinct). Returns (up, beyond_up, down, beyond_down):
        positions in ``s`` whose close broke out upward / downward and by how far beyond the channel."""
        flat = self.flat
        n = self.n[s]
        prev = np.where(n > 0, self.last_close[s], o)
        tr = np.where(h > prev, h, prev) - np.where(lo < prev, lo, prev)
        w = self.tr.shape[1]
        i = s * w + n % w
        ring = flat["tr"]
        self.atr_sum[s] += tr - ring[i]
        ring[i] = tr
        turnover = v * c
        w = self.trn.shape[1]
        i = s * w + n % w
        ring = flat["trn"]
        self.turnover_sum[s] += turnover - ring[i]
        ring[i] = turnover
        pos = prev > 0
        if pos.all():
            r = c / prev - 1.0
        else:  # no division by a price <= 0: the return is 0.0 there
            r = np.where(pos, c / np.where(pos, prev, 1.0) - 1.0, 0.0)
        w = self.vr.shape[1]
        i = s * w + n % w
        ring = flat["vr"]
        old = ring[i]
        ring[i] = r
        self.ret_sum[s] += r - old
        self.ret_sq_sum[s] += r * r - old * old
        self.zero_volume_run[s] = np.where(v <= 0, self.zero_volume_run[s] + 1, 0)
        # breakout against the channel of the previous nb bars, then roll the channel forward
        nb = self.nb
        hi = self.hi[s]
        low = self.lo[s]
        full = n >= nb
        up = full & (c > hi)
        down = full & ~up & (c < low)
        up_i = np.flatnonzero(up)
        down_i = np.flatnonzero(down)
        beyond_up = c[up_i] - hi[up_i]
        beyond_down = low[down_i] - c[down_i]
        self.sig[s] = 0
        self.sig[s[up_i]] = 1
        self.sig[s[down_i]] = -1
        self.sig_beyond[s[up_i]] = beyond_up
        self.sig_beyond[s[down_i]] = beyond_down
        i = s * nb + n % nb
        flat["ch_hi"][i] = h
        flat["ch_lo"][i] = lo
        oldest = n + 1 - nb  # absolute index of the oldest bar in the new channel
        for x, ext, ext_at, rings, higher in (
            (h, self.hi, self.hi_at, self.ch_hi, True),
            (lo, self.lo, self.lo_at, self.ch_lo, False),
        ):
            cur = hi if higher else low
            at = ext_at[s]
            new = x >= cur if higher else x <= cur
            cur = np.where(new, x, cur)
            at = np.where(new, n, at)
            stale = np.flatnonzero(~new & (at < oldest))
            if stale.size:  # the extreme left the window: rescan the ring (it holds exactly the window)
                rows = rings[s[stale]]
                j = rows.argmax(axis=1) if higher else rows.argmin(axis=1)
                cur[stale] = rows[np.arange(stale.size), j]
                k = n[stale]
                at[stale] = k - (k - j) % nb
            ext[s] = cur
            ext_at[s] = at
        w = self.ring
        i = s * w + n % w
        flat["opens"][i] = o
        flat["highs"][i] = h
        flat["lows"][i] = lo
        flat["closes"][i] = c
        self.last_close[s] = c
        self.n[s] = n + 1
        length = self.length[s] + 1
        trim = n >= self.trim_at[s]
        if trim.any():
            length[trim] = self.keep
            self.trim_at[s[trim]] = n[trim] + TRIM_SLACK
        self.length[s] = length
        for idx, lists in ((up_i, self.signals_long), (down_i, self.signals_short)):
            if idx.size:
                base = (n + 1 - length)[idx].tolist()
                for slot, k, b in zip(s[idx].tolist(), n[idx].tolist(), base, strict=True):
                    sig = lists[slot]
                    if sig and sig[0] < b:  # indices of bars no longer kept (what Series trims)
                        del sig[: bisect_left(sig, b)]
                    sig.append(k)
        return up_i, beyond_up, down_i, beyond_down


class Aggregator:
    """``BarAggregator`` for every slot at once: N-minute bars, epoch-aligned, from 1m bars fed in time order
    (the caller drops the others); an incomplete bar is emitted when a later bucket starts."""

    def __init__(self, minutes: int):
        self.span = minutes * MINUTE_MS
        self.cap = 0
        self.start = self.end = np.zeros(0, _I8)
        self.o = self.h = self.lo = self.c = self.v = np.zeros(0, _F8)

    def grow(self, cap: int) -> None:
        for name, fill in (("start", -1), ("end", -1), ("o", 0.0), ("h", 0.0), ("lo", 0.0), ("c", 0.0), ("v", 0.0)):
            old = getattr(self, name)
            new = np.full(cap, fill, old.dtype)
            new[: self.cap] = old
            setattr(self, name, new)
        self.cap = cap

    def update(self, s, ts, o, h, lo, c, v):
        """Consume one 1m bar per slot of ``s`` (distinct). Returns (incomplete, complete): each None or
        (positions in ``s``, o, h, lo, c, v) of the bars finished; per slot the incomplete one comes first."""
        end = self.end[s]
        start = self.start[s]
        hot = ts < end  # same bucket, in order
        incomplete = None
        cold = ~hot
        stale = np.flatnonzero(cold & (start >= 0))
        if stale.size:
            k = s[stale]
            incomplete = (stale, self.o[k], self.h[k], self.lo[k], self.c[k], self.v[k])
        if hot.all():
            bo = self.o[s]
            bh = self.h[s]
            bh = np.where(h > bh, h, bh)
            bl = self.lo[s]
            bl = np.where(lo < bl, lo, bl)
            bv = self.v[s] + v
        else:
            new_start = ts - ts % self.span
            start = np.where(hot, start, new_start)
            end = np.where(hot, end, new_start + self.span)
            bo = np.where(hot, self.o[s], o)
            bh = self.h[s]
            bh = np.where(hot, np.where(h > bh, h, bh), h)
            bl = self.lo[s]
            bl = np.where(hot, np.where(lo < bl, lo, bl), lo)
            bv = np.where(hot, self.v[s] + v, v)
        done = ts + MINUTE_MS == end
        complete = None
        k = np.flatnonzero(done)
        if k.size:
            complete = (k, bo[k], bh[k], bl[k], c[k], bv[k])
            start = np.where(done, -1, start)
            end = np.where(done, -1, end)
        self.start[s] = start
        self.end[s] = end
        self.o[s] = bo
        self.h[s] = bh
        self.lo[s] = bl
        self.c[s] = c
        self.v[s] = bv
        return incomplete, complete


class SeriesView:
    """One symbol's series on one timeframe, read from its ``Frame``: the values ``scanner.Series`` has.
    ``opens/highs/lows/closes`` are copies of the kept history (``array('d')``, oldest first), cached until the
    series advances: read them, do not modify them."""

    __slots__ = ("_at", "_cache", "_f", "_s", "minutes", "params")

    def __init__(self, frame: Frame, slot: int):
        self._f = frame
        self._s = slot
        self.minutes = frame.minutes
        self.params = frame.params
        self._at = -1
        self._cache: dict[str, array] = {}

    @property
    def n(self) -> int:
        return int(self._f.n[self._s])

    def __len__(self) -> int:
        return int(self._f.length[self._s])

    def _hist(self, name: str) -> array:
        f, s = self._f, self._s
        n = int(f.n[s])
        if n != self._at:
            self._cache = {}
            self._at = n
        out = self._cache.get(name)
        if out is None:
            row = getattr(f, name)[s]
            size = f.ring
            length = int(f.length[s])
            a = (n - length) % size
            b = a + length
            data = row[a:b] if b <= size else np.concatenate((row[a:], row[: b - size]))
            out = array("d")
            out.frombytes(data.tobytes())
            self._cache[name] = out
        return out

    opens = property(lambda self: self._hist("opens"))
    highs = property(lambda self: self._hist("highs"))
    lows = property(lambda self: self._hist("lows"))
    closes = property(lambda self: self._hist("closes"))

    @property
    def last_close(self) -> float:
        return float(self._f.last_close[self._s])

    def _signals(self, lists: list[array]) -> array:
        f, s = self._f, self._s
        sig = lists[s]
        base = int(f.n[s]) - int(f.length[s])
        return sig[bisect_left(sig, base) :]

    @property
    def signals_long(self) -> array:
        return self._signals(self._f.signals_long)

    @property
    def signals_short(self) -> array:
        return self._signals(self._f.signals_short)

    def entries(self, side: Side) -> list[int]:
        """Indices into the kept bars (``closes[i]``) where a breakout on ``side`` fired, ascending."""
        f, s = self._f, self._s
        base = int(f.n[s]) - int(f.length[s])
        sig = (f.signals_long if side is Side.BUY else f.signals_short)[s]
        return [i - base for i in sig[bisect_left(sig, base) :]]

    atr_sum = property(lambda self: float(self._f.atr_sum[self._s]))
    turnover_sum = property(lambda self: float(self._f.turnover_sum[self._s]))
    ret_sum = property(lambda self: float(self._f.ret_sum[self._s]))
    ret_sq_sum = property(lambda self: float(self._f.ret_sq_sum[self._s]))
    zero_volume_run = property(lambda self: int(self._f.zero_volume_run[self._s]))

    @property
    def atr(self) -> float:
        n = min(int(self._f.n[self._s]), self.params.atr_bars)
        return float(self._f.atr_sum[self._s]) / n if n else 0.0

    @property
    def turnover(self) -> float:
        n = min(int(self._f.n[self._s]), self.params.turnover_bars)
        return float(self._f.turnover_sum[self._s]) / n if n else 0.0

    @property
    def volatility(self) -> float:
        """Realised volatility per bar: the standard deviation of simple returns over the window."""
        f, s = self._f, self._s
        n = min(int(f.n[s]), self.params.volatility_bars)
        if n < 2:
            return 0.0
        mean = float(f.ret_sum[s]) / n
        return math.sqrt(max(float(f.ret_sq_sum[s]) / n - mean * mean, 0.0))

    @property
    def signal(self) -> tuple[Side, float] | None:
        k = int(self._f.sig[self._s])
        if not k:
            return None
        return (Side.BUY if k > 0 else Side.SELL, float(self._f.sig_beyond[self._s]))

    def breakout(self) -> tuple[Side, float] | None:
        """The breakout the last added bar made: (side, distance beyond the prior N-bar channel), or None."""
        return self.signal

"""Struct-of-arrays scanner state: every symbol's rolling statistics, breakout channel and recent bars per
timeframe as numpy arrays indexed by a symbol slot, updated for all the symbols of a market instant at once.

``Frame`` (one timeframe) keeps each statistic as one array over slots, each rolling window as a ring
(slots x window) and the kept history as a ring of ``history_bars + TRIM_SLACK`` bars per slot. ``Frame.add``
folds one bar into each of a set of distinct slots with the same float operations, in the same order per slot,
as ``scanner.Series.add`` does for one symbol (running sums updated old-out/new-in, never re-summed; the
channel is the exact max/min of the ring of the last ``breakout_bars`` highs/lows), so every statistic and
breakout is bit-identical to it. ``Aggregator`` does what ``bars.BarAggregator.update_all`` does, for many
symbols' 1m bars at once. ``Book.update_batch`` routes a batch of bars like ``scanner.ReferenceScanner.update``
does bar by bar and returns the breakouts in the same order. ``SeriesView`` is one symbol's series on one
timeframe with the attributes of ``scanner.Series`` that the candidates filter and the pre-trade simulator read.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from itertools import repeat
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
            "ch_hi": (_F8, self.nb, -math.inf),
            "ch_lo": (_F8, self.nb, math.inf),
            "opens": (_F8, self.ring, 0.0),
            "highs": (_F8, self.ring, 0.0),
            "lows": (_F8, self.ring, 0.0),
            "closes": (_F8, self.ring, 0.0),
        }
        self.cap = 0
        for name, (dt, w, _) in self.spec.items():
            setattr(self, name, np.zeros((0, w) if w else 0, dt))
        self.signals_long: list[array] = []
        self.signals_short: list[array] = []

    def grow(self, cap: int) -> None:
        for name, (dt, w, fill) in self.spec.items():
            old = getattr(self, name)
            new = np.full((cap, w) if w else cap, fill, dt)
            new[: self.cap] = old
            setattr(self, name, new)
        for _ in range(cap - self.cap):
            self.signals_long.append(array("q"))
            self.signals_short.append(array("q"))
        self.cap = cap

    def add(self, s: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray):
        """Add one closed bar to each slot of ``s`` (distinct). Returns (up, beyond_up, down, beyond_down):
        positions in ``s`` whose close broke out upward / downward and by how far beyond the channel."""
        n = self.n[s]
        prev = np.where(n > 0, self.last_close[s], o)
        tr = np.where(h > prev, h, prev) - np.where(lo < prev, lo, prev)
        ring = self.tr
        i = n % ring.shape[1]
        self.atr_sum[s] += tr - ring[s, i]
        ring[s, i] = tr
        turnover = v * c
        ring = self.trn
        i = n % ring.shape[1]
        self.turnover_sum[s] += turnover - ring[s, i]
        ring[s, i] = turnover
        pos = prev > 0
        if pos.all():
            r = c / prev - 1.0
        else:  # no division by a price <= 0: the return is 0.0 there
            r = np.where(pos, c / np.where(pos, prev, 1.0) - 1.0, 0.0)
        ring = self.vr
        i = n % ring.shape[1]
        old = ring[s, i]
        ring[s, i] = r
        self.ret_sum[s] += r - old
        self.ret_sq_sum[s] += r * r - old * old
        self.zero_volume_run[s] = np.where(v <= 0, self.zero_volume_run[s] + 1, 0)
        # breakout against the channel of the previous nb bars (the ring holds exactly those once n >= nb)
        nb = self.nb
        hi = self.ch_hi[s].max(axis=1)
        low = self.ch_lo[s].min(axis=1)
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
        i = n % nb
        self.ch_hi[s, i] = h
        self.ch_lo[s, i] = lo
        i = n % self.ring
        self.opens[s, i] = o
        self.highs[s, i] = h
        self.lows[s, i] = lo
        self.closes[s, i] = c
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
                for slot, k, base in zip(s[idx].tolist(), n[idx].tolist(), (n + 1 - length)[idx].tolist(), strict=True):
                    sig = lists[slot]
                    if sig and sig[0] < base:  # indices of bars no longer kept (what Series trims)
                        del sig[: bisect_left(sig, base)]
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


class Book:
    """Every symbol's frames (one per timeframe of ``params``) and 1m aggregators, by slot (a symbol's slot is
    fixed at its first bar; the arrays grow by doubling). ``update_batch`` folds a batch of bars in."""

    def __init__(self, params: Any):
        self.params = params
        self.timeframes: tuple[int, ...] = params.timeframes
        self.slots: dict[str, int] = {}
        self.symbols: list[str] = []
        self.cap = 0
        self.frames = {tf: Frame(tf, params) for tf in self.timeframes}
        self.aggs = {tf: Aggregator(tf) for tf in self.timeframes if tf > 1}
        self.last: dict[int, np.ndarray] = {}  # bar length (minutes) -> open time of the last bar taken, per slot
        self.views: dict[int, list[SeriesView | None]] = {tf: [] for tf in self.timeframes}
        self._known: tuple[str, ...] | None = None  # the last batch's symbols, when distinct, and their slots
        self._known_slots = np.zeros(0, _I8)

    def view(self, slot: int, tf: int) -> SeriesView:
        views = self.views[tf]
        v = views[slot]
        if v is None:
            v = views[slot] = SeriesView(self.frames[tf], slot)
        return v

    def slot_of(self, symbol: str) -> int:
        slot = self.slots.get(symbol)
        if slot is None:
            slot = self.slots[symbol] = len(self.symbols)
            self.symbols.append(symbol)
            if slot >= self.cap:
                cap = max(8, 2 * self.cap)
                for part in (*self.frames.values(), *self.aggs.values()):
                    part.grow(cap)
                for m, last in self.last.items():
                    self.last[m] = np.concatenate((last, np.full(cap - self.cap, -1, _I8)))
                for views in self.views.values():
                    views.extend(repeat(None, cap - self.cap))
                self.cap = cap
        return slot

    def update_batch(self, bars: list) -> tuple[list[tuple[str, SeriesView, Side, float]], int]:
        """Fold ``bars`` in as ``ReferenceScanner.update`` would one by one, in list order. Returns the breakouts
        (symbol, series, side, distance beyond) in that order (per bar: timeframes in ``params`` order, an
        incomplete aggregated bar before a complete one) and how many bars were dropped as out of order."""
        if not bars:
            return [], 0
        cols = tuple(zip(*bars, strict=True))
        syms = cols[0]
        if syms == self._known:
            slots = self._known_slots
            distinct = True
        else:
            sl = [self.slot_of(x) for x in syms]
            slots = np.array(sl, _I8)
            distinct = len(set(sl)) == len(sl)
            self._known, self._known_slots = (syms, slots) if distinct else (None, self._known_slots)
        ts = np.array(cols[1], _I8)
        o, h, lo, c, v = (np.array(x, _F8) for x in cols[2:7])
        hits: list[tuple] = []
        minutes = cols[7]
        if distinct and minutes.count(1) == len(minutes):
            dropped = self._group(np.arange(len(syms)), slots, 1, ts, o, h, lo, c, v, hits)
        else:  # repeats of a symbol go in later rounds (each round has distinct slots), then by bar length
            seen: dict[int, int] = {}
            rounds = []
            for x in slots.tolist():
                r = seen.get(x, 0)
                seen[x] = r + 1
                rounds.append(r)
            rnd = np.array(rounds)
            mins = np.array(minutes, _I8)
            dropped = 0
            for r in range(max(rounds) + 1):
                for m in sorted(set(mins[rnd == r].tolist())):
                    k = np.flatnonzero((rnd == r) & (mins == m))
                    dropped += self._group(k, slots[k], m, ts[k], o[k], h[k], lo[k], c[k], v[k], hits)
        if len(hits) > 1:
            hits.sort()
        symbols = self.symbols
        view = self.view
        return [(symbols[slot], view(slot, tf), side, beyond) for _, _, _, tf, slot, side, beyond in hits], dropped

    def _group(self, pos, s, m, ts, o, h, lo, c, v, hits) -> int:
        """Bars of ``m`` minutes at batch positions ``pos`` for the distinct slots ``s``; returns how many were
        out of order (not after the slot's last bar of that length: dropped)."""
        last = self.last.get(m)
        if last is None:
            last = self.last[m] = np.full(self.cap, -1, _I8)
        ok = ts > last[s]
        dropped = 0
        if not ok.all():
            k = np.flatnonzero(ok)
            dropped = len(s) - len(k)
            if not k.size:
                return dropped
            pos, s, ts, o, h, lo, c, v = pos[k], s[k], ts[k], o[k], h[k], lo[k], c[k], v[k]
        last[s] = ts
        for rank, tf in enumerate(self.timeframes):
            if m == tf:
                self._add(tf, rank, 0, pos, s, o, h, lo, c, v, hits)
            elif m == 1 and tf > 1:
                incomplete, complete = self.aggs[tf].update(s, ts, o, h, lo, c, v)
                for sub, done in ((0, incomplete), (1, complete)):
                    if done is not None:
                        k = done[0]
                        self._add(tf, rank, sub, pos[k], s[k], *done[1:], hits)
        return dropped

    def _add(self, tf, rank, sub, pos, s, o, h, lo, c, v, hits) -> None:
        up, beyond_up, down, beyond_down = self.frames[tf].add(s, o, h, lo, c, v)
        for k, side, beyond in ((up, Side.BUY, beyond_up), (down, Side.SELL, beyond_down)):
            if k.size:
                n = k.size
                hits.extend(
                    zip(
                        pos[k].tolist(),
                        repeat(rank, n),
                        repeat(sub, n),
                        repeat(tf, n),
                        s[k].tolist(),
                        repeat(side, n),
                        beyond.tolist(),
                        strict=False,
                    )
                )


def gather(views: list[SeriesView]) -> list[tuple]:
    """Per view: (len, zero_volume_run, atr, turnover, last close), the values ``SeriesView`` gives one by one,
    read for all views in a few array gathers."""
    by_frame: dict[int, tuple[Frame, list[int], list[int]]] = {}
    for j, v in enumerate(views):
        f = v._f
        got = by_frame.get(id(f))
        if got is None:
            got = by_frame[id(f)] = (f, [], [])
        got[1].append(j)
        got[2].append(v._s)
    out: list[tuple] = [()] * len(views)
    for f, js, slots in by_frame.values():
        s = np.array(slots, _I8)
        p = f.params
        a_w, t_w = p.atr_bars, p.turnover_bars
        cols = zip(
            f.n[s].tolist(),
            f.length[s].tolist(),
            f.zero_volume_run[s].tolist(),
            f.atr_sum[s].tolist(),
            f.turnover_sum[s].tolist(),
            f.last_close[s].tolist(),
            strict=True,
        )
        for j, (n, length, zvr, atr_sum, trn_sum, close) in zip(js, cols, strict=True):
            na, nt = min(n, a_w), min(n, t_w)
            out[j] = (length, zvr, atr_sum / na if na else 0.0, trn_sum / nt if nt else 0.0, close)
    return out

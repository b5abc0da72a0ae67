"""The batch entry of ``AssetScanner``: ``Book`` holds every symbol's ``scanner_vec.Frame`` per timeframe and
``scanner_vec.Aggregator`` per higher timeframe by slot, and folds a market instant's bars in at once;
``gather`` reads the statistics the candidates filter needs for many series in a few array gathers.
"""

from __future__ import annotations

import math
from itertools import repeat
from typing import Any

import numpy as np

from omni.core.scanner_vec import Aggregator, Frame, SeriesView
from omni.domain.orders import Side

_F8, _I8 = np.float64, np.int64


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
    """Per view: (len, zero_volume_run, atr, turnover, last close, volatility), the values ``SeriesView``
    gives one by one, read for all views in a few array gathers."""
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
            f.ret_sum[s].tolist(),
            f.ret_sq_sum[s].tolist(),
            strict=True,
        )
        v_w = p.volatility_bars
        for j, (n, length, zvr, atr_sum, trn_sum, close, r_sum, r_sq) in zip(js, cols, strict=True):
            na, nt, nv = min(n, a_w), min(n, t_w), min(n, v_w)
            vol = 0.0
            if nv >= 2:
                mean = r_sum / nv
                vol = math.sqrt(max(r_sq / nv - mean * mean, 0.0))
            out[j] = (length, zvr, atr_sum / na if na else 0.0, trn_sum / nt if nt else 0.0, close, vol)
    return out

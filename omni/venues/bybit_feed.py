"""Live 1m klines of many symbols -> market batches: each confirmed bar once, in order, never backwards.

Pure bookkeeping, no I/O (the Bybit venue feeds it and does the REST calls it asks for):
- Bars arrive from two sources that overlap: the socket (``kline.1.S``, only ``confirm=true`` pushes are
  given here) and REST history / gap fills. They are upserted by (symbol, start): a minute seen twice is
  merged (the later copy wins), a minute at or before the symbol's last emitted one is dropped and counted.
- A symbol emits nothing until its REST history is loaded (``mark_ready``): the socket is subscribed first
  and its pushes wait here, so no minute is lost between the history and the stream.
- A hole (the next bar is not the minute after the last emitted one) is reported once by ``gaps()``; the
  symbol holds its bars until ``resolve_gap`` (after a REST fill, successful or not: a minute the exchange
  cannot give is skipped, counted, and the aggregation handles it as a gap).
- Batches: the closes of one minute across all symbols go out together. Minute M is due when every symbol
  that expects it has it, when ``grace_ms`` passed since its first bar arrived, or when a later minute has
  been seen (history and catch-up go out at once). Each batch holds the bars of one minute; its ``ts`` is
  that minute's close.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

from omni.domain.market import MINUTE_MS, Bar, MarketBatch


class KlineFeed:
    def __init__(self, symbols: Iterable[str], grace_ms: int = 1500):
        self.grace_ms = grace_ms
        self.symbols: set[str] = set(symbols)
        self.last: dict[str, int] = {}  # open time of the last bar emitted, per symbol
        self.ready: set[str] = set()  # history loaded: may emit
        self.pending: dict[str, dict[int, Bar]] = {}
        self.gap_open: dict[str, tuple[int, int]] = {}  # symbol -> (first missing start, last missing start)
        self.first_seen: dict[int, float] = {}  # live minute start -> wall ms its first bar arrived
        self.arrived: Counter[int] = Counter()  # live minute start -> bars received for it
        self.newest = -1  # newest minute start seen from any source
        self.counters: Counter[str] = Counter()
        self._reported: set[str] = set()
        #: True until ``warm_done``: history loads symbol by symbol, then goes out as one run of batches
        self.warming = True

    # ------------------------------------------------------------ input

    def add(self, bar: Bar, now_wall_ms: float, live: bool = True) -> bool:
        """Upsert one closed 1m bar; False (and counted) when it is at or before the last emitted minute."""
        sym, start = bar.symbol, bar.ts
        if sym not in self.symbols:
            self.counters["unknown_symbol"] += 1
            return False
        if start <= self.last.get(sym, -1):
            self.counters["duplicate"] += 1
            return False
        p = self.pending.get(sym)
        if p is None:
            p = self.pending[sym] = {}
        if start in p:
            self.counters["merged"] += 1
        elif live:
            self.arrived[start] += 1
            self.first_seen.setdefault(start, now_wall_ms)
        p[start] = bar
        if start > self.newest:
            self.newest = start
        return True

    def mark_ready(self, symbol: str) -> None:
        """The symbol's REST history is in: its bars may go out."""
        if symbol in self.symbols:
            self.ready.add(symbol)

    def warm_done(self) -> None:
        """Every symbol's history is loaded (or given up on): start emitting, oldest minute first."""
        self.warming = False
        self.ready |= self.symbols

    def resolve_gap(self, symbol: str) -> None:
        """The REST fill for the symbol's gap is done (whatever it found): emit from the oldest pending bar."""
        gap = self.gap_open.pop(symbol, None)
        self._reported.discard(symbol)
        if gap is None:
            return
        p = self.pending.get(symbol)
        last = self.last.get(symbol)
        if p and last is not None:
            first = min(p)
            missing = (first - last) // MINUTE_MS - 1
            if missing > 0:
                self.counters["gap_unfilled_minutes"] += missing
                self.last[symbol] = first - MINUTE_MS  # accept the hole: never wait for it again

    def set_symbols(self, symbols: Iterable[str]) -> None:
        """New listings join (they wait for their history); delisted symbols are forgotten."""
        new = set(symbols)
        for sym in self.symbols - new:
            self.ready.discard(sym)
            self.pending.pop(sym, None)
            self.gap_open.pop(sym, None)
            self.last.pop(sym, None)
            self._reported.discard(sym)
        self.symbols = new

    # ------------------------------------------------------------ requests for REST

    def gaps(self) -> list[tuple[str, int, int]]:
        """Holes to fill by REST, each reported once: (symbol, first missing start, last missing start)."""
        out = []
        for sym, p in self.pending.items():
            if not p or sym in self._reported or sym not in self.ready:
                continue
            last = self.last.get(sym)
            if last is None:
                continue
            first = min(p)
            if first > last + MINUTE_MS:
                gap = (last + MINUTE_MS, first - MINUTE_MS)
                self.gap_open[sym] = gap
                self._reported.add(sym)
                self.counters["gaps"] += 1
                out.append((sym, *gap))
        return out

    def stale(self, now_minute_start: int, minutes: int = 3) -> list[tuple[str, int, int]]:
        """Ready symbols that went quiet (nothing pending, last bar ``minutes`` or more behind): fill them too."""
        out = []
        for sym in self.ready:
            last = self.last.get(sym)
            if last is None or self.pending.get(sym) or sym in self._reported:
                continue
            if now_minute_start - last >= minutes * MINUTE_MS:
                gap = (last + MINUTE_MS, now_minute_start - MINUTE_MS)
                self.gap_open[sym] = gap
                self._reported.add(sym)
                self.counters["gaps"] += 1
                out.append((sym, *gap))
        return out

    # ------------------------------------------------------------ output

    def _next(self, sym: str) -> int | None:
        p = self.pending.get(sym)
        if not p or sym not in self.ready or sym in self.gap_open:
            return None
        first = min(p)
        last = self.last.get(sym)
        if last is not None and first > last + MINUTE_MS:
            return None  # a hole not yet reported/filled: wait for gaps() and the fill
        return first

    def take(self, now_wall_ms: float) -> list[MarketBatch]:
        """Every batch that is due now, oldest minute first (nothing while warming up)."""
        if self.warming:
            return []
        heads: dict[int, list[str]] = {}
        for sym in self.pending:
            start = self._next(sym)
            if start is not None:
                heads.setdefault(start, []).append(sym)
        heap = list(heads)
        heapq.heapify(heap)
        out: list[MarketBatch] = []
        while heap:
            minute = heapq.heappop(heap)
            syms = heads.pop(minute)
            if not self._due(minute, len(syms), now_wall_ms):
                break  # a live minute inside its grace window; every later minute is newer still
            bars = []
            nxt = minute + MINUTE_MS
            for sym in sorted(syms):
                p = self.pending[sym]
                bars.append(p.pop(minute))
                self.last[sym] = minute
                if nxt in p:
                    if nxt not in heads:
                        heads[nxt] = []
                        heapq.heappush(heap, nxt)
                    heads[nxt].append(sym)
            self.first_seen.pop(minute, None)
            self.arrived.pop(minute, None)
            out.append(MarketBatch(nxt, bars, []))
        return out

    def next_deadline(self) -> float | None:
        """Wall ms at which the oldest waiting live minute becomes due by the grace window."""
        if not self.first_seen:
            return None
        return min(self.first_seen.values()) + self.grace_ms

    def _due(self, minute: int, have: int, now_wall_ms: float) -> bool:
        if minute < self.newest:
            return True  # a later minute exists: history, catch-up, or a late straggler
        seen = self.first_seen.get(minute)
        if seen is None or now_wall_ms >= seen + self.grace_ms:
            return True
        expecting = sum(1 for s in self.ready if self.last.get(s) == minute - MINUTE_MS and s not in self.gap_open)
        return have >= expecting

"""The emulator's public market data: what any client may read, apart from every account.

``MarketData`` keeps per symbol the last ``history_bars`` 1m bars, the funding settlements, rolling 24 h figures
and the mark offset; from them it serves kline and mark-price kline candles, tickers, a synthetic order book and
the public socket items (``kline.<m>.<S>``, ``tickers.<S>``). It knows nothing of orders or accounts:
``EmulatorState`` feeds it each bar (``record``) before the matching engines see it.

History: the served history (klines, mark-price klines) is a ``BarTape`` per symbol, the last ``history_bars``
bars packed as doubles (56 bytes a bar: 500 symbols x 5000 bars is ~140 MB); the last ``min(history_bars,
1440)`` bars are also kept as ``Bar`` objects (``history``: tickers, book, socket items). Tickers' "24h" figures
(``volume24h``, ``turnover24h``, ``highPrice24h``, ``lowPrice24h``, ``prevPrice24h``) cover the last 24 h of bars
(1440 1m bars, or fewer when ``history_bars`` is smaller), however long the served history.

Candle windows (``candles_between``), as Bybit's /v5/market/kline pages: candles whose start time is within
[start, end] (inclusive), newest first, at most ``limit``: the newest ``limit`` of the window, or, with a start
and no end, the oldest ``limit`` from the start (what Bybit answers then). All the emulator's 1m bars are closed;
a longer candle at either edge of the history may hold fewer bars.

Times: a bar's ``ts`` is its open time; the market's time ``market_ts`` is the close time of the last batch fed
(``MarketBatch.ts``), the clock every record of the emulator carries.

Mark price: bars carry no mark series, so a symbol's mark price is its last price (tickers' ``markPrice`` and
``indexPrice``, and what the matching engines liquidate on) plus an offset that only tests set
(``EmulatorState.set_mark_offset`` / ``pin_mark``). The mark-price kline (``mark_row``) adds a small constant
basis so that a client can tell it from the last-price kline: each price is ``round_to_tick(last x (1 + b)) +
offset`` with ``b = mark_basis(symbol)``, a per-symbol constant in [-0.0005, +0.0005] (steps of 1e-7) derived
from the symbol's CRC-32: ``(crc32(symbol) % 10001 - 5000) / 10**7``. Tickers do not carry that basis.
"""

from __future__ import annotations

import math
import zlib
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from itertools import islice
from typing import Any

from omni.domain.instrument import ZERO, Instrument
from omni.domain.market import MINUTE_MS, Bar, Funding
from omni.venues import bybit_codec as codec

#: Bybit's base funding rate (0.01 % per 8 h) shown before a symbol's first settlement
DEFAULT_FUNDING_RATE = Decimal("0.0001")
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
#: bars kept as ``Bar`` objects at most (the tickers' 24 h of 1m bars); the served history may be longer
RECENT_BARS = _DAY_MS // MINUTE_MS
#: the mark-price kline's basis: at most this fraction either side of the last price (see ``mark_basis``)
MAX_MARK_BASIS = Decimal("0.0005")
_BASIS_STEPS = 5_000  # MAX_MARK_BASIS in steps of 1e-7


def mark_basis(symbol: str) -> Decimal:
    """The symbol's constant mark-price-kline basis ``b`` in [-0.0005, +0.0005]: stable across runs (CRC-32)."""
    return Decimal(zlib.crc32(symbol.encode()) % (2 * _BASIS_STEPS + 1) - _BASIS_STEPS) / 10_000_000


class BarTape:
    """A symbol's last ``size`` bars packed as doubles (ts, open, high, low, close, volume, minutes; ts is exact
    as a double): 56 bytes a bar, against ~280 for a ``Bar``. Old bars are cut in chunks (amortised)."""

    __slots__ = ("_a", "_slack", "size", "symbol")
    _W = 7

    def __init__(self, symbol: str, size: int):
        self.symbol, self.size = symbol, max(1, size)
        self._slack = max(64, self.size // 8)
        self._a = array("d")

    def __len__(self) -> int:
        return min(len(self._a) // self._W, self.size)

    def _first(self) -> int:
        """Index of the oldest bar served (the array may hold up to ``_slack`` more)."""
        return len(self._a) // self._W - len(self)

    def append(self, bar: Bar) -> None:
        a = self._a
        a.extend((bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.minutes))
        extra = len(a) // self._W - self.size
        if extra >= self._slack:
            del a[: extra * self._W]

    def ts(self, i: int) -> int:
        return int(self._a[i * self._W])

    def bar(self, i: int) -> Bar:
        w = self._W
        ts, o, h, lo, c, v, m = self._a[i * w : i * w + w]
        return Bar(self.symbol, int(ts), o, h, lo, c, v, int(m))

    def span(self, lo_ts: int, hi_ts: int) -> range:
        """Indices of the served bars with ``lo_ts <= ts < hi_ts``, oldest first."""
        first, n = self._first(), len(self._a) // self._W
        i0 = bisect_left(range(first, n), lo_ts, key=self.ts) + first
        i1 = bisect_left(range(first, n), hi_ts, key=self.ts) + first
        return range(i0, max(i0, i1))


class MarketData:
    """Per-symbol bar history, fundings, rolling figures and mark offsets, and what is derived from them."""

    def __init__(self, instruments: dict[str, Instrument], history_bars: int = 1440,
                 kline_intervals: Sequence[int] = (1, 3, 5)):  # fmt: skip
        self.instruments = instruments
        self.kline_intervals = tuple(kline_intervals)
        self.market_ts = 0
        self.history_bars = history_bars
        #: the recent bars as objects: the last min(history_bars, RECENT_BARS)
        self.history: dict[str, deque[Bar]] = {s: deque(maxlen=min(history_bars, RECENT_BARS)) for s in instruments}
        #: the served history: the last ``history_bars`` bars, packed
        self.tapes: dict[str, BarTape] = {s: BarTape(s, history_bars) for s in instruments}
        self.fundings: dict[str, list[Funding]] = {s: [] for s in instruments}
        # rolling 24 h figures for tickers: [volume, turnover, high, low] (high/low NaN = recompute)
        self._sums: dict[str, list[float]] = {s: [0.0, 0.0, math.nan, math.nan] for s in instruments}
        self.mark_off: dict[str, Decimal] = {}  # mark - last per symbol (test hooks); absent = 0

    # ------------------------------------------------------------ feeding

    def record(self, bar: Bar) -> bool:
        """Add one bar to its symbol's history (False for a symbol the market does not list)."""
        hist = self.history.get(bar.symbol)
        if hist is None:
            return False
        self.tapes[bar.symbol].append(bar)
        sums = self._sums[bar.symbol]
        day = self._day_bars(hist, bar)
        if len(hist) >= day:  # the bar leaving the 24 h window
            old = hist[-day]
            sums[0] -= old.volume
            sums[1] -= old.volume * old.close
            if old.high >= sums[2] or old.low <= sums[3]:
                sums[2] = sums[3] = math.nan
        hist.append(bar)
        sums[0] += bar.volume
        sums[1] += bar.volume * bar.close
        if sums[2] == sums[2]:  # not NaN
            sums[2], sums[3] = max(sums[2], bar.high), min(sums[3], bar.low)
        elif len(hist) == 1:
            sums[2], sums[3] = bar.high, bar.low
        return True

    @staticmethod
    def _day_bars(hist: deque[Bar], bar: Bar) -> int:
        """How many of the symbol's bars make the tickers' 24 h (the whole deque when it is shorter)."""
        return min(hist.maxlen or RECENT_BARS, max(1, _DAY_MS // (bar.minutes * MINUTE_MS)))

    def record_funding(self, funding: Funding) -> bool:
        done = self.fundings.get(funding.symbol)
        if done is None:
            return False
        done.append(funding)
        return True

    # ------------------------------------------------------------ prices

    def last_price(self, symbol: str) -> Decimal | None:
        hist = self.history.get(symbol)
        return self.instruments[symbol].round_price(hist[-1].close) if hist else None

    def mark_price(self, symbol: str) -> Decimal | None:
        """The symbol's mark price: the last price plus its mark offset (none unless a test set one)."""
        last = self.last_price(symbol)
        off = self.mark_off.get(symbol)
        return last if last is None or off is None else last + off

    def tick_direction(self, symbol: str) -> str:
        """Bybit's ``tickDirection`` of the last price: PlusTick / MinusTick against the previous bar's close, else
        ZeroPlusTick / ZeroMinusTick after the last change (the ticker stream carries it)."""
        hist = self.history[symbol]
        change = "Plus"
        for i in range(len(hist) - 1, 0, -1):
            if hist[i].close != hist[i - 1].close:
                change = "Plus" if hist[i].close > hist[i - 1].close else "Minus"
                if i == len(hist) - 1:
                    return f"{change}Tick"
                break
        return f"Zero{change}Tick"

    def funding_rate(self, symbol: str) -> Decimal:
        done = self.fundings[symbol]
        return Decimal(repr(done[-1].rate)) if done else DEFAULT_FUNDING_RATE

    def next_funding_ts(self, symbol: str) -> int:
        interval = self.instruments[symbol].funding_interval_min * MINUTE_MS
        return (self.market_ts // interval + 1) * interval

    # ------------------------------------------------------------ derived views

    def book(self, symbol: str, depth: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """A synthetic book around the last price: level i at last -/+ (i+1) ticks, sizes from the last bar."""
        inst, hist = self.instruments[symbol], self.history[symbol]
        if not hist:
            return [], []
        last = inst.round_price(hist[-1].close)
        base = max(inst.round_qty(hist[-1].volume / 20), inst.min_qty)
        bids, asks = [], []
        for i in range(depth):
            size = inst.round_qty(base * (1 + Decimal(i) / 4))
            if last - (i + 1) * inst.tick_size > 0:
                bids.append((last - (i + 1) * inst.tick_size, size))
            asks.append((last + (i + 1) * inst.tick_size, size))
        return bids, asks

    def candles(self, symbol: str, minutes: int) -> list[Bar]:
        """The whole served history aggregated to ``minutes`` candles, oldest first (the last may be unfinished)."""
        return self.candles_between(symbol, minutes, limit=len(self.tapes[symbol]) or 1)[::-1]

    def candles_between(
        self, symbol: str, minutes: int, start: int | None = None, end: int | None = None, limit: int = 200
    ) -> list[Bar]:
        """Bybit's kline page: the ``minutes`` candles whose start time is in [start, end] (None: unbounded),
        newest first, at most ``limit``: the newest of the window, or the oldest when only ``start`` is given."""
        tape, span = self.tapes[symbol], minutes * MINUTE_MS
        lo = 0 if start is None else -(-start // span) * span  # a candle starts >= start iff its first bar does
        hi = 1 << 62 if end is None else end - end % span + span  # ... and <= end iff its bars start before hi
        idx = tape.span(lo, hi)
        forward = start is not None and end is None
        out: list[Bar] = []
        for i in idx if forward else reversed(idx):
            b = tape.bar(i)
            cs = b.ts - b.ts % span
            if out and out[-1].ts == cs:
                c = out[-1]
                first, last = (c, b) if forward else (b, c)
                out[-1] = Bar(symbol, cs, first.open, max(c.high, b.high), min(c.low, b.low), last.close,
                              c.volume + b.volume, minutes)  # fmt: skip
            elif len(out) == limit:
                break
            else:
                out.append(Bar(symbol, cs, b.open, b.high, b.low, b.close, b.volume, minutes))
        return out[::-1] if forward else out

    def mark_row(self, bar: Bar) -> list[str]:
        """A /v5/market/mark-price-kline row [start, open, high, low, close] of a last-price candle: each price
        rounded to the tick, times (1 + ``mark_basis``) rounded to the tick, plus the mark offset."""
        inst = self.instruments[bar.symbol]
        r, factor = inst.round_price, 1 + mark_basis(bar.symbol)
        off = self.mark_off.get(bar.symbol, ZERO)
        return [str(bar.ts), *(codec.dstr(r(r(p) * factor) + off) for p in (bar.open, bar.high, bar.low, bar.close))]

    def ticker(self, symbol: str) -> dict[str, Any]:
        """A /v5/market/tickers linear item; its "24h" figures cover the last 24 h of bars (at most 1440)."""
        inst, hist = self.instruments[symbol], self.history[symbol]
        r = inst.round_price
        hour = hist[-min(len(hist), _HOUR_MS // (hist[-1].minutes * MINUTE_MS))]
        day = min(len(hist), self._day_bars(hist, hist[-1]))
        last, prev = r(hist[-1].close), r(hist[-day].open)
        mark = last + self.mark_off.get(symbol, ZERO)
        sums = self._sums[symbol]
        if sums[2] != sums[2]:  # NaN: the evicted bar held an extreme
            window = list(islice(reversed(hist), day))
            sums[2], sums[3] = max(b.high for b in window), min(b.low for b in window)
        vol, turn, high, low = sums
        volume, turnover = inst.round_qty(max(vol, 0.0)), Decimal(repr(max(turn, 0.0)))
        (bid, bid_size), (ask, ask_size) = (lvl[0] if lvl else (ZERO, ZERO) for lvl in self.book(symbol, 1))
        s = codec.dstr
        return {
            "symbol": symbol, "lastPrice": s(last), "indexPrice": s(mark), "markPrice": s(mark),
            "prevPrice24h": s(prev), "price24hPcnt": s(((last - prev) / prev).quantize(Decimal("0.000001"))),
            "highPrice24h": s(r(high)), "lowPrice24h": s(r(low)),
            "prevPrice1h": s(r(hour.open)), "openInterest": "0", "openInterestValue": "0",
            "turnover24h": s(turnover.quantize(Decimal("0.0001"))), "volume24h": s(volume),
            "fundingRate": s(self.funding_rate(symbol)), "nextFundingTime": str(self.next_funding_ts(symbol)),
            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0",
            "ask1Size": s(ask_size), "bid1Price": s(bid), "ask1Price": s(ask), "bid1Size": s(bid_size), "basis": "",
            "preOpenPrice": "", "preQty": "", "curPreListingPhase": "",
            "fundingIntervalHour": str(inst.funding_interval_min // 60), "fundingCap": s(codec.FUNDING_CAP),
        }  # fmt: skip

    def kline_item(self, symbol: str, minutes: int) -> dict[str, Any]:
        """The ``kline.<minutes>.<symbol>`` socket item of the current candle (``confirm`` once it closed)."""
        hist, span = self.history[symbol], minutes * MINUTE_MS
        start = hist[-1].ts - hist[-1].ts % span
        part = []  # the current candle's bars, newest first (only these: this runs per symbol per bar)
        for b in reversed(hist):
            if b.ts < start:
                break
            part.append(b)
        bar = Bar(symbol, start, part[-1].open, max(b.high for b in part), min(b.low for b in part), part[0].close,
                  sum(b.volume for b in part), minutes)  # fmt: skip
        _, o, h, lo, c, v, t = codec.bar_to_kline_row(bar, self.instruments[symbol])
        return {"start": bar.ts, "end": bar.ts + span - 1, "interval": str(minutes), "open": o, "close": c,
                "high": h, "low": lo, "volume": v, "turnover": t, "confirm": self.market_ts >= bar.ts + span,
                "timestamp": self.market_ts}  # fmt: skip

"""The emulator's public market data: what any client may read, apart from every account.

``MarketData`` keeps per symbol the last ``history_bars`` 1m bars, the funding settlements, rolling 24 h figures
and the mark offset; from them it serves kline candles, tickers, a synthetic order book and the public socket
items (``kline.<m>.<S>``, ``tickers.<S>``). It knows nothing of orders or accounts: ``EmulatorState`` feeds it
each bar (``record``) before the matching engines see it.

Times: a bar's ``ts`` is its open time; the market's time ``market_ts`` is the close time of the last batch fed
(``MarketBatch.ts``), the clock every record of the emulator carries.

Mark price: bars carry no mark series, so a symbol's mark price is its last price (tickers' ``markPrice`` and
``indexPrice``) plus an offset that only tests set (``EmulatorState.set_mark_offset`` / ``pin_mark``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from omni.domain.instrument import ZERO, Instrument
from omni.domain.market import MINUTE_MS, Bar, Funding
from omni.venues import bybit_codec as codec

#: Bybit's base funding rate (0.01 % per 8 h) shown before a symbol's first settlement
DEFAULT_FUNDING_RATE = Decimal("0.0001")
_HOUR_MS = 3_600_000


class MarketData:
    """Per-symbol bar history, fundings, rolling figures and mark offsets, and what is derived from them."""

    def __init__(self, instruments: dict[str, Instrument], history_bars: int = 1440,
                 kline_intervals: Sequence[int] = (1, 3, 5)):  # fmt: skip
        self.instruments = instruments
        self.kline_intervals = tuple(kline_intervals)
        self.market_ts = 0
        self.history: dict[str, deque[Bar]] = {s: deque(maxlen=history_bars) for s in instruments}
        self.fundings: dict[str, list[Funding]] = {s: [] for s in instruments}
        # rolling figures over the history, for tickers: [volume, turnover, high, low] (high/low NaN = recompute)
        self._sums: dict[str, list[float]] = {s: [0.0, 0.0, math.nan, math.nan] for s in instruments}
        self.mark_off: dict[str, Decimal] = {}  # mark - last per symbol (test hooks); absent = 0

    # ------------------------------------------------------------ feeding

    def record(self, bar: Bar) -> bool:
        """Add one bar to its symbol's history (False for a symbol the market does not list)."""
        hist = self.history.get(bar.symbol)
        if hist is None:
            return False
        sums = self._sums[bar.symbol]
        if len(hist) == hist.maxlen:
            old = hist[0]
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
        """The stored history aggregated to ``minutes`` candles, oldest first (the last may be unfinished)."""
        span = minutes * MINUTE_MS
        out: list[Bar] = []
        for b in self.history[symbol]:
            start = b.ts - b.ts % span
            if out and out[-1].ts == start:
                c = out[-1]
                out[-1] = c._replace(high=max(c.high, b.high), low=min(c.low, b.low), close=b.close,
                                     volume=c.volume + b.volume)  # fmt: skip
            else:
                out.append(Bar(symbol, start, b.open, b.high, b.low, b.close, b.volume, minutes))
        return out

    def ticker(self, symbol: str) -> dict[str, Any]:
        """A /v5/market/tickers linear item; its "24h" figures cover the stored history (1440 bars by default)."""
        inst, hist = self.instruments[symbol], self.history[symbol]
        r = inst.round_price
        hour = hist[-min(len(hist), _HOUR_MS // (hist[-1].minutes * MINUTE_MS))]
        last, prev = r(hist[-1].close), r(hist[0].open)
        mark = last + self.mark_off.get(symbol, ZERO)
        sums = self._sums[symbol]
        if sums[2] != sums[2]:  # NaN: the evicted bar held an extreme
            sums[2], sums[3] = max(b.high for b in hist), min(b.low for b in hist)
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

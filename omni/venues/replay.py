"""Replay recorded 1m klines and funding settlements (gzip CSV, see shared/data/README.md) as MarketBatches.

Every file is loaded and validated in full before the first batch, so a bad row stops the run before any
trade: each problem raises DataError naming the file and its 1-based line (the header is line 1).
"""

from __future__ import annotations

import gzip
import heapq
import math
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal, TextIO

from omni.domain.errors import DataError
from omni.domain.instrument import Instrument, default_tiers
from omni.domain.market import MINUTE_MS, Bar, Funding, MarketBatch
from omni.venues.instruments_file import first_tier_limit
from omni.venues.series import MAX_ABS_FUNDING, REPLAY_SPANS, FundingSeries, KlineSeries, MarkSeries

KLINE_HEADER = "ts,open,high,low,close,volume"
FUNDING_HEADER = "ts,rate"
#: Rows whose price strings are inspected to guess the tick of a symbol with no known instrument.
TICK_SAMPLE_ROWS = 1000
_INF = math.inf


def symbol_of(path: str | Path) -> str:
    """Return the symbol a data file is for: ``BTCUSDT.csv.gz`` -> ``BTCUSDT``."""
    name = Path(path).name
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    raise DataError(str(path), None, "expected a <SYMBOL>.csv.gz or <SYMBOL>.csv file name")


def _open_text(path: str | Path) -> TextIO:
    """Open a .csv or .csv.gz file as UTF-8 text; DataError if it cannot be opened."""
    where = str(path)
    try:
        if where.endswith(".gz"):
            return gzip.open(path, "rt", encoding="utf-8", newline="")
        return open(path, encoding="utf-8", newline="")
    except OSError as e:
        raise DataError(where, None, f"cannot open: {e.strerror or e}") from None


class _Lines:
    """Iterate a data file's lines, turning decompression and decoding failures into DataError."""

    def __init__(self, path: str | Path, expected_header: str) -> None:
        self.where = str(path)
        self.expected = expected_header
        self.line = 0  # last line read successfully

    def fail(self, reason: str, line: int | None = None) -> DataError:
        return DataError(self.where, self.line if line is None else line, reason)

    def __iter__(self) -> Iterator[str]:
        with _open_text(self.where) as f:
            try:
                header = f.readline()
                self.line = 1
                if header.strip().lstrip("\ufeff") != self.expected:
                    raise self.fail(f"header must be {self.expected!r}, got {header.strip()[:80]!r}")
                for line in f:
                    self.line += 1
                    yield line
            except (EOFError, zlib.error, gzip.BadGzipFile) as e:
                raise self.fail(f"truncated or corrupt gzip ({e})", self.line + 1) from None
            except UnicodeDecodeError:
                raise self.fail("not UTF-8 text", self.line + 1) from None
            except OSError as e:
                raise self.fail(f"read error: {e}", self.line + 1) from None


def _decimals(text: str) -> int:
    """Number of decimals a price string carries ('95502.8' -> 1, '1e-05' -> 5)."""
    try:
        exponent = Decimal(text.strip()).as_tuple().exponent
    except InvalidOperation:
        return 0
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def load_klines(path: str | Path) -> KlineSeries:
    """Load and validate a kline file (``ts,open,high,low,close,volume``, .csv or .csv.gz) of 1m, 3m or 5m bars.

    The interval is the first step between rows; every later step must be a whole multiple of it (gaps are
    allowed) and every timestamp must sit on that interval's boundary."""
    symbol = symbol_of(path)
    src = _Lines(path, KLINE_HEADER)
    ts_a, o_a, h_a, l_a, c_a, v_a = array("q"), array("d"), array("d"), array("d"), array("d"), array("d")
    ts_add, o_add, h_add, l_add, c_add, v_add = (
        ts_a.append,
        o_a.append,
        h_a.append,
        l_a.append,
        c_a.append,
        v_a.append,
    )
    prev = None
    decimals = 0
    span = MINUTE_MS
    for text in src:
        parts = text.split(",")
        if len(parts) != 6:
            raise src.fail(f"expected 6 columns, got {len(parts)}: {text.strip()[:80]!r}")
        try:
            t = int(parts[0])
            o, h, lo, c, v = float(parts[1]), float(parts[2]), float(parts[3]), float(parts[4]), float(parts[5])
        except ValueError:
            raise src.fail(f"unparsable number in {text.strip()[:80]!r}") from None
        if not (-_INF < o + h + lo + c + v < _INF):  # any NaN or inf poisons the sum
            raise src.fail(f"NaN or infinite value in {text.strip()[:80]!r}")
        if o <= 0 or h <= 0 or lo <= 0 or c <= 0:
            raise src.fail(f"price must be > 0, got open={o} high={h} low={lo} close={c}")
        if v < 0:
            raise src.fail(f"negative volume {v}")
        if h < o or h < c or lo > o or lo > c:
            raise src.fail(f"inconsistent OHLC: open={o} high={h} low={lo} close={c}")
        if prev is None:
            if t % MINUTE_MS:
                raise src.fail(f"timestamp {t} is not on a minute boundary")
        else:
            step = t - prev
            if step <= 0:
                what = "duplicate timestamp" if step == 0 else "timestamp out of order"
                raise src.fail(f"{what}: {t} after {prev}")
            if src.line == 3:
                if step not in REPLAY_SPANS:
                    raise src.fail(
                        f"first step {prev} -> {t} is {step / MINUTE_MS:g} minutes; replay takes 1m, 3m or 5m klines"
                    )
                span = step
                if prev % span:
                    raise DataError(src.where, 2, f"timestamp {prev} is not on a {span // MINUTE_MS}-minute boundary")
            elif step % span:
                raise src.fail(
                    f"timestamp step {step} ms (from {prev} to {t}) is not a whole number of "
                    f"{span // MINUTE_MS}-minute bars"
                )
        if src.line <= TICK_SAMPLE_ROWS + 1:
            decimals = max(decimals, _decimals(parts[1]), _decimals(parts[2]), _decimals(parts[3]), _decimals(parts[4]))
        prev = t
        ts_add(t)
        o_add(o)
        h_add(h)
        l_add(lo)
        c_add(c)
        v_add(v)
    if not ts_a:
        raise DataError(src.where, None, "no rows after the header")
    return KlineSeries(symbol, src.where, ts_a, o_a, h_a, l_a, c_a, v_a, decimals, span // MINUTE_MS)


def load_funding(path: str | Path) -> FundingSeries:
    """Load and validate a funding file (``ts,rate``, .csv or .csv.gz)."""
    symbol = symbol_of(path)
    src = _Lines(path, FUNDING_HEADER)
    ts_a, r_a = array("q"), array("d")
    prev = None
    for text in src:
        parts = text.split(",")
        if len(parts) != 2:
            raise src.fail(f"expected 2 columns, got {len(parts)}: {text.strip()[:80]!r}")
        try:
            t = int(parts[0])
            rate = float(parts[1])
        except ValueError:
            raise src.fail(f"unparsable number in {text.strip()[:80]!r}") from None
        if not -MAX_ABS_FUNDING < rate < MAX_ABS_FUNDING:  # also rejects NaN
            raise src.fail(f"funding rate {rate} is not finite or not within +-{MAX_ABS_FUNDING}")
        if prev is not None and t <= prev:
            what = "duplicate timestamp" if t == prev else "timestamp out of order"
            raise src.fail(f"{what}: {t} after {prev}")
        prev = t
        ts_a.append(t)
        r_a.append(rate)
    if not ts_a:
        raise DataError(src.where, None, "no rows after the header")
    return FundingSeries(symbol, src.where, ts_a, r_a)


def classify(path: str | Path) -> Literal["klines", "funding"]:
    """Tell a kline file from a funding file by its header; DataError for anything else."""
    where = str(path)
    try:
        with _open_text(path) as f:
            header = f.readline().strip().lstrip("\ufeff")
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(where, 1, f"truncated or corrupt gzip ({e})") from None
    except UnicodeDecodeError:
        raise DataError(where, 1, "not UTF-8 text") from None
    if header == KLINE_HEADER:
        return "klines"
    if header == FUNDING_HEADER:
        return "funding"
    raise DataError(where, 1, f"unknown header {header[:80]!r}; expected {KLINE_HEADER!r} or {FUNDING_HEADER!r}")


def sibling_funding(kline_path: str | Path) -> Path | None:
    """Find ``<root>/funding/bybit-linear/<SYMBOL>.csv[.gz]`` for ``<root>/klines/1m/<venue>/<SYMBOL>.csv[.gz]``."""
    p = Path(kline_path)
    if len(p.parents) < 4 or p.parents[2].name != "klines":
        return None
    symbol = symbol_of(p)
    folder = p.parents[3] / "funding" / "bybit-linear"
    for name in (f"{symbol}.csv.gz", f"{symbol}.csv"):
        if (folder / name).is_file():
            return folder / name
    return None


def fallback_instrument(series: KlineSeries) -> Instrument:
    """Derive an Instrument for a replayed symbol nobody specified.

    ASSUMPTIONS: tick = 10**-d with d the most decimals seen in the first rows' prices; qty step and min qty
    0.001, max qty 1e6, max leverage 50 with the default risk ladder, 8 h funding, default min notional.
    """
    max_lev = Decimal(50)
    step = Decimal("0.001")
    return Instrument(
        symbol=series.symbol,
        tick_size=Decimal(1).scaleb(-series.price_decimals),
        qty_step=step,
        min_qty=step,
        max_qty=Decimal(1_000_000),
        max_leverage=max_lev,
        risk_tiers=default_tiers(max_lev, first_tier_limit(max_lev)),
    )


class ReplayMarket:
    """Merge validated 1m kline files (any symbols, any ranges) into MarketBatches in time order.

    A batch's ``ts`` is a close time; it holds the 1m bars of every symbol closing then and the funding
    settlements at ``ts`` of replayed symbols. Settlements inside a symbol's replayed range
    (first bar close .. last bar close) are kept even where that symbol or all symbols have a gap, so a
    batch may carry fundings and no bars; settlements outside the range are dropped. Funding files for
    symbols without a kline file are ignored. Iterating again restarts the replay.
    """

    def __init__(self, paths: list[str | Path], instruments: dict[str, Instrument]) -> None:
        if not paths:
            raise ValueError("no data files to replay")
        klines: dict[str, KlineSeries] = {}
        funding: dict[str, FundingSeries] = {}
        mark: dict[str, MarkSeries] = {}
        #: what a reader of the run should know about its data (a coarser interval left out, ...)
        self.notes: list[str] = []

        def add(seen: dict, kind: str, series: KlineSeries | FundingSeries | MarkSeries) -> None:
            if series.symbol in seen:
                first = seen[series.symbol].path
                raise DataError(series.path, None, f"second {kind} series for {series.symbol} (first: {first})")
            seen[series.symbol] = series

        for path in paths:
            if Path(path).is_dir():
                for kind, series in self._load_store(Path(path)):
                    add({"klines": klines, "funding": funding, "mark": mark}[kind], kind, series)
                continue
            kind = classify(path)
            if kind == "klines":
                add(klines, kind, load_klines(path))
            else:
                add(funding, kind, load_funding(path))
        if not klines:
            raise DataError(str(paths[0]), None, "no kline file among the replay files")
        self.klines: dict[str, KlineSeries] = dict(sorted(klines.items()))
        self.funding: dict[str, FundingSeries] = {s: funding[s] for s in self.klines if s in funding}
        #: mark-price bars (from the store) per symbol: liquidation triggers on them where present
        self.mark: dict[str, MarkSeries] = {s: mark[s] for s in self.klines if s in mark}
        self.instruments: dict[str, Instrument] = {
            s: instruments[s] if s in instruments else fallback_instrument(k) for s, k in self.klines.items()
        }

    def mark_bar(self, symbol: str, ts: int) -> tuple[int, float, float, float, float] | None:
        """The recorded mark-price bar of ``symbol`` opening at ``ts``: (ts, open, high, low, close), or None."""
        m = self.mark.get(symbol)
        if m is None:
            return None
        i = bisect_left(m.ts, ts)
        if i < len(m.ts) and m.ts[i] == ts:
            return ts, m.open[i], m.high[i], m.low[i], m.close[i]
        return None

    def use_instruments(self, instruments: dict[str, Instrument]) -> None:
        """Replace the specs of the given replayed symbols (a store's snapshot in force)."""
        self.instruments.update({s: i for s, i in instruments.items() if s in self.klines})

    def _load_store(self, root: Path) -> Iterator[tuple[str, KlineSeries | FundingSeries | MarkSeries]]:
        """Every symbol of a store directory (``store.py``): its finest kline interval, funding and mark bars."""
        from omni.venues import store  # pyarrow only for a store: CSV and synthetic runs stay ~65 MB lighter

        if not store.is_store(root):
            raise DataError(str(root), None, "not an OMNI market-data directory (no klines/<n>m/symbol=<SYMBOL>/ "
                            "folders); give data files, or convert them with omni data import")  # fmt: skip
        chosen: dict[str, int] = {}
        for minutes in store.intervals(root):
            for symbol in store.symbols(root, store.KLINES, minutes):
                if symbol in chosen:
                    self.notes.append(f"{symbol}: {minutes}m bars in {root} not used ({chosen[symbol]}m bars are)")
                    continue
                chosen[symbol] = minutes
                yield "klines", store.read_klines(root, symbol, minutes)
        for symbol in store.symbols(root, store.FUNDING):
            if symbol in chosen:
                yield "funding", store.read_funding(root, symbol)
        for symbol in store.symbols(root, store.MARK, 1):
            if symbol in chosen:
                yield "mark", store.read_mark(root, symbol, 1)

    @property
    def symbols(self) -> list[str]:
        return list(self.klines)

    def window(self, start_ms: int | None, end_ms: int | None) -> None:
        """Replay only the bars opening in [start_ms, end_ms) (None: no bound) and the settlements between the first
        and the last of them; DataError when no bar of any file lies inside."""
        self._window = (start_ms, end_ms)
        if not self._bounds():
            lo = "the start" if start_ms is None else datetime.fromtimestamp(start_ms / 1000, UTC).isoformat()
            hi = "the end" if end_ms is None else datetime.fromtimestamp(end_ms / 1000, UTC).isoformat()
            raise DataError(next(iter(self.klines.values())).path, None, f"no bar between {lo} and {hi}")

    def _bounds(self) -> dict[str, tuple[int, int]]:
        """Per symbol with bars in the window: [first, end) row indices."""
        start_ms, end_ms = getattr(self, "_window", (None, None))
        out = {}
        for symbol, k in self.klines.items():
            a = 0 if start_ms is None else bisect_left(k.ts, start_ms)
            b = len(k) if end_ms is None else bisect_left(k.ts, end_ms)
            if a < b:
                out[symbol] = (a, b)
        return out

    @property
    def first_ts(self) -> int:
        """Close time (epoch ms) of the earliest bar: the first batch's ts."""
        k = self.klines
        return min(k[s].ts[a] + k[s].minutes * MINUTE_MS for s, (a, _) in self._bounds().items())

    @property
    def last_ts(self) -> int:
        """Close time (epoch ms) of the latest bar: the last batch's ts."""
        k = self.klines
        return max(k[s].ts[b - 1] + k[s].minutes * MINUTE_MS for s, (_, b) in self._bounds().items())

    def __iter__(self) -> Iterator[MarketBatch]:
        bounds = self._bounds()
        series = [s for s in self.klines.values() if s.symbol in bounds]
        pos = [bounds[s.symbol][0] for s in series]
        sizes = [bounds[s.symbol][1] for s in series]
        spans = [s.minutes * MINUTE_MS for s in series]
        bar_heap = [(s.ts[pos[k]] + spans[k], k) for k, s in enumerate(series)]
        heapq.heapify(bar_heap)
        fund_rows: list[tuple[str, array, array, int, int]] = []
        for k, s in enumerate(series):
            f = self.funding.get(s.symbol)
            if f is None:
                continue
            lo, hi = s.ts[pos[k]] + spans[k], s.ts[sizes[k] - 1] + spans[k]
            start, end = bisect_left(f.ts, lo), bisect_right(f.ts, hi)
            if start < end:
                fund_rows.append((s.symbol, f.ts, f.rate, start, end))
        fpos = [row[3] for row in fund_rows]
        fund_heap = [(row[1][row[3]], k) for k, row in enumerate(fund_rows)]
        heapq.heapify(fund_heap)
        heapreplace, heappop = heapq.heapreplace, heapq.heappop
        tnew = tuple.__new__
        while bar_heap or fund_heap:
            t = min(bar_heap[0][0] if bar_heap else _INF, fund_heap[0][0] if fund_heap else _INF)
            bars: list[Bar] = []
            while bar_heap and bar_heap[0][0] == t:
                k = bar_heap[0][1]
                s = series[k]
                i = pos[k]
                bars.append(
                    tnew(Bar, (s.symbol, s.ts[i], s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i], s.minutes))
                )
                i += 1
                pos[k] = i
                if i < sizes[k]:
                    heapreplace(bar_heap, (s.ts[i] + spans[k], k))
                else:
                    heappop(bar_heap)
            fundings: list[Funding] = []
            while fund_heap and fund_heap[0][0] == t:
                k = fund_heap[0][1]
                symbol, f_ts, f_rate, _, end = fund_rows[k]
                i = fpos[k]
                fundings.append(Funding(symbol, t, f_rate[i]))
                i += 1
                fpos[k] = i
                if i < end:
                    heapreplace(fund_heap, (f_ts[i], k))
                else:
                    heappop(fund_heap)
            yield tnew(MarketBatch, (t, bars, fundings))

"""OMNI's market-history store: Parquet files partitioned by symbol and UTC month, read and validated as columns.

Layout under a root directory (``omni data download`` and ``omni data import`` write it, the replay reads it)::

    klines/1m/symbol=BTCUSDT/2025-01.parquet   ts, open, high, low, close, volume, turnover   (last-price bars)
    mark/1m/symbol=BTCUSDT/2025-01.parquet     ts, open, high, low, close                     (mark-price bars)
    funding/symbol=BTCUSDT/2025-01.parquet     ts, rate, interval_min                         (settlements)
    instruments/<UTC date-time>.json            dated instrument and risk-tier snapshots (``snapshots.py``)
    manifest.json, gaps.csv                     what is stored (rows, ranges, sha256) and the minutes missing

``ts`` is epoch milliseconds UTC, a bar's open time; a month file holds the rows whose ``ts`` falls in that month.
The ``symbol=`` folders are Hive partitions, so pandas, polars, DuckDB and pyarrow datasets read a folder as one
table with a ``symbol`` column (``duckdb: read_parquet('klines/1m/*/*.parquet', hive_partitioning=1)``).
Kline files carry two schema metadata keys: ``omni.price_decimals`` (the most decimals seen in the source's price
strings: the tick guess for a symbol without specs) and ``omni.venue`` (where the bars come from).

Files are written to a temporary name and renamed, so a file either is complete or does not exist. Reading checks
what the CSV path checks (``replay.load_klines``) and names the file and row of the first problem.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from array import array
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omni.domain.errors import DataError
from omni.domain.market import MINUTE_MS
from omni.venues.series import MAX_ABS_FUNDING, FundingSeries, KlineSeries, MarkSeries

KLINES, MARK, FUNDING = "klines", "mark", "funding"
KLINE_COLUMNS = ("ts", "open", "high", "low", "close", "volume", "turnover")
MARK_COLUMNS = ("ts", "open", "high", "low", "close")
FUNDING_COLUMNS = ("ts", "rate", "interval_min")
SCHEMAS = {
    KLINES: pa.schema([("ts", pa.int64())] + [(c, pa.float64()) for c in KLINE_COLUMNS[1:]]),
    MARK: pa.schema([("ts", pa.int64())] + [(c, pa.float64()) for c in MARK_COLUMNS[1:]]),
    FUNDING: pa.schema([("ts", pa.int64()), ("rate", pa.float64()), ("interval_min", pa.int32())]),
}
DECIMALS_KEY, VENUE_KEY = b"omni.price_decimals", b"omni.venue"
MANIFEST = "manifest.json"
#: columns that may hold nulls (a CSV import has no turnover; a first settlement may have no known interval)
NULLABLE = {"turnover", "interval_min"}


def kind_dir(root: Path, kind: str, interval_min: int = 1) -> Path:
    """The folder of one kind of table: ``klines/1m``, ``mark/1m`` or ``funding``."""
    return root / kind / f"{interval_min}m" if kind in (KLINES, MARK) else root / kind


def month_of(ts_ms: int) -> str:
    """``YYYY-MM`` of a UTC epoch-ms time."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m")


def month_file(root: Path, kind: str, symbol: str, month: str, interval_min: int = 1) -> Path:
    return kind_dir(root, kind, interval_min) / f"symbol={symbol}" / f"{month}.parquet"


def is_store(path: str | Path) -> bool:
    """True for a directory holding the store layout (a ``klines/<n>m/symbol=...`` folder)."""
    p = Path(path)
    klines = p / KLINES
    return p.is_dir() and klines.is_dir() and any(klines.glob("*m/symbol=*"))


def intervals(root: Path, kind: str = KLINES) -> list[int]:
    """Bar lengths (minutes) stored for a kind, smallest first."""
    base = root / kind
    found = [int(d.name[:-1]) for d in base.glob("*m") if d.is_dir() and d.name[:-1].isdigit()] if base.is_dir() else []
    return sorted(found)


def symbols(root: Path, kind: str = KLINES, interval_min: int = 1) -> list[str]:
    """Symbols with at least one month file of a kind, sorted."""
    base = kind_dir(root, kind, interval_min)
    if not base.is_dir():
        return []
    return sorted(d.name[len("symbol=") :] for d in base.glob("symbol=*") if any(d.glob("*.parquet")))


def month_files(root: Path, kind: str, symbol: str, interval_min: int = 1) -> list[Path]:
    folder = kind_dir(root, kind, interval_min) / f"symbol={symbol}"
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


# ------------------------------------------------------------ writing


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Create ``path`` through ``write(temporary name)`` in the same folder and a rename: the file is complete or
    absent, never half-written. Permissions as for any new file (the umask's), not the temp file's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` as Parquet to ``path`` atomically: zstd, no dictionary (prices rarely repeat: a dictionary
    makes 1m klines ~1.7x larger)."""
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd", use_dictionary=False))


def _month_keys(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[ms]").astype("datetime64[M]")


def write_months(
    root: Path, kind: str, symbol: str, columns: dict[str, Any], *, interval_min: int = 1,
    metadata: dict[bytes, bytes] | None = None, only: Iterable[str] | None = None,
) -> list[Path]:  # fmt: skip
    """Split ``columns`` (sorted by ``ts``) into month files of ``symbol``; return the files written.

    ``only``: months (``YYYY-MM``) to write, the others are skipped (a download writes a month once it is complete).
    """
    schema = SCHEMAS[kind].with_metadata(metadata or {})
    ts = np.asarray(columns["ts"], dtype=np.int64)
    if ts.size == 0:
        return []
    keys = _month_keys(ts)
    cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    bounds = [0, *cuts.tolist(), ts.size]
    wanted = set(only) if only is not None else None
    written = []
    for a, b in itertools.pairwise(bounds):
        month = str(keys[a])
        if wanted is not None and month not in wanted:
            continue
        arrays = [pa.array(np.asarray(columns[f.name])[a:b] if columns.get(f.name) is not None else [None] * (b - a),
                           type=f.type) for f in SCHEMAS[kind]]  # fmt: skip
        path = month_file(root, kind, symbol, month, interval_min)
        atomic_write_table(pa.Table.from_arrays(arrays, schema=schema), path)
        written.append(path)
    return written


def kline_metadata(price_decimals: int, venue: str) -> dict[bytes, bytes]:
    return {DECIMALS_KEY: str(price_decimals).encode(), VENUE_KEY: venue.encode()}


# ------------------------------------------------------------ reading


class _Parts:
    """The month files of one series, read and concatenated; maps a row of the whole back to its file and row."""

    def __init__(self, files: list[Path], schema: pa.Schema, what: str):
        if not files:
            raise DataError(what, None, "no month files")
        self.files = files
        self.starts: list[int] = []
        tables = []
        n = 0
        for path in files:
            try:
                table = pq.read_table(path)
            except (OSError, pa.ArrowException) as e:
                raise DataError(str(path), None, f"not a readable Parquet file ({e})") from None
            for f in schema:
                if f.name not in table.column_names:
                    raise DataError(str(path), None, f"missing column {f.name!r}; has {table.column_names}")
                col = table.column(f.name)
                if not col.type.equals(f.type):
                    raise DataError(str(path), None, f"column {f.name!r} is {col.type}, expected {f.type}")
                if f.name not in NULLABLE and col.null_count:
                    row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0]) + 1
                    raise DataError(str(path), None, f"row {row}: {f.name} is null")
            self.starts.append(n)
            n += table.num_rows
            tables.append(table.select([f.name for f in schema]))
        self.metadata = tables[0].schema.metadata or {}
        self.table = pa.concat_tables(tables)
        self.size = n
        if n == 0:
            raise DataError(str(files[0]), None, "no rows")

    def column(self, name: str) -> np.ndarray:
        return self.table.column(name).to_numpy()

    def fail(self, index: int, reason: str) -> DataError:
        k = int(np.searchsorted(self.starts, index, side="right")) - 1
        return DataError(str(self.files[k]), None, f"row {index - self.starts[k] + 1}: {reason}")

    def check_months(self, ts: np.ndarray, found: _Problems) -> None:
        """Every row of a month file lies in that month."""
        ends = [*self.starts[1:], self.size]
        for path, a, b in zip(self.files, self.starts, ends, strict=True):
            year, _, month = path.stem.partition("-")
            want = (int(year) - 1970) * 12 + int(month) - 1 if year.isdigit() and month.isdigit() else -1
            # months since 1970 as integers: comparing as text costs ~60 % of a whole load
            bad = np.flatnonzero(_month_keys(ts[a:b]).astype(np.int64) != want) if b > a else []
            if len(bad):
                i = a + int(bad[0])
                found.add(i, 9, lambda i=i, m=path.stem: f"ts {ts[i]} is not in month {m}")


class _Problems:
    """The first problem of a series, as the row-by-row CSV path would meet it: the lowest row, and within a row
    the CSV path's order of checks (values, then time)."""

    def __init__(self) -> None:
        self.best: tuple[int, int, Callable[[], str]] | None = None

    def add(self, index: int | None, order: int, why: Callable[[], str]) -> None:
        if index is not None and (self.best is None or (index, order) < self.best[:2]):
            self.best = (index, order, why)

    def raise_first(self, parts: _Parts) -> None:
        if self.best is not None:
            raise parts.fail(self.best[0], self.best[2]())


def _first(mask: np.ndarray) -> int | None:
    hit = np.flatnonzero(mask)
    return int(hit[0]) if hit.size else None


def check_times(ts: np.ndarray, span: int, found: _Problems) -> None:
    """Bar open times strictly increasing, on the minute and on the bar boundary, steps whole bars."""
    if ts[0] % MINUTE_MS:
        found.add(0, 5, lambda: f"timestamp {ts[0]} is not on a minute boundary")
    elif ts[0] % span:
        found.add(0, 5, lambda: f"timestamp {ts[0]} is not on a {span // MINUTE_MS}-minute boundary")
    steps = np.diff(ts)
    bad = _first(steps <= 0)
    if bad is not None:
        what = "duplicate timestamp" if steps[bad] == 0 else "timestamp out of order"
        found.add(bad + 1, 5, lambda: f"{what}: {ts[bad + 1]} after {ts[bad]}")
    odd = _first((steps > 0) & (steps % span != 0))
    if odd is not None:
        bars = f"{span // MINUTE_MS}-minute bars"
        found.add(odd + 1, 6, lambda: f"timestamp step {steps[odd]} ms is not a whole number of {bars}")


def _ohlc(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray | None, found: _Problems) -> None:
    """The CSV path's value checks, in its order: NaN/inf, prices > 0, volume >= 0, OHLC consistent."""
    total = o + h + lo + c + (v if v is not None else 0.0)
    volume = (lambda i: f" volume={v[i]}") if v is not None else (lambda i: "")
    checks = [
        (~np.isfinite(total), "NaN or infinite value"),
        ((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0), "price must be > 0"),
        (v < 0 if v is not None else None, "negative volume"),
        ((h < o) | (h < c) | (lo > o) | (lo > c), "inconsistent OHLC"),
    ]
    for order, (mask, why) in enumerate(checks):
        if mask is not None and (i := _first(mask)) is not None:
            found.add(i, order, lambda i=i, why=why: f"{why}: open={o[i]} high={h[i]} low={lo[i]} close={c[i]}"
                      + volume(i))  # fmt: skip


def _arr(code: str, values: np.ndarray) -> array:
    out = array(code)
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64 if code == "q" else np.float64).tobytes())
    return out


def _decimals_of(values: np.ndarray) -> int:
    """The most decimals in the shortest text of the first prices (the CSV path reads the strings themselves)."""
    best = 0
    for x in values[:1000].tolist():
        text = repr(x)
        if "e-" in text:
            mant, _, exp = text.partition("e-")
            best = max(best, int(exp) + len(mant.partition(".")[2]))
        elif "." in text and not text.endswith(".0"):
            best = max(best, len(text.partition(".")[2]))
    return best


def read_klines(root: Path, symbol: str, interval_min: int = 1) -> KlineSeries:
    """One symbol's klines from the store, validated; DataError naming the file and row of the first problem."""
    files = month_files(root, KLINES, symbol, interval_min)
    parts = _Parts(files, SCHEMAS[KLINES], str(kind_dir(root, KLINES, interval_min) / f"symbol={symbol}"))
    ts = parts.column("ts")
    span = interval_min * MINUTE_MS
    o, h, lo, c, v = (parts.column(n) for n in ("open", "high", "low", "close", "volume"))
    found = _Problems()
    parts.check_months(ts, found)
    check_times(ts, span, found)
    _ohlc(o, h, lo, c, v, found)
    found.raise_first(parts)
    raw = parts.metadata.get(DECIMALS_KEY)
    decimals = int(raw) if raw is not None and raw.isdigit() else max(_decimals_of(x) for x in (o, h, lo, c))
    return KlineSeries(symbol, str(files[0].parent), _arr("q", ts), _arr("d", o), _arr("d", h), _arr("d", lo),
                       _arr("d", c), _arr("d", v), decimals, span // MINUTE_MS)  # fmt: skip


def read_mark(root: Path, symbol: str, interval_min: int = 1) -> MarkSeries:
    """One symbol's mark-price klines from the store, validated like klines (no volume)."""
    files = month_files(root, MARK, symbol, interval_min)
    parts = _Parts(files, SCHEMAS[MARK], str(kind_dir(root, MARK, interval_min) / f"symbol={symbol}"))
    ts = parts.column("ts")
    o, h, lo, c = (parts.column(n) for n in ("open", "high", "low", "close"))
    found = _Problems()
    parts.check_months(ts, found)
    check_times(ts, interval_min * MINUTE_MS, found)
    _ohlc(o, h, lo, c, None, found)
    found.raise_first(parts)
    return MarkSeries(symbol, str(files[0].parent), _arr("q", ts), _arr("d", o), _arr("d", h), _arr("d", lo),
                      _arr("d", c))  # fmt: skip


def read_funding(root: Path, symbol: str) -> FundingSeries:
    """One symbol's funding settlements from the store, validated like the CSV path."""
    files = month_files(root, FUNDING, symbol)
    parts = _Parts(files, SCHEMAS[FUNDING], str(kind_dir(root, FUNDING) / f"symbol={symbol}"))
    ts, rate = parts.column("ts"), parts.column("rate")
    found = _Problems()
    parts.check_months(ts, found)
    bad = _first(~(np.abs(rate) < MAX_ABS_FUNDING))
    found.add(bad, 0, lambda: f"funding rate {rate[bad]} is not finite or not within +-{MAX_ABS_FUNDING}")
    steps = np.diff(ts)
    dup = _first(steps <= 0)
    if dup is not None:
        what = "duplicate timestamp" if steps[dup] == 0 else "timestamp out of order"
        found.add(dup + 1, 1, lambda: f"{what}: {ts[dup + 1]} after {ts[dup]}")
    found.raise_first(parts)
    return FundingSeries(symbol, str(files[0].parent), _arr("q", ts), _arr("d", rate))


def venue_of(root: Path, symbol: str, interval_min: int = 1) -> str:
    """The ``omni.venue`` recorded in a symbol's first kline file ('' when absent)."""
    files = month_files(root, KLINES, symbol, interval_min)
    if not files:
        return ""
    meta = pq.read_schema(files[0]).metadata or {}
    return meta.get(VENUE_KEY, b"").decode()


def read_manifest(root: Path) -> dict[str, Any]:
    """The store's ``manifest.json`` ({} when absent or unreadable)."""
    try:
        return json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}

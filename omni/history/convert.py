"""Convert between the gzip-CSV layout (``../shared/data``: ``klines/<n>m/<venue>/<SYMBOL>.csv.gz``,
``funding/<venue>/<SYMBOL>.csv.gz``) and the Parquet store (``omni.venues.store``), both ways.

Import reads every file through the replay's own CSV checks (a bad row stops the import naming file and line), so
the store holds exactly the numbers a CSV replay would use. Files that are not klines or funding (trades, quotes,
order books) are listed as skipped, never dropped silently. Export writes floats as their shortest text.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omni.domain.errors import DataError
from omni.domain.market import MINUTE_MS
from omni.history.manifest import write_manifest
from omni.venues import store
from omni.venues.replay import FUNDING_HEADER, KLINE_HEADER, classify, load_funding, load_klines

MARK_HEADER = "ts,open,high,low,close"
DEFAULT_VENUE = "bybit-linear"


@dataclass
class Converted:
    files: list[Path] = field(default_factory=list)  # files written
    series: int = 0
    rows: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # input not converted, and why


def _inputs(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Data files among ``paths`` (directories walked), and what is skipped with the reason."""
    files, skipped = [], []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if not f.is_file() or f.name.startswith("."):
                    continue
                if f.name.endswith((".csv.gz", ".csv")) and f.relative_to(p).parts[0] in ("klines", "funding"):
                    files.append(f)
                else:
                    skipped.append((f, "not a kline or funding CSV (only klines/ and funding/ are stored)"))
        else:
            files.append(p)
    return list(dict.fromkeys(files)), skipped


def funding_intervals(ts: np.ndarray) -> np.ndarray:
    """Each settlement's interval in minutes: the spacing from the previous one (the first takes the next's)."""
    out = np.zeros(ts.size, dtype=np.int32)
    if ts.size > 1:
        out[1:] = np.diff(ts) // MINUTE_MS
        out[0] = out[1]
    return out


def import_csv(paths: list[Path], out: Path, progress: Callable[[str], None] | None = None) -> Converted:
    """Convert kline and funding CSV files (or folders of them) into the store at ``out``; write its manifest."""
    files, skipped = _inputs([Path(p) for p in paths])
    done = Converted(skipped=skipped)
    seen: dict[tuple[str, int, str], Path] = {}
    for path in files:
        kind = classify(path)
        if kind == "klines":
            k = load_klines(path)
            key = (store.KLINES, k.minutes, k.symbol)
            venue = path.parent.name if path.parent.name not in ("", "1m", "3m", "5m") else DEFAULT_VENUE
            cols = {"ts": k.ts, "open": k.open, "high": k.high, "low": k.low, "close": k.close, "volume": k.volume}
            meta = store.kline_metadata(k.price_decimals, venue)
            minutes, rows = k.minutes, len(k)
        else:
            f = load_funding(path)
            key = (store.FUNDING, 0, f.symbol)
            ts = np.frombuffer(f.ts, dtype=np.int64)
            cols = {"ts": ts, "rate": f.rate, "interval_min": funding_intervals(ts)}
            meta, minutes, rows = None, 1, len(f)
        if key in seen:
            raise DataError(str(path), None, f"a second {key[0]} file for {key[2]} (first: {seen[key]}); "
                            "import them into separate directories")  # fmt: skip
        seen[key] = path
        done.files += store.write_months(out, key[0], key[2], cols, interval_min=minutes, metadata=meta)
        done.series += 1
        done.rows += rows
        if progress:
            progress(f"{path} -> {rows} rows")
    if done.series:
        write_manifest(out)
    return done


def _write_csv(path: Path, header: str, lines: list[str]) -> None:
    def write(tmp: str) -> None:
        with gzip.open(tmp, "wt", encoding="utf-8", newline="") as f:
            f.write(header + "\n")
            f.writelines(lines)

    store.atomic_write(path, write)


def export_csv(root: Path, out: Path, progress: Callable[[str], None] | None = None) -> Converted:
    """Write the store at ``root`` back as the gzip-CSV layout under ``out`` (klines, mark klines, funding)."""
    root = Path(root)
    if not store.is_store(root):
        raise DataError(str(root), None, "not an OMNI market-data directory (no klines/<n>m/symbol=<SYMBOL>/)")
    done = Converted()
    for kind in (store.KLINES, store.MARK):
        for minutes in store.intervals(root, kind):
            for symbol in store.symbols(root, kind, minutes):
                venue = store.venue_of(root, symbol, minutes) or DEFAULT_VENUE
                if kind == store.KLINES:
                    s = store.read_klines(root, symbol, minutes)
                    rows = zip(s.ts, s.open, s.high, s.low, s.close, s.volume, strict=True)
                    header, name = KLINE_HEADER, "klines"
                else:
                    m = store.read_mark(root, symbol, minutes)
                    rows = zip(m.ts, m.open, m.high, m.low, m.close, strict=True)
                    header, name = MARK_HEADER, "mark"
                lines = [",".join(map(repr, r)) + "\n" for r in rows]
                path = out / name / f"{minutes}m" / venue / f"{symbol}.csv.gz"
                _write_csv(path, header, lines)
                done.files.append(path)
                done.series += 1
                done.rows += len(lines)
                if progress:
                    progress(f"{path} <- {len(lines)} rows")
    for symbol in store.symbols(root, store.FUNDING):
        fs = store.read_funding(root, symbol)
        lines = [f"{t},{r!r}\n" for t, r in zip(fs.ts, fs.rate, strict=True)]
        path = out / "funding" / DEFAULT_VENUE / f"{symbol}.csv.gz"
        _write_csv(path, FUNDING_HEADER, lines)
        done.files.append(path)
        done.series += 1
        done.rows += len(lines)
    return done

"""What a store directory holds and what it lacks: ``manifest.json`` (every file's rows, time range, size and
sha256, plus what the download asked for) and ``gaps.csv`` (the minutes missing per symbol and kind).

A gap is a run of missing bar open times between a series' requested start and end (or, without a request, between
its first and last bar): reported, never filled in. Funding is not gap-checked (its interval varies by symbol and
over time); its interval changes are listed instead.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from omni.domain.market import MINUTE_MS
from omni.venues import store
from omni.venues.store import MANIFEST, read_manifest

GAPS = "gaps.csv"
GAP_HEADER = ("symbol", "kind", "interval_min", "gap_start_utc", "gap_end_utc", "missing_bars", "gap_start_ms")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    store.atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Gap:
    symbol: str
    kind: str
    interval_min: int
    start_ms: int  # open time of the first missing bar
    bars: int

    def row(self) -> tuple[Any, ...]:
        end = self.start_ms + (self.bars - 1) * self.interval_min * MINUTE_MS
        return (self.symbol, self.kind, self.interval_min, iso(self.start_ms), iso(end), self.bars, self.start_ms)


def find_gaps(symbol: str, kind: str, ts: np.ndarray, interval_min: int, start_ms: int | None = None,
              end_ms: int | None = None) -> list[Gap]:  # fmt: skip
    """Runs of missing bars in sorted open times ``ts``, over [start_ms, end_ms) when given, else first..last."""
    span = interval_min * MINUTE_MS
    lo = ts[0] if start_ms is None and ts.size else start_ms
    hi = ts[-1] + span if end_ms is None and ts.size else end_ms
    if lo is None or hi is None:
        return []
    if ts.size == 0:
        return [Gap(symbol, kind, interval_min, int(lo), int((hi - lo) // span))] if hi > lo else []
    inside = ts[(ts >= lo) & (ts < hi)]
    edges = np.concatenate(([lo - span], inside, [hi]))
    steps = np.diff(edges)
    out = []
    for i in np.flatnonzero(steps > span).tolist():
        out.append(Gap(symbol, kind, interval_min, int(edges[i] + span), int(steps[i] // span) - 1))
    return out


def _files(root: Path) -> list[tuple[str, int, str, Path]]:
    """(kind, interval, symbol, file) of every month file in the store."""
    out = []
    for kind in (store.KLINES, store.MARK):
        for minutes in store.intervals(root, kind):
            for symbol in store.symbols(root, kind, minutes):
                out += [(kind, minutes, symbol, f) for f in store.month_files(root, kind, symbol, minutes)]
    for symbol in store.symbols(root, store.FUNDING):
        out += [(store.FUNDING, 0, symbol, f) for f in store.month_files(root, store.FUNDING, symbol)]
    return out


def funding_changes(ts: np.ndarray) -> list[dict[str, Any]]:
    """Where the spacing of settlements changes: [{"ts", "utc", "from_min", "to_min"}]."""
    steps = np.diff(ts) // MINUTE_MS
    out = []
    for i in np.flatnonzero(steps[1:] != steps[:-1]).tolist():
        t = int(ts[i + 2])
        out.append({"ts": t, "utc": iso(t), "from_min": int(steps[i]), "to_min": int(steps[i + 1])})
    return out


def write_manifest(root: Path, request: dict[str, Any] | None = None) -> dict[str, Any]:
    """Scan the store, write ``manifest.json`` and ``gaps.csv``; return the manifest.

    ``request``: what a download asked for ({"symbols", "from_ms", "to_ms", ...}); its range bounds the gap check.
    """
    root = Path(root)
    previous = read_manifest(root)
    request = request or previous.get("request")
    lo = request.get("from_ms") if request else None
    hi = request.get("to_ms") if request else None
    files, gaps, series = [], [], {}
    by_series: dict[tuple[str, int, str], list[Path]] = {}
    for kind, minutes, symbol, path in _files(root):
        by_series.setdefault((kind, minutes, symbol), []).append(path)
    launch = (request or {}).get("launch_ms") or {}
    for (kind, minutes, symbol), paths in sorted(by_series.items()):
        # a symbol listed inside the range: its minutes before the listing are not missing
        lo_sym = lo if lo is None or not launch.get(symbol) else max(lo, -(-launch[symbol] // MINUTE_MS) * MINUTE_MS)
        ts_parts = []
        for path in paths:
            meta = pq.read_metadata(path)
            ts = pq.read_table(path, columns=["ts"]).column("ts").to_numpy()
            ts_parts.append(ts)
            files.append({
                "path": path.relative_to(root).as_posix(), "kind": kind, "symbol": symbol, "rows": meta.num_rows,
                "first_ts": int(ts[0]) if ts.size else None, "last_ts": int(ts[-1]) if ts.size else None,
                "bytes": path.stat().st_size, "sha256": sha256(path),
            })  # fmt: skip
        ts = np.concatenate(ts_parts) if ts_parts else np.empty(0, np.int64)
        if ts.size == 0:
            entry_empty: dict[str, Any] = {"rows": 0}
            if kind != store.FUNDING:
                found = find_gaps(symbol, kind, ts, minutes, lo_sym, hi)
                gaps += found
                entry_empty["missing_bars"] = sum(g.bars for g in found)
            series[f"{kind}/{minutes}m/{symbol}" if minutes else f"{kind}/{symbol}"] = entry_empty
            continue
        entry: dict[str, Any] = {"rows": int(ts.size), "first_ts": int(ts[0]), "last_ts": int(ts[-1]),
                                 "first_utc": iso(int(ts[0])), "last_utc": iso(int(ts[-1]))}  # fmt: skip
        if kind == store.FUNDING:
            entry["interval_changes"] = funding_changes(ts)
        else:
            found = find_gaps(symbol, kind, ts, minutes, lo_sym, hi)
            gaps += found
            entry["missing_bars"] = sum(g.bars for g in found)
            entry["interval_min"] = minutes
        series[f"{kind}/{minutes}m/{symbol}" if minutes else f"{kind}/{symbol}"] = entry
    manifest = {
        "format": "omni-store-1",
        "written_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "request": request,
        "series": series,
        "files": files,
        "snapshots": sorted(p.name for p in (root / "instruments").glob("*.json"))
        if (root / "instruments").is_dir()
        else [],
        "missing_bars": sum(g.bars for g in gaps),
    }
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(GAP_HEADER)
    w.writerows(g.row() for g in gaps)
    atomic_write_text(root / GAPS, buf.getvalue())
    return manifest

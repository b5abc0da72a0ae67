"""``omni data download``: Bybit's public market history into the store (``omni.venues.store``), resumably.

Per symbol and UTC month of the requested range: 1m klines and 1m mark-price klines (``/v5/market/kline``,
``/v5/market/mark-price-kline``: forward windows of 1,000 minutes, one page each), and funding settlements
(``/v5/market/funding/history``: 200 per page, paged back by ``endTime``); once per run a dated snapshot of
instruments-info (cursor-paged) and risk-limit tiers (``omni.venues.snapshots``). Public endpoints only, no keys.

- Budget: every request passes the IP bucket of ``RestClient`` (default 50 requests/s, Bybit allows 600 / 5 s);
  retries with backoff on retryable errors only (10006 and other rate limits, 5xx, a dropped connection), any other
  error stops the download naming the request.
- Resumable: a month file is written (temp file + rename) only when all of its part of the range is fetched, and it
  records the range it covers (schema metadata ``omni.covered``); a run skips every file that already covers its
  part. An interrupted run leaves complete files only, and the next run gives the same files as one uninterrupted.
- Bars Bybit does not have (a gap, a symbol listed later) are not invented: ``gaps.csv`` lists them and
  ``manifest.json`` counts them per series.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omni.domain.errors import VenueError
from omni.domain.market import MINUTE_MS
from omni.history.convert import funding_intervals
from omni.history.manifest import atomic_write_text, write_manifest
from omni.venues import snapshots, store
from omni.venues.bybit_rest import NO_PYBIT_RETRIES, RestClient
from omni.venues.bybit_transport import LocalHTTP

MAINNET_PUBLIC = "https://api.bybit.com"
CATEGORY = "linear"
KLINE_PAGE = 1000  # bars per kline request (Bybit's max)
FUNDING_PAGE = 200
COVERED_KEY = b"omni.covered"
VENUE = "bybit-linear"


class DownloadError(Exception):
    """The download cannot go on (an unknown symbol, a refused request); says what and where."""


@dataclass
class Job:
    kind: str  # klines | mark | funding
    symbol: str
    month: str  # YYYY-MM; for funding the first month of the range
    lo: int  # [lo, hi) epoch ms of bar open times / settlement times
    hi: int
    months: tuple[str, ...] = ()  # funding: the months this job writes


@dataclass
class Progress:
    total: int = 0
    done: int = 0
    skipped: int = 0
    requests: int = 0
    rows: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        left = self.total - self.done - self.skipped
        eta = f"{left * elapsed / self.done:.0f} s" if self.done else "?"
        return (f"{self.done + self.skipped}/{self.total} files ({self.skipped} already complete), "
                f"{self.requests} requests, {self.rows} rows, {elapsed:.0f} s, ETA {eta}")  # fmt: skip


def month_starts(lo: int, hi: int) -> list[tuple[str, int, int]]:
    """(YYYY-MM, start, end) of each UTC month overlapping [lo, hi), clipped to it."""
    out = []
    d = datetime.fromtimestamp(lo / 1000, UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while int(d.timestamp() * 1000) < hi:
        nxt = d.replace(year=d.year + 1, month=1) if d.month == 12 else d.replace(month=d.month + 1)
        a, b = max(lo, int(d.timestamp() * 1000)), min(hi, int(nxt.timestamp() * 1000))
        out.append((d.strftime("%Y-%m"), a, b))
        d = nxt
    return out


def covered(path: Path) -> tuple[int, int] | None:
    """The [lo, hi) range a stored month file says it covers (None: absent or not written by a download)."""
    if not path.is_file():
        return None
    try:
        raw = (pq.read_schema(path).metadata or {}).get(COVERED_KEY)
        lo, hi = raw.decode().split(",") if raw else (None, None)
        return (int(lo), int(hi)) if lo is not None else None
    except (OSError, ValueError):
        return None


def _decimals(text: str) -> int:
    exp = Decimal(text).as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


class Downloader:
    def __init__(
        self, base_url: str, out: Path, *, rate_per_s: float = 50.0, workers: int = 8, attempts: int = 8,
        progress: Callable[[Progress], None] | None = None, now_ms: Callable[[], int] | None = None,
    ):  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.out = Path(out)
        self.workers = max(1, workers)
        self.rest = RestClient(
            LocalHTTP(self.base_url, timeout=20, retry_codes=NO_PYBIT_RETRIES, max_retries=1),
            ip_per_s=rate_per_s, market_per_s=rate_per_s, attempts=attempts,
        )  # fmt: skip
        self.http = self.rest.http
        self.progress = Progress()
        self.on_progress = progress
        self.now_ms = now_ms
        self.funding_minutes: dict[str, int] = {}

    async def _get(self, fn: Callable[..., Any], **params: Any) -> dict[str, Any]:
        try:
            extra = {} if fn == self.http.get_server_time else {"category": CATEGORY}
            res = await self.rest.call(fn, "market", **extra, **params)
        except VenueError as e:
            what = " ".join(f"{k}={v}" for k, v in params.items())
            raise DownloadError(f"{fn.__name__} {what} failed at {self.base_url}: {e}") from None
        self.progress.requests += 1
        return res

    # ------------------------------------------------------------ snapshot and plan

    async def snapshot(self) -> tuple[dict[str, dict[str, Any]], Path]:
        """Save today's instruments and risk tiers; return the USDT perpetuals' items by symbol and the file."""
        items, tiers = [], []
        for fn, out in ((self.http.get_instruments_info, items), (self.http.get_risk_limit, tiers)):
            cursor = ""
            for _ in range(1000):
                extra = {"limit": 1000} if fn == self.http.get_instruments_info else {}
                res = await self._get(fn, **extra, **({"cursor": cursor} if cursor else {}))
                out += res.get("list") or []
                cursor = res.get("nextPageCursor") or ""
                if not cursor:
                    break
        taken = await self.server_ms()
        doc = snapshots.snapshot_doc(taken, self.base_url, items, tiers)
        path = self.out / snapshots.FOLDER / snapshots.snapshot_name(taken)
        atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
        listed = {it["symbol"]: it for it in items if snapshots.is_usdt_perpetual(it) and it.get("status") == "Trading"}
        return listed, path

    async def server_ms(self) -> int:
        if self.now_ms is not None:
            return self.now_ms()
        res = await self._get(self.http.get_server_time)
        return int(res["timeSecond"]) * 1000

    def plan(self, symbols: list[str], lo: int, hi: int) -> list[Job]:
        jobs = []
        months = month_starts(lo, hi)
        for symbol in symbols:
            for kind in (store.KLINES, store.MARK):
                for month, a, b in months:
                    jobs.append(Job(kind, symbol, month, a, b))
            jobs.append(Job(store.FUNDING, symbol, months[0][0], lo, hi, tuple(m for m, _, _ in months)))
        return jobs

    def complete(self, job: Job) -> bool:
        """Every file the job writes already covers its part of the range."""
        if job.kind == store.FUNDING:
            parts = [(m, a, b) for m, a, b in month_starts(job.lo, job.hi)]
        else:
            parts = [(job.month, job.lo, job.hi)]
        for month, a, b in parts:
            got = covered(store.month_file(self.out, job.kind, job.symbol, month))
            if got is None or got[0] > a or got[1] < b:
                return False
        return True

    # ------------------------------------------------------------ fetching

    async def _bars(self, job: Job) -> None:
        fn = self.http.get_kline if job.kind == store.KLINES else self.http.get_mark_price_kline
        rows: dict[int, list[str]] = {}
        start = job.lo
        while start < job.hi:
            end = min(job.hi, start + KLINE_PAGE * MINUTE_MS)
            res = await self._get(fn, symbol=job.symbol, interval="1", start=start, end=end - 1, limit=KLINE_PAGE)
            for row in res.get("list") or []:
                t = int(row[0])
                if start <= t < end:
                    rows[t] = row
            start = end
        ts = np.array(sorted(rows), dtype=np.int64)
        ordered = [rows[t] for t in ts.tolist()]
        cols: dict[str, Any] = {"ts": ts}
        names = store.KLINE_COLUMNS if job.kind == store.KLINES else store.MARK_COLUMNS
        for i, name in enumerate(names[1:], start=1):
            cols[name] = np.array([float(r[i]) for r in ordered], dtype=np.float64)
        decimals = max((_decimals(x) for r in ordered[:1000] for x in r[1:5]), default=0)
        meta = {**store.kline_metadata(decimals, VENUE), COVERED_KEY: f"{job.lo},{job.hi}".encode()}
        self._write(job, cols, meta, [job.month], len(ts))

    async def _funding(self, job: Job) -> None:
        found: dict[int, float] = {}
        end = job.hi - 1
        while end >= job.lo:
            res = await self._get(self.http.get_funding_rate_history, symbol=job.symbol, startTime=job.lo,
                                  endTime=end, limit=FUNDING_PAGE)  # fmt: skip
            page = [(int(it["fundingRateTimestamp"]), float(it["fundingRate"])) for it in res.get("list") or []]
            page = [(t, r) for t, r in page if job.lo <= t <= end]
            for t, r in page:
                found[t] = r
            if len(page) < FUNDING_PAGE:
                break
            end = min(t for t, _ in page) - 1
        ts = np.array(sorted(found), dtype=np.int64)
        intervals = funding_intervals(ts)
        if ts.size == 1 and job.symbol in self.funding_minutes:
            intervals[0] = self.funding_minutes[job.symbol]
        cols = {"ts": ts, "rate": np.array([found[t] for t in ts.tolist()]), "interval_min": intervals}
        for month, a, b in month_starts(job.lo, job.hi):
            inside = (ts >= a) & (ts < b)
            part = {k: np.asarray(v)[inside] for k, v in cols.items()}
            self._write(Job(job.kind, job.symbol, month, a, b), part, {COVERED_KEY: f"{a},{b}".encode()}, [month],
                        int(inside.sum()))  # fmt: skip

    def _write(self, job: Job, cols: dict[str, Any], meta: dict[bytes, bytes], months: list[str], rows: int) -> None:
        """Write a complete month file, even an empty one (it records that the range was fetched)."""
        if np.asarray(cols["ts"]).size:
            store.write_months(self.out, job.kind, job.symbol, cols, metadata=meta, only=months)
        else:
            schema = store.SCHEMAS[job.kind].with_metadata(meta)
            empty = pa.Table.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)
            store.atomic_write_table(empty, store.month_file(self.out, job.kind, job.symbol, job.month))
        self.progress.rows += rows

    async def run_job(self, job: Job) -> None:
        if job.kind == store.FUNDING:
            await self._funding(job)
        else:
            await self._bars(job)

    # ------------------------------------------------------------ the whole download

    async def download(self, symbols: list[str] | None, lo: int, hi: int) -> dict[str, Any]:
        """Fetch ``symbols`` (None: every listed USDT perpetual) over [lo, hi); return the manifest."""
        listed, snap = await self.snapshot()
        now = await self.server_ms()
        # closed bars only, with a minute's margin: the bar that closed this minute may not be final yet
        hi = min(hi, now - now % MINUTE_MS - MINUTE_MS)
        if hi <= lo:
            raise DownloadError(f"nothing to download: the range ends before it starts (server time {now})")
        wanted = sorted(listed) if symbols is None else symbols
        unknown = [s for s in wanted if s not in listed]
        if unknown:
            raise DownloadError(f"not listed as trading USDT perpetuals on {self.base_url}: {', '.join(unknown)}")
        self.funding_minutes = {s: int(listed[s].get("fundingInterval", 480)) for s in wanted}
        jobs = self.plan(wanted, lo, hi)
        self.progress.total = len(jobs)
        todo = []
        for job in jobs:
            if self.complete(job):
                self.progress.skipped += 1
            else:
                todo.append(job)
        queue: asyncio.Queue[Job] = asyncio.Queue()
        for job in todo:
            queue.put_nowait(job)

        async def worker() -> None:
            while not queue.empty():
                job = queue.get_nowait()
                await self.run_job(job)
                self.progress.done += 1
                if self.on_progress:
                    self.on_progress(self.progress)

        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(min(self.workers, max(1, len(todo)))):
                    tg.create_task(worker())
        except* DownloadError as eg:
            raise eg.exceptions[0] from None
        request = {"symbols": wanted, "from_ms": lo, "to_ms": hi, "from_utc": _iso(lo), "to_utc": _iso(hi),
                   "base_url": self.base_url, "snapshot": snap.name, "all_listed": symbols is None,
                   "launch_ms": {s: int(listed[s].get("launchTime") or 0) for s in wanted}}  # fmt: skip
        return write_manifest(self.out, request)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

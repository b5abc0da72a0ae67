"""Load benchmark: how long the replay takes to load and validate a month of 1m bars of 500 symbols, from the
Parquet store (``omni.venues.store``) and from gzip CSV (``omni.venues.replay.load_klines``), and the peak RSS.

Dataset (synthetic, seeded, generated once and cached under ``--cache``; ``--regen`` rebuilds it): N symbols
(``--symbols``, default 500) x D days (``--days``, default 30) of gap-free 1m bars from 2025-01-01 00:00 UTC; per
symbol a random walk of the log price (per-minute sigma 0.05-0.2 %) on an integer tick grid (a start price
log-uniform in 0.001..100000 with 5-6 significant digits), open = previous close, wicks above and below, positive
volume on a per-symbol quantity step; funding settlements every 8 h (00, 08, 16 UTC) with rates around 0.01 %.
The same numbers are written twice:
- as a store (``store.write_months`` plus ``write_manifest``: the layout ``omni data download`` writes, with a
  turnover column and the ``omni.price_decimals`` / ``omni.venue`` metadata), ``<cache>/<N>x<D>d-seed<S>/store``;
- as the shared-data gzip CSV (``klines/1m/synthetic/<SYM>.csv.gz``, ``funding/bybit-linear/<SYM>.csv.gz``,
  shortest float text as in ``shared/data``), ``<cache>/<N>x<D>d-seed<S>/csv``.

Measured, each in a fresh ``python`` subprocess (so the peak RSS is that path's alone): the wall time of
``ReplayMarket([store_dir], {})`` and of ``ReplayMarket(kline_files + funding_files, {})``, the constructor only:
every file read and validated into columns (KlineSeries / FundingSeries), fallback instruments derived. Python's
start-up and imports (``omni.venues.replay``: numpy, pyarrow) are excluded from that figure and reported
separately (spawn to script start, script start to imports done; pyarrow is imported inside the store load, so
its ~0.2 s is in the store figure). Peak RSS = the child's VmHWM right after the
load (/proc/self/status; not ru_maxrss, which after fork+exec from this parent can carry the parent's RSS), with
the RSS after the imports beside it. Bars/s = bars loaded / load time. The two paths must load
identical numbers: each child checksums its columns (after the timing) and the table says whether they match.
``--repeat K`` runs each path K times (alternating) and reports the median time and the largest peak RSS.

Page cache: by default warm (every file of the path is read once right before each timed child, so the figure is
decode + validation, not the disk); ``--cold`` instead asks the kernel to drop the files' pages
(``posix_fadvise(DONTNEED)``, no root needed) before each child: that includes reading the disk, as far as the
virtual machine's host cache lets it.

Left out: iterating the batches (replay speed: ``bench/replay.py``, which reads the store too), mark-price bars
(a downloaded store may hold them; the CSV layout has none), instrument snapshots, the backtest around the load.

Goal on the 2-core reference machine: 500 symbols x 30 days of 1m bars (21.6 M bars) loaded and validated from the
store in <= 20 s. The CSV figure is reported beside it (no goal).

    python bench/load.py [--symbols N] [--days D] [--cache DIR] [--regen] [--repeat K] [--only store|csv]
                         [--cold] [--profile] [--jobs J]

A quick run while developing: ``python bench/load.py --symbols 20 --days 3``.
"""

from __future__ import annotations

import time

T_TOP = time.monotonic()  # the child's "script started" stamp: before any other import

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
GOAL_BARS = 500 * 30 * 1440
GOAL_S = 20.0
START_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
MINUTE_MS = 60_000
FUNDING_EVERY_MS = 8 * 3600 * 1000
VENUE = "synthetic"
#: bumped when the generator changes, so an old cache is rebuilt
DATASET_VERSION = 1
DONE = "dataset.json"


def symbol_name(i: int) -> str:
    return f"SYN{i:04d}USDT"


# ---------------------------------------------------------------- dataset


def dataset_dir(cache: Path, symbols: int, days: int, seed: int) -> Path:
    return cache / f"{symbols}x{days}d-seed{seed}"


def make_symbol(i: int, days: int, seed: int) -> dict:
    """One symbol's bars and settlements: integer ticks turned into floats (ticks / 10**d is the double nearest
    the decimal, exactly what parsing the CSV text gives)."""
    import numpy as np

    rng = np.random.default_rng([seed, i])
    n = days * 1440
    p0 = 10 ** rng.uniform(-3, 5)
    decimals = int(np.clip(4 - np.floor(np.log10(p0)) + rng.integers(0, 2), 0, 8))
    scale = 10.0**decimals
    sigma = rng.uniform(0.0005, 0.002)
    start = max(1, round(p0 * scale))
    close = np.rint(start * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))).astype(np.int64)
    np.maximum(close, 1, out=close)
    open_ = np.empty_like(close)
    open_[0] = start
    open_[1:] = close[:-1]
    wick = np.abs(rng.normal(0.0, 0.6 * sigma, (2, n)))
    high = np.ceil(np.maximum(open_, close) * (1.0 + wick[0])).astype(np.int64)
    low = np.maximum(np.floor(np.minimum(open_, close) * (1.0 - wick[1])).astype(np.int64), 1)
    qty_dec = int(rng.integers(0, 4))
    notional = 10 ** rng.uniform(3.5, 5.5)  # median USDT per minute
    units = np.rint(np.exp(rng.normal(np.log(notional / p0 * 10**qty_dec), 1.0, n)))
    volume = np.maximum(units, 1.0) / 10.0**qty_dec
    o, h, lo, c = (x / scale for x in (open_, high, low, close))
    ts = START_MS + np.arange(n, dtype=np.int64) * MINUTE_MS
    f_ts = START_MS + np.arange(days * 3 + 1, dtype=np.int64) * FUNDING_EVERY_MS
    rate = np.rint(np.clip(rng.normal(1e-4, 1.5e-4, f_ts.size), -0.0075, 0.0075) * 1e8) / 1e8
    return {"ts": ts, "open": o, "high": h, "low": lo, "close": c, "volume": volume,
            "turnover": volume * (o + h + lo + c) / 4, "decimals": decimals, "f_ts": f_ts, "rate": rate}  # fmt: skip


def kline_csv(k: dict, chunk: int = 100_000) -> bytes:
    """The kline rows as the shared-data CSV: shortest float text, no trailing '.0' (as ``shared/data`` has it)."""
    out = ["ts,open,high,low,close,volume\n"]
    fmt = "%d,%r,%r,%r,%r,%r\n".__mod__
    cols = ("ts", "open", "high", "low", "close", "volume")
    for a in range(0, k["ts"].size, chunk):
        rows = zip(*(k[c][a : a + chunk].tolist() for c in cols), strict=True)
        out.append("".join(map(fmt, rows)).replace(".0,", ",").replace(".0\n", "\n"))
    return "".join(out).encode()


def funding_csv(k: dict) -> bytes:
    lines = [f"{t},{f'{r:.8f}'.rstrip('0').rstrip('.')}\n" for t, r in zip(k["f_ts"].tolist(), k["rate"].tolist(),
                                                                              strict=True)]  # fmt: skip
    return ("ts,rate\n" + "".join(lines)).encode()


def write_symbol(job: tuple[int, int, int, str]) -> tuple[int, int]:
    """Generate symbol ``i`` and write it to the store and the CSV tree; return (bars, settlements)."""
    import gzip

    from omni.history.convert import funding_intervals
    from omni.venues import store

    i, days, seed, where = job
    out = Path(where)
    sym = symbol_name(i)
    k = make_symbol(i, days, seed)
    cols = {c: k[c] for c in ("ts", "open", "high", "low", "close", "volume", "turnover")}
    store.write_months(out / "store", store.KLINES, sym, cols, interval_min=1,
                       metadata=store.kline_metadata(k["decimals"], VENUE))  # fmt: skip
    f_cols = {"ts": k["f_ts"], "rate": k["rate"], "interval_min": funding_intervals(k["f_ts"])}
    store.write_months(out / "store", store.FUNDING, sym, f_cols)
    for path, data in ((out / "csv" / "klines" / "1m" / VENUE / f"{sym}.csv.gz", kline_csv(k)),
                       (out / "csv" / "funding" / "bybit-linear" / f"{sym}.csv.gz", funding_csv(k))):  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb", compresslevel=6) as f:
            f.write(data)
    return k["ts"].size, k["f_ts"].size


def generate(where: Path, symbols: int, days: int, seed: int, jobs: int) -> dict:
    """Write the dataset (both formats) into ``where``; the marker file is written last."""
    from concurrent.futures import ProcessPoolExecutor

    from omni.history.manifest import write_manifest

    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    t0 = time.perf_counter()
    work = [(i, days, seed, str(where)) for i in range(symbols)]
    bars = settlements = 0
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for k, (b, f) in enumerate(pool.map(write_symbol, work, chunksize=4), 1):
            bars += b
            settlements += f
            if k % 50 == 0 or k == symbols:
                print(f"  generated {k}/{symbols} symbols ({time.perf_counter() - t0:.0f} s)", flush=True)
    write_manifest(where / "store")
    info = {"version": DATASET_VERSION, "symbols": symbols, "days": days, "seed": seed, "bars": bars,
            "settlements": settlements, "generation_s": round(time.perf_counter() - t0, 1), "jobs": jobs}  # fmt: skip
    (where / DONE).write_text(json.dumps(info, indent=1))
    return info


def files_of(where: Path, kind: str) -> list[Path]:
    if kind == "store":
        return sorted(p for p in (where / "store").rglob("*") if p.is_file())
    base = where / "csv"
    return sorted((base / "klines" / "1m" / VENUE).glob("*.csv.gz")) + sorted(
        (base / "funding" / "bybit-linear").glob("*.csv.gz")
    )


def disk_bytes(where: Path, kind: str) -> int:
    return sum(p.stat().st_size for p in files_of(where, kind))


def set_cache(files: list[Path], warm: bool) -> None:
    """Warm: read every file once. Cold: drop the files' clean pages from the page cache."""
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            if warm:
                while os.read(fd, 1 << 20):
                    pass
            else:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- the measured child


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child(kind: str, where: Path, profile: bool) -> int:
    """Load one path in this (fresh) process and print one JSON line of figures."""
    from omni.venues.replay import ReplayMarket

    t_ready = time.monotonic()
    rss_ready = status_kb("VmRSS")
    paths: list[str | Path] = [where / "store"] if kind == "store" else list(files_of(where, "csv"))
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    market = ReplayMarket(paths, {})
    load_s = time.perf_counter() - t0
    if prof is not None:
        import pstats

        prof.disable()
        print(f"== cProfile of the {kind} load ({load_s:.2f} s under the profiler)", file=sys.stderr)
        for key in ("tottime", "cumulative"):
            pstats.Stats(prof, stream=sys.stderr).sort_stats(key).print_stats(18)
    peak_kb = status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import zlib

    crc = 0
    for s in market.klines.values():
        crc = zlib.crc32(f"{s.symbol},{s.price_decimals},{s.minutes}".encode(), crc)
        for a in (s.ts, s.open, s.high, s.low, s.close, s.volume):
            crc = zlib.crc32(memoryview(a), crc)
    for f in market.funding.values():
        crc = zlib.crc32(memoryview(f.ts), zlib.crc32(memoryview(f.rate), crc))
    print(json.dumps({
        "kind": kind, "t_top": T_TOP, "t_ready": t_ready, "load_s": load_s, "rss_ready_kb": rss_ready,
        "peak_kb": peak_kb, "symbols": len(market.klines), "bars": sum(len(s) for s in market.klines.values()),
        "settlements": sum(len(f) for f in market.funding.values()), "crc": crc,
    }))  # fmt: skip
    return 0


def run_child(kind: str, where: Path, profile: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--dir", str(where)]
    if profile:
        cmd.append("--profile")
    t_spawn = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, stderr=None if profile else subprocess.PIPE)
    t_exit = time.monotonic()
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr or "")
        raise SystemExit(f"the {kind} child failed (exit {proc.returncode}): {' '.join(cmd)}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["startup_s"] = r["t_top"] - t_spawn  # interpreter start-up to the script's first line
    r["imports_s"] = r["t_ready"] - r["t_top"]  # import omni.venues.replay (pyarrow is imported by the store load)
    r["process_s"] = t_exit - t_spawn
    r["cmd"] = cmd
    return r


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=500, help="symbols (default 500)")
    ap.add_argument("--days", type=int, default=30, help="days of 1m bars per symbol (default 30)")
    ap.add_argument("--seed", type=int, default=1, help="dataset seed (default 1)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/omni-bench-load"),
                    help="where datasets are kept (default /tmp/omni-bench-load)")  # fmt: skip
    ap.add_argument("--regen", action="store_true", help="rebuild the dataset even if cached")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="generation processes (default: cores)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of each path; the median is reported")
    ap.add_argument("--only", choices=("store", "csv"), help="measure one path only")
    ap.add_argument("--cold", action="store_true", help="drop the files from the page cache before each run")
    ap.add_argument("--profile", action="store_true", help="also run the store load once under cProfile")
    ap.add_argument("--child", choices=("store", "csv"), help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.dir, args.profile)

    where = dataset_dir(args.cache, args.symbols, args.days, args.seed)
    marker = where / DONE
    info = json.loads(marker.read_text()) if marker.is_file() else None
    generated = False
    if args.regen or info is None or info.get("version") != DATASET_VERSION:
        print(f"generating {args.symbols} symbols x {args.days} days into {where} ({args.jobs} processes) ...")
        info = generate(where, args.symbols, args.days, args.seed, args.jobs)
        generated = True
    kinds = [args.only] if args.only else ["store", "csv"]
    sizes = {k: disk_bytes(where, k) for k in kinds}
    n_files = {k: len(files_of(where, k)) for k in kinds}
    cache_state = "cold (posix_fadvise DONTNEED before each run)" if args.cold else "warm (files read before each run)"

    load0 = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(args.repeat):
        for k in kinds:
            set_cache(files_of(where, k), warm=not args.cold)
            runs[k].append(run_child(k, where))
    res = {}
    for k, rs in runs.items():
        t = statistics.median(r["load_s"] for r in rs)
        res[k] = {
            "load_s": round(t, 3), "load_s_min": round(min(r["load_s"] for r in rs), 3),
            "load_s_max": round(max(r["load_s"] for r in rs), 3), "bars": rs[0]["bars"],
            "settlements": rs[0]["settlements"], "symbols": rs[0]["symbols"], "files": n_files[k],
            "bars_per_s": round(rs[0]["bars"] / t), "peak_rss_mb": round(max(r["peak_kb"] for r in rs) / 1024, 1),
            "rss_after_imports_mb": round(statistics.median(r["rss_ready_kb"] for r in rs) / 1024, 1),
            "startup_s": round(statistics.median(r["startup_s"] for r in rs), 3),
            "imports_s": round(statistics.median(r["imports_s"] for r in rs), 3),
            "process_s": round(statistics.median(r["process_s"] for r in rs), 3),
            "disk_mb": round(sizes[k] / MB, 1), "crc": rs[0]["crc"],
        }  # fmt: skip
        if len({r["crc"] for r in rs}) != 1:
            raise SystemExit(f"{k}: the loaded columns differ between runs")

    bars = info["bars"]
    label = {"store": "store (Parquet)", "csv": "gzip CSV"}
    print(f"== load: {args.symbols} symbols x {args.days} days of 1m bars = {bars:,} bars, "
          f"{info['settlements']:,} funding settlements")  # fmt: skip
    how = "generated now" if generated else "cached"
    gen = f"generation took {info['generation_s']:.1f} s with {info['jobs']} processes"
    print(f"dataset         {where} ({how}; {gen})")
    print(f"page cache      {cache_state}")
    print(f"runs            {args.repeat} per path, fresh subprocess each (median time, largest peak RSS)")
    cmd0 = runs[kinds[0]][0]["cmd"]
    print(f"child           python {' '.join(cmd0[1:])}  (and --child csv)")
    print()
    head = f"{'path':16s} {'files':>6s} {'on disk':>9s} {'load+validate':>14s} {'bars/s':>12s} {'peak RSS':>10s}"
    print(head + f" {'RSS imports':>12s} {'start-up':>9s} {'imports':>8s} {'process':>8s}")
    for k in kinds:
        r = res[k]
        spread = f" ({r['load_s_min']:.2f}-{r['load_s_max']:.2f})" if args.repeat > 1 else ""
        print(f"{label[k]:16s} {r['files']:6d} {r['disk_mb']:7.1f}MB {r['load_s']:12.2f} s {r['bars_per_s']:12,d} "
              f"{r['peak_rss_mb']:7.1f} MB {r['rss_after_imports_mb']:9.1f} MB {r['startup_s']:8.2f}s "
              f"{r['imports_s']:7.2f}s {r['process_s']:7.2f}s{spread}")  # fmt: skip
    print(
        "(load+validate = ReplayMarket(...) alone; start-up = spawn to the script's first line; imports = "
        "omni.venues.replay (pyarrow loads inside the store figure); process = spawn to exit, incl. a checksum pass)"
    )
    same = None
    if len(kinds) == 2:
        same = res["store"]["crc"] == res["csv"]["crc"] and res["store"]["bars"] == res["csv"]["bars"]
        print(f"\nsame numbers    {'yes' if same else 'NO'} (checksum of every loaded column, both paths)")
        print(f"store vs CSV    {res['csv']['load_s'] / res['store']['load_s']:.1f}x faster")
    met = None
    if "store" in res:
        t = res["store"]["load_s"]
        if bars == GOAL_BARS:
            met = t <= GOAL_S
            verdict = "MET" if met else "NOT MET"
            print(f"goal            store load of 21.6 M bars <= {GOAL_S:.0f} s: {t:.2f} s -> {verdict}")
        else:
            proj = t * GOAL_BARS / bars
            print(f"goal            store load of 21.6 M bars <= {GOAL_S:.0f} s: not applicable ({bars:,} bars); "
                  f"at this rate 21.6 M bars would take ~{proj:.1f} s (linear guess)")  # fmt: skip
    print("left out        iterating the batches (bench/replay.py), mark-price bars, instrument snapshots")
    load1 = os.getloadavg()[0]
    print(f"machine         {os.cpu_count()} cores; 1-min load average {load0:.2f} before the runs, {load1:.2f} after "
          "(above ~1 other work shared the cores and the figures are pessimistic)")  # fmt: skip
    out = {
        "bench": "load", "symbols": args.symbols, "days": args.days, "bars": bars, "settlements": info["settlements"],
        "repeat": args.repeat, "page_cache": "cold" if args.cold else "warm", "generation_s": info["generation_s"],
        "generated_now": generated, "goal_s": GOAL_S, "goal_met": met, "same_numbers": same,
        "loadavg": [round(load0, 2), round(load1, 2)],
        **{k: {kk: v for kk, v in r.items() if kk != "crc"} for k, r in res.items()},
    }  # fmt: skip
    print(json.dumps(out))
    if args.profile:
        print("\nprofiling the store load (stats on stderr; timings under cProfile are inflated) ...", flush=True)
        set_cache(files_of(where, "store"), warm=not args.cold)
        run_child("store", where, profile=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

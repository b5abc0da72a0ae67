"""Soak benchmark: a whole simulated day of the full daemon at max speed, watching its memory.

Workload: ``python -m omni run --speed max --duration 86400 --summary-json ...`` as a subprocess (the real
daemon: scanner, pre-trade simulator, risk guard, sim venue, telemetry, SQLite journal) on a synthetic
market of 50 symbols (OMNI_MARKET__SYMBOLS), with a fresh engine.state_dir (new journal, no latched kill
switch), a `summary` line every 0.5 wall seconds (OMNI_TELEMETRY__SUMMARY_INTERVAL_S) and JSON logs at
info level written to a file in the temporary directory (they map wall time to market time, see below).
OMNI_* variables of the calling shell are not passed on (except OMNI_SHARED_DATA). The duration counts from
the first bar and includes the warm-up (about 7.6 market hours with the default config: bars only feed the
scanner and the pre-trade simulator, no entries).

By default an "active" profile keeps the daemon trading all day instead of stopping entries at the kill
switch or at the default profit/EV bars: 1000 USDT, EV lower bound -1000, 0.3 USDT net profit per trade, no
pacer spacing, daily loss 1000 USDT, drawdown 100 % (printed; ``--default-profile`` drops it).

The child's RSS is sampled every 50 ms (``--interval``) from /proc/<pid>/status (VmRSS; VmHWM for the
peak, together with the ru_maxrss that wait4 reports at exit). Each sample is placed on the market clock
by interpolating between the log lines that carry both the wall ``timestamp`` and a market time (``ts`` or
``market_ts``: orders, fills, positions, decisions, summaries, warmup_done, market_finished; the ``start``
line anchors the first bar). The simulated day is cut into four quarters of market time; the RSS at the
end of a quarter is the last sample taken before that market time (for Q4: before ``market_finished``, so
the shutdown is excluded). Samples before the first bar (interpreter start, imports, assembly) count only
for the peak.

Goals: peak RSS <= 150 MB, and RSS growth from the end of Q1 to the end of Q4 < 5 %. Also reported: RSS at
the end of each quarter, wall time (spawn to exit), bars processed and trades (from the summary JSON),
the journal's size on disk. ``--trace`` adds an in-process diagnostic run of the same configuration under
tracemalloc and prints what grew between the end of Q1 and the end of Q4 (allocation sites).

    python bench/soak.py [--symbols N] [--hours H] [--default-profile] [--interval S] [--trace]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024

#: keeps the daemon deciding and trading all day long (no kill switch, permissive EV and profit bars)
ACTIVE_PROFILE = {
    "OMNI_GHOST__MIN_EV_LOWER_USDT": "-1000",
    "OMNI_GHOST__MIN_SAMPLES": "1",
    "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "0.3",
    "OMNI_PACER__SPACING": "false",
    "OMNI_RISK__MAX_DAILY_LOSS_USDT": "1000",
    "OMNI_RISK__MAX_DRAWDOWN_PCT": "100",
    "OMNI_CAPITAL_USDT": "1000",
}

GOAL_PEAK_MB = 150.0
GOAL_GROWTH_PCT = 5.0


def daemon_env(args: argparse.Namespace, state_dir: Path) -> dict[str, str]:
    """The OMNI_* settings of the run (without the calling shell's)."""
    env = {
        "OMNI_MARKET__SYMBOLS": str(args.symbols),
        "OMNI_ENGINE__STATE_DIR": str(state_dir),
        "OMNI_TELEMETRY__SUMMARY_INTERVAL_S": "0.5",
        "OMNI_TELEMETRY__LOG_LEVEL": "info",
        "OMNI_TELEMETRY__LOG_FORMAT": "json",
    }
    if not args.default_profile:
        env.update(ACTIVE_PROFILE)
    return env


# ---------------------------------------------------------------- sampling


def read_status(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in bytes, or None once the process is gone (or a zombie without memory)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rss = hwm = None
    for line in text.splitlines():
        if line.startswith(b"VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith(b"VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    if rss is None or hwm is None:
        return None
    return rss, hwm


def run_daemon(args: argparse.Namespace, tmp: Path) -> dict:
    """Spawn the daemon, sample its memory until it exits; samples are (wall epoch s, rss, hwm)."""
    state_dir = tmp / "state"
    summary_path = tmp / "summary.json"
    log_path = tmp / "daemon.log"
    err_path = tmp / "daemon.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_") or k == "OMNI_SHARED_DATA"}
    env.update(daemon_env(args, state_dir))
    cmd = [sys.executable, "-m", "omni", "run", "--speed", "max", "--duration", str(int(args.hours * 3600))]
    cmd += ["--summary-json", str(summary_path)]
    samples: list[tuple[float, int, int]] = []
    with open(log_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
        status = rusage = None
        while True:
            st = read_status(proc.pid)
            if st is not None:
                samples.append((time.time(), *st))
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            time.sleep(args.interval)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if proc.returncode != 0 or not summary:
        tail = err_path.read_text(errors="replace").strip()[-2000:]
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {tail}")
    journal = {p.name: p.stat().st_size for p in sorted(state_dir.glob("journal.sqlite*"))}
    return {
        "cmd": cmd,
        "wall_s": wall,
        "samples": samples,
        "maxrss": rusage.ru_maxrss * 1024,  # KiB on Linux
        "summary": summary,
        "journal": journal,
        "log_path": log_path,
        "log_bytes": log_path.stat().st_size,
    }


# ---------------------------------------------------------------- wall time -> market time


def anchors(log_path: Path, first_bar_ts: int) -> tuple[list[float], list[int], float | None, list[int]]:
    """(wall, market ms) pairs from the log, monotone in both; the wall time of market_finished; the market
    times of the order lines (for the quarter table)."""
    walls: list[float] = []
    marks: list[int] = []
    finished = None
    order_ts: list[int] = []
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            stamp = d.get("timestamp")
            if not isinstance(stamp, str):
                continue
            wall = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            event = d.get("event")
            if event == "start":
                ts = first_bar_ts - 60_000  # the open of the first bar: the market task starts right after
            else:
                ts = d.get("market_ts", d.get("ts"))
            if not isinstance(ts, int):
                continue
            if event == "order":
                order_ts.append(ts)
            if event == "market_finished":
                finished = wall
            if walls and (wall < walls[-1] or ts < marks[-1]):
                continue  # keep the mapping monotone (a summary line may lag the hot path's last ts)
            walls.append(wall)
            marks.append(ts)
    return walls, marks, finished, order_ts


def market_at(wall: float, walls: list[float], marks: list[int]) -> float | None:
    """Market time (ms) at a wall time, by linear interpolation; None before the first anchor."""
    if not walls or wall < walls[0]:
        return None
    i = bisect.bisect_right(walls, wall)
    if i >= len(walls):
        return float(marks[-1])
    w0, w1, m0, m1 = walls[i - 1], walls[i], marks[i - 1], marks[i]
    return m0 + (m1 - m0) * ((wall - w0) / (w1 - w0)) if w1 > w0 else float(m1)


def quarters(run: dict) -> list[dict]:
    """Per market quarter: its span, the samples in it, the RSS at its end and its max."""
    summary = run["summary"]
    first = int(summary["market_start_ts"])
    start = first - 60_000
    end = int(summary["market_ts"])
    walls, marks, finished, order_ts = anchors(run["log_path"], first)
    span = end - start
    bounds = [start + span * k / 4 for k in range(5)]
    out = []
    for q in range(4):
        lo, hi = bounds[q], bounds[q + 1]
        inside = []
        for wall, rss, _hwm in run["samples"]:
            if q == 3 and finished is not None and wall > finished:
                continue  # shutdown, final summary, journal flush: not part of the simulated day
            m = market_at(wall, walls, marks)
            if m is None:
                continue
            if lo <= m < hi or (q == 3 and m >= hi):
                inside.append((m, rss))
        out.append(
            {
                "quarter": f"Q{q + 1}",
                "hours": (f"{(lo - start) / 3.6e6:.0f}", f"{(hi - start) / 3.6e6:.0f}"),
                "n": len(inside),
                "end_rss": inside[-1][1] if inside else None,
                "max_rss": max(r for _, r in inside) if inside else None,
                "orders": sum(1 for t in order_ts if lo <= t < hi or (q == 3 and t >= hi)),
            }
        )
    return out


# ---------------------------------------------------------------- tracemalloc diagnostic (in process)


def trace(args: argparse.Namespace, tmp: Path) -> None:
    """Run the same configuration in this process under tracemalloc; print what grew from Q1's end to Q4's."""
    import tracemalloc

    from omni import logsetup
    from omni.config import load_config
    from omni.engine.assembly import assemble
    from omni.engine.supervisor import Supervisor

    duration_s = int(args.hours * 3600)
    cfg = load_config(None, env=daemon_env(args, tmp / "trace-state"))
    cfg = cfg.model_copy(update={"market": cfg.market.model_copy(update={"speed": "max"})})
    with open(tmp / "trace.log", "w") as logf:
        logsetup.configure("json", "info", stream=logf)
        log = logsetup.get("omni")
        tracemalloc.start(8)
        asm = assemble(cfg, log, duration_s=duration_s)
        snaps: dict[int, tracemalloc.Snapshot] = {}
        on_batch = asm.pipeline.on_batch
        state: dict[str, int] = {}

        def watched(batch, equity, available):  # type: ignore[no-untyped-def]
            if "start" not in state:
                state["start"] = batch.ts - 60_000
            q = (batch.ts - state["start"]) * 4 // (duration_s * 1000)
            if q == 1 and q not in snaps:  # the first bar of Q2: the end of Q1 (Q4's end: after the market)
                snaps[q] = tracemalloc.take_snapshot()
            return on_batch(batch, equity, available)

        asm.pipeline.on_batch = watched  # type: ignore[method-assign]  # Trader.run binds it when it starts
        sup = Supervisor(asm, log, None)
        t0 = time.perf_counter()
        asyncio.run(asm_run_until_end(sup, snaps, tracemalloc))
        wall = time.perf_counter() - t0
    tracemalloc.stop()
    q1, q4 = snaps.get(1), snaps.get(4)
    print(f"\n== tracemalloc diagnostic (in process, {wall:.1f} s under tracing)")
    if q1 is None or q4 is None:
        print("no snapshots (the run ended too early)")
        return
    total1 = sum(s.size for s in q1.statistics("filename"))
    total4 = sum(s.size for s in q4.statistics("filename"))
    print(
        f"traced Python heap: end of Q1 {total1 / MB:.2f} MB, end of Q4 {total4 / MB:.2f} MB, "
        f"growth {(total4 - total1) / MB:+.2f} MB"
    )
    print("largest growth by allocation site (line), end of Q1 -> end of Q4:")
    for d in q4.compare_to(q1, "lineno")[: args.trace_top]:
        fr = d.traceback[0]
        name = os.path.relpath(fr.filename, ROOT) if fr.filename.startswith(str(ROOT)) else fr.filename
        print(f"  {d.size_diff / MB:+8.3f} MB  {d.count_diff:+9,d} blocks  {name}:{fr.lineno}")
    print("by file:")
    for d in q4.compare_to(q1, "filename")[:8]:
        fr = d.traceback[0]
        name = os.path.relpath(fr.filename, ROOT) if fr.filename.startswith(str(ROOT)) else fr.filename
        print(f"  {d.size_diff / MB:+8.3f} MB  {name}")


async def asm_run_until_end(sup, snaps, tracemalloc) -> None:  # type: ignore[no-untyped-def]
    """Run the supervisor; snapshot 4 (the end of Q4) is taken once the market task is done."""
    market = sup._market

    async def market_then_snapshot() -> None:
        await market()
        snaps[4] = tracemalloc.take_snapshot()

    sup._market = market_then_snapshot
    await sup.run()


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=50, help="synthetic symbols (default 50)")
    ap.add_argument("--hours", type=float, default=24.0, help="simulated market hours (default 24)")
    ap.add_argument("--default-profile", action="store_true", help="the default config: no active overrides")
    ap.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, seconds (default 0.05)")
    ap.add_argument("--trace", action="store_true", help="also run a tracemalloc diagnostic in process")
    ap.add_argument("--trace-top", type=int, default=15, help="allocation sites shown by --trace (default 15)")
    args = ap.parse_args()

    profile = "default config" if args.default_profile else " ".join(f"{k}={v}" for k, v in ACTIVE_PROFILE.items())
    with tempfile.TemporaryDirectory(prefix="omni-soak-") as tmp_s:
        tmp = Path(tmp_s)
        r = run_daemon(args, tmp)
        qs = quarters(r)
        s = r["summary"]
        print(f"== soak: {args.hours:g} simulated hours, {s.get('symbols')} symbols, `{' '.join(r['cmd'][1:4])} ...`")
        print(f"command         {' '.join(['python', *r['cmd'][1:]])}")
        print(f"profile         {profile}")
        print(
            "environment     OMNI_MARKET__SYMBOLS, fresh OMNI_ENGINE__STATE_DIR, "
            "OMNI_TELEMETRY__SUMMARY_INTERVAL_S=0.5, "
            f"info JSON logs to a file in the temp dir ({r['log_bytes'] / MB:.1f} MB written)"
        )
        samples = r["samples"]
        print(
            f"sampling        {len(samples)} samples every {args.interval * 1000:.0f} ms of /proc/<pid>/status; "
            "quarters are of market time (see the docstring)"
        )
        print(f"\n{'quarter':8s} {'market h':>9s} {'samples':>8s} {'orders':>7s} {'RSS at end':>11s} {'max RSS':>9s}")
        for q in qs:
            end = "-" if q["end_rss"] is None else f"{q['end_rss'] / MB:.1f} MB"
            mx = "-" if q["max_rss"] is None else f"{q['max_rss'] / MB:.1f} MB"
            hours = f"{q['hours'][0]:>4s}-{q['hours'][1]:<4s}"
            print(f"{q['quarter']:8s} {hours} {q['n']:8d} {q['orders']:7d} {end:>11s} {mx:>9s}")
        hwm = max([h for _, _, h in samples] + [r["maxrss"]])
        kill = s.get("kill_switch")
        journal_total = sum(r["journal"].values())
        print(
            f"\nwall time       {r['wall_s']:.2f} s spawn to exit (in-daemon {s.get('wall_seconds')} s)\n"
            f"bars            {int(s.get('bars', 0)):,}\n"
            f"trades          {s.get('trades_total')} (closed {s.get('trades_closed')}, orders {s.get('orders')}, "
            f"decisions {s.get('decisions')})\n"
            f"profit          {s.get('total_profit')} USDT, kill switch {kill}\n"
            f"journal         {journal_total / 1024:.0f} KiB on disk ("
            + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in r["journal"].items())
            + ")"
        )

        rows: list[tuple[str, str, str, bool | None]] = []
        rows.append(("peak RSS (VmHWM)", f"{hwm / MB:.1f} MB", f"<= {GOAL_PEAK_MB:g} MB", hwm / MB <= GOAL_PEAK_MB))
        for q in qs:
            val = "-" if q["end_rss"] is None else f"{q['end_rss'] / MB:.1f} MB"
            rows.append((f"RSS at end of {q['quarter']}", val, "(report)", None))
        e1, e4 = qs[0]["end_rss"], qs[3]["end_rss"]
        if e1 and e4:
            growth = (e4 - e1) / e1 * 100
            rows.append(("RSS growth Q1 end -> Q4 end", f"{growth:+.1f} %", f"< {GOAL_GROWTH_PCT:g} %", growth < 5))
        else:
            rows.append(("RSS growth Q1 end -> Q4 end", "no samples", f"< {GOAL_GROWTH_PCT:g} %", None))
        rows.append(("wall time", f"{r['wall_s']:.2f} s", "(report)", None))
        rows.append(("bars", f"{int(s.get('bars', 0)):,}", "(report)", None))
        rows.append(("trades", f"{s.get('trades_total')}", "(report)", None))
        rows.append(("journal on disk", f"{journal_total / 1024:.0f} KiB", "(report)", None))
        print("\n== summary")
        w = max(len(x[0]) for x in rows)
        print(f"{'figure':{w}s}  {'value':>12s}  {'goal':10s}  met")
        for name, value, goal, met in rows:
            shown = "-" if met is None else ("yes" if met else "NO")
            print(f"{name:{w}s}  {value:>12s}  {goal:10s}  {shown}")
        if any(q["n"] == 0 for q in qs):
            print("note: a quarter has no samples; lower --interval for a run this short")

        if args.trace:
            trace(args, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

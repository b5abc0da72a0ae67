"""Decision benchmark: the scanner per bar close, one full candidate decision, and a 30-day backtest run.

Workloads (default config unless noted; the pipeline is built by ``omni.engine.assembly.assemble``):

1. Scanner update, 500 symbols. A SyntheticMarket of 500 instruments (real specs from the shared
   instruments file when present, else ``generated_instruments(500, seed)``) feeds 1m bars to the
   AssetScanner (ScannerParams as the default config builds them, timeframes 1m/3m/5m). After a warm-up of
   a few hundred bars, each batch is timed as ``DecisionPipeline.on_batch`` does its scanner part: every
   bar through ``scanner.update`` plus ``scanner.candidates(...)`` on that batch's breakouts.
   Goal: p50 <= 2 ms and p99 <= 10 ms per batch.
2. One full candidate decision. The same run continues until the ghost windows are full on every
   timeframe (windows + max_hold_bars bars of history on 5m); then every candidate a batch yields (at most
   ``max_candidates_per_bar``, best first) is evaluated on the spot with ``DecisionPipeline._evaluate``:
   sizer -> pre-trade simulator -> risk guard. Equity is 1000 USDT (``--equity``) so the sizer fits more
   often. The goal figure is over decisions that reached the simulator (the full path); decisions the
   sizer stopped are reported separately. When too few reached the simulator, snapshots of those candidates
   (their history up to the decision bar) are evaluated again, round robin. A per-stage breakdown (sizer,
   simulator, guard) is timed on the snapshots. Goal: p50 <= 5 ms.
3. A 30-day backtest of 10 symbols of 1m data, whole run: ``python -m omni run --speed max --duration
   2592000`` as a subprocess with OMNI_MARKET__SYMBOLS=10 (synthetic, default config), timed wall end to
   end (interpreter start to exit). Logging at warning level (OMNI_TELEMETRY__LOG_LEVEL=warning) so it does
   not dominate; once more at info level with stdout to /dev/null for comparison. When the shared data dir
   exists, also a replay of up to 10 of its klines/1m/binance-usdm/*.csv.gz files with the same duration.
   OMNI_* variables of the calling shell are not passed on (except OMNI_SHARED_DATA).
   Every run gets a fresh engine.state_dir (a kill switch latched by one run must not disable entries in
   the next). Goal: <= 60 s per whole run. The default 12 USDT account usually trips the kill switch within
   the 30 days, after which the pipeline stops at the scanner; informational "stress" runs (marked *) use
   1000 USDT and no daily-loss/drawdown kill so entries stay enabled throughout.

Prints a table (figure, goal, met). ``--quick`` shrinks everything for a smoke run; ``--profile`` prints the
cProfile hot spots of goals 1 and 2.

    python bench/decide.py [--quick] [--profile] [--symbols N] [--equity USDT] [--no-backtest] [--no-stress]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import math
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omni import logsetup  # noqa: E402
from omni.config import load_config  # noqa: E402
from omni.core import sizer  # noqa: E402
from omni.core.risk import Approved  # noqa: E402
from omni.core.scanner import Candidate, Series, Tradability  # noqa: E402
from omni.engine.assembly import assemble  # noqa: E402
from omni.venues.instruments_file import shared_data_dir  # noqa: E402

MS = 1e6  # ns per ms


def pct(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in ms."""
    if not sorted_ns:
        return float("nan")
    k = max(0, min(len(sorted_ns) - 1, math.ceil(q / 100 * len(sorted_ns)) - 1))
    return sorted_ns[k] / MS


def stats(samples: list[int]) -> dict[str, float]:
    s = sorted(samples)
    return {"n": len(s), "p50": pct(s, 50), "p99": pct(s, 99), "max": (s[-1] / MS) if s else float("nan")}


def snapshot(c: Candidate, keep: int) -> Candidate:
    """A copy of ``c`` whose series is frozen at the decision bar (its last ``keep`` bars)."""
    src = c.series
    s = Series(src.minutes, src.params)
    for name in ("opens", "highs", "lows", "closes"):
        setattr(s, name, getattr(src, name)[-keep:])
    for name in ("_tr", "_trn", "_vr"):  # rolling windows (rings), already short
        setattr(s, name, list(getattr(src, name)))
    s.n = src.n
    s._trim_at = src._trim_at
    s.atr_sum, s.turnover_sum, s.ret_sum, s.ret_sq_sum = src.atr_sum, src.turnover_sum, src.ret_sum, src.ret_sq_sum
    s.zero_volume_run = src.zero_volume_run
    return dataclasses.replace(c, series=s)


# ---------------------------------------------------------------- goals 1 and 2 (in process)


def scan_and_decide(args: argparse.Namespace, state_dir: Path) -> dict:
    env = {
        "OMNI_MARKET__SYMBOLS": str(args.symbols),
        "OMNI_CAPITAL_USDT": str(args.equity),
        "OMNI_ENGINE__STATE_DIR": str(state_dir),
    }
    cfg = load_config(None, env=env)
    logsetup.configure("json", "warning", stream=io.StringIO())
    asm = assemble(cfg, logsetup.get("bench"))
    pipeline = asm.pipeline
    scanner = pipeline.scanner
    guard = pipeline.guard
    portfolio = pipeline.portfolio
    market = asm.source
    p = pipeline.params
    g = p.ghost
    tfs = scanner.params.timeframes
    equity = Decimal(args.equity)
    budget = pipeline.compound.margin_budget(equity, equity)
    trade = Tradability(budget, p.sizer.leverage_cap)
    # ghost windows full on the slowest timeframe (+1 decision bar, +1 so the slowest bar has closed)
    full_at = (g.windows + g.max_hold_bars + 2) * max(tfs)
    decide_from = max(args.warmup, min(full_at, args.decide_from)) if args.decide_from else max(args.warmup, full_at)
    keep = g.windows + g.max_hold_bars + 1
    max_bars = max(decide_from + args.decide_bars, args.warmup + args.batches)

    scan_ns: list[int] = []
    cand_ns: list[int] = []  # the candidates(...) part of scan_ns
    by_kind: dict[str, list[int]] = {}  # scan_ns by which timeframes closed in the batch
    breakouts_per_batch: list[int] = []
    cands_per_batch: list[int] = []
    eval_ns: list[tuple[int, str, str]] = []  # (ns, verdict, reason)
    full_snaps: list[Candidate] = []
    perf = time.perf_counter_ns
    update = scanner.update
    candidates = scanner.candidates
    funding_rate = pipeline.funding_rate
    prof = cProfile.Profile() if args.profile else None
    prof_eval = cProfile.Profile() if args.profile else None
    bars_seen = 0
    t_wall = time.perf_counter()
    for batch in market:
        bars_seen += 1
        if bars_seen <= args.warmup:
            for bar in batch.bars:
                update(bar)
            continue
        if prof is not None:
            prof.enable()
        t0 = perf()
        breakouts = []
        for bar in batch.bars:
            hits = update(bar)
            if hits:
                for series, side, beyond in hits:
                    breakouts.append((bar.symbol, series, side, beyond))
        for f in batch.fundings:
            funding_rate[f.symbol] = f.rate
        tc = perf()
        cands = candidates(breakouts, batch.ts, trade, set(portfolio.positions) | guard.pending) if breakouts else []
        t1 = perf()
        if prof is not None:
            prof.disable()
        scan_ns.append(t1 - t0)
        cand_ns.append(t1 - tc)
        minute = batch.ts // 60_000
        kind = "+".join(f"{tf}m" for tf in tfs if minute % tf == 0)
        by_kind.setdefault(kind, []).append(t1 - t0)
        breakouts_per_batch.append(len(breakouts))
        cands_per_batch.append(len(cands))
        if bars_seen > decide_from:
            for c in cands[: p.max_candidates]:
                if prof_eval is not None:
                    prof_eval.enable()
                t0 = perf()
                d = pipeline._evaluate(c, batch.ts, equity, budget)
                t1 = perf()
                if prof_eval is not None:
                    prof_eval.disable()
                eval_ns.append((t1 - t0, d.verdict, d.reason))
                if d.approved is not None:
                    guard.settle(c.symbol)  # not a real entry: free the symbol again
                if d.verdict != "no_trade" and len(full_snaps) < args.decisions:
                    full_snaps.append(snapshot(c, keep))
        n_full = sum(1 for _, v, _ in eval_ns if v != "no_trade")
        if bars_seen >= max_bars and (n_full >= args.decisions or bars_seen >= args.max_bars):
            break
    wall = time.perf_counter() - t_wall

    # full-path decisions: in situ, topped up by re-evaluating snapshots round robin
    full_ns = [ns for ns, v, _ in eval_ns if v != "no_trade"]
    repeated = 0
    if full_snaps and len(full_ns) < args.decisions:
        i = 0
        while len(full_ns) < args.decisions:
            c = full_snaps[i % len(full_snaps)]
            t0 = perf()
            d = pipeline._evaluate(c, c.ts, equity, budget)
            t1 = perf()
            if d.approved is not None:
                guard.settle(c.symbol)
            full_ns.append(t1 - t0)
            repeated += 1
            i += 1

    # per-stage breakdown on the snapshots (sizer / simulator / guard), the same calls _evaluate makes
    stage: dict[str, list[int]] = {"sizer": [], "simulator": [], "guard": []}
    for c in full_snaps:
        inst = pipeline.instruments[c.symbol]
        rate = funding_rate.get(c.symbol, 0.0)
        settlements = p.expected_hold_minutes / inst.funding_interval_min
        t0 = perf()
        sized = sizer.size(
            inst,
            c.side,
            c.entry,
            c.stop_distance,
            c.take_profit_distance,
            budget,
            p.sizer,
            "bench-0000001",
            rate,
            settlements,
        )
        t1 = perf()
        if isinstance(sized, sizer.NoFit):  # funding moved since: not comparable
            continue
        est = pipeline.estimate(c, sized, rate)
        t2 = perf()
        verdict = guard.check(sized.intent, inst, sized.entry, portfolio, equity)
        t3 = perf()
        if isinstance(verdict, Approved):
            guard.settle(c.symbol)
        stage["sizer"].append(t1 - t0)
        stage["simulator"].append(t2 - t1)
        stage["guard"].append(t3 - t2)
        del est

    verdicts = Counter(v for _, v, _ in eval_ns)
    reasons = Counter(f"{v}:{r}" for _, v, r in eval_ns)
    out = {
        "symbols": len(market.instruments),
        "instruments": asm.source_info.get("instruments_file"),
        "timeframes": tfs,
        "bars_seen": bars_seen,
        "warmup": args.warmup,
        "decide_from": decide_from,
        "wall_s": wall,
        "scan": stats(scan_ns),
        "scan_candidates": stats(cand_ns),
        "scan_by_kind": {k: stats(v) for k, v in sorted(by_kind.items(), key=lambda kv: len(kv[0]))},
        "breakouts_mean": sum(breakouts_per_batch) / max(1, len(breakouts_per_batch)),
        "candidates_mean": sum(cands_per_batch) / max(1, len(cands_per_batch)),
        "dropped": dict(scanner.dropped.most_common(8)),
        "eval_all": stats([ns for ns, _, _ in eval_ns]),
        "eval_sizer_only": stats([ns for ns, v, _ in eval_ns if v == "no_trade"]),
        "eval_full": stats(full_ns),
        "full_in_situ": sum(1 for _, v, _ in eval_ns if v != "no_trade"),
        "full_repeated": repeated,
        "share_simulated": (sum(1 for _, v, _ in eval_ns if v != "no_trade") / len(eval_ns)) if eval_ns else 0.0,
        "verdicts": dict(verdicts),
        "reasons": dict(reasons.most_common(8)),
        "stages": {k: stats(v) for k, v in stage.items()},
        "budget": budget,
    }
    if prof is not None:
        out["profile_scan"] = _hot(prof)
        out["profile_eval"] = _hot(prof_eval)
    return out


def _hot(prof: cProfile.Profile, n: int = 15) -> str:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(n)
    return buf.getvalue()


# ---------------------------------------------------------------- goal 3 (subprocesses)


#: informational stress run: enough capital and no kill-switch limits, so entries stay enabled all run long
STRESS_ENV = {
    "OMNI_CAPITAL_USDT": "1000",
    "OMNI_RISK__MAX_DAILY_LOSS_USDT": "1000000",
    "OMNI_RISK__MAX_DRAWDOWN_PCT": "100",
}


def daemon_run(
    duration_s: int, *, symbols: int, level: str, data: list[Path] | None, extra: dict[str, str] | None = None
) -> dict:
    """Run ``python -m omni run --speed max`` once; wall time from spawn to exit, plus the summary's bars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_") or k == "OMNI_SHARED_DATA"}
    with tempfile.TemporaryDirectory(prefix="omni-bench-") as tmp:
        summary_path = Path(tmp) / "summary.json"
        env.update(
            {
                "OMNI_MARKET__SYMBOLS": str(symbols),
                "OMNI_TELEMETRY__LOG_LEVEL": level,
                "OMNI_ENGINE__STATE_DIR": str(Path(tmp) / "state"),
                **(extra or {}),
            }
        )
        cmd = [sys.executable, "-m", "omni", "run", "--speed", "max", "--duration", str(duration_s)]
        cmd += ["--summary-json", str(summary_path)]
        if data:
            cmd += ["--data", *map(str, data)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if proc.returncode != 0 or not summary:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    bars = int(summary.get("bars", 0))
    return {
        "wall_s": wall,
        "bars": bars,
        "bars_per_s": bars / wall if wall > 0 else 0.0,
        "symbols": summary.get("symbols"),
        "trades": summary.get("trades_total"),
        "kill_switch": summary.get("kill_switch"),
        "inner_wall_s": summary.get("wall_seconds"),
    }


def replay_files(limit: int) -> list[Path]:
    base = shared_data_dir()
    if base is None:
        return []
    return sorted((base / "klines" / "1m" / "binance-usdm").glob("*.csv.gz"))[:limit]


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--profile", action="store_true", help="print cProfile hot spots of goals 1 and 2")
    ap.add_argument("--symbols", type=int, default=None, help="goal 1/2 symbols (default 500; quick 100)")
    ap.add_argument("--equity", type=int, default=1000, help="equity for goals 1/2, USDT (default 1000)")
    ap.add_argument("--no-backtest", action="store_true", help="skip goal 3")
    ap.add_argument("--no-stress", action="store_true", help="skip the informational stress runs of goal 3")
    ap.add_argument("--info-run", choices=["synthetic", "replay", "both", "none"], default="synthetic")
    args = ap.parse_args()
    args.symbols = args.symbols or (100 if args.quick else 500)
    args.warmup = 300
    args.batches = 100 if args.quick else 1000  # goal 1: at least this many timed batches
    args.decisions = 30 if args.quick else 300  # goal 2: full-path decisions wanted
    args.decide_bars = 50 if args.quick else 300  # goal 2: bars evaluated at least
    args.decide_from = 400 if args.quick else 0  # 0: once the ghost windows are full
    args.max_bars = 2000 if args.quick else 6000
    days = 2 if args.quick else 30
    backtest_symbols = 10

    rows: list[tuple[str, str, str, bool | None]] = []
    with tempfile.TemporaryDirectory(prefix="omni-bench-state-") as state_dir:
        r = scan_and_decide(args, Path(state_dir))
    sc = r["scan"]
    print(
        f"== goals 1+2: {r['symbols']} symbols ({r['instruments']}), timeframes {r['timeframes']}, "
        f"equity {args.equity} USDT (margin budget {r['budget']})"
    )
    print(
        f"bars per symbol {r['bars_seen']:,} (warm-up {r['warmup']}, decisions after bar {r['decide_from']}), "
        f"in-process wall {r['wall_s']:.1f} s"
    )
    print(
        f"scanner batch   n={sc['n']}  p50 {sc['p50']:.3f} ms  p99 {sc['p99']:.3f} ms  max {sc['max']:.3f} ms  "
        f"(breakouts/batch {r['breakouts_mean']:.1f}, candidates/batch {r['candidates_mean']:.1f})"
    )
    cs = r["scan_candidates"]
    print(f"  of which candidates(...)  p50 {cs['p50']:.3f} ms  p99 {cs['p99']:.3f} ms")
    for kind, k in r["scan_by_kind"].items():
        print(
            f"  batches closing {kind:8s} n={k['n']:5d}  p50 {k['p50']:.3f}  p99 {k['p99']:.3f}  max {k['max']:.3f} ms"
        )
    print(f"scanner drops   {r['dropped'] or 'none'}")
    ea, es, ef = r["eval_all"], r["eval_sizer_only"], r["eval_full"]
    print(f"decisions       {ea['n']} in situ: {r['verdicts']}; reached the simulator: {r['share_simulated']:.1%}")
    print(f"reasons         {r['reasons']}")
    print(f"all decisions   p50 {ea['p50']:.3f} ms  p99 {ea['p99']:.3f} ms  max {ea['max']:.3f} ms")
    print(f"sizer stopped   n={es['n']}  p50 {es['p50']:.3f} ms  p99 {es['p99']:.3f} ms")
    print(
        f"full decisions  n={ef['n']} ({r['full_in_situ']} in situ + {r['full_repeated']} repeated)  "
        f"p50 {ef['p50']:.3f} ms  p99 {ef['p99']:.3f} ms  max {ef['max']:.3f} ms"
    )
    st = r["stages"]
    print("stages (p50)    " + "  ".join(f"{k} {v['p50']:.3f} ms" for k, v in st.items()) + f"  (n={st['sizer']['n']})")
    rows.append(("scanner batch p50", f"{sc['p50']:.3f} ms", "<= 2 ms", sc["p50"] <= 2))
    rows.append(("scanner batch p99", f"{sc['p99']:.3f} ms", "<= 10 ms", sc["p99"] <= 10))
    rows.append(("full decision p50", f"{ef['p50']:.3f} ms", "<= 5 ms", ef["p50"] <= 5 if ef["n"] else None))
    rows.append(("full decision p99", f"{ef['p99']:.3f} ms", "(report)", None))
    rows.append(("reached simulator", f"{r['share_simulated']:.1%}", "(report)", None))
    if args.profile:
        print("\n-- hot spots, scanner batches --\n" + r["profile_scan"])
        print("-- hot spots, decisions --\n" + r["profile_eval"])

    if not args.no_backtest:
        dur = days * 86_400
        print(
            f"\n== goal 3: {days}-day run of {backtest_symbols} symbols, `python -m omni run --speed max "
            f"--duration {dur}`, whole process; logging at warning (OMNI_TELEMETRY__LOG_LEVEL=warning) "
            "unless marked info (info: stdout to /dev/null)"
        )
        files = replay_files(backtest_symbols)
        runs: list[tuple[str, list[Path] | None, str, dict[str, str] | None]] = [("synthetic", None, "warning", None)]
        if files:
            runs.append(("replay", files, "warning", None))
        if args.info_run in ("synthetic", "both"):
            runs.append(("synthetic", None, "info", None))
        if files and args.info_run in ("replay", "both"):
            runs.append(("replay", files, "info", None))
        if not args.no_stress:
            runs.append(("synthetic", None, "warning", STRESS_ENV))
            if files:
                runs.append(("replay", files, "warning", STRESS_ENV))
        if files:
            print(f"replay files    {', '.join(f.name for f in files)} ({files[0].parent})")
        else:
            print("replay          skipped: no shared data dir")
        if not args.no_stress:
            print(
                "stress runs     "
                + " ".join(f"{k}={v}" for k, v in STRESS_ENV.items())
                + " (informational: the default 12 USDT account trips the kill switch and stops deciding)"
            )
        for name, data, level, extra in runs:
            b = daemon_run(dur, symbols=backtest_symbols, level=level, data=data, extra=extra)
            if extra:
                name += "*"
            print(
                f"{name:10s} {level:7s} wall {b['wall_s']:.2f} s  bars {b['bars']:,}  {b['bars_per_s']:,.0f} bars/s  "
                f"(symbols {b['symbols']}, in-daemon {b['inner_wall_s']} s, trades {b['trades']}, "
                f"kill switch {b['kill_switch']})"
            )
            label = f"{days}d x {backtest_symbols} {name.rstrip('*')} ({level}{', stress' if extra else ''})"
            met = b["wall_s"] <= 60 if level == "warning" and not extra else None
            rows.append((label, f"{b['wall_s']:.2f} s", "<= 60 s", met))

    print("\n== summary")
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':{w}s}  {'value':>12s}  {'goal':10s}  met")
    for name, value, goal, met in rows:
        shown = "-" if met is None else ("yes" if met else "NO")
        print(f"{name:{w}s}  {value:>12s}  {goal:10s}  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

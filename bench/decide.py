"""Decision benchmark: the scanner per bar close, one full candidate decision, and a 30-day backtest run.

The goals are judged on runs where the sizer and the pre-trade simulator do their full work for the whole run:
the "full-work" config (``FULL_WORK``: capital_usdt 1000, risk.max_loss_per_trade_usdt 10,
risk.max_daily_loss_usdt 1e6, risk.max_drawdown_pct 100, targets.min_net_profit_usdt 0.5) gives the sizer room
to fit most candidates and never trips the kill switch, so candidates keep reaching the simulator until the
end. With the default config (12 USDT, 1 USDT loss cap, 3 USDT daily loss) the sizer stops most candidates and
the kill switch usually trips early in a 30-day run, after which the pipeline stops at the scanner: that run is
kept as an informational line only. The pipeline is built by ``omni.engine.assembly.assemble``.

1. Scanner update, 500 symbols. A SyntheticMarket of 500 instruments (real specs from the shared
   instruments file when present, else ``generated_instruments(500, seed)``) feeds 1m bars to the
   AssetScanner (ScannerParams as the config builds them, timeframes 1m/3m/5m). After a warm-up of a few
   hundred bars, each batch is timed as ``DecisionPipeline.on_batch`` does its scanner part: the batch's bars
   through ``scanner.update_batch`` plus ``scanner.candidates(...)`` on its breakouts (``--scanner reference``:
   the per-bar ``ReferenceScanner`` instead, for before/after figures). The timed batches run on until the
   simulator has full evidence, so they include the scanner at its full history.
   Goal: p50 <= 1 ms and p99 <= 5 ms per batch.
2. One full candidate decision (full-work config, equity 1000 USDT, ``--equity``). The same run continues
   until the simulator has full evidence on every timeframe: ``ghost.lookback_bars`` bars of history (the
   scanner keeps that many per timeframe and the simulator searches them for past bars where the same
   signal fired) on the slowest timeframe, i.e. lookback_bars x 5 one-minute bars; then every candidate a
   batch yields (at most ``max_candidates_per_bar``, best first) is evaluated on the spot with
   ``DecisionPipeline._evaluate``: sizer -> pre-trade simulator (-> walk-forward recalibration) -> risk guard.
   The goal figure is over decisions that reached the simulator (the full path); decisions the sizer stopped
   are reported separately, and so is the evaluation rate over all candidates (candidates/s = evaluated
   candidates / the seconds spent in ``_evaluate``). When too few reached the simulator, snapshots of those
   candidates (a copy of their series at the decision bar, signals included) are evaluated again, round
   robin. A per-stage breakdown (sizer, simulator, guard) is timed on the snapshots. Goal: p50 <= 5 ms.
3. A 30-day backtest of 10 symbols of 1m data, whole run: ``python -m omni run --speed max --duration
   2592000`` as a subprocess with OMNI_MARKET__SYMBOLS=10 (synthetic) and the full-work config, timed wall
   end to end (interpreter start to exit). Logging at warning level (OMNI_TELEMETRY__LOG_LEVEL=warning) so it
   does not dominate; once more at info level with stdout to /dev/null for comparison. When the shared data
   dir exists, also a replay of up to 10 of its klines/1m/binance-usdm/*.csv.gz files with the same duration.
   OMNI_* variables of the calling shell are not passed on (except OMNI_SHARED_DATA). Every run gets a fresh
   engine.state_dir (a kill switch latched by one run must not disable entries in the next). From each run's
   ``--summary-json``: candidates/s = (evaluated candidates, the sum of its ``decisions`` counts) / wall
   seconds, and the counts that reached the simulator (approved, vetoed, refused); from its journal's
   decisions table, on how many market days of the run the simulator was reached and when last. A goal run
   is valid only if the kill switch stayed off and the simulator was reached on every market day of the run
   (the first may be all warm-up) until the last day; its time goal is met only on a valid run.
   Goal: <= 60 s per whole run. The default-config runs (marked "default") are informational.

Prints a table (figure, goal, met). ``--quick`` shrinks everything for a smoke run; ``--profile`` prints the
cProfile hot spots of goals 1 and 2.

    python bench/decide.py [--quick] [--profile] [--scanner vector|reference] [--symbols N] [--equity USDT]
                           [--no-backtest] [--no-default]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import io
import json
import math
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omni import logsetup  # noqa: E402
from omni.config import load_config  # noqa: E402
from omni.core import sizer  # noqa: E402
from omni.core.risk import Approved  # noqa: E402
from omni.core.scanner import Candidate, ReferenceScanner, Series, Tradability  # noqa: E402
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


def snapshot(c: Candidate) -> Candidate:
    """A copy of ``c`` whose series is frozen at the decision bar: a ``Series`` with the bars, running sums and
    per-side signal indices the simulator replays from (every slot copied from a reference ``Series``; from
    the vector scanner's ``SeriesView``, its history, sums and signal indices)."""
    src = c.series
    s = Series.__new__(Series)
    if isinstance(src, Series):
        for name in Series.__slots__:
            v = getattr(src, name)
            setattr(s, name, v[:] if isinstance(v, (array, list)) else v)
    else:
        s.__init__(src.minutes, src.params)  # type: ignore[misc]
        for name in ("opens", "highs", "lows", "closes", "signals_long", "signals_short"):
            setattr(s, name, getattr(src, name)[:])
        for name in ("n", "atr_sum", "turnover_sum", "ret_sum", "ret_sq_sum", "zero_volume_run", "signal"):
            setattr(s, name, getattr(src, name))
    return dataclasses.replace(c, series=s)


#: the goals' config: enough capital and loss room for the sizer to fit, and no kill switch (no daily-loss or
#: drawdown limit in reach), so candidates keep reaching the simulator for the whole run
FULL_WORK = {
    "OMNI_CAPITAL_USDT": "1000",
    "OMNI_RISK__MAX_LOSS_PER_TRADE_USDT": "10",
    "OMNI_RISK__MAX_DAILY_LOSS_USDT": "1000000",
    "OMNI_RISK__MAX_DRAWDOWN_PCT": "100",
    "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "0.5",
}

#: verdicts of decisions that reached the simulator (the sizer fitted): the rest are "no_trade"
SIMULATED = ("approved", "vetoed", "refused")


# ---------------------------------------------------------------- goals 1 and 2 (in process)


def scan_and_decide(args: argparse.Namespace, state_dir: Path) -> dict:
    env = {
        **FULL_WORK,
        "OMNI_MARKET__SYMBOLS": str(args.symbols),
        "OMNI_CAPITAL_USDT": str(args.equity),
        "OMNI_ENGINE__STATE_DIR": str(state_dir),
    }
    cfg = load_config(None, env=env)
    logsetup.configure("json", "warning", stream=io.StringIO())
    asm = assemble(cfg, logsetup.get("bench"))
    pipeline = asm.pipeline
    if args.scanner == "reference":  # the per-bar scanner, for before/after figures on the same machine state
        pipeline.scanner = ReferenceScanner(pipeline.scanner.instruments, pipeline.scanner.params)
    scanner = pipeline.scanner
    guard = pipeline.guard
    portfolio = pipeline.portfolio
    market = asm.source
    p = pipeline.params
    tfs = scanner.params.timeframes
    equity = Decimal(args.equity)
    budget = pipeline.compound.margin_budget(equity, equity)
    trade = Tradability(budget, p.sizer.leverage_cap)
    # the simulator's evidence is full once the slowest timeframe has its whole history: ghost.lookback_bars
    # bars (what the scanner keeps: max(lookback_bars, strategy.max_hold_bars + 2, ...)), +1 decision bar, +1 so
    # the slowest bar has closed
    history = max(cfg.ghost.lookback_bars, scanner.params.history_bars, cfg.strategy.max_hold_bars + 2)
    full_at = (history + 2) * max(tfs)
    decide_from = max(args.warmup, min(full_at, args.decide_from)) if args.decide_from else max(args.warmup, full_at)
    max_bars = max(decide_from + args.decide_bars, args.warmup + args.batches)
    give_up = max_bars + args.extra_bars  # stop topping up in-situ full decisions here

    scan_ns: list[int] = []
    cand_ns: list[int] = []  # the candidates(...) part of scan_ns
    by_kind: dict[str, list[int]] = {}  # scan_ns by which timeframes closed in the batch
    breakouts_per_batch: list[int] = []
    cands_per_batch: list[int] = []
    eval_ns: list[tuple[int, str, str]] = []  # (ns, verdict, reason)
    full_snaps: list[Candidate] = []
    perf = time.perf_counter_ns
    update_batch = scanner.update_batch
    candidates = scanner.candidates
    funding_rate = pipeline.funding_rate
    prof = cProfile.Profile() if args.profile else None
    prof_eval = cProfile.Profile() if args.profile else None
    bars_seen = 0
    t_wall = time.perf_counter()
    for batch in market:
        bars_seen += 1
        if bars_seen <= args.warmup:
            update_batch(batch.bars)
            continue
        if prof is not None:
            prof.enable()
        t0 = perf()
        breakouts = update_batch(batch.bars)
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
                    full_snaps.append(snapshot(c))
        n_full = sum(1 for _, v, _ in eval_ns if v != "no_trade")
        if bars_seen >= max_bars and (n_full >= args.decisions or bars_seen >= give_up):
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
    eval_s = sum(ns for ns, _, _ in eval_ns) / 1e9
    full_s = sum(ns for ns, v, _ in eval_ns if v != "no_trade") / 1e9
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
        "cands_per_s": len(eval_ns) / eval_s if eval_s > 0 else 0.0,
        "full_per_s": sum(1 for _, v, _ in eval_ns if v != "no_trade") / full_s if full_s > 0 else 0.0,
        "history": history,
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


def daemon_run(
    duration_s: int, *, symbols: int, level: str, data: list[Path] | None, extra: dict[str, str] | None = None
) -> dict:
    """Run ``python -m omni run --speed max`` once; wall time from spawn to exit, plus from its summary the bars
    and the decisions by verdict, and from its journal on which market days the simulator was reached."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_") or k == "OMNI_SHARED_DATA"}
    with tempfile.TemporaryDirectory(prefix="omni-bench-") as tmp:
        summary_path = Path(tmp) / "summary.json"
        state = Path(tmp) / "state"
        env.update(
            {
                "OMNI_MARKET__SYMBOLS": str(symbols),
                "OMNI_TELEMETRY__LOG_LEVEL": level,
                "OMNI_ENGINE__STATE_DIR": str(state),
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
        journal = state / "journal.sqlite"
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
            marks = ",".join("?" * len(SIMULATED))
            query = f"SELECT ts FROM decisions WHERE verdict IN ({marks}) ORDER BY ts"
            sim_ts = [ts for (ts,) in db.execute(query, SIMULATED)]
    bars = int(summary.get("bars", 0))
    decisions: dict[str, int] = summary.get("decisions", {})
    by_verdict: Counter[str] = Counter()
    for key, n in decisions.items():
        by_verdict[key.split(":", 1)[0]] += n
    evaluated = sum(decisions.values())
    start, end = summary.get("market_start_ts"), summary.get("market_ts")
    days = math.ceil((end - start) / 86_400_000) if start is not None and end is not None and end > start else 0
    sim_days = len({(ts - start) // 86_400_000 for ts in sim_ts}) if start is not None else 0
    return {
        "wall_s": wall,
        "bars": bars,
        "bars_per_s": bars / wall if wall > 0 else 0.0,
        "symbols": summary.get("symbols"),
        "trades": summary.get("trades_total"),
        "kill_switch": summary.get("kill_switch"),
        "inner_wall_s": summary.get("wall_seconds"),
        "evaluated": evaluated,
        "cands_per_s": evaluated / wall if wall > 0 else 0.0,
        "verdicts": {v: by_verdict[v] for v in ("approved", "vetoed", "refused", "no_trade")},
        "simulated": sum(by_verdict[v] for v in SIMULATED),
        "days": days,
        "sim_days": sim_days,
        # market hours from the last decision that reached the simulator to the end of the run
        "sim_last_gap_h": (end - sim_ts[-1]) / 3_600_000 if sim_ts and end is not None else None,
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
    ap.add_argument("--no-default", action="store_true", help="skip the informational default-config runs of goal 3")
    ap.add_argument(
        "--scanner",
        choices=["vector", "reference"],
        default="vector",
        help="goals 1/2: the pipeline's AssetScanner (vector, default) or the per-bar ReferenceScanner",
    )
    ap.add_argument("--info-run", choices=["synthetic", "replay", "both", "none"], default="synthetic")
    args = ap.parse_args()
    args.symbols = args.symbols or (100 if args.quick else 500)
    args.warmup = 300
    args.batches = 100 if args.quick else 1000  # goal 1: at least this many timed batches
    args.decisions = 30 if args.quick else 300  # goal 2: full-path decisions wanted
    args.decide_bars = 50 if args.quick else 300  # goal 2: bars evaluated at least
    args.decide_from = 400 if args.quick else 0  # 0: once the simulator has full evidence
    args.extra_bars = 1500 if args.quick else 3000  # goal 2: bars more at most, for in-situ full decisions
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
        f"bars per symbol {r['bars_seen']:,} (warm-up {r['warmup']}, decisions after bar {r['decide_from']}; "
        f"full evidence: {r['history']} bars on {max(r['timeframes'])}m), in-process wall {r['wall_s']:.1f} s"
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
    print(
        f"all decisions   p50 {ea['p50']:.3f} ms  p99 {ea['p99']:.3f} ms  max {ea['max']:.3f} ms  "
        f"({r['cands_per_s']:,.0f} candidates/s; full path {r['full_per_s']:,.0f}/s)"
    )
    print(f"sizer stopped   n={es['n']}  p50 {es['p50']:.3f} ms  p99 {es['p99']:.3f} ms")
    print(
        f"full decisions  n={ef['n']} ({r['full_in_situ']} in situ + {r['full_repeated']} repeated)  "
        f"p50 {ef['p50']:.3f} ms  p99 {ef['p99']:.3f} ms  max {ef['max']:.3f} ms"
    )
    st = r["stages"]
    print("stages (p50)    " + "  ".join(f"{k} {v['p50']:.3f} ms" for k, v in st.items()) + f"  (n={st['sizer']['n']})")
    rows.append(("scanner batch p50", f"{sc['p50']:.3f} ms", "<= 1 ms", sc["p50"] <= 1))
    rows.append(("scanner batch p99", f"{sc['p99']:.3f} ms", "<= 5 ms", sc["p99"] <= 5))
    rows.append(("full decision p50", f"{ef['p50']:.3f} ms", "<= 5 ms", ef["p50"] <= 5 if ef["n"] else None))
    rows.append(("full decision p99", f"{ef['p99']:.3f} ms", "(report)", None))
    rows.append(("reached simulator", f"{r['share_simulated']:.1%}", "(report)", None))
    rows.append(("decision candidates/s", f"{r['cands_per_s']:,.0f}", "(report)", None))
    rows.append(("full decisions/s", f"{r['full_per_s']:,.0f}", "(report)", None))
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
        print("full-work cfg   " + " ".join(f"{k}={v}" for k, v in FULL_WORK.items()) + " (the goal runs)")
        files = replay_files(backtest_symbols)
        # (name, data, level, env, judged): the goal runs use the full-work config
        runs: list[tuple[str, list[Path] | None, str, dict[str, str] | None, bool]] = [
            ("synthetic", None, "warning", FULL_WORK, True)
        ]
        if files:
            runs.append(("replay", files, "warning", FULL_WORK, True))
        if args.info_run in ("synthetic", "both"):
            runs.append(("synthetic", None, "info", FULL_WORK, False))
        if files and args.info_run in ("replay", "both"):
            runs.append(("replay", files, "info", FULL_WORK, False))
        if not args.no_default:
            runs.append(("synthetic", None, "warning", None, False))
            if files:
                runs.append(("replay", files, "warning", None, False))
        if files:
            print(f"replay files    {', '.join(f.name for f in files)} ({files[0].parent})")
        else:
            print("replay          skipped: no shared data dir")
        if not args.no_default:
            print(
                "default runs    the default config (informational: its 12 USDT account fits few candidates and "
                "usually trips the kill switch, after which decisions stop at the scanner)"
            )
        for name, data, level, extra, judged in runs:
            b = daemon_run(dur, symbols=backtest_symbols, level=level, data=data, extra=extra)
            cfg_name = "full-work" if extra is FULL_WORK else "default"
            vd = b["verdicts"]
            gap = "-" if b["sim_last_gap_h"] is None else f"{b['sim_last_gap_h']:.1f} h"
            print(
                f"{name:9s} {level:7s} {cfg_name:9s} wall {b['wall_s']:.2f} s  bars {b['bars']:,}  "
                f"{b['bars_per_s']:,.0f} bars/s  {b['cands_per_s']:,.0f} candidates/s  "
                f"(symbols {b['symbols']}, in-daemon {b['inner_wall_s']} s, trades {b['trades']}, "
                f"kill switch {b['kill_switch']})"
            )
            print(
                f"{'':9s} decisions {b['evaluated']:,}: approved {vd['approved']:,}, vetoed {vd['vetoed']:,}, "
                f"refused {vd['refused']:,}, no_trade {vd['no_trade']:,}; simulator reached on "
                f"{b['sim_days']}/{b['days']} market days, last {gap} before the end"
            )
            label = f"{days}d x {backtest_symbols} {name} ({level}, {cfg_name})"
            # the simulator reached through the whole run: every market day (the first may be warm-up only)
            through = (
                b["kill_switch"] is None
                and b["simulated"] > 0
                and b["sim_days"] >= b["days"] - 1
                and b["sim_last_gap_h"] is not None
                and b["sim_last_gap_h"] <= 24
            )
            rows.append((label, f"{b['wall_s']:.2f} s", "<= 60 s", (b["wall_s"] <= 60 and through) if judged else None))
            rows.append(("  candidates/s", f"{b['cands_per_s']:,.0f}", "(report)", None))
            if judged:
                rows.append(("  simulator reached", f"{b['sim_days']}/{b['days']} d", "every day", through))

    print("\n== summary")
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':{w}s}  {'value':>12s}  {'goal':10s}  met")
    for name, value, goal, met in rows:
        shown = "-" if met is None else ("yes" if met else "NO")
        print(f"{name:{w}s}  {value:>12s}  {goal:10s}  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

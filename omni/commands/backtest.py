"""``omni backtest``: the same daemon over recorded data at max speed, with a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omni.commands.common import (
    EXIT_USAGE,
    add_data_option,
    config_option,
    data_files,
    load,
    positive_seconds,
    utc_time,
)
from omni.commands.markdown import num
from omni.domain.errors import DataError

NAME = "backtest"


def add_parser(sub: argparse._SubParsersAction) -> None:
    bt = sub.add_parser(
        NAME,
        help="run the same daemon over recorded data at max speed and write a report",
        description="Backtest: the same daemon (scanner, sizer, pre-trade simulator, risk guard, sim venue) over "
        "recorded data as fast as the CPU allows. Writes summary.json (with the simulator's calibration), "
        "trades.csv, decisions.csv (forecast next to outcome) and events.jsonl into --out.",
    )
    add_data_option(bt, "1m (or 5m) klines and funding files, as for `omni run --data`", required=True)
    config_option(bt)
    bt.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (created)")
    bt.add_argument(
        "--duration",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="replay only this much market time from the start of the data (or of --from)",
    )
    bt.add_argument("--from", dest="start", type=utc_time, default=None, metavar="TIME",
                    help="replay only bars opening at or after TIME, UTC (2025-05-10 or 2025-05-10T06:00)")  # fmt: skip
    bt.add_argument("--to", dest="end", type=utc_time, default=None, metavar="TIME",
                    help="replay only bars opening before TIME, UTC")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from omni.engine.backtest import for_backtest, run_backtest

    cfg = load(args.config)
    if cfg is None:
        return EXIT_USAGE
    out = args.out.resolve()
    if args.start is not None and args.end is not None and args.end <= args.start:
        print("omni backtest: --to must be after --from", file=sys.stderr)
        return EXIT_USAGE
    cfg = for_backtest(cfg, out, data_files(args.data), window=(args.start, args.end))
    try:
        result = run_backtest(cfg, out, duration_s=args.duration, progress=sys.stderr)
    except DataError as e:
        print(f"omni: refusing to backtest on bad data: {e}", file=sys.stderr)
        return EXIT_USAGE
    s = result.summary
    cal = s.get("calibration", {})
    print(
        f"trades {s['trades_total']}  wins {s['wins']}  losses {s['losses']}  capital {s['capital_start']} -> "
        f"{s['capital']}  max drawdown {s['max_drawdown']}  kill switch {s['kill_switch'] or 'not tripped'}"
    )
    fc = s.get("forecasts") or {}
    every, taken = fc.get("all") or {}, fc.get("taken") or {}
    print(
        f"simulator forecasts: {fc.get('n', 0)} scored, Brier skill {num(every.get('bss'))} "
        f"(90 % {num(every.get('bss_interval_90'))}); taken trades {taken.get('n', 0)}, Brier skill "
        f"{num(taken.get('bss'))}; Brier over taken trades {num(cal.get('brier'))} (see report.md)"
    )
    try:
        from omni.engine.report import write_report
        from omni.journal import Journal

        journal = Journal(cfg.engine.journal_path, read_only=True)
        write_report(journal, out, cfg.calibration.fold_days, notes=s.get("data_notes"))
        print(f"wrote {out}/summary.json, trades.csv, decisions.csv, events.jsonl, report.md (with plots)")
    except ImportError:
        print(f"wrote {out}/summary.json, trades.csv, decisions.csv, events.jsonl, report.md (no plots: no matplotlib)")
    return result.exit_code

"""``omni report``: a Markdown report with PNG plots from the journal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omni.commands.common import EXIT_USAGE, config_option, load
from omni.journal import JournalError

NAME = "report"


def add_parser(sub: argparse._SubParsersAction) -> None:
    rp = sub.add_parser(
        NAME,
        help="write a Markdown report with PNG plots from the journal",
        description="Equity curve with drawdown, PnL per trade histogram, per-symbol table, fees and funding, "
        "and the pre-trade simulator's calibration (predicted vs realised win rate), from the journal. Needs "
        "matplotlib (installed with the test extra, or `pip install 'omni[report]'`).",
    )
    rp.add_argument("--journal", type=Path, default=None, metavar="PATH", help="journal file (default: from config)")
    config_option(rp)
    rp.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (created)")


def run(args: argparse.Namespace) -> int:
    from omni.journal import Journal

    cfg = load(args.config)
    if cfg is None:
        return EXIT_USAGE
    try:
        from omni.engine.report import write_report

        journal = Journal(args.journal or cfg.engine.journal_path, read_only=True)
        path = write_report(journal, args.out.resolve(), cfg.calibration.fold_days)
    except ImportError as e:
        print(f"omni report: {e}; install matplotlib: pip install 'omni[report]'", file=sys.stderr)
        return EXIT_USAGE
    except JournalError as e:
        print(f"omni report: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {path}")
    return 0

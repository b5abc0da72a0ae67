"""``omni status``: capital, profit, trades, positions and kill switch, from the journal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omni.commands.common import EXIT_USAGE, config_option, load

NAME = "status"


def add_parser(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser(
        NAME,
        help="capital, profit, trades, positions and kill switch, from the journal",
        description="Read the daemon's SQLite journal (read-only; works while it runs and after it stopped): the "
        "six metrics of the brief, pace vs the daily target, open positions with their stop-loss, take-profit and "
        "liquidation prices, and the kill-switch state.",
    )
    st.add_argument(
        "--journal",
        type=Path,
        default=None,
        metavar="PATH",
        help="journal file (default: engine.journal from the config, <state_dir>/journal.sqlite)",
    )
    config_option(st)
    st.add_argument("--json", action="store_true", help="print JSON instead of Markdown")


def run(args: argparse.Namespace) -> int:
    from omni.engine import status
    from omni.journal import Journal, JournalError
    from omni.state import KillSwitchLatch

    cfg = load(args.config)
    if cfg is None:
        return EXIT_USAGE
    path = args.journal or cfg.engine.journal_path
    try:
        journal = Journal(path, read_only=True)
        report = status.status(journal, KillSwitchLatch(cfg.engine.state_dir).load())
    except JournalError as e:
        print(f"omni status: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(
        json.dumps(report, indent=2, default=str) if args.json else status.markdown(report),
        end="\n" if args.json else "",
    )
    return 0

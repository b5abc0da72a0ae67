"""``omni feasibility``: can the configured targets be reached, with numbers."""

from __future__ import annotations

import argparse
import json
import sys

from omni.commands.common import EXIT_USAGE, add_data_option, config_option, data_files, load
from omni.domain.errors import DataError

NAME = "feasibility"


def add_parser(sub: argparse._SubParsersAction) -> None:
    fz = sub.add_parser(
        NAME,
        help="an honest report: can the configured targets be reached, with numbers",
        description="What the configured capital, fees, minimum order value and leverage limits allow per trade, "
        "and what the real decision pipeline finds in the data (recorded files with --data, else the synthetic "
        "market for --days days). Markdown on stdout; --json for machines.",
    )
    config_option(fz)
    add_data_option(fz, "recorded klines to evaluate (default: the synthetic market)")
    fz.add_argument(
        "--days",
        type=float,
        default=3.0,
        metavar="N",
        help="market days to evaluate (synthetic default 3; with --data: at most N days, 0 = all)",
    )
    fz.add_argument("--json", action="store_true", help="print JSON instead of Markdown")


def run(args: argparse.Namespace) -> int:
    from omni.engine import feasibility

    cfg = load(args.config)
    if cfg is None:
        return EXIT_USAGE
    arith = feasibility.arithmetic(cfg)
    try:
        data = feasibility.from_data(cfg, data_files(args.data) or None, args.days)
    except DataError as e:
        print(f"omni: refusing to evaluate bad data: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(
            json.dumps(
                {"config": arith, "data": data, "verdicts": feasibility.verdicts(cfg, arith, data)},
                indent=2,
                default=str,
            )
        )
    else:
        print(feasibility.markdown(cfg, arith, data), end="")
    return 0

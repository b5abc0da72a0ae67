"""The ``omni`` parser, assembled from the command modules, and ``main``."""

from __future__ import annotations

import argparse
import signal

from omni import __version__
from omni.commands import (
    backtest,
    check_config,
    data,
    emulator,
    feasibility,
    rehearse,
    report,
    reset_kill_switch,
    run,
    status,
    sweep,
)
from omni.commands.common import remember_signal

DESCRIPTION = """\
OMNI: a paper-trading daemon for Bybit USDT-margined linear perpetuals.

It trades on the embedded simulated exchange (`sim`), fed by a seeded synthetic market or by recorded
klines, with Bybit's fees, funding, liquidation, tick and lot rules. Every order carries a stop-loss and
passes the risk guard. Targets in the config (trades per day, profit per trade) are targets, not promises:
the summary reports what was achieved next to them.
"""

#: the commands in the order ``omni --help`` lists them; each module has NAME, add_parser(sub) and run(args)
COMMANDS = (
    run, backtest, feasibility, sweep, report, status, reset_kill_switch, data, emulator, check_config, rehearse,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omni", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"omni {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == run.NAME:  # a Ctrl-C while starting up is a clean stop (exit 0, final summary), no traceback
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, remember_signal)
    handlers = {command.NAME: command.run for command in COMMANDS}
    return handlers[args.command](args)

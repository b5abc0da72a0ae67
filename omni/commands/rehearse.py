"""``omni rehearse``: a dress rehearsal on the local Bybit emulator with faults and kills."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omni.commands.common import EXIT_USAGE, config_option, load

NAME = "rehearse"


def add_parser(sub: argparse._SubParsersAction) -> None:
    import textwrap

    from omni.rehearse.plan import CHAOS_PRESETS, STOP_GRACE_S

    presets = "\n".join(
        textwrap.fill(
            f"{name}: " + (", ".join(f"--chaos-{k} {v:g}" for k, v in flags.items()) or "no faults"),
            width=100, subsequent_indent="  ", break_on_hyphens=False,
        )
        for name, flags in CHAOS_PRESETS.items()
    )  # fmt: skip
    rh = sub.add_parser(
        NAME,
        help="a dress rehearsal on the local Bybit emulator with faults and kills, judged by the exchange's records",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Start `omni emulator` with faults and `omni run --venue bybit-testnet` against it (both real processes,
your config), SIGKILL and restart the daemon --kills times at seeded moments (never in the last 10 % of
the run), stop it with SIGINT at the end, then judge the run from the exchange's records, not the
daemon's word:
  - no task crash, no traceback; exit 0 after SIGINT with a final summary;
  - never a position without a stop-loss on the exchange (polled every second; --stop-grace after entry);
  - orderLinkIds unique; journal orders and fills == the exchange's, both ways;
  - executions, fees and funding equal; final capital == the wallet; capital_start == starting balance;
  - a restart keeps the daemon's own positions; the exchange flat after the exit (on_shutdown: close).
Prints a verdict table and writes rehearsal.json, report.md, both processes' logs, the journal and the
exchange's records into --out. Exit 0 when every check holds, 1 otherwise, 2 for bad arguments.""",
        epilog="fault presets (--chaos; periods in wall seconds, rates per request):\n" + presets,
    )
    config_option(rh)
    rh.add_argument(
        "--symbols", default="all", metavar="all|N",
        help="instruments the emulator lists: all (default) or the N most liquid",
    )  # fmt: skip
    rh.add_argument("--hours", type=float, default=1.0, metavar="H", help="market hours to run (default 1)")
    rh.add_argument(
        "--speed", type=float, default=60.0, metavar="X",
        help="market seconds per wall second (default 60: an hour in a minute); wall time = H x 3600 / X",
    )  # fmt: skip
    rh.add_argument(
        "--start", default=None, metavar="TIME",
        help="market start: HH:MM UTC (the latest such time whose run ends before now, e.g. 21:00 crosses midnight "
        "and a funding time) or an ISO date-time; default: the emulator's (now)",
    )  # fmt: skip
    rh.add_argument("--chaos", choices=list(CHAOS_PRESETS), default="light", help="fault preset (default light)")
    rh.add_argument("--kills", type=int, default=1, metavar="K", help="SIGKILL + restart the daemon K times (def. 1)")
    rh.add_argument("--seed", type=int, default=1, metavar="N", help="seed of the market, the faults and the kills")
    rh.add_argument(
        "--stop-grace", type=float, default=STOP_GRACE_S, metavar="S",
        help=f"seconds a new position may go without a stop-loss (default {STOP_GRACE_S:g})",
    )  # fmt: skip
    rh.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="output directory, new or empty (default ./rehearsal-<UTC timestamp>)",
    )  # fmt: skip


def emulator_caps():  # type: ignore[no-untyped-def]
    """What this ``omni emulator`` accepts, from its parser (a rehearsal uses newer flags when present)."""
    from omni.commands.parser import build_parser
    from omni.rehearse.plan import EmulatorCaps

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    em = sub.choices["emulator"]
    options = frozenset(o for a in em._actions for o in a.option_strings)
    symbols = next((a for a in em._actions if "--symbols" in a.option_strings), None)
    takes_all = False
    if symbols is not None and symbols.type is not None:
        try:
            symbols.type("all")  # type: ignore[operator]
            takes_all = True
        except (ValueError, TypeError, argparse.ArgumentTypeError):
            takes_all = False
    elif symbols is not None:
        takes_all = symbols.choices is None or "all" in symbols.choices
    return EmulatorCaps(options, symbols_all=takes_all)


def run(args: argparse.Namespace) -> int:
    from omni.rehearse import Options, PlanError, make_plan, rehearse

    cfg = load(args.config)
    if cfg is None:
        return EXIT_USAGE
    try:
        from omni.rehearse.plan import parse_symbols

        options = Options(
            config=args.config, symbols=parse_symbols(args.symbols), hours=args.hours, speed=args.speed,
            start=args.start, chaos=args.chaos, kills=args.kills, seed=args.seed, out=args.out,
            stop_grace_s=args.stop_grace,
        )  # fmt: skip
        plan = make_plan(
            options, emulator_caps(), capital=cfg.capital_usdt, shutdown_timeout_s=cfg.engine.shutdown_timeout_s,
            log_level=cfg.telemetry.log_level, on_shutdown=cfg.engine.on_shutdown,
        )  # fmt: skip
    except PlanError as e:
        print(f"omni rehearse: {e}", file=sys.stderr)
        return EXIT_USAGE
    return rehearse(plan)

"""``omni feasibility``: can the configured targets be reached, with numbers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from omni.commands.common import EXIT_USAGE, add_data_option, config_option, data_files, load
from omni.commands.markdown import NA, figure, money, percent, table
from omni.domain.errors import DataError

NAME = "feasibility"


def add_parser(sub: argparse._SubParsersAction) -> None:
    fz = sub.add_parser(
        NAME,
        help="an honest report: can the configured targets be reached, with numbers",
        description="What the configured capital, fees, minimum order value and leverage limits allow per trade, "
        "and what the real decision pipeline finds in the data (recorded files with --data, else the synthetic "
        "market for --days days). Markdown on stdout; --json for machines; progress on stderr.",
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

    if args.days < 0 or (args.days == 0 and not args.data):
        print("omni feasibility: --days must be > 0 (0 = all the data, with --data only)", file=sys.stderr)
        return EXIT_USAGE
    cfg = load(args.config)
    if cfg is None:
        return EXIT_USAGE
    arith = feasibility.arithmetic(cfg)
    try:
        data = feasibility.from_data(cfg, data_files(args.data) or None, args.days, progress=sys.stderr)
    except DataError as e:
        print(f"omni: refusing to evaluate bad data: {e}", file=sys.stderr)
        return EXIT_USAGE
    verdicts = feasibility.verdicts(cfg, arith, data)
    if args.json:
        print(json.dumps({"config": arith, "data": data, "verdicts": verdicts}, indent=2, default=str))
    else:
        print(markdown(cfg, arith, data, verdicts), end="")
    return 0


# ------------------------------------------------------------ for a person

RATES = (
    ("signals", "signals"),
    ("candidates_evaluated", "candidates evaluated"),
    ("passed_sizer", "passed the sizer"),
    ("passed_simulator", "passed the simulator"),
    ("trades", "trades taken"),
)


def markdown(cfg: Any, arith: dict[str, Any], data: dict[str, Any] | None, verdicts: list[str]) -> str:
    lines = [
        "# OMNI feasibility report",
        "",
        "Targets are targets, not promises. These numbers say what the configuration and the data allow.",
        "",
        "## Per trade, from the config",
        "",
        *table(
            ["", "value"],
            [
                ("capital", f"{arith['capital_usdt']} USDT"),
                ("margin per trade (compound.fraction_per_trade)", f"{arith['margin_per_trade_usdt']} USDT"),
                ("trades fundable at once", arith["concurrent_trades_fundable"]),
                (
                    "minimum net profit per trade",
                    f"{arith['min_net_profit_usdt']} USDT ({arith['profit_target_pct_of_capital']} % of capital)",
                ),
                ("max loss per trade", f"{arith['max_loss_per_trade_usdt']} USDT"),
                ("reward/risk needed", arith["reward_to_risk_needed"]),
                ("minimum order value", f"{arith['min_order_value_usdt']} USDT"),
            ],
            [False, True],
        ),
        "",
        *table(
            ["leverage", "notional (USDT)", "round-trip costs (USDT)", "move needed for the min profit"],
            [
                (f"{r['leverage']}x", r["notional_usdt"], r["round_trip_costs_usdt"], f"{r['move_needed_pct']} %")
                for r in arith["by_leverage"]
            ],
            [True] * 4,
        ),
        "",
        f"Break-even win rate with TP = {cfg.strategy.take_profit_atr} ATR and SL = {cfg.strategy.stop_atr} "
        "ATR (taker fees both legs and slippage):",
        "",
        *table(
            ["ATR (% of price)", "net win", "net loss", "break-even win rate"],
            [
                (b["atr_pct"], f"{b['net_win_pct']} %", f"{b['net_loss_pct']} %", b["breakeven_win_rate"])
                for b in arith["breakeven"]
            ],
            [True] * 4,
        ),
    ]
    if data is not None:
        lines += ["", *data_section(data)]
    lines += ["", "## Verdict on the brief's targets", "", *(f"- {v}" for v in verdicts)]
    return "\n".join(lines) + "\n"


def data_section(d: dict[str, Any]) -> list[str]:
    """What the data offers: the run, the rates both ways, why candidates were dropped, the decisions."""
    source = "synthetic market" if d["source"] == "synthetic" else f"{d['source']} data"
    lines = [f"## What the data offers ({source}, {d['symbols']} symbols, the real pipeline)", ""]
    if d.get("synthetic_caveat"):
        lines += [f"**Note:** {d['synthetic_caveat']}.", ""]
    if d["evaluating_from"]:
        ended = "the kill switch tripped" if d["evaluation_ended_by"] == "kill_switch" else "the run ended"
        days = d["evaluating_days"]
        window = f"{days} days ({days * 24:.1f} h), {d['evaluating_from']} .. {d['evaluating_until']} (until {ended})"
    else:
        window = "none: the run ended within the warm-up"
    avg = d["avg_net_per_trade_usdt"]
    lines += table(
        ["run", "value"],
        [
            ("calendar days of the run", d["days"]),
            ("indicator warm-up (no entries)", f"{d['warmup_days']} days"),
            ("evaluating time", window),
            ("closed trades", d["closed_trades"]),
            ("win rate", percent(d["win_rate"])),
            ("average net per trade", NA if avg is None else f"{money(avg)} USDT"),
            ("kill switch", d["kill_switch"] or "not tripped"),
        ],
        [False, True],
    )
    cal, ev = d["per_calendar_day"], d["per_evaluating_day"]
    rows: list[tuple[object, ...]] = [(label, figure(cal[k], 1), figure(ev[k], 1)) for k, label in RATES]
    rows.append(("net profit (USDT)", figure(cal["net_profit_usdt"], 4), figure(ev["net_profit_usdt"], 4)))
    if d.get("profit_per_day_95ci"):
        lo, hi = d["profit_per_day_95ci"]
        rows.append(("net profit, 95 % interval (USDT)", "", f"{figure(lo, 4)} .. {figure(hi, 4)}"))
    lines += ["", *table(["per day", "per calendar day of the run", "per day of evaluating time"], rows, [0, 1, 1])]
    if d["dropped"]:
        dropped = [(k, f"{n:,}") for k, n in sorted(d["dropped"].items(), key=lambda kv: -kv[1])]
        lines += ["", "Why the scanner dropped signals:", "", *table(["reason", "count"], dropped, [False, True])]
    if d["decisions"]:
        decided = sorted(((*f"{k}:".split(":")[:2], n) for k, n in d["decisions"].items()), key=lambda r: -r[-1])
        lines += ["", "Decisions on the candidates:", ""]
        lines += table(["verdict", "reason", "count"], [(v, r, f"{n:,}") for v, r, n in decided], [0, 0, 1])
    return lines

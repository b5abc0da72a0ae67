"""``omni status``: capital, profit, trades, positions and kill switch, from the journal."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.commands.common import EXIT_USAGE, config_option, load
from omni.commands.markdown import NA, money, percent, table, when

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
        json.dumps(report, indent=2, default=str) if args.json else markdown(report),
        end="\n" if args.json else "",
    )
    return 0


# ------------------------------------------------------------ for a person


def describe(identity: object) -> str | None:
    """Which venue and market a journal describes, in the words of the resume and refusal messages (None when the
    journal does not say)."""
    from omni.engine.scope import describe as words

    if not isinstance(identity, dict) or not identity:
        return None
    return words(identity).replace("account None", f"account {NA}")


def _trades_today(s: dict[str, Any]) -> str:
    pace, targets = s.get("pace") or {}, s.get("targets") or {}
    notes = []
    target = pace.get("target") or targets.get("trades_per_day")
    if target:
        notes.append(f"target {target} a day")
    if pace.get("status"):
        expected = pace.get("expected_by_now")
        notes.append(f"pace {pace['status']}" + (f": {expected:g} expected by now" if expected is not None else ""))
    return str(s["trades_today"]) + (f" ({'; '.join(notes)})" if notes else "")


def markdown(s: dict[str, Any]) -> str:
    """The status for a person: a metric table and the open positions."""
    avg = s.get("avg_profit_per_trade")
    target = (s.get("targets") or {}).get("min_net_profit_usdt")
    rate = s.get("success_rate")
    rows: list[tuple[str, object]] = [
        ("capital", f"{money(s['capital'])} USDT"),
        ("capital at start", f"{money(s['capital_start'])} USDT"),
        ("total profit", f"{money(s['total_profit'])} USDT"),
    ]
    if Decimal(s["deposits"]) or Decimal(s["withdrawals"]):
        rows.append(("deposits / withdrawals", f"{money(s['deposits'])} / {money(s['withdrawals'])} USDT"))
    rows += [
        ("trades today", _trades_today(s)),
        ("active trades", s["active_trades"]),
        (
            "average profit per trade",
            f"{NA} (no closed trade yet)"
            if avg is None
            else f"{money(avg)} USDT" + (f" (target {money(target)})" if target is not None else ""),
        ),
        ("success rate", f"{NA} (no closed trade yet)" if rate is None else percent(rate)),
        ("fees paid", f"{money(s['fees_paid'])} USDT"),
        ("funding paid", f"{money(s['funding_paid'])} USDT"),
        ("kill switch", s.get("kill_switch") or "not tripped"),
    ]
    if s.get("last_summary_at") is not None:
        rows.append(("last summary (market time)", when(s["last_summary_at"])))
    lines = ["# OMNI status" + (f" ({s['venue']})" if s.get("venue") else ""), "", f"Journal: {s['journal']}"]
    market = describe(s.get("identity"))
    if market:
        lines.append(f"Market: {market}")
    lines += ["", *table(["metric", "value"], rows, [False, True]), ""]
    if not s["positions"]:
        return "\n".join([*lines, "No open positions."]) + "\n"
    lines += ["## Open positions", ""]
    lines += table(
        ["symbol", "side", "size", "entry", "leverage", "liquidation", "stop-loss", "take-profit", "opened"],
        [
            (
                p["symbol"], p["side"], money(p["size"]), money(p["entry_price"]), f"{money(p['leverage'])}x",
                money(p["liq_price"]), money(p["stop_loss"]), money(p["take_profit"]), when(p.get("ts")),
            )
            for p in s["positions"]
        ],
        [False, False, True, True, True, True, True, True, False],
    )  # fmt: skip
    return "\n".join(lines) + "\n"

"""``omni status``: how the daemon is doing, read from its journal (works while it runs and after it stopped).

``status`` returns the full dict (``omni status --json``); ``omni.commands.status`` renders it for a person."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omni.journal import Journal, capital_of

DAY_MS = 86_400_000


def status(journal: Journal, kill_switch_latch: str | None) -> dict[str, Any]:
    """The brief's six metrics, pace, open positions with SL/TP/liquidation, kill-switch state."""
    summary = journal.meta("summary") or {}
    start = Decimal(journal.meta("capital_start", "0") or "0")
    sums = journal.ledger()
    last = journal.rows("SELECT MAX(ts) AS ts FROM fills")
    last_ts = (last[0]["ts"] if last else None) or 0
    transfers = sums["deposits"] - sums["withdrawals"]
    capital = capital_of(start, sums)
    positions = [
        dict(r)
        for r in journal.rows(
            "SELECT symbol, side, size, entry_price, leverage, liq_price, stop_loss, take_profit, ts FROM positions "
            "WHERE size != '0' ORDER BY symbol"
        )
    ]
    today = (last_ts // DAY_MS) * DAY_MS
    entries_today = journal.rows(
        "SELECT count(*) AS n FROM orders WHERE reduce_only = 0 AND status = 'Filled' AND created_ts >= ?", (today,)
    )
    return {
        "journal": str(journal.path),
        "schema_version": journal.schema_version,
        "venue": journal.meta("venue"),
        "identity": journal.meta("identity"),
        "capital_start": str(start),
        "capital": str(capital),
        "total_profit": str(capital - start - transfers),
        "deposits": str(sums["deposits"]),
        "withdrawals": str(sums["withdrawals"]),
        "trades_today": entries_today[0]["n"] if entries_today else 0,
        "active_trades": len(positions),
        "avg_profit_per_trade": summary.get("avg_profit_per_trade"),
        "success_rate": summary.get("success_rate"),
        "fees_paid": str(sums["fees"]),
        "funding_paid": str(sums["funding"]),
        "pace": summary.get("pace"),
        "targets": summary.get("targets"),
        "kill_switch": kill_switch_latch or journal.meta("kill_switch"),
        "positions": positions,
        "last_summary_at": summary.get("market_ts"),
    }

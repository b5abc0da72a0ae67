"""``omni report``: a self-contained Markdown report with PNG plots, from a journal.

Equity curve with drawdown, PnL-per-trade histogram, a per-symbol table, fees and funding paid, and the
pre-trade simulator's forecasts scored over every forecast it made (``omni.core.calibration``). matplotlib
is imported only here (the Agg backend, no display needed).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.core.calibration import DAY_MS, forecast_markdown, forecast_report
from omni.journal import Journal, JournalError, capital_of

ZERO = Decimal(0)


def closed_trades(journal: Journal) -> list[dict[str, Any]]:
    """Round trips from the fills: a trade opens with an entry fill and ends when the position is flat again."""
    trades: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    size: dict[str, Decimal] = defaultdict(Decimal)
    rows = journal.rows(
        "SELECT symbol, side, qty, fee, realised_pnl, closed_qty, exec_type, client_id, ts "
        "FROM fills ORDER BY ts, rowid"
    )
    for r in rows:
        sym = r["symbol"]
        t = open_.get(sym)
        if r["exec_type"] == "Funding":
            if t is not None:
                t["net"] -= Decimal(r["fee"])
                t["funding"] += Decimal(r["fee"])
            continue
        if t is None:
            t = open_[sym] = {
                "symbol": sym,
                "client_id": r["client_id"],
                "opened_ts": r["ts"],
                "net": ZERO,
                "fees": ZERO,
                "funding": ZERO,
            }
        t["net"] += Decimal(r["realised_pnl"]) - Decimal(r["fee"])
        t["fees"] += Decimal(r["fee"])
        qty, closed = Decimal(r["qty"]), Decimal(r["closed_qty"])
        sign = 1 if r["side"] == "Buy" else -1
        if r["exec_type"] == "BustTrade":
            size[sym] = ZERO
        else:
            size[sym] += sign * qty
        if closed > 0 and size[sym] == 0:
            t["closed_ts"] = r["ts"]
            trades.append(open_.pop(sym))
    return trades


def journal_forecast_rows(journal: Journal, by_client: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal's resolved forecasts (table ``outcomes``) with the realised outcome of the taken ones."""
    rows: list[dict[str, Any]] = []
    try:
        found = journal.rows("SELECT ts, verdict, client_id, p, p_cal, ev_lower, net FROM outcomes ORDER BY ts")
    except JournalError:  # a journal older than schema v3 opened read-only: no forecasts recorded
        return rows
    for r in found:
        t = by_client.get(r["client_id"]) if r["verdict"] == "approved" else None
        rows.append(
            {
                "ts": r["ts"],
                "p": r["p"],
                "p_cal": r["p_cal"],
                "win": r["net"] > 0,
                "net": r["net"],
                "ev_lower": r["ev_lower"],
                "taken": r["verdict"] == "approved",
                "realised_win": None if t is None else t["net"] > 0,
                "realised_net": None if t is None else float(t["net"]),
            }
        )
    return rows


def write_report(journal: Journal, out: Path, fold_days: float = 3.0) -> Path:
    """Write report.md and its PNGs into ``out``; returns the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    trades = closed_trades(journal)
    ledger = journal.ledger()
    start = Decimal(journal.meta("capital_start", "0") or "0")
    equity = [(r["ts"], float(r["equity"])) for r in journal.rows("SELECT ts, equity FROM equity ORDER BY ts")]
    # equity curve from the trades when no snapshots were taken
    if len(equity) < 2 and trades:
        run = float(start)
        equity = [(trades[0]["opened_ts"], run)]
        for t in trades:
            run += float(t["net"])
            equity.append((t["closed_ts"], run))
    figs: list[str] = []
    if equity:
        xs = [(ts - equity[0][0]) / 3_600_000 for ts, _ in equity]
        ys = [v for _, v in equity]
        peak, dd = ys[0], []
        for v in ys:
            peak = max(peak, v)
            dd.append(v - peak)
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        a1.plot(xs, ys, color="tab:blue")
        a1.set_ylabel("equity (USDT)")
        a2.fill_between(xs, dd, 0, color="tab:red", alpha=0.5)
        a2.set_ylabel("drawdown")
        a2.set_xlabel("hours")
        fig.tight_layout()
        fig.savefig(out / "equity.png", dpi=90)
        plt.close(fig)
        figs.append("equity.png")
    if trades:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        ax.hist([float(t["net"]) for t in trades], bins=40, color="tab:gray")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("net PnL per trade (USDT)")
        ax.set_ylabel("trades")
        fig.tight_layout()
        fig.savefig(out / "pnl_per_trade.png", dpi=90)
        plt.close(fig)
        figs.append("pnl_per_trade.png")
    by_client = {t["client_id"]: t for t in trades if t["client_id"]}
    rep = forecast_report(journal_forecast_rows(journal, by_client), int(fold_days * DAY_MS))
    rel = rep["all"].get("reliability") or []
    if rel:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=0.8)
        ax.errorbar(
            [r["mean_forecast"] for r in rel],
            [r["realised_rate"] for r in rel],
            yerr=[
                [r["realised_rate"] - r["wilson_low"] for r in rel],
                [r["wilson_high"] - r["realised_rate"] for r in rel],
            ],
            fmt="o",
        )
        ax.set_xlabel("forecast win probability (every forecast)")
        ax.set_ylabel("realised win rate (Wilson 95 %)")
        fig.tight_layout()
        fig.savefig(out / "calibration.png", dpi=90)
        plt.close(fig)
        figs.append("calibration.png")
    per_symbol: dict[str, dict[str, Any]] = defaultdict(lambda: {"trades": 0, "wins": 0, "net": ZERO})
    for t in trades:
        s = per_symbol[t["symbol"]]
        s["trades"] += 1
        s["wins"] += t["net"] > 0
        s["net"] += t["net"]
    transfers = ledger["deposits"] - ledger["withdrawals"]
    capital = capital_of(start, ledger)
    wins = sum(1 for t in trades if t["net"] > 0)
    lines = [
        f"# OMNI report ({journal.meta('venue')}, journal {journal.path})",
        "",
        f"- capital {start} -> {capital} USDT (total profit {capital - start - transfers}; deposits "
        f"{ledger['deposits']}, withdrawals {ledger['withdrawals']})",
        f"- trades closed: {len(trades)}; wins {wins}; success rate "
        f"{(wins / len(trades)) if trades else 0:.3f}; average net per trade "
        f"{(sum((t['net'] for t in trades), ZERO) / len(trades)) if trades else ZERO:.6f} USDT",
        f"- fees paid: {ledger['fees']} USDT; funding paid: {ledger['funding']} USDT",
        f"- simulator forecasts: {rep['n']} scored (Brier skill {rep['all'].get('bss')}; taken trades: "
        f"{rep['taken']['n']}, Brier skill {rep['taken'].get('bss')}); details below",
        "",
    ]
    lines += [f"![{f}]({f})" for f in figs]
    lines += ["", "| symbol | trades | wins | net (USDT) |", "|---|---:|---:|---:|"]
    for sym, s in sorted(per_symbol.items(), key=lambda kv: kv[1]["net"]):
        lines.append(f"| {sym} | {s['trades']} | {s['wins']} | {s['net']:.6f} |")
    lines += ["", *forecast_markdown(rep)]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path

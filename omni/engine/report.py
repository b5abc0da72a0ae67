"""``omni report``: a self-contained Markdown report with PNG plots, from a journal.

Equity as steps over UTC dates (built from the journal's money movements: each fill's realised PnL minus its
fee, each funding payment, each transfer) with trades and run events marked, and its drawdown from the same
series; PnL-per-trade histogram, a per-symbol table, fees and funding paid, and the pre-trade simulator's
forecasts scored over every forecast it made (``omni.core.calibration``). matplotlib is imported only inside
``write_report`` (the Agg backend, no display needed); the series are pure functions, testable without it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.core.calibration import DAY_MS, forecast_markdown, forecast_report
from omni.domain.events import CAPITAL_KINDS
from omni.journal import Journal, JournalError, capital_of
from omni.logsetup import iso_utc

ZERO = Decimal(0)

#: kinds of money movement in an equity step series: trading (a fill's realised PnL minus its fee), funding
#: (minus the payment), capital (a deposit or withdrawal: it moves the peak, so it is never a drawdown) and
#: adjustment (a cash change no execution explains: like profit, it does not move the peak)
TRADING, FUNDING, CAPITAL, ADJUSTMENT = "trading", "funding", "capital", "adjustment"


@dataclass(frozen=True, slots=True)
class EquitySteps:
    """Equity after each distinct time at which money moved (one point per time; the first is the start).

    ``drawdown[i]`` is how far ``equity[i]`` is below the running peak (>= 0; deposits and withdrawals move
    the peak by their amount, as the portfolio's risk baselines do). ``max_drawdown`` is its largest value,
    reached at ``max_drawdown_ts`` from the peak of ``peak_ts``."""

    ts: list[int]
    equity: list[Decimal]
    drawdown: list[Decimal]
    max_drawdown: Decimal
    max_drawdown_ts: int | None
    peak_ts: int | None

    def at(self, ts: int) -> Decimal:
        """The equity in force at ``ts`` (after every step at or before it)."""
        i = bisect.bisect_right(self.ts, ts) - 1
        return self.equity[max(i, 0)]


def equity_steps(
    start: Decimal, changes: Iterable[tuple[int, str, Decimal]], start_ts: int | None = None
) -> EquitySteps:
    """The step series from ``start`` and the money movements ``(ts, kind, amount)`` (kinds above; amount
    signed, + into the account). Movements at the same time make one step. Pure: no journal, no matplotlib."""
    by_ts: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    for ts, kind, amount in changes:
        by_ts[int(ts)].append((kind, Decimal(amount)))
    times = sorted(by_ts)
    t0 = start_ts if start_ts is not None else (times[0] if times else 0)
    ts_out, eq_out, dd_out = [min(t0, times[0]) if times else t0], [start], [ZERO]
    equity = peak = start
    max_dd, max_dd_ts, peak_ts, dd_peak_ts = ZERO, None, ts_out[0], None
    for ts in times:
        for kind, amount in by_ts[ts]:
            equity += amount
            if kind == CAPITAL:
                peak += amount
        if equity > peak:
            peak, peak_ts = equity, ts
        dd = peak - equity
        if dd > max_dd:
            max_dd, max_dd_ts, dd_peak_ts = dd, ts, peak_ts
        ts_out.append(ts)
        eq_out.append(equity)
        dd_out.append(dd)
    return EquitySteps(ts_out, eq_out, dd_out, max_dd, max_dd_ts, dd_peak_ts)


def journal_changes(journal: Journal) -> list[tuple[int, str, Decimal]]:
    """Every money movement the journal holds: fills (realised PnL minus fee), funding payments, transfers."""
    out: list[tuple[int, str, Decimal]] = []
    for r in journal.rows("SELECT exec_type, fee, realised_pnl, ts FROM fills ORDER BY ts, rowid"):
        if r["exec_type"] == "Funding":
            out.append((r["ts"], FUNDING, -Decimal(r["fee"])))
        else:
            out.append((r["ts"], TRADING, Decimal(r["realised_pnl"]) - Decimal(r["fee"])))
    for r in journal.rows("SELECT ts, kind, amount FROM transfers ORDER BY ts"):
        out.append((r["ts"], CAPITAL if r["kind"] in CAPITAL_KINDS else ADJUSTMENT, Decimal(r["amount"])))
    return out


def journal_equity_steps(journal: Journal) -> EquitySteps:
    """The journal's equity step series from its ``capital_start`` (starting at its first order, when earlier
    than its first money movement)."""
    start = Decimal(journal.meta("capital_start", "0") or "0")
    first_order = journal.rows("SELECT MIN(created_ts) AS t FROM orders")[0]["t"]
    return equity_steps(start, journal_changes(journal), first_order)


def run_events(journal: Journal) -> list[tuple[int, str]]:
    """The journal's risk events (kill switch, run boundaries when recorded) as (ts, kind), for marking."""
    try:
        return [(r["ts"], r["kind"]) for r in journal.rows("SELECT ts, kind FROM risk_events ORDER BY ts")]
    except JournalError:
        return []


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


def write_report(journal: Journal, out: Path, fold_days: float = 3.0, notes: list[str] | None = None) -> Path:
    """Write report.md and its PNGs into ``out``; returns the report's path. ``notes``: what to know about the data
    (a backtest's ``data_notes``: specs not point-in-time, survivorship, how liquidation was triggered)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    trades = closed_trades(journal)
    ledger = journal.ledger()
    start = Decimal(journal.meta("capital_start", "0") or "0")
    steps = journal_equity_steps(journal)
    run_summary = journal.meta("summary") or {}
    run_dd = run_summary.get("max_drawdown")
    figs: list[str] = []
    if len(steps.ts) > 1:
        _plot_equity(plt, steps, trades, run_events(journal), journal, run_dd, out / "equity.png")
        figs.append("equity.png")
    if trades:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        ax.hist([float(t["net"]) for t in trades], bins=40, color="tab:gray")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"net PnL per closed trade (after fees and funding), {len(trades)} trades")
        ax.set_xlabel("net PnL per trade (USDT)")
        ax.set_ylabel("trades (count)")
        fig.tight_layout()
        fig.savefig(out / "pnl_per_trade.png", dpi=90)
        plt.close(fig)
        figs.append("pnl_per_trade.png")
    by_client = {t["client_id"]: t for t in trades if t["client_id"]}
    rep = forecast_report(journal_forecast_rows(journal, by_client), int(fold_days * DAY_MS))
    rel = rep["all"].get("reliability") or []
    if rel:
        fig, ax = plt.subplots(figsize=(5.5, 5))
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=0.8, label="perfect calibration")
        xs = [r["mean_forecast"] for r in rel]
        ys = [r["realised_rate"] for r in rel]
        ax.errorbar(
            xs,
            ys,
            yerr=[
                [r["realised_rate"] - r["wilson_low"] for r in rel],
                [r["wilson_high"] - r["realised_rate"] for r in rel],
            ],
            fmt="o",
            capsize=3,
            label="realised rate, Wilson 95 % interval",
        )
        for x, y, r in zip(xs, ys, rel, strict=True):
            ax.annotate(f"n={r['n']}", (x, y), textcoords="offset points", xytext=(6, -10), fontsize=7)
        ax.set_xlim(-0.05, 1.1)  # room for the bins at 0 and 1 and their counts
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"reliability of the simulator's forecasts ({rep['n']} forecasts)")
        ax.set_xlabel("forecast win probability (mean in bin, every forecast)")
        ax.set_ylabel("realised win rate (fraction of the bin)")
        ax.legend(loc="upper left", fontsize=7)
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
        f"- period (UTC): {iso_utc(steps.ts[0])} to {iso_utc(steps.ts[-1])}; max drawdown of the equity steps "
        f"(closed PnL, funding, transfers): {steps.max_drawdown} USDT"
        + (f"; the run's max_drawdown (marked to market): {run_dd} USDT" if run_dd is not None else ""),
        f"- simulator forecasts: {rep['n']} scored (Brier skill {rep['all'].get('bss')}; taken trades: "
        f"{rep['taken']['n']}, Brier skill {rep['taken'].get('bss')}); details below",
        "",
    ]
    lines += [f"![{f}]({f})" for f in figs]
    lines += ["", "| symbol | trades | wins | net (USDT) |", "|---|---:|---:|---:|"]
    for sym, s in sorted(per_symbol.items(), key=lambda kv: kv[1]["net"]):
        lines.append(f"| {sym} | {s['trades']} | {s['wins']} | {s['net']:.6f} |")
    if notes:
        lines += ["", "## Data", "", *(f"- {n}" for n in notes)]
    lines += ["", *forecast_markdown(rep)]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _plot_equity(
    plt: Any,
    steps: EquitySteps,
    trades: list[dict[str, Any]],
    events: list[tuple[int, str]],
    journal: Journal,
    run_dd: Any,
    path: Path,
) -> None:
    """Equity steps over UTC dates with trade exits and run events marked, and the drawdown of the same steps."""
    import matplotlib.dates as mdates

    def dt(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)

    marked = journal.rows("SELECT ts, equity FROM equity ORDER BY ts")
    # the last level drawn up to the run's last known time (its last snapshot or market time), not cut at the
    # last step
    end = max(steps.ts[-1], marked[-1]["ts"] if marked else 0, int(journal.meta("market_ts", 0) or 0))
    xs = [dt(t) for t in [*steps.ts, end]]
    equity = [float(v) for v in [*steps.equity, steps.equity[-1]]]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    a1.step(xs, equity, where="post", color="tab:blue", linewidth=1.2,
            label="equity: start + realised PnL - fees - funding + transfers")  # fmt: skip
    moved = journal.rows("SELECT ts FROM transfers ORDER BY ts")
    if moved:
        a1.scatter([dt(r["ts"]) for r in moved], [float(steps.at(r["ts"])) for r in moved], s=22, marker="x",
                   color="black", zorder=3, label=f"transfer or adjustment ({len(moved)})")  # fmt: skip
    if len(marked) > 1:
        a1.plot([dt(r["ts"]) for r in marked], [float(r["equity"]) for r in marked], color="tab:gray",
                linewidth=0.6, alpha=0.6, label="equity marked to market (snapshots)")  # fmt: skip
    for won, colour, marker in ((True, "tab:green", "^"), (False, "tab:red", "v")):
        done = [t for t in trades if (t["net"] > 0) is won and t.get("closed_ts") is not None]
        if done:
            a1.scatter([dt(t["closed_ts"]) for t in done], [float(steps.at(t["closed_ts"])) for t in done],
                       s=12, color=colour, marker=marker, zorder=3,
                       label=f"trade closed, {'win' if won else 'loss'} ({len(done)})")  # fmt: skip
    seen: set[str] = set()
    for ts, kind in events:
        for ax in (a1, a2):
            ax.axvline(dt(ts), color="tab:purple", linestyle=":", linewidth=0.9,
                       label=None if kind in seen or ax is a2 else f"run event: {kind}")  # fmt: skip
        seen.add(kind)
    a1.set_title("equity (USDT) over time; steps at each fill, funding payment and transfer")
    a1.set_ylabel("equity (USDT)")
    a1.legend(loc="best", fontsize=7)
    dd = [-float(v) for v in [*steps.drawdown, steps.drawdown[-1]]]
    a2.fill_between(xs, dd, 0, step="post", color="tab:red", alpha=0.5)
    if steps.max_drawdown_ts is not None:
        a2.axvline(dt(steps.max_drawdown_ts), color="black", linewidth=0.6, linestyle="--")
    title = f"drawdown from peak of the equity steps: max {steps.max_drawdown} USDT"
    if run_dd is not None:
        title += f" (run's max_drawdown, marked to market: {run_dd} USDT)"
    a2.set_title(title, fontsize=9)
    a2.set_ylabel("drawdown (USDT)")
    a2.set_xlabel("date (UTC)")
    locator = mdates.AutoDateLocator(tz=UTC)
    a2.xaxis.set_major_locator(locator)
    a2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)

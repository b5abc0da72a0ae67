"""Backtest: the same daemon (same assembly, tasks and code) on the sim venue over recorded data at max speed.

Writes to the output directory:
- ``summary.json``: the run summary (the daemon's final summary fields) plus the simulator's calibration over
  every forecast (``forecasts``: taken or not, scored on the outcome its order had; per walk-forward fold);
- ``report.md``: the forecast report (Brier skill, reliability by decile, EV bound vs realised, per fold);
- ``trades.csv``: every closed round trip;
- ``decisions.csv``: every evaluated candidate with the simulator's p (raw and recalibrated), EV and bounds,
  the counterfactual outcome of its order (taken or not) and the realised outcome when it was taken;
- ``events.jsonl``: the structured log of the run.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from omni import logsetup
from omni.config import Config
from omni.core.calibration import calibration, forecast_markdown, forecast_report
from omni.core.outcomes import Forecast
from omni.core.pipeline import Decision
from omni.core.portfolio import Trade
from omni.engine.assembly import Assembly, assemble
from omni.engine.supervisor import Supervisor
from omni.engine.telemetry import jsonable

DECISION_COLUMNS = [
    "ts",
    "symbol",
    "timeframe",
    "side",
    "verdict",
    "reason",
    "score",
    "entry",
    "qty",
    "leverage",
    "stop_loss",
    "take_profit",
    "liq_price",
    "net_at_tp",
    "loss_at_sl",
    "p",
    "p_lower",
    "ev",
    "ev_lower",
    "n",
    "n_eff",
    "client_id",
    "taken",
    "outcome_net",
    "outcome_win",
    "exit_reason",
    "p_cal",
    "counterfactual_net",
    "counterfactual_win",
    "counterfactual_exit",
    "counterfactual_exit_ts",
    # readable beside the raw (appended: the columns above keep their places)
    "ts_utc",
    "counterfactual_exit_at",
]
TRADE_COLUMNS = [
    "client_id",
    "symbol",
    "side",
    "opened_ts",
    "closed_ts",
    "net",
    "realised",
    "fees",
    "funding",
    "exit_reason",
    # readable beside the raw (appended: the columns above keep their places)
    "opened_at",
    "closed_at",
    "hold_minutes",
]


@dataclass
class BacktestResult:
    summary: dict[str, Any]
    trades: list[Trade]
    decisions: list[Decision]
    exit_code: int
    forecasts: list[Forecast] = field(default_factory=list)  # resolved, with their counterfactual outcomes


def for_backtest(
    cfg: Config, out: Path, data: list[Path] | None, window: tuple[int | None, int | None] = (None, None)
) -> Config:
    """The config a backtest runs with: replay at max speed, its own state dir, the data given, and only the bars
    opening in ``window`` (epoch ms, [start, end); None: no bound) when given."""
    update: dict[str, Any] = {"speed": "max", **({"source": "replay", "data_files": data} if data else {})}
    for key, ms in zip(("replay_from", "replay_to"), window, strict=True):
        if ms is not None:
            update[key] = datetime.fromtimestamp(ms / 1000, UTC)
    market = cfg.market.model_copy(update=update)
    engine = cfg.engine.model_copy(update={"state_dir": out / "state"})
    return cfg.model_copy(update={"market": market, "engine": engine})


def run_daemon(
    cfg: Config,
    out: Path,
    *,
    duration_s: float | None = None,
    progress: Callable[[Assembly], Callable[..., None]] | None = None,
    events_path: Path | None = None,
    signals: bool = True,
) -> tuple[Assembly, int]:
    """The daemon (same assembly, supervisor and sim venue) over ``cfg``'s market at max speed, as a backtest
    (and ``omni feasibility``) runs it: always a new journal, the log into ``events.jsonl``, every decision and
    closed trade kept in memory. ``progress(asm)`` builds the supervisor's progress callback. ``signals`` False:
    SIGINT/SIGTERM are left to the process (a sweep's worker), not turned into a graceful stop of this run."""
    out.mkdir(parents=True, exist_ok=True)
    # a backtest always starts fresh: an earlier run's journal in the same directory is not resumed
    journal = cfg.engine.journal_path
    for stale in (journal, journal.with_name(journal.name + "-wal"), journal.with_name(journal.name + "-shm")):
        stale.unlink(missing_ok=True)
    events_path = events_path or out / "events.jsonl"
    previous = logsetup.saved()
    with events_path.open("w") as events:
        logsetup.configure("json", cfg.telemetry.log_level, stream=events)
        try:
            log = logsetup.get("omni")
            asm = assemble(cfg, log, duration_s=duration_s, reset_kill_switch=True)
            asm.telemetry.records = []
            asm.portfolio.keep_closed = 10**9
            sup = Supervisor(asm, log, out / "summary.json")
            sup.handle_signals = signals
            if progress is not None:
                sup.progress = progress(asm)
            code = asyncio.run(sup.run())
        finally:
            logsetup.restore(previous)  # never leave the process logging into a closed file
    return asm, code


def taken_calibration(trades: list[Trade], decisions: list[Decision]) -> dict[str, object]:
    """The short calibration over taken trades: (forecast p, realised win) of every approved decision that closed."""
    by_client = {t.client_id: t for t in trades if t.client_id}
    pairs = [
        (d.estimate.p, by_client[d.intent.client_id].net > 0)
        for d in decisions
        if d.verdict == "approved" and d.estimate is not None and d.intent.client_id in by_client
    ]  # type: ignore[union-attr]
    return calibration(pairs)


def run_backtest(
    cfg: Config,
    out: Path,
    *,
    duration_s: float | None = None,
    progress: TextIO | None = None,
    events_path: Path | None = None,
) -> BacktestResult:
    """Run the daemon over the configured market at max speed and write the result files into ``out``."""
    stream = progress
    asm, code = run_daemon(
        cfg,
        out,
        duration_s=duration_s,
        progress=None if stream is None else (lambda a: _progress_printer(a, stream, duration_s)),
        events_path=events_path,
    )
    summary = json.loads((out / "summary.json").read_text())
    trades = list(asm.portfolio.closed)
    decisions = asm.telemetry.records or []
    by_client = {t.client_id: t for t in trades if t.client_id}
    summary["calibration"] = taken_calibration(trades, decisions)
    outcomes = asm.pipeline.outcomes
    resolved = list(outcomes.resolved) if outcomes is not None else []
    fold_ms = int(cfg.calibration.fold_days * 86_400_000)
    summary["forecasts"] = forecast_report(forecast_rows(resolved, by_client), fold_ms)
    summary["forecasts"]["unresolved_at_end"] = sum(len(v) for v in outcomes.open.values()) if outcomes else 0
    wf = asm.pipeline.recalibration
    summary["recalibration"] = (
        None
        if wf is None
        else {
            "method": wf.method,
            "folds": [{k: v for k, v in f.to_dict().items() if k != "mapping"} for f in wf.folds],
        }
    )
    summary["data_notes"] = asm.source_info.get("notes") or []
    summary["scanner_dropped"] = dict(asm.pipeline.scanner.dropped)
    summary["scanner_signals"] = asm.pipeline.scanner.signals
    summary["gap_losses"] = gap_losses(trades, cfg.risk.max_loss_per_trade_usdt)
    (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=2, default=str) + "\n")
    write_trades(out / "trades.csv", trades)
    write_decisions(out / "decisions.csv", decisions, by_client, {(f.ts, f.symbol, f.timeframe): f for f in resolved})
    (out / "report.md").write_text("\n".join(backtest_markdown(summary)) + "\n")
    return BacktestResult(summary, trades, decisions, code, resolved)


def forecast_rows(resolved: list[Forecast], by_client: dict[str, Trade]) -> list[dict[str, Any]]:
    """Every resolved forecast with its counterfactual outcome and, when taken and closed, the realised one."""
    rows = []
    for f in resolved:
        t = by_client.get(f.client_id) if f.verdict == "approved" else None
        rows.append(
            {
                "ts": f.ts,
                "p": f.p,
                "p_cal": f.p_cal,
                "win": f.win,
                "net": f.net,
                "ev_lower": f.ev_lower,
                "taken": f.verdict == "approved",
                "realised_win": None if t is None else t.net > 0,
                "realised_net": None if t is None else float(t.net),
            }
        )
    return rows


def backtest_markdown(summary: dict[str, Any]) -> list[str]:
    """report.md of a backtest: the run in a few lines, then the forecast section."""
    lines = [
        "# OMNI backtest",
        "",
        f"- capital {summary.get('capital_start')} -> {summary.get('capital')} USDT; trades "
        f"{summary.get('trades_total')}, closed {summary.get('trades_closed')}, success rate "
        f"{summary.get('success_rate')}",
        f"- fees paid {summary.get('fees_paid')} USDT; funding paid {summary.get('funding_paid')} USDT",
        "",
    ]
    if summary.get("data_notes"):
        lines += ["## Data", "", *(f"- {n}" for n in summary["data_notes"]), ""]
    return lines + forecast_markdown(summary["forecasts"])


def gap_losses(trades: list[Trade], cap: Decimal) -> list[dict[str, str]]:
    """Trades that lost more than the per-trade cap: only a gap through the stop (or funding) can do that."""
    return [
        {"client_id": t.client_id, "symbol": t.symbol, "net": str(t.net), "exit_reason": t.exit_reason}
        for t in trades
        if t.net < -cap
    ]


def write_trades(path: Path, trades: list[Trade]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRADE_COLUMNS)
        for t in trades:
            w.writerow(
                [
                    t.client_id,
                    t.symbol,
                    t.side.value,
                    t.opened_ts,
                    t.closed_ts,
                    t.net,
                    t.realised,
                    t.fees,
                    t.funding,
                    t.exit_reason,
                    logsetup.iso_utc(t.opened_ts),
                    logsetup.iso_utc(t.closed_ts),
                    "" if t.closed_ts is None else round((t.closed_ts - t.opened_ts) / 60_000, 2),
                ]
            )


def write_decisions(
    path: Path,
    decisions: list[Decision],
    by_client: dict[str, Trade],
    outcomes: dict[tuple[int, str, int], Forecast] | None = None,
) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(DECISION_COLUMNS)
        for d in decisions:
            c, s, e = d.candidate, d.sized, d.estimate
            i = d.intent
            t = by_client.get(i.client_id) if i is not None and d.verdict == "approved" else None
            f = (outcomes or {}).get((d.ts, d.symbol, c.timeframe)) if e is not None else None
            w.writerow(
                [
                    d.ts,
                    d.symbol,
                    f"{c.timeframe}m",
                    c.side.value,
                    d.verdict,
                    d.reason,
                    round(c.score, 4),
                    s.entry if s else "",
                    i.qty if i else "",
                    i.leverage if i else "",
                    i.stop_loss if i else "",
                    i.take_profit if i else "",
                    s.liq_price if s else "",
                    s.net_at_tp if s else "",
                    s.loss_at_sl if s else "",
                    _r(e.p) if e else "",
                    _r(e.p_lower) if e else "",
                    _r(e.ev) if e else "",
                    _r(e.ev_lower) if e else "",
                    e.n if e else "",
                    _r(e.n_eff) if e else "",
                    i.client_id if i else "",
                    d.verdict == "approved",
                    t.net if t else "",
                    (t.net > 0) if t else "",
                    t.exit_reason if t else "",
                    _r(d.p_cal) if d.p_cal is not None else "",
                    _r(f.net) if f else "",
                    f.win if f else "",
                    f.exit if f else "",
                    f.exit_ts if f else "",
                    logsetup.iso_utc(d.ts),
                    logsetup.iso_utc(f.exit_ts) if f and f.exit_ts else "",
                ]
            )


def _r(x: float) -> float:
    return round(x, 6)


def _progress_printer(asm: Assembly, stream: TextIO, duration_s: float | None):  # type: ignore[no-untyped-def]
    source = asm.venue
    market = asm.source
    first = getattr(market, "first_ts", None)
    last = getattr(market, "last_ts", None)
    tty = stream.isatty()
    shown = {"decile": -1}

    def show(final: bool = False) -> None:
        now = source.now_ms()
        start = first if first is not None else now
        end = last if last is not None else now
        if duration_s is not None and first is not None:
            end = min(end, first + int(duration_s * 1000))
        frac = 1.0 if final or end <= start else max(0.0, min(1.0, (now - start) / (end - start)))
        p = asm.portfolio
        text = (
            f"[{'#' * int(frac * 30):<30}] {frac * 100:5.1f}%  bars {asm.trader.bars:,}  "
            f"trades {p.trades_total}  capital {p.capital:.4f}"
        )
        if tty:
            stream.write("\r" + text + ("\n" if final else ""))
            stream.flush()
        elif final or int(frac * 10) > shown["decile"]:
            shown["decile"] = int(frac * 10)
            stream.write(text + "\n")
            stream.flush()

    return show

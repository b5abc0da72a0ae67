"""``omni feasibility``: an honest report of what the configured capital, fees, minimum order size and leverage
limits allow, checked against what the market data offers when the real decision pipeline runs over it.

Part 1 is arithmetic on the config (no data): the price move a trade must make to net the minimum profit,
and the break-even win rate at the configured take-profit / stop-loss. Part 2 runs the same daemon over the data
(recorded files, or the synthetic market) at max speed and counts signals, candidates, what passes the sizer and
the simulator, and what the taken trades earned, per calendar day of the run and per day of evaluating time (from
the end of the warm-up until the kill switch tripped or the run ended), with a range on recorded data only: the
synthetic market trends by construction, so its profit is no evidence of an edge.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from omni.config import Config
from omni.core.pipeline import Decision
from omni.core.portfolio import Trade
from omni.engine.backtest import for_backtest, run_daemon, taken_calibration
from omni.logsetup import iso_utc
from omni.state import KillSwitchLatch

DAY_MS = 86_400_000


def arithmetic(cfg: Config) -> dict[str, Any]:
    """What one trade needs, from the config alone."""
    capital = cfg.capital_usdt
    margin = capital * cfg.compound.fraction_per_trade
    if cfg.compound.max_margin_per_trade_usdt is not None:
        margin = min(margin, cfg.compound.max_margin_per_trade_usdt)
    taker = cfg.fees.taker
    slip = cfg.sim.slippage_bps / Decimal(10_000)
    target = cfg.targets.min_net_profit_usdt
    rows = []
    for lev in sorted({Decimal(5), Decimal(10), Decimal(25), cfg.risk.max_leverage}):
        if lev > cfg.risk.max_leverage:
            continue
        notional = min(margin * lev, cfg.risk.max_position_notional_usdt)
        costs = notional * (2 * taker + slip)
        move = (target + costs) / notional if notional > 0 else Decimal("Infinity")
        rows.append(
            {
                "leverage": str(lev),
                "notional_usdt": f"{notional:.2f}",
                "round_trip_costs_usdt": f"{costs:.4f}",
                "move_needed_pct": f"{move * 100:.3f}",
            }
        )
    # break-even win rate at TP = k_tp ATR and SL = k_sl ATR, for a typical ATR of 0.15 % / 0.3 % / 0.6 %
    k_tp, k_sl = cfg.strategy.take_profit_atr, cfg.strategy.stop_atr
    breakeven = []
    for atr_pct in (Decimal("0.15"), Decimal("0.3"), Decimal("0.6")):
        a = atr_pct / 100
        cost = 2 * taker + slip
        win, loss = k_tp * a - cost, k_sl * a + cost
        p = loss / (win + loss) if win > 0 else None
        breakeven.append(
            {
                "atr_pct": str(atr_pct),
                "net_win_pct": f"{win * 100:.3f}",
                "net_loss_pct": f"{loss * 100:.3f}",
                "breakeven_win_rate": f"{p:.3f}" if p is not None else "unreachable (fees exceed the TP move)",
            }
        )
    per_trade_rr = target / cfg.risk.max_loss_per_trade_usdt
    return {
        "capital_usdt": str(capital),
        "margin_per_trade_usdt": f"{margin:.4f}",
        "concurrent_trades_fundable": int(capital // margin) if margin > 0 else 0,
        "min_net_profit_usdt": str(target),
        "max_loss_per_trade_usdt": str(cfg.risk.max_loss_per_trade_usdt),
        "reward_to_risk_needed": f"{per_trade_rr:.2f}",
        "min_order_value_usdt": str(cfg.sim.min_notional_usdt),
        "by_leverage": rows,
        "breakeven": breakeven,
        "profit_target_pct_of_capital": f"{target / capital * 100:.1f}",
    }


SYNTHETIC_CAVEAT = (
    "the synthetic market trends by construction: its profit says nothing about a real edge (a test of the "
    "machinery, not evidence; run on recorded data with --data for that)"
)


def from_data(cfg: Config, data: list[Path] | None, days: float, progress: TextIO | None = None) -> dict[str, Any]:
    """Run the real pipeline over the data (recorded files, else the synthetic market) and count what it offers.

    Rates are given per calendar day of the run and per day of evaluating time: from the end of the indicators'
    warm-up until the kill switch tripped or the run ended (no candidate is evaluated outside it). ``progress``:
    a stream for a progress bar (a line per 10 %, or a redrawn bar on a terminal)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run = _run(for_backtest(cfg, out, data), out, days * 86400 if days else None, progress)
    return _figures(cfg, run)


@dataclass
class _Run:
    summary: dict[str, Any]
    trades: list[Trade]
    decisions: list[Decision]
    signals: int
    dropped: dict[str, int]
    first_ts: int | None
    end_ts: int
    warmup_ms: int
    killed_ts: int | None


def _run(cfg: Config, out: Path, duration_s: float | None, progress: TextIO | None) -> _Run:
    """The daemon over ``cfg``'s market at max speed, as a backtest runs it (``backtest.run_daemon``)."""
    stream = progress
    asm, _ = run_daemon(
        cfg, out, duration_s=duration_s, progress=None if stream is None else (lambda a: progress_printer(a, stream))
    )
    summary = json.loads((out / "summary.json").read_text())
    trades = list(asm.portfolio.closed)
    decisions = asm.telemetry.records or []
    summary["calibration"] = taken_calibration(trades, decisions)
    trader = asm.trader
    return _Run(
        summary, trades, decisions, asm.pipeline.scanner.signals, dict(asm.pipeline.scanner.dropped),
        trader.first_ts, trader.market_ts, trader.warmup_ms, _tripped_at(trader.latch),
    )  # fmt: skip


def _tripped_at(latch: KillSwitchLatch | None) -> int | None:
    """The market time the kill switch tripped in this run (from its latch), or None."""
    if latch is None or not latch.path.exists():
        return None
    try:
        ts = json.loads(latch.path.read_text()).get("market_ts")
    except (OSError, ValueError, AttributeError):
        return None
    return int(ts) if ts is not None else None


def _figures(cfg: Config, run: _Run) -> dict[str, Any]:
    s = run.summary
    start = run.first_ts if run.first_ts is not None else run.end_ts
    span_days = max((run.end_ts - start) / DAY_MS, 0.0)
    eval_from = start + run.warmup_ms
    eval_until = min(run.killed_ts, run.end_ts) if run.killed_ts is not None else run.end_ts
    eval_days = max((eval_until - eval_from) / DAY_MS, 0.0)
    decisions = run.decisions
    net = sum((t.net for t in run.trades), Decimal(0))
    counts = {
        "signals": run.signals,
        "candidates_evaluated": len(decisions),
        "passed_sizer": sum(1 for d in decisions if d.sized is not None),
        "passed_simulator": sum(1 for d in decisions if d.estimate is not None and d.estimate.passed),
        "trades": sum(1 for d in decisions if d.verdict == "approved"),
    }
    synthetic = s.get("market_source", cfg.market.source) == "synthetic"
    closed = len(run.trades)
    wins = sum(1 for t in run.trades if t.net > 0)
    return {
        "source": s.get("market_source", cfg.market.source),
        "symbols": s.get("symbols"),
        "days": round(span_days, 2),
        "evaluating_days": round(eval_days, 3),
        "warmup_days": round(run.warmup_ms / DAY_MS, 3),
        "evaluating_from": iso_utc(eval_from) if eval_days else None,
        "evaluating_until": iso_utc(eval_until) if eval_days else None,
        "evaluation_ended_by": "kill_switch" if run.killed_ts is not None else "end_of_run",
        "per_calendar_day": _rates(counts, net, span_days),
        "per_evaluating_day": _rates(counts, net, eval_days),
        "counts": counts,
        "closed_trades": closed,
        "win_rate": round(wins / closed, 4) if closed else None,
        "avg_net_per_trade_usdt": f"{net / closed:.4f}" if closed else None,
        "net_profit_usdt": f"{net:.4f}",
        "profit_per_day_95ci": None if synthetic else _interval(run.trades, eval_from, eval_days),
        "synthetic_caveat": SYNTHETIC_CAVEAT if synthetic else None,
        "dropped": run.dropped,
        "decisions": s.get("decisions", {}),
        "kill_switch": s.get("kill_switch"),
        "calibration": s.get("calibration"),
    }


def _rates(counts: dict[str, int], net: Decimal, days: float) -> dict[str, float | None]:
    """Each count per day, and the net profit per day; None over no time at all."""
    if days <= 0:
        return {**dict.fromkeys(counts), "net_profit_usdt": None}
    out: dict[str, float | None] = {k: round(v / days, 2) for k, v in counts.items()}
    out["net_profit_usdt"] = round(float(net) / days, 4)
    return out


def _interval(trades: list[Trade], eval_from: int, eval_days: float) -> list[float] | None:
    """95 % interval of the net profit per day of evaluating time: the mean per day +- 1.96 standard errors of the
    day-by-day profits (days counted from the start of evaluation; two days at least)."""
    n = math.ceil(eval_days)
    if n < 2:
        return None
    daily = [0.0] * n
    for t in trades:
        day = min(max(((t.closed_ts or eval_from) - eval_from) // DAY_MS, 0), n - 1)
        daily[day] += float(t.net)
    mean = sum(daily) / eval_days
    sd = math.sqrt(sum((x - sum(daily) / n) ** 2 for x in daily) / (n - 1))
    half = 1.96 * sd / math.sqrt(n)
    return [round(mean - half, 4), round(mean + half, 4)]


def progress_printer(asm: Any, stream: TextIO):  # type: ignore[no-untyped-def]
    """Progress in market time: a redrawn bar on a terminal, else a line per 10 %. A replay knows its span from
    its files; the synthetic market from the run's duration."""
    market, trader = asm.source, asm.trader
    tty = stream.isatty()
    shown = {"decile": -1}

    def show(final: bool = False) -> None:
        start = getattr(market, "first_ts", None) or trader.first_ts
        end = min(x for x in (getattr(market, "last_ts", None), trader.end_ts) if x is not None) if start else None
        now = trader.market_ts
        if final:
            frac = 1.0
        elif start is None or end is None or end <= start or not now:
            frac = 0.0
        else:
            frac = max(0.0, min(1.0, (now - start) / (end - start)))
        text = (
            f"feasibility [{'#' * int(frac * 30):<30}] {frac * 100:5.1f}%  market day "
            f"{max(now - (start or now), 0) / DAY_MS:.2f}  candidates {len(asm.telemetry.records or [])}  "
            f"trades {asm.portfolio.trades_total}"
        )
        if tty:
            stream.write("\r" + text + ("\n" if final else ""))
            stream.flush()
        elif int(frac * 10) > shown["decile"]:
            shown["decile"] = int(frac * 10)
            stream.write(text + "\n")
            stream.flush()

    return show


def verdicts(cfg: Config, arith: dict[str, Any], data: dict[str, Any] | None) -> list[str]:
    """Plain statements about the brief's targets (rates per day of evaluating time, the calendar one beside)."""
    out = []
    target = cfg.targets.trades_per_day
    goal = target * cfg.targets.min_net_profit_usdt
    if data is not None:
        ev, cal = data["per_evaluating_day"], data["per_calendar_day"]
        if ev["trades"] is None:
            out.append(
                f"{target} trades/day: not measured. The run ended before the indicators' warm-up "
                f"({data['warmup_days']} days) did, so no candidate was evaluated; give it more days."
            )
        else:
            reach = "within reach" if ev["trades"] >= target else "OUT OF REACH"
            out.append(
                f"{target} trades/day: {reach}. The pipeline found {ev['trades']:,.2f} qualifying trades per day of "
                f"evaluating time ({cal['trades']:,.2f} per calendar day of the run; "
                f"{ev['candidates_evaluated']:,.1f} candidates/day evaluated, {ev['passed_simulator']:,.2f} passed "
                "the pre-trade simulator)."
            )
    out.append(
        f"{cfg.targets.min_net_profit_usdt} USDT net per trade is {arith['profit_target_pct_of_capital']} % of "
        f"the {cfg.capital_usdt} USDT capital; with {arith['margin_per_trade_usdt']} USDT margin per trade at "
        f"{cfg.risk.max_leverage}x, the price must move "
        f"{arith['by_leverage'][-1]['move_needed_pct']} % in the trade's favour for a single trade to net it."
    )
    out.append(
        f"Reward/risk needed per trade: {arith['reward_to_risk_needed']} (min profit / max loss per trade), "
        "so a trade needs a take-profit at least that many times farther than its stop, after costs."
    )
    out.append(
        "Zero losses: NOT achievable by any system. OMNI caps each loss at the stop-loss "
        f"(max {cfg.risk.max_loss_per_trade_usdt} USDT per trade, gaps aside), caps the day at "
        f"{cfg.risk.max_daily_loss_usdt} USDT and the drawdown at {cfg.risk.max_drawdown_pct} %, and refuses "
        "trades whose simulated expected value after all costs is below the bar."
    )
    if data is not None and data["synthetic_caveat"]:
        out.append(f"Profit vs the brief's {goal} USDT/day: not judged here, because {data['synthetic_caveat']}.")
    elif data is not None and data["per_evaluating_day"]["net_profit_usdt"] is not None:
        ci = data["profit_per_day_95ci"]
        interval = f", 95 % interval {ci[0]} .. {ci[1]}" if ci else ""
        out.append(
            f"Profit/day on this data: {data['per_evaluating_day']['net_profit_usdt']} USDT per day of evaluating "
            f"time{interval} ({data['per_calendar_day']['net_profit_usdt']} per calendar day of the run) vs the "
            f"brief's {goal} USDT/day ({target} x {cfg.targets.min_net_profit_usdt})."
        )
    return out

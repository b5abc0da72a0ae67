"""``omni feasibility``: an honest report of what the configured capital, fees, minimum order size and leverage
limits allow, checked against what the market data offers when the real decision pipeline runs over it.

Part 1 is arithmetic on the config (no data): the price move a trade must make to net the minimum profit,
and the break-even win rate at the configured take-profit / stop-loss. Part 2 runs a backtest of the same
daemon over the data (recorded files, or the synthetic market) and counts candidates, what passes the sizer
and the simulator, and what the taken trades earned per day, with a range.
"""

from __future__ import annotations

import math
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.config import Config
from omni.engine.backtest import for_backtest, run_backtest

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


def from_data(cfg: Config, data: list[Path] | None, days: float) -> dict[str, Any]:
    """Run the real pipeline over the data and count what it offers per day."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run_cfg = for_backtest(cfg, out, data)
        result = run_backtest(run_cfg, out, duration_s=days * 86400 if days else None)
    s = result.summary
    decisions = result.decisions
    start, end = s.get("market_start_ts"), s.get("market_ts")
    span_days = max(((end - start) / DAY_MS) if start and end else 0.0, 1e-9)
    evaluated = len(decisions)
    sized = sum(1 for d in decisions if d.sized is not None)
    passed_sim = sum(1 for d in decisions if d.estimate is not None and d.estimate.passed)
    approved = sum(1 for d in decisions if d.verdict == "approved")
    per_day: dict[int, Decimal] = {}
    for t in result.trades:
        day = (t.closed_ts or 0) // DAY_MS
        per_day[day] = per_day.get(day, Decimal(0)) + t.net
    daily = [float(v) for v in per_day.values()]
    n_days = max(math.ceil(span_days), 1)
    daily += [0.0] * max(n_days - len(daily), 0)
    mean = sum(daily) / len(daily)
    sd = math.sqrt(sum((x - mean) ** 2 for x in daily) / (len(daily) - 1)) if len(daily) > 1 else 0.0
    half = 1.96 * sd / math.sqrt(len(daily)) if len(daily) > 1 else float("nan")
    closed = len(result.trades)
    wins = sum(1 for t in result.trades if t.net > 0)
    return {
        "source": s.get("market_source", cfg.market.source),
        "days": round(span_days, 2),
        "signals_per_day": round(s.get("scanner_signals", 0) / span_days, 1),
        "candidates_evaluated_per_day": round(evaluated / span_days, 1),
        "passed_sizer_per_day": round(sized / span_days, 1),
        "passed_simulator_per_day": round(passed_sim / span_days, 1),
        "trades_per_day": round(approved / span_days, 2),
        "closed_trades": closed,
        "win_rate": round(wins / closed, 4) if closed else None,
        "avg_net_per_trade_usdt": f"{sum((t.net for t in result.trades), Decimal(0)) / closed:.4f}" if closed else None,
        "profit_per_day_usdt": round(mean, 4),
        "profit_per_day_95ci": [round(mean - half, 4), round(mean + half, 4)] if not math.isnan(half) else None,
        "dropped": s.get("scanner_dropped", {}),
        "decisions": s.get("decisions", {}),
        "kill_switch": s.get("kill_switch"),
        "calibration": s.get("calibration"),
    }


def verdicts(cfg: Config, arith: dict[str, Any], data: dict[str, Any] | None) -> list[str]:
    """Plain statements about the brief's targets."""
    out = []
    target = cfg.targets.trades_per_day
    if data is not None:
        tpd = data["trades_per_day"]
        reach = "within reach" if tpd >= target else "OUT OF REACH"
        out.append(
            f"{target} trades/day: {reach}. The pipeline found {tpd} qualifying trades/day on this data "
            f"({data['candidates_evaluated_per_day']} candidates/day evaluated, "
            f"{data['passed_simulator_per_day']} passed the pre-trade simulator)."
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
    if data is not None and data["profit_per_day_95ci"] is not None:
        lo, hi = data["profit_per_day_95ci"]
        goal = target * cfg.targets.min_net_profit_usdt
        out.append(
            f"Profit/day on this data: {data['profit_per_day_usdt']} USDT (95 % CI {lo} .. {hi}) vs the brief's "
            f"{goal} USDT/day ({target} x {cfg.targets.min_net_profit_usdt})."
        )
    return out


def markdown(cfg: Config, arith: dict[str, Any], data: dict[str, Any] | None) -> str:
    lines = [
        "# OMNI feasibility report",
        "",
        "Targets are targets, not promises. These numbers say what the configuration and the data allow.",
        "",
        "## Per trade, from the config",
        "",
        f"- capital {arith['capital_usdt']} USDT; margin per trade {arith['margin_per_trade_usdt']} USDT "
        f"(compound.fraction_per_trade); fundable at once: {arith['concurrent_trades_fundable']}",
        f"- minimum net profit {arith['min_net_profit_usdt']} USDT = {arith['profit_target_pct_of_capital']} % "
        f"of capital; max loss per trade {arith['max_loss_per_trade_usdt']} USDT; reward/risk needed "
        f"{arith['reward_to_risk_needed']}",
        f"- minimum order value {arith['min_order_value_usdt']} USDT",
        "",
        "| leverage | notional (USDT) | round-trip costs (USDT) | move needed for the min profit |",
        "|---:|---:|---:|---:|",
    ]
    for r in arith["by_leverage"]:
        lines.append(
            f"| {r['leverage']}x | {r['notional_usdt']} | {r['round_trip_costs_usdt']} | {r['move_needed_pct']} % |"
        )
    lines += [
        "",
        f"Break-even win rate with TP = {cfg.strategy.take_profit_atr} ATR and SL = {cfg.strategy.stop_atr} "
        "ATR (taker fees both legs and slippage):",
        "",
        "| ATR (% of price) | net win | net loss | break-even win rate |",
        "|---:|---:|---:|---:|",
    ]
    for b in arith["breakeven"]:
        lines.append(f"| {b['atr_pct']} | {b['net_win_pct']} % | {b['net_loss_pct']} % | {b['breakeven_win_rate']} |")
    if data is not None:
        lines += [
            "",
            f"## What the data offers ({data['source']}, {data['days']} days, the real pipeline)",
            "",
            f"- signals/day: {data['signals_per_day']}; candidates evaluated/day: "
            f"{data['candidates_evaluated_per_day']}; passed the sizer/day: {data['passed_sizer_per_day']}; "
            f"passed the simulator/day: {data['passed_simulator_per_day']}",
            f"- trades/day: {data['trades_per_day']}; closed trades: {data['closed_trades']}; win rate: "
            f"{data['win_rate']}; average net per trade: {data['avg_net_per_trade_usdt']} USDT",
            f"- profit/day: {data['profit_per_day_usdt']} USDT, 95 % CI {data['profit_per_day_95ci']}",
            f"- kill switch: {data['kill_switch']}",
            f"- why candidates were dropped: {data['dropped']}",
            f"- decisions: {data['decisions']}",
        ]
    lines += ["", "## Verdict on the brief's targets", ""]
    lines += [f"- {v}" for v in verdicts(cfg, arith, data)]
    return "\n".join(lines) + "\n"

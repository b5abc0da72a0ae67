"""Structured telemetry: one log event per order, fill, reject, funding, liquidation and decision, plus the
periodic ``summary`` with the brief's six metrics. Numbers are exact decimal strings in JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from omni.core.pacer import Pacer
from omni.core.pipeline import Decision
from omni.core.portfolio import Portfolio, Trade
from omni.domain.events import (
    Event,
    FundingPaid,
    Liquidated,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    StopRejected,
)
from omni.engine.journaling import decision_record


class Telemetry:
    """Turns core events into log lines and keeps the counters the summary reports."""

    def __init__(self, log: Any, portfolio: Portfolio, targets: dict[str, Any]):
        self.log = log
        self.portfolio = portfolio
        self.targets = targets
        self.orders = 0
        self.rejects = 0
        self.decisions: dict[str, int] = {}
        # info lines are skipped (not just filtered) when the level is above info: the hot path stays cheap
        self._info = _info_enabled(log)
        self.records: list[Decision] | None = None  # set to [] to keep every decision (backtests)
        self.journal: Any = None  # a JournalWriter, when the run keeps a journal
        # the pace in each summary: the pipeline's pacer when given, else one for the target (the status
        # depends only on the target, the time and the trades made today)
        per_day = targets.get("trades_per_day")
        self.pacer: Pacer | None = Pacer(int(per_day), spacing=False) if per_day else None

    def event(self, ev: Event) -> None:
        """Log one venue event (one line per order, fill, reject, funding, liquidation, position)."""
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(self, ev)

    def _fill(self, ev: OrderFilled) -> None:
        if not self._info:
            return
        f = ev.fill
        self.log.info(
            "fill",
            symbol=f.symbol,
            order_id=f.order_id,
            client_id=f.client_id,
            exec_id=f.exec_id,
            side=f.side,
            qty=f.qty,
            price=f.price,
            fee=f.fee,
            maker=f.is_maker,
            realised_pnl=f.realised_pnl,
            stop=f.stop_kind,
            ts=f.ts,
        )

    def _accepted(self, ev: OrderAccepted) -> None:
        self.orders += 1
        if not self._info:
            return
        o = ev.order
        self.log.info(
            "order",
            symbol=o.symbol,
            order_id=o.order_id,
            client_id=o.client_id,
            side=o.side,
            qty=o.qty,
            type=o.order_type,
            price=o.price,
            reduce_only=o.reduce_only,
            take_profit=o.take_profit,
            stop_loss=o.stop_loss,
            ts=ev.ts,
        )

    def _rejected(self, ev: OrderRejected) -> None:
        self.rejects += 1
        self.log.warning("reject", symbol=ev.symbol, client_id=ev.client_id, code=ev.code, message=ev.message, ts=ev.ts)

    def _cancelled(self, ev: OrderCancelled) -> None:
        if self._info:
            self.log.info(
                "cancel",
                symbol=ev.order.symbol,
                order_id=ev.order.order_id,
                client_id=ev.order.client_id,
                reason=ev.reason,
                ts=ev.ts,
            )

    def _funding(self, ev: FundingPaid) -> None:
        if self._info:
            f = ev.fill
            self.log.info(
                "funding",
                symbol=f.symbol,
                exec_id=f.exec_id,
                side=f.side,
                size=f.qty,
                mark=f.price,
                rate=ev.rate,
                paid=f.fee,
                ts=f.ts,
            )

    def _liquidated(self, ev: Liquidated) -> None:
        f = ev.fill
        self.log.warning(
            "liquidation",
            symbol=f.symbol,
            order_id=f.order_id,
            exec_id=f.exec_id,
            size=f.qty,
            liq_price=ev.liq_price,
            mark=ev.mark_price,
            bust_price=f.price,
            realised_pnl=f.realised_pnl,
            ts=f.ts,
        )

    def _position(self, ev: PositionChanged) -> None:
        if not self._info:
            return
        p = ev.position
        if p is None:
            self.log.info("position", symbol=ev.symbol, size="0", ts=ev.ts)
        else:
            self.log.info(
                "position",
                symbol=ev.symbol,
                side=p.side,
                size=p.size,
                entry=p.entry_price,
                leverage=p.leverage,
                margin=p.margin,
                liq_price=p.liq_price,
                stop_loss=p.stop_loss,
                take_profit=p.take_profit,
                ts=ev.ts,
            )

    def _stop_rejected(self, ev: StopRejected) -> None:
        self.log.error("stop_rejected", symbol=ev.symbol, code=ev.code, message=ev.message, ts=ev.ts)

    _handlers: ClassVar[dict[type, Callable[[Telemetry, Any], None]]] = {
        OrderFilled: _fill,
        OrderAccepted: _accepted,
        OrderRejected: _rejected,
        OrderCancelled: _cancelled,
        FundingPaid: _funding,
        Liquidated: _liquidated,
        PositionChanged: _position,
        StopRejected: _stop_rejected,
    }

    def trade_closed(self, t: Trade) -> None:
        if not self._info:
            return
        self.log.info(
            "trade",
            symbol=t.symbol,
            side=t.side,
            opened_ts=t.opened_ts,
            closed_ts=t.closed_ts,
            net=t.net,
            realised=t.realised,
            fees=t.fees,
            funding=t.funding,
            exit=t.exit_reason,
        )

    def decision(self, d: Decision) -> None:
        """One canonical line per evaluated candidate: verdict, reason and the numbers behind it."""
        key = d.verdict if d.verdict == "approved" else f"{d.verdict}:{d.reason}"
        self.decisions[key] = self.decisions.get(key, 0) + 1
        if self.records is not None:
            self.records.append(d)
        if self.journal is not None:
            self.journal.add([decision_record(d)])
        if not self._info:
            return
        c, sized, est = d.candidate, d.sized, d.estimate
        fields: dict[str, Any] = {
            "symbol": d.symbol,
            "verdict": d.verdict,
            "reason": d.reason,
            "detail": d.detail,
            "side": c.side,
            "timeframe": f"{c.timeframe}m",
            "score": round(c.score, 3),
            "ts": d.ts,
        }
        if sized is not None:
            i = sized.intent
            fields.update(
                client_id=i.client_id,
                qty=i.qty,
                entry=sized.entry,
                leverage=i.leverage,
                stop_loss=i.stop_loss,
                take_profit=i.take_profit,
                liq_price=sized.liq_price,
                net_at_tp=sized.net_at_tp,
                loss_at_sl=sized.loss_at_sl,
            )
        if est is not None:
            fields.update(
                p=round(est.p, 4),
                p_lower=round(est.p_lower, 4),
                ev=round(est.ev, 6),
                ev_lower=round(est.ev_lower, 6),
                n=est.n,
                n_eff=round(est.n_eff, 1),
                p_cal=None if d.p_cal is None else round(d.p_cal, 4),
            )
        self.log.info("decision", **fields)

    def summary(
        self, *, capital_start: Decimal, capital: Decimal, equity: Decimal, now: int, kill_switch: str | None
    ) -> dict[str, Any]:
        """The summary fields (exact decimals) for the log line and --summary-json."""
        m = self.portfolio.metrics()
        closed = self.portfolio.closed_count
        out: dict[str, Any] = {
            "capital_start": capital_start,
            "capital": capital,
            "equity": equity,
            # trading's profit: money moved in or out of the account is capital, not profit
            "total_profit": capital - capital_start - self.portfolio.net_transfers,
            "realised_pnl": self.portfolio.realised,
            "deposits": m["deposits"],
            "withdrawals": m["withdrawals"],
            "adjustments": self.portfolio.adjustments,
            "trades_total": m["trades_total"],
            "trades_closed": closed,
            "trades_today": m["trades_today"],
            "wins": m["wins"],
            "losses": m["losses"],
            "active_trades": m["active_trades"],
            "avg_profit_per_trade": m["avg_profit_per_trade"],
            "success_rate": m["success_rate"],
            "max_drawdown": m["max_drawdown"],
            "fees_paid": m["fees_paid"],
            "funding_paid": m["funding_paid"],
            "largest_loss": m["largest_loss"],
            "kill_switch": kill_switch,
            "orders": self.orders,
            "rejects": self.rejects,
            "decisions": dict(self.decisions),
            "market_ts": now,
            "targets": self.targets,
        }
        if self.pacer is not None:
            pace = self.pacer.pace(now, m["trades_today"])  # type: ignore[arg-type]
            out["pace"] = {
                "status": pace.status,
                "trades_today": pace.trades_today,
                "target": pace.target,
                "expected_by_now": pace.expected_by_now,
            }
        return out


def _info_enabled(log: Any) -> bool:
    try:
        return bool(log.is_enabled_for(logging.INFO))
    except AttributeError:  # a logger without level introspection: assume everything is logged
        return True


def jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    """Decimals as exact strings, for JSON output."""

    def conv(v: Any) -> Any:
        if isinstance(v, Decimal):
            return str(v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in summary.items()}

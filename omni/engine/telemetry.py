"""Structured telemetry: one log event per order, fill, reject, funding, liquidation and decision, plus the
periodic ``summary`` with the brief's six metrics. Numbers are exact decimal strings in JSON."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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


class Telemetry:
    """Turns core events into log lines and keeps the counters the summary reports."""

    def __init__(self, log: Any, portfolio: Portfolio, targets: dict[str, Any]):
        self.log = log
        self.portfolio = portfolio
        self.targets = targets
        self.orders = 0
        self.rejects = 0
        self.decisions: dict[str, int] = {}

    def event(self, ev: Event) -> None:
        log = self.log
        if isinstance(ev, OrderFilled):
            f = ev.fill
            log.info(
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
        elif isinstance(ev, OrderAccepted):
            o = ev.order
            self.orders += 1
            log.info(
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
        elif isinstance(ev, OrderRejected):
            self.rejects += 1
            log.warning("reject", symbol=ev.symbol, client_id=ev.client_id, code=ev.code, message=ev.message, ts=ev.ts)
        elif isinstance(ev, OrderCancelled):
            log.info(
                "cancel",
                symbol=ev.order.symbol,
                order_id=ev.order.order_id,
                client_id=ev.order.client_id,
                reason=ev.reason,
                ts=ev.ts,
            )
        elif isinstance(ev, FundingPaid):
            f = ev.fill
            log.info(
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
        elif isinstance(ev, Liquidated):
            f = ev.fill
            log.warning(
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
        elif isinstance(ev, PositionChanged):
            p = ev.position
            if p is None:
                log.info("position", symbol=ev.symbol, size="0", ts=ev.ts)
            else:
                log.info(
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
        elif isinstance(ev, StopRejected):
            log.error("stop_rejected", symbol=ev.symbol, code=ev.code, message=ev.message, ts=ev.ts)

    def trade_closed(self, t: Trade) -> None:
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
        self.decisions[d.reason] = self.decisions.get(d.reason, 0) + 1
        intent = d.intent
        self.log.info(
            "decision",
            symbol=d.symbol,
            verdict=d.verdict,
            reason=d.reason,
            detail=d.detail,
            side=d.signal.side,
            timeframe=f"{d.signal.timeframe}m",
            client_id=intent.client_id if intent else None,
            qty=intent.qty if intent else None,
            leverage=intent.leverage if intent else None,
            stop_loss=intent.stop_loss if intent else None,
            take_profit=intent.take_profit if intent else None,
            ts=d.ts,
        )

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
            "total_profit": capital - capital_start,
            "realised_pnl": self.portfolio.realised,
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
        return out


def jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    """Decimals as exact strings, for JSON output."""

    def conv(v: Any) -> Any:
        if isinstance(v, Decimal):
            return str(v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in summary.items()}

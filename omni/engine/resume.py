"""What a restart takes back from the journal: the sim's account, a Bybit account's first capital and sums, and
what the executions booked while the daemon was down add to the wallet. Plain reads, no tasks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omni.config import Config
from omni.domain.events import CapitalTransfer, FundingPaid, Liquidated, OrderFilled
from omni.domain.instrument import ZERO
from omni.domain.orders import Position, Side
from omni.exchange.matching import MatchingEngine
from omni.journal import Journal, capital_of


def sim_resume(cfg: Config, log: Any, matching: MatchingEngine) -> dict[str, Any] | None:
    """A restart of the sim: rebuild the account from the journal (the sim's only durable state)."""
    path = cfg.engine.journal_path
    if not path.exists():
        return None
    journal = Journal(path)
    try:
        market_ts = journal.meta("market_ts")
        if journal.meta("venue") != "sim" or market_ts is None:
            return None
        start = Decimal(journal.meta("capital_start"))
        sums = journal.ledger()
        positions = [
            Position(
                r["symbol"],
                Side(r["side"]),
                Decimal(r["size"]),
                Decimal(r["entry_price"]),
                Decimal(r["leverage"]),
                Decimal(r["margin"]),
                Decimal(r["liq_price"]),
                ZERO,
                Decimal(r["take_profit"]) if r["take_profit"] else None,
                Decimal(r["stop_loss"]) if r["stop_loss"] else None,
                r["ts"],
            )
            for r in journal.open_positions()
            if r["symbol"] in matching.instruments
        ]
    finally:
        journal.close()
    matching.restore(capital_of(start, sums), positions)
    return {"market_ts": int(market_ts), "capital_start": start, **sums}


def bybit_ledger(cfg: Config, log: Any, venue_name: str, capital: Decimal) -> dict[str, Any] | None:
    """A restart of a Bybit run: the first start's capital and the journal's sums. None for a new journal (or one
    that belongs to another venue: that run's figures say nothing about this account)."""
    path = cfg.engine.journal_path
    if not path.exists():
        return None
    journal = Journal(path)
    try:
        start, venue = journal.meta("capital_start"), journal.meta("venue")
        if start is None:
            return None
        if venue != venue_name:
            log.warning("journal_other_venue", journal=str(path), journal_venue=venue, venue=venue_name)
            return None
        sums = journal.ledger()
    finally:
        journal.close()
    start = Decimal(start)
    explained = capital_of(start, sums)
    unexplained = capital - explained
    if unexplained:
        log.warning("capital_unexplained", wallet=capital, journal=explained, difference=unexplained)
    return {"capital_start": start, "unexplained": unexplained, **sums}


def booked_net(events: list[Any]) -> Decimal:
    """What booking ``events`` adds to the wallet: realised PnL minus fees minus funding (exact)."""
    net = ZERO
    for ev in events:
        if isinstance(ev, OrderFilled | Liquidated):
            net += ev.fill.realised_pnl - ev.fill.fee
        elif isinstance(ev, FundingPaid):
            net -= ev.fill.fee
        elif isinstance(ev, CapitalTransfer):
            net += ev.amount
    return net

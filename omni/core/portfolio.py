"""Portfolio ledger built from venue events: the brief's six metrics, trades, drawdown. Exact decimals.

What counts as capital: ``capital == capital_start + deposits - withdrawals + adjustments + realised - fees -
funding``, exactly. Deposits, top-ups and withdrawals are capital changes, not profit: they move the risk
baselines (the day's starting equity, the peak) by their amount, so a top-up never hides a loss and a
withdrawal never trips the daily-loss limit. An adjustment (a wallet difference no record explains) does not
move them: an unexplained loss still counts against the limits.

The risk baselines (the UTC day, its starting equity, the peak equity, the largest drawdown, trades today)
are ``risk_state()``: the engine journals them and restores them on restart, so a crash or a redeploy never
gives a fresh daily-loss allowance or forgets the peak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from omni.domain.events import CapitalTransfer, Event, FundingPaid, Liquidated, OrderFilled, PositionChanged
from omni.domain.instrument import ZERO
from omni.domain.orders import Position, Side

DAY_MS = 86_400_000
MONEY = Decimal("0.00000001")


@dataclass(slots=True)
class Trade:
    """One round trip: from a flat symbol to a position and back to flat."""

    symbol: str
    side: Side
    opened_ts: int
    closed_ts: int | None = None
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    exit_reason: str = ""
    client_id: str = ""  # the entry order's link id

    @property
    def net(self) -> Decimal:
        return self.realised - self.fees - self.funding


@dataclass(slots=True)
class Portfolio:
    """What the account did, from its fills alone (independent of the venue's wallet: a cross-check)."""

    capital_start: Decimal
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    deposits: Decimal = ZERO
    withdrawals: Decimal = ZERO  # positive: money taken out
    adjustments: Decimal = ZERO
    wins: int = 0
    losses: int = 0
    closed_net: Decimal = ZERO
    largest_loss: Decimal = ZERO
    peak_equity: Decimal = ZERO
    max_drawdown: Decimal = ZERO
    day: int = -1
    day_start_equity: Decimal = ZERO
    trades_today: int = 0
    trades_total: int = 0
    positions: dict[str, Position] = field(default_factory=dict)
    open_trades: dict[str, Trade] = field(default_factory=dict)
    closed: list[Trade] = field(default_factory=list)
    keep_closed: int = 10_000
    _carry_fee: dict[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.peak_equity = self.capital_start
        self.day_start_equity = self.capital_start

    @property
    def capital(self) -> Decimal:
        """Cash: capital_start + deposits - withdrawals + adjustments + realised PnL - fees - funding."""
        return (
            self.capital_start
            + self.deposits
            - self.withdrawals
            + self.adjustments
            + self.realised
            - self.fees
            - self.funding
        )

    @property
    def net_transfers(self) -> Decimal:
        return self.deposits - self.withdrawals

    @property
    def active(self) -> int:
        return len(self.positions)

    @property
    def closed_count(self) -> int:
        return self.wins + self.losses

    def apply(self, event: Event) -> Trade | None:
        """Fold one venue event in; returns the trade it closed, if any."""
        kind = type(event)
        if kind is OrderFilled:
            f = event.fill
            self.roll_day(f.ts)  # a new day starts before this fill's fee is booked
            self.realised += f.realised_pnl
            self.fees += f.fee
            trade = self.open_trades.get(f.symbol)
            fee = f.fee
            if trade is None and f.closed_qty > 0:
                # closes a position this ledger did not see open (adopted at a restart, or opened while a
                # private stream was down): the trade is on the position's side and was counted when it opened
                trade = self.adopt(f.symbol, f.side.opposite, f.ts)
            if trade is None:
                trade = self._open(f.symbol, f.side, f.ts)
                trade.client_id = f.client_id
            elif 0 < f.closed_qty < f.qty:  # a flip: the opening leg's share of the fee belongs to the new trade
                opening_fee = (fee * (f.qty - f.closed_qty) / f.qty).quantize(MONEY)
                self._carry_fee[f.symbol] = opening_fee
                fee -= opening_fee
            trade.realised += f.realised_pnl
            trade.fees += fee
            if f.stop_kind is not None:
                trade.exit_reason = f.stop_kind.value
        elif kind is PositionChanged:
            return self._position(event)
        elif kind is FundingPaid:
            self.roll_day(event.fill.ts)
            self.funding += event.fill.fee
            trade = self.open_trades.get(event.fill.symbol)
            if trade is not None:
                trade.funding += event.fill.fee
        elif kind is Liquidated:
            f = event.fill
            self.roll_day(f.ts)
            self.realised += f.realised_pnl
            self.fees += f.fee  # Bybit charges a liquidation fee on the execution; the sim's is zero
            trade = self.open_trades.get(f.symbol) or self.adopt(f.symbol, f.side.opposite, f.ts)
            trade.realised += f.realised_pnl
            trade.fees += f.fee
            trade.exit_reason = "Liquidation"
        elif kind is CapitalTransfer:
            self.transfer(event.amount, capital=event.moves_capital)
        return None

    def transfer(self, amount: Decimal, capital: bool = True) -> None:
        """Book money moved in or out (``capital``: a deposit or a withdrawal, not profit; the baselines move with
        it), or an adjustment (a cash change no execution explains; the baselines stay)."""
        if not capital:
            self.adjustments += amount
            return
        if amount >= 0:
            self.deposits += amount
        else:
            self.withdrawals -= amount
        self.peak_equity += amount
        self.day_start_equity += amount

    def adopt(self, symbol: str, side: Side, ts: int) -> Trade:
        """A position opened before this ledger saw it (a restart adopted it): its trade, on the position's
        side, not counted again in the day's or the run's trades."""
        trade = self.open_trades.get(symbol)
        if trade is None or trade.side is not side:
            trade = Trade(symbol, side, ts, exit_reason="")
            self.open_trades[symbol] = trade
        return trade

    def _open(self, symbol: str, side: Side, ts: int) -> Trade:
        trade = Trade(symbol, side, ts, fees=self._carry_fee.pop(symbol, ZERO))
        self.open_trades[symbol] = trade
        self.roll_day(ts)
        self.trades_today += 1
        self.trades_total += 1
        return trade

    def _position(self, event: PositionChanged) -> Trade | None:
        sym = event.symbol
        pos = event.position
        if pos is not None:
            prev = self.positions.get(sym)
            self.positions[sym] = pos
            if prev is not None and prev.side is not pos.side:  # flipped through zero in one fill
                closed = self._close(sym, event.ts)
                self._open(sym, pos.side, event.ts)
                return closed
            return None
        self.positions.pop(sym, None)
        return self._close(sym, event.ts)

    def _close(self, symbol: str, ts: int) -> Trade | None:
        trade = self.open_trades.pop(symbol, None)
        if trade is None:
            return None
        trade.closed_ts = ts
        trade.exit_reason = trade.exit_reason or "Close"
        net = trade.net
        self.closed_net += net
        if net > 0:
            self.wins += 1
        else:
            self.losses += 1
            self.largest_loss = min(self.largest_loss, net)
        self.closed.append(trade)
        if len(self.closed) > self.keep_closed:
            del self.closed[: len(self.closed) - self.keep_closed]
        return trade

    def roll_day(self, now: int, equity: Decimal | None = None) -> bool:
        """Start a new UTC day if ``now`` is in a later one; returns True when it rolled. Time never rolls
        back: a live venue's late event (a fill booked by a resync, a backfilled bar) stays in today."""
        day = now // DAY_MS
        if day <= self.day:
            return False
        self.day = day
        self.trades_today = 0
        self.day_start_equity = self.capital if equity is None else equity
        return True

    def risk_state(self) -> dict[str, str | int]:
        """The baselines the risk limits are measured from, for the journal (exact decimals as strings)."""
        return {
            "day": self.day,
            "day_start_equity": str(self.day_start_equity),
            "peak_equity": str(self.peak_equity),
            "max_drawdown": str(self.max_drawdown),
            "trades_today": self.trades_today,
        }

    def restore_risk_state(self, state: dict[str, object]) -> bool:
        """Take back the baselines a previous run journaled: the peak and the largest drawdown always; the day's
        starting equity and trade count when the journaled day is not over (a later day starts afresh at its
        first event). Returns True when the day itself was restored."""
        self.peak_equity = max(self.peak_equity, Decimal(str(state["peak_equity"])))
        self.max_drawdown = max(self.max_drawdown, Decimal(str(state["max_drawdown"])))
        day = int(str(state["day"]))
        if day < self.day:
            return False
        self.day = day
        self.day_start_equity = Decimal(str(state["day_start_equity"]))
        self.trades_today = int(str(state["trades_today"]))
        return True

    def observe_equity(self, equity: Decimal) -> None:
        """Track peak equity and the largest drawdown from it."""
        if equity > self.peak_equity:
            self.peak_equity = equity
        dd = self.peak_equity - equity
        if dd > self.max_drawdown:
            self.max_drawdown = dd

    def day_loss(self, equity: Decimal) -> Decimal:
        return self.day_start_equity - equity

    def drawdown_pct(self, equity: Decimal) -> Decimal:
        if self.peak_equity <= 0:
            return ZERO
        return (self.peak_equity - equity) / self.peak_equity * 100

    def metrics(self) -> dict[str, object]:
        """The brief's six metrics plus fees, funding and drawdown."""
        n = self.closed_count
        return {
            "capital": self.capital,
            # profit is what trading did: deposits and withdrawals are not profit (an adjustment is booked as
            # one: money the wallet gained or lost that no record explains)
            "total_profit": self.capital - self.capital_start - self.net_transfers,
            "trades_today": self.trades_today,
            "active_trades": self.active,
            "avg_profit_per_trade": (self.closed_net / n).quantize(Decimal("0.00000001")) if n else ZERO,
            "success_rate": round(self.wins / n, 4) if n else None,
            "trades_total": self.trades_total,
            "wins": self.wins,
            "losses": self.losses,
            "fees_paid": self.fees,
            "funding_paid": self.funding,
            "deposits": self.deposits,
            "withdrawals": self.withdrawals,
            "max_drawdown": self.max_drawdown,
            "largest_loss": self.largest_loss,
        }

"""MatchingEngine: one account on a Bybit-like linear-perp exchange, driven by bars.

Shared by the sim venue, the Bybit emulator and the pre-trade simulator (one implementation of the rules).

Model (documented assumptions):
- One-way mode, isolated margin, USDT wallet. ``balance`` is cash: realised PnL, fees and funding move it;
  ``available`` = balance - position margins - margin reserved by resting orders.
- Market orders fill at once at the last price moved by ``slippage`` against the taker, rounded to the tick
  against the taker (taker fee). Limit orders that cross on arrival fill the same way (never worse than the
  limit); otherwise they rest and fill at their limit price (maker fee) once a bar trades *through* the
  price (touching is not enough: conservative about queue position). PostOnly orders that would cross are
  accepted, then cancelled (``EC_PostOnlyWillTakeLiquidity``).
- TP/SL are attached to the position and rest on the exchange; they trigger on last price and fill as
  market orders (taker fee, slippage).
- Liquidation triggers on mark price. Recorded data has no mark series, so a bar's extremes stand in for the
  mark (conservative: the real mark is smoother). A liquidated position is closed at the bankruptcy price:
  the whole position margin is lost; no closing fee is charged on top.
- Conservative intrabar rule, per bar: first the adverse path from the open (a gap through a stop fills at
  the open; otherwise the nearer of stop-loss and liquidation price on the adverse side is hit first), then
  resting limit orders (a new position's stop-loss is checked against the rest of the bar), then the
  favourable path (take-profit). So when SL and TP both lie inside one bar, the SL fills first.
- Funding at each settlement: size x mark x rate from the wallet; longs pay positive rates.
"""

from __future__ import annotations

import math
from decimal import Decimal

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
from omni.domain.instrument import ZERO, Instrument
from omni.domain.market import Bar, Funding
from omni.domain.orders import (
    ExecType,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    StopKind,
    TimeInForce,
)
from omni.exchange import intrabar, rules
from omni.exchange.rules import Reject

_EMPTY: tuple[Event, ...] = ()
_INF = math.inf


class _Pos:
    """Mutable exchange-side position (private; the outside world sees ``Position`` snapshots)."""

    __slots__ = (
        "adverse_f",
        "bust",
        "entry_value",
        "leverage",
        "liq",
        "margin",
        "opened_ts",
        "side",
        "size",
        "sl",
        "tp",
        "tp_f",
    )

    def __init__(self, side: Side, leverage: Decimal, ts: int):
        self.side = side
        self.size = ZERO
        self.entry_value = ZERO
        self.leverage = leverage
        self.margin = ZERO
        self.liq = ZERO
        self.bust = ZERO
        self.tp: Decimal | None = None
        self.sl: Decimal | None = None
        self.opened_ts = ts
        self.adverse_f = -_INF
        self.tp_f = _INF

    @property
    def entry(self) -> Decimal:
        return self.entry_value / self.size

    def refresh_triggers(self) -> None:
        """Float trigger levels for the per-bar check: the first adverse level and the TP."""
        long = self.side is Side.BUY
        liq = float(self.liq)
        if self.sl is None:
            self.adverse_f = liq
        else:
            sl = float(self.sl)
            self.adverse_f = max(liq, sl) if long else min(liq, sl)
        if self.tp is None:
            self.tp_f = _INF if long else -_INF
        else:
            self.tp_f = float(self.tp)


class _Resting:
    __slots__ = ("margin", "order", "price_f")

    def __init__(self, order: Order, margin: Decimal):
        self.order = order
        self.margin = margin
        self.price_f = float(order.price) if order.price is not None else 0.0


class MatchingEngine:
    """An exchange account: validate orders with ``rules``, fill them against bars, settle funding."""

    def __init__(
        self,
        instruments: dict[str, Instrument],
        *,
        balance: Decimal,
        taker_fee: Decimal,
        maker_fee: Decimal,
        slippage_bps: Decimal | float = 0,
        default_leverage: Decimal = Decimal(10),
        id_prefix: str = "",
    ):
        self.instruments = instruments
        self.balance = balance
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.slippage = float(slippage_bps) / 10_000.0
        self.default_leverage = default_leverage
        self._bar: dict[str, Bar] = {}
        self._last_dec: dict[str, tuple[Bar, Decimal]] = {}  # last close as an exact tick, per bar
        self._pos: dict[str, _Pos] = {}
        self._resting: dict[str, dict[str, _Resting]] = {}
        self._leverage: dict[str, Decimal] = {}
        self._link_ids: set[str] = set()
        self._seq = 0
        self.id_prefix = id_prefix  # makes order/exec ids unique across runs (a restarted sim)

    # ------------------------------------------------------------ queries

    def last_price(self, symbol: str) -> Decimal | None:
        """Last traded price on the symbol's tick, or None before the first bar."""
        bar = self._bar.get(symbol)
        if bar is None:
            return None
        cached = self._last_dec.get(symbol)
        if cached is not None and cached[0] is bar:
            return cached[1]
        price = self.instruments[symbol].round_price(bar.close)
        self._last_dec[symbol] = (bar, price)
        return price

    def leverage(self, symbol: str) -> Decimal:
        return self._leverage.get(symbol, min(self.default_leverage, self.instruments[symbol].max_leverage))

    def position(self, symbol: str) -> Position | None:
        pos = self._pos.get(symbol)
        return None if pos is None else self._snapshot(symbol, pos)

    def positions(self) -> dict[str, Position]:
        return {s: self._snapshot(s, p) for s, p in self._pos.items()}

    def open_orders(self) -> list[Order]:
        return [r.order for book in self._resting.values() for r in book.values()]

    @property
    def available(self) -> Decimal:
        used = sum((p.margin for p in self._pos.values()), ZERO)
        reserved = sum((r.margin for book in self._resting.values() for r in book.values()), ZERO)
        return self.balance - used - reserved

    def unrealised(self) -> Decimal:
        """Unrealised PnL of all positions at the last price."""
        total = ZERO
        for sym, p in self._pos.items():
            mark = self.last_price(sym)
            if mark is not None:
                total += (mark * p.size - p.entry_value) * p.side.sign
        return rules.money(total)

    def equity(self) -> Decimal:
        return self.balance + self.unrealised()

    # ------------------------------------------------------------ restore

    def restore(self, balance: Decimal, positions: list[Position]) -> None:
        """Start from a saved account (a restart): wallet balance and open positions with their stops."""
        self.balance = balance
        self._pos.clear()
        for p in positions:
            inst = self.instruments[p.symbol]
            pos = _Pos(p.side, p.leverage, p.opened_ts)
            pos.size = p.size
            pos.entry_value = p.entry_price * p.size
            pos.margin = p.margin
            pos.tp, pos.sl = p.take_profit, p.stop_loss
            self._reprice(inst, pos)
            self._pos[p.symbol] = pos
            self._leverage[p.symbol] = p.leverage

    # ------------------------------------------------------------ commands

    def set_leverage(self, symbol: str, leverage: Decimal) -> Reject | None:
        """Bybit set-leverage: checked against the symbol's range and the position's risk tier."""
        inst = self.instruments.get(symbol)
        if inst is None:
            return Reject(rules.PARAM_ERROR, f"params error: symbol invalid: {symbol}")
        pos = self._pos.get(symbol)
        reject = rules.check_leverage(inst, leverage, pos.entry_value if pos else ZERO)
        if reject is not None:
            return reject
        if leverage == self.leverage(symbol):
            return Reject(rules.LEVERAGE_NOT_MODIFIED, "leverage not modified")
        if pos is not None:
            new_margin = rules.initial_margin(pos.entry_value, leverage)
            if new_margin - pos.margin > self.available:
                return Reject(rules.INSUFFICIENT_AVAILABLE, "ab not enough for new leverage")
            pos.leverage = leverage
            pos.margin = new_margin
            self._reprice(inst, pos)
        self._leverage[symbol] = leverage
        return None

    def place(self, intent: OrderIntent, now: int) -> list[Event]:
        """Validate and execute one order; returns what happened, in order."""
        inst = self.instruments.get(intent.symbol)
        if inst is None:
            return [
                self._reject(intent, Reject(rules.PARAM_ERROR, f"params error: symbol invalid: {intent.symbol}"), now)
            ]
        if intent.client_id and intent.client_id in self._link_ids:
            return [self._reject(intent, Reject(rules.DUPLICATE_LINK_ID, "OrderLinkedID is duplicate"), now)]
        last = self.last_price(intent.symbol)
        if last is None:
            return [self._reject(intent, Reject(rules.PARAM_ERROR, "no market price yet for symbol"), now)]
        reject = rules.check_order_shape(inst, intent, last)
        if reject is None:
            reject, intent = self._check_position_rules(inst, intent, last)
        if reject is not None:
            return [self._reject(intent, reject, now)]
        if intent.client_id:
            self._link_ids.add(intent.client_id)
        order = self._new_order(intent, now)
        events: list[Event] = [OrderAccepted(order, now)]
        crossing = intent.order_type is OrderType.MARKET or (
            intent.price >= last if intent.side is Side.BUY else intent.price <= last  # type: ignore[operator]
        )
        if crossing and intent.tif is TimeInForce.POST_ONLY:
            events.append(self._cancelled(order, rules.POST_ONLY_WOULD_TAKE, now))
        elif crossing:
            bar = self._bar[intent.symbol]
            price = rules.slipped_price(inst, intent.side, bar.close, self.slippage, bar.low, bar.high)
            if intent.order_type is OrderType.LIMIT:
                price = min(price, intent.price) if intent.side is Side.BUY else max(price, intent.price)  # type: ignore[type-var]
            self._execute(inst, order, intent.qty, price, False, now, events)
        elif intent.tif is TimeInForce.IOC:
            events.append(self._cancelled(order, "EC_NoImmediateQtyToFill", now))
        else:
            margin = self._opening_margin(inst, intent, intent.price)  # type: ignore[arg-type]
            self._resting.setdefault(intent.symbol, {})[order.order_id] = _Resting(order, margin)
        return events

    def cancel(self, symbol: str, client_id: str, now: int) -> list[Event]:
        """Cancel a resting order by its client id (orderLinkId)."""
        book = self._resting.get(symbol, {})
        for oid, r in book.items():
            if r.order.client_id == client_id:
                del book[oid]
                return [self._cancelled(r.order, "CancelByUser", now)]
        return [OrderRejected(client_id, symbol, rules.ORDER_NOT_FOUND, "Order does not exist", now)]

    def cancel_all(self, now: int, symbol: str | None = None) -> list[Event]:
        events: list[Event] = []
        for sym in [symbol] if symbol else list(self._resting):
            for r in self._resting.pop(sym, {}).values():
                events.append(self._cancelled(r.order, "CancelAll", now))
        return events

    def set_trading_stop(
        self, symbol: str, now: int, take_profit: Decimal | None = None, stop_loss: Decimal | None = None
    ) -> list[Event]:
        """Attach/replace the position's TP and SL (Bybit /v5/position/trading-stop)."""
        pos = self._pos.get(symbol)
        if pos is None:
            return [StopRejected(symbol, Side.BUY, rules.PARAM_ERROR, "can not set tp/sl/ts for zero position", now)]
        inst = self.instruments[symbol]
        last = self.last_price(symbol)
        assert last is not None
        for name, level in (("TakeProfit", take_profit), ("StopLoss", stop_loss)):
            if level is not None and not inst.on_tick(level):
                return [StopRejected(symbol, pos.side, rules.PARAM_ERROR, f"{name}:{level} is not on tickSize", now)]
        reject = rules.check_stops(pos.side, last, take_profit, stop_loss, pos.liq)
        if reject is not None:
            return [StopRejected(symbol, pos.side, reject.code, reject.message, now)]
        if take_profit is not None:
            pos.tp = take_profit
        if stop_loss is not None:
            pos.sl = stop_loss
        pos.refresh_triggers()
        return [PositionChanged(symbol, self._snapshot(symbol, pos), now)]

    def close_position(self, symbol: str, now: int, client_id: str = "") -> list[Event]:
        """Close the whole position with a reduce-only market order."""
        pos = self._pos.get(symbol)
        if pos is None:
            return []
        intent = OrderIntent(client_id, symbol, pos.side.opposite, pos.size, reduce_only=True)
        return self.place(intent, now)

    # ------------------------------------------------------------ market

    def on_bar(self, bar: Bar) -> list[Event] | tuple[Event, ...]:
        """Advance one symbol by one closed bar; returns the fills it caused (usually none)."""
        sym = bar.symbol
        self._bar[sym] = bar
        pos = self._pos.get(sym)
        book = self._resting.get(sym)
        if book is None:
            if pos is None:
                return _EMPTY
            # the common case with a position: nothing reached, nothing to do
            if pos.side is Side.BUY:
                if bar.low > pos.adverse_f and bar.high < pos.tp_f:
                    return _EMPTY
            elif bar.high < pos.adverse_f and bar.low > pos.tp_f:
                return _EMPTY
        events: list[Event] = []
        now = bar.ts + bar.minutes * 60_000
        if pos is not None:
            if pos.side is Side.BUY:
                if bar.low <= pos.adverse_f:
                    self._adverse(sym, pos, bar, now, events)
            elif bar.high >= pos.adverse_f:
                self._adverse(sym, pos, bar, now, events)
        if book:
            self._fill_resting(sym, book, bar, now, events)
        pos = self._pos.get(sym)
        if pos is not None and pos.tp is not None:
            trigger = intrabar.favourable_hit(pos.side is Side.BUY, bar.open, bar.high, bar.low, pos.tp_f)
            if trigger is not None:
                inst = self.instruments[sym]
                price = rules.slipped_price(inst, pos.side.opposite, trigger, self.slippage, bar.low, bar.high)
                self._stop_fill(inst, pos, price, StopKind.TAKE_PROFIT, now, events)
        return events

    def on_funding(self, funding: Funding) -> list[Event] | tuple[Event, ...]:
        """Settle funding on the symbol's open position at ``funding.ts``."""
        pos = self._pos.get(funding.symbol)
        if pos is None:
            return _EMPTY
        mark = self.last_price(funding.symbol)
        assert mark is not None
        rate = Decimal(repr(funding.rate))
        paid = rules.funding_payment(pos.side, pos.size, mark, rate)
        self.balance -= paid
        fill = Fill(
            self._next_id("f"),
            "",
            "",
            funding.symbol,
            pos.side,
            pos.size,
            mark,
            paid,
            rate,
            False,
            ExecType.FUNDING,
            ZERO,
            funding.ts,
        )
        return [FundingPaid(fill, rate)]

    # ------------------------------------------------------------ internals

    def _check_position_rules(
        self, inst: Instrument, intent: OrderIntent, last: Decimal
    ) -> tuple[Reject | None, OrderIntent]:
        pos = self._pos.get(intent.symbol)
        closing = ZERO
        if pos is not None and pos.side is not intent.side:
            closing = min(intent.qty, pos.size)
        if intent.reduce_only:
            if closing == 0:
                return Reject(rules.REDUCE_ONLY_RULE, "Reduce-only rule not satisfied"), intent
            if intent.qty > closing:  # Bybit truncates a reduce-only order to the position size
                intent = _replace_qty(intent, closing)
            return None, intent
        opening = intent.qty - closing
        if opening == 0:
            return None, intent
        price = intent.price if intent.order_type is OrderType.LIMIT else last
        assert price is not None
        leverage = self.leverage(intent.symbol)
        held = pos.entry_value if pos is not None and pos.side is intent.side else ZERO
        reject = rules.check_risk_limit(inst, held + opening * price, leverage)
        if reject is not None:
            return reject, intent
        if self._opening_margin(inst, intent, price) > self.available:
            return Reject(rules.INSUFFICIENT_AVAILABLE, "ab not enough for new order"), intent
        if intent.take_profit is not None or intent.stop_loss is not None:
            if pos is not None and pos.side is intent.side:
                size, value = pos.size + opening, pos.entry_value + opening * price
                margin = pos.margin + rules.initial_margin(opening * price, leverage)
            else:
                size, value = opening, opening * price
                margin = rules.initial_margin(value, leverage)
            liq = rules.liquidation_price(inst, intent.side, value / size, size, leverage, margin)
            reject = rules.check_stops(intent.side, last, intent.take_profit, intent.stop_loss, liq)
            if reject is not None:
                return reject, intent
        return None, intent

    def _opening_margin(self, inst: Instrument, intent: OrderIntent, price: Decimal) -> Decimal:
        pos = self._pos.get(intent.symbol)
        opening = intent.qty
        if pos is not None and pos.side is not intent.side:
            opening = max(intent.qty - pos.size, ZERO)
        if opening == 0:
            return ZERO
        value = opening * price
        return rules.initial_margin(value, self.leverage(intent.symbol)) + rules.trade_fee(
            opening, price, self.taker_fee
        )

    def _execute(
        self,
        inst: Instrument,
        order: Order,
        qty: Decimal,
        price: Decimal,
        is_maker: bool,
        now: int,
        events: list[Event],
        stop_kind: StopKind | None = None,
    ) -> None:
        sym = order.symbol
        side = order.side
        rate = self.maker_fee if is_maker else self.taker_fee
        fee = rules.trade_fee(qty, price, rate)
        pos = self._pos.get(sym)
        realised = ZERO
        closed = ZERO
        if pos is not None and pos.side is not side:
            closed = min(qty, pos.size)
            full = closed == pos.size
            entry_part = pos.entry_value if full else rules.money(pos.entry_value * closed / pos.size)
            realised = rules.money((closed * price - entry_part) * pos.side.sign)
            pos.margin -= pos.margin if full else rules.money(pos.margin * closed / pos.size)
            pos.size -= closed
            pos.entry_value -= entry_part
            if full:
                del self._pos[sym]
                pos = None
            else:
                self._reprice(inst, pos)
        opening = qty - closed
        if opening > 0:
            if pos is None:
                pos = _Pos(side, self.leverage(sym), now)
                self._pos[sym] = pos
            value = opening * price
            pos.size += opening
            pos.entry_value += value
            pos.margin += rules.initial_margin(value, pos.leverage)
            if order.take_profit is not None:
                pos.tp = order.take_profit
            if order.stop_loss is not None:
                pos.sl = order.stop_loss
            self._reprice(inst, pos)
        self.balance += realised - fee
        filled = _with_status(order, OrderStatus.FILLED, qty)
        exec_type = ExecType.TRADE
        fill = Fill(
            self._next_id("e"),
            order.order_id,
            order.client_id,
            sym,
            side,
            qty,
            price,
            fee,
            rate,
            is_maker,
            exec_type,
            realised,
            now,
            closed,
            stop_kind,
        )
        events.append(OrderFilled(fill, filled))
        events.append(PositionChanged(sym, self._snapshot(sym, pos) if pos is not None else None, now))

    def _reprice(self, inst: Instrument, pos: _Pos) -> None:
        entry = pos.entry
        pos.liq = rules.liquidation_price(inst, pos.side, entry, pos.size, pos.leverage, pos.margin)
        pos.bust = rules.bankruptcy_price(pos.side, entry, pos.size, pos.margin)
        pos.refresh_triggers()

    def _adverse(self, sym: str, pos: _Pos, bar: Bar, now: int, events: list[Event]) -> None:
        """The adverse path of a bar reached the position's first adverse level (SL or liquidation)."""
        sl_f = float(pos.sl) if pos.sl is not None else None
        kind, trigger = intrabar.adverse_hit(pos.side is Side.BUY, bar.open, bar.high, bar.low, sl_f, float(pos.liq))
        if kind == intrabar.LIQUIDATION:
            self._liquidate(sym, pos, bar, now, events)
        elif kind == intrabar.STOP_LOSS:
            inst = self.instruments[sym]
            price = rules.slipped_price(inst, pos.side.opposite, trigger, self.slippage, bar.low, bar.high)
            self._stop_fill(inst, pos, price, StopKind.STOP_LOSS, now, events)

    def _stop_fill(
        self, inst: Instrument, pos: _Pos, price: Decimal, kind: StopKind, now: int, events: list[Event]
    ) -> None:
        intent = OrderIntent("", inst.symbol, pos.side.opposite, pos.size, reduce_only=True)
        order = self._new_order(intent, now)
        self._execute(inst, order, pos.size, price, False, now, events, kind)

    def _liquidate(self, sym: str, pos: _Pos, bar: Bar, now: int, events: list[Event]) -> None:
        mark = self.instruments[sym].round_price(
            bar.open
            if (bar.open <= float(pos.liq) if pos.side is Side.BUY else bar.open >= float(pos.liq))
            else float(pos.liq)
        )
        realised = -pos.margin
        self.balance += realised
        del self._pos[sym]
        intent = OrderIntent("", sym, pos.side.opposite, pos.size, reduce_only=True)
        order = _with_status(self._new_order(intent, now), OrderStatus.FILLED, pos.size)
        fill = Fill(
            self._next_id("e"),
            order.order_id,
            "",
            sym,
            pos.side.opposite,
            pos.size,
            pos.bust,
            ZERO,
            ZERO,
            False,
            ExecType.BUST_TRADE,
            realised,
            now,
            pos.size,
        )
        events.append(Liquidated(fill, pos.liq, mark))
        events.append(PositionChanged(sym, None, now))

    def _fill_resting(self, sym: str, book: dict[str, _Resting], bar: Bar, now: int, events: list[Event]) -> None:
        inst = self.instruments[sym]
        for oid, r in list(book.items()):
            buy = r.order.side is Side.BUY
            if (bar.low < r.price_f) if buy else (bar.high > r.price_f):
                del book[oid]
                order = r.order
                if order.reduce_only:
                    pos = self._pos.get(sym)
                    if pos is None or pos.side is order.side:
                        events.append(self._cancelled(order, "EC_ReduceOnlyNoPosition", now))
                        continue
                    qty = min(order.qty, pos.size)
                else:
                    qty = order.qty
                self._execute(inst, order, qty, order.price, True, now, events)  # type: ignore[arg-type]
                pos = self._pos.get(sym)
                if (
                    pos is not None
                    and pos.sl is not None
                    and (bar.low <= pos.adverse_f if pos.side is Side.BUY else bar.high >= pos.adverse_f)
                ):
                    self._adverse(sym, pos, bar._replace(open=r.price_f), now, events)
        if not book:
            self._resting.pop(sym, None)

    def _snapshot(self, sym: str, pos: _Pos) -> Position:
        return Position(
            sym,
            pos.side,
            pos.size,
            rules.money(pos.entry),
            pos.leverage,
            pos.margin,
            pos.liq,
            pos.bust,
            pos.tp,
            pos.sl,
            pos.opened_ts,
        )

    def _new_order(self, intent: OrderIntent, now: int) -> Order:
        return Order.new(self._next_id("o"), intent, now)

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{self.id_prefix}{prefix}{self._seq:010d}"

    def _reject(self, intent: OrderIntent, reject: Reject, now: int) -> OrderRejected:
        return OrderRejected(intent.client_id, intent.symbol, reject.code, reject.message, now)

    def _cancelled(self, order: Order, reason: str, now: int) -> OrderCancelled:
        return OrderCancelled(_with_status(order, OrderStatus.CANCELLED, order.filled_qty), reason, now)


def _with_status(order: Order, status: OrderStatus, filled: Decimal) -> Order:
    return Order(
        order.order_id,
        order.client_id,
        order.symbol,
        order.side,
        order.qty,
        order.order_type,
        order.price,
        order.tif,
        order.reduce_only,
        status,
        filled,
        order.created_ts,
        order.take_profit,
        order.stop_loss,
    )


def _replace_qty(intent: OrderIntent, qty: Decimal) -> OrderIntent:
    return OrderIntent(
        intent.client_id,
        intent.symbol,
        intent.side,
        qty,
        intent.order_type,
        intent.price,
        intent.tif,
        intent.reduce_only,
        intent.take_profit,
        intent.stop_loss,
        intent.leverage,
    )

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
- Mark price: per symbol, the last price plus an offset (``set_mark_offset``; zero unless a test sets one).
  Without a recorded mark series the mark *is* the last price in the sim (the bar's path and extremes stand in
  for it; conservative: the real mark is smoother); the emulator's tests move it away to show what depends on
  it. A replay of a store with mark-price bars hands each one over (``set_mark_bar``) and liquidation of that
  minute triggers on the mark bar (stops, take-profits, funding and unrealised PnL stay on the last price).
  The mark (last + offset) values unrealised PnL and funding, and is the base the stop rules check a
  ``MarkPrice`` stop against.
- TP/SL are attached to the position and rest on the exchange; they trigger on the last price or, when their
  trigger is ``MarkPrice`` (``OrderIntent.stop_trigger`` / ``set_trading_stop``), on the mark price, and fill
  as market orders (taker fee, slippage) at the last price of that moment. With mark == last both give the
  same fills.
- Liquidation triggers on the mark price. A liquidated position is closed at the bankruptcy price: the whole
  position margin is lost; no closing fee is charged on top.
- Levels on the mark path are translated onto the bar (the last path) by the offset, see ``positions.py``.
- Conservative intrabar rule, per bar: first the adverse path from the open (a gap through a stop fills at
  the open; otherwise the nearer of stop-loss and liquidation price on the adverse side is hit first), then
  resting limit orders (a new position's stop-loss is checked against the rest of the bar), then the
  favourable path (take-profit). So when SL and TP both lie inside one bar, the SL fills first.
- Funding at each settlement: size x mark x rate from the wallet; longs pay positive rates.
- At most 500 resting orders per symbol (110020); ``cancel_all`` may be capped (Bybit: 500 per call).
"""

from __future__ import annotations

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
    TriggerBy,
)
from omni.exchange import intrabar, rules
from omni.exchange.positions import PosState as _Pos
from omni.exchange.positions import Resting as _Resting
from omni.exchange.positions import replace_qty as _replace_qty
from omni.exchange.positions import with_status as _with_status
from omni.exchange.rules import Reject

_EMPTY: tuple[Event, ...] = ()
_INF = float("inf")
#: Bybit: at most 500 active orders per symbol (110020 "Not allowed to have more than 500 active orders.")
MAX_ACTIVE_ORDERS = 500
TOO_MANY_ORDERS = 110020


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
        self._mark_off: dict[str, Decimal] = {}  # mark - last, per symbol (absent = 0)
        #: recorded mark-price bars for the next on_bar of their symbol: (ts, open, high, low, close)
        self._mark_bar: dict[str, tuple[int, float, float, float, float]] = {}
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

    def mark_price(self, symbol: str) -> Decimal | None:
        """Mark price: the last price plus the symbol's mark offset (the last price itself unless one is set)."""
        last = self.last_price(symbol)
        off = self._mark_off.get(symbol)
        return last if last is None or off is None else last + off

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
        """Unrealised PnL of all positions at the mark price."""
        total = ZERO
        for sym, p in self._pos.items():
            mark = self.mark_price(sym)
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
            pos = _Pos(p.side, p.leverage, p.opened_ts, self._mark_off.get(p.symbol, ZERO))
            pos.size = p.size
            pos.entry_value = p.entry_price * p.size
            pos.margin = p.margin
            pos.tp, pos.sl = p.take_profit, p.stop_loss
            self._reprice(inst, pos)
            self._pos[p.symbol] = pos
            self._leverage[p.symbol] = p.leverage

    # ------------------------------------------------------------ commands

    def set_mark_offset(self, symbol: str, offset: Decimal) -> None:
        """Make the symbol's mark price the last price + ``offset`` (0 = mark is last), from the next bar on.

        A test hook (the emulator's ``set_mark_offset`` / ``pin_mark``): recorded bars carry no mark series.
        Nothing triggers here; the next bar checks the position's levels against the new mark.
        """
        if offset:
            self._mark_off[symbol] = offset
        else:
            self._mark_off.pop(symbol, None)
        pos = self._pos.get(symbol)
        if pos is not None:
            pos.mark_off = offset
            pos.refresh_triggers()

    def transfer(self, amount: Decimal) -> Reject | None:
        """Money into (> 0) or out of (< 0) the wallet; out only from the available balance."""
        if amount < 0 and -amount > self.available:
            return Reject(rules.INSUFFICIENT_AVAILABLE, "Insufficient available balance.")
        self.balance += amount
        return None

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
        crossing = intent.order_type is OrderType.MARKET or (
            intent.price >= last if intent.side is Side.BUY else intent.price <= last  # type: ignore[operator]
        )
        book = self._resting.get(intent.symbol)
        if not crossing and intent.tif is not TimeInForce.IOC and book and len(book) >= MAX_ACTIVE_ORDERS:
            too_many = Reject(TOO_MANY_ORDERS, "Not allowed to have more than 500 active orders.")
            return [self._reject(intent, too_many, now)]
        if intent.client_id:
            self._link_ids.add(intent.client_id)
        order = self._new_order(intent, now)
        events: list[Event] = [OrderAccepted(order, now)]
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

    def cancel_all(self, now: int, symbol: str | None = None, limit: int | None = None) -> list[Event]:
        """Cancel resting orders (of ``symbol``, or all), at most ``limit`` of them: oldest symbols first,
        each symbol's in placement order (Bybit cancels up to 500 per call, picked at random)."""
        events: list[Event] = []
        for sym in [symbol] if symbol else list(self._resting):
            book = self._resting.get(sym, {})
            for oid in list(book):
                if limit is not None and len(events) >= limit:
                    return events
                events.append(self._cancelled(book.pop(oid).order, "CancelAll", now))
            if not book:
                self._resting.pop(sym, None)
        return events

    def set_trading_stop(
        self, symbol: str, now: int, take_profit: Decimal | None = None, stop_loss: Decimal | None = None,
        *, tp_trigger: TriggerBy | None = None, sl_trigger: TriggerBy | None = None,
    ) -> list[Event]:  # fmt: skip
        """Attach/replace the position's TP and SL (Bybit /v5/position/trading-stop); a trigger left None keeps
        the level's current one (LastPrice for a new level)."""
        pos = self._pos.get(symbol)
        if pos is None:
            return [StopRejected(symbol, Side.BUY, rules.PARAM_ERROR, "can not set tp/sl/ts for zero position", now)]
        inst = self.instruments[symbol]
        for name, level in (("TakeProfit", take_profit), ("StopLoss", stop_loss)):
            if level is not None and not inst.on_tick(level):
                return [StopRejected(symbol, pos.side, rules.PARAM_ERROR, f"{name}:{level} is not on tickSize", now)]
        tp_by = pos.tp_by if take_profit is None or tp_trigger is None else tp_trigger
        sl_by = pos.sl_by if stop_loss is None or sl_trigger is None else sl_trigger
        reject = self._check_stops(symbol, pos.side, take_profit, stop_loss, pos.liq, tp_by, sl_by)
        if reject is not None:
            return [StopRejected(symbol, pos.side, reject.code, reject.message, now)]
        if take_profit is not None:
            pos.tp, pos.tp_by = take_profit, tp_by
        if stop_loss is not None:
            pos.sl, pos.sl_by = stop_loss, sl_by
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

    def holds(self, symbol: str) -> bool:
        """True while the symbol has an open position."""
        return symbol in self._pos

    def set_mark_bar(self, symbol: str, ts: int, open_: float, high: float, low: float, close: float) -> None:
        """The recorded mark-price bar of ``symbol`` opening at ``ts``: the next ``on_bar`` of that minute checks the
        liquidation price against it (its open for a gap, its extreme otherwise) instead of the last-price bar."""
        self._mark_bar[symbol] = (ts, open_, high, low, close)

    def on_bar(self, bar: Bar) -> list[Event] | tuple[Event, ...]:
        """Advance one symbol by one closed bar; returns the fills it caused (usually none)."""
        sym = bar.symbol
        self._bar[sym] = bar
        pos = self._pos.get(sym)
        book = self._resting.get(sym)
        if self._mark_bar:
            mark = self._mark_bar.pop(sym, None)
            if mark is not None and mark[0] == bar.ts and pos is not None:
                return self._on_bar_marked(sym, pos, book, bar, mark)
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

    def _on_bar_marked(
        self, sym: str, pos: _Pos, book: dict[str, _Resting] | None, bar: Bar,
        mark: tuple[int, float, float, float, float],
    ) -> list[Event]:  # fmt: skip
        """``on_bar`` for a position whose symbol has a recorded mark bar this minute: the stop-loss on the last-price
        bar (the intrabar rule without the liquidation level), liquidation on the mark bar. When both are reached in
        one bar the stop-loss comes first (it is nearer: the sizer puts liquidation beyond it) unless the mark opened
        through the liquidation price."""
        events: list[Event] = []
        now = bar.ts + bar.minutes * 60_000
        long = pos.side is Side.BUY
        liq = float(pos.liq)
        _, m_open, m_high, m_low, _ = mark
        if m_open <= liq if long else m_open >= liq:
            self._liquidate(sym, pos, bar, now, events, self.instruments[sym].round_price(m_open))
            return events
        kind, trigger = intrabar.adverse_hit(long, bar.open, bar.high, bar.low, pos.sl_f, -_INF if long else _INF)
        if kind == intrabar.STOP_LOSS:
            inst = self.instruments[sym]
            price = rules.slipped_price(inst, pos.side.opposite, trigger, self.slippage, bar.low, bar.high)
            self._stop_fill(inst, pos, price, StopKind.STOP_LOSS, now, events)
        elif m_low <= liq if long else m_high >= liq:
            self._liquidate(sym, pos, bar, now, events, pos.liq)
            return events
        if book:
            self._fill_resting(sym, book, bar, now, events)
        pos_now = self._pos.get(sym)
        if pos_now is not None and pos_now.tp is not None:
            hit = intrabar.favourable_hit(long, bar.open, bar.high, bar.low, pos_now.tp_f)
            if hit is not None:
                inst = self.instruments[sym]
                price = rules.slipped_price(inst, pos_now.side.opposite, hit, self.slippage, bar.low, bar.high)
                self._stop_fill(inst, pos_now, price, StopKind.TAKE_PROFIT, now, events)
        return events

    def on_funding(self, funding: Funding) -> list[Event] | tuple[Event, ...]:
        """Settle funding on the symbol's open position at ``funding.ts``."""
        pos = self._pos.get(funding.symbol)
        if pos is None:
            return _EMPTY
        mark = self.mark_price(funding.symbol)
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
            trigger = intent.stop_trigger
            reject = self._check_stops(intent.symbol, intent.side, intent.take_profit, intent.stop_loss, liq,
                                       trigger, trigger)  # fmt: skip
            if reject is not None:
                return reject, intent
        return None, intent

    def _check_stops(
        self, symbol: str, side: Side, take_profit: Decimal | None, stop_loss: Decimal | None,
        liq: Decimal | None, tp_by: TriggerBy, sl_by: TriggerBy,
    ) -> Reject | None:  # fmt: skip
        """Bybit's TP/SL direction rules, each level against the price it triggers on (last or mark)."""
        checks = [(take_profit, stop_loss, sl_by)] if tp_by is sl_by else [(None, stop_loss, sl_by),
                                                                            (take_profit, None, tp_by)]  # fmt: skip
        for tp, sl, by in checks:
            mark = by is TriggerBy.MARK_PRICE
            base = self.mark_price(symbol) if mark else self.last_price(symbol)
            assert base is not None
            reject = rules.check_stops(side, base, tp, sl, liq)
            if reject is not None:
                return Reject(reject.code, reject.message.replace("??LastPrice", "??MarkPrice")) if mark else reject
        return None

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
                pos = _Pos(side, self.leverage(sym), now, self._mark_off.get(sym, ZERO))
                self._pos[sym] = pos
            value = opening * price
            pos.size += opening
            pos.entry_value += value
            pos.margin += rules.initial_margin(value, pos.leverage)
            if order.take_profit is not None:
                pos.tp, pos.tp_by = order.take_profit, order.stop_trigger
            if order.stop_loss is not None:
                pos.sl, pos.sl_by = order.stop_loss, order.stop_trigger
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
        kind, trigger = intrabar.adverse_hit(pos.side is Side.BUY, bar.open, bar.high, bar.low, pos.sl_f, pos.liq_f)
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

    def _liquidate(
        self, sym: str, pos: _Pos, bar: Bar, now: int, events: list[Event], mark_at: Decimal | None = None
    ) -> None:
        # the mark when liquidated: the liquidation price, or the open (on the mark path) if the bar gapped through
        gapped = bar.open <= pos.liq_f if pos.side is Side.BUY else bar.open >= pos.liq_f
        if mark_at is not None:
            mark = mark_at
        elif pos.mark_off:
            mark = self.instruments[sym].round_price(bar.open) + pos.mark_off if gapped else pos.liq
        else:
            mark = self.instruments[sym].round_price(bar.open if gapped else float(pos.liq))
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

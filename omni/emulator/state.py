"""EmulatorState: the emulated exchange behind the REST (and later WS) front: accounts, market, history.

Every account is one ``MatchingEngine`` (the one implementation of Bybit's rules); this module only keeps
Bybit's bookkeeping around it: public order ids and ``orderLinkId`` uniqueness, order history, executions
with a monotonic ``seq``, kline history, tickers, and the listeners the WebSocket layer hangs on.

Time: the market advances bar by bar (``advance``) and every engine action is stamped with market time (the
last batch's ts), so order, execution, transaction-log and kline times stay consistent. ``now_ms()`` is the
server clock (wall time by default) used for signatures, rate limits and /v5/market/time.

Mark price: bars carry no mark series, so a symbol's mark price is its last price (tickers' ``markPrice`` and
``indexPrice``, positions' ``markPrice`` and unrealised PnL, funding, executions' ``markPrice``) unless a test
moves it with ``set_mark_offset(symbol, offset)`` (mark = last + offset from then on) or ``pin_mark(symbol,
price)`` (the offset that puts the mark at ``price`` now; it then moves with the last price). Liquidation
triggers on the mark; a position's TP/SL on the last price or on the mark, as its trigger (``tpTriggerBy``/
``slTriggerBy``) says. A new offset is checked against positions from the next bar on (see
``omni.exchange.matching``).

Money: every cash change of an account is a row of its transaction log (``ledger.py``); ``transfer`` moves money
in or out (a test's top-up, or demo trading's demo-apply-money) and pushes ``wallet``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import structlog

from omni.clock import Clock, LiveClock
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
from omni.domain.market import MINUTE_MS, Bar, Funding, MarketBatch
from omni.domain.orders import ExecType, Order, OrderIntent, OrderStatus, OrderType, TimeInForce, TriggerBy
from omni.emulator.account import Account, AccountConfig, Listener, OrderRecord, StateError
from omni.emulator.chaos import chaos_event
from omni.exchange import rules
from omni.venues import bybit_codec as codec
from omni.venues import bybit_codec_trading as trading_codec
from omni.venues.bybit_codec_account import Transaction

__all__ = ["OPEN", "Account", "AccountConfig", "EmulatorState", "OrderRecord", "StateError"]

log = structlog.get_logger(__name__)

OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
#: Bybit's base funding rate (0.01 % per 8 h) shown before a symbol's first settlement
DEFAULT_FUNDING_RATE = Decimal("0.0001")
_USER_CANCELS = {"CancelByUser": "CancelByUser", "CancelAll": "CancelByUser"}
#: what Bybit reports for a market (IOC) order it cancelled without filling it all (cancelType stays "UNKNOWN")
NO_FULL_FILL = "EC_CancelForNoFullFill"
_HOUR_MS = 3_600_000
#: Bybit's cancel-all cancels at most this many orders per call (docs/v5/order/cancel-all)
CANCEL_ALL_MAX = 500


def _intent_of(order: Order, cid: str) -> OrderIntent:
    return OrderIntent(cid, order.symbol, order.side, order.qty, order.order_type, order.price, order.tif,
                       order.reduce_only, order.take_profit, order.stop_loss, None, order.stop_trigger)  # fmt: skip


class EmulatorState:
    """Accounts, a market source advanced bar by bar, and the public data derived from it."""

    def __init__(
        self,
        instruments: dict[str, Instrument],
        market: Iterable[MarketBatch],
        accounts: Sequence[AccountConfig],
        *,
        clock: Clock | None = None,
        history_bars: int = 1440,
        kline_intervals: Sequence[int] = (1, 3, 5),
    ):
        if not accounts:
            raise ValueError("the emulator needs at least one API key pair")
        self.instruments = instruments
        self.clock: Clock = clock or LiveClock()
        now = self.clock.now_ms()
        self.accounts = {c.api_key: Account(c, instruments, 100_001 + i, now) for i, c in enumerate(accounts)}
        self.secrets = {c.api_key: c.api_secret for c in accounts}
        #: called with (topic, data) for every public update ("kline.<m>.<SYM>": [kline item], "tickers.<SYM>":
        #: [ticker item]) and every account's private change ("order", "execution", "position", "wallet": items
        #: in Bybit's private stream shapes); with several accounts use ``Account.listeners`` to route private data
        self.listeners: list[Listener] = []
        #: set by the WebSocket hub: does any socket want this public topic (or, given a symbol, its book/trades)?
        self.public_wanted: Callable[[str], bool] | None = None
        self.kline_intervals = tuple(kline_intervals)
        self.market_ts = 0
        self.exhausted = False
        self._source = iter(market)
        self._history: dict[str, deque[Bar]] = {s: deque(maxlen=history_bars) for s in instruments}
        self._fundings: dict[str, list[Funding]] = {s: [] for s in instruments}
        # rolling figures over the history, for tickers: [volume, turnover, high, low] (high/low NaN = recompute)
        self._sums: dict[str, list[float]] = {s: [0.0, 0.0, math.nan, math.nan] for s in instruments}
        #: chaos: asked with each accepted-to-be market order (not reduce-only); True cancels it unfilled
        self.cancel_market_roll: Callable[[], bool] | None = None
        self._cancel_markets = 0
        self._mark_off: dict[str, Decimal] = {}  # mark - last per symbol (test hooks); absent = 0

    def now_ms(self) -> int:
        """Server time, epoch ms."""
        return self.clock.now_ms()

    def account(self, api_key: str) -> Account:
        return self.accounts[api_key]

    # ------------------------------------------------------------ market

    def advance(self, n: int = 1) -> list[Event]:
        """Feed the next ``n`` market batches to every account; returns the events (all accounts, in order)."""
        out: list[Event] = []
        for _ in range(n):
            batch = next(self._source, None)
            if batch is None:
                self.exhausted = True
                break
            self.market_ts = batch.ts
            per_account: dict[str, list[Event]] = {k: [] for k in self.accounts}
            for bar in batch.bars:
                if not self._record(bar):
                    continue
                for key, acct in self.accounts.items():
                    ev = acct.engine.on_bar(bar)
                    if ev:
                        per_account[key].extend(ev)
            for funding in batch.fundings:
                if funding.symbol in self._fundings:
                    self._fundings[funding.symbol].append(funding)
                    for key, acct in self.accounts.items():
                        per_account[key].extend(acct.engine.on_funding(funding))
            for key, events in per_account.items():
                if events:
                    self._apply(self.accounts[key], events)
                    out.extend(events)
            if self.listeners:
                self._publish_public(batch)
        return out

    def _record(self, bar: Bar) -> bool:
        hist = self._history.get(bar.symbol)
        if hist is None:
            return False
        sums = self._sums[bar.symbol]
        if len(hist) == hist.maxlen:
            old = hist[0]
            sums[0] -= old.volume
            sums[1] -= old.volume * old.close
            if old.high >= sums[2] or old.low <= sums[3]:
                sums[2] = sums[3] = math.nan
        hist.append(bar)
        sums[0] += bar.volume
        sums[1] += bar.volume * bar.close
        if sums[2] == sums[2]:  # not NaN
            sums[2], sums[3] = max(sums[2], bar.high), min(sums[3], bar.low)
        elif len(hist) == 1:
            sums[2], sums[3] = bar.high, bar.low
        return True

    def bars(self, symbol: str) -> deque[Bar]:
        return self._history[symbol]

    def fundings(self, symbol: str) -> list[Funding]:
        return self._fundings[symbol]

    def last_price(self, symbol: str) -> Decimal | None:
        hist = self._history.get(symbol)
        return self.instruments[symbol].round_price(hist[-1].close) if hist else None

    def mark_price(self, symbol: str) -> Decimal | None:
        """The symbol's mark price: the last price plus its mark offset (none unless a test set one)."""
        last = self.last_price(symbol)
        off = self._mark_off.get(symbol)
        return last if last is None or off is None else last + off

    def set_mark_offset(self, symbol: str, offset: Decimal) -> None:
        """Test hook: from now on the mark price is the last price + ``offset`` (0 = back to the last price).

        Every account's positions are checked against the new mark from the next bar on: liquidation and
        ``MarkPrice`` stops on the mark, ``LastPrice`` stops on the last price.
        """
        inst = self.instruments[symbol]
        if not inst.on_tick(offset):
            raise ValueError(f"mark offset {offset} is not on {symbol}'s tick {inst.tick_size}")
        if offset:
            self._mark_off[symbol] = offset
        else:
            self._mark_off.pop(symbol, None)
        for acct in self.accounts.values():
            acct.engine.set_mark_offset(symbol, offset)

    def pin_mark(self, symbol: str, price: Decimal) -> None:
        """Test hook: put the mark at ``price`` now (``set_mark_offset(symbol, price - last)``); the mark then
        moves with the last price, keeping that gap."""
        last = self.last_price(symbol)
        if last is None:
            raise ValueError(f"{symbol} has no last price yet")
        self.set_mark_offset(symbol, price - last)

    def funding_rate(self, symbol: str) -> Decimal:
        done = self._fundings[symbol]
        return Decimal(repr(done[-1].rate)) if done else DEFAULT_FUNDING_RATE

    def next_funding_ts(self, symbol: str) -> int:
        interval = self.instruments[symbol].funding_interval_min * MINUTE_MS
        return (self.market_ts // interval + 1) * interval

    def book(self, symbol: str, depth: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """A synthetic book around the last price: level i at last -/+ (i+1) ticks, sizes from the last bar."""
        inst, hist = self.instruments[symbol], self._history[symbol]
        if not hist:
            return [], []
        last = inst.round_price(hist[-1].close)
        base = max(inst.round_qty(hist[-1].volume / 20), inst.min_qty)
        bids, asks = [], []
        for i in range(depth):
            size = inst.round_qty(base * (1 + Decimal(i) / 4))
            if last - (i + 1) * inst.tick_size > 0:
                bids.append((last - (i + 1) * inst.tick_size, size))
            asks.append((last + (i + 1) * inst.tick_size, size))
        return bids, asks

    def candles(self, symbol: str, minutes: int) -> list[Bar]:
        """The stored history aggregated to ``minutes`` candles, oldest first (the last may be unfinished)."""
        span = minutes * MINUTE_MS
        out: list[Bar] = []
        for b in self._history[symbol]:
            start = b.ts - b.ts % span
            if out and out[-1].ts == start:
                c = out[-1]
                out[-1] = c._replace(high=max(c.high, b.high), low=min(c.low, b.low), close=b.close,
                                     volume=c.volume + b.volume)  # fmt: skip
            else:
                out.append(Bar(symbol, start, b.open, b.high, b.low, b.close, b.volume, minutes))
        return out

    def ticker(self, symbol: str) -> dict[str, Any]:
        """A /v5/market/tickers linear item; its "24h" figures cover the stored history (1440 bars by default)."""
        inst, hist = self.instruments[symbol], self._history[symbol]
        r = inst.round_price
        hour = hist[-min(len(hist), _HOUR_MS // (hist[-1].minutes * MINUTE_MS))]
        last, prev = r(hist[-1].close), r(hist[0].open)
        mark = last + self._mark_off.get(symbol, ZERO)
        sums = self._sums[symbol]
        if sums[2] != sums[2]:  # NaN: the evicted bar held an extreme
            sums[2], sums[3] = max(b.high for b in hist), min(b.low for b in hist)
        vol, turn, high, low = sums
        volume, turnover = inst.round_qty(max(vol, 0.0)), Decimal(repr(max(turn, 0.0)))
        (bid, bid_size), (ask, ask_size) = (lvl[0] if lvl else (ZERO, ZERO) for lvl in self.book(symbol, 1))
        s = codec.dstr
        return {
            "symbol": symbol, "lastPrice": s(last), "indexPrice": s(mark), "markPrice": s(mark),
            "prevPrice24h": s(prev), "price24hPcnt": s(((last - prev) / prev).quantize(Decimal("0.000001"))),
            "highPrice24h": s(r(high)), "lowPrice24h": s(r(low)),
            "prevPrice1h": s(r(hour.open)), "openInterest": "0", "openInterestValue": "0",
            "turnover24h": s(turnover.quantize(Decimal("0.0001"))), "volume24h": s(volume),
            "fundingRate": s(self.funding_rate(symbol)), "nextFundingTime": str(self.next_funding_ts(symbol)),
            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0",
            "ask1Size": s(ask_size), "bid1Price": s(bid), "ask1Price": s(ask), "bid1Size": s(bid_size), "basis": "",
            "preOpenPrice": "", "preQty": "", "curPreListingPhase": "",
            "fundingIntervalHour": str(inst.funding_interval_min // 60), "fundingCap": s(codec.FUNDING_CAP),
        }  # fmt: skip

    def _kline_item(self, symbol: str, minutes: int) -> dict[str, Any]:
        hist, span = self._history[symbol], minutes * MINUTE_MS
        start = hist[-1].ts - hist[-1].ts % span
        part = []  # the current candle's bars, newest first (only these: this runs per symbol per bar)
        for b in reversed(hist):
            if b.ts < start:
                break
            part.append(b)
        bar = Bar(symbol, start, part[-1].open, max(b.high for b in part), min(b.low for b in part), part[0].close,
                  sum(b.volume for b in part), minutes)  # fmt: skip
        _, o, h, lo, c, v, t = codec.bar_to_kline_row(bar, self.instruments[symbol])
        return {"start": bar.ts, "end": bar.ts + span - 1, "interval": str(minutes), "open": o, "close": c,
                "high": h, "low": lo, "volume": v, "turnover": t, "confirm": self.market_ts >= bar.ts + span,
                "timestamp": self.market_ts}  # fmt: skip

    def _publish_public(self, batch: MarketBatch) -> None:
        # with the WebSocket hub as the only listener, build only what some socket subscribed to (a ticker per
        # symbol per bar is the emulator's main cost on a 500-symbol market)
        wanted = self.public_wanted if len(self.listeners) == 1 else None
        for bar in batch.bars:
            sym = bar.symbol
            if sym not in self.instruments:
                continue
            for m in self.kline_intervals:
                topic = f"kline.{m}.{sym}"
                if m % bar.minutes == 0 and (wanted is None or wanted(topic)):
                    self._emit(self.listeners, topic, [self._kline_item(sym, m)])
            topic = f"tickers.{sym}"
            if wanted is None or wanted(topic) or wanted(sym):
                self._emit(self.listeners, topic, [self.ticker(sym)])

    # ------------------------------------------------------------ orders

    def cancel_next_market_orders(self, n: int = 1) -> None:
        """Chaos test hook: the next ``n`` accepted market orders (not reduce-only) are cancelled unfilled.

        Each is accepted (create returns its orderId), then the exchange cancels it at once: the ``order`` stream
        pushes New then Cancelled (cancelType "UNKNOWN", rejectReason "EC_CancelForNoFullFill"), no execution.
        """
        self._cancel_markets += n

    def place(self, api_key: str, intent: OrderIntent) -> OrderRecord:
        """Place one order; raises StateError with Bybit's code when refused (110072 for a reused orderLinkId)."""
        acct = self.account(api_key)
        link = intent.client_id
        if link and link in acct.by_link:
            raise StateError(rules.DUPLICATE_LINK_ID, "OrderLinkedID is duplicate")
        cid = acct.next_cid()
        last = acct.engine.last_price(intent.symbol)
        unfilled = (
            intent.order_type is OrderType.MARKET and not intent.reduce_only and last is not None
            and (self._cancel_markets > 0 or (self.cancel_market_roll is not None and self.cancel_market_roll()))
        )  # fmt: skip
        engine_intent = dataclasses.replace(intent, client_id=cid)
        if unfilled:  # post-only at the last price: validated like the market order, accepted, never filled
            engine_intent = dataclasses.replace(
                engine_intent, order_type=OrderType.LIMIT, price=last, tif=TimeInForce.POST_ONLY
            )
        events = acct.engine.place(engine_intent, self.market_ts)
        first = events[0]
        if isinstance(first, OrderRejected):
            raise StateError(first.code, first.message)
        assert isinstance(first, OrderAccepted)
        if unfilled:
            self._cancel_markets = max(0, self._cancel_markets - 1)
            events = self._as_unfilled_market(intent, events)
        oid = first.order.order_id
        rec = acct.orders[oid] = OrderRecord(dataclasses.replace(events[0].order, client_id=link), cid)
        acct.by_engine[oid] = oid
        if link:
            acct.by_link[link] = oid
        if unfilled:  # two pushes, as two things happened: accepted, then cancelled by the exchange
            self._apply(acct, events[:1], touched={intent.symbol})
            self._apply(acct, events[1:], touched={intent.symbol})
            chaos_event("cancel_market", order_id=oid, order_link_id=link, symbol=intent.symbol)
        else:
            self._apply(acct, events, touched={intent.symbol})
        return rec

    @staticmethod
    def _as_unfilled_market(intent: OrderIntent, events: list[Event]) -> list[Event]:
        """The engine's accepted-and-cancelled post-only order, shown as the market order the client sent."""
        out: list[Event] = []
        for ev in events:
            if isinstance(ev, OrderAccepted | OrderCancelled):
                order = dataclasses.replace(ev.order, order_type=OrderType.MARKET, price=None, tif=intent.tif)
                if isinstance(ev, OrderAccepted):
                    ev = OrderAccepted(order, ev.ts)
                else:
                    ev = OrderCancelled(order, NO_FULL_FILL, ev.ts)
            out.append(ev)
        return out

    def _open_record(self, acct: Account, symbol: str, order_id: str | None, link_id: str | None, what: str):
        rec = acct.find(order_id, link_id)
        if rec is None or rec.order.symbol != symbol or rec.order.status not in OPEN:
            raise StateError(rules.ORDER_NOT_FOUND, f"order not exists or too late to {what}")
        return rec

    def amend(
        self, api_key: str, symbol: str, order_id: str | None, link_id: str | None,
        qty: Decimal | None = None, price: Decimal | None = None,
    ) -> OrderRecord:  # fmt: skip
        """Change the qty and/or price of a resting limit order, keeping its orderId and orderLinkId.

        The engine has no amend: the order is cancelled and re-placed through the same engine (same rules);
        if the new order is refused, the original is put back and the refusal is raised.
        """
        acct = self.account(api_key)
        rec = self._open_record(acct, symbol, order_id, link_id, "replace")
        old = rec.order
        new_qty = old.qty if qty is None else qty
        new_price = old.price if price is None or old.order_type is OrderType.MARKET else price
        if new_qty == old.qty and new_price == old.price:
            raise StateError(10001, "The order remains unchanged as the parameters entered match the existing ones.")
        acct.engine.cancel(symbol, rec.engine_cid, self.market_ts)
        events = self._replace(acct, rec, dataclasses.replace(_intent_of(old, ""), qty=new_qty, price=new_price))
        if isinstance(events[0], OrderRejected):
            back = self._replace(acct, rec, _intent_of(old, ""))
            if isinstance(back[0], OrderRejected):  # the market moved so far that the original no longer fits
                rec.order = dataclasses.replace(old, status=OrderStatus.CANCELLED)
                rec.cancel_type, rec.updated_ts = "CancelByAmend", self.market_ts
                self._apply(acct, [], touched={symbol}, changed=[rec])
            else:
                self._apply(acct, back, touched={symbol})
            raise StateError(events[0].code, events[0].message)
        self._apply(acct, events, touched={symbol})
        return rec

    def _replace(self, acct: Account, rec: OrderRecord, intent: OrderIntent) -> list[Event]:
        cid = acct.next_cid()
        events = acct.engine.place(dataclasses.replace(intent, client_id=cid), self.market_ts)
        if isinstance(events[0], OrderAccepted):
            acct.by_engine[events[0].order.order_id] = rec.order.order_id
            rec.engine_cid = cid
        return events

    def cancel(self, api_key: str, symbol: str, order_id: str | None, link_id: str | None) -> OrderRecord:
        acct = self.account(api_key)
        rec = self._open_record(acct, symbol, order_id, link_id, "cancel")
        events = acct.engine.cancel(symbol, rec.engine_cid, self.market_ts)
        if isinstance(events[0], OrderRejected):  # open here but not resting there: should not happen
            raise StateError(rules.ORDER_NOT_FOUND, "order not exists or too late to cancel")
        self._apply(acct, events, touched={symbol})
        return rec

    def cancel_all(self, api_key: str, symbol: str | None = None) -> list[OrderRecord]:
        """Cancel the open orders (of ``symbol``, or all): at most 500 per call, as Bybit; the rest stay open."""
        acct = self.account(api_key)
        events = acct.engine.cancel_all(self.market_ts, symbol, CANCEL_ALL_MAX)
        self._apply(acct, events, touched={e.order.symbol for e in events if isinstance(e, OrderCancelled)})
        return [acct.orders[acct.by_engine[e.order.order_id]] for e in events if isinstance(e, OrderCancelled)]

    def set_leverage(self, api_key: str, symbol: str, leverage: Decimal) -> None:
        acct = self.account(api_key)
        reject = acct.engine.set_leverage(symbol, leverage)
        if reject is not None:
            raise StateError(reject.code, reject.message)
        self._apply(acct, [], touched={symbol})

    def trading_stop(
        self, api_key: str, symbol: str, take_profit: Decimal | None, stop_loss: Decimal | None,
        tp_trigger: TriggerBy | None = None, sl_trigger: TriggerBy | None = None,
    ) -> None:  # fmt: skip
        acct = self.account(api_key)
        events = acct.engine.set_trading_stop(symbol, self.market_ts, take_profit, stop_loss, tp_trigger=tp_trigger,
                                              sl_trigger=sl_trigger)  # fmt: skip
        if isinstance(events[0], StopRejected):
            raise StateError(events[0].code, events[0].message)
        self._apply(acct, events, touched={symbol})

    # ------------------------------------------------------------ account and money

    def set_margin_mode(self, api_key: str, mode: str) -> None:
        self.account(api_key).set_margin_mode(mode, self.now_ms())

    def switch_position_mode(self, api_key: str, mode: int, symbol: str | None = None) -> None:
        self.account(api_key).switch_position_mode(mode, symbol)

    def transfer(self, api_key: str, amount: Decimal) -> Transaction:
        """Money into (``amount`` > 0: a deposit, a top-up) or out of (< 0) the account's USDT wallet.

        Books a TRANSFER_IN / TRANSFER_OUT row at the exchange's time and pushes ``wallet``. Raises StateError
        (110007) for a withdrawal above the available balance, ValueError for a zero amount.
        """
        if not amount:
            raise ValueError("a transfer needs a non-zero amount")
        acct = self.account(api_key)
        reject = acct.engine.transfer(amount)
        if reject is not None:
            raise StateError(reject.code, reject.message)
        row = acct.ledger.book_transfer(amount, self.market_ts)
        data = [acct.wallet_item()]
        self._emit(acct.listeners, "wallet", data)
        self._emit(self.listeners, "wallet", data)
        return row

    # ------------------------------------------------------------ bookkeeping and listeners

    def _apply(
        self, acct: Account, events: Sequence[Event], touched: set[str] | None = None,
        changed: list[OrderRecord] | None = None,
    ) -> None:  # fmt: skip
        """Book engine events on the account and tell the listeners (Bybit's private stream shapes)."""
        ts = self.market_ts
        orders = [r.item(ws=True) for r in changed or ()]
        execs: list[dict[str, Any]] = []
        symbols = set(touched or ())
        for ev in events:
            if isinstance(ev, OrderAccepted):
                orders.append(acct.track(ev.order, ts).item(ws=True))
            elif isinstance(ev, OrderCancelled):
                rec = acct.track(ev.order, ts)
                if ev.reason in _USER_CANCELS:
                    rec.cancel_type = _USER_CANCELS[ev.reason]
                else:
                    rec.reject_reason = ev.reason
                orders.append(rec.item(ws=True))
            elif isinstance(ev, OrderFilled | Liquidated | FundingPaid):
                execs.append(self._book_fill(acct, ev, ts, orders))
            elif isinstance(ev, PositionChanged):
                symbols.add(ev.symbol)
                acct.updated[ev.symbol] = ev.ts
                if ev.position is None:
                    acct.fresh.add(ev.symbol)
        for s in symbols:
            acct.pos_seq[s] = acct.next_seq()
        if acct.ledger.cash != acct.engine.balance:  # an emulator bug: say so, keep serving from the engine's figure
            log.error("emulator_ledger_mismatch", ledger=str(acct.ledger.cash), wallet=str(acct.engine.balance))
            acct.ledger.cash = acct.engine.balance
        topics = [("order", orders), ("execution", execs), ("position", [acct.position_item(s, True) for s in symbols])]
        if orders or execs or symbols:
            topics.append(("wallet", [acct.wallet_item()]))
        for topic, data in topics:
            if data:
                self._emit(acct.listeners, topic, data)
                self._emit(self.listeners, topic, data)

    def _book_fill(self, acct: Account, ev: OrderFilled | Liquidated | FundingPaid, ts: int, orders: list) -> dict:
        fill = ev.fill
        rec = None
        if isinstance(ev, OrderFilled) and ev.order is not None:
            rec = acct.track(ev.order, ts, fill.stop_kind)
        elif isinstance(ev, Liquidated):
            order = Order(fill.order_id, "", fill.symbol, fill.side, fill.qty, OrderType.MARKET, None,
                          TimeInForce.IOC, True, OrderStatus.FILLED, fill.qty, fill.ts)  # fmt: skip
            rec = acct.track(order, ts)
            rec.create_type = "CreateByLiq"
        net = fill.realised_pnl - fill.fee
        if rec is not None:
            rec.cum_value += fill.qty * fill.price
            rec.cum_fee += fill.fee
            rec.closed_pnl += net
            fill = dataclasses.replace(fill, order_id=rec.order.order_id, client_id=rec.order.client_id)
            orders.append(rec.item(ws=True))
        sym = fill.symbol
        if sym in acct.fresh and fill.exec_type is not ExecType.FUNDING:
            acct.fresh.discard(sym)
            acct.cur_realised[sym] = ZERO
        acct.cur_realised[sym] = acct.cur_realised.get(sym, ZERO) + net
        acct.cum_realised[sym] = acct.cum_realised.get(sym, ZERO) + net
        leaves = rec.order.qty - rec.order.filled_qty if rec is not None and rec.order.status in OPEN else ZERO
        item = trading_codec.fill_to_item(fill, seq=acct.next_seq(), order=rec.order if rec else None,
                                  mark_price=acct.engine.mark_price(sym), leaves_qty=leaves)  # fmt: skip
        acct.executions.append((fill, item))
        acct.ledger.book_fill(fill)
        return item | {"category": codec.CATEGORY}

    @staticmethod
    def _emit(listeners: list[Listener], topic: str, data: list[dict[str, Any]]) -> None:
        for listener in list(listeners):
            try:
                listener(topic, data)
            except Exception:  # a broken listener must not corrupt the exchange state
                log.exception("emulator_listener_failed", topic=topic)

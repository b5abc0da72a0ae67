"""EmulatorState: the emulated exchange behind the REST and WebSocket fronts: accounts over a market.

Every account is one ``MatchingEngine`` (the one implementation of Bybit's rules) plus Bybit's bookkeeping
around it (``account.py``: public order ids and ``orderLinkId`` uniqueness, order history, executions with a
monotonic ``seq``, the transaction log and closed PnL). The public market data (bar history, tickers, book,
funding) is ``market.py``. This module moves the market bar by bar, routes orders to the accounts and hands
every change to the listeners the WebSocket layer hangs on.

Two clocks (see also ``server.py``):

- **market time** ``market_ts``: the close time of the last market batch fed (``advance``). Every record carries
  it: klines and tickers, orders (``createdTime``/``updatedTime``), executions (``execTime``), funding, the
  transaction log and closed PnL; "now" of the history queries' default windows is market time too. Between
  two bars the market clock stands still (an order placed then is stamped with the last bar's close).
- **server time** ``now_ms()``: the ``clock`` given (wall time by default). ``/v5/market/time``, the reply
  envelope's ``time``, socket frames' ``ts``/``creationTime``, the signature checks (``X-BAPI-TIMESTAMP`` within
  ``recv_window``, a socket auth's ``expires``) and the rate-limit windows use it: clients sign with their own
  wall clock whatever the market's speed.

At ``--speed 1`` with the default start the two agree to within a bar; at other speeds or another ``--start``
they do not, and a client must take market time from the bars (``kline.confirm`` / a batch's ``ts``).

Mark price: the last price plus an offset only tests set (``set_mark_offset`` / ``pin_mark``; see ``market.py``).
Liquidation triggers on the mark; a position's TP/SL on the last price or on the mark, as its trigger says; a
new offset is checked against positions from the next bar on (see ``omni.exchange.matching``).

Money: every cash change of an account is a row of its transaction log (``ledger.py``); ``transfer`` moves money
in or out (a test's top-up, or demo trading's demo-apply-money) and pushes ``wallet``.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import structlog

from omni.clock import Clock, LiveClock
from omni.domain.events import Event, OrderAccepted, OrderCancelled, OrderRejected, StopRejected
from omni.domain.instrument import Instrument
from omni.domain.market import Bar, Funding, MarketBatch
from omni.domain.orders import Order, OrderIntent, OrderStatus, OrderType, TimeInForce, TriggerBy
from omni.emulator.account import OPEN, Account, AccountConfig, Listener, OrderRecord, StateError
from omni.emulator.chaos import chaos_event
from omni.emulator.market import DEFAULT_FUNDING_RATE, MarketData
from omni.exchange import rules
from omni.venues.bybit_codec_account import Transaction

__all__ = ["DEFAULT_FUNDING_RATE", "OPEN", "Account", "AccountConfig", "EmulatorState", "OrderRecord", "StateError"]

log = structlog.get_logger(__name__)

#: what Bybit reports for a market (IOC) order it cancelled without filling it all (cancelType stays "UNKNOWN")
NO_FULL_FILL = "EC_CancelForNoFullFill"
#: Bybit's cancel-all cancels at most this many orders per call (docs/v5/order/cancel-all)
CANCEL_ALL_MAX = 500
#: the first account's UID; the n-th account's is FIRST_UID + n
FIRST_UID = 100_001


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
        self.accounts = {c.api_key: Account(c, instruments, FIRST_UID + i, now) for i, c in enumerate(accounts)}
        self.secrets = {c.api_key: c.api_secret for c in accounts}
        self.market = MarketData(instruments, history_bars, kline_intervals)
        #: called with (topic, data) for every public update ("kline.<m>.<SYM>": [kline item], "tickers.<SYM>":
        #: [ticker item]) and every account's private change ("order", "execution", "position", "wallet": items
        #: in Bybit's private stream shapes); with several accounts use ``Account.listeners`` to route private data
        self.listeners: list[Listener] = []
        #: set by the WebSocket hub: does any socket want this public topic (or, given a symbol, its book/trades)?
        self.public_wanted: Callable[[str], bool] | None = None
        self.exhausted = False
        #: market batches consumed from the source so far (a restart from a state file skips as many)
        self.batches = 0
        self._source = iter(market)
        #: chaos: asked with each accepted-to-be market order (not reduce-only); True cancels it unfilled
        self.cancel_market_roll: Callable[[], bool] | None = None
        self._cancel_markets = 0

    def now_ms(self) -> int:
        """Server time (the ``clock``: wall time by default), epoch ms: see the module docstring."""
        return self.clock.now_ms()

    @property
    def market_ts(self) -> int:
        """Market time, epoch ms: the close time of the last market batch fed (0 before the first)."""
        return self.market.market_ts

    @property
    def kline_intervals(self) -> tuple[int, ...]:
        return self.market.kline_intervals

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
            self.batches += 1
            self.market.market_ts = batch.ts
            per_account: dict[str, list[Event]] = {k: [] for k in self.accounts}
            for bar in batch.bars:
                if not self.market.record(bar):
                    continue
                for key, acct in self.accounts.items():
                    ev = acct.engine.on_bar(bar)
                    if ev:
                        per_account[key].extend(ev)
            for funding in batch.fundings:
                if self.market.record_funding(funding):
                    for key, acct in self.accounts.items():
                        per_account[key].extend(acct.engine.on_funding(funding))
            for key, events in per_account.items():
                if events:
                    self._apply(self.accounts[key], events)
                    out.extend(events)
            if self.listeners:
                self._publish_public(batch)
        return out

    def skip(self, n: int) -> int:
        """Consume ``n`` batches into the public market data only (no engine sees them, nothing is pushed): how a
        restart from a state file puts the market back where it was. Returns how many were there."""
        done = 0
        for _ in range(n):
            batch = next(self._source, None)
            if batch is None:
                self.exhausted = True
                break
            done += 1
            self.market.market_ts = batch.ts
            for bar in batch.bars:
                self.market.record(bar)
            for funding in batch.fundings:
                self.market.record_funding(funding)
        self.batches += done
        return done

    def bars(self, symbol: str) -> deque[Bar]:
        return self.market.history[symbol]

    def fundings(self, symbol: str) -> list[Funding]:
        return self.market.fundings[symbol]

    def last_price(self, symbol: str) -> Decimal | None:
        return self.market.last_price(symbol)

    def mark_price(self, symbol: str) -> Decimal | None:
        return self.market.mark_price(symbol)

    def funding_rate(self, symbol: str) -> Decimal:
        return self.market.funding_rate(symbol)

    def next_funding_ts(self, symbol: str) -> int:
        return self.market.next_funding_ts(symbol)

    def book(self, symbol: str, depth: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return self.market.book(symbol, depth)

    def candles(self, symbol: str, minutes: int) -> list[Bar]:
        return self.market.candles(symbol, minutes)

    def ticker(self, symbol: str) -> dict[str, Any]:
        return self.market.ticker(symbol)

    def set_mark_offset(self, symbol: str, offset: Decimal) -> None:
        """Test hook: from now on the mark price is the last price + ``offset`` (0 = back to the last price).

        Every account's positions are checked against the new mark from the next bar on: liquidation and
        ``MarkPrice`` stops on the mark, ``LastPrice`` stops on the last price.
        """
        inst = self.instruments[symbol]
        if not inst.on_tick(offset):
            raise ValueError(f"mark offset {offset} is not on {symbol}'s tick {inst.tick_size}")
        if offset:
            self.market.mark_off[symbol] = offset
        else:
            self.market.mark_off.pop(symbol, None)
        for acct in self.accounts.values():
            acct.engine.set_mark_offset(symbol, offset)

    def pin_mark(self, symbol: str, price: Decimal) -> None:
        """Test hook: put the mark at ``price`` now (``set_mark_offset(symbol, price - last)``); the mark then
        moves with the last price, keeping that gap."""
        last = self.last_price(symbol)
        if last is None:
            raise ValueError(f"{symbol} has no last price yet")
        self.set_mark_offset(symbol, price - last)

    def _publish_public(self, batch: MarketBatch) -> None:
        # with the WebSocket hub as the only listener, build only what some socket subscribed to (a ticker per
        # symbol per bar is the emulator's main cost on a 500-symbol market)
        wanted = self.public_wanted if len(self.listeners) == 1 else None
        market = self.market
        for bar in batch.bars:
            sym = bar.symbol
            if sym not in self.instruments:
                continue
            for m in market.kline_intervals:
                topic = f"kline.{m}.{sym}"
                if m % bar.minutes == 0 and (wanted is None or wanted(topic)):
                    self._emit(self.listeners, topic, [market.kline_item(sym, m)])
            topic = f"tickers.{sym}"
            if wanted is None or wanted(topic) or wanted(sym):
                self._emit(self.listeners, topic, [market.ticker(sym) | {"tickDirection": market.tick_direction(sym)}])

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
        self.account(api_key).set_margin_mode(mode, self.market_ts)

    def switch_position_mode(self, api_key: str, mode: int, symbol: str | None = None) -> None:
        self.account(api_key).switch_position_mode(mode, symbol)

    def transfer(self, api_key: str, amount: Decimal) -> Transaction:
        """Money into (``amount`` > 0: a deposit, a top-up) or out of (< 0) the account's USDT wallet.

        Books a TRANSFER_IN / TRANSFER_OUT row at market time and pushes ``wallet``. Raises StateError (110007)
        for a withdrawal above the available balance, ValueError for a zero amount.
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

    # ------------------------------------------------------------ listeners

    def _apply(
        self, acct: Account, events: Sequence[Event], touched: set[str] | None = None,
        changed: list[OrderRecord] | None = None,
    ) -> None:  # fmt: skip
        """Book engine events on the account (at market time) and tell the listeners."""
        for topic, data in acct.book(events, self.market_ts, touched, changed):
            self._emit(acct.listeners, topic, data)
            self._emit(self.listeners, topic, data)

    @staticmethod
    def _emit(listeners: list[Listener], topic: str, data: list[dict[str, Any]]) -> None:
        for listener in list(listeners):
            try:
                listener(topic, data)
            except Exception:  # a broken listener must not corrupt the exchange state
                log.exception("emulator_listener_failed", topic=topic)

"""The matching engine's mutable per-symbol state: an open position with its stops, a resting order.

Private to ``omni.exchange.matching`` (the outside world sees ``Position`` / ``Order`` snapshots); split out of
it so the engine module stays about the rules.

Trigger levels on one path. A bar is the *last-price* path. The mark price is the last price plus a per-symbol
offset (zero unless the emulator's test hook sets one, see ``MatchingEngine.set_mark_offset``), so the mark path
is the last path moved by that offset. A level on the mark path (the liquidation price; a stop whose trigger is
``MarkPrice``) is therefore the level minus the offset on the last path: ``refresh_triggers`` translates every
level so the per-bar check and the intrabar rule run once, on the bar itself, and a trigger found there is the
last price at that moment (what a triggered stop fills near). With a zero offset nothing is translated.
"""

from __future__ import annotations

import math
from decimal import Decimal

from omni.domain.instrument import ZERO
from omni.domain.orders import Order, OrderIntent, OrderStatus, Side, TriggerBy

_INF = math.inf
_MARK = TriggerBy.MARK_PRICE


class PosState:
    """Mutable exchange-side position; the ``*_f`` floats are its trigger levels on the last-price path."""

    __slots__ = (
        "adverse_f",
        "bust",
        "entry_value",
        "leverage",
        "liq",
        "liq_f",
        "margin",
        "mark_off",
        "opened_ts",
        "side",
        "size",
        "sl",
        "sl_by",
        "sl_f",
        "tp",
        "tp_by",
        "tp_f",
    )

    def __init__(self, side: Side, leverage: Decimal, ts: int, mark_off: Decimal = ZERO):
        self.side = side
        self.size = ZERO
        self.entry_value = ZERO
        self.leverage = leverage
        self.margin = ZERO
        self.liq = ZERO
        self.bust = ZERO
        self.tp: Decimal | None = None
        self.sl: Decimal | None = None
        self.tp_by = TriggerBy.LAST_PRICE
        self.sl_by = TriggerBy.LAST_PRICE
        self.mark_off = mark_off  # mark - last for the symbol
        self.opened_ts = ts
        self.liq_f = 0.0
        self.sl_f: float | None = None
        self.adverse_f = -_INF
        self.tp_f = _INF

    @property
    def entry(self) -> Decimal:
        return self.entry_value / self.size

    def refresh_triggers(self) -> None:
        """Float trigger levels for the per-bar check, on the last-price path: the first adverse level, the
        liquidation price and stop-loss separately (for the intrabar rule), and the take-profit."""
        long = self.side is Side.BUY
        off = self.mark_off
        liq = float(self.liq - off) if off else float(self.liq)  # liquidation always triggers on the mark
        self.liq_f = liq
        if self.sl is None:
            self.sl_f = None
            self.adverse_f = liq
        else:
            sl = float(self.sl - off) if off and self.sl_by is _MARK else float(self.sl)
            self.sl_f = sl
            self.adverse_f = max(liq, sl) if long else min(liq, sl)
        if self.tp is None:
            self.tp_f = _INF if long else -_INF
        else:
            self.tp_f = float(self.tp - off) if off and self.tp_by is _MARK else float(self.tp)


class Resting:
    __slots__ = ("margin", "order", "price_f")

    def __init__(self, order: Order, margin: Decimal):
        self.order = order
        self.margin = margin
        self.price_f = float(order.price) if order.price is not None else 0.0


def with_status(order: Order, status: OrderStatus, filled: Decimal) -> Order:
    """``order`` with a new status and filled quantity (positional: this is on the per-fill path)."""
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
        order.stop_trigger,
    )


def replace_qty(intent: OrderIntent, qty: Decimal) -> OrderIntent:
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
        intent.stop_trigger,
    )

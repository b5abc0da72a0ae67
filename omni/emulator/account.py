"""One emulated Bybit account: its configuration and modes, and the bookkeeping around its MatchingEngine.

Account-level settings Bybit keeps and the daemon sets or checks (none changes how the engine trades: positions
are isolated margin, one-way, as ``omni.exchange.matching`` models them; the settings are recorded and served
so tests can assert what a client did):
- account type: ``unified`` (a UTA 2.0, ``unifiedMarginStatus`` 5) or ``classic`` (1; refuses the UTA-only
  endpoints with 10028);
- margin mode (``REGULAR_MARGIN`` = cross, Bybit's default, ``ISOLATED_MARGIN``, ``PORTFOLIO_MARGIN``), account
  wide, changed only while the account has no position and no open order (else 3400045 with ``reasons``);
- position mode per symbol with a USDT default (0 one-way, 3 hedge): the emulator trades one-way only, so in
  hedge mode every order is refused (positionIdx 0: "position idx not match position mode"; 1/2: not
  supported).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from omni.domain.events import (
    Event,
    FundingPaid,
    Liquidated,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    PositionChanged,
)
from omni.domain.instrument import ZERO, Instrument
from omni.domain.orders import ExecType, Fill, Order, OrderStatus, OrderType, StopKind, TimeInForce
from omni.emulator.closed_pnl import ClosedPnlBook
from omni.emulator.ledger import Ledger
from omni.emulator.options import ACCOUNT_TYPES, MARGIN_MODES, POSITION_MODES
from omni.exchange import rules
from omni.exchange.matching import MatchingEngine
from omni.venues import bybit_codec_account as account_codec
from omni.venues import bybit_codec_trading as trading_codec

Listener = Callable[[str, list[dict[str, Any]]], None]
Topics = list[tuple[str, list[dict[str, Any]]]]

OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
_USER_CANCELS = {"CancelByUser": "CancelByUser", "CancelAll": "CancelByUser"}

#: account/info ``unifiedMarginStatus``: 5 = unified trading account 2.0, 1 = classic (docs/v5/enum)
UNIFIED_STATUS = {"unified": 5, "classic": 1}
UTA_ONLY = 10028
UTA_ONLY_MSG = "The API can only be accessed by unified account users."

log = structlog.get_logger("omni.emulator.state")

#: /v5/user/query-api: what the emulated key may do, and the days a key without an IP bound stays valid
KEY_PERMISSIONS = {
    "ContractTrade": ("Order", "Position"), "Spot": ("SpotTrade",), "Wallet": ("AccountTransfer",),
    "Options": ("OptionsTrade",), "Derivatives": ("DerivativesTrade",), "CopyTrading": (), "BlockTrade": (),
    "Exchange": ("ExchangeHistory",), "NFT": (), "Affiliate": (), "Earn": (), "FiatP2P": (), "FiatBitPay": (),
    "FiatConvertBroker": (), "FiatGlobalPay": (), "BitCard": (), "ByXPost": (), "FiatBybitPay": (),
}  # fmt: skip
KEY_DAYS = 90
#: fields Bybit sends that the shared codec leaves out (see tests/contract): a position's USDC session price
#: (always "" for USDT perpetuals), and on the execution stream the category and the spot-borrow flag
POSITION_EXTRA = {"sessionAvgPrice": ""}
EXECUTION_WS_EXTRA = {"category": "linear", "isLeverage": "0"}


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One emulated account: its API key pair, USDT balance, fee rates and the modes it starts in."""

    api_key: str
    api_secret: str
    balance: Decimal = Decimal(10_000)
    taker_fee: Decimal = Decimal("0.00055")
    maker_fee: Decimal = Decimal("0.0002")
    slippage_bps: Decimal = ZERO
    default_leverage: Decimal = Decimal(10)
    #: REGULAR_MARGIN (cross, Bybit's default) | ISOLATED_MARGIN | PORTFOLIO_MARGIN
    margin_mode: str = "REGULAR_MARGIN"
    #: unified (UTA 2.0) | classic
    account_type: str = "unified"
    #: one-way | hedge: the USDT perpetuals' position mode
    position_mode: str = "one-way"

    def __post_init__(self) -> None:
        if self.margin_mode not in MARGIN_MODES:
            raise ValueError(f"margin_mode must be one of {', '.join(MARGIN_MODES)}, got {self.margin_mode!r}")
        if self.account_type not in ACCOUNT_TYPES:
            raise ValueError(f"account_type must be one of {', '.join(ACCOUNT_TYPES)}, got {self.account_type!r}")
        if self.position_mode not in POSITION_MODES:
            raise ValueError(f"position_mode must be one-way or hedge, got {self.position_mode!r}")


class StateError(Exception):
    """A Bybit business rejection: answer with retCode ``code``, retMsg ``message`` (and ``result``, if any)."""

    def __init__(self, code: int, message: str, result: dict[str, Any] | None = None):
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.result = result


@dataclass(slots=True)
class OrderRecord:
    """An order as Bybit reports it: public ids plus the cumulative fields the engine does not keep."""

    order: Order
    engine_cid: str
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    closed_pnl: Decimal = ZERO
    updated_ts: int = 0
    create_type: str = "CreateByUser"
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    stop_order_type: str = ""

    def item(self, ws: bool = False) -> dict[str, Any]:
        o = self.order
        extra = trading_codec.OrderExtra(
            self.cum_value / o.filled_qty if o.filled_qty else None, self.cum_value, self.cum_fee,
            self.updated_ts, self.create_type, self.cancel_type, self.reject_reason, self.stop_order_type,
            self.closed_pnl,
        )  # fmt: skip
        return trading_codec.order_to_item(o, extra, ws=ws)


class Account:
    """One API key's account: a MatchingEngine plus Bybit's order/execution bookkeeping."""

    def __init__(self, config: AccountConfig, instruments: dict[str, Instrument], uid: int = 1, now_ms: int = 0):
        self.config = config
        self.uid = uid
        self.margin_mode = config.margin_mode
        self.modes_updated_ms = now_ms
        self.created_ms = now_ms
        self.coin_position_mode = POSITION_MODES[config.position_mode]
        self.symbol_position_mode: dict[str, int] = {}  # per-symbol settings, over the coin's
        self.ledger = Ledger(uid, config.balance)
        self.closed = ClosedPnlBook()
        self.engine = MatchingEngine(
            instruments, balance=config.balance, taker_fee=config.taker_fee, maker_fee=config.maker_fee,
            slippage_bps=config.slippage_bps, default_leverage=config.default_leverage,
        )  # fmt: skip
        self.orders: dict[str, OrderRecord] = {}  # public orderId -> record, in creation order
        self.by_link: dict[str, str] = {}
        self.by_engine: dict[str, str] = {}  # engine order id -> public orderId (an amend re-places)
        self.executions: list[tuple[Fill, dict[str, Any]]] = []
        self.listeners: list[Listener] = []  # this account's private topics only
        self.cum_realised: dict[str, Decimal] = {}
        self.cur_realised: dict[str, Decimal] = {}
        self.updated: dict[str, int] = {}
        self.pos_seq: dict[str, int] = {}  # bumped on every position change, not on reads
        self.fresh: set[str] = set()  # symbols that went flat: curRealisedPnl restarts on the next fill
        self._seq = 0
        self._cid = 0

    def next_cid(self) -> str:
        """A unique engine-side client id (the user's orderLinkId is kept on the record)."""
        self._cid += 1
        return f"emu{self._cid}"

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def find(self, order_id: str | None, link_id: str | None) -> OrderRecord | None:
        oid = order_id or self.by_link.get(link_id or "")
        rec = self.orders.get(oid) if oid else None
        if rec is not None and link_id and rec.order.client_id != link_id:
            return None
        return rec

    def position_item(self, symbol: str, ws: bool = False) -> dict[str, Any]:
        eng = self.engine
        return trading_codec.position_to_item(
            symbol, eng.position(symbol), inst=eng.instruments[symbol], mark=eng.mark_price(symbol),
            leverage=eng.leverage(symbol), seq=self.pos_seq.get(symbol, 0),
            cur_realised=self.cur_realised.get(symbol, ZERO), cum_realised=self.cum_realised.get(symbol, ZERO),
            updated_ts=self.updated.get(symbol, 0), ws=ws,
        ) | POSITION_EXTRA  # fmt: skip

    def wallet_item(self) -> dict[str, Any]:
        eng = self.engine
        positions = eng.positions().values()
        pim = sum((p.margin for p in positions), ZERO)
        pmm = sum(
            (rules.money(rules.maintenance_margin(p.value, eng.instruments[p.symbol].tier_for_value(p.value)))
             for p in positions), ZERO,
        )  # fmt: skip
        avail = eng.available
        item = account_codec.wallet_to_account(
            balance=eng.balance, available=avail, equity=eng.equity(), unrealised=eng.unrealised(), position_im=pim,
            order_im=eng.balance - pim - avail, position_mm=pmm, cum_realised=sum(self.cum_realised.values(), ZERO),
        )  # fmt: skip
        for coin in item.get("coin", ()):
            coin.setdefault("availableToBorrow", "")  # deprecated, always "" (docs/v5/account/wallet-balance)
        return item

    def track(self, order: Order, ts: int, stop_kind: StopKind | None = None) -> OrderRecord:
        """The record of an engine order, created for orders the engine made itself (TP/SL, liquidation)."""
        oid = self.by_engine.get(order.order_id)
        if oid is None:
            oid = self.by_engine[order.order_id] = order.order_id
            rec = self.orders[oid] = OrderRecord(order, order.client_id)
            if stop_kind is not None:
                rec.create_type, rec.stop_order_type = trading_codec.CREATE_BY_STOP[stop_kind], stop_kind.value
        rec = self.orders[oid]
        rec.order = dataclasses.replace(
            order, order_id=oid, client_id=rec.order.client_id, created_ts=rec.order.created_ts
        )
        rec.updated_ts = ts
        return rec

    # ------------------------------------------------------------ booking engine events

    def book(
        self, events: Sequence[Event], ts: int, touched: set[str] | None = None,
        changed: list[OrderRecord] | None = None,
    ) -> Topics:  # fmt: skip
        """Book engine events on the account; returns what to push, in Bybit's private stream shapes."""
        orders = [r.item(ws=True) for r in changed or ()]
        execs: list[dict[str, Any]] = []
        symbols = set(touched or ())
        for ev in events:
            if isinstance(ev, OrderAccepted):
                orders.append(self.track(ev.order, ts).item(ws=True))
            elif isinstance(ev, OrderCancelled):
                rec = self.track(ev.order, ts)
                if ev.reason in _USER_CANCELS:
                    rec.cancel_type = _USER_CANCELS[ev.reason]
                else:
                    rec.reject_reason = ev.reason
                orders.append(rec.item(ws=True))
            elif isinstance(ev, OrderFilled | Liquidated | FundingPaid):
                execs.append(self._book_fill(ev, ts, orders))
            elif isinstance(ev, PositionChanged):
                symbols.add(ev.symbol)
                self.updated[ev.symbol] = ev.ts
                if ev.position is None:
                    self.fresh.add(ev.symbol)
        for sym in symbols:
            self.pos_seq[sym] = self.next_seq()
        if self.ledger.cash != self.engine.balance:  # an emulator bug: say so, keep serving from the engine's figure
            log.error("emulator_ledger_mismatch", ledger=str(self.ledger.cash), wallet=str(self.engine.balance))
            self.ledger.cash = self.engine.balance
        topics: Topics = [("order", orders), ("execution", execs),
                          ("position", [self.position_item(sym, True) for sym in symbols])]  # fmt: skip
        if orders or execs or symbols:
            topics.append(("wallet", [self.wallet_item()]))
        return [(topic, data) for topic, data in topics if data]

    def _book_fill(self, ev: OrderFilled | Liquidated | FundingPaid, ts: int, orders: list) -> dict[str, Any]:
        fill = ev.fill
        rec = None
        if isinstance(ev, OrderFilled) and ev.order is not None:
            rec = self.track(ev.order, ts, fill.stop_kind)
        elif isinstance(ev, Liquidated):
            order = Order(fill.order_id, "", fill.symbol, fill.side, fill.qty, OrderType.MARKET, None,
                          TimeInForce.IOC, True, OrderStatus.FILLED, fill.qty, fill.ts)  # fmt: skip
            rec = self.track(order, ts)
            rec.create_type = "CreateByLiq"
        net = fill.realised_pnl - fill.fee
        if rec is not None:
            rec.cum_value += fill.qty * fill.price
            rec.cum_fee += fill.fee
            rec.closed_pnl += net
            fill = dataclasses.replace(fill, order_id=rec.order.order_id, client_id=rec.order.client_id)
            orders.append(rec.item(ws=True))
        sym = fill.symbol
        if sym in self.fresh and fill.exec_type is not ExecType.FUNDING:
            self.fresh.discard(sym)
            self.cur_realised[sym] = ZERO
        self.cur_realised[sym] = self.cur_realised.get(sym, ZERO) + net
        self.cum_realised[sym] = self.cum_realised.get(sym, ZERO) + net
        leaves = rec.order.qty - rec.order.filled_qty if rec is not None and rec.order.status in OPEN else ZERO
        item = trading_codec.fill_to_item(fill, seq=self.next_seq(), order=rec.order if rec else None,
                                          mark_price=self.engine.mark_price(sym), leaves_qty=leaves)  # fmt: skip
        item["marketUnit"] = ""
        self.executions.append((fill, item))
        self.ledger.book_fill(fill)
        self.closed.on_fill(fill, rec.order if rec else None, self.engine.leverage(sym))
        return {k: v for k, v in item.items() if k != "execFeeV2"} | EXECUTION_WS_EXTRA  # the stream has no execFeeV2

    # ------------------------------------------------------------ modes

    @property
    def unified(self) -> bool:
        return self.config.account_type == "unified"

    def info(self) -> dict[str, Any]:
        """The /v5/account/info result."""
        return {
            "unifiedMarginStatus": UNIFIED_STATUS[self.config.account_type], "marginMode": self.margin_mode,
            "isMasterTrader": False, "spotHedgingStatus": "OFF", "updatedTime": str(self.modes_updated_ms),
            "dcpStatus": "OFF", "timeWindow": 0, "smpGroup": 0,
        }  # fmt: skip

    def key_info(self) -> dict[str, Any]:
        """The /v5/user/query-api result: a master account's read-write key, no IP bound (so it expires 90 days
        after it was made: the emulator's start), contract, spot, options and wallet-transfer permissions."""
        created = self.created_ms // 1000
        iso = "%Y-%m-%dT%H:%M:%SZ"
        return {
            "id": str(self.uid * 10 + 1), "note": "omni emulator", "apiKey": self.config.api_key, "readOnly": 0,
            "secret": "", "permissions": {k: list(v) for k, v in KEY_PERMISSIONS.items()}, "ips": ["*"], "type": 1,
            "deadlineDay": KEY_DAYS, "expiredAt": time.strftime(iso, time.gmtime(created + KEY_DAYS * 86_400)),
            "createdAt": time.strftime(iso, time.gmtime(created)), "unified": 0, "uta": 1 if self.unified else 0,
            "userID": self.uid, "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
            "rsaPublicKey": "", "isMaster": True, "parentUid": "0", "kycLevel": "LEVEL_DEFAULT", "kycRegion": "",
            "userIDInt64": str(self.uid), "inviterIDInt64": "0", "affiliateIDInt64": "0",
        }  # fmt: skip

    def set_margin_mode(self, mode: str, now_ms: int) -> None:
        """Bybit's set-margin-mode: account wide, refused while anything is open (3400045 with ``reasons``)."""
        if not self.unified:
            raise StateError(UTA_ONLY, UTA_ONLY_MSG)
        if mode not in MARGIN_MODES:
            raise StateError(rules.PARAM_ERROR, f"params error: setMarginMode must be one of {', '.join(MARGIN_MODES)}")
        checks = (
            (bool(self.engine.positions()), "3400208",
             "You have unclosed hedge mode or isolated mode USDT perpetual positions"),
            (bool(self.engine.open_orders()), "3400054", "You have uncancelled USDT perpetual orders"),
            (mode == "PORTFOLIO_MARGIN" and self.engine.equity() < 1000, "3400000",
             "Equity needs to be equal to or greater than 1000 USDC"),
        )  # fmt: skip
        reasons = [{"reasonCode": code, "reasonMsg": msg} for failed, code, msg in checks if failed]
        if reasons:
            raise StateError(3400045, "Set margin mode failed", {"reasons": reasons})
        self.margin_mode = mode
        self.modes_updated_ms = now_ms

    def position_mode(self, symbol: str) -> int:
        """0 (one-way) or 3 (hedge) for ``symbol``: its own setting, else the coin's."""
        return self.symbol_position_mode.get(symbol, self.coin_position_mode)

    def switch_position_mode(self, mode: int, symbol: str | None) -> None:
        """Bybit's switch-mode for one symbol, or (``symbol`` None) for every USDT perpetual."""
        symbols = [symbol] if symbol is not None else list(self.engine.instruments)
        unchanged = all(self.position_mode(s) == mode for s in symbols)
        if unchanged and (symbol is not None or self.coin_position_mode == mode):
            raise StateError(110025, "Position mode has not been modified.")
        held = self.engine.positions()
        if any(s in held for s in symbols):
            raise StateError(110024, "You have an existing position, so the position mode cannot be switched.")
        if any(o.symbol in symbols for o in self.engine.open_orders()):
            raise StateError(110028, "You have existing open orders, so the position mode cannot be switched.")
        if symbol is None:
            self.coin_position_mode = mode
            self.symbol_position_mode.clear()
        else:
            self.symbol_position_mode[symbol] = mode

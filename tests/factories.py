"""Builders shared by tests (like Nautilus's TestExecStubs): small, explicit, no magic."""

from __future__ import annotations

from decimal import Decimal as D

from omni.domain.instrument import Instrument, build_tiers
from omni.domain.market import Bar
from omni.domain.orders import OrderIntent, OrderType, Side, TimeInForce
from omni.exchange.matching import MatchingEngine

T0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000)


def btc(max_leverage: str = "100", tiers: tuple | None = None) -> Instrument:
    """BTCUSDT as Bybit lists it: tick 0.1, step 0.001, tier 1 = 2M USDT at MMR 0.5 % / IMR 1 %."""
    if tiers is None:
        tiers = build_tiers(
            [D(2_000_000), D(4_000_000), D(6_000_000)],
            [D("0.005"), D("0.01"), D("0.015")],
            [D("0.01"), D("0.015"), D("0.02")],
        )
    return Instrument("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D(100), D(max_leverage), tiers)


def small_alt() -> Instrument:
    """A cheap alt: tick 0.0001, step 1, 25x, tier 1 limit 1000 USDT (so risk limits are easy to hit)."""
    tiers = build_tiers([D(1000), D(2000)], [D("0.02"), D("0.04")], [D("0.04"), D("0.08")])
    return Instrument("ALTUSDT", D("0.0001"), D(1), D(1), D(1_000_000), D(25), tiers)


def bar(
    symbol: str = "BTCUSDT",
    ts: int = T0,
    o: float = 20000,
    h: float | None = None,
    low: float | None = None,
    c: float | None = None,
    v: float = 1.0,
) -> Bar:
    c = o if c is None else c
    h = max(o, c) if h is None else h
    low = min(o, c) if low is None else low
    return Bar(symbol, ts, float(o), float(h), float(low), float(c), v)


def engine(
    *instruments: Instrument,
    balance: str = "10000",
    slippage_bps: str = "0",
    price: float = 20000,
    taker: str = "0.00055",
    maker: str = "0.0002",
) -> MatchingEngine:
    """A matching engine with one bar already seen per instrument at ``price``."""
    insts = instruments or (btc(),)
    eng = MatchingEngine(
        {i.symbol: i for i in insts},
        balance=D(balance),
        taker_fee=D(taker),
        maker_fee=D(maker),
        slippage_bps=D(slippage_bps),
    )
    for i in insts:
        eng.on_bar(bar(i.symbol, T0 - 60_000, price))
    return eng


def market(
    side: Side,
    qty: str,
    *,
    cid: str = "c1",
    symbol: str = "BTCUSDT",
    tp: str | None = None,
    sl: str | None = None,
    reduce_only: bool = False,
) -> OrderIntent:
    return OrderIntent(
        cid,
        symbol,
        side,
        D(qty),
        reduce_only=reduce_only,
        take_profit=D(tp) if tp else None,
        stop_loss=D(sl) if sl else None,
    )


def limit(
    side: Side,
    qty: str,
    price: str,
    *,
    cid: str = "l1",
    symbol: str = "BTCUSDT",
    tif: TimeInForce = TimeInForce.GTC,
    reduce_only: bool = False,
) -> OrderIntent:
    return OrderIntent(cid, symbol, side, D(qty), OrderType.LIMIT, D(price), tif, reduce_only)

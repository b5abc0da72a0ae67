"""size_entry: exact orders on tick and step, the reasons it says no, and properties over random inputs."""

from __future__ import annotations

import math
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omni.core.entry_rule import Signal
from omni.core.portfolio import Portfolio
from omni.core.risk import Approved, Limits, RiskGuard, loss_at_stop
from omni.core.sizing import NoTrade, SizingParams, size_entry
from omni.domain.events import OrderRejected
from omni.domain.instrument import Instrument, default_tiers
from omni.domain.orders import OrderIntent, Side
from omni.exchange import rules
from tests.factories import T0, btc, engine, small_alt

FEE = D("0.00055")
SLIP = D("0.001")


def params(**overrides) -> SizingParams:
    base = dict(
        max_loss_per_trade=D(50),
        max_leverage=D(20),
        max_notional=D(1_000_000),
        max_concurrent=2,
        taker_fee=FEE,
        slippage=SLIP,
    )
    base.update(overrides)
    return SizingParams(**base)


def signal(side: Side = Side.BUY, price: float = 20000.0, stop: float = 200.0, tp: float = 400.0,
           symbol: str = "BTCUSDT") -> Signal:
    return Signal(symbol, side, price, stop, tp, 1, "test")


def size(sig: Signal, inst: Instrument | None = None, equity: str = "10000", available: str | None = None,
         p: SizingParams | None = None):
    return size_entry(sig, inst or btc(), D(equity), D(available or equity), p or params(), "cid-1")


# ---------------------------------------------------------------- worked examples


def test_long_is_sized_by_the_loss_limit_at_the_lowest_leverage():
    # Arrange: per unit at stop = 219.8 + (20 000 + 19 780.2) x 0.055 % = 241.67911 -> 50 / 241.67911 = 0.2068
    sig = signal()

    # Act
    intent = size(sig)

    # Assert
    assert isinstance(intent, OrderIntent)
    assert intent.client_id == "cid-1" and intent.symbol == "BTCUSDT" and intent.side is Side.BUY
    assert intent.qty == D("0.206")
    assert intent.stop_loss == D("19800.0") and intent.take_profit == D("20400.0")
    assert intent.leverage == 1  # 4 120 USDT notional fits the 5 000 share unlevered
    assert not intent.reduce_only


def test_off_tick_levels_round_away_from_entry_and_qty_down_to_step():
    # Arrange: price and distances off the 0.1 tick
    sig = signal(price=20000.04, stop=200.03, tp=400.03)

    # Act
    intent = size(sig)

    # Assert: entry 20 000.0; stop floors to 19 799.9, target ceils to 20 400.1
    assert intent.stop_loss == D("19799.9") and intent.take_profit == D("20400.1")
    inst = btc()
    assert inst.on_tick(intent.stop_loss) and inst.on_tick(intent.take_profit) and inst.on_step(intent.qty)


def test_short_has_stop_above_and_target_below():
    intent = size(signal(Side.SELL, stop=200.03, tp=400.03))
    assert isinstance(intent, OrderIntent) and intent.side is Side.SELL
    assert intent.stop_loss == D("20200.1") and intent.take_profit == D("19599.9")
    assert intent.qty == D("0.206")


def test_leverage_rises_only_as_far_as_the_capital_share_needs():
    # Arrange: share 1 000 / 2 = 500; loss limit allows ~2.07 BTC, capped by max notional 30 000 -> 1.5 BTC
    p = params(max_loss_per_trade=D(500), max_notional=D(30_000))

    # Act
    intent = size(signal(), equity="1000", p=p)

    # Assert: 30 000 / (500 - 16.5) = 62.05 -> at most 20x; then the margin cap: qty = 500 / (20 000 x 0.05055)
    assert intent.leverage == 20
    assert intent.qty == D("0.494")
    assert intent.qty * 20000 / intent.leverage + intent.qty * 20000 * FEE <= 500


def test_fixed_leverage_uses_the_cap():
    intent = size(signal(), p=params(dynamic_leverage=False, max_leverage=D(7)))
    assert intent.leverage == 7


def test_available_below_the_share_caps_the_margin():
    intent = size(signal(), p=params(max_loss_per_trade=D(10_000), max_leverage=D(1)), available="1000")
    assert isinstance(intent, OrderIntent)
    assert intent.qty * 20000 + intent.qty * 20000 * FEE <= 1000


# ---------------------------------------------------------------- no trade


def test_tiny_loss_limit_is_below_min_order():
    result = size(signal(), p=params(max_loss_per_trade=D("0.1")))
    assert isinstance(result, NoTrade) and result.reason == "below_min_order"


def test_min_notional_is_enforced():
    # 0.001 BTC at 4 000 = 4 USDT < 5 USDT minimum
    result = size(signal(price=4000.0, stop=40.0, tp=80.0), p=params(max_loss_per_trade=D("0.05")))
    assert isinstance(result, NoTrade) and result.reason == "below_min_order"


def test_zero_stop_distance_is_too_tight():
    result = size(signal(stop=0.0))
    assert isinstance(result, NoTrade) and result.reason == "stop_too_tight"


def test_zero_target_distance_is_too_tight():
    result = size(signal(Side.SELL, tp=0.0))
    assert isinstance(result, NoTrade) and result.reason == "stop_too_tight"


def test_stop_at_or_below_zero_is_too_tight():
    result = size(signal(stop=20000.0))
    assert isinstance(result, NoTrade) and result.reason == "stop_too_tight"


def test_no_equity_is_no_trade():
    for equity in ("0", "-5"):
        result = size(signal(), equity=equity)
        assert isinstance(result, NoTrade) and result.reason == "no_equity"


def test_liquidation_before_stop_is_no_trade():
    # Arrange: a 100 USDT account must go 100x to use its share; 100x liquidates ~0.5 % away, the stop is 2 %
    p = params(max_loss_per_trade=D(1000), max_leverage=D(100), max_concurrent=1)

    # Act
    result = size(signal(stop=400.0), equity="100", p=p)

    # Assert
    assert isinstance(result, NoTrade) and result.reason == "liq_before_stop"


def test_liquidation_before_stop_at_fixed_leverage_is_no_trade():
    p = params(dynamic_leverage=False, max_leverage=D(50), max_loss_per_trade=D(1000))
    result = size(signal(Side.SELL, stop=600.0), p=p)
    assert isinstance(result, NoTrade) and result.reason == "liq_before_stop"


def test_risk_tier_that_forbids_the_needed_leverage_is_no_trade():
    # Arrange: ALT share 60 USDT -> ~1 479 USDT notional needs 25x, but above 1 000 USDT the tier allows 12.5x
    p = params(max_loss_per_trade=D(100), max_leverage=D(25), max_concurrent=1)

    # Act
    result = size(signal(price=1.0, stop=0.01, tp=0.02, symbol="ALTUSDT"), small_alt(), equity="60", p=p)

    # Assert
    assert isinstance(result, NoTrade) and result.reason == "no_leverage_fits"


def test_sized_order_is_accepted_by_the_matching_engine_with_its_stop_attached():
    # Arrange
    intent = size(signal(Side.SELL, stop=150.0, tp=300.0), p=params(max_loss_per_trade=D(200)))
    eng = engine(balance="10000", taker="0.00055")
    reject = eng.set_leverage("BTCUSDT", intent.leverage)
    assert reject is None or reject.code == rules.LEVERAGE_NOT_MODIFIED

    # Act
    events = eng.place(intent, T0)

    # Assert
    assert not [e for e in events if isinstance(e, OrderRejected)]
    pos = eng.position("BTCUSDT")
    assert pos.size == intent.qty and pos.stop_loss == intent.stop_loss and pos.take_profit == intent.take_profit


def test_sized_order_never_exceeds_the_largest_risk_tier():
    # Arrange: ALT tiers end at 2 000 USDT; the loss limit alone would allow ~90 000 USDT at a 1 % stop
    inst = small_alt()
    p = params(max_loss_per_trade=D(1000), max_leverage=D(25), max_concurrent=1)

    # Act
    result = size(signal(price=1.0, stop=0.01, tp=0.02, symbol="ALTUSDT"), inst, equity="100000", p=p)

    # Assert: either no trade, or an order the exchange's risk limit admits
    if isinstance(result, OrderIntent):
        assert result.qty * D(1) <= inst.risk_tiers[-1].limit
        eng = engine(inst, balance="100000", price=1.0)
        eng.set_leverage("ALTUSDT", result.leverage)
        assert not [e for e in eng.place(result, T0) if isinstance(e, OrderRejected)]


# ---------------------------------------------------------------- properties

TICKS = [D("0.1"), D("0.01"), D("0.0001"), D("0.5"), D("0.000001")]
LEVERAGES = [D(10), D("12.5"), D(25), D(50), D(75), D(100)]


@st.composite
def cases(draw):
    tick = draw(st.sampled_from(TICKS))
    # a price some hundreds to millions of ticks high, usually off the tick
    price = float(tick) * draw(st.floats(100, 2_000_000, allow_nan=False, allow_infinity=False))
    # a qty step worth roughly 0.001 .. 100 USDT at that price (a power of ten, as on Bybit)
    step_value = draw(st.sampled_from([0.001, 0.01, 0.1, 1.0, 10.0, 100.0]))
    step = D(1).scaleb(round(math.log10(step_value / price)))
    max_lev = draw(st.sampled_from(LEVERAGES))
    first_limit = D(draw(st.sampled_from([200, 1000, 50_000, 2_000_000])))
    min_qty = step * draw(st.integers(1, 5))
    min_notional = D(draw(st.sampled_from([0, 1, 5])))
    tiers = default_tiers(max_lev, first_limit, draw(st.integers(1, 5)))
    inst = Instrument("XUSDT", tick, step, min_qty, min_qty * 10**7, max_lev, tiers, min_notional)
    stop_frac = draw(st.floats(0.0005, 0.1))
    tp_frac = draw(st.floats(0.0005, 0.5))
    sig = Signal("XUSDT", draw(st.sampled_from(Side)), price, price * stop_frac, price * tp_frac, 1, "prop")
    equity = D(draw(st.integers(1, 1_000_000))) / draw(st.sampled_from([1, 10]))
    available = (equity * D(draw(st.integers(0, 100))) / 100).quantize(D("0.01"))
    p = SizingParams(
        max_loss_per_trade=D(draw(st.sampled_from(["0.5", "5", "25", "100", "2500"]))),
        max_leverage=D(draw(st.sampled_from(["1", "3", "10", "20", "50", "100"]))),
        max_notional=D(draw(st.sampled_from(["100", "10000", "1000000"]))),
        max_concurrent=draw(st.integers(1, 10)),
        taker_fee=D(draw(st.sampled_from(["0", "0.0002", "0.00055", "0.001"]))),
        slippage=D(draw(st.sampled_from(["0", "0.0005", "0.002", "0.01"]))),
        dynamic_leverage=draw(st.booleans()),
    )
    return sig, inst, equity, available, p


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOLERANCE = D("0.00000001")


@PROPERTY
@given(cases())
def test_every_sized_order_respects_every_limit(case):
    # Arrange
    sig, inst, equity, available, p = case

    # Act
    result = size_entry(sig, inst, equity, available, p, "cid")

    # Assert
    if isinstance(result, NoTrade):
        return
    entry = inst.round_price(sig.price)
    qty, lev = result.qty, result.leverage
    notional = qty * entry
    assert inst.on_step(qty) and qty >= inst.min_qty and qty <= inst.max_qty
    assert notional >= inst.min_notional and notional <= p.max_notional
    assert lev is not None and 1 <= lev <= min(p.max_leverage, inst.max_leverage)
    assert lev <= rules.max_leverage_for_value(inst, notional)
    assert notional / lev + notional * p.taker_fee <= min(equity / p.max_concurrent, available)
    assert loss_at_stop(result, entry, p.taker_fee, p.slippage) <= p.max_loss_per_trade + TOLERANCE
    liq = rules.liquidation_price(inst, result.side, entry, qty, lev, rules.initial_margin(notional, lev))
    if result.side is Side.BUY:
        assert liq < result.stop_loss < entry < result.take_profit
    else:
        assert liq > result.stop_loss > entry > result.take_profit
    assert inst.on_tick(result.stop_loss) and inst.on_tick(result.take_profit)


@PROPERTY
@given(cases())
def test_every_sized_order_passes_a_guard_with_the_same_limits(case):
    # Arrange
    sig, inst, equity, available, p = case
    result = size_entry(sig, inst, equity, available, p, "cid")
    if isinstance(result, NoTrade):
        return
    guard = RiskGuard(
        Limits(
            max_concurrent=p.max_concurrent,
            max_loss_per_trade=p.max_loss_per_trade + TOLERANCE,
            max_daily_loss=D(10**9),
            max_drawdown_pct=D(100),
            max_leverage=p.max_leverage,
            max_notional=p.max_notional,
            taker_fee=p.taker_fee,
            slippage=p.slippage,
        )
    )

    # Act
    verdict = guard.check(result, inst, inst.round_price(sig.price), Portfolio(equity), equity)

    # Assert
    assert isinstance(verdict, Approved), verdict

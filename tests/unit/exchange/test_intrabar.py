"""The conservative intrabar rule: which level a bar reaches first, at what price, and that the matching engine
fills a position's SL/TP exactly where intrabar + rules.slipped_price say it will."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from omni.domain.events import Liquidated, OrderFilled
from omni.domain.orders import Side, StopKind
from omni.exchange import rules
from omni.exchange.intrabar import LIQUIDATION, STOP_LOSS, adverse_hit, favourable_hit, slip
from tests.factories import T0, bar, btc, engine, market

# ---------------------------------------------------------------- adverse path, long


def test_long_stop_inside_bar_triggers_at_the_stop():
    assert adverse_hit(True, 100.0, 101.0, 97.0, 98.0, 90.0) == (STOP_LOSS, 98.0)


def test_long_stop_touched_exactly_triggers():
    assert adverse_hit(True, 100.0, 101.0, 98.0, 98.0, 90.0) == (STOP_LOSS, 98.0)


def test_long_gap_through_stop_triggers_at_the_open():
    assert adverse_hit(True, 96.0, 97.0, 95.0, 98.0, 90.0) == (STOP_LOSS, 96.0)


def test_long_gap_through_stop_and_liquidation_is_a_liquidation():
    assert adverse_hit(True, 89.0, 92.0, 85.0, 98.0, 90.0) == (LIQUIDATION, 90.0)


def test_long_liquidation_nearer_than_stop_wins():
    # liq 99 lies above the stop 98: the bar reaches it first
    assert adverse_hit(True, 100.0, 101.0, 97.0, 98.0, 99.0) == (LIQUIDATION, 99.0)


def test_long_stop_nearer_than_liquidation_wins_even_when_both_inside_bar():
    assert adverse_hit(True, 100.0, 101.0, 85.0, 98.0, 90.0) == (STOP_LOSS, 98.0)


def test_long_without_stop_only_liquidation_counts():
    assert adverse_hit(True, 100.0, 101.0, 95.0, None, 90.0) == (0, 0.0)
    assert adverse_hit(True, 100.0, 101.0, 90.0, None, 90.0) == (LIQUIDATION, 90.0)


def test_long_bar_above_stop_hits_nothing():
    assert adverse_hit(True, 100.0, 101.0, 98.01, 98.0, 90.0) == (0, 0.0)


# ---------------------------------------------------------------- adverse path, short


def test_short_stop_inside_bar_triggers_at_the_stop():
    assert adverse_hit(False, 100.0, 103.0, 99.0, 102.0, 110.0) == (STOP_LOSS, 102.0)


def test_short_gap_through_stop_triggers_at_the_open():
    assert adverse_hit(False, 104.0, 105.0, 103.0, 102.0, 110.0) == (STOP_LOSS, 104.0)


def test_short_gap_through_stop_and_liquidation_is_a_liquidation():
    assert adverse_hit(False, 111.0, 112.0, 109.0, 102.0, 110.0) == (LIQUIDATION, 110.0)


def test_short_liquidation_nearer_than_stop_wins():
    assert adverse_hit(False, 100.0, 103.0, 99.0, 102.0, 101.0) == (LIQUIDATION, 101.0)


def test_short_stop_nearer_than_liquidation_wins_even_when_both_inside_bar():
    assert adverse_hit(False, 100.0, 120.0, 99.0, 102.0, 110.0) == (STOP_LOSS, 102.0)


def test_short_without_stop_only_liquidation_counts():
    assert adverse_hit(False, 100.0, 109.0, 95.0, None, 110.0) == (0, 0.0)
    assert adverse_hit(False, 100.0, 110.0, 95.0, None, 110.0) == (LIQUIDATION, 110.0)


def test_short_bar_below_stop_hits_nothing():
    assert adverse_hit(False, 100.0, 101.99, 95.0, 102.0, 110.0) == (0, 0.0)


# ---------------------------------------------------------------- favourable path


def test_long_take_profit_inside_bar_triggers_at_tp():
    assert favourable_hit(True, 100.0, 103.0, 99.0, 102.0) == 102.0


def test_long_take_profit_gap_triggers_at_the_open():
    assert favourable_hit(True, 104.0, 105.0, 103.0, 102.0) == 104.0


def test_long_take_profit_not_reached_is_none():
    assert favourable_hit(True, 100.0, 101.99, 99.0, 102.0) is None


def test_short_take_profit_inside_bar_triggers_at_tp():
    assert favourable_hit(False, 100.0, 101.0, 97.0, 98.0) == 98.0


def test_short_take_profit_gap_triggers_at_the_open():
    assert favourable_hit(False, 96.0, 97.0, 95.0, 98.0) == 96.0


def test_short_take_profit_not_reached_is_none():
    assert favourable_hit(False, 100.0, 101.0, 98.01, 98.0) is None


def test_no_take_profit_is_never_hit():
    assert favourable_hit(True, 100.0, 1e9, 0.0, None) is None
    assert favourable_hit(False, 100.0, 1e9, 0.0, None) is None


def test_sl_and_tp_in_one_bar_the_adverse_check_comes_first_so_sl_wins():
    # a caller checks adverse_hit first and only looks at the TP when it returned nothing
    o, h, lo = 100.0, 103.0, 97.0
    kind, trigger = adverse_hit(True, o, h, lo, 98.0, 90.0)
    assert favourable_hit(True, o, h, lo, 102.0) == 102.0  # the TP is inside the bar too ...
    assert (kind, trigger) == (STOP_LOSS, 98.0)  # ... but the stop is reported and a caller stops there


# ---------------------------------------------------------------- slip


def test_slip_moves_against_the_taker():
    assert slip(True, 100.0, 0.01, 90.0, 110.0) == pytest.approx(101.0)
    assert slip(False, 100.0, 0.01, 90.0, 110.0) == pytest.approx(99.0)


def test_slip_stays_inside_the_bar():
    assert slip(True, 100.0, 0.01, 90.0, 100.5) == 100.5
    assert slip(False, 100.0, 0.01, 99.5, 110.0) == 99.5


def test_zero_slippage_is_the_price():
    assert slip(True, 100.0, 0.0, 90.0, 110.0) == 100.0
    assert slip(False, 100.0, 0.0, 90.0, 110.0) == 100.0


# ---------------------------------------------------------------- cross-check with the matching engine

SLIP_BPS = "10"
SLIPPAGE = 0.001

# (bar open, high, low, close): each reaches the stop, the TP, both, gaps through either, or nothing
CROSS_BARS = [
    (20000, 20100, 19700, 19750),  # SL inside
    (19750, 19760, 19600, 19700),  # gap through SL (long) / TP (short)
    (20000, 20300, 19990, 20250),  # TP inside (long)
    (20250, 20400, 20210, 20300),  # gap through TP (long) / SL (short)
    (20000, 20300, 19700, 20100),  # both inside
    (20000, 20050, 19950, 20010),  # nothing
]


def predicted_exit(side: Side, o: float, h: float, lo: float) -> tuple[StopKind, D] | None:
    inst = btc()
    long = side is Side.BUY
    sl, tp = (19800.0, 20200.0) if long else (20200.0, 19800.0)
    liq = 18200.0 if long else 21800.0  # 10x liquidation: far beyond the stop either way
    kind, trigger = adverse_hit(long, o, h, lo, sl, liq)
    assert kind != LIQUIDATION
    if kind == STOP_LOSS:
        return StopKind.STOP_LOSS, rules.slipped_price(inst, side.opposite, trigger, SLIPPAGE, lo, h)
    tp_trigger = favourable_hit(long, o, h, lo, tp)
    if tp_trigger is not None:
        return StopKind.TAKE_PROFIT, rules.slipped_price(inst, side.opposite, tp_trigger, SLIPPAGE, lo, h)
    return None


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("ohlc", CROSS_BARS)
def test_matching_engine_fills_stops_where_intrabar_and_slipped_price_predict(side, ohlc):
    # Arrange: a 0.1 BTC position at 20 000 with SL/TP 200 away on either side
    eng = engine(slippage_bps=SLIP_BPS)
    sl, tp = ("19800", "20200") if side is Side.BUY else ("20200", "19800")
    eng.place(market(side, "0.1", sl=sl, tp=tp), T0)
    pos = eng.position("BTCUSDT")
    assert pos.entry_price == D(20000) and pos.stop_loss == D(sl)
    o, h, lo, c = ohlc

    # Act
    events = eng.on_bar(bar(ts=T0, o=o, h=h, low=lo, c=c))

    # Assert
    expected = predicted_exit(side, o, h, lo)
    filled = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert not [e for e in events if isinstance(e, Liquidated)]
    if expected is None:
        assert filled == []
        assert eng.position("BTCUSDT") is not None
    else:
        [fill] = filled
        assert (fill.stop_kind, fill.price) == expected
        assert eng.position("BTCUSDT") is None


def test_matching_engine_liquidates_where_intrabar_says_liquidation_comes_first():
    # Arrange: 1 BTC at 50x -> liq 19 700, no stop, so the liquidation level is the only adverse level
    eng = engine(balance="1000", taker="0")
    eng.set_leverage("BTCUSDT", D(50))
    eng.place(market(Side.BUY, "1"), T0)
    liq = eng.position("BTCUSDT").liq_price
    o, h, lo = 19900.0, 19950.0, 19650.0
    assert adverse_hit(True, o, h, lo, None, float(liq)) == (LIQUIDATION, float(liq))

    # Act
    events = eng.on_bar(bar(ts=T0, o=o, h=h, low=lo, c=19800))

    # Assert
    [ev] = [e for e in events if isinstance(e, Liquidated)]
    assert ev.liq_price == liq == D(19700)

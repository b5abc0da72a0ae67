"""Leverage sizer: a hand-checked example, every NoFit reason, and properties over random instruments: whatever
it sizes is on tick/step, within every cap, nets min_profit at TP, loses at most max_loss at SL, keeps the
liquidation price beyond the stop, passes the risk guard and is accepted by the matching engine, where a bar
through the take-profit nets min_profit and a bar through the stop loses at most max_loss."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import HealthCheck, Phase, event, find, given, settings
from hypothesis import strategies as st

from omni.core import sizer
from omni.core.portfolio import Portfolio
from omni.core.risk import Approved, Limits, RiskGuard
from omni.core.sizer import NoFit, Sized, SizerParams
from omni.domain.events import Liquidated, OrderFilled, OrderRejected
from omni.domain.instrument import Instrument, RiskTier, default_tiers
from omni.domain.market import Bar
from omni.domain.orders import Side, StopKind
from omni.exchange import rules
from omni.exchange.matching import MatchingEngine
from tests.factories import T0, bar, btc, small_alt

D = Decimal


def params(**overrides) -> SizerParams:
    base = dict(
        min_profit=D(1),
        max_loss_per_trade=D(5),
        leverage_cap=D(20),
        max_notional=D(100_000),
        taker_fee=D("0.00055"),
        slippage=D("0.0005"),
        liq_buffer=D("0.005"),
    )
    base.update(overrides)
    return SizerParams(**base)


def size_btc(side=Side.BUY, stop=100.0, tp=200.0, budget="100", p=None, rate=0.0, settlements=0.0, inst=None):
    return sizer.size(inst or btc(), side, 20000.0, stop, tp, D(budget), p or params(), "c1", rate, settlements)


def no_fit(result) -> str:
    assert isinstance(result, NoFit), result
    return result.reason


# ---------------------------------------------------------------- hand-checked example

# BTC at 20 000, fee 0.055 %, slippage 0.05 %, tick 0.1; every fill as the sim venue makes it, rounded to the tick
# against us. Long: entry fill 20 000 x 1.0005 = 20 010.0; TP 20 200 fills at 20 200 x 0.9995 = 20 189.9;
# SL 19 900 fills at 19 900 x 0.9995 = 19 890.05 -> 19 890.0, minus one tick = 19 889.9.
# The qty is sized for min_profit + 0.00000002 (the venue rounds each leg's fee on its own). The budget check
# (margin plus entry fee), risk tier and notional caps are priced at qty x max(reference, entry fill), where the venue
# checks them: the fill for a long, the reference for a short. Sized.margin is what the position then holds, margin
# on qty x fill, and the liquidation price is the one of that position.
LONG_NET_UNIT = D("157.790055")  # (20 189.9 - 20 010) - 0.00055 x (20 010 + 20 189.9) = 179.9 - 22.109945
LONG_LOSS_UNIT = D("142.044945")  # (20 010 - 19 889.9) + 0.00055 x (20 010 + 19 889.9) = 120.1 + 21.944945


def test_long_btc_example_matches_a_hand_computation():
    # Arrange: BTC at 20 000, stop 100, target 200, 1 USDT to make, 100 budget (fills: see LONG_NET_UNIT)
    # qty = ceil_step(1.00000002 / 157.790055 = 0.00634) = 0.007 -> notional 0.007 x max(20 000, 20 010) = 140.07
    # entry fee 140.07 x 0.00055 = 0.0770385, room 99.9229615 -> leverage ceil(140.07 / 99.92) = 2, margin 70.035
    # liq = 20 010 - (70.035 - 140.07 x 0.005) / 0.007 = 20 010 - 9 904.95 = 10 105.05 -> up to the tick 10 105.1
    # Act
    s = size_btc()
    # Assert
    assert isinstance(s, Sized)
    i = s.intent
    assert (i.client_id, i.symbol, i.side, i.qty) == ("c1", "BTCUSDT", Side.BUY, D("0.007"))
    assert (i.stop_loss, i.take_profit, i.leverage) == (D("19900.0"), D("20200.0"), D(2))  # placed from 20 000
    assert not i.reduce_only and i.price is None
    assert s.entry == D("20010.0")  # the expected fill, not the reference close
    assert s.net_at_tp == D("1.10453038")  # 0.007 x 157.790055 = 1.104530385, banker's rounding
    assert s.loss_at_sl == D("0.99431462")  # 0.007 x 142.044945 = 0.994314615, banker's rounding
    assert s.margin == D("70.035")
    assert s.entry_fee == D("0.0770385")
    assert s.liq_price == D("10105.1")
    assert s.fees_round_trip_tp == D("0.15476962")  # 0.00055 x 0.007 x 40 199.9 = 0.154769615
    assert s.funding_expected == 0


def test_short_btc_example_with_funding_received_matches_a_hand_computation():
    # Arrange: short, entry fill 20 000 x 0.9995 = 19 990.0; rate +0.05 % over one settlement: shorts receive
    # 19 990 x 0.0005 = 9.995 per unit
    # SL 20 100 (fill 20 100 x 1.0005 = 20 110.05 -> 20 110.1, plus one tick = 20 110.2), TP 19 800 (fill
    # 19 800 x 1.0005 = 19 809.9)
    # net/unit  = (19 990 - 19 809.9) - 0.00055 x 39 799.9 + 9.995 = 180.1 - 21.889945 + 9.995 = 168.205055
    # loss/unit = (20 110.2 - 19 990) + 0.00055 x 40 100.2 = 120.2 + 22.05511 = 142.25511 (received funding does
    # not reduce it); qty = ceil_step(1.00000002 / 168.205055 = 0.00595) = 0.006; notional at the reference (above
    # the fill) 0.006 x max(20 000, 19 990) = 120; entry fee budgeted at the reference 0.006 x 20 000 x 0.00055
    # = 0.066, room 100 - 0.066 = 99.934 -> ceil(120 / 99.934 = 1.2008) = 2x (120 / 2 = 60 <= 99.934); the fee
    # charged at the fill 0.006 x 19 990 x 0.00055 = 0.065967; the position holds 0.006 x 19 990 / 2 = 59.97
    # liq = 19 990 + (59.97 - 119.94 x 0.005) / 0.006 = 19 990 + 59.3703 / 0.006 = 29 885.05 -> down to 29 885.0
    # Act
    s = size_btc(Side.SELL, rate=0.0005, settlements=1.0)
    # Assert
    assert isinstance(s, Sized)
    assert (s.intent.side, s.intent.qty, s.intent.stop_loss, s.intent.take_profit) == (
        Side.SELL,
        D("0.006"),
        D("20100.0"),
        D("19800.0"),
    )
    assert s.entry == D("19990.0")
    assert s.net_at_tp == D("1.00923033")  # 0.006 x 168.205055
    assert s.loss_at_sl == D("0.85353066")  # 0.006 x 142.25511
    assert s.funding_expected == D("-0.05997")  # 0.006 x -9.995
    assert s.entry_fee == D("0.065967")  # 119.94 x 0.00055
    assert (s.intent.leverage, s.margin) == (D(2), D("59.97"))
    assert s.liq_price == D("29885.0")


def test_levels_are_rounded_away_from_the_entry_onto_the_tick():
    s = sizer.size(btc(), Side.BUY, 20000.04, 100.03, 200.01, D(100), params(), "c1")
    assert isinstance(s, Sized)
    assert s.entry == D("20010.0")  # the reference rounds to 20 000.0, the fill is 20 000 x 1.0005
    assert (s.intent.stop_loss, s.intent.take_profit) == (D("19899.9"), D("20200.1"))  # from 20 000.0, not the fill


def test_the_entry_fill_is_rounded_to_the_tick_against_us():
    # 20 000.3 x 1.0005 = 20 010.30015 -> up to 20 010.4 for a long; 20 000.3 x 0.9995 = 19 990.29985 -> down to
    # 19 990.2 for a short
    long = sizer.size(btc(), Side.BUY, 20000.3, 100.0, 200.0, D(100), params(), "c1")
    short = sizer.size(btc(), Side.SELL, 20000.3, 100.0, 200.0, D(100), params(), "c2")
    assert isinstance(long, Sized) and isinstance(short, Sized)
    assert (long.entry, short.entry) == (D("20010.4"), D("19990.2"))
    assert (long.intent.stop_loss, long.intent.take_profit) == (D("19900.3"), D("20200.3"))
    assert (short.intent.stop_loss, short.intent.take_profit) == (D("20100.3"), D("19800.3"))


def test_dynamic_leverage_false_uses_the_cap():
    s = size_btc(p=params(dynamic_leverage=False))
    assert isinstance(s, Sized)
    assert s.intent.leverage == D(20)
    assert s.margin == D("7.0035")  # 140.07 / 20


def test_a_short_is_budgeted_at_the_reference_price_where_the_venue_checks_it():
    # Arrange: short 0.007 BTC fills at 19 990, but the venue checks margin, entry fee and risk limits at the last
    # price 20 000: 0.007 x 20 000 / 20 = 7 plus 0.007 x 20 000 x 0.00055 = 0.077 (6.9965 + 0.0769615 at the fill)
    p = params(dynamic_leverage=False)
    # Act
    s = size_btc(Side.SELL, budget="7.077", p=p)
    short_of_it = size_btc(Side.SELL, budget="7.07699999", p=p)  # would cover 7.0734615, the cost at the fill
    # Assert
    assert isinstance(s, Sized) and (s.entry, s.intent.qty, s.intent.leverage) == (D("19990.0"), D("0.007"), 20)
    assert s.margin == D("6.9965")  # what the position holds: 0.007 x 19 990 / 20
    assert s.entry_fee == D("0.0769615")  # charged on the fill: 0.007 x 19 990 x 0.00055
    assert no_fit(short_of_it) == "no_leverage_fits"
    # the venue accepts it on exactly that balance, and its position holds the sizer's margin and liquidation price
    eng, before = enter_in_engine(s, p, btc(), 20000.0, balance="7.077")
    pos = eng.position("BTCUSDT")
    assert pos is not None and (pos.margin, pos.liq_price) == (s.margin, s.liq_price)
    assert before - eng.balance == s.entry_fee


def test_dynamic_leverage_false_cap_is_the_lowest_of_config_symbol_and_tier():
    s = size_btc(p=params(dynamic_leverage=False, leverage_cap=D(100)), inst=btc(max_leverage="25"))
    assert isinstance(s, Sized) and s.intent.leverage == D(25)


def test_dynamic_leverage_is_the_lowest_that_fits_the_budget():
    s = size_btc(budget="10")  # 140.07 / (10 - 0.0770385) = 14.12 -> 15x
    assert isinstance(s, Sized)
    assert s.intent.leverage == D(15)
    assert s.margin == rules.initial_margin(D("140.07"), D(15)) == D("9.338")


def test_a_fractional_leverage_cap_is_used_when_the_exact_need_fits_under_it():
    # Arrange: the symbol allows 12.5x; 140.07 on a room of 11.4 needs 12.29x (ceiling 13x > 12.5x)
    inst = btc(max_leverage="12.5")
    # Act
    fits = size_btc(budget="11.4770385", inst=inst)  # room 11.4 after the 0.0770385 entry fee
    over = size_btc(budget="11.1770385", inst=inst)  # room 11.1: needs 12.62x > 12.5x
    # Assert
    assert isinstance(fits, Sized)
    assert fits.intent.leverage == D("12.5")
    assert fits.margin == D("11.2056")  # 140.07 / 12.5 <= 11.4
    assert no_fit(over) == "no_leverage_fits"


def test_funding_paid_raises_the_qty_needed_and_the_loss_at_stop():
    # Arrange: long pays 0.05 % x 2 settlements on the 20 010 fill = 20.01 per unit -> net/unit 137.780055
    # -> 1 / 137.78 = 0.00726 -> 0.008 (0.007 without funding)
    base = size_btc()
    # Act
    paid = size_btc(rate=0.0005, settlements=2.0)
    # Assert
    assert isinstance(base, Sized) and isinstance(paid, Sized)
    assert (base.intent.qty, paid.intent.qty) == (D("0.007"), D("0.008"))
    assert paid.funding_expected == D("0.16008")  # 0.008 x 20.01
    assert paid.net_at_tp == D("1.10224044")  # 0.008 x 137.780055
    assert paid.loss_at_sl == rules.money(D("0.008") * (LONG_LOSS_UNIT + D("20.01"))) == D("1.29643956")


def test_funding_received_does_not_lower_the_loss_at_stop():
    received = size_btc(rate=-0.0005, settlements=1.0)
    assert isinstance(received, Sized)
    assert received.intent.qty == D("0.006")  # net/unit 157.790055 + 10.005 = 167.795055
    assert received.loss_at_sl == rules.money(received.intent.qty * LONG_LOSS_UNIT) == D("0.85226967")


def test_min_notional_sets_the_smallest_qty():
    # 0.01 USDT to make needs only 0.0001 BTC, but 5 USDT of notional needs 0.001 (the min qty too)
    s = size_btc(p=params(min_profit=D("0.01")))
    assert isinstance(s, Sized) and s.intent.qty == D("0.001")


def test_min_notional_is_met_at_the_reference_price_even_when_the_division_rounds():
    # Arrange: the venue checks qty x last price >= min notional. With a min notional finer than Decimal's 28
    # digits, min_notional / 3 rounds to exactly 1 step, and 1 x 3 falls short of it: one more step is needed.
    min_notional = D("3.000000000000000000000000000003")
    inst = Instrument("ODDUSDT", D(1), D(1), D(1), D(100), D(10), default_tiers(D(10), D(1000)), min_notional)
    p = params(min_profit=D("0.01"), taker_fee=D(0), slippage=D(0))
    # Act
    s = sizer.size(inst, Side.BUY, 3.0, 1.0, 1.0, D(100), p, "c1")
    # Assert
    assert min_notional / 3 == 1  # the rounding this guards against
    assert isinstance(s, Sized)
    assert s.intent.qty == 2 and s.intent.qty * 3 >= min_notional


# ---------------------------------------------------------------- every NoFit reason


@pytest.mark.parametrize(
    ("side", "stop", "tp"), [(Side.BUY, 0.0, 200.0), (Side.BUY, 100.0, 0.0), (Side.SELL, 0.0, 200.0)]
)
def test_zero_distance_is_stop_too_tight(side, stop, tp):
    assert no_fit(size_btc(side, stop, tp)) == "stop_too_tight"


def test_stop_below_zero_is_stop_too_tight():
    assert no_fit(size_btc(Side.BUY, stop=20000.0)) == "stop_too_tight"


def test_short_target_at_or_below_zero_is_stop_too_tight():
    assert no_fit(size_btc(Side.SELL, tp=20000.0)) == "stop_too_tight"


def test_target_move_smaller_than_fees_is_fees_exceed_target_move():
    # 10 USDT move vs 0.055 % x 40 000 = 22 USDT of fees (and 20 more of slippage on both legs)
    assert no_fit(size_btc(tp=10.0)) == "fees_exceed_target_move"


def test_a_target_at_the_entry_fill_that_only_funding_income_pays_is_no_fit():
    # Arrange: no fees; a short at 1 000 (tick 0.0001) fills at 999.5 (slippage 0.05 %); its TP 0.5 below is 999.5,
    # which fills at 999.99975 -> 999.9998, above the entry fill; a received funding of 0.032 % over 2.5
    # settlements (0.80 per unit) would still make the trade "net" positive
    inst = Instrument("RNDUSDT", D("0.0001"), D("0.001"), D("0.001"), D(10**9), D(10), default_tiers(D(10), D(500), 1))
    p = params(taker_fee=D(0), slippage=D("0.0005"), min_profit=D("0.05"), max_loss_per_trade=D(1))
    # Act
    s = sizer.size(inst, Side.SELL, 1000.0, 0.5, 0.5, D("16.74"), p, "c1", 0.00032195, 2.5)
    # Assert: the risk guard refuses a take-profit that is not beyond the fill; the sizer never offers one
    assert no_fit(s) == "fees_exceed_target_move"


def test_target_move_eaten_by_the_entry_slippage_is_fees_exceed_target_move():
    # Arrange: no fees; TP 30 above 20 000 fills at 20 030 x 0.9995 = 20 019.985 -> 20 019.9
    p = params(taker_fee=D(0), min_profit=D("0.05"))
    # Act / Assert: an entry at the close would net 19.9 per unit, but the entry fills at 20 010.0 -> 9.9 per unit
    assert isinstance(size_btc(tp=30.0, p=p), Sized)
    # TP 15 above: 20 015 x 0.9995 = 20 004.9925 -> 20 004.9, below the 20 010.0 entry fill
    assert no_fit(size_btc(tp=15.0, p=p)) == "fees_exceed_target_move"


def test_funding_larger_than_the_move_is_fees_exceed_target_move():
    assert no_fit(size_btc(rate=0.01, settlements=1.0)) == "fees_exceed_target_move"  # 200.1 per unit paid


def test_loss_at_stop_above_the_cap_is_refused():
    assert no_fit(size_btc(p=params(max_loss_per_trade=D("0.99431461")))) == "loss_at_stop_over_cap"
    assert isinstance(size_btc(p=params(max_loss_per_trade=D("0.99431462"))), Sized)  # exactly the cap fits


def test_qty_above_the_symbol_max_is_refused():
    assert no_fit(size_btc(inst=replace(btc(), max_qty=D("0.006")))) == "qty_over_max"  # 0.007 needed


def test_notional_above_the_config_cap_is_refused():
    # a long's notional is priced at the entry fill: 0.007 x 20 010 = 140.07 (140 at the reference close)
    assert no_fit(size_btc(p=params(max_notional=D("140.06")))) == "notional_cap"
    assert isinstance(size_btc(p=params(max_notional=D("140.07"))), Sized)


def test_notional_of_a_short_above_the_config_cap_at_the_reference_is_refused():
    # a short's notional is priced at the reference: 0.007 x 20 000 = 140 (139.93 at the 19 990 fill)
    assert no_fit(size_btc(Side.SELL, p=params(max_notional=D("139.99")))) == "notional_cap"
    assert isinstance(size_btc(Side.SELL, p=params(max_notional=D(140))), Sized)


def test_notional_above_the_last_risk_tier_is_refused():
    # ALT at 1.0 fills at 1.0005; TP 1.02 fills at 1.02 x 0.9995 = 1.01949 -> 1.0194: net per unit
    # 0.0189 - 0.00055 x 2.0199 = 0.017789055, so 50 USDT needs 2 811 units = 2 812.41 USDT > last tier 2 000
    p = params(min_profit=D(50), max_loss_per_trade=D(10_000))
    s = sizer.size(small_alt(), Side.BUY, 1.0, 0.01, 0.02, D(1000), p, "c1")
    assert no_fit(s) == "notional_cap"


def test_budget_below_the_entry_fee_is_no_margin():
    assert no_fit(size_btc(budget="0.0770385")) == "no_margin"  # entry fee is exactly 140.07 x 0.00055
    assert isinstance(size_btc(budget="7.0805385", p=params(dynamic_leverage=False)), Sized)  # fee + 140.07 / 20


def test_leverage_needed_above_the_cap_is_no_leverage_fits():
    assert no_fit(size_btc(budget="5")) == "no_leverage_fits"  # 140.07 / 4.9229615 -> 29x > 20x


def test_margin_at_the_fixed_cap_above_budget_is_no_leverage_fits():
    # 7.0035 > 4.9229615
    assert no_fit(size_btc(budget="5", p=params(dynamic_leverage=False))) == "no_leverage_fits"


def test_risk_limit_tier_is_refused_on_a_ladder_listed_out_of_order():
    # Only reachable when the ladder is not sorted by limit (the sizer caps leverage at the notional's own tier,
    # which always admits it on a sorted ladder): 12 USDT at 157.79 net per unit needs 0.077 BTC = 1 540.77 USDT
    # at the 20 010 fill, in the 2 000 / 10x tier, so 8x is chosen (1 540.77 / (200 - 0.85)), but the last tier
    # admitting 8x (listed second) caps the position at 1 000 USDT.
    tiers = (
        RiskTier(1, D(2000), D("0.05"), D("0.1"), D(10)),
        RiskTier(2, D(1000), D("0.02"), D("0.05"), D(20)),
        RiskTier(3, D(3000), D("0.1"), D("0.2"), D(5)),
    )
    inst = Instrument("ODDUSDT", D("0.1"), D("0.001"), D("0.001"), D(100), D(20), tiers)
    p = params(min_profit=D(12), max_loss_per_trade=D(100), leverage_cap=D(20))
    s = sizer.size(inst, Side.BUY, 20000.0, 100.0, 200.0, D(200), p, "c1")
    assert no_fit(s) == "risk_limit_tier"


def test_liquidation_too_close_to_the_stop_is_refused():
    # wide 1 000 stop, tiny budget: 0.001 BTC = 20.01 USDT notional on 0.239 of room -> 84x -> liq 19 871.9,
    # far above the 19 000 stop
    p = params(leverage_cap=D(100), max_loss_per_trade=D(100))
    assert no_fit(size_btc(stop=1000.0, tp=2000.0, budget="0.25", p=p)) == "liq_too_close"


def test_liq_buffer_is_measured_from_the_stop_and_must_be_strictly_exceeded():
    # Arrange: no fees or slippage; 100 per unit to TP and min_profit 0.00000002 under 100, so with the sizer's
    # 0.00000002 of fee-rounding headroom exactly 1 BTC is sized: 50x -> liq 19 700; stop 19 800 -> 100 apart = 0.5 %
    # of 20 000
    p = params(
        min_profit=D("99.99999998"),
        max_loss_per_trade=D(1000),
        leverage_cap=D(100),
        taker_fee=D(0),
        slippage=D(0),
    )
    # Act
    inside = size_btc(stop=200.0, tp=100.0, budget="400", p=replace(p, liq_buffer=D("0.0049")))  # 98 < 100
    at_edge = size_btc(stop=200.0, tp=100.0, budget="400", p=replace(p, liq_buffer=D("0.005")))  # exactly 100
    # Assert
    assert isinstance(inside, Sized) and inside.intent.qty == 1 and inside.net_at_tp == 100
    assert inside.liq_price == D(19700) and inside.intent.leverage == 50
    assert no_fit(at_edge) == "liq_too_close"


# ---------------------------------------------------------------- fixed bugs (regression tests)


def test_a_sized_stop_is_strictly_beyond_the_liquidation_price_even_with_zero_buffer():
    # Arrange: 1 BTC at 50x -> liq 19 700; no fees, no slippage, no buffer (min_profit as in the test above)
    p = params(
        min_profit=D("99.99999998"),
        max_loss_per_trade=D(1000),
        leverage_cap=D(100),
        taker_fee=D(0),
        slippage=D(0),
        liq_buffer=D(0),
    )
    # Act
    on_liq = size_btc(stop=300.0, tp=100.0, budget="400", p=p)  # SL 19 700 = liq
    above = size_btc(stop=299.0, tp=100.0, budget="400", p=p)  # SL 19 701, one unit above liq
    # Assert
    assert no_fit(on_liq) == "liq_too_close"
    assert isinstance(above, Sized) and (above.intent.qty, above.intent.leverage) == (1, 50)
    assert (above.liq_price, above.intent.stop_loss) == (D(19700), D(19701))


def enter_in_engine(s: Sized, p: SizerParams, inst: Instrument, ref: float, balance: str = "100000"):
    """A matching engine whose last bar closed at ``ref`` (with room for the entry's slippage inside it),
    the sized order filled on it; returns the engine and its balance before the entry."""
    eng = MatchingEngine(
        {inst.symbol: inst}, balance=D(balance), taker_fee=p.taker_fee, maker_fee=D(0), slippage_bps=p.slippage * 10_000
    )
    wide = ref * float(3 * p.slippage) + 3 * float(inst.tick_size)
    eng.on_bar(Bar(inst.symbol, T0 - 60_000, ref, ref + wide, ref - wide, ref, 1.0))
    reject = eng.set_leverage(inst.symbol, s.intent.leverage)
    assert reject is None or reject.code == rules.LEVERAGE_NOT_MODIFIED, reject
    events = eng.place(s.intent, T0)
    assert not [ev for ev in events if isinstance(ev, OrderRejected)], events
    [fill] = [ev.fill for ev in events if isinstance(ev, OrderFilled)]
    assert (fill.qty, fill.price) == (s.intent.qty, s.entry)
    return eng, D(balance)


def test_net_at_tp_as_the_matching_engine_fills_both_legs_reaches_min_profit():
    # Arrange: slippage 1 bp: entry fills at 20 000 x 1.0001 = 20 002.0, TP 20 200 at 20 200 x 0.9999 = 20 197.98
    # -> 20 197.9 (down to the tick); net/unit 195.9 - 0.00055 x 40 199.9 = 173.790055. min_profit is 0.01 of it
    # less the sizer's 0.00000002 of headroom: (1.73790053 + 0.00000002) / 173.790055 = 0.01 exactly, so nothing
    # optimistic in the sizer's fills would go unnoticed
    p = params(min_profit=D("1.73790053"), slippage=D("0.0001"))
    s = size_btc(budget="1000", p=p)
    assert isinstance(s, Sized) and s.intent.qty == D("0.01") and s.net_at_tp == D("1.73790055")
    eng, before = enter_in_engine(s, p, btc(), 20000.0)
    # Act: a bar through the take-profit
    events = eng.on_bar(bar(ts=T0, o=20000, h=20300, low=19990, c=20250))
    [fill] = [e.fill for e in events if isinstance(e, OrderFilled)]
    # Assert: 0.01 x (20 197.9 - 20 002) - 0.110011 - 0.11108845 (fees of both legs, each exact here) = 1.73790055
    assert fill.price == D("20197.9")
    assert eng.position("BTCUSDT") is None
    assert eng.balance - before == s.net_at_tp >= p.min_profit


def test_loss_at_sl_as_the_matching_engine_fills_both_legs_is_within_the_cap():
    # Arrange: as above; SL 19 900 fills at 19 900 x 0.9999 = 19 898.01 -> 19 898.0 (the sizer assumes one more
    # tick: 19 897.9, loss/unit 104.1 + 0.00055 x 39 899.9 = 126.044945, x 0.01 = 1.26044945, exactly the cap)
    p = params(min_profit=D("1.73790053"), slippage=D("0.0001"), max_loss_per_trade=D("1.26044945"))
    s = size_btc(budget="1000", p=p)
    assert isinstance(s, Sized) and s.intent.qty == D("0.01") and s.loss_at_sl == p.max_loss_per_trade
    eng, before = enter_in_engine(s, p, btc(), 20000.0)
    # Act: a bar through the stop (no gap)
    events = eng.on_bar(bar(ts=T0, o=20000, h=20010, low=19800, c=19850))
    [fill] = [e.fill for e in events if isinstance(e, OrderFilled)]
    # Assert: 0.01 x (20 002 - 19 898) + 0.110011 + 0.109439 = 1.25945
    assert fill.price == D("19898.0")
    assert before - eng.balance == D("1.25945") <= p.max_loss_per_trade


def test_dynamic_leverage_is_a_plain_integer_when_printed():
    # Arrange: budget 14.0840385 leaves room 14.007 for 140.07 notional -> exactly 10x
    # Act
    s = size_btc(budget="14.0840385")
    # Assert
    assert isinstance(s, Sized) and s.intent.leverage == 10 and s.margin == D("14.007")
    assert str(s.intent.leverage) == "10"


def test_a_short_sized_just_over_a_tier_limit_at_the_reference_is_accepted_by_the_matching_engine():
    # Arrange: tier 1 up to 500 USDT at 50x, tier 2 up to 1 000 at 33.33x; a short at 100.00 fills at
    # 100 x 0.998 = 99.80 (0.2 % slippage), TP 99.00 at 99 x 1.002 = 99.198 -> 99.20: 0.60 per unit, so
    # (3.00599998 + 0.00000002) / 0.6 = 5.01 units, 499.998 at the fill but 501 at the last price, where the venue
    # checks the risk limit: the sizer prices the tier there and takes tier 2's 33.33x, not tier 1's 50x
    inst = Instrument("TIERUSDT", D("0.01"), D("0.01"), D("0.01"), D(10**6), D(50), default_tiers(D(50), D(500), 2))
    p = params(
        min_profit=D("3.00599998"),
        max_loss_per_trade=D(10),
        leverage_cap=D(50),
        taker_fee=D(0),
        slippage=D("0.002"),
        liq_buffer=D("0.0001"),
        dynamic_leverage=False,
    )
    s = sizer.size(inst, Side.SELL, 100.0, 0.5, 1.0, D(1000), p, "c1")
    assert isinstance(s, Sized) and (s.entry, s.intent.qty, s.net_at_tp) == (D("99.80"), D("5.01"), D("3.006"))
    assert s.intent.leverage == D("33.33")
    # the budget holds the margin at the reference, 501 / 33.33 = 15.03150316 (rounded up); the position holds it on
    # the fill, 499.998 / 33.33 = 15.0014401440.. -> 15.00144015
    assert rules.initial_margin(D(501), D("33.33")) == D("15.03150316") <= D(1000)
    assert s.margin == rules.initial_margin(D("499.998"), D("33.33")) == D("15.00144015")
    # Act: the venue accepts it (no 110090, position above the risk limit at the leverage)
    eng, _ = enter_in_engine(s, p, inst, 100.0)
    # Assert
    pos = eng.position(inst.symbol)
    assert pos is not None and (pos.size, pos.leverage) == (D("5.01"), D("33.33"))
    assert (pos.margin, pos.liq_price) == (s.margin, s.liq_price)


def test_a_short_margined_on_all_that_is_available_at_the_reference_is_accepted_by_the_matching_engine():
    # Arrange: short 0.007 BTC at 1x: the venue wants 0.007 x 20 000 = 140 of margin plus 0.007 x 20 000 x 0.00055
    # = 0.077 of fee, at the last price. A budget of 139.93 + 0.0769615 (both at the 19 990 fill) does not fit 1x:
    # 140 / (140.0069615 - 0.077) = 1.0005 -> 2x, holding 139.93 / 2 = 69.965
    at_fill = size_btc(Side.SELL, budget="140.0069615")
    s = size_btc(Side.SELL, budget="140.077")
    assert isinstance(at_fill, Sized) and (at_fill.intent.leverage, at_fill.margin) == (2, D("69.965"))
    assert isinstance(s, Sized) and (s.intent.leverage, s.margin, s.entry_fee) == (1, D("139.93"), D("0.0769615"))
    # Act: the venue accepts it (no 110007, available balance not enough)
    eng, before = enter_in_engine(s, params(), btc(), 20000.0, balance="140.077")
    # Assert: the position holds margin on the fill, 139.93, as the sizer says, and the fee is charged on the fill
    pos = eng.position("BTCUSDT")
    assert pos is not None and (pos.margin, pos.liq_price) == (s.margin, s.liq_price) == (D("139.93"), D("39880.0"))
    assert before - eng.balance == s.entry_fee


def test_net_at_tp_of_a_short_reaches_min_profit_when_the_slipped_prices_land_on_a_tick():
    # Arrange: a short at 1.7000 (tick 0.0001, slippage 0.2 %, no fees): the sizer fills the entry at
    # 1.7 x 0.998 = 1.6966 and the TP 1.6 at 1.6 x 1.002 = 1.6032 -> 0.0934 per unit, and
    # (9.33999998 + 0.00000002) / 0.0934 = 100 units for 9.34. In floats 1.7 x 0.998 = 1.69659999.. and
    # 1.6 x 1.002 = 1.60320000..02, which would round a tick worse (1.6965, 1.6033); the venue now slips in decimals
    inst = Instrument("ALTUSDT", D("0.0001"), D(1), D(1), D(10**6), D(25), default_tiers(D(25), D(5000)))
    p = params(
        min_profit=D("9.33999998"), max_loss_per_trade=D(100), leverage_cap=D(10), taker_fee=D(0), slippage=D("0.002")
    )
    s = sizer.size(inst, Side.SELL, 1.7, 0.05, 0.1, D(1000), p, "c1")
    assert isinstance(s, Sized) and (s.entry, s.intent.qty, s.net_at_tp) == (D("1.6966"), 100, D("9.34"))
    assert rules.slipped_price(inst, Side.SELL, 1.7, 0.002, 0.0, 10.0) == D("1.6966")
    assert rules.slipped_price(inst, Side.BUY, 1.6, 0.002, 0.0, 10.0) == D("1.6032")
    # Act
    eng, before = enter_in_engine(s, p, inst, 1.7)
    eng.on_bar(Bar(inst.symbol, T0, 1.7, 1.7, 1.59, 1.6, 1.0))
    # Assert: 100 x (1.6966 - 1.6032) = 9.34
    assert eng.position(inst.symbol) is None
    assert eng.balance - before == D("9.34") >= p.min_profit


def test_net_at_tp_reaches_min_profit_when_the_venue_rounds_each_fee_up():
    # Arrange: no slippage; entry 20 000.3, TP 20 200.3: 0.007 x (200 - 0.00055 x 40 200.6) = 1.24522769 exactly,
    # but the fees 0.007 x 20 000.3 x 0.00055 = 0.077001155 and 0.007 x 20 200.3 x 0.00055 = 0.077771155 are each
    # rounded (half-even) up to 0.07700116 and 0.07777116 by the venue: it realises 1.4 - 0.15477232 = 1.24522768.
    # min_profit 1.24522767: (1.24522767 + 0.00000002) / 177.88967 = 0.007 exactly, and the 1e-8 lost to the
    # rounding still leaves 1.24522768 >= 1.24522767
    p = params(min_profit=D("1.24522767"), slippage=D(0))
    s = sizer.size(btc(), Side.BUY, 20000.3, 100.0, 200.0, D(1000), p, "c1")
    assert isinstance(s, Sized) and (s.intent.qty, s.net_at_tp) == (D("0.007"), D("1.24522769"))
    eng, before = enter_in_engine(s, p, btc(), 20000.3)
    # Act
    eng.on_bar(bar(ts=T0, o=20000.3, h=20300, low=20000.3, c=20250))
    # Assert
    assert eng.position("BTCUSDT") is None
    assert eng.balance - before == D("1.24522768") >= p.min_profit


def test_a_min_profit_the_venue_would_miss_by_its_fee_rounding_is_sized_one_step_up():
    # Arrange: as above, but min_profit 1.24522769: 0.007 would net it exactly in the sizer's maths, 1e-8 less at
    # the venue; (1.24522769 + 0.00000002) / 177.88967 = 0.0070000001 -> 0.008
    p = params(min_profit=D("1.24522769"), slippage=D(0))
    # Act
    s = sizer.size(btc(), Side.BUY, 20000.3, 100.0, 200.0, D(1000), p, "c1")
    # Assert: 0.008 x 177.88967 = 1.42311736 (fees 0.08800132 + 0.08888132, exact)
    assert isinstance(s, Sized) and (s.intent.qty, s.net_at_tp) == (D("0.008"), D("1.42311736"))


def test_a_target_with_no_move_left_after_rounding_is_a_no_fit_not_an_exception():
    # Arrange: tick 0.5; a short at 1 000 fills at 999.9 -> 999.5, its TP 999.0 at 999.0999 -> 999.5: no move.
    # A received rate of 1e-278 nets ~6e-276 per unit: only funding income would pay, and a take-profit that is
    # not beyond the entry fill is refused by the risk guard, so it is no fit before any quantity is computed.
    inst = Instrument("RNDUSDT", D("0.5"), D("0.001"), D("0.001"), D(10**9), D(10), default_tiers(D(10), D(500), 1))
    p = params(min_profit=D("0.01"), max_loss_per_trade=D("0.01"), taker_fee=D(0), slippage=D("0.0001"))
    # Act
    s = sizer.size(inst, Side.SELL, 1000.0, 0.5, 1.0, D("0.5"), p, "c1", 1e-278, 0.0625)
    # Assert
    assert no_fit(s) == "fees_exceed_target_move"


def test_a_short_budget_that_covers_the_entry_fee_only_at_the_fill_is_not_sized_at_1x():
    # Arrange: short 0.007 BTC; 1x needs margin 0.007 x 20 000 = 140 plus the entry fee at the last price,
    # 0.007 x 20 000 x 0.00055 = 0.077, where the venue checks it (140.0769615 with the fee at the 19 990 fill).
    # A budget of 140.0769615 leaves room 139.9999615 < 140: 2x, holding 0.007 x 19 990 / 2 = 69.965
    budget = "140.0769615"
    # Act
    s = size_btc(Side.SELL, budget=budget)
    # Assert
    assert isinstance(s, Sized) and (s.intent.leverage, s.margin, s.entry_fee) == (2, D("69.965"), D("0.0769615"))
    assert rules.initial_margin(D(140), D(2)) + rules.trade_fee(D("0.007"), D(20000), D("0.00055")) <= D(budget)
    # a budget the reference fee alone eats is no margin, though it covers the fee at the fill (0.0769615)
    assert no_fit(size_btc(Side.SELL, budget="0.077")) == "no_margin"
    # the venue accepts it on exactly that balance (no 110007, available balance not enough)
    eng, before = enter_in_engine(s, params(), btc(), 20000.0, balance=budget)
    pos = eng.position("BTCUSDT")
    assert pos is not None and (pos.leverage, pos.margin) == (2, s.margin)
    assert before - eng.balance == s.entry_fee


def test_a_short_liquidation_price_is_the_one_of_the_venue_position():
    # Arrange: the short hand example: the budget is checked with margin 60 at the reference, but the position
    # holds 0.006 x 19 990 / 2 = 59.97 -> liq 19 990 + (59.97 - 0.006 x 19 990 x 0.005) / 0.006
    # = 19 990 + 59.3703 / 0.006 = 29 885.05 -> 29 885.0 (with margin 60: 19 990 + 59.4003 / 0.006 = 29 890.0)
    s = size_btc(Side.SELL, rate=0.0005, settlements=1.0)
    assert isinstance(s, Sized)
    # Act
    eng, _ = enter_in_engine(s, params(), btc(), 20000.0)
    # Assert
    pos = eng.position("BTCUSDT")
    assert pos is not None and (pos.margin, pos.liq_price) == (D("59.97"), D("29885.0"))
    assert (s.margin, s.liq_price) == (pos.margin, pos.liq_price)


def test_a_short_with_zero_liq_buffer_is_stopped_before_it_is_liquidated():
    # Arrange: no fees, slippage 0.2 %, no buffer; short 1 BTC at 20 000 fills at 19 960, TP 19 800 at
    # 19 800 x 1.002 = 19 839.6: 120.4 per unit, (120.39999998 + 0.00000002) / 120.4 = 1 BTC. Stop 20 260 fills at
    # 20 260 x 1.002 = 20 300.52 -> 20 300.6, one more tick 20 300.7: loss 340.7 <= 350.
    # Budget 400 -> 20 000 / 400 = 50x; the position holds 19 960 / 50 = 399.2 -> liq 19 960 + 399.2 - 99.8
    # = 20 259.4, inside the 20 260.0 stop: refused (margin 400 at the reference would put it at 20 260.2, beyond).
    # Budget 20 000 / 49 = 408.16326531 (rounded up) -> 49x; the position holds 19 960 / 49 = 407.34693878 (rounded
    # up) -> liq 19 960 + 407.34693878 - 99.8 = 20 267.54693878 -> down to 20 267.5, beyond the stop
    p = params(
        min_profit=D("120.39999998"),
        max_loss_per_trade=D(350),
        leverage_cap=D(100),
        taker_fee=D(0),
        slippage=D("0.002"),
        liq_buffer=D(0),
    )
    at_50x = size_btc(Side.SELL, stop=260.0, tp=200.0, budget="400", p=p)
    assert no_fit(at_50x) == "liq_too_close"
    assert no_fit(size_btc(Side.SELL, stop=260.0, tp=200.0, budget="408.1632653", p=p)) == "liq_too_close"  # 50x
    s = size_btc(Side.SELL, stop=260.0, tp=200.0, budget="408.16326531", p=p)
    assert isinstance(s, Sized) and (s.intent.qty, s.intent.leverage, s.margin) == (1, 49, D("407.34693878"))
    assert (s.entry, s.intent.stop_loss, s.liq_price, s.loss_at_sl) == (
        D("19960.0"),
        D("20260.0"),
        D("20267.5"),
        D("340.7"),
    )
    eng, before = enter_in_engine(s, p, btc(), 20000.0)
    pos = eng.position("BTCUSDT")
    assert pos is not None and (pos.margin, pos.liq_price) == (s.margin, s.liq_price)
    # Act: a bar up through the stop and the liquidation price
    events = eng.on_bar(bar(ts=T0, o=20000, h=20400, low=19990, c=20350))
    # Assert: stopped out within the cap, not liquidated (which costs the whole 407.35 of margin)
    assert not [ev for ev in events if isinstance(ev, Liquidated)], events
    [fill] = [ev.fill for ev in events if isinstance(ev, OrderFilled)]
    assert fill.stop_kind is StopKind.STOP_LOSS
    assert before - eng.balance <= p.max_loss_per_trade


# ---------------------------------------------------------------- properties

TICKS = [D("0.0001"), D("0.001"), D("0.01"), D("0.1"), D("0.5")]
STEPS = [D("0.001"), D("0.01"), D("0.1"), D(1), D(10)]
MAX_LEVERAGES = [D(10), D("12.5"), D(20), D(25), D(50), D(75), D(100)]
CENT = D("0.01")


@st.composite
def instruments(draw) -> Instrument:
    tick = draw(st.sampled_from(TICKS))
    step = draw(st.sampled_from(STEPS))
    max_lev = draw(st.sampled_from(MAX_LEVERAGES))
    first_limit = draw(st.sampled_from([D(500), D(5_000), D(50_000), D(2_000_000)]))
    tiers = default_tiers(max_lev, first_limit, draw(st.integers(1, 5)))
    return Instrument(
        "RNDUSDT",
        tick,
        step,
        step * draw(st.integers(1, 5)),
        D(10) ** 9,
        max_lev,
        tiers,
        min_notional=draw(st.sampled_from([D(5), D(1)])),
    )


@st.composite
def cases(draw):
    inst = draw(instruments())
    # one qty step is worth 0.001 .. 20 USDT (as listed symbols are), and the price is at least 200 ticks
    step_value = draw(st.floats(0.001, 20.0))
    ticks = max(200, int(step_value / float(inst.qty_step) / float(inst.tick_size)))
    price = float(inst.tick_size * ticks) + float(inst.tick_size) * draw(st.floats(-0.49, 0.49))
    stop = price * draw(st.floats(0.0005, 0.05))
    tp = stop * draw(st.floats(0.5, 6.0))  # reward/risk before costs
    budget = draw(st.decimals(D("0.5"), D(5000), places=2))
    min_profit = draw(st.decimals(D("0.01"), D(5), places=2))
    p = SizerParams(
        min_profit=min_profit,
        max_loss_per_trade=max((min_profit * draw(st.decimals(D("0.2"), D(20), places=2))).quantize(CENT), CENT),
        leverage_cap=draw(st.sampled_from([D(1), D(3), D(10), D(20), D(50), D(100)])),
        max_notional=draw(st.sampled_from([D(100), D(10_000), D(1_000_000)])),
        taker_fee=draw(st.sampled_from([D(0), D("0.0002"), D("0.00055"), D("0.001")])),
        slippage=draw(st.sampled_from([D(0), D("0.0001"), D("0.0005"), D("0.002")])),
        liq_buffer=draw(st.sampled_from([D("0.0001"), D("0.005"), D("0.02")])),
        dynamic_leverage=draw(st.booleans()),
    )
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    rate = draw(st.integers(-100_000, 100_000)) / 100_000_000  # +-0.1 %, quoted to 1e-8 as Bybit does
    settlements = draw(st.sampled_from([0.0, 0.0625, 0.5, 1.0, 2.5]))
    return inst, side, price, stop, tp, budget, p, rate, settlements


PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = D("1e-12")  # Decimal's 28-digit division in the sizer's qty, not money
# the sizer sizes for min_profit plus this much: the venue rounds each leg's fee to 1e-8 on its own (half-even),
# so two legs may cost up to 1e-8 more than the exact fees
HEADROOM = 2 * rules.MONEY


def dec(x: float) -> Decimal:
    return Decimal(repr(x))


def run(case) -> Sized | NoFit:
    inst, side, price, stop, tp, budget, p, rate, settlements = case
    return sizer.size(inst, side, price, stop, tp, budget, p, "prop-1", rate, settlements)


def fills(inst: Instrument, long: bool, e: Decimal, tp: Decimal, sl: Decimal, slip: Decimal):
    """Entry, TP and SL fills as the sim venue makes them, in exact decimals: market orders moved by the
    slippage and rounded to the tick against us (the sizer assumes the stop one tick worse still)."""
    if long:
        return inst.price_up(e * (1 + slip)), inst.price_down(tp * (1 - slip)), inst.price_down(sl * (1 - slip))
    return inst.price_down(e * (1 - slip)), inst.price_up(tp * (1 + slip)), inst.price_up(sl * (1 + slip))


@PROPS
@given(cases())
def test_property_sized_orders_respect_every_limit(case):
    inst, side, price, _stop, _tp, budget, p, rate, settlements = case
    result = run(case)
    event(result.reason if isinstance(result, NoFit) else "sized")
    if isinstance(result, NoFit):
        return
    i = result.intent
    long = side is Side.BUY
    sign = 1 if long else -1
    qty, sl, tp, lev = i.qty, i.stop_loss, i.take_profit, i.leverage
    e = inst.round_price(price)  # the reference close: levels are placed from it, the venue checks orders at it
    e_fill, tp_fill, sl_fill = fills(inst, long, e, tp, sl, p.slippage)
    sl_fill -= sign * inst.tick_size
    # margin, risk tier and caps at the larger of the reference (where the venue checks the order) and the fill
    notional = qty * max(e, e_fill)

    # the order itself, entered at the expected fill
    assert (i.symbol, i.side, i.client_id, i.reduce_only) == (inst.symbol, side, "prop-1", False)
    assert inst.on_tick(e) and result.entry == e_fill
    assert (e <= e_fill) if long else (e_fill <= e)
    assert inst.on_step(qty) and inst.min_qty <= qty <= inst.max_qty
    assert qty * e >= inst.min_notional
    assert qty * e <= notional <= p.max_notional and qty * e_fill <= notional <= inst.risk_tiers[-1].limit
    assert inst.on_tick(sl) and inst.on_tick(tp) and sl > 0 and tp > 0
    assert (sl < e < tp) if long else (tp < e < sl)

    # leverage and margin; a leverage is a plain integer unless it is a (fractional) cap
    caps = (p.leverage_cap, inst.max_leverage, rules.max_leverage_for_value(inst, notional))
    assert 1 <= lev <= min(caps)
    assert (lev == lev.to_integral_value() and "E" not in str(lev)) or lev in caps
    assert result.entry_fee == rules.trade_fee(qty, e_fill, p.taker_fee)
    # the budget covers margin and entry fee where the venue checks them; the position holds margin on the fill
    fee_checked = rules.trade_fee(qty, max(e, e_fill), p.taker_fee)
    assert rules.initial_margin(notional, lev) + fee_checked <= budget
    assert result.margin == rules.initial_margin(qty * e_fill, lev) <= rules.initial_margin(notional, lev)
    assert result.margin + result.entry_fee <= budget
    # the risk tier admits the position at the reference (the venue's check) and at the fill (its entry value)
    assert rules.check_risk_limit(inst, qty * e, lev) is None
    assert rules.check_risk_limit(inst, qty * e_fill, lev) is None
    if p.dynamic_leverage and lev > 1:  # the lowest leverage that fits: one less would not
        lower = lev - 1 if lev == lev.to_integral_value() else lev.to_integral_value(ROUND_FLOOR)
        assert rules.initial_margin(notional, lower) > budget - fee_checked

    # net at TP: both legs filled as the venue fills them, taker fees on both, minus expected funding; sized with
    # the headroom for the venue's rounding of each fee
    funding_unit = e_fill * dec(rate) * dec(settlements) * sign
    net = qty * ((tp_fill - e_fill) * sign) - p.taker_fee * qty * (e_fill + tp_fill) - qty * funding_unit
    assert net >= p.min_profit + HEADROOM - TOL
    assert abs(result.net_at_tp - net) <= D("1e-8")
    assert abs(result.funding_expected - qty * funding_unit) <= D("1e-8")
    assert result.fees_round_trip_tp == rules.money(p.taker_fee * qty * (e_fill + tp_fill))

    # loss at SL: exit at SL moved by slippage and one more tick, fees on both legs, funding if paid
    loss = qty * ((e_fill - sl_fill) * sign) + p.taker_fee * qty * (e_fill + sl_fill) + qty * max(funding_unit, D(0))
    assert rules.money(loss) <= p.max_loss_per_trade
    assert abs(result.loss_at_sl - loss) <= D("1e-8")

    # liquidation strictly beyond the stop by the buffer, for the position the venue opens: entered at the fill,
    # margin on qty x fill
    buffer = e * p.liq_buffer
    liq = rules.liquidation_price(inst, side, e_fill, qty, lev, rules.initial_margin(qty * e_fill, lev))
    assert liq == result.liq_price
    assert (liq < sl - buffer) if long else (liq > sl + buffer)


def limits_for(p: SizerParams) -> Limits:
    return Limits(
        max_concurrent=10,
        max_loss_per_trade=p.max_loss_per_trade,
        max_daily_loss=D(10) ** 9,
        max_drawdown_pct=D(100),
        max_leverage=p.leverage_cap,
        max_notional=p.max_notional,
        taker_fee=p.taker_fee,
        slippage=p.slippage,
    )


@PROPS
@given(cases(), st.sampled_from(["tp", "sl"]))
def test_property_sized_orders_pass_the_risk_guard_and_the_matching_engine(case, exit_by):
    inst, side, price, _stop, _tp, budget, p, rate, settlements = case
    result = run(case)
    if isinstance(result, NoFit):
        return
    intent = result.intent
    long = side is Side.BUY
    e = inst.round_price(price)
    _, tp_fill, sl_fill = fills(inst, long, e, intent.take_profit, intent.stop_loss, p.slippage)

    # the risk guard with the same limits approves it, with the same (or, without funding, smaller) loss
    guard = RiskGuard(limits_for(p))
    verdict = guard.check(intent, inst, result.entry, Portfolio(D(10) ** 9), D(10) ** 9)
    assert isinstance(verdict, Approved), verdict
    assert verdict.max_loss <= result.loss_at_sl

    # a matching engine whose last bar closed at the reference, holding no more than the budget, fills it at the
    # expected fill and attaches its stops (enter_in_engine checks the fill); the position holds the sizer's margin,
    # on qty x fill, and has the sizer's liquidation price
    eng, before = enter_in_engine(result, p, inst, float(e), balance=str(budget))
    pos = eng.position(inst.symbol)
    assert pos is not None and pos.side is side and pos.size == intent.qty
    assert (pos.stop_loss, pos.take_profit) == (intent.stop_loss, intent.take_profit)
    assert pos.leverage == intent.leverage
    assert pos.margin == rules.initial_margin(intent.qty * result.entry, intent.leverage) == result.margin
    assert pos.liq_price == result.liq_price
    assert before - eng.balance == result.entry_fee

    # the next bar reaches the take-profit or the stop (without a gap, well through the slipped fill) and no
    # other level: the position is closed there, at the fill the sizer expects (the stop a tick better). The
    # engine settles no funding here, so the expected funding (paid: > 0) is taken off the engine's net and added
    # to its loss, as the sizer does.
    tp, sl = float(intent.take_profit), float(intent.stop_loss)
    ref, tick, slip = float(e), float(inst.tick_size), float(p.slippage)
    funding = intent.qty * result.entry * dec(rate) * dec(settlements) * (1 if long else -1)  # exact, > 0: paid
    if exit_by == "tp":
        far = tp * (1 + 3 * slip) + 3 * tick if long else max(tp * (1 - 3 * slip) - 3 * tick, tick)
        high, low = (far, ref) if long else (ref, far)
    else:
        far = max(sl * (1 - 3 * slip) - 3 * tick, tick) if long else sl * (1 + 3 * slip) + 3 * tick
        high, low = (ref, far) if long else (far, ref)
    events = eng.on_bar(Bar(inst.symbol, T0, ref, high, low, ref, 1.0))
    assert not [ev for ev in events if isinstance(ev, OrderRejected)], events
    [fill] = [ev.fill for ev in events if isinstance(ev, OrderFilled)]
    assert fill.stop_kind is (StopKind.TAKE_PROFIT if exit_by == "tp" else StopKind.STOP_LOSS)
    assert fill.price == (tp_fill if exit_by == "tp" else sl_fill)
    assert eng.position(inst.symbol) is None
    pnl = eng.balance - before
    if exit_by == "tp":
        assert pnl - funding >= p.min_profit, (pnl, funding)
    else:  # the venue fills the stop a tick better than the sizer assumes: no rounding can eat that
        assert -pnl + max(funding, D(0)) <= result.loss_at_sl, (pnl, funding)
        assert -pnl <= p.max_loss_per_trade


def test_property_strategy_is_not_vacuous():
    # the generator must reach Sized results, or the two properties above would pass without checking anything
    quick = settings(max_examples=2000, database=None, phases=[Phase.generate])
    found = find(cases(), lambda c: isinstance(run(c), Sized), settings=quick)
    assert isinstance(run(found), Sized)

"""Bybit linear-perp maths against worked examples."""

from decimal import Decimal as D

import pytest

from omni.domain.instrument import build_tiers
from omni.domain.orders import Side
from omni.exchange import rules
from tests.factories import btc, market


def test_liquidation_price_long_matches_bybit_worked_example():
    # Arrange: 1 BTC at 20 000, 50x, MMR 0.5 % -> IM 400, MM 100
    # Act
    lp = rules.liquidation_price(btc(), Side.BUY, D(20000), D(1), D(50))
    # Assert
    assert lp == D("19700.0")


def test_liquidation_price_short_mirrors_long():
    assert rules.liquidation_price(btc(), Side.SELL, D(20000), D(1), D(50)) == D("20300.0")


def test_liquidation_price_uses_tier_mmr_and_deduction():
    # 300 BTC at 20 000 = 6M USDT: tier 3 (MMR 1.5 %, deduction 2M*0.005 + 4M*0.005 = 30 000)
    inst = btc()
    tier = inst.tier_for_value(D(6_000_000))
    assert tier.tier == 3 and tier.mm_deduction == D(30_000)
    mm = rules.maintenance_margin(D(6_000_000), tier)
    assert mm == D(60_000)  # 90 000 - 30 000
    lp = rules.liquidation_price(inst, Side.BUY, D(20000), D(300), D(50))
    # IM 120 000, MM 60 000 -> 20 000 - 60 000/300 = 19 800
    assert lp == D("19800.0")


def test_mm_deduction_matches_third_party_capture():
    # HYPEUSDT ladder capture: deductions 16.5 then 44 (see docs/bybit-v5.md section 7)
    tiers = build_tiers(
        [D(1500), D(4000), D(10000)], [D("0.01"), D("0.021"), D("0.0285")], [D("0.02"), D("0.04"), D("0.05")]
    )
    assert [t.mm_deduction for t in tiers] == [D(0), D("16.5"), D("46.5")]


def test_bankruptcy_price_loses_exactly_the_margin():
    bust = rules.bankruptcy_price(Side.BUY, D(20000), D(1), D(400))
    assert bust == D(19600)
    assert (bust - D(20000)) * D(1) == -D(400)


@pytest.mark.parametrize(
    ("qty", "price", "rate", "fee"),
    [("1", "20000", "0.00055", "11"), ("0.5", "95900.1", "0.00055", "26.37252750"), ("2", "10", "0.0002", "0.004")],
)
def test_trade_fee_is_qty_times_price_times_rate(qty, price, rate, fee):
    assert rules.trade_fee(D(qty), D(price), D(rate)) == D(fee)


def test_funding_long_pays_positive_rate_short_receives():
    assert rules.funding_payment(Side.BUY, D(2), D(30000), D("0.0001")) == D(6)
    assert rules.funding_payment(Side.SELL, D(2), D(30000), D("0.0001")) == D(-6)
    assert rules.funding_payment(Side.BUY, D(2), D(30000), D("-0.0001")) == D(-6)


def test_initial_margin_rounds_up():
    assert rules.initial_margin(D(10), D(3)) == D("3.33333334")


def test_stop_loss_on_wrong_side_of_market_is_rejected_with_bybit_message():
    reject = rules.check_stops(Side.BUY, D(20000), None, D(20100))
    assert reject is not None and reject.code == 10001
    assert "should lower than base_price" in reject.message
    assert rules.check_stops(Side.SELL, D(20000), None, D(19900)).code == 10001
    assert rules.check_stops(Side.BUY, D(20000), D(21000), D(19900)) is None


def test_stop_loss_beyond_liquidation_is_rejected():
    reject = rules.check_stops(Side.BUY, D(20000), None, D(19000), liq_price=D(19700))
    assert reject is not None and "liq_price" in reject.message


def test_take_profit_on_wrong_side_is_rejected():
    assert rules.check_stops(Side.BUY, D(20000), D(19000), None).code == 10001
    assert rules.check_stops(Side.SELL, D(20000), D(21000), None).code == 10001


def test_leverage_above_symbol_max_is_rejected():
    assert rules.check_leverage(btc("50"), D(51)).code == 10001
    assert rules.check_leverage(btc("50"), D(50)) is None


def test_leverage_not_allowed_for_position_tier():
    # tier 2 (up to 4M) allows 66.66x; a 3M position cannot use 100x
    assert rules.check_leverage(btc(), D(100), position_value=D(3_000_000)).code == 110013


def test_order_shape_checks():
    inst = btc()
    assert rules.check_order_shape(inst, market(Side.BUY, "0.0005"), D(20000)).code == 10001  # below min qty
    assert rules.check_order_shape(inst, market(Side.BUY, "0.0015"), D(20000)).code == 10001  # off step
    assert rules.check_order_shape(inst, market(Side.BUY, "0.001"), D(4000)).code == 110094  # 4 USDT < 5
    assert rules.check_order_shape(inst, market(Side.BUY, "0.001", sl="19999.95"), D(20000)).code == 10001
    assert rules.check_order_shape(inst, market(Side.BUY, "0.001"), D(20000)) is None


def test_risk_limit_caps_position_value_at_leverage():
    inst = btc()
    assert rules.check_risk_limit(inst, D(1_999_999), D(100)) is None
    reject = rules.check_risk_limit(inst, D(2_500_000), D(100))
    assert reject.code == 110090 and "66.66" in reject.message


def test_slipped_price_moves_against_taker_and_stays_in_bar():
    inst = btc()
    assert rules.slipped_price(inst, Side.BUY, 20000.0, 0.001, 19900, 20100) == D("20020.0")
    assert rules.slipped_price(inst, Side.SELL, 20000.0, 0.001, 19990, 20100) == D("19990.0")

"""BreakoutRule: warm-up, Donchian breakouts on close, ATR-scaled distances, per-symbol state."""

from __future__ import annotations

import pytest

from omni.core.entry_rule import BreakoutRule, Signal
from omni.domain.market import Bar
from omni.domain.orders import Side
from tests.factories import T0

MIN = 60_000


def rule(lookback: int = 3, atr_bars: int = 3, stop_atr: float = 2.0, take_profit_atr: float = 3.0,
         timeframe: int = 1) -> BreakoutRule:
    return BreakoutRule(lookback, atr_bars, stop_atr, take_profit_atr, timeframe)


def bars(rows: list[tuple[float, float, float]], symbol: str = "BTCUSDT", start: int = 0) -> list[Bar]:
    """(high, low, close) rows -> 1m bars; open = previous close."""
    out, prev = [], rows[0][2]
    for i, (h, lo, c) in enumerate(rows):
        out.append(Bar(symbol, T0 + (start + i) * MIN, prev, h, lo, c, 1.0))
        prev = c
    return out


def run(r: BreakoutRule, series: list[Bar]) -> list[Signal | None]:
    return [r.on_bar(b) for b in series]


# three quiet bars: TR 2, 2, 2 (the first bar's TR is its range; later TRs include the previous close)
QUIET = [(101.0, 99.0, 100.0), (102.0, 100.0, 101.0), (101.5, 99.5, 100.0)]


def test_breakout_above_prior_high_is_a_buy_with_atr_scaled_distances():
    # Arrange: the 4th bar closes at 104 above the prior 3-bar high of 102
    r = rule(lookback=3, atr_bars=3, stop_atr=2.0, take_profit_atr=3.0)
    series = bars([*QUIET, (105.0, 100.0, 104.0)])

    # Act
    signals = run(r, series)

    # Assert: TR of the last bar = max(105, 100) - min(100, 100) = 5; ATR(3) = (2 + 2 + 5) / 3 = 3
    assert signals[:3] == [None, None, None]
    sig = signals[3]
    assert sig is not None
    assert sig.symbol == "BTCUSDT" and sig.side is Side.BUY and sig.price == 104.0
    assert sig.stop_distance == pytest.approx(6.0) and sig.take_profit_distance == pytest.approx(9.0)
    assert sig.timeframe == 1 and "3-bar high" in sig.reason


def test_breakdown_below_prior_low_is_a_sell():
    # Arrange: the 4th bar closes at 97 below the prior 3-bar low of 99
    r = rule(stop_atr=1.5, take_profit_atr=2.0, timeframe=5)
    series = bars([*QUIET, (100.0, 96.0, 97.0)])

    # Act
    sig = run(r, series)[3]

    # Assert: TR = max(100, 100) - min(96, 100) = 4; ATR = (2 + 2 + 4) / 3 = 8/3
    assert sig is not None and sig.side is Side.SELL and sig.price == 97.0
    assert sig.stop_distance == pytest.approx(8 / 3 * 1.5)
    assert sig.take_profit_distance == pytest.approx(8 / 3 * 2.0)
    assert sig.timeframe == 5 and "3-bar low" in sig.reason


def test_true_range_spans_a_gap_from_the_previous_close():
    # Arrange: the last bar gaps up: its own range is 2 (106..108) but the TR from the 100 close is 8
    r = rule(lookback=3, atr_bars=3)
    series = bars([*QUIET, (108.0, 106.0, 107.0)])

    # Act
    sig = run(r, series)[3]

    # Assert: ATR = (2 + 2 + 8) / 3 = 4
    assert sig is not None and sig.side is Side.BUY
    assert sig.stop_distance == pytest.approx(8.0) and sig.take_profit_distance == pytest.approx(12.0)


def test_atr_is_a_moving_window_of_the_last_n_true_ranges():
    # Arrange: atr_bars 2 drops the oldest TR; lookback 2
    r = rule(lookback=2, atr_bars=2, stop_atr=1.0, take_profit_atr=1.0)
    series = bars([(110.0, 90.0, 100.0), (101.0, 99.0, 100.0), (101.0, 99.0, 100.0), (103.0, 100.0, 102.0)])

    # Act
    signals = run(r, series)

    # Assert: the 20-wide first bar is out of the window by bar 4: ATR = (2 + 3) / 2; prior 2-bar high 101
    assert signals[:3] == [None, None, None]
    assert signals[3] is not None and signals[3].stop_distance == pytest.approx(2.5)


def test_nothing_before_the_lookback_window_is_full():
    # Arrange: lookback 3 but ATR ready after 1 bar; the 3rd bar "breaks out" with only 2 prior bars
    r = rule(lookback=3, atr_bars=1)
    series = bars([(101.0, 99.0, 100.0), (101.0, 99.0, 100.0), (120.0, 100.0, 119.0), (130.0, 110.0, 129.0)])

    # Act
    signals = run(r, series)

    # Assert: the first possible signal is on the 4th bar
    assert signals[:3] == [None, None, None]
    assert signals[3] is not None and signals[3].side is Side.BUY


def test_nothing_before_the_atr_window_is_full():
    # Arrange: lookback 1 is ready from the 2nd bar, ATR(4) only from the 4th
    r = rule(lookback=1, atr_bars=4)
    series = bars([(101.0, 99.0, 100.0), (111.0, 100.0, 110.0), (121.0, 110.0, 120.0), (131.0, 120.0, 130.0)])

    # Act
    signals = run(r, series)

    # Assert
    assert signals[:3] == [None, None, None]
    assert signals[3] is not None and signals[3].side is Side.BUY


def test_close_equal_to_the_prior_high_is_not_a_breakout():
    r = rule()
    assert run(r, bars([*QUIET, (103.0, 100.0, 102.0)]))[3] is None


def test_a_high_above_the_range_without_a_close_above_is_not_a_breakout():
    r = rule()
    assert run(r, bars([*QUIET, (110.0, 100.0, 101.5)]))[3] is None


def test_the_breakout_bar_joins_the_window_for_the_next_bar():
    # Arrange: after a breakout to 104 (high 105), a close at 104.5 is no longer above the window's high
    r = rule()
    run(r, bars([*QUIET, (105.0, 100.0, 104.0)]))

    # Act
    sig = r.on_bar(Bar("BTCUSDT", T0 + 4 * MIN, 104.0, 104.8, 103.0, 104.5, 1.0))

    # Assert
    assert sig is None


def test_flat_market_has_zero_atr_and_no_signal():
    r = rule(lookback=2, atr_bars=2)
    flat = [Bar("BTCUSDT", T0 + i * MIN, 100.0, 100.0, 100.0, 100.0, 1.0) for i in range(6)]
    assert run(r, flat) == [None] * 6


def test_state_is_per_symbol():
    # Arrange: BTC is warmed up; ETH bars interleave and must neither disturb BTC nor borrow its history
    r = rule()
    btc_bars = bars([*QUIET, (105.0, 100.0, 104.0)], symbol="BTCUSDT")
    eth_bars = bars([(2001.0, 1999.0, 2000.0)] * 3 + [(2050.0, 2000.0, 2040.0)], symbol="ETHUSDT")

    # Act: BTC's 3 quiet bars, then ETH's first bar (a "breakout" vs BTC's prices), then BTC's breakout
    out = [r.on_bar(b) for b in btc_bars[:3]]
    eth_first = r.on_bar(eth_bars[0])
    btc_sig = r.on_bar(btc_bars[3])
    eth_rest = [r.on_bar(b) for b in eth_bars[1:]]

    # Assert
    assert out == [None, None, None]
    assert eth_first is None  # a fresh symbol warms up on its own
    assert btc_sig is not None and btc_sig.symbol == "BTCUSDT" and btc_sig.stop_distance == pytest.approx(6.0)
    assert eth_rest[:2] == [None, None]
    assert eth_rest[2] is not None and eth_rest[2].symbol == "ETHUSDT" and eth_rest[2].side is Side.BUY

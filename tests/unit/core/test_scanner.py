"""AssetScanner: rolling statistics against hand computations, breakouts, timeframe routing, history trimming,
candidate filtering (every drop reason counted) and ranking."""

from __future__ import annotations

import statistics
from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni.core.scanner import TRIM_SLACK, AssetScanner, ScannerParams, Series, Tradability
from omni.domain.market import Bar
from omni.domain.orders import Side
from tests.factories import T0, btc

MIN = 60_000
BASE = T0 - T0 % (15 * MIN)  # aligned to 3m and 5m buckets
TRADE = Tradability(D(1000), D(10))


def small_params(**overrides) -> ScannerParams:
    base = dict(
        timeframes=(1,),
        breakout_bars=3,
        atr_bars=3,
        volatility_bars=3,
        turnover_bars=3,
        min_history_bars=5,
        min_turnover_usdt=100.0,
        halted_bars=2,
        stop_atr=1.5,
        take_profit_atr=4.0,
        history_bars=50,
    )
    base.update(overrides)
    return ScannerParams(**base)


def b(i: int, o: float, h: float, lo: float, c: float, v: float = 10.0, symbol: str = "BTCUSDT", minutes: int = 1):
    return Bar(symbol, BASE + i * minutes * MIN, o, h, lo, c, v, minutes)


# five bars; true ranges (previous close, the first bar's own open): 3, 3, 4, 7, 6
HAND_BARS = [
    b(0, 100, 102, 99, 101, 10),
    b(1, 101, 103, 100, 102, 20),
    b(2, 102, 102, 98, 99, 5),
    b(3, 99, 106, 99, 105, 1),
    b(4, 110, 111, 109, 110, 2),  # gap up: TR = 111 - previous close 105 = 6
]


def fed(params: ScannerParams, bars: list[Bar]) -> Series:
    s = Series(1, params)
    for x in bars:
        s.add(x)
    return s


# ---------------------------------------------------------------- rolling statistics


@pytest.mark.parametrize(
    ("count", "atr", "turnover"),
    [
        (1, 3.0, 1010.0),
        (3, 10 / 3, (1010 + 2040 + 495) / 3),
        (4, 14 / 3, (2040 + 495 + 105) / 3),  # first bar evicted
        (5, 17 / 3, (495 + 105 + 220) / 3),  # second bar evicted
    ],
)
def test_rolling_atr_and_turnover_match_a_hand_computation(count, atr, turnover):
    s = fed(small_params(), HAND_BARS[:count])
    assert s.atr == pytest.approx(atr, rel=1e-12)
    assert s.turnover == pytest.approx(turnover, rel=1e-12)


def test_rolling_volatility_is_the_population_std_of_the_last_window_of_simple_returns():
    s = fed(small_params(), HAND_BARS)
    returns = [99 / 102 - 1, 105 / 99 - 1, 110 / 105 - 1]
    assert s.volatility == pytest.approx(statistics.pstdev(returns), rel=1e-9)


def test_volatility_is_zero_with_fewer_than_two_returns():
    assert fed(small_params(), HAND_BARS[:1]).volatility == 0.0


def test_empty_series_statistics_are_zero():
    s = Series(1, small_params())
    assert (len(s), s.atr, s.turnover, s.volatility, s.breakout()) == (0, 0.0, 0.0, 0.0, None)


def test_zero_volume_run_counts_consecutive_zero_volume_bars_and_resets():
    s = fed(small_params(), [b(0, 1, 1, 1, 1, 0), b(1, 1, 1, 1, 1, 0), b(2, 1, 1, 1, 1, 3), b(3, 1, 1, 1, 1, 0)])
    assert s.zero_volume_run == 1


# ---------------------------------------------------------------- breakout


def test_breakout_up_is_a_buy_by_the_distance_beyond_the_prior_high():
    s = fed(small_params(), HAND_BARS[:4])  # close 105 vs prior highs 102, 103, 102
    assert s.breakout() == (Side.BUY, 2.0)


def test_breakout_down_is_a_sell_by_the_distance_beyond_the_prior_low():
    s = fed(small_params(), [*HAND_BARS, b(5, 110, 110, 95, 96)])  # prior lows 98, 99, 109
    assert s.breakout() == (Side.SELL, 2.0)


def test_close_inside_the_channel_is_no_breakout():
    s = fed(small_params(), [*HAND_BARS, b(5, 110, 110, 108, 108)])  # inside [99, 111]
    assert s.breakout() is None


def test_breakout_needs_more_than_breakout_bars_of_history():
    assert fed(small_params(), HAND_BARS[:3]).breakout() is None


def test_breakout_compares_with_prior_bars_only_not_the_signal_bar():
    # the signal bar's own high (200) must not hide the breakout of its close
    s = fed(small_params(), [*HAND_BARS[:3], b(3, 99, 200, 99, 150)])
    assert s.breakout() == (Side.BUY, 47.0)


def test_update_returns_the_breakouts_a_bar_completes():
    scanner = AssetScanner({"BTCUSDT": btc()}, small_params())
    out = [scanner.update(x) for x in HAND_BARS]
    assert [bool(x) for x in out[:3]] == [False, False, False]  # nothing (None or empty)
    [(series, side, beyond)] = out[3]
    assert series is scanner.series("BTCUSDT", 1)
    assert (side, beyond) == (Side.BUY, 2.0)


@st.composite
def bar_runs(draw):
    """Random integer-priced bars (many ties and breakouts), and small windows so trimming happens often."""
    nb = draw(st.integers(1, 6))
    params = small_params(
        breakout_bars=nb,
        atr_bars=draw(st.integers(1, 6)),
        volatility_bars=draw(st.integers(1, 6)),
        turnover_bars=draw(st.integers(1, 6)),
        history_bars=draw(st.integers(nb, 12)),
    )
    bars = []
    for i in range(draw(st.integers(1, 60))):
        o, c = draw(st.integers(1, 40)), draw(st.integers(1, 40))
        h, lo = max(o, c) + draw(st.integers(0, 5)), max(1, min(o, c) - draw(st.integers(0, 5)))
        bars.append(b(i, float(o), float(h), float(lo), float(c), float(draw(st.integers(0, 5)))))
    return params, bars


def tail_mean(xs: list[float], n: int) -> float:
    w = xs[-n:]
    return sum(w) / len(w)


@settings(max_examples=200, deadline=None)
@given(bar_runs())
def test_property_incremental_statistics_and_breakouts_match_a_brute_force_recomputation(run):
    params, bars = run
    s = Series(1, params)
    nb = params.breakout_bars
    trs, turnovers, returns = [], [], []
    for k, x in enumerate(bars):
        # Act
        signal = s.add(x)
        # Assert against the definitions, recomputed from all bars so far
        prev = bars[k - 1].close if k else x.open
        trs.append(max(x.high, prev) - min(x.low, prev))
        turnovers.append(x.volume * x.close)
        returns.append(x.close / prev - 1.0)
        expected = None
        if k >= nb:
            hi, lo = max(y.high for y in bars[k - nb : k]), min(y.low for y in bars[k - nb : k])
            expected = (Side.BUY, x.close - hi) if x.close > hi else (Side.SELL, lo - x.close) if x.close < lo else None
        assert signal == expected == s.breakout()
        assert s.atr == pytest.approx(tail_mean(trs, params.atr_bars))
        assert s.turnover == pytest.approx(tail_mean(turnovers, params.turnover_bars))
        window = returns[-params.volatility_bars :]
        # compared as variances: running sums leave ~1e-16 residues whose square root (~1e-8) would swamp a std
        var = statistics.pvariance(window) if len(window) >= 2 else 0.0
        assert s.volatility**2 == pytest.approx(var, rel=1e-9, abs=1e-9)
        kept = len(s)
        assert min(k + 1, params.history_bars) <= kept <= params.history_bars + TRIM_SLACK
        assert list(s.closes) == [y.close for y in bars[k + 1 - kept : k + 1]]
        assert list(s.highs) == [y.high for y in bars[k + 1 - kept : k + 1]]


# ---------------------------------------------------------------- timeframes


def one_minute_bars(n: int, symbol: str = "BTCUSDT") -> list[Bar]:
    return [b(i, 100 + i, 101 + i, 99 + i, 100.5 + i, 1 + i, symbol) for i in range(n)]


def test_3m_and_5m_series_receive_bars_aggregated_from_1m_input():
    # Arrange
    scanner = AssetScanner({"BTCUSDT": btc()}, small_params(timeframes=(1, 3, 5)))
    # Act
    for x in one_minute_bars(15):
        scanner.update(x)
    # Assert
    s1, s3, s5 = (scanner.series("BTCUSDT", tf) for tf in (1, 3, 5))
    assert (len(s1), len(s3), len(s5)) == (15, 5, 3)
    assert (s3.opens[0], s3.highs[0], s3.lows[0], s3.closes[0]) == (100, 103, 99, 102.5)
    assert (s5.opens[1], s5.highs[1], s5.lows[1], s5.closes[1]) == (105, 110, 104, 109.5)
    assert list(s3.closes) == [102.5, 105.5, 108.5, 111.5, 114.5]
    assert s3.minutes == 3 and s5.minutes == 5
    # volumes are summed: 3m bar k holds 1m volumes 3k+1 .. 3k+3 -> 9k + 6; turnover over the last 3 bars
    assert s3.turnover == pytest.approx(statistics.fmean((9 * k + 6) * (102.5 + 3 * k) for k in (2, 3, 4)))


def test_higher_timeframe_series_only_grows_when_its_bar_completes():
    scanner = AssetScanner({"BTCUSDT": btc()}, small_params(timeframes=(1, 5)))
    for x in one_minute_bars(4):
        scanner.update(x)
    assert len(scanner.series("BTCUSDT", 5)) == 0
    scanner.update(one_minute_bars(5)[4])
    assert len(scanner.series("BTCUSDT", 5)) == 1


def test_5m_input_bars_feed_only_the_5m_series():
    scanner = AssetScanner({"BTCUSDT": btc()}, small_params(timeframes=(1, 3, 5)))
    for i in range(3):
        scanner.update(b(i, 100, 101, 99, 100, 5, minutes=5))
    assert [len(scanner.series("BTCUSDT", tf)) for tf in (1, 3, 5)] == [0, 0, 3]


def test_series_of_unknown_symbol_or_timeframe_is_none():
    scanner = AssetScanner({"BTCUSDT": btc()}, small_params())
    scanner.update(HAND_BARS[0])
    assert scanner.series("ETHUSDT", 1) is None
    assert scanner.series("BTCUSDT", 5) is None


def test_symbols_keep_separate_series():
    scanner = AssetScanner({"BTCUSDT": btc()}, small_params())
    for x in one_minute_bars(4, "AAA"):
        scanner.update(x)
    scanner.update(b(0, 1, 1, 1, 1, 1, "BBB"))
    assert (len(scanner.series("AAA", 1)), len(scanner.series("BBB", 1))) == (4, 1)


# ---------------------------------------------------------------- history trimming


def test_history_is_trimmed_to_the_most_recent_history_bars():
    # Arrange
    params = small_params(history_bars=5)
    bars = one_minute_bars(5 + TRIM_SLACK + 1)
    # Act
    s = fed(params, bars)
    # Assert: past 5 + TRIM_SLACK bars -> cut back to the last 5
    assert len(s) == 5
    assert list(s.closes) == [x.close for x in bars[-5:]]
    assert list(s.opens) == [x.open for x in bars[-5:]]
    assert list(s.highs) == [x.high for x in bars[-5:]] and list(s.lows) == [x.low for x in bars[-5:]]


def test_history_is_bounded_by_history_bars_plus_slack_and_always_holds_at_least_history_bars():
    params = small_params(history_bars=5)
    s = Series(1, params)
    for n, x in enumerate(one_minute_bars(3 * (5 + TRIM_SLACK)), start=1):
        s.add(x)
        assert min(n, 5) <= len(s) <= 5 + TRIM_SLACK
        assert s.closes[-1] == x.close


def test_trimming_does_not_disturb_the_rolling_statistics():
    bars = one_minute_bars(5 + TRIM_SLACK + 13)
    trimmed, kept = fed(small_params(history_bars=5), bars), fed(small_params(history_bars=1000), bars)
    assert (trimmed.atr, trimmed.turnover, trimmed.volatility) == pytest.approx(
        (kept.atr, kept.turnover, kept.volatility)
    )


# ---------------------------------------------------------------- candidates: drop reasons


def trending(n: int = 8, volume: float = 10.0, symbol: str = "BTCUSDT") -> Series:
    """n rising bars; the last one breaks out upward. Turnover ~ 1 000 USDT per bar."""
    return fed(small_params(), [b(i, 100 + i, 101 + i, 99 + i, 100.5 + i, volume, symbol) for i in range(n)])


def instruments(*symbols: str) -> dict:
    return {s: replace(btc(), symbol=s) for s in symbols}


def test_a_good_breakout_becomes_a_candidate_with_atr_multiples_as_distances():
    # Arrange
    params = small_params()
    scanner = AssetScanner(instruments("BTCUSDT"), params)
    s = trending()
    # Act
    [c] = scanner.candidates([("BTCUSDT", s, Side.BUY, 1.5)], T0, TRADE)
    # Assert: rising 1 per bar with 2-wide bars: every true range is 2
    assert s.atr == pytest.approx(2.0)
    assert (c.symbol, c.side, c.timeframe, c.ts, c.entry) == ("BTCUSDT", Side.BUY, 1, T0, 107.5)
    assert c.stop_distance == pytest.approx(2.0 * 1.5)
    assert c.take_profit_distance == pytest.approx(2.0 * 4.0)
    assert c.score == pytest.approx(1.5 / 2.0)
    assert (c.atr, c.volatility, c.turnover) == (s.atr, s.volatility, s.turnover)
    assert c.spread is None and c.series is s
    assert scanner.signals == 1 and sum(scanner.dropped.values()) == 0


def flat(n: int = 8, volume: float = 10.0) -> Series:
    return fed(small_params(), [b(i, 100, 100, 100, 100, volume) for i in range(n)])


def zero_volume_tail() -> Series:
    bars = [b(i, 100 + i, 101 + i, 99 + i, 100.5 + i, 10.0 if i < 6 else 0.0) for i in range(8)]
    return fed(small_params(), bars)


@pytest.mark.parametrize(
    ("reason", "params", "series", "skip", "trade"),
    [
        ("blacklisted", small_params(blacklist=frozenset({"BTCUSDT"})), trending(), set(), TRADE),
        ("in_position", small_params(), trending(), {"BTCUSDT"}, TRADE),
        ("short_history", small_params(), trending(4), set(), TRADE),
        ("halted", small_params(), zero_volume_tail(), set(), TRADE),
        ("no_volatility", small_params(), flat(), set(), TRADE),
        ("illiquid", small_params(min_turnover_usdt=5_000.0), trending(), set(), TRADE),
        ("untradable_at_capital", small_params(), trending(), set(), Tradability(D("0.4"), D(10))),
    ],
)
def test_every_drop_reason_is_counted(reason, params, series, skip, trade):
    # Arrange
    scanner = AssetScanner(instruments("BTCUSDT"), params)
    # Act
    out = scanner.candidates([("BTCUSDT", series, Side.BUY, 1.0)], T0, trade, skip)
    # Assert
    assert out == []
    assert scanner.dropped == {reason: 1}
    assert scanner.signals == 1


def test_untradable_uses_the_larger_of_min_notional_and_min_qty_value():
    # min qty 0.001 BTC at 107.5 is 0.11 USDT, so the 5 USDT min notional decides: 0.5 x 10 = 5 is just enough
    scanner = AssetScanner(instruments("BTCUSDT"), small_params())
    assert len(scanner.candidates([("BTCUSDT", trending(), Side.BUY, 1.0)], T0, Tradability(D("0.5"), D(10)))) == 1
    assert scanner.candidates([("BTCUSDT", trending(), Side.BUY, 1.0)], T0, Tradability(D("0.49"), D(10))) == []
    assert scanner.dropped == {"untradable_at_capital": 1}


def test_untradable_caps_leverage_at_the_symbol_max():
    # a 100x symbol with a 1000x config cap still only gets 100x: 0.04 x 100 = 4 < 5
    scanner = AssetScanner(instruments("BTCUSDT"), small_params())
    assert scanner.candidates([("BTCUSDT", trending(), Side.BUY, 1.0)], T0, Tradability(D("0.04"), D(1000))) == []
    assert scanner.dropped == {"untradable_at_capital": 1}


def test_drops_are_counted_across_symbols_in_one_call():
    # Arrange
    params = small_params(blacklist=frozenset({"BAD"}))
    scanner = AssetScanner(instruments("BAD", "HELD", "SHORT", "OK1", "OK2"), params)
    breakouts = [
        ("BAD", trending(), Side.BUY, 1.0),
        ("HELD", trending(), Side.BUY, 1.0),
        ("SHORT", trending(3), Side.SELL, 1.0),
        ("OK1", trending(), Side.BUY, 1.0),
        ("OK2", trending(), Side.SELL, 1.0),
    ]
    # Act
    out = scanner.candidates(breakouts, T0, TRADE, {"HELD"})
    # Assert
    assert {c.symbol for c in out} == {"OK1", "OK2"}
    assert scanner.dropped == {"blacklisted": 1, "in_position": 1, "short_history": 1}
    assert scanner.signals == 5


# ---------------------------------------------------------------- ranking


def test_candidates_are_ranked_by_score_descending():
    # Arrange: same series (ATR 2), different distances beyond the channel
    scanner = AssetScanner(instruments("A", "B", "C"), small_params())
    s = trending()
    breakouts = [("A", s, Side.BUY, 1.0), ("B", s, Side.BUY, 3.0), ("C", s, Side.SELL, 2.0)]
    # Act
    out = scanner.candidates(breakouts, T0, TRADE)
    # Assert
    assert [c.symbol for c in out] == ["B", "C", "A"]
    assert [c.score for c in out] == pytest.approx([1.5, 1.0, 0.5])


def test_score_is_in_atrs_so_a_calmer_symbol_ranks_higher_for_the_same_move():
    calm = trending()  # ATR 2
    wild = fed(small_params(), [b(i, 100 + i, 104 + i, 96 + i, 100.5 + i, 10) for i in range(8)])  # ATR 8
    scanner = AssetScanner(instruments("CALM", "WILD"), small_params())
    out = scanner.candidates([("WILD", wild, Side.BUY, 2.0), ("CALM", calm, Side.BUY, 2.0)], T0, TRADE)
    assert [c.symbol for c in out] == ["CALM", "WILD"]


def test_repeated_and_late_bars_are_dropped_and_counted_without_changing_any_series():
    # Arrange: the live feed's failure mode: warm-up history and the socket deliver the same minute twice
    scanner = AssetScanner({"BTCUSDT": btc()}, small_params(timeframes=(1, 3, 5)))
    bars = one_minute_bars(15)
    for x in bars[:10]:
        scanner.update(x)
    before = [list(scanner.series("BTCUSDT", tf).closes) for tf in (1, 3, 5)]

    # Act: a repeat of the last minute, an older minute, then the rest in order
    assert scanner.update(bars[9]._replace(close=1e9)) is None
    assert scanner.update(bars[3]) is None
    after_bad = [list(scanner.series("BTCUSDT", tf).closes) for tf in (1, 3, 5)]
    for x in bars[10:]:
        scanner.update(x)

    # Assert
    assert after_bad == before
    assert scanner.dropped["out_of_order"] == 2
    reference = AssetScanner({"BTCUSDT": btc()}, small_params(timeframes=(1, 3, 5)))
    for x in bars:
        reference.update(x)
    for tf in (1, 3, 5):
        assert list(scanner.series("BTCUSDT", tf).closes) == list(reference.series("BTCUSDT", tf).closes)

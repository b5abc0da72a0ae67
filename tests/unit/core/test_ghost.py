"""Pre-trade simulator: Wilson bound, hand-computed replays (TP, SL, timeout, liquidation, gaps, the entry's
slippage), vetoes, n_eff, and walk-forward: nothing at or after the decision bound ``upto`` is ever read."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from omni.core.ghost import GhostParams, effective_n, simulate, wilson_lower, wilson_lower_frac, z_for

Z = z_for(0.95)
NOTIONAL = 1000.0
SLIP = 0.001
FEE = 0.0005

# bar shapes around a flat close of 100. A long enters at 100 x 1.001 = 100.1 (the close moved by the slippage):
# SL 99.099 / TP 102.102; a short at 100 x 0.999 = 99.9: SL 100.899 / TP 97.902
UP = (100.0, 103.0, 99.5, 100.0)  # long: TP only
DOWN = (100.0, 100.5, 98.5, 100.0)  # long: SL only
SHORT_WIN = (100.0, 100.5, 97.0, 100.0)  # short: TP only
LONG_ENTRY, SHORT_ENTRY = 100.1, 99.9

# pnl per window, by hand (notional 1 000, fee 0.05 % per leg, slippage 0.1 %); the levels are fractions of the
# entry, so the exit / entry ratio does not depend on the entry's slippage:
LONG_TP_PNL = 1000 * ((1.02 * 0.999 - 1) - 0.0005 * (1 + 1.01898))  # exit 102.102 x 0.999 = 1.01898 x entry
LONG_SL_PNL = 1000 * ((0.99 * 0.999 - 1) - 0.0005 * (1 + 0.98901))  # exit 99.099 x 0.999 = 0.98901 x entry
SHORT_TP_PNL = 1000 * (-(0.98 * 1.001 - 1) - 0.0005 * (1 + 0.98098))  # exit 97.902 x 1.001 = 0.98098 x entry


def long_pnl(exit_price: float, entry: float = LONG_ENTRY) -> float:
    ratio = exit_price / entry
    return NOTIONAL * ((ratio - 1) - FEE * (1 + ratio))


def short_pnl(exit_price: float, entry: float = SHORT_ENTRY) -> float:
    ratio = exit_price / entry
    return NOTIONAL * (-(ratio - 1) - FEE * (1 + ratio))


def gp(**overrides) -> GhostParams:
    base = dict(
        windows=1000,
        max_hold_bars=1,
        min_samples=1,
        confidence=0.95,
        min_ev_lower=0.0,
        min_win_prob_lower=0.0,
        slippage=SLIP,
        taker_fee=FEE,
    )
    base.update(overrides)
    return GhostParams(**base)


def cols(bars):
    return [list(x) for x in zip(*bars, strict=True)]


def sim(bars, *, upto=None, long=True, stop=0.01, tp=0.02, liq=0.5, margin=100.0, funding=0.0, params=None):
    o, h, lo, c = cols(bars)
    upto = len(c) if upto is None else upto
    return simulate(o, h, lo, c, upto, long, stop, tp, liq, NOTIONAL, margin, funding, params or gp(), Z)


# ---------------------------------------------------------------- Wilson bound


def test_wilson_lower_matches_known_values():
    assert wilson_lower(8, 10, 1.96) == pytest.approx(0.4902, abs=1e-4)
    assert wilson_lower(50, 100, 1.96) == pytest.approx(0.4038, abs=1e-4)
    assert wilson_lower(10, 10, 1.96) == pytest.approx(10 / (10 + 1.96**2), abs=1e-12)  # p=1: n / (n + z^2)


def test_wilson_lower_edge_cases():
    assert wilson_lower(0, 10, 1.96) == 0.0
    assert wilson_lower(0, 0, 1.96) == 0.0
    assert wilson_lower_frac(0.5, 0.0, 1.96) == 0.0


def test_wilson_lower_grows_with_the_sample_at_the_same_rate():
    assert wilson_lower(8, 10, 1.96) < wilson_lower(80, 100, 1.96) < 0.8


def test_z_for_is_the_one_sided_normal_quantile():
    assert z_for(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert z_for(0.975) == pytest.approx(1.96, abs=1e-3)


# ---------------------------------------------------------------- hand-built replays


def test_every_window_hits_take_profit_long():
    # Arrange: 10 bars, hold 2 -> entries at 0..7 (8 windows), each exits at TP on the next bar
    est = sim([UP] * 10, params=gp(max_hold_bars=2))
    # Assert
    assert math.isclose(LONG_TP_PNL, 17.97051, rel_tol=1e-12)  # the hand value
    assert (est.n, est.wins, est.take_profits, est.stop_losses, est.liquidations, est.timeouts) == (8, 8, 8, 0, 0, 0)
    assert est.p == 1.0
    assert est.ev == pytest.approx(LONG_TP_PNL, rel=1e-12)
    assert est.ev_sd == pytest.approx(0.0, abs=1e-9)
    assert est.ev_lower == pytest.approx(LONG_TP_PNL, rel=1e-9)
    assert est.mean_hold_bars == 1.0 and est.n_eff == 8.0
    assert est.p_lower == pytest.approx(wilson_lower_frac(1.0, 8.0, Z))
    assert est.passed and est.reason == "ok"


def test_every_window_hits_stop_loss_long():
    est = sim([DOWN] * 10)
    assert math.isclose(LONG_SL_PNL, -11.984505, rel_tol=1e-12)  # the hand value
    assert (est.n, est.wins, est.stop_losses, est.take_profits) == (9, 0, 9, 0)
    assert est.p == 0.0 and est.p_lower == 0.0
    assert est.ev == pytest.approx(LONG_SL_PNL, rel=1e-12)
    assert not est.passed and est.reason == "ev_lower_below_threshold"


def test_every_window_hits_take_profit_short():
    est = sim([SHORT_WIN] * 6, long=False)
    assert math.isclose(SHORT_TP_PNL, 18.02951, rel_tol=1e-12)  # the hand value
    assert (est.n, est.wins, est.take_profits) == (5, 5, 5)
    assert est.ev == pytest.approx(SHORT_TP_PNL, rel=1e-12)


def test_the_same_bars_stop_a_short_out():
    # UP bars reach 103: a short's stop at 99.9 x 1.01 = 100.899 is hit first (exit 100.899 x 1.001)
    est = sim([UP] * 4, long=False)
    expected = 1000 * (-(1.01 * 1.001 - 1) - 0.0005 * (1 + 1.01101))
    assert (est.n, est.stop_losses, est.wins) == (3, 3, 0)
    assert est.ev == pytest.approx(expected, rel=1e-12)


def test_stop_loss_wins_when_stop_and_target_are_inside_one_bar():
    both = (100.0, 103.0, 98.5, 100.0)
    est = sim([both] * 5)
    assert (est.stop_losses, est.take_profits) == (4, 0)
    assert est.ev == pytest.approx(LONG_SL_PNL, rel=1e-12)


def test_gap_through_the_stop_exits_at_the_open_with_slippage():
    gap = (97.0, 97.5, 96.5, 97.0)
    est = sim([UP, gap])  # entry at 100.1, next bar opens at 97, below the 99.099 stop
    assert est.stop_losses == 1
    assert est.ev == pytest.approx(long_pnl(97 * 0.999), rel=1e-12)  # exit 96.903 / 100.1
    assert est.ev == pytest.approx(1000 * ((96.903 / 100.1 - 1) - 0.0005 * (1 + 96.903 / 100.1)), rel=1e-12)


def test_gap_through_the_target_exits_at_the_open_with_slippage():
    gap = (105.0, 106.0, 104.0, 105.0)
    est = sim([UP, gap])  # entry at 100.1, next bar opens at 105, above the 102.102 target
    assert est.take_profits == 1
    assert est.ev == pytest.approx(long_pnl(105 * 0.999), rel=1e-12)  # exit 104.895 / 100.1
    assert est.ev == pytest.approx(1000 * ((104.895 / 100.1 - 1) - 0.0005 * (1 + 104.895 / 100.1)), rel=1e-12)


def test_a_short_enters_below_the_close_by_the_slippage():
    # Arrange: a short enters at 100 x 0.999 = 99.9 (TP 97.902); the next bar gaps down to 95 through the target
    gap = (95.0, 95.5, 94.5, 95.0)
    # Act
    est = sim([SHORT_WIN, gap], long=False)
    # Assert: exit 95 x 1.001 = 95.095, against the 99.9 entry (not the 100 close)
    assert est.take_profits == 1
    assert est.ev == pytest.approx(short_pnl(95.095), rel=1e-12)
    assert est.ev == pytest.approx(1000 * (-(95.095 / 99.9 - 1) - 0.0005 * (1 + 95.095 / 99.9)), rel=1e-12)
    assert est.ev < 1000 * (-(95.095 / 100 - 1) - 0.0005 * (1 + 95.095 / 100))  # worse than an entry at the close


def test_slippage_is_kept_inside_the_bar():
    # the TP bar's low is 102.05: a 0.1 % slipped fill of the 102.102 target (101.999898) would be below it
    # -> filled at the low
    est = sim([UP, (102.05, 102.5, 102.05, 102.2)])
    assert est.take_profits == 1
    assert est.ev == pytest.approx(long_pnl(102.05), rel=1e-12)
    assert est.ev == pytest.approx(1000 * ((102.05 / 100.1 - 1) - 0.0005 * (1 + 102.05 / 100.1)), rel=1e-12)


def test_funding_is_charged_per_bar_held():
    est = sim([UP] * 3, funding=0.0001)  # one bar held: 1 000 x 0.0001
    assert est.ev == pytest.approx(LONG_TP_PNL - 0.1, rel=1e-12)


def test_timeout_closes_at_the_horizon_bars_close():
    # Arrange: one window (windows=1) entering at bar 1 (close 100 -> 100.1), hold 3 -> horizon bar 4
    quiet = (100.0, 100.5, 99.5, 100.0)
    horizon = (100.9, 101.2, 100.8, 101.0)
    bars = [quiet, quiet, quiet, quiet, horizon]
    # Act
    est = sim(bars, params=gp(windows=1, max_hold_bars=3), funding=0.0002)
    # Assert: exit max(101 x 0.999, 100.8) = 100.899 against the 100.1 entry; three bars of funding at 0.02 %
    exit_ratio = 100.899 / 100.1
    expected = 1000 * ((exit_ratio - 1) - 0.0005 * (1 + exit_ratio) - 0.0002 * 3)
    assert (est.n, est.timeouts, est.take_profits, est.stop_losses) == (1, 1, 0, 0)
    assert est.ev == pytest.approx(expected, rel=1e-12)
    assert est.mean_hold_bars == 3.0


def test_liquidation_nearer_than_the_stop_counts_as_minus_margin_and_the_entry_fee():
    # stop 10 % away, liquidation 5 % away: from the 100.1 entry, liq at 95.095; a bar down to 94 liquidates
    crash = (99.0, 99.5, 94.0, 96.0)
    est = sim([UP, crash, UP, crash], stop=0.10, liq=0.05, margin=50.0)
    # entries at 0 (-> crash: liq), 1 (close 96 -> entry 96.096, TP 98.01792; the UP bar opens at 100, through
    # the TP: filled at the open, 100 x 0.999), 2 (-> crash: liq)
    assert (est.n, est.liquidations, est.take_profits) == (3, 2, 1)
    liquidated = -50.0 - 0.0005 * 1000  # the whole margin, and the entry fee already paid: -50.5
    ratio = 99.9 / 96.096
    win = 1000 * ((ratio - 1) - 0.0005 * (1 + ratio))
    assert win == pytest.approx(long_pnl(99.9, entry=96.096), rel=1e-12)
    assert est.ev == pytest.approx((2 * liquidated + win) / 3, rel=1e-12)


def test_stop_nearer_than_liquidation_is_a_stop_not_a_liquidation():
    crash = (99.0, 99.5, 94.0, 96.0)
    est = sim([UP, crash], stop=0.02, liq=0.05, margin=50.0)
    assert (est.liquidations, est.stop_losses) == (0, 1)
    assert est.ev > -50.0


def test_mixed_outcomes_bounds_use_the_sample_sd_and_wilson():
    # Arrange: next-bar outcomes W L W W L W W L W -> 6 wins, 3 losses, all held one bar
    shapes = [UP, UP, DOWN, UP, UP, DOWN, UP, UP, DOWN, UP]
    # Act
    est = sim(shapes)
    # Assert
    pnls = [LONG_TP_PNL] * 6 + [LONG_SL_PNL] * 3
    mean, sd = statistics.fmean(pnls), statistics.stdev(pnls)
    assert mean == pytest.approx(7.985505)
    assert (est.n, est.wins, est.n_eff) == (9, 6, 9.0)
    assert est.ev == pytest.approx(mean, rel=1e-12)
    assert est.ev_sd == pytest.approx(sd, rel=1e-12)
    assert est.ev_lower == pytest.approx(mean - Z * sd / 3.0, rel=1e-12)
    assert est.p_lower == pytest.approx(wilson_lower(6, 9, Z), rel=1e-12)


# ---------------------------------------------------------------- vetoes


def test_too_few_samples_is_vetoed_even_when_every_window_wins():
    est = sim([UP] * 10, params=gp(min_samples=10))  # 9 windows
    assert est.n == 9
    assert not est.passed and est.reason == "too_few_samples"


def test_ev_lower_below_threshold_is_vetoed():
    est = sim([UP] * 10, params=gp(min_ev_lower=18.0))  # every window nets 17.97
    assert not est.passed and est.reason == "ev_lower_below_threshold"


def test_win_prob_lower_below_threshold_is_vetoed():
    # 9 wins out of 9: Wilson lower at n=9 is 9 / (9 + 1.645^2) = 0.769
    assert sim([UP] * 10, params=gp(min_win_prob_lower=0.76)).passed
    est = sim([UP] * 10, params=gp(min_win_prob_lower=0.78))
    assert not est.passed and est.reason == "win_prob_lower_below_threshold"


def test_no_windows_is_no_history():
    est = sim([UP] * 3, params=gp(max_hold_bars=3))
    assert (est.n, est.passed, est.reason) == (0, False, "no_history")


# ---------------------------------------------------------------- n_eff


def rising(n: int) -> list[tuple[float, float, float, float]]:
    """Closes 100, 101, ...; each bar opens at the previous close, high close + 0.2, low open - 0.2."""
    out = []
    for i in range(n):
        c = 100.0 + i
        o = c - 1.0 if i else c
        out.append((o, c + 0.2, o - 0.2, c))
    return out


def test_n_eff_counts_overlap_by_time_and_lowers_both_bounds():
    # Arrange: TP 1.5 % away is reached on the second bar after every entry (+1.2 then +2.2)
    params = gp(max_hold_bars=4)
    # Act
    est = sim(rising(30), stop=0.5, tp=0.015, liq=0.9, params=params)
    # Assert
    assert (est.n, est.wins, est.take_profits) == (26, 26, 26)  # entries 0 .. 30-1-4
    assert est.mean_hold_bars == 2.0
    # windows i hold bars i+1..i+2: bars 2..26 are held by two windows, bars 1 and 27 by one, so the first and
    # last windows count (1 + 1/2) / 2 = 0.75 each and the 24 others 0.5: n_eff = 1.5 + 12 = 13.5
    assert est.n_eff == 13.5
    assert est.p_lower == pytest.approx(wilson_lower_frac(1.0, 13.5, Z), rel=1e-12)
    assert est.p_lower < wilson_lower(26, 26, Z)
    assert est.ev_lower == pytest.approx(est.ev - Z * est.ev_sd / math.sqrt(13.5), rel=1e-12, abs=1e-9)


def test_n_eff_is_never_above_n():
    est = sim([UP] * 10)  # one bar held: n_eff = n
    assert est.n_eff == est.n == 9


# ---------------------------------------------------------------- walk-forward: the future is poison


def random_walk(n: int, seed: int = 11) -> list[tuple[float, float, float, float]]:
    rnd = random.Random(seed)
    bars, c = [], 100.0
    for _ in range(n):
        o = c
        c = o * math.exp(rnd.gauss(0.0, 0.004))
        bars.append((o, max(o, c) * (1 + rnd.random() * 0.003), min(o, c) * (1 - rnd.random() * 0.003), c))
    return bars


WF_PARAMS = gp(windows=120, max_hold_bars=15, min_samples=10)
WF_ARGS = dict(stop=0.004, tp=0.006, liq=0.02, margin=100.0, params=WF_PARAMS)


@pytest.mark.parametrize("long", [True, False])
@pytest.mark.parametrize(
    "poison",
    [(math.nan,) * 4, (1e12, 1e12, 1e12, 1e12), (-1.0, -1.0, -1.0, -1.0), (0.0, 1e12, 0.0, 1e-12)],
)
def test_estimate_is_identical_when_every_bar_from_upto_on_is_poisoned(long, poison):
    # Arrange
    bars = random_walk(300)
    k = 200
    clean = sim(bars, upto=k, long=long, **WF_ARGS)
    poisoned = bars[:k] + [poison] * (len(bars) - k)
    # Act
    dirty = sim(poisoned, upto=k, long=long, **WF_ARGS)
    # Assert
    assert clean.n == 120 and clean.stop_losses + clean.take_profits > 0
    assert dirty == clean


def test_estimate_on_history_cut_at_upto_is_identical():
    # reading any index >= upto would raise IndexError on the cut lists
    bars = random_walk(300)
    assert sim(bars[:200], upto=200, **WF_ARGS) == sim(bars, upto=200, **WF_ARGS)


def test_the_decision_bar_itself_is_read_so_the_poison_boundary_is_tight():
    # the last window's horizon ends on bar upto-1 (closed, known at decision time); with levels out of reach
    # every window times out, so poisoning that bar must show up
    bars = random_walk(300)
    far = {**WF_ARGS, "stop": 0.5, "tp": 0.5, "liq": 0.9}
    clean = sim(bars, upto=200, **far)
    dirty = sim(bars[:199] + [(math.nan,) * 4] * 101, upto=200, **far)
    assert clean.timeouts == clean.n == 120
    assert not math.isnan(clean.ev) and math.isnan(dirty.ev)


@pytest.mark.parametrize(("upto", "hold"), [(50, 5), (50, 1), (31, 30), (100, 10)])
def test_windows_enter_only_up_to_upto_minus_one_minus_max_hold(upto, hold):
    est = sim(random_walk(120)[:upto], upto=upto, **{**WF_ARGS, "params": gp(windows=10_000, max_hold_bars=hold)})
    assert est.n == upto - hold  # entries 0 .. upto-1-hold


def test_the_most_recent_windows_are_the_ones_replayed():
    # Arrange: only the last allowed entry (index upto-1-hold = 5) sits before a winning bar; the rest lose
    hold = 1
    bars = [UP, DOWN, DOWN, DOWN, DOWN, DOWN, UP, DOWN]  # upto 7 -> entries 0..5; bar 6 (UP) follows entry 5
    # Act
    one = sim(bars, upto=7, params=gp(windows=1, max_hold_bars=hold))
    two = sim(bars, upto=7, params=gp(windows=2, max_hold_bars=hold))
    # Assert
    assert (one.n, one.wins) == (1, 1)
    assert (two.n, two.wins, two.stop_losses) == (2, 1, 1)


# ---------------------------------------------------------------- signal-conditional entries, n_eff by time


def test_effective_n_by_time_overlap_by_hand():
    assert effective_n([]) == 0.0
    assert effective_n([(1, 3), (5, 6)]) == 2.0  # disjoint: each counts fully
    assert effective_n([(1, 4)] * 3) == 1.0  # the same span three times: one outcome
    # (1,4) shares bars 3-4 with (3,6): bars 1,2 once, 3,4 twice, 5,6 once -> each (1+1+.5+.5)/4 = 0.75
    assert effective_n([(1, 4), (3, 6)]) == 1.5
    assert effective_n([(i, i + 9) for i in range(100)]) <= 100


def test_only_the_given_signal_bars_are_entries():
    # Arrange: losing bars everywhere except after the signal bars 2 and 5
    bars = [DOWN, DOWN, DOWN, UP, DOWN, DOWN, UP, DOWN, DOWN, DOWN]
    # Act
    every = sim(bars)
    signalled = simulate(*cols(bars), len(bars), True, 0.01, 0.02, 0.5, NOTIONAL, 100.0, 0.0, gp(), Z, entries=[2, 5])
    # Assert
    assert every.n == 9 and every.wins == 2
    assert (signalled.n, signalled.wins, signalled.take_profits) == (2, 2, 2)
    assert signalled.n_eff == 2.0  # one bar each, no overlap


def test_signal_entries_keep_the_walk_forward_bound_and_the_most_recent_windows():
    bars = random_walk(300)
    signals = list(range(0, 300, 7))
    a = simulate(*cols(bars), 200, True, 0.004, 0.006, 0.02, NOTIONAL, 100.0, 0.0, WF_PARAMS, Z, entries=signals)
    poisoned = bars[:200] + [(math.nan,) * 4] * 100
    b = simulate(*cols(poisoned), 200, True, 0.004, 0.006, 0.02, NOTIONAL, 100.0, 0.0, WF_PARAMS, Z, entries=signals)
    assert a == b
    usable = [i for i in signals if i <= 200 - 1 - 15]
    assert a.n == len(usable)
    few = simulate(*cols(bars), 200, True, 0.004, 0.006, 0.02, NOTIONAL, 100.0, 0.0, gp(windows=3, max_hold_bars=15),
                   Z, entries=signals)  # fmt: skip
    last3 = simulate(*cols(bars), 200, True, 0.004, 0.006, 0.02, NOTIONAL, 100.0, 0.0, gp(windows=3,
                     max_hold_bars=15), Z, entries=usable[-3:])  # fmt: skip
    assert few == last3


def test_the_sample_gate_uses_the_effective_n():
    # 26 windows but n_eff 13.5 (see above): a gate of 20 vetoes, one of 13 passes
    assert sim(rising(30), stop=0.5, tp=0.015, liq=0.9, params=gp(max_hold_bars=4, min_samples=20)).reason == (
        "too_few_samples"
    )
    assert sim(rising(30), stop=0.5, tp=0.015, liq=0.9, params=gp(max_hold_bars=4, min_samples=13)).passed

"""One trade definition: a decision's exact order, replayed by the pre-trade simulator (``ghost.replay_order``),
followed by the counterfactual tracker (``OutcomeTracker``) and traded on the sim venue's matching engine with the
trader's time stop, exits at the same bar, for the same reason, at the same price (to the tick the venue rounds
to): take-profit, stop-loss, a gap through the stop, both levels inside one bar, the time stop, long and short."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from omni.core.ghost import TIMEOUT, replay_order
from omni.core.outcomes import Forecast, OutcomeTracker
from omni.domain.events import OrderFilled
from omni.domain.orders import Side
from omni.exchange.intrabar import STOP_LOSS, TAKE_PROFIT, slip
from tests.factories import T0, bar, engine, market

SLIP_BPS = "5"
SLIP = 0.0005
HOLD = 4
TICK = 0.1
KINDS = {TAKE_PROFIT: "TakeProfit", STOP_LOSS: "StopLoss", TIMEOUT: "TimeStop"}

# (o, h, l, c) after the entry bar (close 20000); long: SL 19800, TP 20300; short: SL 20200, TP 19700
PATHS = {
    "long_take_profit": (True, [(20000, 20100, 19950, 20050), (20050, 20350, 20000, 20300)], "TakeProfit", 2),
    "long_stop": (True, [(20000, 20050, 19900, 19950), (19950, 19980, 19750, 19800)], "StopLoss", 2),
    "long_gap_through_stop": (True, [(20000, 20050, 19900, 19950), (19600, 19700, 19500, 19650)], "StopLoss", 2),
    "long_both_in_one_bar": (True, [(20000, 20400, 19700, 20000)], "StopLoss", 1),
    "long_time_stop": (True, [(20000, 20100, 19900, 20050)] * 4 + [(20050, 20400, 19000, 20000)], "TimeStop", 4),
    "short_take_profit": (False, [(20000, 20050, 19900, 19950), (19950, 19960, 19650, 19700)], "TakeProfit", 2),
    "short_stop": (False, [(20000, 20250, 19950, 20200)], "StopLoss", 1),
    "short_time_stop": (False, [(20000, 20100, 19900, 20020)] * 5, "TimeStop", 4),
}


SIGNAL = (19900.0, 20005.0, 19890.0, 20000.0)  # the signal bar (o, h, l, c): it opens at T0, closes at DECIDED
DECIDED = T0 + 60_000


def venue_exit(long: bool, path: list[tuple[float, ...]], sl: str, tp: str) -> tuple[str, float, int, float, float]:
    """The order on the matching engine; the trader's time stop: a market close at the first bar closing at or
    after the decision + HOLD bars. Returns (reason, exit price, bars held, liquidation price, entry price)."""
    eng = engine(slippage_bps=SLIP_BPS)
    eng.on_bar(bar(ts=T0, o=SIGNAL[0], h=SIGNAL[1], low=SIGNAL[2], c=SIGNAL[3]))
    side = Side.BUY if long else Side.SELL
    filled = eng.place(market(side, "0.01", sl=sl, tp=tp), DECIDED)
    entry = next(float(e.fill.price) for e in filled if isinstance(e, OrderFilled))
    liq = float(eng.position("BTCUSDT").liq_price)
    deadline = DECIDED + HOLD * 60_000
    for k, (o, h, lo, c) in enumerate(path, start=1):
        b = bar(ts=DECIDED + (k - 1) * 60_000, o=o, h=h, low=lo, c=c)
        for ev in eng.on_bar(b):
            if isinstance(ev, OrderFilled) and ev.fill.closed_qty > 0:
                return ev.fill.stop_kind.value, float(ev.fill.price), k, liq, entry
        if b.close_ts >= deadline:
            pos = eng.position("BTCUSDT")
            for ev in eng.place(market(side.opposite, str(pos.size), cid="ts", reduce_only=True), b.close_ts):
                if isinstance(ev, OrderFilled):
                    return "TimeStop", float(ev.fill.price), k, liq, entry
    raise AssertionError("no exit")


@pytest.mark.parametrize("name", sorted(PATHS))
def test_simulator_tracker_and_venue_exit_alike(name):
    # Arrange
    long, path, reason, held = PATHS[name]
    sl, tp = ("19800", "20300") if long else ("20200", "19700")
    rows = [SIGNAL, *path]  # bar 0: the signal bar (entry at its close)
    opens, highs, lows, closes = ([float(r[i]) for r in rows] for i in range(4))
    entry = slip(long, SIGNAL[3], SLIP, SIGNAL[2], SIGNAL[1])  # the simulator's and the tracker's entry

    # Act
    v_reason, v_price, v_held, liq, v_entry = venue_exit(long, path, sl, tp)
    kind, price, bars = replay_order(opens, highs, lows, closes, 0, HOLD, long, float(sl), float(tp), liq, SLIP)
    tracker = OutcomeTracker(0.00055, SLIP, HOLD)
    f = Forecast(DECIDED, "BTCUSDT", 1, long, "vetoed", "", 0.5, 0.5, 0.0, 0.0, 1.0, entry, float(sl), float(tp), liq,
                 0.01, 20.0, DECIDED + HOLD * 60_000)  # fmt: skip
    tracker.track(f)
    for k, (o, h, lo, c) in enumerate(path, start=1):
        tracker.on_bar(bar(ts=DECIDED + (k - 1) * 60_000, o=o, h=h, low=lo, c=c))

    # Assert
    assert (v_reason, v_held) == (reason, held)
    assert (KINDS[kind], bars) == (reason, held)
    assert abs(entry - v_entry) <= TICK and abs(price - v_price) <= TICK  # the venue rounds to the tick
    assert f.exit == reason and f.exit_ts == DECIDED + held * 60_000
    assert f.net == pytest.approx(0.01 * ((price - entry) * (1 if long else -1) - 0.00055 * (entry + price)), rel=1e-12)


@pytest.mark.parametrize("long", [True, False])
def test_the_entry_slippage_is_kept_inside_the_signal_bar_by_all_three(long):
    # the long's slipped price 20010 is above the bar's high 20005: the venue and the replay both fill at the high
    eng = engine(slippage_bps=SLIP_BPS)
    eng.on_bar(bar(ts=T0, o=SIGNAL[0], h=SIGNAL[1], low=SIGNAL[2], c=SIGNAL[3]))
    events = eng.place(market(Side.BUY if long else Side.SELL, "0.01"), DECIDED)
    entry = next(e.fill.price for e in events if isinstance(e, OrderFilled))
    assert entry == (D("20005") if long else D("19990"))
    assert slip(long, SIGNAL[3], SLIP, SIGNAL[2], SIGNAL[1]) == float(entry)

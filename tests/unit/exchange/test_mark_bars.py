"""Recorded mark-price bars: liquidation of that minute triggers on the mark bar, not on the last-price bar's
extremes; the stop-loss stays on the last price and comes first when both are reached without a gap."""

from decimal import Decimal as D

from omni.domain.events import Liquidated, OrderFilled
from omni.domain.orders import Side, StopKind
from tests.factories import T0, bar, engine, market


def long_50x(sl: str | None = None):
    eng = engine(balance="1000", taker="0")
    eng.set_leverage("BTCUSDT", D(50))
    eng.place(market(Side.BUY, "1", sl=sl), T0)
    assert eng.position("BTCUSDT").liq_price == D("19700.0")
    return eng


def liquidations(events):
    return [e for e in events if isinstance(e, Liquidated)]


def test_the_mark_bar_reaching_the_liquidation_price_liquidates_while_the_last_bar_stays_above():
    eng = long_50x()
    eng.set_mark_bar("BTCUSDT", T0, 19950.0, 19960.0, 19650.0, 19900.0)
    [liq] = liquidations(eng.on_bar(bar(ts=T0, o=19950, h=19960, low=19850, c=19900)))
    assert liq.mark_price == D("19700.0") and liq.fill.price == D(19600)
    assert eng.position("BTCUSDT") is None and eng.balance == D(600)


def test_a_last_price_wick_through_the_liquidation_price_does_not_liquidate_when_the_mark_stays_above():
    eng = long_50x()
    eng.set_mark_bar("BTCUSDT", T0, 19950.0, 19960.0, 19800.0, 19900.0)
    events = eng.on_bar(bar(ts=T0, o=19950, h=19960, low=19650, c=19900))
    assert liquidations(events) == [] and eng.position("BTCUSDT") is not None
    # without a mark bar the same last-price bar liquidates (its extremes stand in for the mark)
    other = long_50x()
    assert liquidations(other.on_bar(bar(ts=T0, o=19950, h=19960, low=19650, c=19900)))


def test_a_mark_bar_opening_through_the_liquidation_price_liquidates_at_its_open():
    eng = long_50x()
    eng.set_mark_bar("BTCUSDT", T0, 19650.0, 19660.0, 19600.0, 19620.0)
    [liq] = liquidations(eng.on_bar(bar(ts=T0, o=19750, h=19760, low=19720, c=19740)))
    assert liq.mark_price == D(19650)


def test_the_stop_loss_on_the_last_price_comes_before_a_liquidation_in_the_same_bar():
    eng = long_50x(sl="19800")
    eng.set_mark_bar("BTCUSDT", T0, 19950.0, 19960.0, 19650.0, 19700.0)
    events = eng.on_bar(bar(ts=T0, o=19950, h=19960, low=19750, c=19780))
    assert liquidations(events) == []
    [fill] = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert fill.stop_kind is StopKind.STOP_LOSS and fill.price == D(19800)


def test_a_mark_bar_of_another_minute_is_not_used():
    eng = long_50x()
    eng.set_mark_bar("BTCUSDT", T0 - 60_000, 19950.0, 19960.0, 19650.0, 19900.0)
    assert liquidations(eng.on_bar(bar(ts=T0, o=19950, h=19960, low=19850, c=19900))) == []
    assert eng.position("BTCUSDT") is not None

"""MatchingEngine: the mark price beside the last price. Stops trigger on their own price (LastPrice or MarkPrice),
liquidation on the mark; with the mark equal to the last price (the sim) both triggers give the same fills."""

import dataclasses
from decimal import Decimal as D

from omni.domain.events import Liquidated, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected, StopRejected
from omni.domain.market import Funding
from omni.domain.orders import Side, StopKind, TriggerBy
from tests.factories import T0, bar, engine, limit, market, small_alt

MARK, LAST = TriggerBy.MARK_PRICE, TriggerBy.LAST_PRICE


def fills(events):
    return [e.fill for e in events if isinstance(e, OrderFilled)]


def long_with_stop(trigger: TriggerBy, sl: str = "19800", tp: str | None = None, **kw):
    eng = engine(taker="0", **kw)
    intent = dataclasses.replace(market(Side.BUY, "0.1", sl=sl, tp=tp), stop_trigger=trigger)
    eng.place(intent, T0)
    return eng


def test_mark_equal_to_last_gives_the_same_fills_for_both_triggers():
    path = [bar(ts=T0 + i * 60_000, o=o, h=h, low=lo, c=c) for i, (o, h, lo, c) in enumerate(
        [(20000, 20100, 19900, 20050), (20050, 20300, 20000, 20250), (20250, 20260, 19700, 19750)])]  # fmt: skip
    results = []
    for trigger in (LAST, MARK):
        eng = long_with_stop(trigger, sl="19800", tp="20400")
        events = [e for b in path for e in eng.on_bar(b)]
        results.append(([(f.price, f.stop_kind, f.realised_pnl) for f in fills(events)], eng.balance))
    assert results[0] == results[1]
    assert results[0][0] == [(D(19800), StopKind.STOP_LOSS, D(-20))]


def test_a_mark_price_stop_fires_on_the_mark_while_the_last_price_stays_above_it():
    # Arrange: the mark runs 100 below the last price
    marked, lasted = long_with_stop(MARK), long_with_stop(LAST)
    for eng in (marked, lasted):
        eng.set_mark_offset("BTCUSDT", D(-100))
    # Act: the last price dips to 19 850 (above the 19 800 stop), the mark to 19 750 (below it)
    dip = bar(ts=T0, o=20000, h=20000, low=19850, c=19950)
    by_mark, by_last = marked.on_bar(dip), lasted.on_bar(dip)
    # Assert: the MarkPrice stop filled when the mark crossed 19 800, i.e. at last = 19 900; the other did not
    [fill] = fills(by_mark)
    assert fill.stop_kind is StopKind.STOP_LOSS and fill.price == D(19900) and fill.realised_pnl == D(-10)
    assert marked.position("BTCUSDT") is None
    assert fills(by_last) == [] and lasted.position("BTCUSDT").stop_loss == D(19800)


def test_a_last_price_stop_fires_on_the_last_price_while_the_mark_lags_above():
    marked, lasted = long_with_stop(MARK), long_with_stop(LAST)
    for eng in (marked, lasted):
        eng.set_mark_offset("BTCUSDT", D(150))  # mark 150 above last
    dip = bar(ts=T0, o=20000, h=20000, low=19780, c=19790)  # last reaches the stop, the mark (>= 19 930) does not
    assert fills(marked.on_bar(dip)) == []
    [fill] = fills(lasted.on_bar(dip))
    assert fill.price == D(19800)


def test_a_mark_already_through_the_stop_fires_at_the_bar_open():
    eng = long_with_stop(MARK)
    eng.set_mark_offset("BTCUSDT", D(-300))  # mark opens at 19 700, below the stop
    [fill] = fills(eng.on_bar(bar(ts=T0, o=20000, h=20050, low=19990, c=20020)))
    assert fill.price == D(20000)  # the last price when the stop triggered


def test_take_profit_follows_the_same_trigger():
    eng = long_with_stop(MARK, sl="19800", tp="20200")
    eng.set_mark_offset("BTCUSDT", D(100))
    [fill] = fills(eng.on_bar(bar(ts=T0, o=20000, h=20120, low=19990, c=20100)))  # mark high 20 220
    assert fill.stop_kind is StopKind.TAKE_PROFIT and fill.price == D(20100)


def test_liquidation_triggers_on_the_mark_price():
    eng = engine(balance="1000", taker="0")
    eng.set_leverage("BTCUSDT", D(50))
    eng.place(market(Side.BUY, "1"), T0)
    assert eng.position("BTCUSDT").liq_price == D("19700.0")
    eng.set_mark_offset("BTCUSDT", D(-200))
    events = eng.on_bar(bar(ts=T0, o=19950, h=19960, low=19850, c=19900))  # last >= 19 850, mark down to 19 650
    [liq] = [e for e in events if isinstance(e, Liquidated)]
    assert liq.mark_price == D("19700.0") and liq.fill.price == D(19600)  # closed at the bankruptcy price
    assert eng.position("BTCUSDT") is None and eng.balance == D(600)


def test_no_liquidation_while_only_the_last_price_crosses_it():
    eng = engine(balance="1000", taker="0")
    eng.set_leverage("BTCUSDT", D(50))
    eng.place(market(Side.BUY, "1"), T0)
    eng.set_mark_offset("BTCUSDT", D(200))
    events = eng.on_bar(bar(ts=T0, o=19800, h=19800, low=19650, c=19750))  # mark >= 19 850
    assert not [e for e in events if isinstance(e, Liquidated)] and eng.position("BTCUSDT") is not None


def test_mark_values_unrealised_pnl_and_funding():
    eng = engine(balance="1000")
    eng.place(market(Side.BUY, "0.1"), T0)
    eng.set_mark_offset("BTCUSDT", D(-500))
    assert eng.mark_price("BTCUSDT") == D(19500) and eng.last_price("BTCUSDT") == D(20000)
    assert eng.unrealised() == D(-50)
    [ev] = eng.on_funding(Funding("BTCUSDT", T0 + 8 * 3600_000, 0.0001))
    assert ev.fill.price == D(19500) and ev.fill.fee == D("0.195")
    eng.set_mark_offset("BTCUSDT", D(0))
    assert eng.mark_price("BTCUSDT") == eng.last_price("BTCUSDT")


def test_stop_rules_check_a_mark_price_stop_against_the_mark():
    eng = engine()
    eng.place(market(Side.BUY, "0.1"), T0)
    eng.set_mark_offset("BTCUSDT", D(-300))  # mark 19 700
    [rejected] = eng.set_trading_stop("BTCUSDT", T0, stop_loss=D(19800), sl_trigger=MARK)
    assert isinstance(rejected, StopRejected) and rejected.code == 10001 and "MarkPrice" in rejected.message
    eng.set_trading_stop("BTCUSDT", T0, stop_loss=D(19800))  # LastPrice: below the last price, accepted
    assert eng.position("BTCUSDT").stop_loss == D(19800)
    # a lower stop on the mark is accepted and then fires on the mark
    eng.set_trading_stop("BTCUSDT", T0, stop_loss=D(19600), sl_trigger=MARK)
    [fill] = fills(eng.on_bar(bar(ts=T0, o=20000, h=20000, low=19900, c=19950)))  # mark low 19 600
    assert fill.stop_kind is StopKind.STOP_LOSS and fill.price == D(19900)


def test_an_entry_with_a_mark_price_stop_is_checked_against_the_mark():
    eng = engine()
    eng.set_mark_offset("BTCUSDT", D(-300))
    intent = dataclasses.replace(market(Side.BUY, "0.1", sl="19800"), stop_trigger=MARK)
    [rejected] = eng.place(intent, T0)
    assert isinstance(rejected, OrderRejected) and "base_price:19700" in rejected.message
    accepted = eng.place(dataclasses.replace(intent, stop_trigger=LAST, client_id="c2"), T0)
    assert isinstance(accepted[0], OrderAccepted)  # the same stop on the last price (20 000) is fine


def test_cancel_all_can_be_capped_and_500_resting_orders_per_symbol_is_the_most():
    eng = engine(small_alt(), balance="100000", price=1.0)
    for i in range(500):
        [accepted] = eng.place(limit(Side.BUY, "10", "0.9", cid=f"o{i}", symbol="ALTUSDT"), T0)
        assert isinstance(accepted, OrderAccepted)
    [too_many] = eng.place(limit(Side.BUY, "10", "0.9", cid="x", symbol="ALTUSDT"), T0)
    assert isinstance(too_many, OrderRejected) and too_many.code == 110020
    first = eng.cancel_all(T0, limit=300)
    assert len(first) == 300 and all(isinstance(e, OrderCancelled) for e in first)
    assert [e.order.client_id for e in first[:2]] == ["o0", "o1"]  # oldest first
    assert len(eng.open_orders()) == 200
    assert len(eng.cancel_all(T0, limit=300)) == 200 and eng.open_orders() == []


def test_transfer_moves_the_balance_and_never_takes_margin_in_use():
    eng = engine(balance="1000")
    eng.place(market(Side.BUY, "0.1"), T0)  # 200 margin
    assert eng.transfer(D(50)) is None and eng.balance == D("1048.9")
    assert eng.transfer(D(-900)).code == 110007
    assert eng.transfer(D(-800)) is None and eng.balance == D("248.9")

"""MatchingEngine: fills, fees, funding, liquidation, TP/SL, rejections, intrabar rule. No event loop."""

from decimal import Decimal as D

from omni.domain.events import (
    FundingPaid,
    Liquidated,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    StopRejected,
)
from omni.domain.market import Funding
from omni.domain.orders import ExecType, OrderStatus, Side, StopKind, TimeInForce
from tests.factories import T0, bar, engine, limit, market, small_alt


def fills(events):
    return [e.fill for e in events if isinstance(e, OrderFilled)]


def rejected(events):
    [e] = [e for e in events if isinstance(e, OrderRejected)]
    return e


def test_market_buy_fills_at_last_price_with_taker_fee():
    # Arrange
    eng = engine(balance="1000")
    # Act
    events = eng.place(market(Side.BUY, "0.01"), T0)
    # Assert
    assert isinstance(events[0], OrderAccepted)
    [fill] = fills(events)
    assert fill.price == D("20000.0") and fill.qty == D("0.01")
    assert fill.fee == D("0.11") and not fill.is_maker  # 200 USDT x 0.055 %
    assert eng.balance == D("999.89")
    pos = eng.position("BTCUSDT")
    assert pos.side is Side.BUY and pos.size == D("0.01") and pos.margin == D(20)  # 10x default


def test_market_order_slippage_is_adverse_and_on_tick():
    eng = engine(slippage_bps="10")
    [fill] = fills(eng.place(market(Side.BUY, "0.01"), T0))
    assert fill.price == D("20000.0")  # capped by the bar's high (the last bar is flat at 20 000)
    eng.on_bar(bar(o=20000, h=20100, low=19900, c=20000))
    [fill] = fills(eng.place(market(Side.SELL, "0.02", cid="c2"), T0))
    assert fill.price == D("19980.0")


def test_round_trip_realises_pnl_and_fees_exactly():
    eng = engine(balance="1000")
    eng.place(market(Side.BUY, "0.01"), T0)
    eng.on_bar(bar(ts=T0, o=20000, c=21000, h=21000, low=20000))
    [fill] = fills(eng.place(market(Side.SELL, "0.01", cid="c2"), T0 + 60_000))
    assert fill.realised_pnl == D(10) and fill.fee == D("0.1155") and fill.closed_qty == D("0.01")
    assert eng.position("BTCUSDT") is None
    assert eng.balance == D(1000) + D(10) - D("0.11") - D("0.1155")
    assert eng.available == eng.balance


def test_flip_closes_then_opens_remaining_qty():
    eng = engine()
    eng.place(market(Side.BUY, "0.01"), T0)
    events = eng.place(market(Side.SELL, "0.02", cid="c2"), T0)
    [fill] = fills(events)
    assert fill.closed_qty == D("0.01")
    pos = eng.position("BTCUSDT")
    assert pos.side is Side.SELL and pos.size == D("0.01")


def test_funding_long_pays_short_receives_at_mark():
    eng = engine(balance="1000")
    eng.place(market(Side.BUY, "0.1"), T0)
    before = eng.balance
    [ev] = eng.on_funding(Funding("BTCUSDT", T0 + 8 * 3600_000, 0.0001))
    assert isinstance(ev, FundingPaid) and ev.fill.exec_type is ExecType.FUNDING
    assert ev.fill.fee == D("0.2")  # 0.1 x 20 000 x 0.0001
    assert eng.balance == before - D("0.2")
    eng.place(market(Side.SELL, "0.2", cid="c2"), T0)  # flip to short
    [ev] = eng.on_funding(Funding("BTCUSDT", T0, 0.0001))
    assert ev.fill.fee == D("-0.2")


def test_funding_without_position_does_nothing():
    assert engine().on_funding(Funding("BTCUSDT", T0, 0.0001)) == ()


def test_liquidation_on_mark_loses_whole_margin_at_bankruptcy_price():
    # Arrange: 1 BTC at 20 000, 50x -> margin 400, liq 19 700, bust 19 600
    eng = engine(balance="1000", taker="0")
    eng.set_leverage("BTCUSDT", D(50))
    eng.place(market(Side.BUY, "1"), T0)
    assert eng.position("BTCUSDT").liq_price == D("19700.0")
    # Act: a bar whose low touches 19 700
    events = eng.on_bar(bar(ts=T0, o=19900, h=19950, low=19700, c=19800))
    # Assert
    [liq] = [e for e in events if isinstance(e, Liquidated)]
    assert liq.fill.exec_type is ExecType.BUST_TRADE and liq.fill.price == D(19600)
    assert liq.fill.realised_pnl == D(-400)
    assert eng.balance == D(600) and eng.position("BTCUSDT") is None


def test_stop_loss_fills_before_liquidation_when_nearer():
    eng = engine(balance="1000", taker="0")
    eng.set_leverage("BTCUSDT", D(50))
    eng.place(market(Side.BUY, "1", sl="19800"), T0)
    events = eng.on_bar(bar(ts=T0, o=19900, h=19950, low=19600, c=19650))
    [fill] = fills(events)
    assert fill.stop_kind is StopKind.STOP_LOSS and fill.price == D(19800)
    assert not [e for e in events if isinstance(e, Liquidated)]


def test_gap_through_stop_loss_fills_at_open():
    eng = engine(taker="0")
    eng.place(market(Side.BUY, "0.1", sl="19800"), T0)
    [fill] = fills(eng.on_bar(bar(ts=T0, o=19750, h=19760, low=19700, c=19720)))
    assert fill.price == D(19750) and fill.realised_pnl == D(-25)


def test_sl_and_tp_in_same_bar_sl_fills_first():
    eng = engine(taker="0")
    eng.place(market(Side.BUY, "0.1", sl="19800", tp="20200"), T0)
    [fill] = fills(eng.on_bar(bar(ts=T0, o=20000, h=20300, low=19700, c=20250)))
    assert fill.stop_kind is StopKind.STOP_LOSS
    assert eng.position("BTCUSDT") is None


def test_take_profit_fills_on_touch_with_taker_fee():
    eng = engine()
    eng.place(market(Side.SELL, "0.1", sl="20200", tp="19800"), T0)
    [fill] = fills(eng.on_bar(bar(ts=T0, o=20000, h=20100, low=19800, c=19850)))
    assert fill.stop_kind is StopKind.TAKE_PROFIT and fill.price == D(19800)
    assert fill.realised_pnl == D(20) and fill.fee == D("1.089")


def test_trading_stop_replaces_sl_and_checks_direction():
    eng = engine()
    eng.place(market(Side.BUY, "0.1"), T0)
    [ev] = eng.set_trading_stop("BTCUSDT", T0, stop_loss=D(20100))
    assert isinstance(ev, StopRejected) and ev.code == 10001
    [ev] = eng.set_trading_stop("BTCUSDT", T0, stop_loss=D(19900))
    assert isinstance(ev, PositionChanged) and ev.position.stop_loss == D(19900)
    [ev] = eng.set_trading_stop("ETHUSDT", T0, stop_loss=D(1))
    assert isinstance(ev, StopRejected)


def test_rejections_carry_bybit_codes():
    eng = engine(balance="100")
    assert rejected(eng.place(market(Side.BUY, "0.0001"), T0)).code == 10001  # qty below min
    assert rejected(eng.place(market(Side.BUY, "0.0001", cid="x"), T0)).message.startswith("The number")
    assert rejected(eng.place(market(Side.BUY, "0.0002", cid="a"), T0)).code == 10001
    assert rejected(eng.place(limit(Side.BUY, "0.001", "19999.95", cid="b"), T0)).code == 10001  # off tick
    eng.on_bar(bar(o=4000))
    assert rejected(eng.place(market(Side.BUY, "0.001", cid="n"), T0)).code == 110094  # 4 USDT notional
    eng.on_bar(bar(o=20000))
    assert rejected(eng.place(market(Side.BUY, "1", cid="m"), T0)).code == 110007  # needs 2000 margin
    assert rejected(eng.place(market(Side.SELL, "0.01", cid="r", reduce_only=True), T0)).code == 110017
    assert rejected(eng.place(market(Side.BUY, "0.01", cid="s", sl="20500"), T0)).code == 10001  # SL above market
    assert eng.set_leverage("BTCUSDT", D(101)).code == 10001
    assert eng.balance == D(100)  # nothing was charged for rejected orders


def test_reduce_only_cannot_grow_position():
    eng = engine()
    eng.place(market(Side.BUY, "0.01"), T0)
    assert rejected(eng.place(market(Side.BUY, "0.01", cid="r", reduce_only=True), T0)).code == 110017
    [fill] = fills(eng.place(market(Side.SELL, "0.05", cid="r2", reduce_only=True), T0))
    assert fill.qty == D("0.01")  # truncated to the position, never flips
    assert eng.position("BTCUSDT") is None


def test_duplicate_client_id_is_rejected():
    eng = engine()
    eng.place(market(Side.BUY, "0.01", cid="dup"), T0)
    assert rejected(eng.place(market(Side.BUY, "0.01", cid="dup"), T0)).code == 110072


def test_position_above_risk_limit_tier_is_rejected():
    eng = engine(small_alt(), balance="10000", price=1.0)
    eng.set_leverage("ALTUSDT", D(25))
    assert rejected(eng.place(market(Side.BUY, "1001", symbol="ALTUSDT"), T0)).code == 110090
    assert fills(eng.place(market(Side.BUY, "1000", symbol="ALTUSDT", cid="ok"), T0))


def test_limit_rests_then_fills_as_maker_when_traded_through():
    eng = engine()
    events = eng.place(limit(Side.BUY, "0.01", "19900.0"), T0)
    assert [type(e) for e in events] == [OrderAccepted]
    assert eng.available < eng.balance  # margin reserved
    assert fills(eng.on_bar(bar(ts=T0, o=20000, h=20000, low=19900, c=19950))) == []  # touch is not enough
    [fill] = fills(eng.on_bar(bar(ts=T0 + 60_000, o=19950, h=19960, low=19890, c=19900)))
    assert fill.is_maker and fill.price == D("19900.0") and fill.fee == D("0.0398")


def test_post_only_that_would_cross_is_cancelled():
    eng = engine()
    events = eng.place(limit(Side.BUY, "0.01", "20010.0", tif=TimeInForce.POST_ONLY), T0)
    assert isinstance(events[-1], OrderCancelled) and events[-1].reason == "EC_PostOnlyWillTakeLiquidity"
    assert events[-1].order.status is OrderStatus.CANCELLED
    assert eng.open_orders() == []


def test_crossing_limit_fills_as_taker_no_worse_than_limit():
    eng = engine(slippage_bps="50")
    eng.on_bar(bar(o=20000, h=20200, low=19800, c=20000))
    [fill] = fills(eng.place(limit(Side.BUY, "0.01", "20050.0"), T0))
    assert not fill.is_maker and fill.price == D("20050.0")


def test_cancel_releases_reserved_margin():
    eng = engine()
    eng.place(limit(Side.BUY, "0.01", "19000.0", cid="L"), T0)
    [ev] = eng.cancel("BTCUSDT", "L", T0)
    assert isinstance(ev, OrderCancelled)
    assert eng.available == eng.balance
    assert rejected(eng.cancel("BTCUSDT", "L", T0)).code == 110001


def test_new_position_from_limit_checks_sl_in_same_bar():
    eng = engine(maker="0", taker="0")
    eng.place(limit(Side.BUY, "0.1", "19900.0"), T0)
    # attach SL via trading-stop is impossible before the fill; use an order with SL instead
    eng.cancel_all(T0)
    from omni.domain.orders import OrderIntent, OrderType

    eng.place(
        OrderIntent("L2", "BTCUSDT", Side.BUY, D("0.1"), OrderType.LIMIT, D("19900.0"), stop_loss=D("19800.0")), T0
    )
    events = eng.on_bar(bar(ts=T0, o=20000, h=20000, low=19700, c=19750))
    kinds = [f.stop_kind for f in fills(events)]
    assert kinds == [None, StopKind.STOP_LOSS]
    assert eng.position("BTCUSDT") is None


def test_accounting_identity_over_many_trades():
    eng = engine(balance="1000", slippage_bps="3")
    realised = fees = funding = D(0)
    price = 20000.0
    for i in range(200):
        price *= 1.001 if (i * 7919) % 3 else 0.998
        for ev in eng.on_bar(bar(ts=T0 + i * 60_000, o=price, h=price * 1.002, low=price * 0.998, c=price)):
            if isinstance(ev, OrderFilled):
                realised += ev.fill.realised_pnl
                fees += ev.fill.fee
        if i % 10 == 0:
            for ev in eng.on_funding(Funding("BTCUSDT", T0 + i * 60_000, 0.0001)):
                funding += ev.fill.fee
        side = Side.BUY if i % 4 < 2 else Side.SELL
        for ev in eng.place(market(side, "0.013", cid=f"c{i}", sl=None), T0 + i * 60_000):
            if isinstance(ev, OrderFilled):
                realised += ev.fill.realised_pnl
                fees += ev.fill.fee
    assert eng.balance == D(1000) + realised - fees - funding

"""Portfolio: the ledger rebuilt from a MatchingEngine's real events must agree with the engine to the cent."""

from __future__ import annotations

from decimal import Decimal as D

from omni.core.portfolio import DAY_MS, Portfolio, Trade
from omni.domain.events import Event, FundingPaid, OrderFilled
from omni.domain.market import Funding
from omni.domain.orders import Side
from omni.exchange.matching import MatchingEngine
from tests.factories import T0, bar, engine, market

MIN = 60_000


def feed(portfolio: Portfolio, events: list[Event] | tuple[Event, ...]) -> list[Trade]:
    """Apply every event in order; return the trades they closed."""
    closed = []
    for ev in events:
        trade = portfolio.apply(ev)
        if trade is not None:
            closed.append(trade)
    return closed


def setup(balance: str = "10000", **kw) -> tuple[MatchingEngine, Portfolio]:
    return engine(balance=balance, **kw), Portfolio(D(balance))


def test_entry_fill_opens_a_trade_and_a_position():
    # Arrange
    eng, pf = setup()

    # Act
    closed = feed(pf, eng.place(market(Side.BUY, "0.1"), T0))

    # Assert
    assert closed == []
    trade = pf.open_trades["BTCUSDT"]
    assert trade.side is Side.BUY and trade.opened_ts == T0 and trade.closed_ts is None
    assert trade.fees == D("1.1")  # 0.1 x 20 000 x 0.055 %
    assert pf.positions["BTCUSDT"].size == D("0.1")
    assert pf.active == 1 and pf.trades_total == 1 and pf.trades_today == 1


def test_winning_round_trip_closes_a_trade_with_net_after_fees():
    # Arrange
    eng, pf = setup()
    feed(pf, eng.place(market(Side.BUY, "0.1"), T0))
    feed(pf, eng.on_bar(bar(ts=T0, o=20000, h=21000, low=20000, c=21000)))

    # Act
    [trade] = feed(pf, eng.place(market(Side.SELL, "0.1", cid="c2"), T0 + MIN))

    # Assert: +100 realised, fees 1.1 + 1.155
    assert trade.realised == D(100) and trade.fees == D("2.255") and trade.funding == 0
    assert trade.net == D("97.745")
    assert trade.exit_reason == "Close" and trade.closed_ts == T0 + MIN
    assert pf.wins == 1 and pf.losses == 0
    assert pf.closed_net == D("97.745")
    assert pf.largest_loss == 0
    assert pf.positions == {} and pf.open_trades == {} and pf.closed == [trade]


def test_stop_loss_exit_is_a_loss_with_its_reason():
    # Arrange
    eng, pf = setup()
    feed(pf, eng.place(market(Side.BUY, "0.1", sl="19800"), T0))

    # Act
    [trade] = feed(pf, eng.on_bar(bar(ts=T0, o=20000, h=20000, low=19700, c=19750)))

    # Assert: -20 realised, fees 1.1 + 0.1 x 19 800 x 0.055 % = 1.089
    assert trade.exit_reason == "StopLoss"
    assert trade.net == D(-20) - D("2.189")
    assert pf.losses == 1 and pf.wins == 0
    assert pf.largest_loss == D("-22.189")


def test_take_profit_exit_has_its_reason():
    eng, pf = setup()
    feed(pf, eng.place(market(Side.SELL, "0.1", sl="20200", tp="19800"), T0))
    [trade] = feed(pf, eng.on_bar(bar(ts=T0, o=20000, h=20100, low=19800, c=19850)))
    assert trade.exit_reason == "TakeProfit" and trade.side is Side.SELL
    assert trade.realised == D(20) and pf.wins == 1


def test_net_is_realised_minus_fees_minus_funding_per_trade():
    # Arrange: a long pays two funding settlements, then closes flat
    eng, pf = setup()
    feed(pf, eng.place(market(Side.BUY, "0.1"), T0))
    feed(pf, eng.on_funding(Funding("BTCUSDT", T0 + 1, 0.0001)))  # pays 0.2
    feed(pf, eng.on_funding(Funding("BTCUSDT", T0 + 2, -0.00005)))  # receives 0.1

    # Act
    [trade] = feed(pf, eng.place(market(Side.SELL, "0.1", cid="c2"), T0 + MIN))

    # Assert
    assert trade.funding == D("0.1")
    assert trade.fees == D("2.2")
    assert trade.net == trade.realised - trade.fees - trade.funding == D("-2.3")
    assert pf.funding == D("0.1") and pf.losses == 1


def test_funding_without_an_open_trade_still_moves_capital():
    # a stand-alone funding event (e.g. a position the ledger never saw open) is cash all the same
    eng, pf = setup()
    eng.place(market(Side.BUY, "0.1"), T0)  # not fed to the portfolio
    feed(pf, eng.on_funding(Funding("BTCUSDT", T0 + 1, 0.0001)))
    assert pf.funding == D("0.2") and pf.open_trades == {}
    assert pf.capital == D("9999.8")


def test_largest_loss_keeps_the_worst_net_and_closed_net_sums_all_trades():
    # Arrange
    eng, pf = setup(taker="0")
    nets = []
    for i, exit_price in enumerate([19900, 20300, 19500, 19950]):
        ts = T0 + 10 * i * MIN
        eng.on_bar(bar(ts=ts, o=20000))
        feed(pf, eng.place(market(Side.BUY, "0.1", cid=f"o{i}"), ts))
        eng.on_bar(bar(ts=ts + MIN, o=exit_price))
        [trade] = feed(pf, eng.place(market(Side.SELL, "0.1", cid=f"c{i}"), ts + MIN))
        nets.append(trade.net)

    # Assert: -10, +30, -50, -5
    assert nets == [D(-10), D(30), D(-50), D(-5)]
    assert pf.wins == 1 and pf.losses == 3
    assert pf.largest_loss == D(-50)
    assert pf.closed_net == D(-35)
    assert pf.metrics()["avg_profit_per_trade"] == D("-8.75")
    assert pf.metrics()["success_rate"] == 0.25


def test_liquidation_closes_the_trade_with_reason_liquidation():
    # Arrange: 1 BTC at 20 000, 50x: margin 400, liquidation 19 700
    eng, pf = setup(balance="1000", taker="0")
    eng.set_leverage("BTCUSDT", D(50))
    feed(pf, eng.place(market(Side.BUY, "1"), T0))

    # Act
    [trade] = feed(pf, eng.on_bar(bar(ts=T0, o=19900, h=19950, low=19700, c=19800)))

    # Assert
    assert trade.exit_reason == "Liquidation"
    assert trade.realised == D(-400) and trade.net == D(-400)
    assert pf.losses == 1 and pf.largest_loss == D(-400)
    assert pf.positions == {}
    assert pf.capital == eng.balance == D(600)


def test_flip_closes_one_trade_and_opens_another():
    # Arrange
    eng, pf = setup(taker="0")
    feed(pf, eng.place(market(Side.BUY, "0.01"), T0))
    eng.on_bar(bar(ts=T0, o=20100))

    # Act
    closed = feed(pf, eng.place(market(Side.SELL, "0.02", cid="c2"), T0 + MIN))

    # Assert
    [old] = closed
    assert old.side is Side.BUY and old.realised == D(1) and old.closed_ts == T0 + MIN
    new = pf.open_trades["BTCUSDT"]
    assert new.side is Side.SELL and new.opened_ts == T0 + MIN and new.closed_ts is None
    assert pf.positions["BTCUSDT"].side is Side.SELL
    assert pf.trades_total == 2 and pf.wins == 1 and pf.active == 1


def test_flip_charges_the_opening_leg_fee_to_the_new_trade():
    # Arrange
    eng, pf = setup()
    feed(pf, eng.place(market(Side.BUY, "0.01"), T0))

    # Act: 0.02 sell at 20 000: fee 0.22, half of it closes the long, half opens the short
    [old] = feed(pf, eng.place(market(Side.SELL, "0.02", cid="c2"), T0))

    # Assert
    assert old.fees == D("0.11") + D("0.11")  # entry fee + closing half of the flip fee
    assert pf.open_trades["BTCUSDT"].fees == D("0.11")


def test_trades_today_resets_on_a_new_utc_day():
    # Arrange
    eng, pf = setup()
    pf.roll_day(T0, D(10000))
    feed(pf, eng.place(market(Side.BUY, "0.01"), T0))
    feed(pf, eng.place(market(Side.SELL, "0.01", cid="c2"), T0))
    feed(pf, eng.place(market(Side.BUY, "0.01", cid="c3"), T0))
    assert pf.trades_today == 2

    # Act
    next_day = (T0 // DAY_MS + 1) * DAY_MS
    assert pf.roll_day(next_day - 1) is False  # still the same UTC day
    rolled = pf.roll_day(next_day, D(9990))

    # Assert
    assert rolled is True
    assert pf.trades_today == 0 and pf.trades_total == 2
    assert pf.day == next_day // DAY_MS and pf.day_start_equity == D(9990)
    assert pf.roll_day(next_day + 5 * MIN) is False


def test_first_fill_of_a_new_day_rolls_the_day_by_itself():
    eng, pf = setup()
    pf.roll_day(T0, D(10000))
    feed(pf, eng.place(market(Side.BUY, "0.01"), T0))
    tomorrow = (T0 // DAY_MS + 1) * DAY_MS
    feed(pf, eng.place(market(Side.SELL, "0.01", cid="c2"), tomorrow))  # a close: new day, no new trade
    assert pf.day == tomorrow // DAY_MS and pf.trades_today == 0
    feed(pf, eng.place(market(Side.BUY, "0.01", cid="c3"), tomorrow))
    assert pf.day == tomorrow // DAY_MS and pf.trades_today == 1 and pf.trades_total == 2


def test_roll_day_without_equity_starts_the_day_at_capital():
    pf = Portfolio(D(10000), realised=D(50), fees=D(5))
    pf.roll_day(T0)
    assert pf.day_start_equity == D(10045)
    assert pf.day_loss(D(10000)) == D(45)


def test_day_rolled_by_the_first_fill_counts_that_fills_fee_as_todays_loss():
    # Arrange
    eng, pf = setup()

    # Act: no explicit roll_day; the entry fill starts the day (fee 0.1 x 20 000 x 0.055 % = 1.1)
    feed(pf, eng.place(market(Side.BUY, "0.1"), T0))

    # Assert: the day started with 10 000 and the account is 1.1 down (the price has not moved)
    assert pf.day_start_equity == D(10000)
    assert pf.day_loss(eng.equity()) == D("1.1")


def test_observe_equity_tracks_peak_and_max_drawdown():
    # Arrange
    pf = Portfolio(D(10000))

    # Act
    for equity in ["10500", "10200", "10600", "10100", "10400"]:
        pf.observe_equity(D(equity))

    # Assert
    assert pf.peak_equity == D(10600)
    assert pf.max_drawdown == D(500)
    assert pf.drawdown_pct(D(10100)) == D(500) / D(10600) * 100
    assert pf.drawdown_pct(D(10600)) == 0


def test_drawdown_starts_from_capital_start():
    pf = Portfolio(D(1000))
    pf.observe_equity(D(900))
    assert pf.peak_equity == D(1000) and pf.max_drawdown == D(100)
    assert pf.drawdown_pct(D(900)) == D(10)


def test_drawdown_pct_is_zero_without_positive_peak():
    assert Portfolio(D(0)).drawdown_pct(D(-5)) == 0


def test_metrics_report_the_six_figures_and_more():
    # Arrange: one winning round trip and one open position
    eng, pf = setup()
    feed(pf, eng.place(market(Side.BUY, "0.1"), T0))
    eng.on_bar(bar(ts=T0, o=21000))
    feed(pf, eng.place(market(Side.SELL, "0.1", cid="c2"), T0 + MIN))
    feed(pf, eng.place(market(Side.BUY, "0.01", cid="c3"), T0 + MIN))

    # Act
    m = pf.metrics()

    # Assert
    assert set(m) >= {
        "capital",
        "total_profit",
        "trades_today",
        "active_trades",
        "avg_profit_per_trade",
        "success_rate",
        "trades_total",
        "wins",
        "losses",
        "fees_paid",
        "funding_paid",
        "max_drawdown",
        "largest_loss",
    }
    fees = D("1.1") + D("1.155") + D("0.1155")
    assert m["capital"] == eng.balance == D(10000) + D(100) - fees
    assert m["total_profit"] == D(100) - fees
    assert m["trades_today"] == 2 and m["trades_total"] == 2 and m["active_trades"] == 1
    assert m["avg_profit_per_trade"] == D("97.745")
    assert m["success_rate"] == 1.0
    assert m["wins"] == 1 and m["losses"] == 0
    assert m["fees_paid"] == fees and m["funding_paid"] == 0


def test_metrics_with_no_closed_trade():
    m = Portfolio(D(500)).metrics()
    assert m["capital"] == D(500) and m["total_profit"] == 0
    assert m["avg_profit_per_trade"] == 0 and m["success_rate"] is None


def test_keep_closed_bounds_the_trade_history():
    eng, pf = setup(taker="0")
    pf.keep_closed = 3
    for i in range(5):
        feed(pf, eng.place(market(Side.BUY, "0.01", cid=f"o{i}"), T0 + i))
        feed(pf, eng.place(market(Side.SELL, "0.01", cid=f"c{i}"), T0 + i))
    assert len(pf.closed) == 3 and [t.opened_ts for t in pf.closed] == [T0 + 2, T0 + 3, T0 + 4]
    assert pf.losses == 5  # counters keep every trade


def test_capital_equals_engine_balance_after_many_trades_with_funding():
    # Arrange: slippage, stops, targets, flips and funding, exactly as the engine does them
    eng, pf = setup(balance="5000", slippage_bps="3")
    price = 20000.0
    fundings = fills = 0

    # Act
    for i in range(300):
        ts = T0 + i * MIN
        price *= 1.0015 if (i * 7919) % 5 < 3 else 0.9975
        feed(pf, eng.on_bar(bar(ts=ts, o=price, h=price * 1.003, low=price * 0.997, c=price)))
        if i % 25 == 0 and pf.positions:
            events = eng.on_funding(Funding("BTCUSDT", ts, 0.0001 if i % 50 else -0.00007))
            fundings += sum(isinstance(e, FundingPaid) for e in events)
            feed(pf, events)
        pos = eng.position("BTCUSDT")
        last = float(eng.last_price("BTCUSDT"))
        if pos is None or (i % 15 == 0):  # open, or flip through zero with fresh stops
            side = (Side.BUY if i % 2 else Side.SELL) if pos is None else pos.side.opposite
            sl = round(last * (0.994 if side is Side.BUY else 1.006), 1)
            tp = round(last * (1.007 if side is Side.BUY else 0.993), 1)
            qty = D("0.02") + (pos.size if pos is not None else 0)
            events = eng.place(market(side, str(qty), cid=f"c{i}", sl=str(sl), tp=str(tp)), ts)
        elif i % 11 == 0:  # close at market
            events = eng.close_position("BTCUSDT", ts, client_id=f"x{i}")
        else:
            events = []
        fills += sum(isinstance(e, OrderFilled) for e in events)
        feed(pf, events)
        # Assert at every step: the ledger is the wallet, exactly
        assert pf.capital == eng.balance

    # Assert
    assert fundings > 3 and fills > 30 and pf.closed_count > 10
    assert {t.exit_reason for t in pf.closed} == {"StopLoss", "TakeProfit", "Close"}
    assert pf.funding != 0
    assert pf.capital - pf.capital_start == pf.realised - pf.fees - pf.funding
    assert set(pf.positions) == set(eng.positions())
    open_net = sum((t.net for t in pf.open_trades.values()), D(0))
    assert pf.closed_net + open_net == pf.capital - pf.capital_start

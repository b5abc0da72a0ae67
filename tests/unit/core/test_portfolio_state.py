"""The ledger across restarts and capital changes: adopted positions, liquidation fees, transfers, and the risk
baselines that must survive a restart."""

from __future__ import annotations

from decimal import Decimal as D

from omni.core.portfolio import DAY_MS, Portfolio
from omni.core.risk import RiskGuard
from omni.domain.events import CapitalTransfer, Liquidated, OrderFilled, PositionChanged
from omni.domain.orders import ExecType, Fill, Position, Side
from tests.factories import T0, bar, engine, market
from tests.unit.core.test_portfolio import feed
from tests.unit.core.test_risk import entry, limits

DAY = T0 // DAY_MS


def _fill(side: Side, qty: str, closed: str, pnl: str = "0", fee: str = "0.5", exec_type=ExecType.TRADE) -> Fill:
    return Fill(
        "e-" + side.value + qty + closed,
        "o1",
        "",
        "BTCUSDT",
        side,
        D(qty),
        D(20000),
        D(fee),
        D("0.00055"),
        False,
        exec_type,
        D(pnl),
        T0 + 60_000,
        D(closed),
    )


def _pos(side: Side = Side.BUY, size: str = "0.1") -> Position:
    return Position("BTCUSDT", side, D(size), D(20000), D(10), D(200), D(18100), D(0), None, D(19000), T0)


def test_an_adopted_long_closes_as_a_long_trade_and_is_not_counted_again():
    # Arrange: a restart adopted a long opened by an earlier run (counted in that run's trades_today)
    pf = Portfolio(D(1000))
    pf.restore_risk_state(
        {"day": DAY, "day_start_equity": "1000", "peak_equity": "1000", "max_drawdown": "0", "trades_today": 1}
    )
    pf.positions["BTCUSDT"] = _pos()
    pf.adopt("BTCUSDT", Side.BUY, T0)

    # Act: its closing sell
    pf.apply(OrderFilled(_fill(Side.SELL, "0.1", "0.1", pnl="-3"), None))
    closed = pf.apply(PositionChanged("BTCUSDT", None, T0 + 60_000))

    # Assert
    assert closed is not None and closed.side is Side.BUY and closed.realised == D(-3) and closed.fees == D("0.5")
    assert pf.trades_today == 1 and pf.trades_total == 0 and pf.open_trades == {}
    assert pf.losses == 1


def test_a_close_of_a_position_never_seen_open_is_a_trade_on_the_positions_side_not_a_phantom_entry():
    pf = Portfolio(D(1000))
    pf.positions["BTCUSDT"] = _pos(Side.SELL)
    pf.apply(OrderFilled(_fill(Side.BUY, "0.1", "0.1", pnl="2"), None))
    closed = pf.apply(PositionChanged("BTCUSDT", None, T0 + 60_000))
    assert closed is not None and closed.side is Side.SELL and closed.net == D("1.5")
    assert pf.trades_today == 0 and pf.trades_total == 0


def test_a_liquidations_exec_fee_is_counted_in_the_ledger_and_the_trade():
    pf = Portfolio(D(1000))
    feed(pf, [OrderFilled(_fill(Side.BUY, "0.1", "0", fee="1.1"), None)])
    liq = _fill(Side.SELL, "0.1", "0.1", pnl="-190", fee="0.8", exec_type=ExecType.BUST_TRADE)
    pf.apply(Liquidated(liq, D(18100), D(18100)))
    closed = pf.apply(PositionChanged("BTCUSDT", None, T0 + 60_000))
    assert pf.fees == D("1.9") and pf.capital == D(1000) - D(190) - D("1.9")
    assert closed is not None and closed.fees == D("1.9") and closed.exit_reason == "Liquidation"


def test_a_deposit_is_capital_not_profit_and_moves_the_baselines():
    # Arrange: 2 USDT down today, then a 100 USDT top-up
    eng, pf = engine(balance="1000"), Portfolio(D(1000))
    pf.roll_day(T0, D(1000))
    feed(pf, eng.place(market(Side.BUY, "0.01"), T0))
    feed(pf, eng.on_bar(bar(ts=T0, o=20000, h=20000, low=19800, c=19800)))
    feed(pf, eng.place(market(Side.SELL, "0.01", cid="c2"), T0 + 60_000))
    loss_before = pf.day_loss(pf.capital)

    # Act
    pf.apply(CapitalTransfer("t1", D(100), "TRANSFER_IN", T0 + 120_000))

    # Assert: the loss is still the loss; profit excludes the deposit; the identity holds
    assert pf.day_loss(pf.capital) == loss_before > 0
    assert pf.metrics()["total_profit"] == -loss_before
    assert pf.peak_equity == D(1100) and pf.deposits == D(100)
    assert pf.capital == pf.capital_start + pf.deposits - pf.withdrawals + pf.realised - pf.fees - pf.funding


def test_a_withdrawal_does_not_trip_the_daily_loss_limit_or_the_drawdown():
    pf = Portfolio(D(1000))
    pf.roll_day(T0, D(1000))
    pf.apply(CapitalTransfer("t2", D(-500), "TRANSFER_OUT", T0))
    guard = RiskGuard(limits())
    assert pf.day_loss(D(500)) == 0 and pf.drawdown_pct(D(500)) == 0
    assert guard.observe(pf, D(500)) is None
    assert pf.withdrawals == D(500) and pf.capital == D(500)


def test_an_unexplained_adjustment_keeps_the_identity_but_still_counts_as_a_loss():
    pf = Portfolio(D(1000))
    pf.roll_day(T0, D(1000))
    pf.apply(CapitalTransfer("adj", D(-4), "Adjustment", T0))
    assert pf.capital == D(996) and pf.adjustments == D(-4)
    assert pf.day_loss(pf.capital) == D(4) and pf.metrics()["total_profit"] == D(-4)


def test_risk_state_round_trips_and_a_restart_keeps_the_days_loss_and_the_peak():
    # Arrange: a run 2.9 down today after a peak of 1050
    first = Portfolio(D(1000))
    first.roll_day(T0, D(1000))
    first.observe_equity(D(1050))
    first.trades_today = 7
    first.observe_equity(D("997.1"))
    state = first.risk_state()

    # Act: a restart builds a new ledger from the current balance and restores the journaled state
    again = Portfolio(D("997.1"))
    restored = again.restore_risk_state(state)
    again.roll_day(T0 + 3_600_000, D("997.1"))  # the first batch after the restart: same UTC day

    # Assert
    assert restored is True
    assert again.day_loss(D("997.1")) == D("2.9") and again.trades_today == 7
    assert again.peak_equity == D(1050) and again.max_drawdown == D("52.9")
    guard = RiskGuard(limits(max_daily_loss=D(3)))
    verdict = guard.check(entry(), *_check_args(again))
    assert getattr(verdict, "reason", None) == "daily_loss_budget"


def test_a_journaled_day_that_is_over_keeps_the_peak_but_the_new_day_starts_afresh():
    state = {"day": DAY - 1, "day_start_equity": "1000", "peak_equity": "1200", "max_drawdown": "5", "trades_today": 9}
    pf = Portfolio(D(990))
    pf.roll_day(T0, D(990))
    assert pf.restore_risk_state(state) is False
    assert pf.day == DAY and pf.day_start_equity == D(990) and pf.trades_today == 0
    assert pf.peak_equity == D(1200) and pf.max_drawdown == D(5)


def _check_args(pf: Portfolio):
    from tests.factories import btc
    from tests.unit.core.test_risk import ENTRY

    return btc(), ENTRY, pf, D("997.1")

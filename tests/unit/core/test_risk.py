"""RiskGuard: every limit refuses with its own reason, the kill switch latches, nothing bypasses the guard."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal as D

import pytest

from omni.core.pipeline import ClientIds
from omni.core.portfolio import Portfolio
from omni.core.risk import Approved, Limits, Refused, RiskGuard, loss_at_stop
from omni.domain.orders import OrderIntent, Position, Side
from omni.engine.executor import Executor
from tests.factories import T0, btc

ENTRY = D(20000)


def limits(**overrides) -> Limits:
    base = dict(
        max_concurrent=2,
        max_loss_per_trade=D(50),
        max_daily_loss=D(200),
        max_drawdown_pct=D(10),
        max_leverage=D(20),
        max_notional=D(50_000),
        taker_fee=D("0.00055"),
        slippage=D("0.001"),
    )
    base.update(overrides)
    return Limits(**base)


def entry(
    side: Side = Side.BUY,
    qty: str = "0.1",
    sl: str | None = "19800",
    leverage: str | None = "5",
    symbol: str = "BTCUSDT",
    cid: str = "e1",
) -> OrderIntent:
    return OrderIntent(
        cid,
        symbol,
        side,
        D(qty),
        stop_loss=D(sl) if sl is not None else None,
        leverage=D(leverage) if leverage is not None else None,
    )


def position(symbol: str, side: Side = Side.BUY) -> Position:
    return Position(symbol, side, D("0.1"), ENTRY, D(5), D(400), D(16100), D(16000), stop_loss=D(19000))


def check(guard: RiskGuard, intent: OrderIntent, portfolio: Portfolio | None = None, equity: str = "10000", inst=None):
    return guard.check(intent, inst or btc(), ENTRY, portfolio or Portfolio(D(10000)), D(equity))


def refused(verdict) -> str:
    assert isinstance(verdict, Refused), verdict
    return verdict.reason


# ---------------------------------------------------------------- approval


def test_good_entry_is_approved_with_its_loss_at_stop_and_becomes_pending():
    # Arrange
    guard = RiskGuard(limits())
    intent = entry()

    # Act
    verdict = check(guard, intent)

    # Assert: exit one tick below the stop: 0.1 x (20000 - 19780.1) + 0.1 x (20000 + 19780.1) x 0.00055
    assert isinstance(verdict, Approved)
    assert verdict.intent is intent
    assert verdict.max_loss == D("24.1779055")
    assert guard.pending == {"BTCUSDT"}


def test_good_short_entry_is_approved():
    verdict = check(RiskGuard(limits()), entry(Side.SELL, sl="20200"))
    assert isinstance(verdict, Approved)


def test_reduce_only_order_is_approved_even_with_kill_switch_tripped():
    # Arrange
    guard = RiskGuard(limits(), kill_switch="max_daily_loss: test")
    close = OrderIntent("x1", "BTCUSDT", Side.SELL, D("0.1"), reduce_only=True)

    # Act
    verdict = check(guard, close)

    # Assert: approved, risks nothing, and takes no pending slot
    assert isinstance(verdict, Approved)
    assert verdict.max_loss == 0
    assert guard.pending == set()


# ---------------------------------------------------------------- refusals, one per limit


def test_kill_switch_refuses_entries_with_its_trip_reason():
    verdict = check(RiskGuard(limits(), kill_switch="manual stop"), entry())
    assert verdict == Refused("kill_switch", "manual stop")


def test_entry_without_stop_loss_is_refused():
    assert refused(check(RiskGuard(limits()), entry(sl=None))) == "no_stop_loss"


def test_entry_on_symbol_with_open_position_is_refused():
    portfolio = Portfolio(D(10000))
    portfolio.positions["BTCUSDT"] = position("BTCUSDT")
    assert refused(check(RiskGuard(limits()), entry(), portfolio)) == "already_open"


def test_entry_on_symbol_with_pending_entry_is_refused():
    guard = RiskGuard(limits())
    assert isinstance(check(guard, entry(cid="a")), Approved)
    assert refused(check(guard, entry(cid="b"))) == "already_open"


def test_max_concurrent_counts_positions_and_pending_entries():
    # Arrange: one open position (ETH) and one pending entry (SOL) fill max_concurrent = 2
    guard = RiskGuard(limits(max_concurrent=2))
    guard.pending.add("SOLUSDT")
    portfolio = Portfolio(D(10000))
    portfolio.positions["ETHUSDT"] = position("ETHUSDT")

    # Act
    verdict = check(guard, entry(), portfolio)

    # Assert
    assert refused(verdict) == "max_concurrent"
    assert guard.pending == {"SOLUSDT"}


def test_max_concurrent_counts_positions_alone():
    portfolio = Portfolio(D(10000))
    portfolio.positions["ETHUSDT"] = position("ETHUSDT")
    portfolio.positions["SOLUSDT"] = position("SOLUSDT")
    assert refused(check(RiskGuard(limits()), entry(), portfolio)) == "max_concurrent"


def test_max_concurrent_counts_pending_alone():
    guard = RiskGuard(limits())
    guard.pending |= {"ETHUSDT", "SOLUSDT"}
    assert refused(check(guard, entry())) == "max_concurrent"


def test_leverage_above_config_cap_is_refused():
    assert refused(check(RiskGuard(limits(max_leverage=D(20))), entry(leverage="21"))) == "max_leverage"


def test_leverage_above_instrument_max_is_refused():
    verdict = check(RiskGuard(limits(max_leverage=D(20))), entry(leverage="15"), inst=btc(max_leverage="10"))
    assert refused(verdict) == "max_leverage"


def test_leverage_at_the_cap_is_allowed():
    assert isinstance(check(RiskGuard(limits(max_leverage=D(20))), entry(leverage="10"), inst=btc("10")), Approved)


def test_notional_above_max_is_refused():
    # 3 x 20 000 = 60 000 > 50 000
    assert refused(check(RiskGuard(limits()), entry(qty="3", leverage="10"))) == "max_notional"


@pytest.mark.parametrize(("side", "sl"), [(Side.BUY, "20100"), (Side.BUY, "20000"), (Side.SELL, "19900")])
def test_stop_on_wrong_side_of_entry_is_refused(side, sl):
    assert refused(check(RiskGuard(limits()), entry(side, sl=sl))) == "stop_wrong_side"


def test_liquidation_before_stop_is_refused():
    # 20x long at 20 000: IM 5 %, MM 0.5 % -> liquidation at 19 100, above a stop at 19 000
    verdict = check(RiskGuard(limits()), entry(qty="0.01", sl="19000", leverage="20"))
    assert refused(verdict) == "liq_before_stop"


def test_liquidation_before_stop_is_refused_for_a_short():
    # 20x short at 20 000 -> liquidation at 20 900, below a stop at 21 000
    verdict = check(RiskGuard(limits()), entry(Side.SELL, qty="0.01", sl="21000", leverage="20"))
    assert refused(verdict) == "liq_before_stop"


def test_loss_at_stop_above_per_trade_limit_is_refused():
    # 0.5 x 219.8 = 109.9 USDT before fees > 50
    assert refused(check(RiskGuard(limits()), entry(qty="0.5"))) == "max_loss_per_trade"


def test_loss_at_stop_above_what_is_left_of_the_daily_budget_is_refused():
    # Arrange: the day started at 10 000 and equity is 9 820: 180 of 200 used, 20 left < 24.17 at stop
    portfolio = Portfolio(D(10000))

    # Act
    verdict = check(RiskGuard(limits()), entry(), portfolio, equity="9820")

    # Assert
    assert refused(verdict) == "daily_loss_budget"


def test_daily_budget_allows_an_entry_that_fits_what_is_left():
    assert isinstance(check(RiskGuard(limits()), entry(), Portfolio(D(10000)), equity="9830"), Approved)


def test_refused_entry_takes_no_pending_slot():
    guard = RiskGuard(limits())
    check(guard, entry(qty="0.5"))
    assert guard.pending == set()


# ---------------------------------------------------------------- no way around the guard


def test_approved_cannot_be_constructed_directly():
    with pytest.raises(TypeError):
        Approved(entry(), D(0))
    with pytest.raises(TypeError):
        Approved(entry(), D(0), object())


def test_an_approved_order_cannot_be_swapped_or_changed_after_approval():
    approved = check(RiskGuard(limits()), entry())
    assert isinstance(approved, Approved)
    bigger = dataclasses.replace(approved.intent, qty=D("50"))
    with pytest.raises(AttributeError, match="immutable"):
        approved.intent = bigger
    with pytest.raises(AttributeError, match="immutable"):
        approved.max_loss = D(0)
    with pytest.raises(AttributeError, match="immutable"):
        del approved.intent
    with pytest.raises(dataclasses.FrozenInstanceError):
        approved.intent.qty = D("50")  # type: ignore[misc]
    assert approved.intent.qty == entry().qty


class _RecordingVenue:
    """A venue stand-in that records every call (none should happen for an unapproved order)."""

    def __init__(self):
        self.instruments = {"BTCUSDT": btc()}
        self.calls: list[tuple] = []

    async def set_leverage(self, symbol, leverage):
        self.calls.append(("set_leverage", symbol, leverage))
        return None

    async def place(self, intent):
        self.calls.append(("place", intent))
        return []

    def now_ms(self) -> int:
        return T0


def executor(venue: _RecordingVenue, guard: RiskGuard) -> Executor:
    return Executor(venue, guard, Portfolio(D(10000)), ClientIds("test"), log=None, max_loss_per_trade=D(50))


def test_executor_refuses_a_plain_order_intent():
    # Arrange
    venue = _RecordingVenue()
    ex = executor(venue, RiskGuard(limits()))

    # Act / Assert
    with pytest.raises(TypeError):
        asyncio.run(ex.submit(entry()))
    assert venue.calls == []


def test_executor_sends_an_approved_order_after_setting_its_leverage():
    venue = _RecordingVenue()
    guard = RiskGuard(limits())
    approved = check(guard, entry())
    asyncio.run(executor(venue, guard).submit(approved))
    assert venue.calls == [("set_leverage", "BTCUSDT", D(5)), ("place", approved.intent)]


# ---------------------------------------------------------------- settle and observe


def test_settle_frees_the_pending_slot():
    # Arrange
    guard = RiskGuard(limits(max_concurrent=1))
    check(guard, entry())
    assert refused(check(guard, entry(symbol="ETHUSDT", cid="e2"))) == "max_concurrent"

    # Act
    guard.settle("BTCUSDT")

    # Assert
    assert guard.pending == set()
    assert isinstance(check(guard, entry(cid="e3")), Approved)


def test_settle_of_unknown_symbol_is_harmless():
    guard = RiskGuard(limits())
    guard.settle("NOPEUSDT")
    assert guard.pending == set()


def test_observe_within_limits_does_not_trip():
    guard = RiskGuard(limits())
    assert guard.observe(Portfolio(D(10000)), D(9801)) is None
    assert guard.kill_switch is None


def test_observe_trips_on_daily_loss_and_latches():
    # Arrange
    guard = RiskGuard(limits(max_daily_loss=D(200)))
    portfolio = Portfolio(D(10000))

    # Act: lose exactly the daily limit
    reason = guard.observe(portfolio, D(9800))

    # Assert
    assert reason is not None and reason.startswith("max_daily_loss")
    assert guard.kill_switch == reason
    # latched: recovery does not clear it, and a second observe reports nothing new
    assert guard.observe(portfolio, D(10500)) is None
    assert guard.kill_switch == reason
    assert check(guard, entry()) == Refused("kill_switch", reason)


def test_observe_trips_on_drawdown_from_peak_and_latches():
    # Arrange: peak 12 000; the day started at 10 900, so 10 800 is only a 100 daily loss but a 10 % drawdown
    guard = RiskGuard(limits(max_drawdown_pct=D(10), max_daily_loss=D(200)))
    portfolio = Portfolio(D(10000))
    portfolio.roll_day(T0, D(10900))
    portfolio.observe_equity(D(12000))
    assert guard.observe(portfolio, D(10801)) is None

    # Act
    reason = guard.observe(portfolio, D(10800))

    # Assert
    assert reason is not None and reason.startswith("max_drawdown")
    assert guard.kill_switch == reason
    assert guard.observe(portfolio, D(5000)) is None
    assert guard.kill_switch == reason


# ---------------------------------------------------------------- loss_at_stop maths


def test_loss_at_stop_for_a_long_by_hand():
    # Arrange: 0.25 BTC long at 30 000, stop 29 400, fee 0.06 %, slippage 0.2 %
    intent = OrderIntent("l", "BTCUSDT", Side.BUY, D("0.25"), stop_loss=D(29400))

    # Act
    loss = loss_at_stop(intent, D(30000), D("0.0006"), D("0.002"))

    # Assert: exit 29 400 x 0.998 = 29 341.2; move 658.8 x 0.25 = 164.7;
    # fees 0.25 x (30 000 + 29 341.2) x 0.0006 = 8.90118
    assert loss == D("173.60118")


def test_loss_at_stop_for_a_short_by_hand():
    # Arrange: 2 ETH short at 1 500, stop 1 530, fee 0.055 %, slippage 0.1 %
    intent = OrderIntent("s", "ETHUSDT", Side.SELL, D(2), stop_loss=D(1530))

    # Act
    loss = loss_at_stop(intent, D(1500), D("0.00055"), D("0.001"))

    # Assert: exit 1 530 x 1.001 = 1 531.53; move 31.53 x 2 = 63.06; fees 2 x 3 031.53 x 0.00055 = 3.334683
    assert loss == D("66.394683")


def test_loss_at_stop_without_slippage_is_move_plus_fees():
    intent = OrderIntent("s", "BTCUSDT", Side.BUY, D(1), stop_loss=D(19000))
    assert loss_at_stop(intent, D(20000), D(0)) == D(1000)
    assert loss_at_stop(intent, D(20000), D("0.001")) == D(1000) + D(39)


def test_loss_at_stop_is_quantized_to_money():
    intent = OrderIntent("s", "BTCUSDT", Side.BUY, D("0.001"), stop_loss=D("19999.9"))
    loss = loss_at_stop(intent, D(20000), D("0.00055"), D("0.0003"))
    assert loss == loss.quantize(D("0.00000001"))

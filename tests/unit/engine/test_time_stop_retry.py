"""The trader's time stop: a close the venue refuses (110017, already flat while the fill is not booked yet, or
anything else) is tried again a market minute later, never on every batch; a filled one marks the trade."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from types import SimpleNamespace

from omni.core.portfolio import Portfolio
from omni.domain.events import OrderRejected
from omni.domain.orders import Position, Side
from omni.engine.trader import Trader

T0 = 1_700_000_040_000


class Log:
    def __init__(self):
        self.events = []

    def __getattr__(self, level):
        return lambda event, **kw: self.events.append(event)


class Executor:
    def __init__(self, reply):
        self.reply = reply
        self.calls = 0

    async def close(self, symbol, pos, client_id=None):
        self.calls += 1
        return self.reply(symbol)


def trader_with(reply, venue_flat: bool = False) -> tuple[Trader, Executor]:
    portfolio = Portfolio(D(100))
    pos = Position("BTCUSDT", Side.BUY, D("0.01"), D(20000), D(10), D(20), D(18000), D(17900), None, D(19800), T0)
    portfolio.positions["BTCUSDT"] = pos
    executor = Executor(reply)
    telemetry = SimpleNamespace(event=lambda ev: None, trade_closed=lambda t: None)

    async def venue_positions():
        return {} if venue_flat else {"BTCUSDT": pos}

    venue = SimpleNamespace(equity=lambda: D(100), name="sim", now_ms=lambda: T0, positions=venue_positions)
    guard = SimpleNamespace(pending=set(), observe=lambda p, e: None, settle=lambda s: None)
    pipeline = SimpleNamespace(params=SimpleNamespace(ghost=SimpleNamespace(max_hold_bars=3)))
    t = Trader(venue, pipeline, portfolio, guard, executor, telemetry, Log())  # type: ignore[arg-type]
    t.set_time_stop("BTCUSDT", T0 + 180_000)
    return t, executor


def test_a_refused_time_stop_is_retried_a_market_minute_later_not_every_batch():
    t, ex = trader_with(lambda s: [OrderRejected("c", s, 110017, "Reduce-only rule not satisfied", T0)])

    async def go():
        for k in range(0, 10):  # batches every 10 s of market time from the deadline on
            await t.enforce_time_stops(T0 + 180_000 + k * 10_000)

    asyncio.run(go())
    assert ex.calls == 2  # at the deadline, and once more a minute later
    assert t.time_stops == {"BTCUSDT": T0 + 180_000}  # kept until the position is seen flat


def test_before_the_deadline_nothing_is_sent_and_a_close_marks_the_trade():
    t, ex = trader_with(lambda s: [])
    t.portfolio.open_trades["BTCUSDT"] = SimpleNamespace(exit_reason="")

    async def go():
        await t.enforce_time_stops(T0 + 179_999)
        assert ex.calls == 0
        await t.enforce_time_stops(T0 + 180_000)

    asyncio.run(go())
    assert ex.calls == 1 and t.portfolio.open_trades["BTCUSDT"].exit_reason == "TimeStop"


def test_no_close_is_sent_when_the_venue_already_saw_the_position_go_flat():
    # the stop filled on the exchange and the venue knows, but the ledger has not booked the fill yet
    t, ex = trader_with(lambda s: [], venue_flat=True)
    asyncio.run(t.enforce_time_stops(T0 + 180_000))
    assert ex.calls == 0 and "BTCUSDT" in t.time_stops  # cleared by the PositionChanged when it is applied


def test_an_accepted_close_whose_fill_is_not_back_yet_is_not_sent_again_on_the_next_batch():
    t, ex = trader_with(lambda s: [])  # accepted; the position stays in the ledger until its fill is reported

    async def go():
        for k in range(5):
            await t.enforce_time_stops(T0 + 180_000 + k * 10_000)

    asyncio.run(go())
    assert ex.calls == 1

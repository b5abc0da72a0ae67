"""DecisionPipeline: rule -> sizing -> guard per closed bar; higher timeframes; client ids."""

from __future__ import annotations

from decimal import Decimal as D

from omni.core.entry_rule import BreakoutRule, Signal
from omni.core.pipeline import ClientIds, Decision, DecisionPipeline
from omni.core.portfolio import Portfolio
from omni.core.risk import Approved, Limits, RiskGuard
from omni.core.sizing import SizingParams
from omni.domain.market import MINUTE_MS, Bar
from omni.domain.orders import Position, Side
from tests.factories import T0, btc

FEE = D("0.00055")
SLIP = D("0.001")
S3 = T0 - T0 % (3 * MINUTE_MS) + 3 * MINUTE_MS  # a 3-minute boundary

# three quiet 1m bars around 20 000 (TR 20 each), then a close at 20 080 above the 3-bar high of 20 020
WARMUP = [(20010.0, 19990.0, 20000.0), (20020.0, 20000.0, 20010.0), (20015.0, 19995.0, 20000.0)]
BREAKOUT = (20100.0, 20000.0, 20080.0)


def one_minute(i: int, h: float, lo: float, c: float, symbol: str = "BTCUSDT", start: int = T0) -> Bar:
    return Bar(symbol, start + i * MINUTE_MS, lo, h, lo, c, 1.0)


def pipeline(timeframe: int = 1, rule=None, guard: RiskGuard | None = None,
             portfolio: Portfolio | None = None, run_id: str = "test-run") -> DecisionPipeline:
    sizing = SizingParams(
        max_loss_per_trade=D(50),
        max_leverage=D(20),
        max_notional=D(100_000),
        max_concurrent=3,
        taker_fee=FEE,
        slippage=SLIP,
    )
    limits = Limits(
        max_concurrent=3,
        max_loss_per_trade=D(50),
        max_daily_loss=D(300),
        max_drawdown_pct=D(20),
        max_leverage=D(20),
        max_notional=D(100_000),
        taker_fee=FEE,
        slippage=SLIP,
    )
    return DecisionPipeline(
        {"BTCUSDT": btc()},
        rule or BreakoutRule(3, 3, 2.0, 3.0, timeframe),
        timeframe,
        sizing,
        guard or RiskGuard(limits),
        portfolio or Portfolio(D(10000)),
        ClientIds(run_id),
    )


def equity_of(amount: str):
    return lambda: D(amount)


def feed(pipe: DecisionPipeline, rows, equity: str = "10000", start: int = 0) -> list[Decision | None]:
    return [
        pipe.on_bar(one_minute(start + i, *row), equity_of(equity), equity_of(equity)) for i, row in enumerate(rows)
    ]


def test_breakout_yields_an_approved_decision_with_a_protected_order():
    # Arrange
    pipe = pipeline()

    # Act
    decisions = feed(pipe, [*WARMUP, BREAKOUT])

    # Assert
    assert decisions[:3] == [None, None, None]
    d = decisions[3]
    assert d is not None and d.verdict == "approved" and d.reason == "ok"
    assert d.symbol == "BTCUSDT" and d.ts == T0 + 4 * MINUTE_MS  # the bar's close time
    assert d.signal.side is Side.BUY and d.signal.price == 20080.0
    intent = d.intent
    assert intent is not None and intent.side is Side.BUY and intent.qty > 0
    assert intent.stop_loss is not None and intent.stop_loss < D("20080.0") < intent.take_profit
    assert isinstance(d.approved, Approved) and d.approved.intent is intent
    assert pipe.guard.pending == {"BTCUSDT"}


def test_entries_disabled_yields_nothing():
    pipe = pipeline()
    pipe.entries_enabled = False
    assert feed(pipe, [*WARMUP, BREAKOUT]) == [None] * 4
    assert pipe.guard.pending == set()


def test_symbol_already_in_a_position_yields_nothing_but_still_updates_the_rule():
    # Arrange
    portfolio = Portfolio(D(10000))
    portfolio.positions["BTCUSDT"] = Position(
        "BTCUSDT", Side.BUY, D("0.1"), D(20000), D(5), D(400), D(16100), D(16000), stop_loss=D(19900)
    )
    pipe = pipeline(portfolio=portfolio)

    # Act
    decisions = feed(pipe, [*WARMUP, BREAKOUT])
    del portfolio.positions["BTCUSDT"]
    after = feed(pipe, [(20090.0, 20060.0, 20090.0)], start=4)

    # Assert: no decision while in the position; afterwards 20 090 is not above the window's 20 100 high
    assert decisions == [None] * 4
    assert after == [None]


def test_refusal_carries_the_guards_reason():
    # Arrange
    pipe = pipeline()
    pipe.guard.kill_switch = "max_daily_loss: test"

    # Act
    d = feed(pipe, [*WARMUP, BREAKOUT])[3]

    # Assert
    assert d is not None and d.verdict == "refused" and d.reason == "kill_switch"
    assert d.detail == "max_daily_loss: test"
    assert d.intent is not None and d.approved is None


def test_pending_entry_refuses_a_second_breakout_on_the_same_symbol():
    pipe = pipeline()
    first = feed(pipe, [*WARMUP, BREAKOUT])[3]
    second = feed(pipe, [(20200.0, 20080.0, 20190.0)], start=4)[0]
    assert first.verdict == "approved"
    assert second is not None and second.verdict == "refused" and second.reason == "already_open"


def test_sizing_no_trade_is_reported_with_its_reason():
    d = feed(pipeline(), [*WARMUP, BREAKOUT], equity="0")[3]
    assert d is not None and d.verdict == "no_trade" and d.reason == "no_equity"
    assert d.intent is None and d.approved is None


class RecordingRule:
    """An entry rule that records the bars it sees and has an idea on each of them."""

    def __init__(self):
        self.seen: list[Bar] = []

    def on_bar(self, bar: Bar) -> Signal | None:
        self.seen.append(bar)
        return Signal(bar.symbol, Side.BUY, bar.close, 100.0, 200.0, bar.minutes, "record")


def test_3m_timeframe_feeds_the_rule_only_completed_3m_bars():
    # Arrange
    rule = RecordingRule()
    pipe = pipeline(timeframe=3, rule=rule)
    rows = [
        (20010.0, 19990.0, 20000.0),
        (20050.0, 19980.0, 20040.0),
        (20045.0, 20020.0, 20030.0),
        (20030.0, 19900.0, 19950.0),
        (19960.0, 19940.0, 19945.0),
        (19990.0, 19945.0, 19980.0),
        (20000.0, 19970.0, 19990.0),  # first minute of the third bucket: not complete
    ]

    # Act
    decisions = [pipe.on_bar(one_minute(i, *row, start=S3), equity_of("10000"), equity_of("10000"))
                 for i, row in enumerate(rows)]

    # Assert: decisions only when a 3m bar closed, stamped with its close time
    assert [d is not None for d in decisions] == [False, False, True, False, False, True, False]
    assert [d.ts for d in decisions if d is not None] == [S3 + 3 * MINUTE_MS, S3 + 6 * MINUTE_MS]
    first, second = rule.seen
    assert first.minutes == 3 and first.ts == S3
    assert (first.high, first.low, first.close) == (20050.0, 19980.0, 20030.0)
    assert second.minutes == 3 and second.ts == S3 + 3 * MINUTE_MS
    assert (second.high, second.low, second.close) == (20030.0, 19900.0, 19980.0)


def test_3m_timeframe_keeps_symbols_apart():
    rule = RecordingRule()
    pipe = pipeline(timeframe=3, rule=rule)
    pipe.instruments["ETHUSDT"] = btc()  # any instrument will do for the rule's bookkeeping
    for i in range(3):
        for sym in ("BTCUSDT", "ETHUSDT"):
            pipe.on_bar(one_minute(i, 20010.0, 19990.0, 20000.0, symbol=sym, start=S3), equity_of("0"),
                        equity_of("0"))
    assert [(b.symbol, b.minutes, b.ts) for b in rule.seen] == [("BTCUSDT", 3, S3), ("ETHUSDT", 3, S3)]


def test_3m_timeframe_does_not_drop_the_bar_before_a_gap():
    # Arrange: minutes 0 and 1 of one bucket, then a gap, then minute 5 = the last minute of the next bucket
    rule = RecordingRule()
    pipe = pipeline(timeframe=3, rule=rule)

    # Act
    for i in (0, 1, 5):
        pipe.on_bar(one_minute(i, 20010.0, 19990.0, 20000.0, start=S3), equity_of("10000"), equity_of("10000"))

    # Assert: the rule sees the (incomplete) first bucket and then the second one
    assert [b.ts for b in rule.seen] == [S3, S3 + 3 * MINUTE_MS]


def test_client_ids_are_unique_and_fit_bybit_36_chars():
    # Arrange: an over-long run id is cut to 24 characters
    ids = ClientIds("r" * 100)

    # Act
    made = [ids.next() for _ in range(5000)]

    # Assert
    assert len(set(made)) == len(made)
    assert max(len(c) for c in made) <= 36
    assert made[0] == "r" * 24 + "-0000001"


def test_each_decision_takes_a_fresh_client_id():
    pipe = pipeline(run_id="run-abc")
    first = feed(pipe, [*WARMUP, BREAKOUT])[3]
    second = feed(pipe, [(20200.0, 20080.0, 20190.0)], start=4)[0]
    assert first.intent.client_id == "run-abc-0000001"
    assert second.intent.client_id == "run-abc-0000002"

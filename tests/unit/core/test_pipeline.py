"""DecisionPipeline end to end on hand-fed market batches: scanner -> sizer -> simulator -> risk guard, with every
drop counted and every verdict carrying its numbers."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from omni.core.compound import CompoundController
from omni.core.ghost import GhostParams
from omni.core.pacer import Pacer
from omni.core.pipeline import ClientIds, DecisionPipeline, PipelineParams
from omni.core.portfolio import Portfolio
from omni.core.risk import Approved, Limits, RiskGuard
from omni.core.scanner import AssetScanner, ScannerParams
from omni.core.sizer import SizerParams
from omni.domain.market import Bar, Funding, MarketBatch
from omni.domain.orders import Position, Side
from omni.exchange import rules
from tests.factories import T0, btc

MIN = 60_000
HISTORY = 30  # bars before the signal bar
RUN_ID = "run-0123456789abcdefghijklmnopqrstuvwxyz"  # longer than 24: truncated

SCANNER = ScannerParams(
    timeframes=(1,),
    breakout_bars=5,
    atr_bars=5,
    volatility_bars=5,
    turnover_bars=5,
    min_history_bars=20,
    min_turnover_usdt=100.0,
    halted_bars=3,
    stop_atr=1.5,
    take_profit_atr=2.0,
    history_bars=500,
)
# every trending window reaches its TP on the 4th bar: 6 bars of horizon, 20 windows
GHOST = GhostParams(windows=20, max_hold_bars=6, min_samples=5, confidence=0.9, slippage=0.0002, taker_fee=0.00055)
SIZER = SizerParams(
    min_profit=D("0.05"),
    max_loss_per_trade=D(1),
    leverage_cap=D(10),
    max_notional=D(10_000),
    taker_fee=D("0.00055"),
    slippage=D("0.0002"),
)


def limits(**overrides) -> Limits:
    base = dict(
        max_concurrent=10,
        max_loss_per_trade=D(1),
        max_daily_loss=D(100),
        max_drawdown_pct=D(50),
        max_leverage=D(10),
        max_notional=D(10_000),
        taker_fee=D("0.00055"),
        slippage=D("0.0002"),
    )
    base.update(overrides)
    return Limits(**base)


def trend(symbol: str, n: int = HISTORY + 1, up: bool = True) -> list[Bar]:
    """n bars moving 10 per bar from 20 000; each opens at the previous close and reaches 5 beyond it.

    Every bar from the 6th on closes beyond the previous 5 bars' channel; the true range is always 20."""
    out = []
    step = 10.0 if up else -10.0
    for i in range(n):
        c = 20000.0 + step * i
        o = c - step if i else c
        h, lo = (c + 5, o - 5) if up else (o + 5, c - 5)
        out.append(Bar(symbol, T0 + i * MIN, o, h, lo, c, 1.0))
    return out


class Rig:
    """A pipeline with its collaborators, warmed up on every bar but the last of each series."""

    def __init__(
        self,
        series: dict[str, list[Bar]],
        *,
        ghost: GhostParams = GHOST,
        sizer: SizerParams = SIZER,
        guard: RiskGuard | None = None,
        pacer: Pacer | None = None,
        max_concurrent: int = 10,
        fraction: str = "0.2",
    ):
        self.instruments = {s: replace(btc(), symbol=s) for s in series}
        self.scanner = AssetScanner(self.instruments, SCANNER)
        self.portfolio = Portfolio(D(1000))
        self.guard = guard or RiskGuard(limits())
        self.pacer = pacer or Pacer(1000, spacing=False)
        self.pipeline = DecisionPipeline(
            self.instruments,
            self.scanner,
            PipelineParams(sizer, ghost, max_candidates=20, max_concurrent=max_concurrent, expected_hold_minutes=480),
            CompoundController(D(fraction)),
            self.pacer,
            self.guard,
            self.portfolio,
            ClientIds(RUN_ID),
        )
        for bars in series.values():
            for b in bars[:-1]:
                self.scanner.update(b)
        last = [bars[-1] for bars in series.values()]
        self.batch = MarketBatch(last[0].close_ts, last, [])

    def run(self, equity: str = "1000", available: str | None = None, batch: MarketBatch | None = None):
        return self.pipeline.on_batch(
            batch or self.batch, lambda: D(equity), lambda: D(available if available is not None else equity)
        )


def held(symbol: str) -> Position:
    return Position(symbol, Side.BUY, D("0.01"), D(20000), D(2), D(100), D(10100), D(10000), stop_loss=D(19000))


# ---------------------------------------------------------------- verdicts


@pytest.mark.parametrize("up", [True, False])
def test_breakout_after_a_trend_is_approved_with_every_number_filled(up):
    # Arrange
    rig = Rig({"BTCUSDT": trend("BTCUSDT", up=up)})
    # Act
    [d] = rig.run()
    # Assert: the decision
    side = Side.BUY if up else Side.SELL
    assert (d.symbol, d.ts, d.verdict, d.reason) == ("BTCUSDT", rig.batch.ts, "approved", "ok")
    c = d.candidate
    assert (c.side, c.entry, c.atr) == (side, rig.batch.bars[0].close, pytest.approx(20.0))
    assert (c.stop_distance, c.take_profit_distance) == (pytest.approx(30.0), pytest.approx(40.0))
    # the sized order: entered at the close moved by the 0.02 % slippage (rounded to the tick against us), its
    # levels placed from the close. Long: 20 300 x 1.0002 = 20 304.06 -> 20 304.1, TP 20 340 fills at
    # 20 335.932 -> 20 335.9: 31.8 - 0.00055 x 40 640 = 9.448 per unit -> 0.05 needs 0.006.
    # Short: 19 700 x 0.9998 = 19 696.06 -> 19 696.0, TP 19 660 fills at 19 663.932 -> 19 664.0:
    # 32 - 0.00055 x 39 360 = 10.352 per unit -> 0.005.
    s = d.sized
    e = D(repr(c.entry))
    inst = rig.instruments["BTCUSDT"]
    fill = inst.price_up(e * (1 + SIZER.slippage)) if up else inst.price_down(e * (1 - SIZER.slippage))
    assert s.entry == fill == (D("20304.1") if up else D("19696.0"))
    assert d.intent is s.intent
    assert s.intent.side is side and s.intent.qty == (D("0.006") if up else D("0.005"))
    assert s.intent.stop_loss == (e - 30 if up else e + 30)
    assert s.intent.take_profit == (e + 40 if up else e - 40)
    assert s.entry_fee == rules.trade_fee(s.intent.qty, fill, SIZER.taker_fee)
    assert s.entry_fee == (D("0.06700353") if up else D("0.054164"))  # 121.8246 or 98.48 x 0.00055
    assert s.intent.leverage == D(1)  # 20 % of 1 000 covers the notional
    assert s.net_at_tp >= SIZER.min_profit and s.loss_at_sl <= SIZER.max_loss_per_trade
    # the simulator: 20 windows, every one a take-profit
    est = d.estimate
    assert (est.n, est.wins, est.take_profits, est.passed, est.reason) == (20, 20, 20, True, "ok")
    assert est.mean_hold_bars == 4.0 and est.ev > 0
    # the guard's approval is for this very intent, and it is now pending
    assert isinstance(d.approved, Approved) and d.approved.intent is s.intent
    assert rig.guard.pending == {"BTCUSDT"}


def test_approved_intent_carries_a_stop_loss_and_leverage_and_a_short_client_id():
    [d] = Rig({"BTCUSDT": trend("BTCUSDT")}).run()
    assert d.verdict == "approved"
    assert d.intent.stop_loss is not None and d.intent.leverage is not None
    assert d.intent.client_id == RUN_ID[:24] + "-0000001"
    assert len(d.intent.client_id) <= 36


def test_too_little_history_for_the_simulator_is_vetoed():
    # Arrange
    rig = Rig({"BTCUSDT": trend("BTCUSDT")}, ghost=replace(GHOST, min_samples=21))
    # Act
    [d] = rig.run()
    # Assert
    assert (d.verdict, d.reason) == ("vetoed", "too_few_samples")
    assert d.sized is not None and d.estimate is not None and d.estimate.n == 20
    assert d.approved is None
    assert "n=20" in d.detail
    assert rig.guard.pending == set()


def test_simulated_ev_below_threshold_is_vetoed():
    [d] = Rig({"BTCUSDT": trend("BTCUSDT")}, ghost=replace(GHOST, min_ev_lower=1e6)).run()
    assert (d.verdict, d.reason) == ("vetoed", "ev_lower_below_threshold")


def test_a_candidate_the_sizer_cannot_fit_is_no_trade():
    [d] = Rig({"BTCUSDT": trend("BTCUSDT")}, sizer=replace(SIZER, max_loss_per_trade=D("0.01"))).run()
    assert (d.verdict, d.reason) == ("no_trade", "loss_at_stop_over_cap")
    assert d.sized is None and d.estimate is None and d.approved is None and d.intent is None
    assert d.detail


def test_a_candidate_the_guard_refuses_is_refused_with_the_guards_reason():
    [d] = Rig({"BTCUSDT": trend("BTCUSDT")}, guard=RiskGuard(limits(), kill_switch="tripped in test")).run()
    assert (d.verdict, d.reason, d.detail) == ("refused", "kill_switch", "tripped in test")
    assert d.sized is not None and d.estimate is not None and d.estimate.passed
    assert d.approved is None


def test_funding_in_the_batch_is_priced_into_the_size():
    # Arrange: a +0.01 % rate settles once over the expected 480-minute hold
    rig = Rig({"BTCUSDT": trend("BTCUSDT")})
    batch = rig.batch._replace(fundings=[Funding("BTCUSDT", rig.batch.ts, 0.0001)])
    # Act
    [d] = rig.run(batch=batch)
    # Assert
    assert rig.pipeline.funding_rate == {"BTCUSDT": 0.0001}
    s = d.sized
    assert s.funding_expected == rules.money(s.intent.qty * s.entry * D("0.0001"))
    assert s.funding_expected > 0


# ---------------------------------------------------------------- nothing to decide


def test_a_batch_without_breakouts_decides_nothing():
    rig = Rig({"BTCUSDT": trend("BTCUSDT")})
    flat = Bar("BTCUSDT", rig.batch.bars[0].ts, 20280.0, 20280.0, 20280.0, 20280.0, 1.0)  # inside the channel
    assert rig.run(batch=MarketBatch(flat.close_ts, [flat], [])) == []
    assert sum(rig.scanner.dropped.values()) == 0


def test_entries_disabled_decides_nothing_and_counts_the_breakouts():
    # Arrange
    rig = Rig({"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT")})
    rig.pipeline.entries_enabled = False
    # Act
    out = rig.run()
    # Assert
    assert out == []
    assert rig.scanner.dropped == {"entries_disabled": 2}
    assert rig.guard.pending == set()


def test_a_symbol_with_a_position_is_dropped_as_in_position():
    # Arrange
    rig = Rig({"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT")})
    rig.portfolio.positions["BTCUSDT"] = held("BTCUSDT")
    # Act
    out = rig.run()
    # Assert
    assert [d.symbol for d in out] == ["ETHUSDT"]
    assert rig.scanner.dropped["in_position"] == 1


def test_a_symbol_with_a_pending_entry_is_dropped_as_in_position():
    rig = Rig({"BTCUSDT": trend("BTCUSDT")})
    rig.guard.pending.add("BTCUSDT")
    assert rig.run() == []
    assert rig.scanner.dropped["in_position"] == 1


def test_candidates_beyond_max_concurrent_are_dropped_and_counted():
    # Arrange: one slot; a position elsewhere already fills it
    rig = Rig({"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT")}, max_concurrent=1)
    rig.portfolio.positions["SOLUSDT"] = held("SOLUSDT")
    # Act
    out = rig.run()
    # Assert
    assert out == []
    assert rig.scanner.dropped["max_concurrent"] == 2


def test_an_approval_takes_a_slot_from_the_next_candidate_in_the_same_batch():
    rig = Rig({"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT")}, max_concurrent=1)
    [d] = rig.run()
    assert d.verdict == "approved"
    assert rig.scanner.dropped["max_concurrent"] == 1


def test_pacing_allows_one_entry_per_instant_and_counts_the_rest():
    # Arrange: spacing on -> the second candidate at the same instant must wait
    rig = Rig({"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT")}, pacer=Pacer(10, spacing=True))
    # Act
    out = rig.run()
    # Assert
    assert [d.verdict for d in out] == ["approved"]
    assert rig.scanner.dropped["pacing"] == 1
    assert rig.pacer.last_entry_ts == rig.batch.ts


def test_a_vetoed_candidate_does_not_use_up_the_pacing_slot():
    rig = Rig(
        {"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT")},
        pacer=Pacer(10, spacing=True),
        ghost=replace(GHOST, min_samples=1000),
    )
    out = rig.run()
    assert [d.verdict for d in out] == ["vetoed", "vetoed"]
    assert rig.scanner.dropped["pacing"] == 0 and rig.pacer.last_entry_ts is None


def test_without_spacing_two_symbols_are_both_approved_with_unique_client_ids():
    # Arrange
    rig = Rig({"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT", up=False)})
    # Act
    out = rig.run()
    # Assert
    assert [(d.symbol, d.verdict, d.candidate.side) for d in out] == [
        ("BTCUSDT", "approved", Side.BUY),
        ("ETHUSDT", "approved", Side.SELL),
    ]
    ids = [d.intent.client_id for d in out]
    assert len(set(ids)) == 2 and all(len(i) <= 36 for i in ids)
    assert rig.guard.pending == {"BTCUSDT", "ETHUSDT"}


def test_an_approval_reduces_the_margin_budget_of_the_next_candidate():
    # Arrange: only 150 USDT available; each trade is 0.006 x 20 304.1 = 121.8246 of notional (fee 0.06700353),
    # the first takes it at 1x
    rig = Rig({"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT")}, fraction="1")
    # Act
    first, second = rig.run(equity="1000", available="150")
    # Assert: the second must fit into what is left after the first's margin and entry fee (28.10839647), so it
    # needs 121.8246 / (28.10839647 - 0.06700353) = 4.34 -> 5x
    assert first.verdict == second.verdict == "approved"
    assert first.intent.leverage == 1 and first.sized.margin == D("121.8246")
    left = D(150) - first.sized.margin - first.sized.entry_fee
    assert left == D("28.10839647")
    assert second.sized.margin + second.sized.entry_fee <= left
    assert second.intent.leverage == 5


def test_approvals_in_one_batch_never_need_more_than_available():
    # Arrange: each trade is 0.006 x 20 304.1 = 121.8246 notional with a 0.06700353 entry fee; the first takes
    # it at 1x; the second would fit exactly at 5x on what remains after the first one's margin, but not after its
    # fee as well: 121.8246 / (24.36492 - 0.06700353) = 5.01 -> 6x
    notional, fee = D("121.8246"), D("0.06700353")
    available = notional + fee + notional / 5
    rig = Rig({"BTCUSDT": trend("BTCUSDT"), "ETHUSDT": trend("ETHUSDT")}, fraction="1")
    # Act
    out = rig.run(available=str(available))
    # Assert
    assert [d.verdict for d in out] == ["approved", "approved"]
    assert [d.intent.qty * d.sized.entry for d in out] == [notional, notional]
    assert [d.sized.entry_fee for d in out] == [fee, fee]
    assert [d.intent.leverage for d in out] == [1, 6]
    needed = sum(d.sized.margin + rules.trade_fee(d.intent.qty, d.sized.entry, SIZER.taker_fee) for d in out)
    assert needed <= available


# ---------------------------------------------------------------- client ids


def test_client_ids_are_unique_sequential_and_fit_bybits_36_characters():
    ids = ClientIds("x" * 60)
    out = [ids.next() for _ in range(1000)]
    assert len(set(out)) == 1000
    assert all(len(i) <= 36 for i in out)
    assert out[0] == "x" * 24 + "-0000001" and out[-1] == "x" * 24 + "-0001000"


def test_client_ids_stay_within_36_characters_past_ten_million():
    ids = ClientIds("y" * 30)
    ids.seq = 99_999_999
    assert len(ids.next()) <= 36

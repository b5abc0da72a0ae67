"""The decision pipeline, once per market instant: scanner -> leverage sizer -> pre-trade simulator -> risk
guard, as plain synchronous calls. Returns one ``Decision`` per evaluated candidate, with its reason and
numbers; the shell logs them and sends the approved orders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from omni.core import ghost, sizer
from omni.core.compound import CompoundController
from omni.core.outcomes import Forecast, OutcomeTracker, fill
from omni.core.pacer import Pacer
from omni.core.portfolio import Portfolio
from omni.core.recalibration import WalkForwardCalibration
from omni.core.risk import Approved, RiskGuard
from omni.core.scanner import Candidate, ReferenceScanner, Tradability
from omni.domain.instrument import Instrument
from omni.domain.market import MarketBatch
from omni.domain.orders import OrderIntent, Side, TriggerBy


@dataclass(frozen=True, slots=True)
class Decision:
    symbol: str
    ts: int
    verdict: str  # "approved" | "refused" (risk guard) | "vetoed" (simulator) | "no_trade" (sizer)
    reason: str
    detail: str
    candidate: Candidate
    sized: sizer.Sized | None = None
    estimate: ghost.GhostEstimate | None = None
    approved: Approved | None = None
    p_cal: float | None = None  # the walk-forward recalibrated win probability (None: no forecast)

    @property
    def intent(self) -> OrderIntent | None:
        return None if self.sized is None else self.sized.intent


class ClientIds:
    """Idempotent, unique order link ids: ``<run>-<seq>`` (Bybit allows 36 characters)."""

    def __init__(self, run_id: str):
        self.run_id = run_id[:24]
        self.seq = 0

    def next(self) -> str:
        self.seq += 1
        return f"{self.run_id}-{self.seq:07d}"


@dataclass(frozen=True, slots=True)
class PipelineParams:
    sizer: sizer.SizerParams
    ghost: ghost.GhostParams
    max_candidates: int = 20
    max_concurrent: int = 10
    expected_hold_minutes: int = 30
    #: what the entries' take-profit and stop-loss trigger on (config risk.stop_trigger)
    stop_trigger: TriggerBy = TriggerBy.MARK_PRICE


class DecisionPipeline:
    def __init__(
        self,
        instruments: dict[str, Instrument],
        scanner: ReferenceScanner,
        params: PipelineParams,
        compound: CompoundController,
        pacer: Pacer,
        guard: RiskGuard,
        portfolio: Portfolio,
        client_ids: ClientIds,
    ):
        self.instruments = instruments
        self.scanner = scanner
        self.params = params
        self.compound = compound
        self.pacer = pacer
        self.guard = guard
        self.portfolio = portfolio
        self.client_ids = client_ids
        self.entries_enabled = True
        self.funding_rate: dict[str, float] = {}
        self._z = ghost.z_for(params.ghost.confidence)
        #: counterfactual outcomes of every forecast (fed after the decisions; never read by one) and the
        #: walk-forward recalibration (reads only outcomes resolved before the fold it serves); both optional
        self.outcomes: OutcomeTracker | None = None
        self.recalibration: WalkForwardCalibration | None = None

    def on_batch(
        self, batch: MarketBatch, equity: Callable[[], Decimal], available: Callable[[], Decimal]
    ) -> list[Decision]:
        """Feed one market instant; returns the decisions taken on the candidates it produced."""
        outcomes = self.outcomes
        if outcomes is not None:  # earlier forecasts meet this batch's bars (all decided before they opened)
            for f in batch.fundings:
                outcomes.on_funding(f)
            for bar in batch.bars:
                outcomes.on_bar(bar)
        breakouts = self.scanner.update_batch(batch.bars)  # (symbol, series, side, beyond), in bar order
        for f in batch.fundings:
            self.funding_rate[f.symbol] = f.rate
        if not breakouts:
            return []
        if not self.entries_enabled:
            self.scanner.dropped["entries_disabled"] += len(breakouts)
            return []
        decisions = self._decide(breakouts, batch.ts, equity(), available())
        if outcomes is not None:
            g = self.params.ghost
            for d in decisions:
                if d.estimate is not None:
                    tick = float(self.instruments[d.symbol].tick_size)
                    outcomes.track(forecast_of(d, g.max_hold_bars, g.slippage, tick))
        return decisions

    def _decide(self, breakouts: list, now: int, equity: Decimal, available: Decimal) -> list[Decision]:
        p = self.params
        portfolio = self.portfolio
        guard = self.guard
        dropped = self.scanner.dropped
        budget = self.compound.margin_budget(equity, available)
        trade = Tradability(budget, p.sizer.leverage_cap)
        skip = set(portfolio.positions) | guard.pending
        decisions: list[Decision] = []
        for c in self.scanner.candidates(breakouts, now, trade, skip)[: p.max_candidates]:
            if len(portfolio.positions) + len(guard.pending) >= p.max_concurrent:
                dropped["max_concurrent"] += 1
                continue
            if not self.pacer.allows(now, portfolio.trades_today + len(guard.pending)):
                dropped["pacing"] += 1
                continue
            decisions.append(self._evaluate(c, now, equity, budget))
            if decisions[-1].approved is not None:
                self.pacer.record_entry(now)
                sized = decisions[-1].sized
                available -= sized.margin + sized.entry_fee  # type: ignore[union-attr]
                budget = self.compound.margin_budget(equity, available)
        return decisions

    def _evaluate(self, c: Candidate, now: int, equity: Decimal, budget: Decimal) -> Decision:
        p = self.params
        inst = self.instruments[c.symbol]
        rate = self.funding_rate.get(c.symbol, 0.0)
        settlements = p.expected_hold_minutes / inst.funding_interval_min
        sized = sizer.size(
            inst,
            c.side,
            c.entry,
            c.stop_distance,
            c.take_profit_distance,
            budget,
            p.sizer,
            self.client_ids.next(),
            rate,
            settlements,
        )
        if isinstance(sized, sizer.NoFit):
            return Decision(c.symbol, now, "no_trade", sized.reason, sized.detail, c)
        if sized.intent.stop_trigger is not p.stop_trigger:
            sized = replace(sized, intent=replace(sized.intent, stop_trigger=p.stop_trigger))
        est = self.estimate(c, sized, rate)
        p_cal = est.p
        if self.recalibration is not None and self.outcomes is not None:
            p_cal = self.recalibration.apply(est.p, now, self.outcomes.resolved)
            floor = p.ghost.min_win_prob_lower
            if p_cal != est.p and est.passed and ghost.wilson_lower_frac(p_cal, est.n_eff, self._z) < floor:
                est = replace(est, passed=False, reason="win_prob_lower_below_threshold")
        if not est.passed:
            detail = (
                f"p={est.p:.3f} (>= {est.p_lower:.3f}) p_cal={p_cal:.3f} ev={est.ev:.4f} (>= {est.ev_lower:.4f}) "
                f"n={est.n} n_eff={est.n_eff:.1f}"
            )
            return Decision(c.symbol, now, "vetoed", est.reason, detail, c, sized, est, p_cal=p_cal)
        verdict = self.guard.check(sized.intent, inst, sized.entry, self.portfolio, equity)
        if isinstance(verdict, Approved):
            return Decision(c.symbol, now, "approved", "ok", f"score {c.score:.2f}", c, sized, est, verdict, p_cal)
        return Decision(c.symbol, now, "refused", verdict.reason, verdict.detail, c, sized, est, p_cal=p_cal)

    def estimate(self, c: Candidate, sized: sizer.Sized, funding_rate: float) -> ghost.GhostEstimate:
        """Run the pre-trade simulator for a sized candidate on its own history (walk-forward)."""
        s = c.series
        e = float(sized.entry)
        intent = sized.intent
        long = c.side is Side.BUY
        stop_frac = abs(e - float(intent.stop_loss)) / e  # type: ignore[arg-type]
        tp_frac = abs(float(intent.take_profit) - e) / e  # type: ignore[arg-type]
        liq_frac = abs(e - float(sized.liq_price)) / e
        notional = float(intent.qty) * e
        inst = self.instruments[c.symbol]
        per_bar = funding_rate * (1.0 if long else -1.0) * c.timeframe / inst.funding_interval_min
        return ghost.simulate(
            s.opens,
            s.highs,
            s.lows,
            s.closes,
            len(s),
            long,
            stop_frac,
            tp_frac,
            liq_frac,
            notional,
            float(sized.margin),
            per_bar,
            self.params.ghost,
            self._z,
            s.entries(c.side),
        )


def forecast_of(d: Decision, max_hold_bars: int, slippage: float, tick: float = 0.0) -> Forecast:
    """The forecast a decision made and the exact order it was about (taken or not), for its outcome; the entry
    is the venue's market fill at the signal bar's close (moved by the slippage, kept inside the bar)."""
    c, sized, est = d.candidate, d.sized, d.estimate
    assert sized is not None and est is not None
    i = sized.intent
    return Forecast(
        d.ts,
        d.symbol,
        c.timeframe,
        c.side is Side.BUY,
        d.verdict,
        i.client_id,
        est.p,
        est.p if d.p_cal is None else d.p_cal,
        est.ev,
        est.ev_lower,
        est.n_eff,
        fill(c.side is Side.BUY, c.entry, slippage, c.series.lows[-1], c.series.highs[-1], tick),
        float(i.stop_loss),  # type: ignore[arg-type]
        float(i.take_profit),  # type: ignore[arg-type]
        float(sized.liq_price),
        float(i.qty),
        float(sized.margin),
        d.ts + max_hold_bars * c.timeframe * 60_000,
        tick,
    )

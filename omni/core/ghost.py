"""Pre-trade simulator ("ghost trader"): replay the exact order on what the market did recently.

For a candidate, every recent bar of the same symbol and timeframe that lies *before* the decision is taken
as a hypothetical entry at its close, with the same relative stop-loss, take-profit and liquidation
distances, the same notional, fees, slippage and expected funding, and run forward bar by bar with the
exchange's own intrabar rule (``omni.exchange.intrabar``, the code the matching engine uses) until an exit
or ``max_hold_bars`` (then closed at market). Only windows whose whole horizon ends before the decision are
used (walk-forward: nothing at or after the decision bar is read beyond its close).

The estimate: win probability with a Wilson lower bound, expected net PnL with a normal (CLT) lower bound
on the mean. Windows start one bar apart and their paths overlap, so their outcomes are far from
independent: both bounds use an effective sample size n_eff = n / mean bars held (at least 1), not n. A
trade is vetoed when the sample is too small or a lower bound is below its threshold.
Floats are fine here: this is statistics, not accounting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from omni.exchange.intrabar import LIQUIDATION, STOP_LOSS, adverse_hit, favourable_hit, slip


@dataclass(frozen=True, slots=True)
class GhostParams:
    windows: int = 240  # most recent entry bars replayed
    max_hold_bars: int = 60
    min_samples: int = 30
    confidence: float = 0.95  # one-sided, for both lower bounds
    min_ev_lower: float = 0.0  # USDT: veto when the EV lower bound is below this
    min_win_prob_lower: float = 0.0
    slippage: float = 0.0002
    taker_fee: float = 0.00055


@dataclass(frozen=True, slots=True)
class GhostEstimate:
    n: int
    wins: int
    p: float
    p_lower: float
    ev: float
    ev_lower: float
    ev_sd: float
    take_profits: int
    stop_losses: int
    liquidations: int
    timeouts: int
    mean_hold_bars: float
    n_eff: float
    passed: bool
    reason: str


def z_for(confidence: float) -> float:
    """One-sided normal quantile, e.g. 0.95 -> 1.645."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(confidence)


def wilson_lower(wins: int, n: int, z: float) -> float:
    """Wilson score lower bound of a binomial proportion."""
    return wilson_lower_frac(wins / n, n, z) if n else 0.0


def wilson_lower_frac(p: float, n: float, z: float) -> float:
    """Wilson lower bound for an observed proportion ``p`` over an (effective, maybe fractional) ``n``."""
    if n <= 0:
        return 0.0
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denom)


def simulate(
    opens: list[float],
    highs: list[float],
    lows: list[float],
    closes: list[float],
    upto: int,
    long: bool,
    stop_frac: float,
    take_profit_frac: float,
    liq_frac: float,
    notional: float,
    margin: float,
    funding_per_bar: float,
    params: GhostParams,
    z: float,
) -> GhostEstimate:
    """Replay the order over windows entering at bars [.., upto-1-max_hold]; bar ``upto-1`` is the decision bar.

    ``*_frac`` are distances from entry as fractions of the entry price; ``funding_per_bar`` is the expected
    funding paid per bar held as a fraction of notional (negative: received).
    """
    hold = params.max_hold_bars
    last_entry = upto - 1 - hold  # the window's horizon must end before the decision bar
    first_entry = max(0, last_entry - params.windows + 1)
    fee = params.taker_fee
    slippage = params.slippage
    pnls: list[float] = []
    wins = tps = sls = liqs = timeouts = held = 0
    sign = 1.0 if long else -1.0
    entry_slip = 1.0 + slippage if long else 1.0 - slippage
    for i in range(first_entry, last_entry + 1):
        e = closes[i] * entry_slip  # a market entry at the close, moved by the slippage
        if long:
            sl, tp, liq = e * (1 - stop_frac), e * (1 + take_profit_frac), e * (1 - liq_frac)
        else:
            sl, tp, liq = e * (1 + stop_frac), e * (1 - take_profit_frac), e * (1 + liq_frac)
        exit_price = 0.0
        kind = 0
        j = i + 1
        end = i + hold
        while j <= end:
            o, h, lo = opens[j], highs[j], lows[j]
            kind, trigger = adverse_hit(long, o, h, lo, sl, liq)
            if kind:
                if kind == STOP_LOSS:
                    exit_price = slip(not long, trigger, slippage, lo, h)
                break
            trigger_tp = favourable_hit(long, o, h, lo, tp)
            if trigger_tp is not None:
                exit_price = slip(not long, trigger_tp, slippage, lo, h)
                kind = 3
                break
            j += 1
        bars = min(j, end) - i
        held += bars
        if kind == LIQUIDATION:
            pnl = -margin - fee * notional  # the whole margin, and the entry fee already paid
            liqs += 1
        else:
            if kind == 0:
                exit_price = slip(not long, closes[end], slippage, lows[end], highs[end])
                timeouts += 1
            elif kind == STOP_LOSS:
                sls += 1
            else:
                tps += 1
            ratio = exit_price / e
            pnl = notional * ((ratio - 1.0) * sign - fee * (1.0 + ratio) - funding_per_bar * bars)
        pnls.append(pnl)
        if pnl > 0:
            wins += 1
    n = len(pnls)
    if n == 0:
        return GhostEstimate(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0.0, 0.0, False, "no_history")
    mean = sum(pnls) / n
    var = sum((x - mean) ** 2 for x in pnls) / (n - 1) if n > 1 else 0.0
    sd = math.sqrt(var)
    n_eff = n / max(1.0, held / n)  # overlapping windows: ~one independent outcome per holding period
    ev_lower = mean - z * sd / math.sqrt(n_eff)
    p = wins / n
    p_lower = wilson_lower_frac(p, n_eff, z)
    if n < params.min_samples:
        passed, reason = False, "too_few_samples"
    elif ev_lower < params.min_ev_lower:
        passed, reason = False, "ev_lower_below_threshold"
    elif p_lower < params.min_win_prob_lower:
        passed, reason = False, "win_prob_lower_below_threshold"
    else:
        passed, reason = True, "ok"
    return GhostEstimate(
        n, wins, p, p_lower, mean, ev_lower, sd, tps, sls, liqs, timeouts, held / n, n_eff, passed, reason
    )

"""Pre-trade simulator ("ghost trader"): replay the exact order on what the market did after past signals.

For a candidate, the past bars of the same symbol and timeframe where the *same signal* fired (a breakout on
the same side; ``entries``) are taken as hypothetical entries at their close, with the same relative stop-loss,
take-profit and liquidation distances, the same notional, fees, slippage and expected funding, and run forward
bar by bar with the exchange's own intrabar rule (``omni.exchange.intrabar``, the code the matching engine uses)
until an exit or the time stop after ``max_hold_bars`` (closed at that bar's close, with slippage: the rule the
trader applies to live positions, ``strategy.max_hold_bars``). One window is ``replay_order``; the trader, the
matching engine and the counterfactual outcomes (``omni.core.outcomes``) follow the same rule. Only windows
whose whole horizon ends before the decision are used (walk-forward: nothing at or after the decision bar is
read beyond its close). Without ``entries`` every bar is an entry (the unconditional replay).

The estimate: win probability with a Wilson lower bound, expected net PnL with a normal (CLT) lower bound on
the mean. Windows overlap in time (signals cluster), so their outcomes are not independent: both bounds and the
minimum-sample gate use an effective sample size by time overlap (``effective_n``: each window counts by its
average uniqueness, the mean over the bars it was held of 1 / the number of windows held on that bar; López de
Prado, AFML ch. 4), which is n when no two windows share a bar and never above n.
Floats are fine here: this is statistics, not accounting.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from omni.exchange.intrabar import LIQUIDATION, STOP_LOSS, TAKE_PROFIT, adverse_hit, favourable_hit, slip


@dataclass(frozen=True, slots=True)
class GhostParams:
    windows: int = 240  # most recent past entries (signal bars) replayed
    max_hold_bars: int = 60
    min_samples: int = 30  # the effective (overlap-adjusted) sample size below which the trade is vetoed
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


TIMEOUT = 4  # exit kinds beside intrabar's LIQUIDATION, STOP_LOSS, TAKE_PROFIT: the time stop


def replay_order(
    opens: Sequence[float],
    highs: Sequence[float],
    lows: Sequence[float],
    closes: Sequence[float],
    i: int,
    end: int,
    long: bool,
    sl: float,
    tp: float,
    liq: float,
    slippage: float,
) -> tuple[int, float, int]:
    """One position entered at bar ``i``'s close, run over bars i+1..end with the intrabar rule, closed at bar
    ``end``'s close (with slippage) if nothing else exits it: (kind, exit price, bars held). A liquidation's
    price is the liquidation price (the loss is the margin)."""
    j = i + 1
    while j <= end:
        o, h, lo = opens[j], highs[j], lows[j]
        kind, trigger = adverse_hit(long, o, h, lo, sl, liq)
        if kind:
            return kind, (slip(not long, trigger, slippage, lo, h) if kind == STOP_LOSS else trigger), j - i
        trigger_tp = favourable_hit(long, o, h, lo, tp)
        if trigger_tp is not None:
            return TAKE_PROFIT, slip(not long, trigger_tp, slippage, lo, h), j - i
        j += 1
    return TIMEOUT, slip(not long, closes[end], slippage, lows[end], highs[end]), end - i


def effective_n(spans: Sequence[tuple[int, int]]) -> float:
    """Overlap-adjusted sample size of windows held over bars [first, last] (inclusive): the sum of each
    window's average uniqueness (mean of 1 / concurrency over its bars). n for disjoint windows, about n / H
    for windows on consecutive bars held H bars each; never above n."""
    if not spans:
        return 0.0
    base = min(a for a, _ in spans)
    top = max(b for _, b in spans)
    count = [0] * (top - base + 2)
    for a, b in spans:
        count[a - base] += 1
        count[b - base + 1] -= 1
    inv = [0.0] * (top - base + 2)  # prefix sums of 1 / concurrency
    c = 0
    acc = 0.0
    for k in range(top - base + 1):
        c += count[k]
        acc += 1.0 / c if c else 0.0
        inv[k + 1] = acc
    return min(float(len(spans)), sum((inv[b - base + 1] - inv[a - base]) / (b - a + 1) for a, b in spans))


def simulate(
    opens: Sequence[float],
    highs: Sequence[float],
    lows: Sequence[float],
    closes: Sequence[float],
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
    entries: Sequence[int] | None = None,
) -> GhostEstimate:
    """Replay the order from the past entry bars (``entries``, ascending indices where the same signal fired;
    None: every bar) that lie at or before ``upto-1-max_hold_bars``, the most recent ``windows`` of them; bar
    ``upto-1`` is the decision bar.

    ``*_frac`` are distances from entry as fractions of the entry price; ``funding_per_bar`` is the expected
    funding paid per bar held as a fraction of notional (negative: received).
    """
    hold = params.max_hold_bars
    last_entry = upto - 1 - hold  # the window's horizon must end before the decision bar
    if entries is None:
        starts: Sequence[int] = range(max(0, last_entry - params.windows + 1), last_entry + 1)
    else:
        k = bisect_right(entries, last_entry)
        starts = entries[max(0, k - params.windows) : k]
    fee = params.taker_fee
    slippage = params.slippage
    pnls: list[float] = []
    spans: list[tuple[int, int]] = []
    wins = tps = sls = liqs = timeouts = held = 0
    sign = 1.0 if long else -1.0
    for i in starts:
        if i < 0:
            continue
        # a market entry at the close, moved by the slippage and kept inside the bar (the matching engine's rule)
        e = slip(long, closes[i], slippage, lows[i], highs[i])
        if long:
            sl, tp, liq = e * (1 - stop_frac), e * (1 + take_profit_frac), e * (1 - liq_frac)
        else:
            sl, tp, liq = e * (1 + stop_frac), e * (1 - take_profit_frac), e * (1 + liq_frac)
        kind, exit_price, bars = replay_order(opens, highs, lows, closes, i, i + hold, long, sl, tp, liq, slippage)
        held += bars
        spans.append((i + 1, i + bars))
        if kind == LIQUIDATION:
            pnl = -margin - fee * notional  # the whole margin, and the entry fee already paid
            liqs += 1
        else:
            if kind == TIMEOUT:
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
    n_eff = effective_n(spans)
    ev_lower = mean - z * sd / math.sqrt(n_eff)
    p = wins / n
    p_lower = wilson_lower_frac(p, n_eff, z)
    if n_eff < params.min_samples:
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

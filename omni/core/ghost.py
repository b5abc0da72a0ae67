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

import numpy as np

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


def replay_orders(
    opens: np.ndarray,
    highs: np.ndarray,
    lows: np.ndarray,
    closes: np.ndarray,
    starts: np.ndarray,
    hold: int,
    long: bool,
    sl: np.ndarray,
    tp: np.ndarray,
    liq: np.ndarray,
    slippage: float,
) -> list[tuple[int, float, int]]:
    """``replay_order`` for many windows at once (entries at bars ``starts``, each run over its next ``hold`` bars,
    with its own levels), the same (kind, exit price, bars held) per window: the first bar that reaches any level
    is found with numpy over a windows x hold matrix, and that one bar is judged by the scalar intrabar rule."""
    n = len(starts)
    if n == 0:
        return []
    idx = starts[:, None] + np.arange(1, hold + 1)[None, :]
    o, h, lo = opens[idx], highs[idx], lows[idx]
    sl_, tp_, liq_ = sl[:, None], tp[:, None], liq[:, None]
    if long:  # adverse_hit: liquidation only when it is at or above the stop, else a gap or a touch of the stop
        adverse = np.where(liq_ >= sl_, lo <= liq_, (o <= sl_) | (lo <= sl_))
        hit = adverse | (h >= tp_)
    else:
        adverse = np.where(liq_ <= sl_, h >= liq_, (o >= sl_) | (h >= sl_))
        hit = adverse | (lo <= tp_)
    first = hit.argmax(axis=1)
    any_hit = hit[np.arange(n), first]
    out: list[tuple[int, float, int]] = []
    for i, k, found, s, t, q in zip(starts.tolist(), first.tolist(), any_hit.tolist(), sl.tolist(), tp.tolist(),
                                    liq.tolist(), strict=True):  # fmt: skip
        if not found:
            end = i + hold
            price = slip(not long, float(closes[end]), slippage, float(lows[end]), float(highs[end]))
            out.append((TIMEOUT, price, hold))
            continue
        j = i + k + 1
        bo, bh, bl = float(opens[j]), float(highs[j]), float(lows[j])
        kind, trigger = adverse_hit(long, bo, bh, bl, s, q)
        if kind:
            out.append((kind, slip(not long, trigger, slippage, bl, bh) if kind == STOP_LOSS else trigger, k + 1))
            continue
        trigger_tp = favourable_hit(long, bo, bh, bl, t)
        assert trigger_tp is not None  # the matrix said this bar reaches a level
        out.append((TAKE_PROFIT, slip(not long, trigger_tp, slippage, bl, bh), k + 1))
    return out


def effective_n(spans: Sequence[tuple[int, int]]) -> float:
    """Overlap-adjusted sample size of windows held over bars [first, last] (inclusive): the sum of each
    window's average uniqueness (mean of 1 / concurrency over its bars). n for disjoint windows, about n / H
    for windows on consecutive bars held H bars each; never above n."""
    if not spans:
        return 0.0
    a, b = np.array(spans, dtype=np.int64).T
    base = int(a.min())
    size = int(b.max()) - base + 2
    count = np.bincount(a - base, minlength=size) - np.bincount(b - base + 1, minlength=size)
    c = np.cumsum(count)[: size - 1]
    inv = np.zeros(size)  # prefix sums of 1 / concurrency (a running sum, in order, as a loop would add them)
    np.cumsum(np.divide(1.0, c, out=np.zeros(size - 1), where=c > 0), out=inv[1:])
    terms = (inv[b - base + 1] - inv[a - base]) / (b - a + 1)
    return min(float(len(spans)), sum(terms.tolist()))


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
    idx = np.fromiter((i for i in starts if i >= 0), dtype=np.int64)
    o, h, lo, c = (np.asarray(x, dtype=np.float64) for x in (opens, highs, lows, closes))
    # a market entry at the close, moved by the slippage and kept inside the bar (the matching engine's rule)
    if long:
        e = np.minimum(c[idx] * (1.0 + slippage), h[idx])
        sl, tp, liq = e * (1 - stop_frac), e * (1 + take_profit_frac), e * (1 - liq_frac)
    else:
        e = np.maximum(c[idx] * (1.0 - slippage), lo[idx])
        sl, tp, liq = e * (1 + stop_frac), e * (1 - take_profit_frac), e * (1 + liq_frac)
    exits = replay_orders(o, h, lo, c, idx, hold, long, sl, tp, liq, slippage)
    for i, entry, (kind, exit_price, bars) in zip(idx.tolist(), e.tolist(), exits, strict=True):
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
            ratio = exit_price / entry
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

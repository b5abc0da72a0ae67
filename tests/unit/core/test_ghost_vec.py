"""The vectorised pre-trade simulator (``ghost.replay_orders`` + numpy ``effective_n``) gives bit-identical
estimates to the scalar one it replaced (kept here as the oracle: one ``replay_order`` per window, a Python loop
for the overlap): every window's exit kind, price and holding time, and every field of the estimate, compared with
``==`` on floats, on synthetic markets with gaps through the levels, both sides, liquidation nearer and farther
than the stop, signal-conditional and unconditional entries, and on recorded 1m klines when the shared data is
present."""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_right

import numpy as np
import pytest

from omni.core.ghost import (
    LIQUIDATION,
    STOP_LOSS,
    TIMEOUT,
    GhostEstimate,
    GhostParams,
    effective_n,
    replay_order,
    replay_orders,
    simulate,
    slip,
    wilson_lower_frac,
    z_for,
)
from omni.venues.instruments_file import shared_data_dir
from omni.venues.replay import load_klines

Z = z_for(0.95)


def effective_n_loop(spans):
    if not spans:
        return 0.0
    base = min(a for a, _ in spans)
    top = max(b for _, b in spans)
    count = [0] * (top - base + 2)
    for a, b in spans:
        count[a - base] += 1
        count[b - base + 1] -= 1
    inv = [0.0] * (top - base + 2)
    c = 0
    acc = 0.0
    for k in range(top - base + 1):
        c += count[k]
        acc += 1.0 / c if c else 0.0
        inv[k + 1] = acc
    return min(float(len(spans)), sum((inv[b - base + 1] - inv[a - base]) / (b - a + 1) for a, b in spans))


def simulate_loop(opens, highs, lows, closes, upto, long, stop_frac, take_profit_frac, liq_frac, notional, margin,
                  funding_per_bar, params, z, entries=None):  # fmt: skip
    """The scalar simulator as it was (one replay_order per window)."""
    hold = params.max_hold_bars
    last_entry = upto - 1 - hold
    if entries is None:
        starts = range(max(0, last_entry - params.windows + 1), last_entry + 1)
    else:
        k = bisect_right(entries, last_entry)
        starts = entries[max(0, k - params.windows) : k]
    fee, slippage = params.taker_fee, params.slippage
    pnls, spans = [], []
    wins = tps = sls = liqs = timeouts = held = 0
    sign = 1.0 if long else -1.0
    for i in starts:
        if i < 0:
            continue
        e = slip(long, closes[i], slippage, lows[i], highs[i])
        if long:
            sl, tp, liq = e * (1 - stop_frac), e * (1 + take_profit_frac), e * (1 - liq_frac)
        else:
            sl, tp, liq = e * (1 + stop_frac), e * (1 - take_profit_frac), e * (1 + liq_frac)
        kind, exit_price, bars = replay_order(opens, highs, lows, closes, i, i + hold, long, sl, tp, liq, slippage)
        held += bars
        spans.append((i + 1, i + bars))
        if kind == LIQUIDATION:
            pnl = -margin - fee * notional
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
    n_eff = effective_n_loop(spans)
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
    return GhostEstimate(n, wins, p, p_lower, mean, ev_lower, sd, tps, sls, liqs, timeouts, held / n, n_eff, passed,
                         reason)  # fmt: skip


def walk(n: int, seed: int, gap_every: int = 37) -> tuple[array, array, array, array]:
    """A random walk with occasional gaps (opens far from the previous close) and flat bars."""
    rng = random.Random(seed)
    o, h, lo, c = (array("d") for _ in range(4))
    price = 100.0
    for k in range(n):
        op = price * (1 + rng.gauss(0, 0.02)) if k % gap_every == 0 else price
        cl = op * (1 + rng.gauss(0, 0.004))
        if k % 53 == 0:
            cl = op  # a flat bar
        hi = max(op, cl) * (1 + abs(rng.gauss(0, 0.002)))
        low = min(op, cl) * (1 - abs(rng.gauss(0, 0.002)))
        o.append(op), h.append(hi), lo.append(low), c.append(cl)
        price = cl
    return o, h, lo, c


def cases(rng: random.Random, n: int):
    for _ in range(300):
        hold = rng.choice([1, 2, 5, 10, 30, 60])
        params = GhostParams(
            windows=rng.choice([1, 7, 60, 240]),
            max_hold_bars=hold,
            min_samples=rng.choice([1, 5, 30]),
            min_ev_lower=rng.choice([-1e9, 0.0, 0.5]),
            min_win_prob_lower=rng.choice([0.0, 0.4]),
            slippage=rng.choice([0.0, 0.0002, 0.002]),
            taker_fee=0.00055,
        )
        stop = rng.choice([0.001, 0.004, 0.01, 0.03])
        liq = rng.choice([stop * 0.5, stop, stop * 1.5, 0.2])  # nearer, equal, farther than the stop
        upto = rng.randrange(1, n + 1)
        entries = None
        if rng.random() < 0.6:
            entries = sorted(rng.sample(range(n), rng.randrange(0, min(n, 400))))
        yield dict(upto=upto, long=rng.random() < 0.5, stop_frac=stop, take_profit_frac=rng.choice([0.002, 0.01, 0.05]),
                   liq_frac=liq, notional=rng.choice([10.0, 1234.5]), margin=rng.choice([1.0, 50.0]),
                   funding_per_bar=rng.choice([0.0, 1e-6, -3e-6]), params=params, z=Z, entries=entries)  # fmt: skip


def compare(o, h, lo, c, rng) -> dict[str, int]:
    kinds = {"windows": 0, "liq": 0, "sl": 0, "tp": 0, "timeout": 0}
    for kw in cases(rng, len(c)):
        got = simulate(o, h, lo, c, **kw)
        want = simulate_loop(o, h, lo, c, **kw)
        assert got == want, kw
        kinds["windows"] += want.n
        kinds["liq"] += want.liquidations
        kinds["sl"] += want.stop_losses
        kinds["tp"] += want.take_profits
        kinds["timeout"] += want.timeouts
    return kinds


def test_synthetic_markets_give_identical_estimates():
    for seed in range(4):
        kinds = compare(*walk(2000, seed), random.Random(seed))
        assert all(v > 50 for v in kinds.values()), kinds  # every exit kind was exercised


def test_recorded_klines_give_identical_estimates():
    base = shared_data_dir()
    files = sorted((base / "klines" / "1m" / "binance-usdm").glob("*.csv.gz"))[:2] if base else []
    if not files:
        pytest.skip("no recorded klines in the shared data dir")
    for k, f in enumerate(files):
        s = load_klines(f)
        cut = slice(len(s) // 2, len(s) // 2 + 3000)
        kinds = compare(s.open[cut], s.high[cut], s.low[cut], s.close[cut], random.Random(k))
        assert kinds["sl"] > 50 and kinds["tp"] > 50 and kinds["timeout"] > 50, kinds


def test_each_window_exits_as_replay_order_says():
    o, h, lo, c = walk(500, 9, gap_every=5)
    arrays = [np.asarray(x) for x in (o, h, lo, c)]
    rng = random.Random(3)
    for _ in range(200):
        hold, long = rng.choice([1, 3, 20]), rng.random() < 0.5
        starts = np.array(sorted(rng.sample(range(len(c) - hold), 30)), dtype=np.int64)
        e = np.array([c[i] for i in starts])
        d = np.array([rng.choice([0.001, 0.005, 0.02]) for _ in starts])
        sign = 1 if long else -1
        sl, tp, liq = e * (1 - sign * d), e * (1 + sign * 2 * d), e * (1 - sign * d * rng.choice([0.5, 1.0, 3.0]))
        if rng.random() < 0.5:  # levels exactly on a later bar's open, low or high: the rule's <= and >= decide
            pick = {"o": o, "h": h, "l": lo}
            # each window's levels on its own bars, drawn apart
            sl, tp = (
                np.array([pick[rng.choice(kinds)][i + rng.randrange(1, hold + 1)] for i in starts.tolist()])
                for kinds in (("ol", "oh") if long else ("oh", "ol"))
            )
            liq = np.where(rng.random() < 0.5, sl, liq)
        got = replay_orders(*arrays, starts, hold, long, sl, tp, liq, 0.0003)
        levels = zip(starts.tolist(), sl.tolist(), tp.tolist(), liq.tolist(), strict=True)
        want = [replay_order(o, h, lo, c, i, i + hold, long, a, b, q, 0.0003) for i, a, b, q in levels]
        assert got == want


def test_effective_n_equals_the_loop_bit_for_bit():
    rng = random.Random(1)
    for _ in range(500):
        spans = []
        for _ in range(rng.randrange(1, 80)):
            a = rng.randrange(0, 3000)
            spans.append((a, a + rng.randrange(0, 60)))
        assert effective_n(spans) == effective_n_loop(spans)

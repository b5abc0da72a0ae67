"""AssetScanner (struct-of-arrays, whole batches) against ReferenceScanner (the per-bar scanner), side by side,
batch by batch: identical breakouts in identical order, identical Series statistics and history (compared as
float bit patterns), identical signal indices and entries, identical candidates and drop counts. On recorded
data (skipped when the shared data dir is absent), a seeded synthetic market with gaps, repeated, late and
shuffled bars and late-starting symbols, 5m input, mixed 1m/5m input, and hypothesis-drawn bar streams."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import replace
from decimal import Decimal as D
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni.core.bars import BarAggregator
from omni.core.scanner import AssetScanner, ReferenceScanner, ScannerParams, Tradability
from omni.domain.market import Bar
from omni.domain.orders import Side
from omni.venues.instruments_file import generated_instruments, shared_data_dir
from omni.venues.replay import ReplayMarket
from omni.venues.synthetic import SyntheticMarket
from tests.factories import T0, btc

MIN = 60_000
BASE = T0 - T0 % (15 * MIN)
TRADES = (Tradability(D(1000), D(10)), Tradability(D("0.2"), D(5)), Tradability(D(20), D(1)))  # some untradable
BUY, SELL = Side.BUY, Side.SELL


def fx(x) -> str:
    return float(x).hex()


def brk(b) -> tuple | None:
    return None if b is None else (b[0], fx(b[1]))


def stats(s) -> tuple | None:
    if s is None:
        return None
    return (
        s.minutes, len(s), s.n, fx(s.atr), fx(s.turnover), fx(s.volatility), s.zero_volume_run, fx(s.atr_sum),
        fx(s.turnover_sum), fx(s.ret_sum), fx(s.ret_sq_sum), brk(s.breakout()),
    )  # fmt: skip


def full(s) -> tuple | None:
    if s is None:
        return None
    hist = tuple(bytes(getattr(s, k).tobytes()) for k in ("opens", "highs", "lows", "closes"))
    sigs = (s.signals_long.tobytes(), s.signals_short.tobytes(), tuple(s.entries(BUY)), tuple(s.entries(SELL)))
    return (*stats(s), *hist, *sigs)


def cand(c) -> tuple:
    nums = (c.entry, c.stop_distance, c.take_profit_distance, c.score, c.atr, c.volatility, c.turnover)
    return (c.symbol, c.side, c.timeframe, c.ts, *map(fx, nums), c.spread, full(c.series))


def side_by_side(params, instruments, batches, full_every: int = 97, skip_every: int = 7) -> dict:
    """Feed ``batches`` ((ts, bars) pairs) to both scanners and assert everything equal after each batch."""
    ref, vec = ReferenceScanner(instruments, params), AssetScanner(instruments, params)
    seen: set[str] = set()
    breakouts = cands = 0
    for k, (ts, bars) in enumerate(batches):
        rb, vb = ref.update_batch(bars), vec.update_batch(bars)
        assert [(s, x.minutes, side, fx(b)) for s, x, side, b in vb] == [
            (s, x.minutes, side, fx(b)) for s, x, side, b in rb
        ], f"batch {k}"
        for (sym, rs, _, _), (_, vs, _, _) in zip(rb, vb, strict=True):
            assert full(vs) == full(rs), f"batch {k} {sym} {rs.minutes}m"
            assert vs is vec.series(sym, rs.minutes)
        skip = {b.symbol for b in bars[::skip_every]}
        trade = TRADES[k % 3]
        rc, vc = ref.candidates(rb, ts, trade, skip), vec.candidates(vb, ts, trade, skip)
        assert [cand(c) for c in vc] == [cand(c) for c in rc], f"batch {k}"
        assert vec.dropped == ref.dropped and vec.signals == ref.signals, f"batch {k}"
        breakouts += len(rb)
        cands += len(rc)
        seen |= {b.symbol for b in bars}
        check = full if k % full_every == 0 else stats
        for sym in seen if k % full_every == 0 else {b.symbol for b in bars}:
            for tf in (1, 3, 5):
                assert check(vec.series(sym, tf)) == check(ref.series(sym, tf)), f"batch {k} {sym} {tf}m"
    for sym in seen:
        for tf in (1, 3, 5):
            assert full(vec.series(sym, tf)) == full(ref.series(sym, tf)), f"end {sym} {tf}m"
    return {"breakouts": breakouts, "candidates": cands, "dropped": dict(ref.dropped)}


def small(**kw) -> ScannerParams:
    base = dict(breakout_bars=20, atr_bars=14, volatility_bars=30, turnover_bars=60, min_history_bars=30,
                min_turnover_usdt=50_000.0, halted_bars=3, history_bars=40)  # fmt: skip
    return ScannerParams(**{**base, **kw})


# ---------------------------------------------------------------- recorded data


def recorded() -> ReplayMarket:
    base = shared_data_dir()
    files = sorted((base / "klines" / "1m" / "binance-usdm").glob("*.csv.gz")) if base else []
    if len(files) < 3:
        pytest.skip("no recorded klines in the shared data dir")
    market = ReplayMarket(files[:5], {})
    start = max(k.ts[0] for k in market.klines.values())  # a window where every symbol has data
    market.window(start, start + 3 * 86_400_000)
    return market


@pytest.mark.parametrize("params", [small(), ScannerParams(min_turnover_usdt=1e6)], ids=["short-history", "default"])
def test_recorded_data_gives_identical_breakouts_series_and_candidates(params):
    market = recorded()
    out = side_by_side(params, market.instruments, ((b.ts, b.bars) for b in market))
    assert out["breakouts"] > 100 and out["candidates"] > 10


def test_recorded_data_fed_from_a_late_start_with_gaps_is_identical():
    market = recorded()
    rng = random.Random(5)
    late = {s: rng.randrange(0, 2000) for s in market.symbols}
    batches = (
        (b.ts, [x for i, x in enumerate(b.bars) if late[x.symbol] <= k and rng.random() > 0.02])
        for k, b in enumerate(market)
    )
    side_by_side(small(), market.instruments, batches)


# ---------------------------------------------------------------- synthetic market, perturbed


def synthetic(symbols: int = 50, seed: int = 3) -> SyntheticMarket:
    return SyntheticMarket(generated_instruments(symbols, seed), seed=seed, start_ts=BASE, symbols=symbols)


def perturbed(market: SyntheticMarket, batches: int, seed: int):
    """The market's batches with bars missing (single minutes and multi-minute gaps per symbol), symbols
    starting late, repeated bars (some with another close), late bars from a few minutes back, and some
    batches shuffled."""
    rng = random.Random(seed)
    late = {s: (rng.randrange(1, batches // 2) if rng.random() < 0.3 else 0) for s in market.symbols}
    gap_until: dict[str, int] = {}
    recent: deque[Bar] = deque(maxlen=400)
    for k, batch in enumerate(islice(market, batches)):
        bars = []
        for x in batch.bars:
            if k < late[x.symbol] or k < gap_until.get(x.symbol, 0) or rng.random() < 0.03:
                continue
            if rng.random() < 0.005:
                gap_until[x.symbol] = k + rng.randrange(1, 8)
            bars.append(x)
        recent.extend(bars)
        for _ in range(rng.randrange(0, 4)):
            if bars and rng.random() < 0.5:
                x = rng.choice(bars)
                bars.insert(rng.randrange(len(bars) + 1), x._replace(close=x.close * 1.5))
            elif recent:
                bars.insert(rng.randrange(len(bars) + 1), rng.choice(recent))
        if rng.random() < 0.1:
            rng.shuffle(bars)
        yield batch.ts, bars


@pytest.mark.parametrize(
    "params",
    [small(), small(timeframes=(5, 1, 3)), small(timeframes=(3, 5)), ScannerParams(min_turnover_usdt=1e5)],
    ids=["1-3-5", "5-1-3", "3-5-only", "default"],
)
def test_synthetic_market_with_gaps_repeats_and_late_starts_is_identical(params):
    market = synthetic()
    out = side_by_side(params, market.instruments, perturbed(market, 1200, seed=11))
    assert out["breakouts"] > 200 and out["dropped"]["out_of_order"] > 100, out
    assert out["dropped"]["untradable_at_capital"] > 10, out


def five_minute(batches):
    """The 1m batches aggregated per symbol into 5m bars (minutes=5; incomplete ones where 1m bars are missing),
    each batch of 5m bars as the 1m bars finish them."""
    aggs: dict[str, BarAggregator] = {}
    for ts, bars in batches:
        out = []
        for x in bars:
            if x.minutes == 1:
                out += aggs.setdefault(x.symbol, BarAggregator(5)).update_all(x)
        yield ts, out


def test_5m_input_is_identical():
    market = synthetic(30, seed=4)
    batches = list(five_minute(perturbed(market, 3000, seed=2)))
    out = side_by_side(small(), market.instruments, batches)
    assert out["breakouts"] > 50


def test_mixed_1m_and_5m_input_in_the_same_batches_is_identical():
    market = synthetic(20, seed=6)
    ones = list(perturbed(market, 1500, seed=9))
    fives = dict(five_minute(ones))
    rng = random.Random(1)
    batches = []
    for ts, bars in ones:
        mixed = bars + fives[ts]
        rng.shuffle(mixed)
        batches.append((ts, mixed))
    side_by_side(small(), market.instruments, batches)


# ---------------------------------------------------------------- edge cases, hand-made and drawn


def b(i: int, c: float, symbol: str = "BTCUSDT", v: float = 10.0, minutes: int = 1) -> Bar:
    return Bar(symbol, BASE + i * minutes * MIN, c - 0.5, c + 1.0, c - 1.0, c, v, minutes)


def test_a_gap_ending_on_a_buckets_last_minute_emits_two_bars_in_order():
    params = small(breakout_bars=1, timeframes=(1, 3), history_bars=10)
    # minute 0 starts a 3m bucket; minutes 1..4 missing; minute 5 is the last minute of the next bucket
    batches = [(BASE + MIN, [b(0, 100)]), (BASE + 6 * MIN, [b(5, 200)])]
    insts = {"BTCUSDT": btc()}
    side_by_side(params, insts, batches)
    vec = AssetScanner(insts, params)
    vec.update_batch([b(0, 100)])
    hits = vec.update_batch([b(5, 200)])
    assert [(x.minutes, len(x)) for _, x, _, _ in hits] == [(1, 2), (3, 2)]
    assert list(vec.series("BTCUSDT", 3).closes) == [100.0, 200.0]


def test_a_symbol_repeated_within_one_batch_is_taken_in_order_and_its_repeat_dropped():
    insts = {"A": btc(), "B": btc()}
    bars = [b(i, 100 + i, "A") for i in range(6)] + [b(0, 50, "B"), b(5, 7, "A"), b(1, 51, "B")]
    side_by_side(small(breakout_bars=2, history_bars=4), insts, [(BASE, bars)])


def test_history_shorter_than_the_channel_is_refused():
    with pytest.raises(ValueError, match="history_bars"):
        AssetScanner({}, small(history_bars=5, breakout_bars=6))


@st.composite
def streams(draw):
    nb = draw(st.integers(1, 5))
    params = small(
        timeframes=draw(st.sampled_from([(1, 3, 5), (1,), (5, 1, 3), (3,)])),
        breakout_bars=nb,
        atr_bars=draw(st.integers(1, 5)),
        volatility_bars=draw(st.integers(1, 5)),
        turnover_bars=draw(st.integers(1, 5)),
        min_history_bars=draw(st.integers(1, 6)),
        min_turnover_usdt=10.0,
        halted_bars=draw(st.integers(1, 3)),
        history_bars=draw(st.integers(nb, 8)),
    )
    batches = []
    minute = 0
    for _ in range(draw(st.integers(1, 30))):
        minute += draw(st.integers(0, 3))
        bars = []
        for _ in range(draw(st.integers(0, 6))):
            sym = draw(st.sampled_from("ABC"))
            mins = draw(st.sampled_from([1, 1, 1, 3, 5]))
            at = max(0, minute - draw(st.integers(0, 2)))
            o, c = draw(st.integers(0, 30)), draw(st.integers(0, 30))
            h, lo = max(o, c) + draw(st.integers(0, 4)), max(0, min(o, c) - draw(st.integers(0, 4)))
            ts = BASE + (at - at % mins) * MIN
            bars.append(Bar(sym, ts, float(o), float(h), float(lo), float(c), float(draw(st.integers(0, 3))), mins))
        batches.append((BASE + (minute + 1) * MIN, bars))
    return params, batches


@settings(max_examples=300, deadline=None)
@given(streams())
def test_property_drawn_streams_are_identical(run):
    params, batches = run
    insts = {s: replace(btc(), symbol=s) for s in "ABC"}
    side_by_side(params, insts, batches, full_every=1, skip_every=2)


@pytest.mark.parametrize("close", [20_000.0, 20_000.000000000004, 19_999.999999999996, 20_000.01, 19_999.99, 5e3])
def test_untradable_near_the_limit_is_decided_as_in_decimal(close):
    inst = replace(btc(), min_qty=D("0.001"), min_notional=D(5))
    vec = AssetScanner({"BTCUSDT": inst}, small())
    trade = Tradability(D(20), D(1))
    largest = trade.margin_share * min(trade.leverage_cap, inst.max_leverage)
    exact = max(inst.min_notional, inst.min_qty * D(repr(close))) > largest
    assert (vec._untradable("BTCUSDT", close, trade, {}) is not None) is exact

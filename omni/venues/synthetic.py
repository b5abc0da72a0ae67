"""A seeded synthetic market: regime-switching random walks with jumps, 1m bars and funding settlements.

Per symbol the log price follows Gaussian minute returns whose sigma and drift depend on a Markov regime
(calm / trending / volatile), plus rare fat Poisson jumps. Regime lengths and jump arrivals are drawn as
geometric waiting times when they start, so the per-bar loop needs one 64-bit random draw: four 16-bit
indices into precomputed tables (standard normal, half-normal, lognormal). The tables are fixed inverse-CDF
quantiles, so they need no seed and the stream depends only on the seed.

Prices are rounded onto the instrument's tick (floats nearest to the exact tick multiple); the walk itself
stays unrounded so low-vol symbols do not stick to a tick.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from fractions import Fraction
from statistics import NormalDist

from omni.domain.instrument import Instrument
from omni.domain.market import MINUTE_MS, Bar, Funding, MarketBatch

_TABLE_BITS = 16
_TABLE_SIZE = 1 << _TABLE_BITS
_MASK = _TABLE_SIZE - 1


def _tables() -> tuple[list[float], list[float], list[float]]:
    """Return (normal, half-normal, lognormal(0, 0.6) scaled to mean 1) quantile tables."""
    inv = NormalDist().inv_cdf
    normal = [inv((i + 0.5) / _TABLE_SIZE) for i in range(_TABLE_SIZE)]
    half = [abs(z) for z in normal]
    s = 0.6
    logn = [math.exp(s * z - s * s / 2) for z in normal]
    return normal, half, logn


_NORMAL, _HALF, _LOGN = _tables()

CALM, TREND, VOLATILE = 0, 1, 2
#: Regime sigma multipliers, mean lengths (bars) and volume multipliers.
_REGIME_SIGMA = (0.7, 1.0, 2.6)
_REGIME_MEAN_BARS = (720.0, 300.0, 90.0)
_REGIME_VOLUME = (0.8, 1.1, 2.5)
#: Next-regime probabilities: calm -> trend 60 %, trends end calm 65 %, volatile calms down 70 %.
_NEXT_REGIME = ((TREND, 0.6, VOLATILE), (CALM, 0.65, VOLATILE), (CALM, 0.7, TREND))
#: Trend drift per bar as a fraction of the symbol's base sigma.
_TREND_DRIFT = 0.12
#: Mean bars between jumps per symbol (about one every two days), jump size in base sigmas.
_JUMP_MEAN_BARS = 2880.0
_JUMP_MIN_SIGMAS, _JUMP_MEAN_EXTRA_SIGMAS = 5.0, 10.0
#: Wick size as a fraction of the regime sigma (half-normal).
_WICK_SIGMAS = 0.8
#: Prices never go below this many ticks, nor above this many (keeps the fast rounding exact).
_FLOOR_TICKS = 5
_CAP_TICKS = 2.0**48
_ROUNDER = 1.5 * 2.0**52
# positions in a symbol's hot state list (the loop unpacks it whole, in this order)
_X, _DRIFT, _SIGMA, _WICK, _VMUL, _NAME, _EVENT, _AUX, _INTERVAL = 1, 2, 3, 4, 5, 9, 10, 11, 12
#: Funding AR(1): mean, persistence per settlement, noise, pull towards the drift sign, Bybit-like cap.
_FUNDING_MEAN, _FUNDING_PHI, _FUNDING_NOISE, _FUNDING_DRIFT = 0.0001, 0.85, 0.00008, 0.0002
_FUNDING_CAP = 0.0075


def _wait(rng: random.Random, mean_bars: float) -> int:
    """Draw a geometric waiting time (bars, >= 1) with the given mean."""
    return 1 + int(rng.expovariate(1.0 / mean_bars))


class SyntheticMarket:
    """Infinite seeded stream of MarketBatch, one per minute; iterating again restarts the same stream.

    ``start_ts`` (epoch ms, floored to the minute) is the open time of the first bars, so the first batch
    has ``ts = start_ts + 60_000``. Funding for a symbol settles at every batch ts that is a multiple of
    its ``funding_interval_min`` since the epoch (00/08/16 UTC for 480). ``start_prices`` may be changed
    before iterating (it is read, and rounded onto the tick, when a stream starts).
    """

    def __init__(
        self, instruments: dict[str, Instrument], *, seed: int, start_ts: int, symbols: int | None = None
    ) -> None:
        if not instruments:
            raise ValueError("no instruments to simulate")
        names = sorted(instruments)
        rng = random.Random(seed)
        if symbols is not None:
            if not 1 <= symbols <= len(names):
                raise ValueError(f"symbols must be in 1..{len(names)}, got {symbols}")
            names = sorted(rng.sample(names, symbols))
        self.seed = seed
        self.start_ts = start_ts - start_ts % MINUTE_MS
        self.instruments: dict[str, Instrument] = {s: instruments[s] for s in names}
        self.start_prices: dict[str, float] = {}
        #: per-symbol base sigma of one-minute log returns
        self.sigmas: dict[str, float] = {}
        self._base_volume: dict[str, float] = {}
        for name in names:
            inst = self.instruments[name]
            tick = inst.tick_f
            price = _round_to_tick(tick * 10 ** rng.uniform(3.5, 5.0), inst)
            self.start_prices[name] = max(price, _FLOOR_TICKS / _ticks_per_unit(inst))
            self.sigmas[name] = 10 ** rng.uniform(math.log10(0.0005), math.log10(0.003))
            # base volume: one minute trades 10k..3M USDT of notional
            self._base_volume[name] = 10 ** rng.uniform(4.0, 6.5) / self.start_prices[name]

    @property
    def symbols(self) -> list[str]:
        return list(self.instruments)

    def __iter__(self) -> Iterator[MarketBatch]:
        return self._run()

    def _run(self) -> Iterator[MarketBatch]:
        rng = random.Random(f"{self.seed}:walk")
        states: list[list] = []
        for name, inst in self.instruments.items():
            # hot fields, unpacked in one go per bar (order matters, see _X.._INTERVAL)
            sc = _ticks_per_unit(inst)
            floor = _FLOOR_TICKS / sc
            price = max(_round_to_tick(self.start_prices[name], inst), floor)  # callers may override it
            aux = _Aux(rng, self.sigmas[name], self._base_volume[name], price)
            states.append(
                [
                    price,  # last close, on tick (the next bar's open)
                    price,  # the unrounded walk
                    aux.drift,  # log drift per bar (trend regime only)
                    aux.sigma,  # regime sigma of one-minute log returns
                    aux.wick,  # wick scale
                    aux.vmul,  # volume scale
                    sc,  # 1 / tick
                    floor,  # lowest price
                    _CAP_TICKS / sc,  # highest price
                    name,
                    aux.next_event,  # bar index of the next jump or regime change
                    aux,  # cold state
                    inst.funding_interval_min * MINUTE_MS,  # funding interval, ms
                ]
            )
        getrandbits = rng.getrandbits
        exp = math.exp
        normal, half, logn = _NORMAL, _HALF, _LOGN
        mask, bits, m = _MASK, _TABLE_BITS, _ROUNDER
        tnew = tuple.__new__
        bar_t, batch_t = Bar, MarketBatch
        ts = self.start_ts
        next_funding = min(_next_multiple(ts + MINUTE_MS, st[_INTERVAL]) for st in states)
        i = 0
        while True:
            open_ts = ts
            ts += MINUTE_MS
            bars: list[Bar] = []
            append = bars.append
            for st in states:
                o, px, dr, sg, w, vm, sc, fl, cap, name, ev, aux, _ = st
                r = getrandbits(64)
                j = r & mask
                step = dr + sg * normal[j]
                if ev == i:
                    step += aux.event(rng, st, i)
                px *= exp(step)
                if not fl <= px <= cap:
                    px = fl if px < fl else cap
                # (y + M - M) rounds y to an integer (half-even) for |y| < 2**51, 3x faster than round()
                c = (px * sc + m - m) / sc
                if c > o:
                    h = (c * (1.0 + w * half[(r >> bits) & mask]) * sc + m - m) / sc
                    lo = (o / (1.0 + w * half[(r >> 32) & mask]) * sc + m - m) / sc
                else:
                    h = (o * (1.0 + w * half[(r >> bits) & mask]) * sc + m - m) / sc
                    lo = (c / (1.0 + w * half[(r >> 32) & mask]) * sc + m - m) / sc
                if lo < fl:
                    lo = fl
                append(tnew(bar_t, (name, open_ts, o, h, lo, c, vm * logn[r >> 48] * (1.0 + half[j]), 1)))
                st[0] = c
                st[_X] = px
            i += 1
            fundings: list[Funding] = []
            if ts >= next_funding:
                for st in states:
                    if ts % st[_INTERVAL] == 0:
                        fundings.append(Funding(st[_NAME], ts, st[_AUX].settle(rng, st[_X])))
                next_funding = min(_next_multiple(ts + MINUTE_MS, st[_INTERVAL]) for st in states)
            yield tnew(batch_t, (ts, bars, fundings))


class _Aux:
    """Cold per-symbol state: regime, event schedule and funding (touched only on events)."""

    __slots__ = (
        "base_sigma",
        "base_volume",
        "drift",
        "jump_at",
        "last_x",
        "rate",
        "regime",
        "regime_end",
        "sigma",
        "vmul",
        "wick",
    )

    def __init__(self, rng: random.Random, base_sigma: float, base_volume: float, price: float) -> None:
        self.base_sigma = base_sigma
        self.base_volume = base_volume
        self.rate = _FUNDING_MEAN
        self.last_x = price
        self._enter(rng, CALM, 0)
        self.jump_at = _wait(rng, _JUMP_MEAN_BARS) - 1

    @property
    def next_event(self) -> int:
        return min(self.jump_at, self.regime_end)

    def _enter(self, rng: random.Random, regime: int, bar: int) -> None:
        self.regime = regime
        self.regime_end = bar + _wait(rng, _REGIME_MEAN_BARS[regime])
        self.sigma = self.base_sigma * _REGIME_SIGMA[regime]
        self.wick = self.sigma * _WICK_SIGMAS
        self.vmul = self.base_volume * _REGIME_VOLUME[regime]
        sign = 1.0 if rng.random() < 0.5 else -1.0
        self.drift = sign * _TREND_DRIFT * self.base_sigma if regime == TREND else 0.0

    def event(self, rng: random.Random, st: list, bar: int) -> float:
        """Handle what is due at ``bar``: return a jump log-return (or 0); a regime change applies next bar."""
        jump = 0.0
        if bar == self.jump_at:
            size = self.base_sigma * (_JUMP_MIN_SIGMAS + rng.expovariate(1.0 / _JUMP_MEAN_EXTRA_SIGMAS))
            jump = size if rng.random() < 0.5 else -size
            self.jump_at = bar + _wait(rng, _JUMP_MEAN_BARS)
        if bar == self.regime_end:
            first, p_first, other = _NEXT_REGIME[self.regime]
            self._enter(rng, first if rng.random() < p_first else other, bar)
            st[_DRIFT], st[_SIGMA], st[_WICK], st[_VMUL] = self.drift, self.sigma, self.wick, self.vmul
        st[_EVENT] = self.next_event
        return jump

    def settle(self, rng: random.Random, x: float) -> float:
        """Advance the AR(1) funding rate to this settlement, leaning towards the move since the last one."""
        move = math.log(x / self.last_x)
        self.last_x = x
        lean = _FUNDING_DRIFT if move > 0 else -_FUNDING_DRIFT
        target = _FUNDING_MEAN + lean * min(1.0, abs(move) * 20)
        nxt = target + _FUNDING_PHI * (self.rate - target) + rng.gauss(0.0, _FUNDING_NOISE)
        self.rate = max(-_FUNDING_CAP, min(_FUNDING_CAP, nxt))
        return self.rate


def _next_multiple(ts: int, interval: int) -> int:
    """Return the smallest multiple of ``interval`` at or after ``ts``."""
    return -(-ts // interval) * interval


def _ticks_per_unit(inst: Instrument) -> float:
    """Return 1 / tick as a float; exact for ticks of the form 1/n, which all Bybit ticks are."""
    f = Fraction(inst.tick_size)
    return f.denominator / f.numerator


def _round_to_tick(price: float, inst: Instrument) -> float:
    """Return the float nearest to ``price`` rounded onto the instrument's tick."""
    sc = _ticks_per_unit(inst)
    return round(price * sc) / sc

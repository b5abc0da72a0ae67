"""Replay benchmark: the reference workload, through the real sim venue and the engine's pieces.

Workload (comparable across frameworks): 500,000 seeded 1m bars of one symbol, EMA(20)/EMA(50) cross on
closes, target position +1/-1 in units of 0.01, market orders of 0.01 (a flip is a reduce-only close and a
new entry), taker fee 0.055 %, fill at the signal bar's close (no slippage). Every order goes through the
risk guard and the executor into the SimVenue's matching engine; fills go through Trader.apply into the
portfolio ledger and telemetry (logging at warning level). The entry carries a far stop-loss (50 % away),
because OMNI's guard refuses entries without one; it never triggers on this data.

Prints bars/s for the whole process (interpreter start to exit, data generation or loading included),
orders, fees and peak RSS. Goal on the 2-core reference machine: >= 230,000 bars/s, peak RSS <= 100 MB.

    python bench/replay.py [--bars N] [--data FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import resource
import sys
import time
from decimal import Decimal as D
from pathlib import Path

T_START = time.perf_counter()

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omni import logsetup  # noqa: E402
from omni.clock import VirtualClock  # noqa: E402
from omni.core.pipeline import ClientIds  # noqa: E402
from omni.core.portfolio import Portfolio  # noqa: E402
from omni.core.risk import Approved, Limits, RiskGuard  # noqa: E402
from omni.domain.instrument import Instrument, default_tiers  # noqa: E402
from omni.domain.orders import OrderIntent, Side  # noqa: E402
from omni.engine.executor import Executor  # noqa: E402
from omni.engine.telemetry import Telemetry  # noqa: E402
from omni.engine.trader import Trader  # noqa: E402
from omni.exchange.matching import MatchingEngine  # noqa: E402
from omni.venues.replay import ReplayMarket  # noqa: E402
from omni.venues.sim import SimVenue  # noqa: E402
from omni.venues.synthetic import SyntheticMarket  # noqa: E402

UNIT = D("0.01")
TAKER = D("0.00055")


def btc() -> Instrument:
    return Instrument("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D(1000), D(100), default_tiers(D(100), D(2_000_000)))


class EmaCross:
    """EMA(fast)/EMA(slow) on closes -> target +1/-1 once both are warm."""

    def __init__(self, fast: int = 20, slow: int = 50):
        self.af = 2.0 / (fast + 1)
        self.as_ = 2.0 / (slow + 1)
        self.slow_n = slow
        self.f = self.s = 0.0
        self.n = 0

    def target(self, close: float) -> int:
        n = self.n
        if n == 0:
            self.f = self.s = close
        else:
            self.f += self.af * (close - self.f)
            self.s += self.as_ * (close - self.s)
        self.n = n + 1
        if n < self.slow_n:
            return 0
        return 1 if self.f > self.s else -1


async def run(source, instruments: dict[str, Instrument], n_bars: int) -> dict:
    logsetup.configure("json", "warning", stream=io.StringIO())
    log = logsetup.get("bench")
    matching = MatchingEngine(instruments, balance=D(10_000_000), taker_fee=TAKER, maker_fee=D("0.0002"))
    venue = SimVenue(source, matching, VirtualClock(), speed=None, yield_every=4096)
    portfolio = Portfolio(matching.balance)
    limits = Limits(1, D(10_000_000), D(10_000_000), D(100), D(100), D(10_000_000), TAKER)
    guard = RiskGuard(limits)
    ids = ClientIds("bench")
    executor = Executor(venue, guard, portfolio, ids, log, D(1_000_000))
    telemetry = Telemetry(log, portfolio, {})
    trader = Trader(venue, None, portfolio, guard, executor, telemetry, log)  # type: ignore[arg-type]
    strat = EmaCross()
    position = 0
    bars = 0
    stop = asyncio.Event()
    async for batch, events in venue.stream(stop):
        if events:
            await trader.apply(events)
        for bar in batch.bars:
            bars += 1
            target = strat.target(bar.close)
            if target == position or target == 0:
                continue
            inst = instruments[bar.symbol]
            price = inst.round_price(bar.close)
            if position != 0:
                pos = portfolio.positions[bar.symbol]
                await trader.apply(await executor.close(bar.symbol, pos))
            side = Side.BUY if target > 0 else Side.SELL
            sl = inst.round_price(price * (D("0.5") if target > 0 else D("1.5")))
            intent = OrderIntent(ids.next(), bar.symbol, side, UNIT, stop_loss=sl, leverage=D(1))
            verdict = guard.check(intent, inst, price, portfolio, venue.equity())
            assert isinstance(verdict, Approved), verdict
            await trader.apply(await executor.submit(verdict))
            position = target
        if bars >= n_bars:
            break
    assert venue.balance() == portfolio.capital, "ledger and venue disagree"
    return {
        "bars": bars,
        "orders": telemetry.orders,
        "fees": portfolio.fees,
        "trades": portfolio.trades_total,
        "realised": portfolio.realised,
        "funding": portfolio.funding,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=500_000, help="synthetic bars to replay (default 500000)")
    ap.add_argument("--data", type=Path, help="replay this kline CSV (ts,open,high,low,close,volume) instead")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.data:
        market = ReplayMarket([args.data], {})
        source, instruments, n = market, market.instruments, 10**12
    else:
        inst = btc()
        market = SyntheticMarket({inst.symbol: inst}, seed=args.seed, start_ts=1_704_067_200_000)
        market.start_prices[inst.symbol] = 40_000.0
        source = itertools.islice(market, args.bars)
        instruments, n = market.instruments, args.bars
    stats = asyncio.run(run(source, instruments, n))
    elapsed = time.perf_counter() - T_START
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bars            {stats['bars']:,}")
    print(f"orders placed   {stats['orders']:,}")
    print(f"round trips     {stats['trades']:,}")
    print(f"fees paid       {stats['fees']} USDT")
    print(f"funding paid    {stats['funding']} USDT")
    print(f"realised pnl    {stats['realised']} USDT")
    print(f"wall time       {elapsed:.3f} s (whole process)")
    print(f"throughput      {stats['bars'] / elapsed:,.0f} bars/s   (goal >= 230,000)")
    print(f"peak RSS        {rss_mb:.1f} MB   (goal <= 100 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

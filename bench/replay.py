"""Replay benchmark: the reference workload, through the real sim venue and the engine's pieces.

Workload (comparable across frameworks): 500,000 seeded 1m bars of one symbol, EMA(20)/EMA(50) cross on
closes, target position +1/-1 in units of 0.01, market orders of 0.01 (a flip is a reduce-only close and a
new entry), taker fee 0.055 %, fill at the signal bar's close (no slippage). Every order goes through the
risk guard and the executor into the SimVenue's matching engine; fills go through Trader.apply into the
portfolio ledger and telemetry (logging at warning level). The entry carries a far stop-loss (50 % away),
because OMNI's guard refuses entries without one; it never triggers on this data.

Prints bars/s for the whole process (interpreter start to exit, data generation or loading included),
orders, fees and peak RSS. Goal on the 2-core reference machine: >= 230,000 bars/s, peak RSS <= 100 MB.

Recorded data instead of the synthetic bars (one symbol; the workload trades a single stream):
- ``--data FILE``: a gzip-CSV kline file (``ts,open,high,low,close,volume``). By default the same file is also
  imported (``omni.history.convert.import_csv``, the code of ``omni data import``; not timed as part of the replay)
  into a temporary Parquet store and replayed from there, and both are reported side by side, each run in a fresh
  subprocess (so each peak RSS is its own); ``--no-store`` replays the CSV alone, in this process.
- ``--store DIR``: a store directory (``omni.venues.store``) holding one symbol; with ``--data`` too, both are
  compared (no temporary import).
For recorded data the figures are split: load = ``ReplayMarket(...)`` (read and validate every file), iterate =
bars/s of iterating the ReplayMarket batches alone (no engine: the replay's own speed, after the timed run),
workload = bars/s of the loop above without the load; whole process as above (the iterate pass excluded); peak
RSS from /proc/self/status VmHWM (a child's ru_maxrss can include its parent's RSS at the fork). The
store and CSV runs must end with the same orders, fees and PnL (checked in the comparison).

    python bench/replay.py [--bars N] [--data FILE] [--store DIR] [--no-store] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import resource
import subprocess
import sys
import tempfile
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

T_READY = time.perf_counter()  # imports done

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
            pos = portfolio.positions.get(bar.symbol) if position != 0 else None
            if pos is not None:
                await trader.apply(await executor.close(bar.symbol, pos))
            side = Side.BUY if target > 0 else Side.SELL
            sl = inst.round_price(price * (D("0.5") if target > 0 else D("1.5")))
            # UNIT of a coin, or enough for the minimum order value on a cheap coin (WIFUSDT at ~1 USDT)
            qty = max(UNIT, inst.round_qty(inst.min_notional * 2 / price))
            intent = OrderIntent(ids.next(), bar.symbol, side, qty, stop_loss=sl, leverage=D(1))
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


def peak_rss_kb() -> int:
    """This process's VmHWM (ru_maxrss of a child started by a Python parent can carry the parent's RSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def replay_recorded(kind: str, path: Path) -> dict:
    """Load ``path`` (a CSV file or a store directory), run the workload over all of it, then iterate the batches
    alone; return the figures."""
    t0 = time.perf_counter()
    market = ReplayMarket([path], {})
    load_s = time.perf_counter() - t0
    if len(market.symbols) != 1:
        raise SystemExit(f"{path}: {len(market.symbols)} symbols; this workload trades one symbol's stream")
    t1 = time.perf_counter()
    stats = asyncio.run(run(market, market.instruments, 10**12))
    workload_s = time.perf_counter() - t1
    elapsed = time.perf_counter() - T_START
    rss_mb = peak_rss_kb() / 1024
    t2 = time.perf_counter()
    n = batches = 0
    for batch in market:
        batches += 1
        n += len(batch.bars)
    iterate_s = time.perf_counter() - t2
    return {
        "kind": kind, "path": str(path), "symbol": market.symbols[0], "bars": stats["bars"], "batches": batches,
        "imports_s": T_READY - T_START, "load_s": load_s, "workload_s": workload_s, "iterate_s": iterate_s,
        "iterate_bars_per_s": n / iterate_s, "workload_bars_per_s": stats["bars"] / workload_s,
        "process_s": elapsed, "process_bars_per_s": stats["bars"] / elapsed, "peak_rss_mb": rss_mb,
        **{k: str(stats[k]) for k in ("orders", "fees", "trades", "realised", "funding")},
    }  # fmt: skip


def print_recorded(r: dict) -> None:
    label = "gzip CSV" if r["kind"] == "csv" else "Parquet store"
    print(f"source          {label} {r['path']} ({r['symbol']})")
    print(f"bars            {r['bars']:,}")
    print(f"orders placed   {int(r['orders']):,}")
    print(f"round trips     {int(r['trades']):,}")
    print(f"fees paid       {r['fees']} USDT")
    print(f"funding paid    {r['funding']} USDT")
    print(f"realised pnl    {r['realised']} USDT")
    print(f"imports         {r['imports_s']:.3f} s (script start to imports done)")
    print(f"load            {r['load_s']:.3f} s (ReplayMarket: read and validate)")
    print(f"workload        {r['workload_bars_per_s']:,.0f} bars/s ({r['workload_s']:.3f} s, load excluded)")
    print(f"iterate         {r['iterate_bars_per_s']:,.0f} bars/s (ReplayMarket batches alone, no engine)")
    print(f"wall time       {r['process_s']:.3f} s (whole process, the iterate pass excluded)")
    print(f"throughput      {r['process_bars_per_s']:,.0f} bars/s   (goal >= 230,000)")
    print(f"peak RSS        {r['peak_rss_mb']:.1f} MB   (goal <= 100 MB)")


def compare(sources: list[tuple[str, Path]], import_s: float | None) -> int:
    """Run each source in a fresh subprocess of this script and print them side by side."""
    results = []
    for kind, path in sources:
        flag = ["--data", str(path), "--no-store"] if kind == "csv" else ["--store", str(path)]
        cmd = [sys.executable, str(Path(__file__).resolve()), *flag, "--json"]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(cmd)}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first = results[0]
    print(f"== replay of recorded bars: {first['symbol']}, {first['bars']:,} bars, each source in a fresh process")
    for kind, path in sources:
        print(f"{kind:6s}  {path}")
    if import_s is not None:
        print(f"import          {import_s:.3f} s (import_csv into the temporary store; not part of any figure)")
    print()
    print(f"{'source':8s} {'load':>8s} {'iterate':>14s} {'workload':>14s} {'whole process':>15s} {'wall':>8s} "
          f"{'peak RSS':>10s}")  # fmt: skip
    for r in results:
        print(f"{r['kind']:8s} {r['load_s']:7.3f}s {r['iterate_bars_per_s']:10,.0f} b/s "
              f"{r['workload_bars_per_s']:10,.0f} b/s {r['process_bars_per_s']:11,.0f} b/s {r['process_s']:7.3f}s "
              f"{r['peak_rss_mb']:7.1f} MB")  # fmt: skip
    print(
        "(load = ReplayMarket(...); iterate = its batches alone; workload = the engine loop, load excluded; "
        "whole process = interpreter start to the end of the workload, the goal figure: >= 230,000 bars/s, "
        "peak RSS <= 100 MB)"
    )
    keys = ("bars", "orders", "fees", "trades", "realised", "funding")
    same = all(r[k] == first[k] for r in results for k in keys)
    print(f"same result     {'yes' if same else 'NO'} (bars, orders, fees, round trips, realised PnL, funding)")
    print(json.dumps({"bench": "replay", "import_s": import_s, "same_result": same, "runs": results}))
    return 0 if same else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=500_000, help="synthetic bars to replay (default 500000)")
    ap.add_argument("--data", type=Path, help="replay this kline CSV (ts,open,high,low,close,volume) instead")
    ap.add_argument("--store", type=Path, help="replay this store directory (one symbol); with --data: compare")
    ap.add_argument("--no-store", action="store_true", help="with --data: the CSV alone, no temporary store")
    ap.add_argument("--json", action="store_true", help="recorded data: print the figures as one JSON line")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.data and not args.no_store:
        if args.store:
            return compare([("csv", args.data), ("store", args.store)], None)
        from omni.history.convert import import_csv  # only here: the synthetic run's imports stay as they were

        with tempfile.TemporaryDirectory(prefix="omni-bench-replay-") as tmp:
            t0 = time.perf_counter()
            import_csv([args.data], Path(tmp))
            import_s = time.perf_counter() - t0
            return compare([("csv", args.data), ("store", Path(tmp))], import_s)
    if args.data or args.store:
        r = replay_recorded("csv", args.data) if args.data else replay_recorded("store", args.store)
        if args.json:
            print(json.dumps(r))
        else:
            print_recorded(r)
        return 0
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

"""Forecast acceptance benchmark: is the pre-trade simulator's win probability worth anything?

Runs the real ``omni backtest`` path (``run_backtest``: same assembly, engine and costs as the daemon) over the
10 recorded Binance USDT-M 1m symbols of ../shared/data (30 days from the first bar; skipped when absent) and
judges every forecast it made, taken or not, on the outcome its exact order had (counterfactual for the
untaken ones), walk-forward (folds of ``calibration.fold_days``):

1. Brier skill score > 0 over all forecasts, with the lower end of its 90 % day-block bootstrap interval;
   raw p and walk-forward recalibrated p (fitted on earlier folds only).
2. In every decile of p with n >= 100, the Wilson 95 % interval of the realised rate contains the mean forecast.
3. In every decile of the EV lower bound, the realised mean net is at or above the decile's mean bound.

Config: the default, except an account large enough that the sizer fits most candidates (1000 USDT, 10 USDT
max loss per trade, 0.5 USDT minimum net at take-profit, no daily-loss / drawdown kill), so the simulator
forecasts thousands of candidates instead of the few a 12 USDT account can size. Left out: nothing of the
decision path; the data is Binance, one regime (May-June 2025), not Bybit.

    OMNI_SHARED_DATA=../shared/data python bench/forecasts.py [--days 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omni.config import load_config
from omni.engine.backtest import for_backtest, run_backtest

SYMBOLS = ("BTC", "ETH", "SOL", "XRP", "BNB", "LTC", "ADA", "DOGE", "DOT", "AVAX")
ENV = {
    "OMNI_CAPITAL_USDT": "1000",
    "OMNI_RISK__MAX_LOSS_PER_TRADE_USDT": "10",
    "OMNI_RISK__MAX_DAILY_LOSS_USDT": "1000000",
    "OMNI_RISK__MAX_DRAWDOWN_PCT": "100",
    "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "0.5",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    shared = Path(os.environ.get("OMNI_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    folder = shared / "klines" / "1m" / "binance-usdm"
    files = [folder / f"{s}USDT.csv.gz" for s in SYMBOLS]
    missing = [f for f in files if not f.exists()]
    if missing:
        print(f"skipped: {len(missing)} data files absent under {folder}")
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="omni-forecasts-"))
    cfg = for_backtest(load_config(None, env=ENV), out, files)
    t0 = time.monotonic()
    r = run_backtest(cfg, out, duration_s=args.days * 86_400)
    wall = time.monotonic() - t0
    fc = r.summary["forecasts"]
    print(f"backtest {wall:.1f} s, {len(files)} symbols, {args.days:g} days; {fc['n']} forecasts scored, "
          f"{fc['taken']['n']} taken trades; out: {out}")  # fmt: skip
    rows = []
    for name in ("all", "all_calibrated", "taken"):
        s = fc[name]
        lo = s["bss_interval_90"][0] if s.get("bss_interval_90") else None
        rows.append((f"BSS {name}", s.get("bss"), lo, s.get("bss") is not None and s["bss"] > 0))
    for name in ("all", "all_calibrated"):
        big = [b for b in fc[name]["reliability"] if b["n"] >= 100]
        ok = sum(b["contains"] for b in big)
        rows.append((f"deciles n>=100 calibrated ({name})", f"{ok}/{len(big)}", None, ok == len(big)))
    ev = fc["ev"]
    ok = sum(b["realised_at_or_above"] for b in ev)
    rows.append(("EV deciles realised >= bound", f"{ok}/{len(ev)}", None, ok == len(ev)))
    print(f"{'figure':44} {'value':>12} {'90% low':>9}  goal met")
    for name, value, lo, met in rows:
        v = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{name:44} {v:>12} {'' if lo is None else f'{lo:.4f}':>9}  {'yes' if met else 'NO'}")
    print(json.dumps({"folds": [{"fold": f["fold"], "n": f["all"]["n"], "bss": f["all"]["bss"],
                                 "bss_recalibrated": f["calibrated_bss"]} for f in fc["folds"]]}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

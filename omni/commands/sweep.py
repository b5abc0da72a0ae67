"""``omni sweep``: a parameter search ranked only out of sample (nested walk-forward), with the deflated Sharpe
ratio and the probability of backtest overfitting; local process pool or Ray."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omni.commands.common import EXIT_USAGE, add_data_option, config_option, data_files, load
from omni.domain.errors import DataError
from omni.emulator.options import whole

NAME = "sweep"


def add_parser(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser(
        NAME,
        help="search config values, judged only out of sample (walk-forward, deflated Sharpe, PBO)",
        description="Search the config keys of a space file (see config/sweep.yaml) with Optuna. Every trial is the "
        "real backtest over K consecutive folds of the data (a warm-up before each, an embargo of the longest "
        "holding time between them). The report's figure is the nested walk-forward: for each fold, the trial "
        "best on the folds before it, scored on that fold. It also gives the deflated Sharpe ratio and the "
        "probability of backtest overfitting. The chosen config goes to <out>/chosen.yaml; your config is never "
        "changed. Ctrl-C stops and keeps the study: --resume continues it.",
    )
    sp.add_argument("--space", type=Path, required=True, metavar="FILE", help="search space YAML")
    add_data_option(sp, "market data: a store directory (omni data) or kline/funding files", required=True)
    sp.add_argument("--folds", type=whole, required=True, metavar="K", help="walk-forward folds (>= 2)")
    config_option(sp)
    sp.add_argument("--trials", type=whole, default=24, metavar="N", help="trials to run (default 24)")
    sp.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe",
                    help="tpe (default; asks in batches: results depend on --batch, not on --workers), random or "
                    "grid (both independent of workers and batches)")  # fmt: skip
    sp.add_argument("--batch", type=whole, default=8, metavar="B", help="trials asked at once (default 8)")
    sp.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="local process pool (default) or Ray (pip install 'omni[ray]')")  # fmt: skip
    sp.add_argument("--ray-address", default=None, metavar="ADDR",
                    help="an existing Ray cluster (ray://host:10001 or auto); default: a local Ray")  # fmt: skip
    sp.add_argument("--workers", type=whole, default=None, metavar="W",
                    help="trials at once (default: the CPU count)")  # fmt: skip
    sp.add_argument("--out", type=Path, default=Path("sweep-out"), metavar="DIR",
                    help="study and report directory (default sweep-out)")  # fmt: skip
    sp.add_argument("--resume", action="store_true", help="continue the sweep in --out")


def run(args: argparse.Namespace) -> int:
    from omni.sweep.executors import default_workers
    from omni.sweep.run import SweepArgs, run_sweep
    from omni.sweep.space import SpaceError
    from omni.sweep.study import SweepError

    if args.folds < 2:
        print("omni sweep: --folds must be at least 2 (a walk-forward needs a fold to choose on and one to test)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    cfg = load(args.config)
    if cfg is None:
        return EXIT_USAGE
    sweep = SweepArgs(
        space=args.space.resolve(), data=data_files(args.data), folds=args.folds, out=args.out.resolve(),
        trials=args.trials, sampler=args.sampler, executor=args.executor, ray_address=args.ray_address,
        workers=args.workers or default_workers(), batch=args.batch, resume=args.resume,
    )  # fmt: skip
    try:
        return run_sweep(sweep, cfg)
    except (SpaceError, SweepError, DataError, RuntimeError) as e:
        print(f"omni sweep: {e}", file=sys.stderr)
        return EXIT_USAGE

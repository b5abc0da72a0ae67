"""``omni sweep`` from arguments to report: check the space and the data, plan the folds, check memory, run the
batches on the chosen executor with a progress line, stop cleanly on Ctrl-C (the study is kept), write the report.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from omni.config import Config
from omni.core.walk_forward import walk_forward_chain
from omni.domain.market import parse_timeframe
from omni.sweep import report
from omni.sweep.executors import check_memory, make_executor, worker_mb
from omni.sweep.folds import Fold, plan_folds
from omni.sweep.space import Space, config_with, load_space
from omni.sweep.study import Eta, Loop, SweepError, completed, failures, open_study


@dataclass
class SweepArgs:
    space: Path
    data: list[Path]
    folds: int
    out: Path
    trials: int = 24
    sampler: str = "tpe"
    executor: str = "local"
    ray_address: str | None = None
    workers: int = 1
    batch: int = 8
    resume: bool = False


def data_range(paths: list[Path]) -> tuple[int, int]:
    """(first bar's open, end of the last bar) over the replay files, epoch ms."""
    from omni.engine.assembly import replay_files
    from omni.venues.replay import ReplayMarket

    market = ReplayMarket(replay_files(paths), {})
    first = min(k.ts[0] for k in market.klines.values())
    end = max(k.ts[-1] + k.minutes * 60_000 for k in market.klines.values())
    return first, end


def extremes(space: Space) -> list[dict[str, Any]]:
    """One parameter set per bound or choice of each parameter (the others at the base config's values)."""
    out: list[dict[str, Any]] = [{}]
    for p in space.params:
        values = list(p.choices) if p.kind == "choice" else [p.low if p.kind == "float" else int(p.low),
                                                              p.high if p.kind == "float" else int(p.high)]  # fmt: skip
        out += [{p.key: v} for v in values]
    return out


def warmup_and_embargo(base: Config, space: Space) -> tuple[int, int]:
    """The longest warm-up and the longest holding time (ms) any trial of the space can have."""
    from omni.engine.assembly import warmup_ms

    warm = embargo = 0
    for params in extremes(space):
        cfg = config_with(base, params)
        slowest = max(parse_timeframe(t) for t in cfg.strategy.timeframes)
        warm = max(warm, warmup_ms(cfg))
        embargo = max(embargo, cfg.strategy.max_hold_bars * slowest * 60_000)
    return warm, embargo


def meta_of(args: SweepArgs, space_text: str, base: Config, folds: list[Fold]) -> dict[str, Any]:
    return {
        "space": space_text, "data": [str(p) for p in args.data], "folds": [f.to_dict() for f in folds],
        "sampler": args.sampler, "batch": args.batch, "config": base.model_dump(mode="json"),
    }  # fmt: skip


def run_sweep(args: SweepArgs, base: Config, stream: TextIO = sys.stderr) -> int:
    """Run (or resume) a sweep; returns the exit code (0 done, 130 interrupted)."""
    space = load_space(args.space, base)
    base = config_with(base, {"market.source": "replay", "market.data_files": args.data})
    first, end = data_range(args.data)
    warm, embargo = warmup_and_embargo(base, space)
    try:
        folds = plan_folds(first, end, args.folds, warm, embargo)
    except ValueError as e:
        raise SweepError(str(e)) from None
    problem = check_memory(args.workers, args.data)
    if problem:
        raise SweepError(problem)
    study = open_study(args.out, meta_of(args, args.space.read_text(), base, folds), args.resume)
    raw_folds = [dataclasses.asdict(f) for f in folds]

    def spec(index: int, values: dict[str, Any]) -> dict[str, Any]:
        cfg = config_with(base, values)
        return {"index": index, "params": values, "config": cfg.model_dump(), "folds": raw_folds, "seed": space.seed}

    loop = Loop(study, space, args.sampler, args.trials, args.batch, spec)
    abandoned = loop.abandon_running()
    done0 = len(loop.done())
    eta = Eta(loop.n_trials, done0)
    tty = stream.isatty()
    print(f"sweep: {loop.n_trials} trials ({done0} done{', resuming' if args.resume else ''}"
          f"{f', {abandoned} interrupted trials run again' if abandoned else ''}), {len(folds)} folds of "
          f"~{folds[0].hours} h, sampler {args.sampler}, executor {args.executor} x {args.workers} "
          f"(~{worker_mb(args.data):,.0f} MB per worker), out {args.out}", file=stream)  # fmt: skip

    def progress(result: dict[str, Any]) -> None:
        trials = completed(study)
        n = len(loop.done())
        best = max(trials, key=lambda t: t["objective"])
        line = f"trials {n}/{loop.n_trials}  best in-sample: trial {best['index']} {best['objective']:+.2f} USDT"
        if len(trials) >= 2:
            chain = walk_forward_chain(report.matrices(trials)[0])
            line += f"  out-of-sample chain so far {chain.total:+.2f} USDT"
        line += f"  ETA {eta.left(n)}"
        print(("\r" if tty else "") + line, end="" if tty else "\n", file=stream, flush=True)

    loop.on_result = progress
    executor = make_executor(args.executor, args.workers, args.ray_address)
    code = 0
    try:
        loop.run(executor)
    except KeyboardInterrupt:
        code = 130
    finally:
        executor.close(kill=code != 0)
    if tty:
        print(file=stream)
    trials = completed(study)
    a = report.write(args.out, trials, folds, loop.n_trials, meta_of(args, "", base, folds) | {"data": args.data},
                     base, failures(study))  # fmt: skip
    if code:
        print(f"interrupted: {len(trials)} complete trials are kept in {args.out}; continue with the same command "
              "and --resume", file=stream)  # fmt: skip
    if a is None:
        print("fewer than 2 complete trials: no report yet", file=stream)
        return code
    chain, dsr, pbo = a["chain"], a["dsr"], a["pbo"]
    print(f"out of sample (nested walk-forward over {len(chain['steps'])} folds): {chain['total']:+.2f} USDT; "
          f"in-sample best: trial {a['best_in_sample']['trial']} {a['best_in_sample']['net']:+.2f} USDT; deflated "
          f"Sharpe {dsr['dsr']:.3f} (n_eff {dsr['n_eff']:.1f}); PBO {pbo['pbo']:.2f}", file=stream)  # fmt: skip
    print(f"wrote {args.out}/report.md, sweep.json, trials.csv, returns.csv, chosen.yaml", file=stream)
    return code

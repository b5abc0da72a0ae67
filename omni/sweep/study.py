"""The search loop of ``omni sweep``: Optuna asks, the executor runs trials, Optuna is told, in fixed batches.

- The study lives in ``<out>/study.journal`` (Optuna's journal file): an interrupted sweep continues with
  ``--resume``; ``<out>/sweep-meta.json`` records what the sweep is (space, data, folds, sampler, batch) and a
  resume with different settings is refused.
- Trials have a logical index 0..N-1. Random sampling draws trial i's values from a generator seeded by (sweep
  seed, i); grid sampling walks the grid in an order shuffled by the seed; both are enqueued, so their values do
  not depend on workers, batches or interruptions. TPE asks a whole batch (default 8) from a sampler seeded by
  (sweep seed, batch number) before any of its results are told: its results depend on the batch size, not on the
  number of workers.
- Every batch is told in index order once all its trials are done; an interrupted batch is run again on resume.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from omni.sweep.space import Param, Space

META, JOURNAL = "sweep-meta.json", "study.journal"
STUDY_NAME = "omni-sweep"


class SweepError(RuntimeError):
    """The sweep cannot start or go on; says why."""


def distribution(p: Param) -> BaseDistribution:
    """Optuna's distribution of a parameter; choices are asked by index (their values may be lists)."""
    if p.kind == "choice":
        return CategoricalDistribution(list(range(len(p.choices))))
    if p.kind == "int":
        return IntDistribution(int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return FloatDistribution(p.low, p.high, step=p.step, log=p.log)


def encode(space: Space, values: dict[str, Any]) -> dict[str, Any]:
    return {p.key: p.choices.index(values[p.key]) if p.kind == "choice" else values[p.key] for p in space.params}


def decode(space: Space, params: dict[str, Any]) -> dict[str, Any]:
    return {p.key: p.choices[params[p.key]] if p.kind == "choice" else params[p.key] for p in space.params}


def open_study(out: Path, meta: dict[str, Any], resume: bool) -> optuna.Study:
    """The study in ``out``: new (refused if one is there, unless resuming) or the one being resumed."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    meta_path, journal = out / META, out / JOURNAL
    if resume:
        if not meta_path.is_file() or not journal.is_file():
            raise SweepError(f"nothing to resume in {out} (no {META} or {JOURNAL})")
        saved = json.loads(meta_path.read_text())
        diff = sorted(k for k in set(saved) | set(meta) if saved.get(k) != meta.get(k))
        if diff:
            raise SweepError(f"{out} holds a different sweep ({', '.join(diff)} differ): resume it with the same "
                             "arguments, or use another --out")  # fmt: skip
    elif journal.exists():
        raise SweepError(f"{out} already holds a sweep: continue it with --resume, or use another --out")
    out.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta, indent=1, default=str) + "\n")
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return optuna.create_study(study_name=STUDY_NAME, storage=storage, direction="maximize", load_if_exists=True)


@dataclass
class Loop:
    study: optuna.Study
    space: Space
    sampler: str  # tpe | random | grid
    n_trials: int
    batch: int
    make_spec: Callable[[int, dict[str, Any]], dict[str, Any]]
    on_result: Callable[[dict[str, Any]], None] = lambda r: None
    order: list[int] = field(default_factory=list)  # grid: the shuffled grid positions

    def __post_init__(self) -> None:
        if self.sampler == "grid":
            grid = self.space.grid()
            rng = random.Random(f"{self.space.seed}:grid")
            self.order = list(range(len(grid)))
            rng.shuffle(self.order)
            self._grid = grid
            self.n_trials = min(self.n_trials, len(grid))

    def done(self) -> dict[int, optuna.trial.FrozenTrial]:
        """Finished trials by logical index (complete, or failed by an error of their own)."""
        out = {}
        for t in self.study.get_trials(deepcopy=False):
            idx = t.user_attrs.get("index")
            if idx is None:
                continue
            if t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and "error" in t.user_attrs):
                out[int(idx)] = t
        return out

    def abandon_running(self) -> int:
        """Mark trials left running by an interrupted process as failed (their batch runs again)."""
        n = 0
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(t.number, state=TrialState.FAIL)
            n += 1
        return n

    def values_for(self, index: int) -> dict[str, Any] | None:
        if self.sampler == "random":
            return self.space.sample(index)
        if self.sampler == "grid":
            return self._grid[self.order[index]]
        return None

    def run(self, executor: Any) -> None:
        """Run every missing trial, batch by batch."""
        dists = {p.key: distribution(p) for p in self.space.params}
        finished = self.done()
        for b in range(-(-self.n_trials // self.batch)):
            todo = [i for i in range(b * self.batch, min((b + 1) * self.batch, self.n_trials)) if i not in finished]
            if not todo:
                continue
            if self.sampler == "tpe":
                self.study.sampler = optuna.samplers.TPESampler(seed=(self.space.seed * 7919 + b) % 2**31)
            asked = []
            for i in todo:
                values = self.values_for(i)
                if values is not None:
                    self.study.enqueue_trial(encode(self.space, values), skip_if_exists=False)
                trial = self.study.ask(dists)
                trial.set_user_attr("index", i)
                asked.append((i, trial, decode(self.space, trial.params)))
            results: list[tuple[Any, dict[str, Any] | None, str | None]] = []
            runnable, specs = [], []
            for i, trial, values in asked:  # a combination the config refuses fails alone, before any run
                try:
                    specs.append(self.make_spec(i, values))
                    runnable.append(trial)
                except Exception as e:
                    results.append((trial, None, f"{type(e).__name__}: {e}"))
            try:
                for trial, result in zip(runnable, executor.run(specs), strict=True):
                    if isinstance(result, BrokenExecutor):
                        raise result
                    if isinstance(result, Exception):  # the trial's own error: recorded, the sweep goes on
                        results.append((trial, None, f"{type(result).__name__}: {result}"))
                    else:
                        results.append((trial, result, None))
            except (Exception, KeyboardInterrupt, SystemExit) as e:  # Ctrl-C, or the executor broke: rerun the batch
                final = {id(t) for t, _, err in results if err is not None}
                for t, _, err in results:
                    if err is not None:  # the trials' own errors stand
                        t.set_user_attr("error", err)
                        self.study.tell(t, state=TrialState.FAIL)
                for _, t, _ in asked:
                    if id(t) not in final:
                        self.study.tell(t, state=TrialState.FAIL)
                if isinstance(e, KeyboardInterrupt | SystemExit):
                    raise
                name = getattr(executor, "name", "trial")
                raise SweepError(f"the {name} executor failed ({type(e).__name__}: {e}); the study is kept: "
                                 "--resume runs this batch again") from e  # fmt: skip
            for trial, result, error in results:
                if result is None:
                    trial.set_user_attr("error", error)
                    self.study.tell(trial, state=TrialState.FAIL)
                    continue
                trial.set_user_attr("values", result["params"])
                trial.set_user_attr("folds", result["folds"])
                trial.set_user_attr("seconds", result["seconds"])
                self.study.tell(trial, result["objective"])
                self.on_result(result)


def completed(study: optuna.Study) -> list[dict[str, Any]]:
    """Every complete trial as {index, values, folds, objective, seconds}, by index."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        a = t.user_attrs
        out.append({"index": int(a["index"]), "values": a["values"], "folds": a["folds"], "objective": t.value,
                    "seconds": a.get("seconds")})  # fmt: skip
    return sorted(out, key=lambda r: r["index"])


def failures(study: optuna.Study) -> list[dict[str, Any]]:
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    return [{"index": t.user_attrs.get("index"), "error": t.user_attrs["error"]} for t in failed
            if "error" in t.user_attrs]  # fmt: skip


class Eta:
    def __init__(self, total: int, done: int):
        self.total, self.start_done, self.t0 = total, done, time.monotonic()

    def left(self, done: int) -> str:
        ran = done - self.start_done
        if ran <= 0:
            return "?"
        s = (time.monotonic() - self.t0) / ran * (self.total - done)
        return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"

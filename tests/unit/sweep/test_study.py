"""omni.sweep.study: the Optuna ask/tell loop in fixed batches, with a fake executor (instant, computed from the
params) and a real Optuna journal study in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from omni.config import load_config
from omni.sweep.space import Param, Space, config_with
from omni.sweep.study import (
    JOURNAL,
    META,
    Loop,
    SweepError,
    completed,
    decode,
    distribution,
    encode,
    failures,
    open_study,
)

X = Param("x", "float", 0.0, 6.0, 0.5)
N = Param("n", "int", 1, 4)
TF = Param("tf", "choice", choices=(["1m"], ["1m", "5m"]))
SPACE = Space((X, N, TF), seed=11)
GRID = Space((Param("n", "int", 1, 3), TF), seed=5)  # 6 points


def objective(params: dict[str, Any]) -> float:
    return -((params["x"] - 3) ** 2) - params["n"] + len(params["tf"]) if "x" in params else float(params["n"])


class Crash(BaseException):
    """A process killed mid-batch: nothing in the loop catches it."""


class Fake:
    """An executor: results in the order of the specs, computed instantly. Specs are numbered from 1 over the
    executor's whole life; ``errors`` = {number: exception} yielded in that trial's place (the trial's own error,
    as the real executors report it), ``raises`` = {number: exception} raised there (the executor itself fails,
    or Ctrl-C)."""

    def __init__(self, raises: dict[int, BaseException] | None = None, errors: dict[int, Exception] | None = None):
        self.raises, self.errors = dict(raises or {}), dict(errors or {})
        self.batches: list[list[int]] = []
        self.seen = 0

    def run(self, specs: list[dict[str, Any]]):
        self.batches.append([s["index"] for s in specs])
        for s in specs:
            self.seen += 1
            if self.seen in self.raises:
                raise self.raises.pop(self.seen)
            if self.seen in self.errors:
                yield self.errors.pop(self.seen)
                continue
            folds = [{"index": 0, "net": objective(s["params"])}]
            yield {"index": s["index"], "params": s["params"], "folds": folds, "objective": objective(s["params"]),
                   "seconds": 0}  # fmt: skip


def spec(index: int, values: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "params": values}


def meta(sampler: str, batch: int, **extra: Any) -> dict[str, Any]:
    return {"sampler": sampler, "batch": batch, "space": "x, n, tf"} | extra


def sweep(
    out: Path, sampler: str, n: int, batch: int, space: Space = SPACE, resume: bool = False, executor: Any = None
) -> tuple[Loop, Fake]:
    study = open_study(out, meta(sampler, batch), resume)
    loop = Loop(study, space, sampler, n, batch, spec)
    ex = executor or Fake()
    loop.run(ex)
    return loop, ex


def values(loop: Loop) -> dict[int, dict[str, Any]]:
    return {r["index"]: r["values"] for r in completed(loop.study)}


# --- distributions and encoding -------------------------------------------------------------------------------


def test_distribution_of_each_kind():
    assert distribution(X) == FloatDistribution(0.0, 6.0, step=0.5)
    assert distribution(Param("f", "float", 0.1, 10.0, log=True)) == FloatDistribution(0.1, 10.0, log=True)
    assert distribution(Param("i", "int", 5, 60, 5)) == IntDistribution(5, 60, step=5)
    assert distribution(N) == IntDistribution(1, 4, step=1)
    assert distribution(TF) == CategoricalDistribution([0, 1])


def test_encode_decode_choices_by_index():
    v = {"x": 2.5, "n": 3, "tf": ["1m", "5m"]}
    assert encode(SPACE, v) == {"x": 2.5, "n": 3, "tf": 1}
    assert decode(SPACE, encode(SPACE, v)) == v


# --- random and grid: values independent of the batch size ----------------------------------------------------


def test_random_values_are_independent_of_the_batch_size(tmp_path):
    runs = {b: values(sweep(tmp_path / f"b{b}", "random", 10, b)[0]) for b in (1, 3, 8)}
    assert runs[1] == runs[3] == runs[8]
    assert runs[1] == {i: SPACE.sample(i) for i in range(10)}


def test_random_results_are_told_in_index_order_batch_by_batch(tmp_path):
    study = open_study(tmp_path, meta("random", 3), False)
    seen: list[int] = []
    loop = Loop(study, SPACE, "random", 7, 3, spec, on_result=lambda r: seen.append(r["index"]))
    ex = Fake()
    loop.run(ex)
    assert ex.batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert seen == list(range(7))
    assert [t.user_attrs["index"] for t in study.get_trials()] == list(range(7))
    rows = completed(study)
    assert [r["index"] for r in rows] == list(range(7))
    for r in rows:
        assert r["objective"] == objective(r["values"])
        assert r["folds"] == [{"index": 0, "net": r["objective"]}]
        assert r["seconds"] == 0
    trial = study.get_trials()[4]
    assert decode(SPACE, trial.params) == SPACE.sample(4)  # Optuna holds the same values


def test_grid_values_are_independent_of_the_batch_size_and_never_repeat(tmp_path):
    runs = {b: values(sweep(tmp_path / f"b{b}", "grid", 4, b, GRID)[0]) for b in (1, 3, 8)}
    assert runs[1] == runs[3] == runs[8]
    points = [(v["n"], tuple(v["tf"])) for v in runs[1].values()]
    assert len(points) == 4 == len(set(points))
    assert all(v in GRID.grid() for v in runs[1].values())


def test_grid_n_trials_is_capped_at_the_grid_and_covers_it_once(tmp_path):
    loop, ex = sweep(tmp_path, "grid", 50, 4, GRID)
    assert loop.n_trials == 6
    assert sum(len(b) for b in ex.batches) == 6
    got = sorted((v["n"], tuple(v["tf"])) for v in values(loop).values())
    assert got == sorted((g["n"], tuple(g["tf"])) for g in GRID.grid())


def test_grid_order_is_shuffled_by_the_seed(tmp_path):
    a = values(sweep(tmp_path / "a", "grid", 6, 6, GRID)[0])
    b = values(sweep(tmp_path / "b", "grid", 6, 6, Space(GRID.params, seed=6))[0])
    assert sorted(map(repr, a.values())) == sorted(map(repr, b.values()))
    assert a != b


# --- TPE ------------------------------------------------------------------------------------------------------


def test_tpe_same_seed_and_batch_gives_the_same_values(tmp_path):
    a, _ = sweep(tmp_path / "a", "tpe", 14, 4)
    b, _ = sweep(tmp_path / "b", "tpe", 14, 4)
    assert len(values(a)) == 14
    assert values(a) == values(b)
    for v in values(a).values():
        assert v["x"] in X.grid() and v["n"] in N.grid() and v["tf"] in TF.choices
    c, _ = sweep(tmp_path / "c", "tpe", 14, 4, Space(SPACE.params, seed=12))
    assert values(c) != values(a)


def test_tpe_interrupted_batch_reruns_to_the_same_values(tmp_path):
    whole, _ = sweep(tmp_path / "whole", "tpe", 14, 4)
    with pytest.raises(KeyboardInterrupt):
        sweep(tmp_path / "cut", "tpe", 14, 4, executor=Fake(raises={11: KeyboardInterrupt()}))
    again, _ = sweep(tmp_path / "cut", "tpe", 14, 4, resume=True)
    assert values(again) == values(whole)


# --- resume ---------------------------------------------------------------------------------------------------


def test_resume_completes_the_rest_like_an_uninterrupted_run(tmp_path):
    first, _ = sweep(tmp_path / "cut", "random", 5, 3)
    assert sorted(first.done()) == [0, 1, 2, 3, 4]
    second, ex2 = sweep(tmp_path / "cut", "random", 10, 3, resume=True)
    assert ex2.batches == [[5], [6, 7, 8], [9]]  # only the missing trials run
    assert sorted(second.done()) == list(range(10))
    whole, _ = sweep(tmp_path / "whole", "random", 10, 3)
    assert values(second) == values(whole)


def test_interrupted_batch_is_failed_then_run_again(tmp_path):
    study = open_study(tmp_path, meta("random", 3), False)
    loop = Loop(study, SPACE, "random", 6, 3, spec)
    with pytest.raises(KeyboardInterrupt):
        loop.run(Fake(raises={2: KeyboardInterrupt()}))
    states = [(t.user_attrs["index"], t.state) for t in study.get_trials()]
    assert states == [(0, TrialState.FAIL), (1, TrialState.FAIL), (2, TrialState.FAIL)]  # even trial 0, done first
    assert loop.done() == {}
    assert completed(study) == [] and failures(study) == []  # interrupted, not an error of the trials
    assert loop.abandon_running() == 0  # nothing left running: the loop failed them itself
    ex = Fake()
    loop.run(ex)
    assert ex.batches == [[0, 1, 2], [3, 4, 5]]
    assert values(loop) == {i: SPACE.sample(i) for i in range(6)}


def test_killed_process_leaves_running_trials_that_resume_abandons(tmp_path):
    with pytest.raises(Crash):
        sweep(tmp_path, "random", 6, 3, executor=Fake(raises={5: Crash()}))
    study = open_study(tmp_path, meta("random", 3), True)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING] * 3
    loop = Loop(study, SPACE, "random", 6, 3, spec)
    assert loop.abandon_running() == 3
    assert loop.abandon_running() == 0
    assert sorted(loop.done()) == [0, 1, 2]
    ex = Fake()
    loop.run(ex)
    assert ex.batches == [[3, 4, 5]]
    assert values(loop) == {i: SPACE.sample(i) for i in range(6)}


# --- trial errors ---------------------------------------------------------------------------------------------


def test_trial_error_is_recorded_and_the_sweep_goes_on(tmp_path):
    loop, ex = sweep(tmp_path, "random", 7, 3, executor=Fake(errors={2: ValueError("bad fold")}))
    assert ex.batches == [[0, 1, 2], [3, 4, 5], [6]]  # the next batches ran
    assert failures(loop.study) == [{"index": 1, "error": "ValueError: bad fold"}]  # only the trial that failed
    assert sorted(r["index"] for r in completed(loop.study)) == [0, 2, 3, 4, 5, 6]
    assert sorted(loop.done()) == list(range(7))  # an error of its own: finished, not run again
    again = Fake()
    Loop(open_study(tmp_path, meta("random", 3), True), SPACE, "random", 7, 3, spec).run(again)
    assert again.batches == []


def test_an_executor_failure_stops_the_sweep_and_its_batch_runs_again_on_resume(tmp_path):
    # the executor itself breaks on the 5th spec (the 2nd of batch [3, 4, 5]): not a trial's error, so the
    # sweep stops saying so, nothing of that batch counts as done, and --resume runs the whole batch again
    with pytest.raises(SweepError, match=r"executor failed .*ValueError: pool broke.*--resume"):
        sweep(tmp_path, "random", 7, 3, executor=Fake(raises={5: ValueError("pool broke")}))
    study = open_study(tmp_path, meta("random", 3), True)
    assert failures(study) == []
    assert sorted(r["index"] for r in completed(study)) == [0, 1, 2]
    again = Fake()
    Loop(study, SPACE, "random", 7, 3, spec).run(again)
    assert again.batches == [[3, 4, 5], [6]]
    assert sorted(r["index"] for r in completed(study)) == list(range(7))


RISK = Space((Param("risk.max_loss_per_trade_usdt", "float", 1.0, 3.0, 0.5),
              Param("risk.max_daily_loss_usdt", "float", 1.0, 3.0, 0.5)), seed=3)  # fmt: skip


def test_refused_combination_fails_only_its_own_trial(tmp_path):
    # each bound passes load_space alone, but daily < per-trade is refused by the config: a realistic space
    base = load_config(None)

    def config_spec(index: int, values: dict[str, Any]) -> dict[str, Any]:
        config_with(base, values)  # as run_sweep's spec does
        return {"index": index, "params": {"x": 3.0, "n": 1, "tf": ["1m"]}}

    refused = {i for i in range(8) if RISK.sample(i)["risk.max_daily_loss_usdt"]
               < RISK.sample(i)["risk.max_loss_per_trade_usdt"]}  # fmt: skip
    assert refused and len(refused) < 8
    assert any(0 < len(refused & set(range(b, b + 4))) < 4 for b in (0, 4))  # a batch mixes both
    study = open_study(tmp_path, meta("random", 4), False)
    Loop(study, RISK, "random", 8, 4, config_spec).run(Fake())
    assert {f["index"] for f in failures(study)} == refused
    assert all("risk.max_daily_loss_usdt" in f["error"] for f in failures(study))
    assert {r["index"] for r in completed(study)} == set(range(8)) - refused


# --- open_study -----------------------------------------------------------------------------------------------


def test_open_study_writes_meta_and_journal(tmp_path):
    out = tmp_path / "new" / "dir"
    open_study(out, meta("random", 3), False)
    assert (out / META).is_file() and (out / JOURNAL).is_file()


def test_second_sweep_in_the_same_dir_is_refused(tmp_path):
    sweep(tmp_path, "random", 2, 2)
    with pytest.raises(SweepError, match=r"already holds a sweep.*--resume"):
        open_study(tmp_path, meta("random", 2), False)
    assert len(open_study(tmp_path, meta("random", 2), True).get_trials()) == 2  # resume keeps it


def test_resume_with_different_meta_names_the_keys(tmp_path):
    sweep(tmp_path, "random", 2, 2)
    with pytest.raises(SweepError) as e:
        open_study(tmp_path, meta("tpe", 4), True)
    assert "(batch, sampler differ)" in str(e.value)
    with pytest.raises(SweepError, match=r"\(folds differ\)"):
        open_study(tmp_path, meta("random", 2, folds=4), True)
    with pytest.raises(SweepError, match=r"\(space differ\)"):
        open_study(tmp_path, {"sampler": "random", "batch": 2}, True)


@pytest.mark.parametrize("sub", ["", "missing"])
def test_resume_of_nothing_is_refused(tmp_path, sub):
    with pytest.raises(SweepError, match="nothing to resume"):
        open_study(tmp_path / sub, meta("random", 2), True)


def test_resume_without_journal_is_refused(tmp_path):
    (tmp_path / META).write_text("{}")
    with pytest.raises(SweepError, match="nothing to resume"):
        open_study(tmp_path, meta("random", 2), True)

"""The local executor: results in the order of the specs, a trial that raises gives its error in its place (the
others are kept), and the memory check says what would not fit."""

from __future__ import annotations

from pathlib import Path

from omni.sweep import executors
from omni.sweep.executors import LocalExecutor, check_memory


def test_a_failing_trial_gives_its_error_in_its_place_and_the_others_run():
    # a spec whose config is not a config fails inside the worker; the one after it (no folds: nothing to run)
    # still runs and comes back in its place
    fold = {"index": 0, "replay_from": 0, "trade_from": 60_000, "end": 3_660_000}
    bad = {"index": 0, "params": {}, "config": {"capital_usdt": "lots"}, "folds": [fold], "seed": 0}
    good = {"index": 1, "params": {"x": 1}, "config": {}, "folds": [], "seed": 0}
    ex = LocalExecutor(1)
    try:
        out = list(ex.run([bad, good]))
    finally:
        ex.close()
    assert isinstance(out[0], Exception) and "capital_usdt" in str(out[0])
    assert out[1] == {"index": 1, "params": {"x": 1}, "folds": [], "objective": 0, "seconds": out[1]["seconds"]}


def test_memory_check_names_the_numbers_and_a_worker_count_that_fits(monkeypatch, tmp_path: Path):
    data = tmp_path / "BTCUSDT.csv.gz"
    data.write_bytes(b"x" * 17_000_000)  # ~1 M bars
    monkeypatch.setattr(executors, "available_mb", lambda: 1000.0)
    need = executors.worker_mb([data])
    assert need == executors.WORKER_BASE_MB + 1_000_000 * executors.BYTES_PER_BAR / 1e6
    assert check_memory(1, [data]) is None
    msg = check_memory(4, [data])
    assert msg is not None and "4 workers need" in msg and "1,000 MB are available" in msg and "--workers 2" in msg

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


def test_a_stopped_sweep_ends_its_running_trials_at_once_and_leaves_no_fold_directory(monkeypatch, tmp_path: Path):
    """``close(kill=True)`` (after Ctrl-C) ends a worker in the middle of a fold at once: the backtest inside it
    does not take the SIGTERM as a graceful stop of its fold and go on to the next folds, and the fold directory
    it was writing is removed."""
    import gzip
    import random
    import threading
    import time

    from omni.config import Config
    from omni.sweep.space import apply

    rnd, t0, price = random.Random(2), 1_746_057_600_000, 50.0
    rows = ["ts,open,high,low,close,volume"]
    for i in range(4 * 1440):
        o, price = price, round(price * (1 + rnd.gauss(0, 0.0015)), 4)
        rows.append(f"{t0 + i * 60_000},{o},{max(o, price) * 1.0004:.4f},{min(o, price) * 0.9996:.4f},{price},1000")
    data = tmp_path / "AAAUSDT.csv.gz"
    data.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    doc = apply(Config().model_dump(), {"market.source": "replay", "market.data_files": [data]})
    day = 86_400_000
    folds = [{"index": k, "replay_from": t0 + k * day, "trade_from": t0 + k * day + 3_600_000,
              "end": t0 + (k + 1) * day} for k in range(4)]  # fmt: skip
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the spawned workers' tempfile directory
    ex = LocalExecutor(1)
    try:
        results = ex.run([{"index": 0, "params": {}, "config": doc, "folds": folds, "seed": 0}])
        threading.Thread(target=lambda: next(results, None), daemon=True).start()
        deadline = time.monotonic() + 60
        while not list(tmp.glob("omni-sweep-fold*")) and time.monotonic() < deadline:  # a fold is running
            time.sleep(0.02)
        assert list(tmp.glob("omni-sweep-fold*")), "the trial never started"
        workers = list(ex.pool._processes.values())
    finally:
        ex.close(kill=True)
    for p in workers:
        p.join(2.0)
        assert not p.is_alive() and p.exitcode == 143, p.exitcode  # the handler's exit (128 + SIGTERM)
    assert not list(tmp.glob("omni-sweep-fold*"))

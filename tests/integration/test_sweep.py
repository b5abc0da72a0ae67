"""`omni sweep` end to end, as a user runs it (the real command, real backtests per fold): the same results with 1
and 2 workers and on a local Ray, TPE reproducible for a batch size, Ctrl-C keeps the study and --resume finishes
it with the results of an uninterrupted sweep; the report's files and the chosen config."""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import omni_env

T0 = 1_746_057_600_000  # 2025-05-01 00:00 UTC
DAYS = 3
BASE = """\
capital_usdt: 1000
targets: {min_net_profit_usdt: 0.3}
ghost: {min_ev_lower_usdt: -1000, min_samples: 5}
pacer: {spacing: false}
strategy: {timeframes: [1m]}
risk: {max_loss_per_trade_usdt: 2, max_daily_loss_usdt: 50, max_drawdown_pct: 50}
scanner: {min_turnover_usdt: 0}
"""
SPACE = """\
seed: 3
params:
  strategy.take_profit_atr: {low: 2.0, high: 5.0, step: 1.0}
  strategy.stop_atr: {low: 1.0, high: 2.0, step: 0.5}
  strategy.max_hold_bars: {low: 10, high: 30, step: 10}
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sweep")
    rnd = random.Random(11)
    for k, symbol in enumerate(("AAAUSDT", "BBBUSDT", "CCCUSDT")):
        price = (50.0, 8.0, 1200.0)[k]
        rows = ["ts,open,high,low,close,volume"]
        for i in range(DAYS * 1440):
            o = price
            price = round(price * (1 + rnd.gauss(0, 0.0015)), 4)
            h, lo = round(max(o, price) * (1 + abs(rnd.gauss(0, 0.0005))), 4), round(min(o, price) * 0.9996, 4)
            rows.append(f"{T0 + i * 60_000},{o},{h},{lo},{price},{rnd.uniform(100, 5000):.2f}")
        path = d / "data" / f"{symbol}.csv.gz"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    (d / "base.yaml").write_text(BASE)
    (d / "space.yaml").write_text(SPACE)
    return d


def sweep_cmd(d: Path, out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "omni", "sweep", "--space", str(d / "space.yaml"), "--config", str(d / "base.yaml"),
            "--data", *map(str, sorted((d / "data").glob("*.csv.gz"))), "--folds", "2", "--out", str(d / out),
            *extra]  # fmt: skip


def run(d: Path, out: str, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(sweep_cmd(d, out, *extra), capture_output=True, text=True, timeout=timeout, cwd=d,
                          env=omni_env())  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def results(d: Path, out: str) -> tuple[list[list[str]], dict]:
    """trials.csv without its timing column, and sweep.json's figures."""
    with (d / out / "trials.csv").open() as f:
        rows = [r[:-1] for r in csv.reader(f)]
    doc = json.loads((d / out / "sweep.json").read_text())
    return rows, {k: doc[k] for k in ("chain", "best_in_sample", "dsr", "pbo", "folds")}


def test_a_random_sweep_gives_the_same_results_with_one_worker_two_workers_and_ray(workdir):
    run(workdir, "r1", "--sampler", "random", "--trials", "4", "--batch", "4", "--workers", "1")
    run(workdir, "r2", "--sampler", "random", "--trials", "4", "--batch", "4", "--workers", "2")
    one, two = results(workdir, "r1"), results(workdir, "r2")
    assert one == two
    rows = one[0]
    assert len(rows) == 5 and len({tuple(r[1:4]) for r in rows[1:]}) > 1  # 4 trials, not all the same values
    assert any(float(r[4]) != 0 for r in rows[1:])  # trials traded: the comparison compares something
    pytest.importorskip("ray")
    run(workdir, "ray", "--sampler", "random", "--trials", "4", "--batch", "4", "--workers", "2", "--executor", "ray")
    assert results(workdir, "ray") == one


def test_tpe_is_reproducible_for_a_batch_size_whatever_the_workers(workdir):
    run(workdir, "t1", "--sampler", "tpe", "--trials", "4", "--batch", "2", "--workers", "1")
    run(workdir, "t2", "--sampler", "tpe", "--trials", "4", "--batch", "2", "--workers", "2")
    assert results(workdir, "t1") == results(workdir, "t2")


def test_ctrl_c_keeps_the_study_and_resume_finishes_it_as_if_uninterrupted(workdir):
    args = ("--sampler", "random", "--trials", "6", "--batch", "2", "--workers", "1")
    proc = subprocess.Popen(sweep_cmd(workdir, "cut", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=workdir, env=omni_env())  # fmt: skip
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 300
    for line in proc.stderr:  # one line per finished trial when not on a terminal
        seen.append(line)
        if line.startswith("trials 3/6") or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + rest
    assert "interrupted: " in rest and "--resume" in rest
    kept = results(workdir, "cut")[0]
    assert 3 <= len(kept) - 1 < 6  # the finished trials are in the report already
    done = run(workdir, "cut", *args, "--resume")
    assert "resuming" in done.stderr
    run(workdir, "whole", *args)
    assert results(workdir, "cut") == results(workdir, "whole")


def test_the_report_files_and_the_chosen_config(workdir):
    out = workdir / "r1"
    if not out.exists():
        run(workdir, "r1", "--sampler", "random", "--trials", "4", "--batch", "4", "--workers", "1")
    report = (out / "report.md").read_text()
    assert "nested walk-forward" in report and "in-sample" in report and "PBO" in report and "DSR" in report
    doc = json.loads((out / "sweep.json").read_text())
    with (out / "returns.csv").open() as f:
        rows = list(csv.reader(f))
    assert len(rows) - 1 == sum(f["hours"] for f in doc["folds"]) and len(rows[0]) == 1 + 4
    chosen = (out / "chosen.yaml").read_text()
    assert chosen.startswith("# Written by omni sweep") and "IN-SAMPLE" in chosen
    check = subprocess.run([sys.executable, "-m", "omni", "check-config", str(out / "chosen.yaml")],
                           capture_output=True, text=True, timeout=60, env=omni_env())  # fmt: skip
    assert check.returncode == 0, check.stderr
    # the chain's steps are the trials best on the folds before each fold
    nets = {int(r[0]): [float(x) for x in r[4:6]] for r in results(workdir, "r1")[0][1:]}
    [step] = doc["chain"]["steps"]
    assert step["trial"] == max(nets, key=lambda i: (nets[i][0], -i))
    assert doc["chain"]["total"] == pytest.approx(nets[step["trial"]][1])


def test_a_bad_space_is_refused_naming_the_key(workdir):
    bad = workdir / "bad.yaml"
    bad.write_text("params:\n  strategy.take_proft_atr: {low: 1, high: 2}\n")
    cmd = sweep_cmd(workdir, "bad")
    cmd[cmd.index("--space") + 1] = str(bad)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=workdir, env=omni_env())
    assert proc.returncode == 2 and "strategy.take_proft_atr" in proc.stderr and "take_profit_atr" in proc.stderr
    assert not (workdir / "bad").exists()

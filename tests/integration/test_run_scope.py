"""Run state scoped to what it describes: runs of different markets in one working directory never mix accounts, a
resumed run says so in one plain line, and a resumed ``--duration`` covers that much market time from the resume."""

from __future__ import annotations

import gzip
import json
import signal
import sqlite3
from datetime import UTC, datetime

from tests.integration.conftest import ACTIVE, assert_accounting_identity, run_omni
from tests.integration.test_daemon_bybit import daemon_env, free_port, start_emulator

FAST = {"OMNI_MARKET__SYMBOLS": "20", **ACTIVE, "OMNI_RISK__MAX_DAILY_LOSS_USDT": "100",
        "OMNI_RISK__MAX_DRAWDOWN_PCT": "100"}  # fmt: skip


def identity_of(tmp_path) -> dict:
    db = sqlite3.connect(tmp_path / "omni-state" / "journal.sqlite")
    try:
        return json.loads(db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()[0])
    finally:
        db.close()


def write_replay(path, start_ms: int, minutes: int = 600) -> None:
    with gzip.open(path, "wt") as f:
        f.write("ts,open,high,low,close,volume\n")
        for i in range(minutes):
            p = 30_000 + (i % 50) * 10
            f.write(f"{start_ms + i * 60_000},{p},{p + 15},{p - 15},{p + 5},12.5\n")


def test_a_replay_never_resumes_a_synthetic_account(tmp_path):
    # Arrange: a synthetic run leaves its journal in ./omni-state
    first = run_omni(["run", "--speed", "max", "--duration", "7200"], tmp_path, **FAST)
    assert first.returncode == 0, first.stderr
    assert identity_of(tmp_path)["market"] == "synthetic"
    data = tmp_path / "BTCUSDT.csv.gz"
    write_replay(data, 1_748_736_000_000)
    # Act: a replay in the same directory
    replay = run_omni(["run", "--speed", "max", "--data", str(data)], tmp_path, **FAST)
    # Assert: refused, naming both, nothing written into the synthetic account's journal
    assert replay.returncode == 2, replay.stderr
    assert "sim synthetic seed 42" in replay.stderr and "sim replay of BTCUSDT.csv.gz" in replay.stderr
    assert "--fresh" in replay.stderr
    assert identity_of(tmp_path)["market"] == "synthetic"
    # Act: the same replay with --fresh
    fresh = run_omni(["run", "--speed", "max", "--fresh", "--data", str(data)], tmp_path, **FAST)
    # Assert: a new journal for the replay, the synthetic one kept beside it, the replay's own account
    assert fresh.returncode == 0, fresh.stderr
    assert identity_of(tmp_path)["market"] == "replay"
    kept = [p.name for p in (tmp_path / "omni-state").glob("journal.*.sqlite")]
    assert len(kept) == 1, kept
    assert fresh.summary["capital_start"] == "12" and not fresh.named("sim_resumed")


def test_a_resumed_run_says_so_and_its_duration_counts_from_the_resume(tmp_path):
    # Arrange: two market hours, positions kept open at the stop
    first = run_omni(["run", "--speed", "max", "--duration", "7200"], tmp_path, OMNI_ENGINE__ON_SHUTDOWN="keep", **FAST)
    assert first.returncode == 0, first.stderr
    stopped_at = first.summary["market_ts"]
    # Act: resume for one more market hour, closing at the end
    second = run_omni(["run", "--speed", "max", "--duration", "3600"], tmp_path, **FAST)
    # Assert
    assert second.returncode == 0, second.stderr
    line = [x for x in second.stderr.splitlines() if x.startswith("resuming the journal")]
    assert len(line) == 1 and "--fresh" in line[0] and "sim synthetic seed 42" in line[0]
    when = datetime.fromtimestamp(stopped_at / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert when in line[0]
    assert second.summary["market_ts"] >= stopped_at + 3_600_000 - 60_000  # an hour of market time from the resume
    assert second.summary["active_trades"] == 0  # closed at the end: the venue had prices for every position
    assert not second.named("shutdown_positions_left") and not second.named("shutdown_close_deferred")
    assert_accounting_identity(second.summary)


def test_a_bybit_run_never_resumes_a_sim_account(tmp_path):
    # Arrange: a synthetic run's journal, then the emulator (a Bybit account)
    first = run_omni(["run", "--speed", "max", "--duration", "3600"], tmp_path, **FAST)
    assert first.returncode == 0, first.stderr
    port = free_port()
    emulator = start_emulator(port, tmp_path)
    try:
        env = {k: v for k, v in daemon_env(port).items() if k.startswith(("OMNI_", "BYBIT_"))}
        # Act: the Bybit venue in the same directory, for a few seconds
        refused = run_omni(["run", "--venue", "bybit-testnet", "--duration", "60"], tmp_path, timeout=60, **env)
        fresh = run_omni(["run", "--venue", "bybit-testnet", "--fresh", "--duration", "60"], tmp_path, timeout=90,
                         **env)  # fmt: skip
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(10)
    # Assert: refused naming both (the emulator's account id included), then its own journal with --fresh
    assert refused.returncode == 2, refused.stderr
    assert "sim synthetic seed 42" in refused.stderr and "bybit-testnet at 127.0.0.1" in refused.stderr
    assert "account 100001" in refused.stderr  # the emulator key's userID
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    ident = identity_of(tmp_path)
    assert ident["venue"] == "bybit-testnet" and ident["user_id"] is not None
    assert_accounting_identity(fresh.summary)

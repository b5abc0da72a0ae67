"""Crash test: `omni run` on the sim is killed with SIGKILL at random moments (seeded), 20 times, each time
restarted from its journal. After every restart the journal must be consistent with the venue, no position may
lack a stop-loss, no order or fill may be duplicated, and at the end the accounting identity holds exactly."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from omni.journal import Journal, JournalError
from tests.integration.conftest import ACTIVE, omni_env

KILLS = 20


def journal_checks(path) -> dict:
    j = Journal(path, read_only=True)
    try:
        positions = j.open_positions()
        assert all(p["stop_loss"] for p in positions), positions  # never a position without a stop
        orders = j.rows("SELECT client_id, count(*) AS n FROM orders GROUP BY client_id HAVING n > 1")
        assert orders == []  # no order journaled twice
        fills = j.rows("SELECT exec_id, count(*) AS n FROM fills GROUP BY exec_id HAVING n > 1")
        assert fills == []
        linked = j.rows(
            "SELECT count(*) AS n FROM fills f WHERE f.client_id != '' AND NOT EXISTS "
            "(SELECT 1 FROM orders o WHERE o.client_id = f.client_id)"
        )
        assert linked[0]["n"] == 0  # every fill of ours has its order (written before it was sent)
        return {
            "positions": len(positions),
            "fills": j.rows("SELECT count(*) AS n FROM fills")[0]["n"],
            "ledger": j.ledger(),
            "capital_start": Decimal(j.meta("capital_start")),
        }
    finally:
        j.close()


def fill_count(path) -> int:
    """Fills in the journal so far (0 while it does not exist or is being created)."""
    if not path.exists():
        return 0
    try:
        j = Journal(path, read_only=True)
        try:
            return j.rows("SELECT count(*) AS n FROM fills")[0]["n"]
        finally:
            j.close()
    except JournalError:
        return 0


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_or_duplicates(tmp_path):
    rng = random.Random(20261125)
    env = omni_env(
        OMNI_MARKET__SYMBOLS="12",
        OMNI_MARKET__SPEED="max",
        OMNI_ENGINE__STATE_DIR=str(tmp_path / "st"),
        OMNI_CAPITAL_USDT="1000",
        OMNI_RISK__MAX_DRAWDOWN_PCT="100",
        OMNI_RISK__MAX_DAILY_LOSS_USDT="100",
        OMNI_TELEMETRY__LOG_LEVEL="warning",
        **ACTIVE,
    )
    cmd = [sys.executable, "-m", "omni", "run", "--duration", str(12 * 86400)]
    journal = tmp_path / "st" / "journal.sqlite"
    seen_fills = 0
    killed_with_positions = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env
        )
        # kill while it trades: once new fills reach the journal (whatever the machine's speed), after a
        # random extra moment
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None and fill_count(journal) <= seen_fills:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if not journal.exists():
            continue
        state = journal_checks(journal)
        assert state["fills"] >= seen_fills  # nothing already journaled was lost
        seen_fills = state["fills"]
        killed_with_positions += state["positions"] > 0
    # the last run goes to the end of the market time
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [*cmd, "--summary-json", str(summary)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    state = journal_checks(journal)
    assert seen_fills > 0 and state["fills"] >= seen_fills
    assert killed_with_positions >= 5  # the kills really hit a trading daemon with open positions
    s = json.loads(summary.read_text())
    ledger = state["ledger"]
    expected = state["capital_start"] + ledger["realised"] - ledger["fees"] - ledger["funding"]
    assert Decimal(s["capital"]) == expected  # the identity, over every run since the first
    assert Decimal(s["capital_start"]) == state["capital_start"]

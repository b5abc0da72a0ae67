"""A daemon run leaves a journal consistent with what happened; `omni status` reads it."""

from __future__ import annotations

import json
from decimal import Decimal

from omni.journal import Journal
from tests.integration.conftest import ACTIVE, run_omni


def test_journal_matches_the_run_and_status_reads_it(tmp_path):
    run = run_omni(
        ["run", "--speed", "max", "--duration", "43200"],
        tmp_path,
        OMNI_MARKET__SYMBOLS="30",
        OMNI_ENGINE__ON_SHUTDOWN="keep",
        OMNI_RISK__MAX_DRAWDOWN_PCT="100",
        OMNI_RISK__MAX_DAILY_LOSS_USDT="100",
        **ACTIVE,
    )
    assert run.returncode == 0, run.stderr
    j = Journal(tmp_path / "omni-state" / "journal.sqlite", read_only=True)
    s = run.summary
    fills = j.rows("SELECT * FROM fills")
    assert fills
    # every fill of ours belongs to an order whose link id was journaled (before it was sent)
    ids = {r["client_id"] for r in j.rows("SELECT client_id FROM orders")}
    assert all(f["client_id"] in ids for f in fills if f["client_id"])
    # exact money: the journal's ledger gives the run's capital to the last 1e-8
    realised = sum((Decimal(f["realised_pnl"]) for f in fills if f["exec_type"] != "Funding"), Decimal(0))
    fees = sum((Decimal(f["fee"]) for f in fills if f["exec_type"] != "Funding"), Decimal(0))
    funding = sum((Decimal(f["fee"]) for f in fills if f["exec_type"] == "Funding"), Decimal(0))
    assert Decimal(s["capital_start"]) + realised - fees - funding == Decimal(s["capital"])
    open_positions = j.rows("SELECT symbol, stop_loss FROM positions WHERE size != '0'")
    assert len(open_positions) == s["active_trades"] > 0
    assert all(p["stop_loss"] for p in open_positions)
    assert j.rows("SELECT count(*) AS n FROM decisions")[0]["n"] >= s["trades_total"]
    # omni status, after the daemon stopped
    st = run_omni(["status", "--json"], tmp_path)
    assert st.returncode == 0, st.stderr
    report = json.loads(st.stdout)
    assert report["capital"] == s["capital"] and report["active_trades"] == s["active_trades"]
    assert report["kill_switch"] is None


def test_a_corrupted_journal_stops_the_daemon_with_a_clear_error(tmp_path):
    state = tmp_path / "omni-state"
    state.mkdir()
    (state / "journal.sqlite").write_bytes(b"garbage" * 1000)
    run = run_omni(["run", "--speed", "max", "--duration", "600"], tmp_path)
    assert run.returncode == 2 and "journal" in run.stderr and "journal.sqlite" in run.stderr

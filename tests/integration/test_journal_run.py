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


def test_a_locked_journal_is_a_clear_error(tmp_path):
    import sqlite3

    from omni.journal import Journal as J

    path = tmp_path / "omni-state" / "journal.sqlite"
    J(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        run = run_omni(["run", "--speed", "max", "--duration", "600"], tmp_path, OMNI_MARKET__SYMBOLS="5")
    finally:
        holder.close()
    assert run.returncode == 2 and "journal" in run.stderr and "locked" in run.stderr


def test_disk_full_stops_the_daemon_cleanly_and_says_so(tmp_path):
    import asyncio

    from structlog.testing import capture_logs

    from omni.config import load_config
    from omni.engine.assembly import assemble
    from omni.engine.supervisor import Supervisor
    from omni.logsetup import get

    cfg = load_config(
        None,
        env={
            "OMNI_MARKET__SYMBOLS": "20",
            "OMNI_MARKET__SPEED": "max",
            "OMNI_ENGINE__STATE_DIR": str(tmp_path),
            "OMNI_ENGINE__RESTART_BACKOFF_S": "0.01",
            "OMNI_ENGINE__MAX_TASK_RESTARTS": "1",
            **ACTIVE,
            # it keeps trading (no kill switch) for longer than the journal task takes to give up (~1 s): the
            # journal's failure, not the end of the market, stops it
            "OMNI_CAPITAL_USDT": "1000",
            "OMNI_RISK__MAX_DAILY_LOSS_USDT": "1000000",
            "OMNI_RISK__MAX_DRAWDOWN_PCT": "100",
        },
    )
    duration_s = 60 * 86400
    asm = assemble(cfg, get("t"), duration_s=duration_s)
    db = asm.journal.journal.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")  # the "disk" fills up almost at once
    with capture_logs() as logs:
        code = asyncio.run(Supervisor(asm, get("t")).run())
    assert code == 1  # stopped, not silently carrying on without a journal
    gave_up = [e for e in logs if e["event"] == "task_gave_up"]
    assert gave_up and gave_up[0]["task"] == "journal" and "full" in gave_up[0]["error"]
    assert asm.journal.pending  # the records that could not be written are still held, not dropped
    assert asm.venue.now_ms() - asm.trader.first_ts < duration_s * 1000 / 2  # stopped early, not at the end
    # once a write has failed no new entry goes out (on the sim an order's intent waits for the next flush)
    # (the first failed write is the journal task's or an intent's, when QUEUED_FLUSH records waited)
    failed = [i for i, e in enumerate(logs) if e["event"] == "entry_refused_journal_unavailable"
              or (e["event"] == "task_crashed" and e.get("task") == "journal")]  # fmt: skip
    assert any(e["event"] == "order" and not e["reduce_only"] for e in logs[: failed[0]])  # it was trading
    assert not [e for e in logs[failed[0] :] if e["event"] == "order" and not e["reduce_only"]]
    assert any(e["event"] == "entry_refused_journal_unavailable" for e in logs)


def test_report_from_the_journal_has_plots_and_agrees_with_the_run(tmp_path):
    run = run_omni(
        ["run", "--speed", "max", "--duration", "43200"],
        tmp_path,
        OMNI_MARKET__SYMBOLS="30",
        OMNI_RISK__MAX_DRAWDOWN_PCT="100",
        OMNI_RISK__MAX_DAILY_LOSS_USDT="100",
        **ACTIVE,
    )
    assert run.returncode == 0, run.stderr
    rep = run_omni(["report", "--out", str(tmp_path / "rep")], tmp_path)
    assert rep.returncode == 0, rep.stderr
    text = (tmp_path / "rep" / "report.md").read_text()
    for png in ("equity.png", "pnl_per_trade.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 1000 and f"({png})" in text
    s = run.summary
    assert f"-> {s['capital']} USDT" in text
    assert f"trades closed: {s['trades_closed']};" in text  # the journal's round trips match the run's
    assert f"fees paid: {s['fees_paid']} USDT" in text


def test_status_works_while_the_daemon_runs(tmp_path):
    import subprocess
    import sys
    import time

    from tests.integration.conftest import omni_env

    env = omni_env(OMNI_MARKET__SYMBOLS="20", OMNI_TELEMETRY__SUMMARY_INTERVAL_S="0.3", **ACTIVE)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "omni", "run", "--speed", "3000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and '"event": "fill"' not in daemon.stdout.readline():
            pass
        time.sleep(1.0)  # a flush or two
        st = run_omni(["status", "--json"], tmp_path)
        assert daemon.poll() is None  # still running
    finally:
        daemon.terminate()
        daemon.communicate(timeout=15)
    assert st.returncode == 0, st.stderr
    report = json.loads(st.stdout)
    assert report["venue"] == "sim" and Decimal(report["capital"]) > 0
    assert report["fees_paid"] != "0"  # it sees the fills the running daemon journaled

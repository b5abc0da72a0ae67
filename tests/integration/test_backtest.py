"""`omni backtest` and `omni feasibility` end to end, on recorded data (skipped without ../shared/data) and on
the synthetic market, with the whole-run invariants of the decision pipeline."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest

from tests.integration.conftest import (
    ACTIVE,
    Run,
    assert_accounting_identity,
    assert_run_invariants,
    parse_lines,
    run_omni,
)


@pytest.fixture
def three_symbols(shared_data):
    d = shared_data / "klines" / "1m" / "binance-usdm"
    files = [d / f"{s}USDT.csv.gz" for s in ("BTC", "ETH", "SOL")]
    if not all(f.exists() for f in files):
        pytest.skip("1m files absent")
    return files


def check_backtest_outputs(out, cap: Decimal):
    summary = json.loads((out / "summary.json").read_text())
    events = parse_lines((out / "events.jsonl").read_text())
    run = Run(0, events, "", summary)
    assert_accounting_identity(summary)
    assert_run_invariants(run, max_concurrent=10)
    assert not [e for e in events if e["event"] == "liquidation"]  # never reached in normal runs
    with (out / "trades.csv").open() as f:
        trades = list(csv.DictReader(f))
    gap_ids = {g["client_id"] for g in summary["gap_losses"]}
    for t in trades:  # a loss beyond the per-trade cap only from a gap through the stop, and reported
        if Decimal(t["net"]) < -cap:
            assert t["client_id"] in gap_ids
    with (out / "decisions.csv").open() as f:
        decisions = list(csv.DictReader(f))
    taken = [d for d in decisions if d["taken"] == "True"]
    assert len(taken) == summary["trades_total"] or summary["kill_switch"] is not None
    closed = {t["client_id"]: t for t in trades}
    for d in taken:  # forecast and outcome side by side
        if d["client_id"] in closed:
            assert d["outcome_net"] == closed[d["client_id"]]["net"]
            assert d["p"] != "" and d["ev_lower"] != ""
    cal = summary["calibration"]
    assert cal["n"] == len([d for d in taken if d["outcome_net"] != ""])
    if cal["n"]:
        assert 0 <= cal["brier"] <= 1 and sum(r["n"] for r in cal["reliability"]) == cal["n"]
    # the kill switch, when it fired, was followed by no entry
    trip = next((i for i, e in enumerate(events) if e["event"] == "kill_switch"), None)
    if trip is not None:
        assert not [e for e in events[trip:] if e["event"] == "order" and not e["reduce_only"]]
    return summary, decisions


def test_backtest_on_recorded_data_writes_consistent_reports(tmp_path, three_symbols):
    out = tmp_path / "bt"
    run = run_omni(
        ["backtest", "--data", *map(str, three_symbols), "--out", str(out), "--duration", str(10 * 86400)],
        tmp_path,
        **ACTIVE,
    )
    assert run.returncode == 0, run.stderr
    assert "100.0%" in run.stderr  # the progress bar reached the end
    summary, decisions = check_backtest_outputs(out, Decimal("0.5"))
    assert summary["trades_total"] > 0 and decisions


def test_backtest_with_the_default_config_never_breaks_a_limit(tmp_path, three_symbols):
    out = tmp_path / "bt"
    run = run_omni(
        ["backtest", "--data", *map(str, three_symbols), "--out", str(out), "--duration", str(10 * 86400)], tmp_path
    )
    assert run.returncode == 0, run.stderr
    _, decisions = check_backtest_outputs(out, Decimal("1.0"))
    vetoed = [d for d in decisions if d["verdict"] == "vetoed"]
    assert all(Decimal(d["ev_lower"]) < 0 or d["reason"] != "ev_lower_below_threshold" for d in vetoed)
    approved = [d for d in decisions if d["verdict"] == "approved"]
    assert all(Decimal(d["ev_lower"]) >= 0 for d in approved)  # never a trade its own evidence says loses


def test_feasibility_reports_the_brief_targets_honestly(tmp_path):
    run = run_omni(["feasibility", "--days", "1", "--json"], tmp_path, OMNI_MARKET__SYMBOLS="30")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    verdicts = " ".join(report["verdicts"])
    assert "750 trades/day" in verdicts and "Zero losses: NOT achievable" in verdicts
    assert report["config"]["reward_to_risk_needed"] == "2.00"
    moves = [Decimal(r["move_needed_pct"]) for r in report["config"]["by_leverage"]]
    assert moves == sorted(moves, reverse=True)  # more leverage, smaller move needed
    assert report["data"]["days"] == pytest.approx(1.0, abs=0.01)


def test_feasibility_markdown(tmp_path):
    run = run_omni(["feasibility", "--days", "0.5"], tmp_path, OMNI_MARKET__SYMBOLS="20")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("# OMNI feasibility report")
    assert "## Verdict on the brief's targets" in run.stdout


def test_a_second_backtest_into_the_same_directory_starts_fresh(tmp_path, three_symbols):
    out = tmp_path / "bt"
    args = ["backtest", "--data", *map(str, three_symbols), "--out", str(out), "--duration", str(10 * 86400)]
    first = run_omni(args, tmp_path, **ACTIVE)
    s1 = json.loads((out / "summary.json").read_text())
    first_trades, first_capital = s1["trades_total"], s1["capital"]
    assert first_trades > 0
    second = run_omni(args, tmp_path, **ACTIVE)
    assert first.returncode == second.returncode == 0, second.stderr
    a = json.loads((out / "summary.json").read_text())
    assert a["capital_start"] == "12" and a["bars"] > 0
    # the same data, the same config: the same result, not a resumed account that skipped the market
    assert a["trades_total"] == first_trades and a["capital"] == first_capital

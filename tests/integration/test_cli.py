"""The command line as a user meets it: help, check-config exit codes and messages."""

from __future__ import annotations

import pytest

from tests.integration.conftest import ACTIVE, REPO, run_omni


def test_help_lists_every_command(tmp_path):
    run = run_omni(["--help"], tmp_path)
    assert run.returncode == 0


def test_check_config_accepts_the_default_file(tmp_path):
    run = run_omni(["check-config", str(REPO / "config" / "default.yaml")], tmp_path)
    assert run.returncode == 0


def test_check_config_reports_every_error_with_path_value_and_allowed(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("capital_usdt: -1\nrisk:\n  max_concurent_trades: 5\nvenue:\n  name: binance\n")
    run = run_omni(["check-config", str(bad)], tmp_path)
    assert run.returncode == 2
    err = run.stderr
    assert "capital_usdt" in err and "-1" in err
    assert "risk.max_concurent_trades" in err and "max_concurrent_trades" in err  # names the allowed keys
    assert "venue.name" in err and "binance" in err and "bybit-testnet" in err


def test_check_config_missing_file_is_exit_2(tmp_path):
    run = run_omni(["check-config", str(tmp_path / "nope.yaml")], tmp_path)
    assert run.returncode == 2 and "no such file" in run.stderr


def test_run_with_a_bad_config_exits_2_before_trading(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk:\n  max_leverage: 500\n")
    run = run_omni(["run", "--config", str(bad), "--speed", "max", "--duration", "600"], tmp_path)
    assert run.returncode == 2 and "risk.max_leverage" in run.stderr
    assert run.events == []


def test_bad_env_override_names_the_variable(tmp_path):
    run = run_omni(["run", "--speed", "max", "--duration", "600"], tmp_path, OMNI_RISK__MAX_CONCURRENT_TRADES="many")
    assert run.returncode == 2 and "OMNI_RISK__MAX_CONCURRENT_TRADES" in run.stderr


def test_reset_kill_switch_command_clears_the_latch(tmp_path):
    from omni.state import KillSwitchLatch

    latch = KillSwitchLatch(tmp_path / "omni-state")
    latch.trip("max_drawdown: test")
    run = run_omni(["reset-kill-switch"], tmp_path)
    assert run.returncode == 0 and "max_drawdown: test" in run.stdout
    assert latch.load() is None


def test_log_lines_also_go_to_a_rotating_file(tmp_path):
    run = run_omni(
        ["run", "--speed", "max", "--duration", "43200"],
        tmp_path,
        OMNI_MARKET__SYMBOLS="20",
        OMNI_TELEMETRY__LOG_FILE="logs/omni.jsonl",
        OMNI_TELEMETRY__LOG_FILE_MAX_MB="0.01",
        OMNI_TELEMETRY__LOG_FILE_BACKUPS="2",
        **ACTIVE,
    )
    assert run.returncode == 0, run.stderr
    logs = tmp_path / "logs"
    files = sorted(p.name for p in logs.iterdir())
    assert "omni.jsonl" in files and "omni.jsonl.1" in files and len(files) <= 3  # rotated, backups capped
    import json

    lines = [json.loads(x) for x in (logs / "omni.jsonl").read_text().splitlines() if x]
    assert lines and all("event" in x for x in lines)
    assert any(e["event"] == "final_summary" for e in lines)


def write_klines(path, price: float, minutes: int = 600, seed: int = 1):
    """A small 1m kline file (a seeded random walk) for end-to-end runs on recorded data."""
    import random

    rnd = random.Random(seed)
    t0 = 1_717_200_000_000
    rows = ["ts,open,high,low,close,volume"]
    for i in range(minutes):
        o = price
        c = o * (1 + rnd.gauss(0, 0.001))
        h, low = max(o, c) * (1 + abs(rnd.gauss(0, 5e-4))), min(o, c) * (1 - abs(rnd.gauss(0, 5e-4)))
        rows.append(f"{t0 + i * 60_000},{o:.2f},{h:.2f},{low:.2f},{c:.2f},{rnd.uniform(1, 100):.3f}")
        price = c
    path.write_text("\n".join(rows) + "\n")
    return path


def two_files(tmp_path):
    return write_klines(tmp_path / "BTCUSDT.csv", 60_000.0, seed=1), write_klines(
        tmp_path / "ETHUSDT.csv", 3000.0, seed=2
    )


def test_backtest_with_repeated_data_flags_uses_both_files(tmp_path):
    import json

    from tests.integration.conftest import parse_lines

    btc, eth = two_files(tmp_path)
    out = tmp_path / "bt"
    run = run_omni(["backtest", "--data", str(btc), "--data", str(eth), "--out", str(out)], tmp_path)
    assert run.returncode == 0, run.stderr
    start = next(e for e in parse_lines((out / "events.jsonl").read_text()) if e["event"] == "start")
    assert start["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert start["files"] == [str(btc.resolve()), str(eth.resolve())]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["symbols"] == 2 and summary["bars"] == 2 * 600


def test_run_with_repeated_data_flags_replays_both_files(tmp_path):
    btc, eth = two_files(tmp_path)
    run = run_omni(["run", "--data", str(btc), "--data", str(eth), "--speed", "max"], tmp_path)
    assert run.returncode == 0, run.stderr
    start = run.named("start")[0]
    assert start["source"] == "replay" and start["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert run.summary["bars"] == 2 * 600


def test_run_fresh_starts_a_new_journal_and_keeps_the_old_one(tmp_path):
    fast = {"OMNI_MARKET__SYMBOLS": "5"}
    first = run_omni(["run", "--speed", "max", "--duration", "3600"], tmp_path, **fast)
    assert first.returncode == 0, first.stderr
    btc, eth = two_files(tmp_path)
    refused = run_omni(["run", "--speed", "max", "--data", str(btc), str(eth)], tmp_path, **fast)
    assert refused.returncode == 2 and "--fresh" in refused.stderr
    fresh = run_omni(["run", "--speed", "max", "--data", str(btc), str(eth), "--fresh"], tmp_path, **fast)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.summary["capital_start"] == "12" and fresh.summary["bars"] == 2 * 600
    journals = sorted(p.name for p in (tmp_path / "omni-state").glob("journal*.sqlite"))
    assert len(journals) == 2 and "journal.sqlite" in journals  # the synthetic account's journal kept, renamed


def test_backtest_into_a_used_directory_starts_fresh_even_on_other_data(tmp_path):
    import json

    btc, eth = two_files(tmp_path)
    out = tmp_path / "bt"
    first = run_omni(["backtest", "--data", str(btc), str(eth), "--out", str(out)], tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_omni(["backtest", "--data", str(btc), "--out", str(out)], tmp_path)
    assert second.returncode == 0, second.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["symbols"] == 1 and summary["bars"] == 600 and summary["capital_start"] == "12"


def test_status_reads_as_tables_and_json_for_machines(tmp_path):
    import json

    run = run_omni(["run", "--speed", "max", "--duration", "600"], tmp_path, OMNI_MARKET__SYMBOLS="5")
    assert run.returncode == 0, run.stderr
    human = run_omni(["status"], tmp_path)
    assert human.returncode == 0, human.stderr
    assert human.stdout.startswith("# OMNI status") and "| metric | value |" in human.stdout
    assert "None" not in human.stdout and "success rate: None" not in human.stdout
    assert "| success rate | n/a (no closed trade yet) |" in human.stdout  # ten market minutes: no trade closed
    machine = run_omni(["status", "--json"], tmp_path)
    report = json.loads(machine.stdout)
    assert report["success_rate"] is None and report["capital"] == run.summary["capital"]


def test_feasibility_shows_progress_and_says_what_synthetic_profit_is_worth(tmp_path):
    run = run_omni(["feasibility", "--days", "0.5"], tmp_path, OMNI_MARKET__SYMBOLS="10")
    assert run.returncode == 0, run.stderr
    progress = [x for x in run.stderr.splitlines() if x.startswith("feasibility [")]
    assert progress and "100.0%" in progress[-1]  # a line per ~10 % (stderr is not a terminal here)
    out = run.stdout
    assert "the synthetic market trends by construction: its profit says nothing about a real edge" in out
    assert "None" not in out and "95 %" not in out
    assert "| per day | per calendar day of the run | per day of evaluating time |" in out


def test_feasibility_over_repeated_data_flags_uses_both_files(tmp_path):
    import json

    btc, eth = two_files(tmp_path)
    run = run_omni(["feasibility", "--data", str(btc), "--data", str(eth), "--days", "0", "--json"], tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)["data"]
    assert data["source"] == "replay" and data["symbols"] == 2 and data["synthetic_caveat"] is None
    assert data["days"] == pytest.approx(600 / 1440, abs=0.01)
    assert 0 < data["evaluating_days"] < data["days"]  # the warm-up is not evaluating time
    assert set(data["per_calendar_day"]) == set(data["per_evaluating_day"])


def test_feasibility_on_the_synthetic_market_needs_a_number_of_days(tmp_path):
    run = run_omni(["feasibility", "--days", "0"], tmp_path)
    assert run.returncode == 2 and "--days must be > 0" in run.stderr

"""``omni rehearse`` end to end: a short rehearsal (20 symbols, half a market hour at 120x, light faults, one
SIGKILL + restart) with the real emulator and daemon processes, judged from the exchange's records; and the
arguments it refuses (exit 2). Each check is shown red on crafted records in tests/unit/test_rehearse.py."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.conftest import omni_env

pytestmark = pytest.mark.slow

#: a config that trades a lot in half a market hour (the machinery is under test, not the strategy)
ACTIVE_CONFIG = """\
capital_usdt: 100
targets: {min_net_profit_usdt: 0.3}
ghost: {min_ev_lower_usdt: -1000, min_samples: 1}
pacer: {spacing: false}
strategy: {timeframes: [1m], take_profit_atr: 3, max_hold_bars: 10}
scanner: {min_turnover_usdt: 0}
risk: {max_loss_per_trade_usdt: 0.5, max_daily_loss_usdt: 50}
"""
CHECKS = (
    "process",
    "stops",
    "link_ids",
    "orders",
    "fills",
    "ledger",
    "capital",
    "shutdown",
    "restarts",
    "schedule",
    "emulator",
)
#: daemon defects the rehearsal finds and the lead has not fixed yet: check -> what was seen (the test then xfails
#: when that check, and only that one, goes red; every other check must still hold)
KNOWN: dict[str, str] = {}  # none left: "restarts" (an entry in flight at a SIGKILL closed as unknown after the
# restart) is fixed (the journal's intents make the position known)


def rehearse(tmp_path: Path, *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "omni", "rehearse", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=omni_env())


@pytest.fixture(scope="module")
def short(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, dict]:
    tmp = tmp_path_factory.mktemp("rehearse")
    (tmp / "active.yaml").write_text(ACTIVE_CONFIG)
    out = tmp / "out"
    done = rehearse(tmp, "--config", "active.yaml", "--symbols", "20", "--hours", "0.5", "--speed", "120",
                    "--chaos", "light", "--kills", "1", "--seed", "3", "--out", str(out))  # fmt: skip
    doc = json.loads((out / "rehearsal.json").read_text()) if (out / "rehearsal.json").exists() else {}
    print(f"\n[rehearse] {done.stdout}")
    return done, out, doc


def known_failures(doc: dict) -> None:
    """xfail when the only red checks are KNOWN daemon defects (what was seen goes into the reason)."""
    red = [c for c in doc.get("checks", []) if not c["ok"]]
    if red and all(c["name"] in KNOWN for c in red):
        pytest.xfail("; ".join(f"{c['name']}: {KNOWN[c['name']]}; seen: {c['problems'][:2]}" for c in red))


def test_a_short_rehearsal_passes_with_exit_0(short):
    done, _, doc = short
    assert doc, f"no rehearsal.json:\n{done.stdout}\n{done.stderr[-3000:]}"
    assert doc["error"] is None, doc["error"]
    assert "check" in done.stdout and "verdict" in done.stdout
    known_failures(doc)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-3000:]}"
    assert doc["verdict"] == "pass" and doc["exit_code"] == 0
    assert "rehearsal PASS" in done.stdout


def test_every_check_ran_on_real_records(short):
    _, _, doc = short
    checks = {c["name"]: c for c in doc["checks"]}
    assert tuple(checks) == CHECKS
    assert all(c["ok"] for c in checks.values() if c["name"] not in KNOWN), [c for c in checks.values() if not c["ok"]]
    f = {name: c["figures"] for name, c in checks.items()}
    assert f["process"]["lives"] == 2 and f["process"]["killed"] == 1 and f["process"]["last_exit_code"] == 0
    assert f["stops"]["polls"] >= 10 and f["stops"]["polls"] > f["stops"]["polls_failed"]
    assert f["stops"]["positions_seen"] > 0, "no position was ever open: the stop check saw nothing"
    assert f["orders"]["by_the_daemon"] > 0 and f["link_ids"]["exchange_link_ids"] == f["orders"]["by_the_daemon"]
    assert f["fills"]["exchange_executions"] > 0 and f["fills"]["journal_fills"] == f["fills"]["exchange_executions"]
    assert f["ledger"]["compared"] == f["fills"]["exchange_executions"]
    assert Decimal(f["capital"]["capital"]) == Decimal(f["capital"]["wallet"])  # (trailing zeros may differ)
    assert Decimal(f["capital"]["capital_start"]) == 100
    assert f["schedule"]["kills_made"] == 1 and 0.1 <= f["schedule"]["kills_at"][0] < 0.9
    # the kill comes when planned (the market's clock is read 5 times a second near it: at once a second, 120x
    # overshot a kill planned at 80 % to 90 % on a loaded machine)
    assert 0 <= f["schedule"]["kills_at"][0] - doc["plan"]["kill_at"][0] < 0.05, (f["schedule"], doc["plan"])
    assert Decimal(f["emulator"]["books"]) == Decimal(f["capital"]["wallet"])


def test_the_run_and_its_counts_are_recorded(short):
    _, out, doc = short
    run, counts = doc["run"], doc["counts"]
    assert run["symbols"] == 20 and run["market_hours"] >= 0.5 and not run["capped"]
    assert [life["end"] for life in run["lives"]] == ["killed", "sigint"]
    assert run["lives"][0]["returncode"] == -9 and run["lives"][1]["returncode"] == 0
    assert counts["orders"]["exchange"] > 0 and counts["fills"]["exchange"] > 0 and counts["lives"] == 2
    for key in ("reconnects", "resyncs", "rejects_by_code", "faults", "kills"):
        assert key in counts
    assert doc["plan"]["chaos_flags"]["ws-drop-every"] == 60  # the light preset reached the emulator
    for name in ("emulator.out", "emulator.err", "daemon-1.out", "daemon-2.out", "daemon-2.summary.json",
                 "journal.sqlite", "exchange.json", "report.md", "plan.json"):  # fmt: skip
        assert (out / name).exists(), name
    report = (out / "report.md").read_text()
    assert "| capital | PASS |" in report and "## Counts" in report
    secret = json.loads((out / "plan.json").read_text())
    assert "api_secret" not in secret


def test_bad_arguments_exit_2(tmp_path):
    for args in (["--hours", "0"], ["--symbols", "many"], ["--speed", "-1"], ["--chaos", "medium"],
                 ["--start", "25:99"], ["--kills", "-1"]):  # fmt: skip
        done = rehearse(tmp_path, *args, "--out", str(tmp_path / "never"), timeout=60)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert not (tmp_path / "never").exists()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "rehearsal.json").write_text("{}")
    done = rehearse(tmp_path, "--out", str(tmp_path / "used"), timeout=60)
    assert done.returncode == 2 and "not an empty directory" in done.stderr

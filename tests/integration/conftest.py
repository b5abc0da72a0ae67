"""Helpers for end-to-end runs of the daemon as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    returncode: int
    events: list[dict]
    stderr: str
    summary: dict | None
    stdout: str = ""

    def named(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == name]


def parse_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            out.append(json.loads(line))
    return out


#: Settings that make the daemon trade a lot, to exercise the machinery (not a sensible strategy): the
#: simulator's veto off, a small profit target, no pacing, 1m bars only (short warm-up).
ACTIVE = {
    "OMNI_GHOST__MIN_EV_LOWER_USDT": "-1000",
    "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "0.3",
    "OMNI_PACER__SPACING": "false",
    "OMNI_STRATEGY__TIMEFRAMES": "[1m]",
    "OMNI_STRATEGY__TAKE_PROFIT_ATR": "3",
    "OMNI_RISK__MAX_LOSS_PER_TRADE_USDT": "0.5",
    "OMNI_SCANNER__MIN_TURNOVER_USDT": "0",
    # runs of a few market hours: the evidence after past signals is thin (the default gate needs ~a day)
    "OMNI_GHOST__MIN_SAMPLES": "5",
}


def omni_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_") or k == "OMNI_SHARED_DATA"}
    env.update(extra)
    return env


def run_omni(args: list[str], tmp_path: Path, timeout: float = 120, **env: str) -> Run:
    summary_path = tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "omni", *args]
    if args and args[0] == "run" and "--summary-json" not in args:
        cmd += ["--summary-json", str(summary_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=omni_env(**env))
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return Run(proc.returncode, parse_lines(proc.stdout), proc.stderr, summary, proc.stdout)


def assert_accounting_identity(summary: dict) -> None:
    """capital == capital_start + deposits - withdrawals + adjustments + realised PnL - fees - funding, exactly
    (``capital`` is the venue's wallet; the rest is the ledger's)."""
    keys = ("capital", "capital_start", "realised_pnl", "fees_paid", "funding_paid")
    d = {k: Decimal(summary[k]) for k in keys}
    moved = {k: Decimal(summary.get(k, "0")) for k in ("deposits", "withdrawals", "adjustments")}
    ledger = d["capital_start"] + moved["deposits"] - moved["withdrawals"] + moved["adjustments"]
    assert d["capital"] == ledger + d["realised_pnl"] - d["fees_paid"] - d["funding_paid"], (d, moved)


def assert_run_invariants(run: Run, max_concurrent: int) -> None:
    """Over the whole run: never more open positions than allowed, every position with a stop-loss."""
    open_positions: set[str] = set()
    peak = 0
    for e in run.events:
        if e.get("event") != "position":
            continue
        if e["size"] == "0":
            open_positions.discard(e["symbol"])
        else:
            assert e["stop_loss"] is not None, f"position without stop-loss: {e}"
            open_positions.add(e["symbol"])
            peak = max(peak, len(open_positions))
    assert peak <= max_concurrent


@pytest.fixture
def shared_data() -> Path:
    from omni.venues.instruments_file import shared_data_dir

    d = shared_data_dir()
    if d is None:
        pytest.skip("shared market data (../shared/data) not present")
    return d

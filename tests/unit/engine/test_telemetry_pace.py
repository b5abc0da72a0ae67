"""The periodic summary carries the pace (the same status the final summary and ``omni status`` show)."""

from __future__ import annotations

from decimal import Decimal as D

from omni.core.pacer import DAY_MS
from omni.core.portfolio import Portfolio
from omni.engine.telemetry import Telemetry

DAY = 20_000 * DAY_MS  # a UTC midnight


def summary_at(now: int, targets: dict) -> dict:
    t = Telemetry(None, Portfolio(D("12")), targets)
    return t.summary(capital_start=D("12"), capital=D("12"), equity=D("12"), now=now, kill_switch=None)


def test_the_summary_says_behind_with_no_trade_once_some_were_expected():
    s = summary_at(DAY + 3_600_000, {"trades_per_day": 240, "min_net_profit_usdt": D("2")})
    assert s["pace"] == {"status": "behind", "trades_today": 0, "target": 240, "expected_by_now": 10.0}


def test_at_midnight_nothing_is_expected_yet():
    assert summary_at(DAY, {"trades_per_day": 240})["pace"]["status"] == "on_track"


def test_no_target_no_pace():
    assert "pace" not in summary_at(DAY, {})

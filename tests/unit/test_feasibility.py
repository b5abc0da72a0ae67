"""``omni feasibility``'s figures and its output for a person: rates per calendar day and per day of evaluating
time (after the warm-up, until the kill switch or the end), no interval on synthetic profit, no None anywhere."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace

import pytest

from omni.commands.feasibility import markdown
from omni.config import load_config
from omni.core.portfolio import Trade
from omni.domain.orders import Side
from omni.engine import feasibility
from omni.engine.feasibility import DAY_MS, _figures, _interval, _Run, _tripped_at
from omni.state import KillSwitchLatch

T0 = 1_748_736_000_000  # 2025-06-01 00:00 UTC
HOUR = 3_600_000


def decision(verdict: str, sized: bool = True, passed: bool = False) -> SimpleNamespace:
    estimate = SimpleNamespace(passed=passed) if sized else None
    return SimpleNamespace(verdict=verdict, sized=object() if sized else None, estimate=estimate)


def trade(closed_ts: int, net: str) -> Trade:
    return Trade("BTCUSDT", Side.BUY, closed_ts - HOUR, closed_ts, realised=Decimal(net))


def a_run(*, source: str, days: float = 4, warmup_h: float = 12, killed_h: float | None = None, trades=()) -> _Run:
    decisions = [decision("approved", passed=True)] * 6 + [decision("vetoed")] * 30 + [decision("no_trade", False)] * 4
    return _Run(
        summary={"market_source": source, "symbols": 3, "decisions": {"approved": 6, "vetoed:too_few_samples": 30},
                 "kill_switch": None if killed_h is None else "max_drawdown: 31% from peak >= 30%",
                 "calibration": {"n": 0, "brier": None, "reliability": []}},
        trades=list(trades), decisions=decisions, signals=80, dropped={"entries_disabled": 12},
        first_ts=T0, end_ts=T0 + int(days * DAY_MS), warmup_ms=int(warmup_h * HOUR),
        killed_ts=None if killed_h is None else T0 + int(killed_h * HOUR),
    )  # fmt: skip


@pytest.fixture(scope="module")
def cfg():
    return load_config(None)


def test_rates_are_given_per_calendar_day_and_per_day_of_evaluating_time(cfg):
    d = _figures(cfg, a_run(source="replay", days=4, warmup_h=12, killed_h=36))
    assert d["days"] == 4 and d["evaluating_days"] == 1.0  # from 12 h (warm-up done) to 36 h (kill switch)
    assert d["evaluation_ended_by"] == "kill_switch"
    assert d["evaluating_from"] == "2025-06-01T12:00:00Z" and d["evaluating_until"] == "2025-06-02T12:00:00Z"
    assert d["per_evaluating_day"]["trades"] == 6 and d["per_calendar_day"]["trades"] == 1.5
    assert d["per_evaluating_day"]["candidates_evaluated"] == 40 and d["per_calendar_day"]["signals"] == 20
    assert d["per_evaluating_day"]["passed_sizer"] == 36 and d["per_evaluating_day"]["passed_simulator"] == 6


def test_without_a_kill_switch_evaluation_runs_to_the_end(cfg):
    d = _figures(cfg, a_run(source="replay", days=3, warmup_h=24))
    assert d["evaluating_days"] == 2.0 and d["evaluation_ended_by"] == "end_of_run"
    assert d["per_evaluating_day"]["trades"] == 3 and d["per_calendar_day"]["trades"] == 2


def test_a_run_shorter_than_the_warm_up_has_no_rates_and_says_so(cfg):
    d = _figures(cfg, a_run(source="replay", days=0.25, warmup_h=12))
    assert d["evaluating_days"] == 0 and d["evaluating_from"] is None
    assert set(d["per_evaluating_day"].values()) == {None}
    assert "not measured" in feasibility.verdicts(cfg, feasibility.arithmetic(cfg), d)[0]
    text = markdown(cfg, feasibility.arithmetic(cfg), d, feasibility.verdicts(cfg, feasibility.arithmetic(cfg), d))
    assert "None" not in text and "n/a" in text and "ended within the warm-up" in text


def test_profit_per_day_and_its_interval_on_recorded_data(cfg):
    trades = [trade(T0 + 13 * HOUR, "1"), trade(T0 + 40 * HOUR, "-0.5"), trade(T0 + 60 * HOUR, "2")]
    d = _figures(cfg, a_run(source="replay", days=4, warmup_h=12, trades=trades))
    # 2.5 USDT over 3.5 evaluating days / 4 calendar days
    assert d["per_evaluating_day"]["net_profit_usdt"] == pytest.approx(2.5 / 3.5, abs=1e-4)
    assert d["per_calendar_day"]["net_profit_usdt"] == pytest.approx(2.5 / 4, abs=1e-4)
    lo, hi = d["profit_per_day_95ci"]
    assert lo < d["per_evaluating_day"]["net_profit_usdt"] < hi
    assert d["synthetic_caveat"] is None and d["win_rate"] == pytest.approx(2 / 3, abs=1e-4)
    verdict = feasibility.verdicts(cfg, feasibility.arithmetic(cfg), d)[-1]
    assert verdict.startswith("Profit/day on this data") and "95 % interval" in verdict


def test_the_interval_needs_two_days():
    assert _interval([trade(T0 + HOUR, "1")], T0, 1.0) is None
    assert _interval([], T0, 2.0) == [0.0, 0.0]


def test_synthetic_profit_is_not_presented_as_evidence(cfg):
    trades = [trade(T0 + 13 * HOUR, "1"), trade(T0 + 40 * HOUR, "3")]
    d = _figures(cfg, a_run(source="synthetic", days=4, trades=trades))
    assert d["profit_per_day_95ci"] is None
    assert (
        "the synthetic market trends by construction: its profit says nothing about a real edge"
        in (d["synthetic_caveat"])
    )
    arith = feasibility.arithmetic(cfg)
    verdicts = feasibility.verdicts(cfg, arith, d)
    assert not any("Profit/day on this data" in v for v in verdicts)
    assert "the synthetic market trends by construction" in verdicts[-1]
    text = markdown(cfg, arith, d, verdicts)
    assert "the synthetic market trends by construction: its profit says nothing about a real edge" in text
    assert "95 %" not in text and "interval" not in text


def test_the_report_is_tables_without_python_reprs(cfg):
    trades = [trade(T0 + 13 * HOUR, "1"), trade(T0 + 40 * HOUR, "-0.5"), trade(T0 + 60 * HOUR, "2")]
    d = _figures(cfg, a_run(source="replay", days=4, warmup_h=12, killed_h=70, trades=trades))
    arith = feasibility.arithmetic(cfg)
    text = markdown(cfg, arith, d, feasibility.verdicts(cfg, arith, d))
    assert "None" not in text and "{" not in text and "[" not in text.replace("[##", "")
    assert "| per day | per calendar day of the run | per day of evaluating time |" in text
    assert "| approved |  | 6 |" in text and "| vetoed | too_few_samples | 30 |" in text
    assert "| entries_disabled | 12 |" in text
    assert "until the kill switch tripped" in text and "max_drawdown: 31% from peak >= 30%" in text
    json.dumps(d)  # --json: the full dict, as JSON


def test_the_kill_switch_time_comes_from_its_latch(tmp_path):
    latch = KillSwitchLatch(tmp_path)
    assert _tripped_at(latch) is None and _tripped_at(None) is None
    latch.trip("max_daily_loss: test", T0 + 5 * HOUR)
    assert _tripped_at(latch) == T0 + 5 * HOUR


class Stream:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def fake_asm(first_ts=None, last_ts=None):
    market = SimpleNamespace(first_ts=first_ts, last_ts=last_ts) if first_ts else SimpleNamespace()
    trader = SimpleNamespace(first_ts=None, end_ts=None, market_ts=0)
    return SimpleNamespace(
        source=market, trader=trader, telemetry=SimpleNamespace(records=[]), portfolio=SimpleNamespace(trades_total=0)
    )


def test_progress_on_the_synthetic_market_follows_the_duration():
    asm, out = fake_asm(), Stream(tty=False)
    show = feasibility.progress_printer(asm, out)
    show()  # not started yet
    asm.trader.first_ts, asm.trader.end_ts = T0, T0 + DAY_MS
    for hours in range(0, 25, 3):
        asm.trader.market_ts = T0 + hours * HOUR
        show()
    show(final=True)
    lines = out.text.splitlines()
    assert lines[0].startswith("feasibility [") and "  0.0%" in lines[0]
    assert "100.0%" in lines[-1] and sum("100.0%" in x for x in lines) == 1
    assert 6 <= len(lines) <= 11  # about a line per 10 %


def test_progress_on_a_terminal_is_one_redrawn_bar():
    asm, out = fake_asm(first_ts=T0, last_ts=T0 + DAY_MS), Stream(tty=True)
    asm.trader.first_ts = T0
    show = feasibility.progress_printer(asm, out)
    for hours in (6, 12, 18):
        asm.trader.market_ts = T0 + hours * HOUR
        show()
    show(final=True)
    assert out.text.count("\r") == 4 and out.text.endswith("\n") and out.text.count("\n") == 1
    assert " 50.0%" in out.text

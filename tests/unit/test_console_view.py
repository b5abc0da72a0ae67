"""The console view for a person (``logsetup.ConsoleView``): ISO UTC times, the summary as a one-line table,
decisions thinned at info level (every approval, a few vetoes a window, the rest counted into one line); the
JSON lines stay complete."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
import structlog

from omni import logsetup
from omni.logsetup import ConsoleView

T0 = 1_748_736_000_000  # 2025-06-01T00:00:00Z
MIN = 60_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def view(level: str = "info", clock: Clock | None = None) -> tuple[ConsoleView, list[dict]]:
    """A view whose renderer records the rendered events (as dicts) instead of text."""
    shown: list[dict] = []

    def render(_, __, event):
        shown.append(dict(event))
        return event["event"]

    return ConsoleView(render, level, clock=clock or Clock()), shown


def decision(verdict: str, reason: str, ts: int, **extra) -> dict:
    return {"event": "decision", "level": "info", "timestamp": "wall", "symbol": "BTCUSDT", "verdict": verdict,
            "reason": reason, "detail": "", "side": "Buy", "timeframe": "1m", "score": 0.5, "ts": ts, "p": 0.4,
            "ev_lower": -0.1, "n": 40, **extra}  # fmt: skip


def feed(v: ConsoleView, event: dict) -> str | None:
    try:
        return v(None, "info", event)
    except structlog.DropEvent:
        return None


def test_every_ts_like_field_is_shown_as_iso_utc():
    v, shown = view()
    feed(v, {"event": "trade", "opened_ts": T0, "closed_ts": T0 + 90_500, "market_ts": T0, "ts": T0, "net": "1"})
    [e] = shown
    assert e["opened_ts"] == "2025-06-01T00:00:00Z" and e["closed_ts"] == "2025-06-01T00:01:30.500Z"
    assert e["market_ts"] == e["ts"] == "2025-06-01T00:00:00Z" and e["net"] == "1"


def test_approvals_always_shown_with_every_field():
    v, shown = view()
    for i in range(20):
        feed(v, decision("approved", "ok", T0, client_id=f"c{i}", qty="1"))
    assert len(shown) == 20 and all(e["qty"] == "1" and e["client_id"] for e in shown)


def test_a_few_vetoes_a_window_then_one_line_counting_them_all():
    # Arrange: a live-paced run (wall time moves with market time)
    clock = Clock()
    v, shown = view(clock=clock)
    # Act: 37 vetoes and 12 unsized candidates in the first market minute
    for i in range(37):
        feed(v, decision("vetoed", "ev_lower_below_threshold" if i < 30 else "too_few_samples", T0))
    for _ in range(12):
        feed(v, decision("no_trade", "loss_at_stop_over_cap", T0 + 30_000))
    first_minute = list(shown)
    clock.now += 60
    feed(v, decision("vetoed", "too_few_samples", T0 + MIN))
    # Assert: 3 vetoes shown (short lines), no no_trade line, then one line with the whole minute's counts
    assert len(first_minute) == 3 and all(e["verdict"] == "vetoed" for e in first_minute)
    assert "ev_lower" not in first_minute[0] and first_minute[0]["detail"] == ""
    summary = shown[3]
    assert summary["event"] == (
        "decisions in the last market minute (3 shown above): vetoed 37 candidates (ev_lower_below_threshold 30, "
        "too_few_samples 7); no_trade 12 candidates (loss_at_stop_over_cap 12)"
    )
    assert summary["from_ts"] == "2025-06-01T00:00:00Z" and summary["to_ts"] == "2025-06-01T00:00:30Z"
    assert shown[4]["verdict"] == "vetoed" and len(shown) == 5  # the new window shows its first veto


def test_no_trade_is_never_shown_one_by_one_at_info_but_is_at_debug():
    v, shown = view("info")
    for i in range(5):
        feed(v, decision("no_trade", "below_min_profit", T0 + i))
    assert shown == []
    v, shown = view("debug")
    for i in range(5):
        feed(v, decision("no_trade", "below_min_profit", T0 + i))
    assert len(shown) == 5 and shown[0]["p"] == 0.4  # every decision, every field


def test_at_max_speed_a_window_lasts_at_least_a_wall_second():
    # Arrange: market time races (an hour of decisions) while the wall clock stands still
    clock = Clock()
    v, shown = view(clock=clock)
    for i in range(600):
        feed(v, decision("vetoed", "too_few_samples", T0 + i * 6_000))
    assert len(shown) == 3  # one window: 3 shown, the rest held
    # Act: a wall second later the next decision closes the window
    clock.now += 1.0
    feed(v, decision("vetoed", "too_few_samples", T0 + 3_600_000))
    # Assert
    assert shown[3]["event"].startswith("decisions in the last 60 market minutes (3 shown above): vetoed 600")
    assert len(shown) == 5


def test_one_bar_close_batch_is_never_split_across_windows():
    # Arrange: a window from T0; the next bar's batch starts before a wall second has passed
    clock = Clock()
    v, shown = view(clock=clock)
    for _ in range(5):
        feed(v, decision("vetoed", "too_few_samples", T0))
    feed(v, decision("vetoed", "too_few_samples", T0 + MIN))
    # Act: the wall second passes in the middle of the batch
    clock.now += 1.5
    for _ in range(5):
        feed(v, decision("vetoed", "too_few_samples", T0 + MIN))
    feed(v, {"event": "order", "ts": T0 + MIN})  # an order of the same batch does not close it either
    held = len(shown)
    feed(v, decision("vetoed", "too_few_samples", T0 + 2 * MIN))
    # Assert: the whole T0 + 1 min batch was counted in the first window
    assert held == 3 + 1 and "vetoed 11 candidates" in shown[4]["event"]
    assert shown[4]["to_ts"] == "2025-06-01T00:01:00Z"


def test_the_summary_closes_the_window_and_is_one_row():
    v, shown = view()
    for _ in range(5):
        feed(v, decision("refused", "max_concurrent", T0))
    feed(
        v,
        {"event": "summary", "level": "info", "timestamp": "wall", "capital": "11.23456789", "total_profit":
         "-0.76543211", "trades_today": 12, "active_trades": 2, "avg_profit_per_trade": "-0.0638", "success_rate":
         0.4167, "market_ts": T0 + 12 * 3_600_000, "max_drawdown": "1", "decisions": {"approved": 12},
         "pace": {"status": "behind", "trades_today": 12, "target": 750, "expected_by_now": 375.0}},
    )  # fmt: skip
    counted, row = shown[3], shown[4]
    assert counted["event"].startswith("decisions in the last market minute (3 shown above): refused 5")
    assert row["event"] == (
        "summary | capital 11.2346 USDT | profit -0.7654 | trades today 12 | active 2 | avg/trade -0.0638 | "
        "success 41.7% | pace behind 12/375.0 expected (target 750/day) |"
    )
    assert row["market_ts"] == "2025-06-01T12:00:00Z" and "decisions" not in row and "max_drawdown" not in row


@pytest.fixture
def restore_logging():
    saved = logsetup.saved()
    yield
    logsetup.restore(saved)


def run_events(log) -> None:
    log.info("fill", symbol="BTCUSDT", price=Decimal("60000.5"), ts=T0)
    for i in range(40):
        log.info("decision", symbol="BTCUSDT", verdict="vetoed", reason="too_few_samples", detail="", p=0.4,
                 ev_lower=-0.1, n_eff=3.0, ts=T0 + i)  # fmt: skip
    log.info("decision", symbol="ETHUSDT", verdict="approved", reason="ok", detail="", qty="1", ts=T0 + 50)
    log.info("summary", capital="12", total_profit="0", trades_today=1, active_trades=1, success_rate=None,
             avg_profit_per_trade="0", market_ts=T0 + 60)  # fmt: skip


def test_console_format_through_structlog(restore_logging):
    out = io.StringIO()
    logsetup.configure("console", "info", stream=out)
    run_events(logsetup.get("t"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + 3 + 1 + 1 + 1  # fill, 3 vetoes, approval, the count line, the summary row
    assert "ts=2025-06-01T00:00:00Z" in lines[0] and str(T0) not in out.getvalue()
    assert "vetoed 40 candidates (too_few_samples 40)" in lines[5] and "summary | capital 12.0000 USDT" in lines[6]


def test_json_keeps_every_decision_with_every_field(restore_logging):
    out = io.StringIO()
    logsetup.configure("json", "info", stream=out)
    run_events(logsetup.get("t"))
    events = [json.loads(x) for x in out.getvalue().splitlines()]
    decisions = [e for e in events if e["event"] == "decision"]
    assert len(decisions) == 41 and decisions[0]["ts"] == T0 and decisions[0]["n_eff"] == 3.0
    assert events[0]["price"] == "60000.5"


def test_a_log_file_beside_the_console_gets_the_complete_json(restore_logging, tmp_path):
    out = io.StringIO()
    logsetup.configure("console", "info", stream=out, log_file=tmp_path / "omni.jsonl")
    run_events(logsetup.get("t"))
    events = [json.loads(x) for x in (tmp_path / "omni.jsonl").read_text().splitlines()]
    assert len([e for e in events if e["event"] == "decision"]) == 41 and events[0]["ts"] == T0
    assert len(out.getvalue().splitlines()) == 7

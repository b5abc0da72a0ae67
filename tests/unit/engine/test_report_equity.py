"""The report's equity steps: built from the journal's fills, funding and transfers; the drawdown panel's
maximum is the peak-to-trough of the same step series; plots written with dates, titles and units."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from omni.engine.report import (
    ADJUSTMENT,
    CAPITAL,
    FUNDING,
    TRADING,
    closed_trades,
    equity_steps,
    journal_equity_steps,
    write_report,
)
from omni.journal import Journal, capital_of

T0 = 1_709_251_200_000  # 2024-03-01T00:00:00Z
MIN = 60_000


def fill(exec_id, client_id, side, qty, fee, pnl, closed, ts, exec_type="Trade"):
    row = (exec_id, "o-" + exec_id, client_id, "BTCUSDT", side, qty, "60000", fee, "0.00055", 0, exec_type, pnl,
           closed, None, ts)  # fmt: skip
    return ("fill", row)


@pytest.fixture
def journal(tmp_path):
    """Two round trips (a win, then a loss), a funding payment while the second was open, a withdrawal and a
    deposit, an adjustment."""
    j = Journal(tmp_path / "j.sqlite")
    j.set_meta("capital_start", "100")
    j.write(
        [
            ("order_intent", ("c1", "BTCUSDT", "Buy", "0.01", "Market", None, 0, None, None, "10", T0, T0)),
            fill("e1", "c1", "Buy", "0.01", "0.33", "0", "0", T0 + 1 * MIN),
            fill("e2", "c1x", "Sell", "0.01", "0.33", "5", "0.01", T0 + 10 * MIN),  # +4.67
            fill("e3", "c2", "Sell", "0.01", "0.33", "0", "0", T0 + 20 * MIN),  # -0.33
            fill("f1", "", "Sell", "0.01", "0.05", "0", "0", T0 + 30 * MIN, "Funding"),  # -0.05
            fill("e4", "c2x", "Buy", "0.01", "0.33", "-3", "0.01", T0 + 40 * MIN),  # -3.33
            ("transfer", ("t1", T0 + 50 * MIN, "TRANSFER_OUT", "-10")),
            ("transfer", ("t2", T0 + 60 * MIN, "TRANSFER_IN", "4")),
            ("transfer", ("a1", T0 + 70 * MIN, "Adjustment", "-0.5")),
        ]
    )
    return j


def test_equity_steps_from_the_start_and_the_money_movements():
    # Arrange
    changes = [
        (T0 + 2, TRADING, D("1")),
        (T0 + 1, TRADING, D("-2")),
        (T0 + 2, FUNDING, D("-0.5")),  # same time as the +1: one step of +0.5
        (T0 + 3, TRADING, D("3")),
    ]
    # Act
    s = equity_steps(D("10"), changes, start_ts=T0)
    # Assert
    assert s.ts == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert s.equity == [D("10"), D("8"), D("8.5"), D("11.5")]
    assert s.drawdown == [D("0"), D("2"), D("1.5"), D("0")]
    assert s.max_drawdown == D("2") and s.max_drawdown_ts == T0 + 1 and s.peak_ts == T0


def test_a_withdrawal_is_not_a_drawdown_but_an_adjustment_is():
    changes = [(T0 + 1, TRADING, D("5")), (T0 + 2, CAPITAL, D("-10")), (T0 + 3, ADJUSTMENT, D("-1"))]
    s = equity_steps(D("100"), changes)
    assert s.equity[-1] == D("94")
    assert s.drawdown == [D("0"), D("0"), D("0"), D("1")] and s.max_drawdown == D("1")


def test_the_plotted_max_drawdown_is_the_peak_to_trough_of_the_step_series():
    # Arrange: a random walk of trading results only (no transfers: peak-to-trough is then the whole story)
    import random

    rng = random.Random(7)
    changes = [(T0 + i * MIN, TRADING, D(rng.randint(-300, 250)) / 100) for i in range(500)]
    # Act
    s = equity_steps(D("12"), changes)
    # Assert: brute force over every (peak, later trough) pair of the series
    worst = max(s.equity[i] - s.equity[k] for i in range(len(s.equity)) for k in range(i, len(s.equity)))
    assert s.max_drawdown == worst == max(s.drawdown)
    assert s.max_drawdown > 0


def test_journal_equity_steps_match_the_ledger(journal):
    s = journal_equity_steps(journal)
    # the first point is the start, at the first order; then one step per fill, funding and transfer
    assert s.ts[0] == T0 and s.equity[0] == D("100")
    assert s.equity[1:] == [
        D("99.67"),
        D("104.34"),  # 99.67 - 0.33 + 5
        D("104.01"),
        D("103.96"),  # funding
        D("100.63"),  # - 0.33 - 3
        D("90.63"),  # withdrawal
        D("94.63"),  # deposit
        D("94.13"),  # adjustment
    ]
    assert s.equity[-1] == capital_of(D("100"), journal.ledger())
    # peak 104.34; 3.71 below it at 100.63; the withdrawal and the deposit move the peak (still 3.71 below);
    # the adjustment is a loss like any other: 4.21
    assert s.drawdown[1:] == [D(x) for x in ("0.33", "0", "0.33", "0.38", "3.71", "3.71", "3.71", "4.21")]
    assert s.max_drawdown == D("4.21") and s.max_drawdown_ts == T0 + 70 * MIN and s.peak_ts == T0 + 10 * MIN
    assert s.at(T0 + 15 * MIN) == D("104.34") and s.at(T0 - 1) == D("100")


def test_closed_trades_sit_on_the_equity_steps(journal):
    trades = closed_trades(journal)
    s = journal_equity_steps(journal)
    assert [t["net"] for t in trades] == [D("4.34"), D("-3.71")]
    assert s.at(trades[0]["closed_ts"]) == D("104.34") and s.at(trades[1]["closed_ts"]) == D("100.63")


def test_write_report_states_the_drawdown_of_the_plotted_series(journal, tmp_path):
    pytest.importorskip("matplotlib")
    journal.set_meta("summary", {"max_drawdown": "4.5"})
    journal.write([("risk", (T0 + 45 * MIN, "kill_switch", "daily loss"))])
    path = write_report(journal, tmp_path / "rep")
    text = path.read_text()
    assert "(equity.png)" in text and (tmp_path / "rep" / "equity.png").stat().st_size > 1000
    assert "max drawdown of the equity steps (closed PnL, funding, transfers): 4.21 USDT" in text
    assert "the run's max_drawdown (marked to market): 4.5 USDT" in text
    assert "period (UTC): 2024-03-01T00:00:00Z to 2024-03-01T01:10:00Z" in text

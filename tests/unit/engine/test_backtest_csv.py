"""trades.csv and decisions.csv: the raw columns in place, readable times (ISO UTC) appended beside them."""

from __future__ import annotations

import csv
from decimal import Decimal as D
from types import SimpleNamespace

from omni.core.outcomes import Forecast
from omni.core.pipeline import Decision
from omni.core.portfolio import Trade
from omni.domain.orders import Side
from omni.engine.backtest import DECISION_COLUMNS, TRADE_COLUMNS, write_decisions, write_trades
from omni.logsetup import iso_utc

T0 = 1_709_296_200_000  # 2024-03-01T12:30:00Z


def read(path):
    with path.open() as f:
        return list(csv.reader(f))


def test_iso_utc_shows_milliseconds_only_when_there_are_some():
    assert iso_utc(T0) == "2024-03-01T12:30:00Z"
    assert iso_utc(T0 + 42) == "2024-03-01T12:30:00.042Z"
    assert iso_utc(None) == ""


def test_trades_csv_keeps_its_columns_and_appends_readable_times(tmp_path):
    # Arrange
    t = Trade("BTCUSDT", Side.BUY, T0, T0 + 90 * 60_000, D("1.5"), D("0.1"), D("0.01"), "TakeProfit", "run-1")
    # Act
    write_trades(tmp_path / "trades.csv", [t])
    header, row = read(tmp_path / "trades.csv")
    # Assert: the old columns first, in their order, with their raw values
    old = ["client_id", "symbol", "side", "opened_ts", "closed_ts", "net", "realised", "fees", "funding"]
    assert header[: len(old) + 1] == [*old, "exit_reason"] and header == TRADE_COLUMNS
    rec = dict(zip(header, row, strict=True))
    assert rec["opened_ts"] == str(T0) and rec["net"] == "1.39"
    assert header[-3:] == ["opened_at", "closed_at", "hold_minutes"]
    assert rec["opened_at"] == "2024-03-01T12:30:00Z" and rec["closed_at"] == "2024-03-01T14:00:00Z"
    assert rec["hold_minutes"] == "90.0"


def test_an_open_trade_has_empty_close_times(tmp_path):
    write_trades(tmp_path / "trades.csv", [Trade("BTCUSDT", Side.SELL, T0)])
    header, row = read(tmp_path / "trades.csv")
    rec = dict(zip(header, row, strict=True))
    assert rec["closed_ts"] == "" and rec["closed_at"] == "" and rec["hold_minutes"] == ""


def test_decisions_csv_keeps_its_columns_and_appends_readable_times(tmp_path):
    # Arrange: a vetoed candidate whose counterfactual order was resolved an hour later
    cand = SimpleNamespace(timeframe=5, side=Side.BUY, score=1.23456)
    est = SimpleNamespace(p=0.4, p_lower=0.3, ev=-0.1, ev_lower=-0.2, n=40, n_eff=30.0)
    d = Decision("ETHUSDT", T0, "vetoed", "ev_lower_below_threshold", "", cand, estimate=est, p_cal=0.41)
    exit_ts = T0 + 3_600_000
    f = Forecast(T0, "ETHUSDT", 5, True, "vetoed", "", 0.4, 0.41, -0.1, -0.2, 30.0, 1, 0.9, 1.1, 0.5, 1, 1, 0)
    f.net, f.exit, f.exit_ts = -0.3, "StopLoss", exit_ts
    # Act
    write_decisions(tmp_path / "decisions.csv", [d], {}, {(T0, "ETHUSDT", 5): f})
    header, row = read(tmp_path / "decisions.csv")
    # Assert
    assert header == DECISION_COLUMNS and header[:5] == ["ts", "symbol", "timeframe", "side", "verdict"]
    assert header[-2:] == ["ts_utc", "counterfactual_exit_at"]
    rec = dict(zip(header, row, strict=True))
    assert rec["ts"] == str(T0) and rec["counterfactual_exit_ts"] == str(exit_ts)
    assert rec["ts_utc"] == "2024-03-01T12:30:00Z" and rec["counterfactual_exit_at"] == "2024-03-01T13:30:00Z"


def test_a_decision_without_a_forecast_has_no_exit_time(tmp_path):
    cand = SimpleNamespace(timeframe=1, side=Side.SELL, score=0.5)
    d = Decision("BTCUSDT", T0 + 7, "no_trade", "below_min_profit", "", cand)
    write_decisions(tmp_path / "decisions.csv", [d], {})
    header, row = read(tmp_path / "decisions.csv")
    rec = dict(zip(header, row, strict=True))
    assert rec["ts_utc"] == "2024-03-01T12:30:00.007Z" and rec["counterfactual_exit_at"] == ""

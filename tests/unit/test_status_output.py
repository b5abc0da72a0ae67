"""``omni status`` for a person: Markdown tables, "n/a" where nothing is known yet, never None or a Python repr;
and the small formatters every human output shares."""

from __future__ import annotations

import pytest

from omni.commands.markdown import figure, money, num, percent, table, when
from omni.commands.status import describe, markdown

T0 = 1_748_736_000_000  # 2025-06-01 00:00 UTC


def a_status(**over) -> dict:
    s = {
        "journal": "/x/omni-state/journal.sqlite", "schema_version": 3, "venue": "sim",
        "identity": {"venue": "sim", "market": "synthetic", "seed": 42, "symbols": 20, "start": "2025-06-01",
                     "instruments": None},
        "capital_start": "12", "capital": "12.68985080", "total_profit": "0.68985080", "deposits": "0",
        "withdrawals": "0", "trades_today": 84, "active_trades": 1, "avg_profit_per_trade": "0.00919784",
        "success_rate": 0.4691, "fees_paid": "3.77496991", "funding_paid": "0.00746929",
        "pace": {"status": "behind", "trades_today": 84, "target": 750, "expected_by_now": 375.0},
        "targets": {"trades_per_day": 750, "min_net_profit_usdt": "0.3"}, "kill_switch": None,
        "positions": [{"symbol": "IOTAUSDT", "side": "Sell", "size": "58.4", "entry_price": "0.60630000",
                       "leverage": "15", "liq_price": "0.6345", "stop_loss": "0.6096", "take_profit": None,
                       "ts": T0 + 3_600_000}],
        "last_summary_at": T0 + 43_200_000,
    }  # fmt: skip
    s.update(over)
    return s


def test_status_is_a_metric_table_and_a_positions_table():
    text = markdown(a_status())
    assert text.startswith("# OMNI status (sim)\n")
    assert "Market: sim synthetic seed 42, 20 symbols" in text
    assert "| metric | value |" in text and "| capital | 12.6898508 USDT |" in text
    assert "| success rate | 46.9 % |" in text
    assert "| trades today | 84 (target 750 a day; pace behind: 375 expected by now) |" in text
    assert "| average profit per trade | 0.00919784 USDT (target 0.3) |" in text
    assert "| kill switch | not tripped |" in text and "| last summary (market time) | 2025-06-01 12:00 UTC |" in text
    assert "| IOTAUSDT | Sell | 58.4 | 0.6063 | 15x | 0.6345 | 0.6096 | n/a | 2025-06-01 01:00 UTC |" in text
    assert "deposits" not in text  # none made: not a row
    assert "None" not in text and "{" not in text


def test_a_journal_without_a_summary_yet_says_n_a_never_none():
    text = markdown(
        a_status(
            success_rate=None, avg_profit_per_trade=None, pace=None, targets=None, identity=None, venue=None,
            last_summary_at=None, positions=[], deposits="5", kill_switch="max_drawdown: 31% from peak >= 30%",
        )
    )  # fmt: skip
    assert "success rate: None" not in text and "None" not in text
    assert "| success rate | n/a (no closed trade yet) |" in text
    assert "| average profit per trade | n/a (no closed trade yet) |" in text
    assert "| trades today | 84 |" in text and "| deposits / withdrawals | 5 / 0 USDT |" in text
    assert "| kill switch | max_drawdown: 31% from peak >= 30% |" in text
    assert text.startswith("# OMNI status\n") and "Market:" not in text and "No open positions." in text


def test_describe_names_the_market_in_words():
    assert describe(None) is None and describe({}) is None
    assert describe({"venue": "sim", "market": "replay", "files": ["/d/BTCUSDT.csv.gz", "/d/ETHUSDT.csv"]}) == (
        "sim replay of BTCUSDT.csv.gz, ETHUSDT.csv"
    )
    bybit = describe({"venue": "bybit-testnet", "host": "api-testnet.bybit.com", "user_id": None})
    assert bybit == "bybit-testnet at api-testnet.bybit.com, account n/a"


@pytest.mark.parametrize(
    ("value", "text"),
    [("12.68985080", "12.6898508"), ("12", "12"), ("0E-8", "0"), ("-0.50", "-0.5"), ("1E+2", "100"), (None, "n/a")],
)
def test_money_is_exact_without_trailing_zeros(value, text):
    assert money(value) == text


def test_formatters_say_n_a_for_the_unknown():
    assert (when(None), percent(None), figure(None), num(None)) == ("n/a",) * 4
    assert when(T0) == "2025-06-01 00:00 UTC" and percent(0.5) == "50.0 %" and figure(26053.17, 1) == "26,053.2"
    assert num([0.1234, None]) == "[0.123, n/a]"


def test_table_cells():
    assert table(["a", "b"], [(None, "x|y")], [False, True]) == ["| a | b |", "|---|---:|", "| n/a | x\\|y |"]

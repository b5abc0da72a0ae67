"""Pacer: spaces entries across the UTC day toward the target and reports how the day is going."""

from __future__ import annotations

import pytest

from omni.core.pacer import DAY_MS, Pacer

DAY = 19_700 * DAY_MS  # a UTC midnight
HOUR_MS = 3_600_000


def test_seconds_per_trade_is_seconds_left_over_trades_left():
    # 06:00 -> 18 h = 64 800 s left; 10 - 4 = 6 trades left -> 10 800 s each
    assert Pacer(10).seconds_per_trade(DAY + 6 * HOUR_MS, 4) == 10_800.0


def test_seconds_per_trade_at_midnight_is_the_whole_day_over_the_target():
    assert Pacer(8).seconds_per_trade(DAY, 0) == 86_400.0 / 8


def test_seconds_per_trade_once_target_met_is_the_days_average():
    assert Pacer(8).seconds_per_trade(DAY + 20 * HOUR_MS, 8) == 10_800.0
    assert Pacer(8).seconds_per_trade(DAY + 20 * HOUR_MS, 12) == 10_800.0


def test_first_entry_of_the_day_is_always_allowed():
    assert Pacer(10).allows(DAY + 5, 0)


def test_entries_are_spaced_by_the_seconds_per_trade_at_the_last_entry():
    # Arrange: entry at midnight with target 10 -> next one 8 640 s later
    pacer = Pacer(10)
    pacer.record_entry(DAY)
    gap_ms = 8_640_000
    # Act / Assert
    assert not pacer.allows(DAY + gap_ms - 1, 1)
    assert pacer.allows(DAY + gap_ms, 1)


def test_spacing_uses_the_trades_left_when_the_last_entry_was_made():
    # at 12:00, 2 trades were made before the last entry -> 43 200 s / (4 - 2) = 21 600 s
    pacer = Pacer(4)
    last = DAY + 12 * HOUR_MS
    pacer.record_entry(last)
    assert not pacer.allows(last + 21_600_000 - 1, 3)
    assert pacer.allows(last + 21_600_000, 3)


def test_spacing_resets_on_a_new_utc_day():
    # Arrange: target 2 already exceeded, so the gap is the day's average (43 200 s), longer than the
    # hour left until midnight
    pacer = Pacer(2)
    pacer.record_entry(DAY + 23 * HOUR_MS)
    # Act / Assert
    assert not pacer.allows(DAY + DAY_MS - 1, 4)
    assert pacer.allows(DAY + DAY_MS, 0)  # midnight: a new day, no spacing against yesterday's entry


def test_no_spacing_always_allows():
    pacer = Pacer(1, spacing=False)
    pacer.record_entry(DAY)
    assert pacer.allows(DAY, 1)
    assert pacer.allows(DAY + 1, 50)


@pytest.mark.parametrize(
    ("trades", "status"),
    [(0, "behind"), (4, "behind"), (5, "on_track"), (6, "ahead"), (9, "ahead"), (10, "target_met"), (11, "target_met")],
)
def test_pace_status_at_noon_with_target_ten(trades, status):
    # Act: at 12:00, 5 trades are expected; tolerance 10 % -> on track within [4.5, 5.5]
    pace = Pacer(10).pace(DAY + 12 * HOUR_MS, trades)
    # Assert
    assert pace.status == status
    assert pace.expected_by_now == 5.0
    assert pace.target == 10 and pace.trades_today == trades


def test_pace_reports_the_seconds_per_trade():
    pace = Pacer(10).pace(DAY + 12 * HOUR_MS, 4)
    assert pace.seconds_per_trade == 43_200.0 / 6


def test_pace_at_midnight_with_nothing_done_is_on_track():
    assert Pacer(10).pace(DAY, 0).status == "on_track"


def test_no_trade_with_a_positive_expectation_is_behind():
    # one minute into the day with target 750: 0.52 trades expected, none made
    pace = Pacer(750).pace(DAY + 60_000, 0)
    assert pace.expected_by_now > 0 and pace.status == "behind"


def test_on_track_only_at_or_above_the_expected_count():
    # 11:00 with target 10: 4.58 expected; 4 trades is short of it (no tolerance below), 5 is at or above it
    assert Pacer(10).pace(DAY + 11 * HOUR_MS, 4).status == "behind"
    assert Pacer(10).pace(DAY + 11 * HOUR_MS, 5).status == "on_track"

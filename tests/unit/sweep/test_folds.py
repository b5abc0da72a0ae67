"""omni.sweep.folds: consecutive walk-forward folds with a warm-up before each and an embargo between."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from omni.sweep.folds import Fold, plan_folds

H = 3_600_000
MIN = 60_000
DAY = 24 * H
T0 = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)


def test_hand_worked_boundaries_10_days_4_folds():
    # traded range: 240 h - 6 h warm-up = 234 h -> 4 folds of 58.5 h; folds 1..3 trade an hour after their start
    folds = plan_folds(T0, T0 + 10 * DAY, 4, 6 * H, 60 * MIN)
    assert [(f.index, f.replay_from - T0, f.trade_from - T0, f.end - T0) for f in folds] == [
        (0, 0, 6 * H, 64 * H + 30 * MIN),
        (1, 59 * H + 30 * MIN, 65 * H + 30 * MIN, 123 * H),
        (2, 118 * H, 124 * H, 181 * H + 30 * MIN),
        (3, 176 * H + 30 * MIN, 182 * H + 30 * MIN, 240 * H),
    ]
    assert [f.hours for f in folds] == [59, 58, 58, 58]  # 58.5, 57.5, 57.5, 57.5 rounded up


def test_folds_tile_the_range_and_the_last_ends_at_end():
    end = T0 + 7 * DAY + 13 * MIN + 5_000  # not on a minute
    warm, emb = 3 * H + 7 * MIN, 45 * MIN
    folds = plan_folds(T0, end, 5, warm, emb)
    assert len(folds) == 5 and [f.index for f in folds] == list(range(5))
    assert folds[-1].end == end
    assert folds[0].trade_from == T0 + warm and folds[0].replay_from == T0
    span = folds[0].end - folds[0].trade_from
    assert span % MIN == 0
    for prev, f in itertools.pairwise(folds):
        assert f.trade_from == prev.end + emb  # embargo after the previous fold
        assert f.end - (f.trade_from - emb) == span or f is folds[-1]
    for f in folds:
        assert f.replay_from == f.trade_from - warm
        assert f.replay_from < f.trade_from < f.end


def test_no_warmup_no_embargo():
    folds = plan_folds(T0, T0 + 4 * H, 2, 0, 0)
    assert [(f.replay_from, f.trade_from, f.end) for f in folds] == [
        (T0, T0, T0 + 2 * H),
        (T0 + 2 * H, T0 + 2 * H, T0 + 4 * H),
    ]


def test_too_short_data_is_refused_with_a_clear_message():
    with pytest.raises(ValueError) as e:
        plan_folds(T0, T0 + 1 * DAY, 4, 6 * H, 6 * H)
    msg = str(e.value)
    assert "1.0 days of data cannot hold 4 folds" in msg
    assert "6 h warm-up" in msg and "360 min embargo" in msg
    assert "fewer folds or more data" in msg


def test_warmup_longer_than_the_data_is_refused():
    with pytest.raises(ValueError, match="folds"):
        plan_folds(T0, T0 + 2 * H, 2, 3 * H, 0)


def test_just_enough_and_just_too_little():
    # span must exceed embargo + 1 min: with 2 folds of 62 min and a 60 min embargo, fold 1 trades 2 minutes
    folds = plan_folds(T0, T0 + 124 * MIN, 2, 0, 60 * MIN)
    assert folds[1].end - folds[1].trade_from == 2 * MIN
    with pytest.raises(ValueError, match="embargo"):
        plan_folds(T0, T0 + 122 * MIN, 2, 0, 60 * MIN)


@pytest.mark.parametrize("k", [1, 0, -3])
def test_fewer_than_two_folds_is_refused(k):
    with pytest.raises(ValueError, match="at least 2 folds"):
        plan_folds(T0, T0 + 10 * DAY, k, 0, 0)


def test_hours_round_up():
    assert Fold(0, T0, T0, T0 + H).hours == 1
    assert Fold(0, T0, T0, T0 + H + 1).hours == 2
    assert Fold(0, T0, T0, T0 + 1).hours == 1
    assert Fold(0, T0, T0, T0 + 90 * MIN).hours == 2
    assert Fold(0, T0, T0 + H, T0 + 3 * H).hours == 2  # counted from trade_from, not replay_from


def test_to_dict_iso_strings():
    f = Fold(2, T0, T0 + 6 * H, T0 + DAY + 30 * MIN)
    assert f.to_dict() == {
        "index": 2, "replay_from": "2025-06-01T00:00:00Z", "trade_from": "2025-06-01T06:00:00Z",
        "end": "2025-06-02T00:30:00Z", "hours": 19,
    }  # fmt: skip

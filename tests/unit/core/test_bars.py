"""BarAggregator / MultiTimeframe: OHLCV maths, epoch alignment, gaps."""

from __future__ import annotations

import pytest

from omni.core.bars import BarAggregator, MultiTimeframe
from omni.domain.market import MINUTE_MS, Bar

T0 = 1_750_000_020_000 - 1_750_000_020_000 % (15 * MINUTE_MS)  # a 15-minute (so 3m and 5m) boundary


def one_minute(i: int, o: float, h: float, lo: float, c: float, v: float, symbol: str = "BTCUSDT") -> Bar:
    return Bar(symbol, T0 + i * MINUTE_MS, o, h, lo, c, v)


def feed(agg: BarAggregator, bars: list[Bar]) -> list[Bar]:
    out = []
    for bar in bars:
        done = agg.update(bar)
        if done is not None:
            out.append(done)
    return out


def test_3m_bar_combines_ohlcv_of_its_three_minutes() -> None:
    # Arrange
    agg = BarAggregator(3)
    minutes = [
        one_minute(0, 100.0, 101.0, 99.5, 100.5, 2.0),
        one_minute(1, 100.5, 103.0, 100.0, 102.0, 3.0),
        one_minute(2, 102.0, 102.5, 98.0, 99.0, 5.5),
    ]

    # Act
    results = [agg.update(b) for b in minutes]

    # Assert
    assert results[:2] == [None, None]
    assert results[2] == Bar("BTCUSDT", T0, 100.0, 103.0, 98.0, 99.0, 10.5, 3)
    assert results[2].close_ts == T0 + 3 * MINUTE_MS
    assert not agg.in_progress


def test_5m_bars_are_aligned_to_epoch_multiples_of_five_minutes() -> None:
    # Arrange: start mid-bucket, at minute 2 of a 5m bucket
    agg = BarAggregator(5)
    minutes = [one_minute(i, 10.0 + i, 10.5 + i, 9.5 + i, 10.2 + i, 1.0) for i in range(2, 15)]

    # Act
    out = feed(agg, minutes)

    # Assert: the partial first bucket closes at minute 5, then two full buckets
    assert [b.ts for b in out] == [T0, T0 + 5 * MINUTE_MS, T0 + 10 * MINUTE_MS]
    assert all(b.ts % (5 * MINUTE_MS) == 0 and b.minutes == 5 for b in out)
    assert out[0].open == 12.0 and out[0].volume == 3.0
    full = out[1]
    assert (full.open, full.high, full.low, full.close, full.volume) == (15.0, 10.5 + 9, 9.5 + 5, 10.2 + 9, 5.0)


def test_gap_emits_the_incomplete_bar_when_a_later_bucket_starts() -> None:
    # Arrange: 3m bucket [0, 3) gets minute 0 only, then data resumes at minute 4
    agg = BarAggregator(3)
    first = one_minute(0, 50.0, 51.0, 49.0, 50.5, 4.0)
    after_gap = one_minute(4, 52.0, 53.0, 51.5, 52.5, 1.0)

    # Act
    assert agg.update(first) is None
    flushed = agg.update(after_gap)

    # Assert: the incomplete bar is what the market did in the minute that traded
    assert flushed == Bar("BTCUSDT", T0, 50.0, 51.0, 49.0, 50.5, 4.0, 3)
    assert agg.in_progress  # bucket [3, 6) now holds minute 4


def test_gap_ending_on_a_bucket_last_minute_finishes_two_bars() -> None:
    # Arrange
    agg = BarAggregator(3)
    agg.update(one_minute(0, 50.0, 51.0, 49.0, 50.5, 4.0))

    # Act: minute 5 is the last minute of bucket [3, 6)
    done = agg.update_all(one_minute(5, 52.0, 53.0, 51.5, 52.5, 1.0))

    # Assert
    assert [(b.ts, b.open, b.volume) for b in done] == [(T0, 50.0, 4.0), (T0 + 3 * MINUTE_MS, 52.0, 1.0)]


def test_missing_middle_minute_still_closes_on_the_last_minute() -> None:
    # Arrange
    agg = BarAggregator(3)

    # Act
    out = feed(agg, [one_minute(0, 1.0, 2.0, 0.5, 1.5, 1.0), one_minute(2, 1.5, 3.0, 1.0, 2.5, 2.0)])

    # Assert
    assert out == [Bar("BTCUSDT", T0, 1.0, 3.0, 0.5, 2.5, 3.0, 3)]


def test_flush_emits_the_bar_in_progress_once() -> None:
    # Arrange
    agg = BarAggregator(5)
    agg.update(one_minute(0, 1.0, 2.0, 0.5, 1.5, 1.0))

    # Act
    first, second = agg.flush(), agg.flush()

    # Assert
    assert first == Bar("BTCUSDT", T0, 1.0, 2.0, 0.5, 1.5, 1.0, 5)
    assert second is None


@pytest.mark.parametrize("ts_offset", [0, -1])
def test_repeated_or_older_minute_is_dropped_and_counted_not_raised(ts_offset: int) -> None:
    # Arrange: a live feed can deliver a minute twice (warm-up overlap, a testnet double confirm)
    agg = BarAggregator(3)
    agg.update(one_minute(1, 1.0, 2.0, 0.5, 1.5, 1.0))

    # Act
    out = agg.update_all(one_minute(1 + ts_offset, 9.0, 9.0, 9.0, 9.0, 9.0))
    done = agg.update(one_minute(2, 1.0, 3.0, 0.5, 2.0, 1.0))

    # Assert: the repeat changed nothing; the bucket still completes from the good minutes
    assert out == ()
    assert agg.dropped == 1
    assert done == Bar("BTCUSDT", T0, 1.0, 3.0, 0.5, 2.0, 2.0, 3)


def test_non_1m_input_and_another_symbol_are_dropped_and_counted() -> None:
    agg = BarAggregator(3)
    assert agg.update(Bar("BTCUSDT", T0, 1.0, 1.0, 1.0, 1.0, 1.0, 5)) is None
    agg.update(one_minute(0, 1.0, 1.0, 1.0, 1.0, 1.0))
    assert agg.update(one_minute(4, 1.0, 1.0, 1.0, 1.0, 1.0, symbol="ETHUSDT")) is None
    assert agg.dropped == 2


def test_multi_timeframe_returns_1m_then_completed_higher_bars_per_symbol() -> None:
    # Arrange
    mtf = MultiTimeframe([5, 1, 3])
    btc = [one_minute(i, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 1.0) for i in range(15)]
    eth = [one_minute(i, 10.0, 11.0, 9.0, 10.0, 2.0, symbol="ETHUSDT") for i in range(15)]

    # Act
    out = []
    for b, e in zip(btc, eth, strict=True):
        out.append(mtf.update(b))
        out.append(mtf.update(e))

    # Assert
    minute_2_btc = out[4]
    assert [b.minutes for b in minute_2_btc] == [1, 3]
    minute_14_eth = out[29]
    assert [(b.symbol, b.minutes) for b in minute_14_eth] == [("ETHUSDT", 1), ("ETHUSDT", 3), ("ETHUSDT", 5)]
    five_min = [bar for batch in out for bar in batch if bar.minutes == 5 and bar.symbol == "BTCUSDT"]
    assert [(b.ts, b.open, b.close, b.volume) for b in five_min] == [
        (T0, 100.0, 104.5, 5.0),
        (T0 + 5 * MINUTE_MS, 105.0, 109.5, 5.0),
        (T0 + 10 * MINUTE_MS, 110.0, 114.5, 5.0),
    ]


def test_multi_timeframe_without_1m_only_returns_higher_bars() -> None:
    # Arrange
    mtf = MultiTimeframe([3])

    # Act
    outs = [mtf.update(one_minute(i, 1.0, 1.0, 1.0, 1.0, 1.0)) for i in range(4)]
    tail = mtf.flush()

    # Assert
    assert [len(o) for o in outs] == [0, 0, 1, 0]
    assert [(b.ts, b.volume) for b in tail] == [(T0 + 3 * MINUTE_MS, 1.0)]

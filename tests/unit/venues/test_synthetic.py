"""SyntheticMarket: determinism, bar consistency, funding schedule."""

from __future__ import annotations

from decimal import Decimal
from itertools import islice, pairwise

import pytest

from omni.domain.market import MINUTE_MS, Bar, MarketBatch
from omni.venues.instruments_file import default_instruments_path, generated_instruments, load_instruments
from omni.venues.synthetic import SyntheticMarket

# 2025-01-01 00:00 UTC
START = 1_735_689_600_000
HOUR = 60 * MINUTE_MS


def take(market: SyntheticMarket, n: int) -> list[MarketBatch]:
    return list(islice(market, n))


@pytest.fixture(scope="module")
def instruments() -> dict:
    return generated_instruments(60, seed=11)


def test_same_seed_gives_identical_stream(instruments: dict) -> None:
    # Arrange
    a = SyntheticMarket(instruments, seed=5, start_ts=START, symbols=10)
    b = SyntheticMarket(instruments, seed=5, start_ts=START, symbols=10)

    # Act
    first, second, again = take(a, 600), take(b, 600), take(a, 600)

    # Assert
    assert a.instruments.keys() == b.instruments.keys()
    assert a.start_prices == b.start_prices
    assert first == second
    assert first == again  # iterating again restarts the stream


def test_different_seeds_differ(instruments: dict) -> None:
    # Arrange
    a = SyntheticMarket(instruments, seed=1, start_ts=START, symbols=10)
    b = SyntheticMarket(instruments, seed=2, start_ts=START, symbols=10)

    # Act / Assert
    assert take(a, 50) != take(b, 50)


def test_symbols_picks_a_seeded_subset_and_none_takes_all(instruments: dict) -> None:
    # Act
    some = SyntheticMarket(instruments, seed=9, start_ts=START, symbols=7)
    all_ = SyntheticMarket(instruments, seed=9, start_ts=START)

    # Assert
    assert len(some.instruments) == 7 and set(some.instruments) <= set(instruments)
    assert set(all_.instruments) == set(instruments)
    with pytest.raises(ValueError, match="symbols"):
        SyntheticMarket(instruments, seed=9, start_ts=START, symbols=61)


def test_bars_are_consistent_positive_on_tick_and_minutely(instruments: dict) -> None:
    # Arrange
    market = SyntheticMarket(instruments, seed=42, start_ts=START + 12_345, symbols=50)
    ticks = {s: i.tick_size for s, i in market.instruments.items()}
    floors = {s: 5 * i.tick_f for s, i in market.instruments.items()}
    last_close = dict(market.start_prices)

    # Act
    batches = take(market, 2000)

    # Assert
    assert batches[0].ts == START + MINUTE_MS  # start_ts is floored to the minute
    for n, batch in enumerate(batches):
        assert batch.ts == START + (n + 1) * MINUTE_MS
        assert [b.symbol for b in batch.bars] == list(market.instruments)
        for bar in batch.bars:
            assert type(bar) is Bar and bar.minutes == 1 and bar.close_ts == batch.ts
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
            assert bar.low >= floors[bar.symbol] > 0
            assert bar.volume > 0
            assert bar.open == last_close[bar.symbol]  # continuous: open = previous close
            last_close[bar.symbol] = bar.close
    for bar in batches[-1].bars:  # spot-check exact tick alignment on the last batch
        for price in (bar.open, bar.high, bar.low, bar.close):
            assert Decimal(repr(price)) % ticks[bar.symbol] == 0


def test_prices_actually_move_and_regimes_vary(instruments: dict) -> None:
    # Arrange
    market = SyntheticMarket(instruments, seed=3, start_ts=START, symbols=5)

    # Act
    closes = {s: [] for s in market.instruments}
    for batch in take(market, 5000):
        for bar in batch.bars:
            closes[bar.symbol].append(bar.close)

    # Assert: every symbol moves, and its absolute returns are visibly heteroscedastic
    for series in closes.values():
        assert len(set(series)) > 100
        rets = [abs(b / a - 1) for a, b in pairwise(series)]
        windows = sorted(sum(rets[i : i + 250]) for i in range(0, len(rets) - 250, 250))
        assert windows[-1] > 1.5 * windows[0]


def test_funding_settles_at_00_08_16_utc_for_8h_symbols(instruments: dict) -> None:
    # Arrange
    market = SyntheticMarket(instruments, seed=8, start_ts=START, symbols=30)
    eight_hour = {s for s, i in market.instruments.items() if i.funding_interval_min == 480}
    four_hour = {s for s, i in market.instruments.items() if i.funding_interval_min == 240}
    assert eight_hour

    # Act: two days
    batches = take(market, 2 * 24 * 60)

    # Assert
    with_funding = [b for b in batches if b.fundings]
    assert all(b.ts % (4 * HOUR) == 0 for b in with_funding)
    eight_times = [b.ts for b in batches if {f.symbol for f in b.fundings} & eight_hour]
    assert [(t - START) // HOUR for t in eight_times] == [8, 16, 24, 32, 40, 48]
    for batch in with_funding:
        paid = {f.symbol for f in batch.fundings}
        assert paid == eight_hour | four_hour if batch.ts % (8 * HOUR) == 0 else paid == four_hour
        for f in batch.fundings:
            assert f.ts == batch.ts and -0.0075 <= f.rate <= 0.0075


def test_funding_rates_hover_around_one_basis_point(instruments: dict) -> None:
    # Arrange
    market = SyntheticMarket(instruments, seed=21, start_ts=START, symbols=20)

    # Act: 10 days, about 600 settlements
    rates = [f.rate for b in islice(market, 10 * 24 * 60) for f in b.fundings]

    # Assert
    assert len(rates) >= 20 * 30
    mean = sum(rates) / len(rates)
    assert -0.0005 < mean < 0.0007
    assert len(set(rates)) > len(rates) // 2


def test_real_instruments_work_when_present() -> None:
    # Arrange
    path = default_instruments_path()
    if path is None:
        pytest.skip("shared data (instruments/bybit-linear.json) not available")
    market = SyntheticMarket(load_instruments(path), seed=1, start_ts=START, symbols=100)

    # Act
    batches = take(market, 300)

    # Assert
    assert all(len(b.bars) == 100 for b in batches)
    for bar in batches[-1].bars:
        assert 0 < bar.low <= bar.high

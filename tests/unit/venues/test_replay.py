"""Replay: strict validation of kline/funding files and the merged MarketBatch stream."""

from __future__ import annotations

import gzip
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from omni.domain.errors import DataError
from omni.domain.market import MINUTE_MS, Bar, Funding
from omni.venues.instruments_file import generated_instruments, shared_data_dir
from omni.venues.replay import (
    ReplayMarket,
    classify,
    load_funding,
    load_klines,
    sibling_funding,
)

HEADER = "ts,open,high,low,close,volume"
T0 = 1_746_403_200_000  # 2025-05-05 00:00 UTC
HOUR = 60 * MINUTE_MS


def kline_rows(n: int, start: int = T0, price: float = 100.0, step: int = MINUTE_MS) -> list[str]:
    rows = []
    for i in range(n):
        o = price + i * 0.1
        rows.append(f"{start + i * step},{o:.1f},{o + 0.5:.1f},{o - 0.3:.1f},{o + 0.1:.1f},{1.5 + i}")
    return rows


def write(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def expect_error(path: Path, line: int | None, *fragments: str) -> DataError:
    with pytest.raises(DataError) as err:
        load_klines(path)
    assert err.value.path == str(path)
    assert err.value.line == line
    for fragment in fragments:
        assert fragment in err.value.reason
    return err.value


def test_good_gzip_file_round_trips(tmp_path: Path) -> None:
    # Arrange
    rows = kline_rows(5)
    path = write(tmp_path / "BTCUSDT.csv.gz", [HEADER, *rows])

    # Act
    series = load_klines(path)

    # Assert
    assert series.symbol == "BTCUSDT" and series.path == str(path) and len(series) == 5
    assert list(series.ts) == [T0 + i * MINUTE_MS for i in range(5)]
    assert series.open[1] == 100.1 and series.high[1] == 100.6 and series.low[1] == 99.8
    assert series.close[4] == 100.5 and series.volume[4] == 5.5
    assert series.price_decimals == 1


def test_plain_csv_with_crlf_and_gaps_is_accepted(tmp_path: Path) -> None:
    # Arrange: minute 2 missing (gaps are allowed after the first step)
    rows = kline_rows(4)
    del rows[2]
    path = tmp_path / "ETHUSDT.csv"
    path.write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n").encode())

    # Act
    series = load_klines(path)

    # Assert
    assert series.symbol == "ETHUSDT"
    assert list(series.ts) == [T0, T0 + MINUTE_MS, T0 + 3 * MINUTE_MS]


def test_truncated_gzip_names_the_line_after_the_last_good_one(tmp_path: Path) -> None:
    # Arrange: a 3000-row file with its tail cut off
    good = write(tmp_path / "good.csv.gz", [HEADER, *kline_rows(3000)])
    data = good.read_bytes()
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(data[: len(data) - 200])

    # Act
    with pytest.raises(DataError) as info:
        load_klines(path)
    err = info.value

    # Assert: the rows before the damage were read; the failure is reported near the cut
    assert err.path == str(path)
    assert "truncated or corrupt gzip" in err.reason
    assert err.line is not None and 1500 < err.line <= 3001


def test_truncated_gzip_line_is_exactly_last_good_plus_one(tmp_path: Path) -> None:
    # Arrange: cut only the 8-byte gzip trailer, so every row decompresses and then the stream ends early
    good = write(tmp_path / "good.csv.gz", [HEADER, *kline_rows(10)])
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(good.read_bytes()[:-8])

    # Act / Assert: header + 10 rows read, so the failure is on line 12
    expect_error(path, 12, "truncated or corrupt gzip")


def test_corrupt_gzip_bytes_are_reported(tmp_path: Path) -> None:
    # Arrange: not gzip at all
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(b"this is not gzip data at all")

    # Act / Assert
    expect_error(path, 1, "truncated or corrupt gzip")


@pytest.mark.parametrize(
    ("row", "fragments"),
    [
        (f"{T0 + 2 * MINUTE_MS},nan,101,99,100,1", ("NaN or infinite",)),
        (f"{T0 + 2 * MINUTE_MS},100,inf,99,100,1", ("NaN or infinite",)),
        (f"{T0 + 2 * MINUTE_MS},-100,101,-101,100,1", ("price must be > 0",)),
        (f"{T0 + 2 * MINUTE_MS},100,101,99,100,-1", ("negative volume",)),
        (f"{T0 + 2 * MINUTE_MS},100,98,99,100,1", ("inconsistent OHLC",)),
        (f"{T0 + 2 * MINUTE_MS},100,101,100.5,100,1", ("inconsistent OHLC",)),
        (f"{T0 + 2 * MINUTE_MS},100,101,99,1", ("expected 6 columns, got 5",)),
        (f"{T0 + 2 * MINUTE_MS},100,101,99,abc,1", ("unparsable number",)),
        (f"{T0 + MINUTE_MS},100,101,99,100,1", ("duplicate timestamp", str(T0 + MINUTE_MS))),
        (f"{T0},100,101,99,100,1", ("timestamp out of order", f"{T0} after {T0 + MINUTE_MS}")),
        (f"{T0 + 2 * MINUTE_MS + 30_000},100,101,99,100,1", ("not a whole number of 1-minute bars",)),
    ],
)
def test_bad_row_raises_with_path_line_and_reason(tmp_path: Path, row: str, fragments: tuple[str, ...]) -> None:
    # Arrange: header (line 1), two good rows (lines 2-3), the bad row on line 4, one more good row
    path = write(tmp_path / "BTCUSDT.csv.gz", [HEADER, *kline_rows(2), row, kline_rows(1, T0 + 10 * MINUTE_MS)[0]])

    # Act / Assert
    expect_error(path, 4, *fragments)


def test_wrong_header_is_line_1(tmp_path: Path) -> None:
    path = write(tmp_path / "BTCUSDT.csv.gz", ["date,open,high,low,close,volume", *kline_rows(3)])

    err = expect_error(path, 1, "header must be")

    assert "date,open" in err.reason


def test_five_minute_data_is_replayed_as_five_minute_bars(tmp_path: Path) -> None:
    path = write(tmp_path / "BTCUSDT.csv.gz", [HEADER, *kline_rows(4, step=5 * MINUTE_MS)])

    series = load_klines(path)
    [first, *_] = list(ReplayMarket([path], {}))

    assert series.minutes == 5
    assert first.ts == T0 + 5 * MINUTE_MS and first.bars[0].minutes == 5 and first.bars[0].ts == T0


def test_two_minute_data_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "BTCUSDT.csv.gz", [HEADER, *kline_rows(4, step=2 * MINUTE_MS)])

    expect_error(path, 3, "2 minutes", "1m, 3m or 5m")


def test_five_minute_file_with_an_off_grid_step_is_refused(tmp_path: Path) -> None:
    rows = [*kline_rows(3, step=5 * MINUTE_MS), f"{T0 + 16 * MINUTE_MS},100,101,99,100,1"]
    path = write(tmp_path / "BTCUSDT.csv.gz", [HEADER, *rows])

    expect_error(path, 5, "not a whole number of 5-minute bars")


def test_file_without_rows_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "BTCUSDT.csv.gz", [HEADER])

    expect_error(path, None, "no rows")


def test_funding_file_validation(tmp_path: Path) -> None:
    # Arrange
    good = write(tmp_path / "BTCUSDT.csv.gz", ["ts,rate", f"{T0},0.0001", f"{T0 + 8 * HOUR},-0.00025"])
    huge = write(tmp_path / "ETHUSDT.csv.gz", ["ts,rate", f"{T0},0.0001", f"{T0 + 8 * HOUR},0.5"])
    dup = write(tmp_path / "SOLUSDT.csv.gz", ["ts,rate", f"{T0},0.0001", f"{T0},0.0001"])
    nan = write(tmp_path / "XRPUSDT.csv.gz", ["ts,rate", f"{T0},nan"])

    # Act
    series = load_funding(good)

    # Assert
    assert (series.symbol, list(series.ts), list(series.rate)) == ("BTCUSDT", [T0, T0 + 8 * HOUR], [0.0001, -0.00025])
    for path, line, fragment in ((huge, 3, "not within"), (dup, 3, "duplicate timestamp"), (nan, 2, "not finite")):
        with pytest.raises(DataError) as err:
            load_funding(path)
        assert (err.value.path, err.value.line) == (str(path), line)
        assert fragment in err.value.reason


def test_classify_by_header(tmp_path: Path) -> None:
    # Arrange
    k = write(tmp_path / "BTCUSDT.csv.gz", [HEADER, *kline_rows(1)])
    f = write(tmp_path / "BTCUSDT.csv", ["ts,rate", f"{T0},0.0001"])
    other = write(tmp_path / "BTCUSDT-trades.csv.gz", ["ts,side,price,qty,trade_id"])

    # Act / Assert
    assert classify(k) == "klines"
    assert classify(f) == "funding"
    with pytest.raises(DataError, match="unknown header") as err:
        classify(other)
    assert err.value.line == 1


def test_replay_merges_symbols_with_different_ranges_in_time_order(tmp_path: Path) -> None:
    # Arrange: BTC minutes 0..4, ETH minutes 3..7 with minute 5 missing; funding at the 8h boundary
    start = T0 + 8 * HOUR - 3 * MINUTE_MS
    btc = write(tmp_path / "BTCUSDT.csv.gz", [HEADER, *kline_rows(5, start)])
    eth_rows = kline_rows(5, start + 3 * MINUTE_MS, price=2000.0)
    del eth_rows[2]
    eth = write(tmp_path / "ETHUSDT.csv.gz", [HEADER, *eth_rows])
    btc_f = write(tmp_path / "f" / "BTCUSDT.csv.gz", ["ts,rate", f"{T0},0.0003", f"{T0 + 8 * HOUR},0.0001"])
    sol_f = write(tmp_path / "f" / "SOLUSDT.csv.gz", ["ts,rate", f"{T0 + 8 * HOUR},0.0002"])
    btc_spec = replace(generated_instruments(1, seed=0)["SYN001USDT"], symbol="BTCUSDT")

    # Act
    market = ReplayMarket([eth, btc_f, sol_f, btc], {"BTCUSDT": btc_spec})
    batches = list(market)

    # Assert
    closes = [start + (i + 1) * MINUTE_MS for i in range(8)]
    assert [b.ts for b in batches] == [c for c in closes if c != start + 6 * MINUTE_MS]
    assert [[bar.symbol for bar in b.bars] for b in batches] == [
        ["BTCUSDT"],
        ["BTCUSDT"],
        ["BTCUSDT"],
        ["BTCUSDT", "ETHUSDT"],
        ["BTCUSDT", "ETHUSDT"],
        ["ETHUSDT"],
        ["ETHUSDT"],
    ]
    for batch in batches:
        assert all(bar.close_ts == batch.ts for bar in batch.bars)
    assert batches[0].bars[0] == Bar("BTCUSDT", start, 100.0, 100.5, 99.7, 100.1, 1.5, 1)
    # only the settlement inside BTC's range (8h, the close of its 3rd bar); SOL has no klines
    fundings = [(b.ts, f) for b in batches for f in b.fundings]
    assert fundings == [(T0 + 8 * HOUR, Funding("BTCUSDT", T0 + 8 * HOUR, 0.0001))]
    assert market.first_ts == closes[0] and market.last_ts == closes[-1]
    assert market.symbols == ["BTCUSDT", "ETHUSDT"]
    assert market.instruments["BTCUSDT"] is btc_spec
    assert market.instruments["ETHUSDT"].tick_size == Decimal("0.1")  # fallback derived from the data
    assert list(market) == batches  # iterating again replays the same stream


def test_unknown_symbol_gets_a_fallback_instrument_from_the_data(tmp_path: Path) -> None:
    # Arrange
    rows = [f"{T0},0.01234,0.0124,0.0123,0.01235,100", f"{T0 + MINUTE_MS},0.01235,0.01236,0.0123,0.0123,5"]
    path = write(tmp_path / "PEPEUSDT.csv.gz", [HEADER, *rows])

    # Act
    inst = ReplayMarket([path], {}).instruments["PEPEUSDT"]

    # Assert
    assert inst.tick_size == Decimal("0.00001")
    assert (inst.qty_step, inst.min_qty, inst.max_qty) == (Decimal("0.001"), Decimal("0.001"), Decimal(1_000_000))
    assert inst.max_leverage == Decimal(50)


def test_replay_refuses_a_bad_file_up_front(tmp_path: Path) -> None:
    # Arrange
    good = write(tmp_path / "BTCUSDT.csv.gz", [HEADER, *kline_rows(3)])
    bad = write(tmp_path / "ETHUSDT.csv.gz", [HEADER, *kline_rows(2), f"{T0 + 2 * MINUTE_MS},1,1,1,nan,1"])

    # Act / Assert
    with pytest.raises(DataError) as err:
        ReplayMarket([good, bad], {})
    assert (err.value.path, err.value.line) == (str(bad), 4)


def test_sibling_funding_follows_the_shared_layout(tmp_path: Path) -> None:
    # Arrange
    kline = write(tmp_path / "klines" / "1m" / "binance-usdm" / "BTCUSDT.csv.gz", [HEADER, *kline_rows(1)])
    funding = write(tmp_path / "funding" / "bybit-linear" / "BTCUSDT.csv.gz", ["ts,rate", f"{T0},0.0001"])
    lonely = write(tmp_path / "klines" / "1m" / "binance-usdm" / "DOGEUSDT.csv.gz", [HEADER, *kline_rows(1)])

    # Act / Assert
    assert sibling_funding(kline) == funding
    assert sibling_funding(lonely) is None
    assert sibling_funding(tmp_path / "BTCUSDT.csv.gz") is None


def test_real_btc_file_when_present() -> None:
    # Arrange
    base = shared_data_dir()
    path = base / "klines" / "1m" / "binance-usdm" / "BTCUSDT.csv.gz" if base else None
    if path is None or not path.is_file():
        pytest.skip("shared data (klines/1m/binance-usdm/BTCUSDT.csv.gz) not available")

    # Act
    series = load_klines(path)

    # Assert
    assert len(series) == 73139
    assert series.ts[0] == 1746372780000
    assert series.price_decimals == 1
    assert sibling_funding(path) is not None

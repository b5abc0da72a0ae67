"""The Parquet market-history store: month files written atomically, read back validated (file and row named)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omni.domain.errors import DataError
from omni.domain.market import MINUTE_MS
from omni.history.convert import import_csv
from omni.venues import store
from omni.venues.replay import ReplayMarket, load_funding, load_klines

M = MINUTE_MS
HOUR = 60 * M
T0 = 1_746_403_200_000  # 2025-05-05 00:00 UTC (the CSV tests' start)
NEW_YEAR = 1_735_689_600_000  # 2025-01-01 00:00 UTC
FEB_1 = 1_738_368_000_000  # 2025-02-01 00:00 UTC
KLINE_HEADER = "ts,open,high,low,close,volume"


def kline_cols(n: int, start: int = T0, step: int = M, price: float = 100.0) -> dict[str, np.ndarray]:
    """Columns of ``n`` bars with the CSV tests' prices (exact one-decimal floats)."""
    o = np.array([round(price + i * 0.1, 1) for i in range(n)])
    return {
        "ts": np.array([start + i * step for i in range(n)], dtype=np.int64),
        "open": o,
        "high": np.round(o + 0.5, 1),
        "low": np.round(o - 0.3, 1),
        "close": np.round(o + 0.1, 1),
        "volume": np.array([1.5 + i for i in range(n)]),
    }


def mark_cols(n: int, start: int = T0, price: float = 100.0) -> dict[str, np.ndarray]:
    cols = kline_cols(n, start, price=price)
    del cols["volume"]
    return cols


def kline_rows(cols: dict[str, np.ndarray]) -> list[str]:
    """The same bars as CSV lines (floats as their shortest text)."""
    keys = ("ts", "open", "high", "low", "close", "volume")
    return [",".join(repr(v) for v in row) for row in zip(*(cols[k].tolist() for k in keys), strict=True)]


def write_gz(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def set_cell(path: Path, column: str, row: int, value: Any) -> None:
    """Rewrite one cell (0-based ``row``) of a month file in place, keeping its schema (``None`` writes a null)."""
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[row] = value
    field = table.schema.field(column)
    table = table.set_column(table.schema.get_field_index(column), field, pa.array(values, type=field.type))
    pq.write_table(table, path)


def expect_row_error(read: Callable[[], Any], path: Path, row: int, *fragments: str) -> DataError:
    with pytest.raises(DataError) as info:
        read()
    err = info.value
    assert err.path == str(path)
    assert err.line is None
    assert err.reason.startswith(f"row {row}: ")
    assert str(err).startswith(f"{path}: row {row}: ")
    for fragment in fragments:
        assert fragment in err.reason
    return err


def expect_file_error(read: Callable[[], Any], path: Path, *fragments: str) -> DataError:
    with pytest.raises(DataError) as info:
        read()
    assert info.value.path == str(path)
    assert info.value.line is None
    for fragment in fragments:
        assert fragment in info.value.reason
    return info.value


@pytest.fixture
def two_months(tmp_path: Path) -> tuple[Path, Path, Path]:
    """BTCUSDT 1m klines 2024-12-31 23:55 .. 2025-01-01 00:04: five rows in each of two month files."""
    root = tmp_path / "store"
    dec, jan = store.write_months(root, store.KLINES, "BTCUSDT", kline_cols(10, NEW_YEAR - 5 * M))
    return root, dec, jan


# ------------------------------------------------------------ writing and reading back


def test_write_then_read_klines_gives_the_same_arrays(tmp_path: Path) -> None:
    # Arrange
    cols = kline_cols(5)

    # Act
    written = store.write_months(tmp_path, store.KLINES, "BTCUSDT", cols)
    series = store.read_klines(tmp_path, "BTCUSDT")

    # Assert
    assert written == [tmp_path / "klines" / "1m" / "symbol=BTCUSDT" / "2025-05.parquet"]
    assert series.symbol == "BTCUSDT" and series.minutes == 1 and len(series) == 5
    assert series.path == str(tmp_path / "klines" / "1m" / "symbol=BTCUSDT")
    for name in ("ts", "open", "high", "low", "close", "volume"):
        assert list(getattr(series, name)) == cols[name].tolist(), name


@pytest.mark.parametrize(
    ("boundary", "months"),
    [(NEW_YEAR, ["2024-12", "2025-01"]), (FEB_1, ["2025-01", "2025-02"])],
    ids=["december-to-january", "january-to-february"],
)
def test_write_months_splits_rows_at_the_utc_month_end(tmp_path: Path, boundary: int, months: list[str]) -> None:
    # Arrange: 23:57, 23:58, 23:59 on the last day, then 00:00, 00:01 on the first of the next month
    cols = kline_cols(5, boundary - 3 * M)

    # Act
    written = store.write_months(tmp_path, store.KLINES, "ETHUSDT", cols)
    series = store.read_klines(tmp_path, "ETHUSDT")

    # Assert
    assert [p.stem for p in written] == months
    assert written == store.month_files(tmp_path, store.KLINES, "ETHUSDT")
    assert [pq.read_metadata(p).num_rows for p in written] == [3, 2]
    assert pq.read_table(written[1]).column("ts").to_pylist()[0] == boundary
    assert list(series.ts) == cols["ts"].tolist() and list(series.close) == cols["close"].tolist()


def test_write_months_with_only_writes_just_the_listed_months(tmp_path: Path) -> None:
    written = store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(6, NEW_YEAR - 3 * M), only=["2025-01"])

    assert [p.name for p in written] == ["2025-01.parquet"]
    assert store.month_files(tmp_path, store.KLINES, "BTCUSDT") == written


def test_write_months_of_no_rows_writes_nothing(tmp_path: Path) -> None:
    assert store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(0)) == []
    assert not (tmp_path / "klines").exists()


def test_price_decimals_come_from_the_file_metadata(tmp_path: Path) -> None:
    # Arrange: the source strings had 4 decimals ("100.1000"), the floats show only 1
    meta = store.kline_metadata(4, "binance-usdm")
    store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(3), metadata=meta)

    # Act
    series = store.read_klines(tmp_path, "BTCUSDT")

    # Assert
    assert series.price_decimals == 4
    assert store.venue_of(tmp_path, "BTCUSDT") == "binance-usdm"


@pytest.mark.parametrize(
    ("prices", "decimals"),
    [
        ([100.0, 101.0], 0),
        ([100.1, 100.25], 2),
        ([0.01234, 0.0124], 5),
        ([1e-05, 2e-05], 5),
        ([1.5e-05, 2e-05], 6),
    ],
)
def test_price_decimals_are_guessed_from_the_shortest_float_text_without_metadata(
    tmp_path: Path, prices: list[float], decimals: int
) -> None:
    # Arrange: flat bars (open = high = low = close) at the given prices
    p = np.array(prices)
    cols = {"ts": np.array([T0, T0 + M]), "open": p, "high": p, "low": p, "close": p, "volume": np.ones(2)}
    store.write_months(tmp_path, store.KLINES, "PEPEUSDT", cols)

    # Act / Assert
    assert store.read_klines(tmp_path, "PEPEUSDT").price_decimals == decimals
    assert store.venue_of(tmp_path, "PEPEUSDT") == ""


def test_turnover_left_out_is_stored_as_nulls_and_read_back(tmp_path: Path) -> None:
    [path] = store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(3))

    assert pq.read_table(path).column("turnover").null_count == 3
    assert len(store.read_klines(tmp_path, "BTCUSDT")) == 3


def test_five_minute_klines_round_trip_under_their_own_interval(tmp_path: Path) -> None:
    # Arrange
    store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(3))
    cols5 = kline_cols(4, step=5 * M)
    store.write_months(tmp_path, store.KLINES, "BTCUSDT", cols5, interval_min=5)

    # Act
    series = store.read_klines(tmp_path, "BTCUSDT", 5)

    # Assert
    assert (tmp_path / "klines" / "5m" / "symbol=BTCUSDT" / "2025-05.parquet").is_file()
    assert series.minutes == 5 and list(series.ts) == cols5["ts"].tolist()
    assert store.intervals(tmp_path) == [1, 5]
    assert store.symbols(tmp_path, store.KLINES, 5) == ["BTCUSDT"]


def test_mark_and_funding_round_trip(tmp_path: Path) -> None:
    # Arrange
    mark = mark_cols(4, NEW_YEAR - 2 * M)
    f_ts = np.array([NEW_YEAR - 8 * HOUR, NEW_YEAR, NEW_YEAR + 4 * HOUR], dtype=np.int64)
    funding = {"ts": f_ts, "rate": np.array([0.0001, -0.00025, 0.0]), "interval_min": None}

    # Act
    mark_files = store.write_months(tmp_path, store.MARK, "BTCUSDT", mark)
    funding_files = store.write_months(tmp_path, store.FUNDING, "BTCUSDT", funding)
    m = store.read_mark(tmp_path, "BTCUSDT")
    f = store.read_funding(tmp_path, "BTCUSDT")

    # Assert
    assert [p.relative_to(tmp_path).as_posix() for p in mark_files + funding_files] == [
        "mark/1m/symbol=BTCUSDT/2024-12.parquet", "mark/1m/symbol=BTCUSDT/2025-01.parquet",
        "funding/symbol=BTCUSDT/2024-12.parquet", "funding/symbol=BTCUSDT/2025-01.parquet"]  # fmt: skip
    assert list(m.ts) == mark["ts"].tolist() and list(m.high) == mark["high"].tolist()
    assert list(m.low) == mark["low"].tolist() and list(m.close) == mark["close"].tolist()
    assert (list(f.ts), list(f.rate)) == (f_ts.tolist(), [0.0001, -0.00025, 0.0])
    assert store.symbols(tmp_path, store.FUNDING) == ["BTCUSDT"] and store.symbols(tmp_path, store.MARK) == ["BTCUSDT"]


def test_is_store_is_true_for_the_store_layout_and_false_for_a_csv_folder(tmp_path: Path) -> None:
    # Arrange
    csv_dir = tmp_path / "csv"
    write_gz(csv_dir / "klines" / "1m" / "binance-usdm" / "BTCUSDT.csv.gz", [KLINE_HEADER, *kline_rows(kline_cols(2))])
    store.write_months(tmp_path / "store", store.KLINES, "BTCUSDT", kline_cols(2))

    # Act / Assert
    assert store.is_store(tmp_path / "store")
    assert not store.is_store(csv_dir)
    assert not store.is_store(tmp_path / "absent")
    assert not store.is_store(csv_dir / "klines" / "1m" / "binance-usdm" / "BTCUSDT.csv.gz")


def test_listings_ignore_symbol_folders_without_month_files(tmp_path: Path) -> None:
    store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(2))
    (tmp_path / "klines" / "1m" / "symbol=EMPTYUSDT").mkdir()
    (tmp_path / "klines" / "notes").mkdir()

    assert store.symbols(tmp_path) == ["BTCUSDT"]
    assert store.month_files(tmp_path, store.KLINES, "EMPTYUSDT") == []
    assert store.intervals(tmp_path) == [1]
    assert store.intervals(tmp_path, store.MARK) == [] and store.symbols(tmp_path, store.MARK) == []


def test_read_manifest_is_empty_when_absent_or_unreadable_and_the_document_otherwise(tmp_path: Path) -> None:
    assert store.read_manifest(tmp_path) == {}
    (tmp_path / store.MANIFEST).write_text("{not json")
    assert store.read_manifest(tmp_path) == {}
    (tmp_path / store.MANIFEST).write_text(json.dumps({"format": "omni-store-1"}))
    assert store.read_manifest(tmp_path) == {"format": "omni-store-1"}


# ------------------------------------------------------------ atomic writes


def _failing_write_table(exc: BaseException) -> Callable[..., None]:
    def write_table(table: pa.Table, where: Any, *args: Any, **kwargs: Any) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise exc

    return write_table


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_an_interrupted_write_leaves_no_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    # Arrange
    monkeypatch.setattr(pq, "write_table", _failing_write_table(exc))

    # Act
    with pytest.raises(type(exc)):
        store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(3))

    # Assert: the symbol folder was created, and nothing is left in it
    folder = tmp_path / "klines" / "1m" / "symbol=BTCUSDT"
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert store.symbols(tmp_path) == []


def test_an_interrupted_rewrite_keeps_the_previous_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    [path] = store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(3))
    before = path.read_bytes()
    monkeypatch.setattr(pq, "write_table", _failing_write_table(OSError(5, "I/O error")))

    # Act
    with pytest.raises(OSError):
        store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(5))

    # Assert
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


# ------------------------------------------------------------ refusals: file and row of the problem


def test_rows_are_counted_within_the_month_file_that_holds_them(two_months: tuple[Path, Path, Path]) -> None:
    # Arrange: the 3rd row of the January file (the 8th of the series) has its high below its close
    root, _, jan = two_months
    set_cell(jan, "high", 2, 50.0)

    # Act / Assert
    expect_row_error(lambda: store.read_klines(root, "BTCUSDT"), jan, 3, "inconsistent OHLC: open=", "high=50.0")


@pytest.mark.parametrize(
    ("column", "value", "fragments"),
    [
        ("close", None, ("close is null",)),
        ("ts", None, ("ts is null",)),
        ("open", float("nan"), ("NaN or infinite value",)),
        ("high", float("inf"), ("NaN or infinite value",)),
        ("volume", float("-inf"), ("NaN or infinite value",)),
        ("low", 0.0, ("price must be > 0",)),
        ("volume", -1.0, ("negative volume", "volume=-1.0")),
        ("high", 50.0, ("inconsistent OHLC",)),
        ("low", 150.0, ("inconsistent OHLC",)),
        ("ts", NEW_YEAR + M, ("duplicate timestamp", f"{NEW_YEAR + M} after {NEW_YEAR + M}")),
        ("ts", NEW_YEAR, ("timestamp out of order", f"{NEW_YEAR} after {NEW_YEAR + M}")),
        ("ts", NEW_YEAR + 2 * M + 30_000, ("timestamp step 90000 ms is not a whole number of 1-minute bars",)),
        ("ts", FEB_1, (f"ts {FEB_1} is not in month 2025-01",)),
    ],
)
def test_a_bad_kline_row_is_refused_naming_its_file_and_row(
    two_months: tuple[Path, Path, Path], column: str, value: Any, fragments: tuple[str, ...]
) -> None:
    # Arrange: the bad value is in the 3rd row of the January file
    root, _, jan = two_months
    set_cell(jan, column, 2, value)

    # Act / Assert
    expect_row_error(lambda: store.read_klines(root, "BTCUSDT"), jan, 3, *fragments)


def test_a_row_of_the_next_month_in_a_month_file_is_refused(two_months: tuple[Path, Path, Path]) -> None:
    # Arrange: December's last row moved to 2025-01-01 00:00 (still in order, still on the grid)
    root, dec, _ = two_months
    set_cell(dec, "ts", 4, NEW_YEAR)

    # Act / Assert
    expect_row_error(lambda: store.read_klines(root, "BTCUSDT"), dec, 5, f"ts {NEW_YEAR} is not in month 2024-12")


def test_a_first_timestamp_off_the_minute_is_refused_as_row_1(tmp_path: Path) -> None:
    [path] = store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(3, T0 + 1))

    expect_row_error(lambda: store.read_klines(tmp_path, "BTCUSDT"), path, 1, f"timestamp {T0 + 1} is not on a minute")


def test_five_minute_bars_off_their_boundary_or_step_are_refused(tmp_path: Path) -> None:
    # Arrange: a file starting at 00:01 and one whose 3rd bar comes 7 minutes after the 2nd
    off = tmp_path / "off"
    [off_path] = store.write_months(off, store.KLINES, "BTCUSDT", kline_cols(3, T0 + M, step=5 * M), interval_min=5)
    step = tmp_path / "step"
    cols = kline_cols(4, step=5 * M)
    cols["ts"][2:] += 2 * M
    [step_path] = store.write_months(step, store.KLINES, "BTCUSDT", cols, interval_min=5)

    # Act / Assert
    expect_row_error(lambda: store.read_klines(off, "BTCUSDT", 5), off_path, 1, "not on a 5-minute boundary")
    expect_row_error(lambda: store.read_klines(step, "BTCUSDT", 5), step_path, 3,
                     "timestamp step 420000 ms is not a whole number of 5-minute bars")  # fmt: skip


def test_a_gap_of_whole_bars_is_accepted(tmp_path: Path) -> None:
    cols = kline_cols(4, step=5 * M)
    cols["ts"][2:] += 10 * M
    store.write_months(tmp_path, store.KLINES, "BTCUSDT", cols, interval_min=5)

    assert list(store.read_klines(tmp_path, "BTCUSDT", 5).ts) == cols["ts"].tolist()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda t: t.set_column(0, "ts", pa.array(t.column("ts").to_numpy().astype(float))), "'ts' is double"),
        (lambda t: t.set_column(4, "close", t.column("close").cast(pa.float32())), "'close' is float, expected double"),
        (
            lambda t: t.set_column(1, "open", pa.array([str(x) for x in t.column("open").to_pylist()])),
            "'open' is string",
        ),
        (lambda t: t.drop_columns(["volume"]), "missing column 'volume'"),
        (lambda t: t.drop_columns(["turnover"]), "missing column 'turnover'"),
    ],
    ids=["ts-float", "close-float32", "open-string", "no-volume", "no-turnover"],
)
def test_a_month_file_with_a_wrong_schema_is_refused_naming_it(
    two_months: tuple[Path, Path, Path], change: Callable[[pa.Table], pa.Table], fragment: str
) -> None:
    # Arrange
    root, _, jan = two_months
    pq.write_table(change(pq.read_table(jan)), jan)

    # Act / Assert
    err = expect_file_error(lambda: store.read_klines(root, "BTCUSDT"), jan, fragment)
    assert not err.reason.startswith("row ")


def test_a_file_that_is_not_parquet_is_refused_naming_it(two_months: tuple[Path, Path, Path]) -> None:
    root, dec, _ = two_months
    dec.write_bytes(b"ts,open,high,low,close\n")

    expect_file_error(lambda: store.read_klines(root, "BTCUSDT"), dec, "not a readable Parquet file")


def test_a_symbol_without_month_files_or_rows_is_refused(tmp_path: Path) -> None:
    # Arrange
    empty = {k: v[:0] for k, v in kline_cols(1).items()}
    path = store.month_file(tmp_path, store.KLINES, "ETHUSDT", "2025-05")
    table = pa.Table.from_pydict({**empty, "turnover": empty["volume"]}, schema=store.SCHEMAS["klines"])
    store.atomic_write_table(table, path)

    # Act / Assert
    expect_file_error(lambda: store.read_klines(tmp_path, "BTCUSDT"),
                      tmp_path / "klines" / "1m" / "symbol=BTCUSDT", "no month files")  # fmt: skip
    expect_file_error(lambda: store.read_klines(tmp_path, "ETHUSDT"), path, "no rows")


@pytest.mark.parametrize(
    ("column", "value", "fragments"),
    [
        ("close", None, ("close is null",)),
        ("open", float("nan"), ("NaN or infinite value",)),
        ("low", -1.0, ("price must be > 0",)),
        ("high", 50.0, ("inconsistent OHLC",)),
        ("ts", NEW_YEAR + M, ("duplicate timestamp",)),
    ],
)
def test_a_bad_mark_row_is_refused_naming_its_file_and_row(
    tmp_path: Path, column: str, value: Any, fragments: tuple[str, ...]
) -> None:
    # Arrange
    _, jan = store.write_months(tmp_path, store.MARK, "BTCUSDT", mark_cols(6, NEW_YEAR - 2 * M))
    set_cell(jan, column, 2, value)

    # Act / Assert
    err = expect_row_error(lambda: store.read_mark(tmp_path, "BTCUSDT"), jan, 3, *fragments)
    assert "volume" not in err.reason


@pytest.mark.parametrize(
    ("column", "value", "fragments"),
    [
        ("rate", 0.1, ("funding rate 0.1 is not finite or not within +-0.1",)),
        ("rate", -0.1, ("funding rate -0.1 is not",)),
        ("rate", float("nan"), ("funding rate nan",)),
        ("rate", float("inf"), ("funding rate inf",)),
        ("rate", None, ("rate is null",)),
        ("ts", NEW_YEAR + 8 * HOUR, ("duplicate timestamp",)),
        ("ts", NEW_YEAR, ("timestamp out of order", f"{NEW_YEAR} after {NEW_YEAR + 8 * HOUR}")),
        ("ts", FEB_1, (f"ts {FEB_1} is not in month 2025-01",)),
    ],
)
def test_a_bad_funding_row_is_refused_naming_its_file_and_row(
    tmp_path: Path, column: str, value: Any, fragments: tuple[str, ...]
) -> None:
    # Arrange: settlements 2024-12-31 16:00, then 2025-01-01 00:00, 08:00, 16:00, 2025-01-02 00:00
    ts = np.array([NEW_YEAR + (i - 1) * 8 * HOUR for i in range(5)], dtype=np.int64)
    cols = {"ts": ts, "rate": np.full(5, 0.0001), "interval_min": np.full(5, 480)}
    _, jan = store.write_months(tmp_path, store.FUNDING, "BTCUSDT", cols)
    set_cell(jan, column, 2, value)

    # Act / Assert
    expect_row_error(lambda: store.read_funding(tmp_path, "BTCUSDT"), jan, 3, *fragments)


def test_a_funding_rate_just_inside_the_cap_and_a_null_interval_are_accepted(tmp_path: Path) -> None:
    cols = {"ts": np.array([T0, T0 + 8 * HOUR]), "rate": np.array([0.0999, -0.0999]), "interval_min": [None, 480]}
    store.write_months(tmp_path, store.FUNDING, "BTCUSDT", cols)

    assert list(store.read_funding(tmp_path, "BTCUSDT").rate) == [0.0999, -0.0999]


# The CSV path's bad rows (tests/unit/venues/test_replay.py), row 3 of the data: both paths must refuse them.
CSV_BAD_ROWS = [
    ({"open": float("nan")}, "NaN or infinite"),
    ({"high": float("inf")}, "NaN or infinite"),
    ({"open": -100.0, "low": -101.0}, "price must be > 0"),
    ({"volume": -1.0}, "negative volume"),
    ({"high": 98.0, "low": 97.0}, "inconsistent OHLC"),
    ({"low": 100.5, "close": 100.0}, "inconsistent OHLC"),
    ({"ts": T0 + M}, "duplicate timestamp"),
    ({"ts": T0}, "timestamp out of order"),
    ({"ts": T0 + 2 * M + 30_000}, "not a whole number of 1-minute bars"),
]


@pytest.mark.parametrize(("change", "fragment"), CSV_BAD_ROWS)
def test_the_store_and_csv_paths_refuse_the_same_bad_row(tmp_path: Path, change: dict[str, Any], fragment: str) -> None:
    # Arrange: the same four bars as a CSV file and as a store, the third one bad
    cols = kline_cols(4)
    cols["ts"][3] = T0 + 10 * M
    for column, value in change.items():
        cols[column][2] = value
    csv_path = write_gz(tmp_path / "BTCUSDT.csv.gz", [KLINE_HEADER, *kline_rows(cols)])
    root = tmp_path / "store"
    [month] = store.write_months(root, store.KLINES, "BTCUSDT", cols)

    # Act
    with pytest.raises(DataError) as from_csv:
        load_klines(csv_path)

    # Assert: the CSV counts the header as line 1
    assert (from_csv.value.path, from_csv.value.line) == (str(csv_path), 4)
    assert fragment in from_csv.value.reason
    expect_row_error(lambda: store.read_klines(root, "BTCUSDT"), month, 3, fragment)


def test_the_store_names_the_first_bad_row_like_the_csv_path(tmp_path: Path) -> None:
    # Arrange: row 2 has its high below its open; row 4 repeats row 3's timestamp
    cols = kline_cols(5)
    cols["high"][1] = 99.0
    cols["ts"][3] = cols["ts"][2]
    cols["ts"][4] = T0 + 10 * M
    csv_path = write_gz(tmp_path / "BTCUSDT.csv.gz", [KLINE_HEADER, *kline_rows(cols)])
    [month] = store.write_months(tmp_path / "store", store.KLINES, "BTCUSDT", cols)
    with pytest.raises(DataError) as from_csv:
        load_klines(csv_path)
    assert from_csv.value.line == 3 and "inconsistent OHLC" in from_csv.value.reason

    # Act / Assert
    expect_row_error(lambda: store.read_klines(tmp_path / "store", "BTCUSDT"), month, 2, "inconsistent OHLC")


def test_the_store_names_the_first_bad_funding_row_like_the_csv_path(tmp_path: Path) -> None:
    # Arrange
    csv_path = write_gz(tmp_path / "BTCUSDT.csv.gz", ["ts,rate", f"{T0},0.0001", f"{T0},0.0001", f"{T0 + HOUR},0.5"])
    cols = {"ts": np.array([T0, T0, T0 + HOUR]), "rate": np.array([0.0001, 0.0001, 0.5]), "interval_min": None}
    [month] = store.write_months(tmp_path / "store", store.FUNDING, "BTCUSDT", cols)
    with pytest.raises(DataError) as from_csv:
        load_funding(csv_path)
    assert from_csv.value.line == 3 and "duplicate timestamp" in from_csv.value.reason

    # Act / Assert
    expect_row_error(lambda: store.read_funding(tmp_path / "store", "BTCUSDT"), month, 2, "duplicate timestamp")


def test_a_row_with_two_faults_gets_the_csv_paths_reason(tmp_path: Path) -> None:
    # Arrange: the 2nd bar has a negative volume and its high below its open
    cols = kline_cols(3)
    cols["volume"][1] = -1.0
    cols["high"][1] = 99.0
    csv_path = write_gz(tmp_path / "BTCUSDT.csv.gz", [KLINE_HEADER, *kline_rows(cols)])
    [month] = store.write_months(tmp_path / "store", store.KLINES, "BTCUSDT", cols)
    with pytest.raises(DataError) as from_csv:
        load_klines(csv_path)
    assert from_csv.value.reason.startswith("negative volume")

    # Act / Assert
    err = expect_row_error(lambda: store.read_klines(tmp_path / "store", "BTCUSDT"), month, 2)
    assert err.reason.startswith("row 2: negative volume")


# ------------------------------------------------------------ replaying a store


def _csv_history(folder: Path) -> tuple[Path, Path, Path]:
    """BTC and ETH 1m bars across the January/February month end (ETH with a gap), BTC funding, in the CSV layout."""
    btc = kline_cols(6, FEB_1 - 3 * M)
    eth = kline_cols(6, FEB_1 - 2 * M, price=2000.0)
    eth["ts"][3:] += 2 * M
    kl = folder / "klines" / "1m" / "binance-usdm"
    settlements = [f"{FEB_1 - 8 * HOUR},0.0003", f"{FEB_1},0.0001", f"{FEB_1 + 8 * HOUR},-0.0002"]
    return (
        write_gz(kl / "BTCUSDT.csv.gz", [KLINE_HEADER, *kline_rows(btc)]),
        write_gz(kl / "ETHUSDT.csv.gz", [KLINE_HEADER, *kline_rows(eth)]),
        write_gz(folder / "funding" / "bybit-linear" / "BTCUSDT.csv.gz", ["ts,rate", *settlements]),
    )


def test_store_and_csv_replays_of_the_same_data_give_identical_batches(tmp_path: Path) -> None:
    # Arrange
    files = _csv_history(tmp_path / "csv")
    root = tmp_path / "store"
    converted = import_csv([tmp_path / "csv"], root)

    # Act
    from_csv = ReplayMarket(list(files), {})
    from_store = ReplayMarket([root], {})

    # Assert
    assert (converted.series, converted.rows, converted.skipped) == (3, 15, [])
    assert [p.stem for p in store.month_files(root, store.KLINES, "BTCUSDT")] == ["2025-01", "2025-02"]
    batches = list(from_store)
    assert batches == list(from_csv)
    assert any(b.fundings for b in batches)
    assert from_store.symbols == from_csv.symbols == ["BTCUSDT", "ETHUSDT"]
    assert from_store.instruments == from_csv.instruments
    assert (from_store.first_ts, from_store.last_ts) == (from_csv.first_ts, from_csv.last_ts)
    assert from_store.notes == [] and from_store.mark == {}


def test_replay_of_a_store_gives_mark_bars_where_recorded(tmp_path: Path) -> None:
    # Arrange: BTC and ETH klines, mark bars for BTC only (and for a symbol without klines)
    store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(3))
    store.write_months(tmp_path, store.KLINES, "ETHUSDT", kline_cols(3, price=2000.0))
    store.write_months(tmp_path, store.MARK, "BTCUSDT", mark_cols(2, T0 + M))
    store.write_months(tmp_path, store.MARK, "SOLUSDT", mark_cols(2))

    # Act
    market = ReplayMarket([tmp_path], {})

    # Assert
    assert market.mark_bar("BTCUSDT", T0 + M) == (T0 + M, 100.0, 100.5, 99.7, 100.1)
    assert market.mark_bar("BTCUSDT", T0 + 2 * M) == (T0 + 2 * M, 100.1, 100.6, 99.8, 100.2)
    assert market.mark_bar("BTCUSDT", T0) is None
    assert market.mark_bar("ETHUSDT", T0 + M) is None
    assert list(market.mark) == ["BTCUSDT"]


def test_replay_of_a_store_uses_the_finest_interval_and_says_so(tmp_path: Path) -> None:
    store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(10))
    store.write_months(tmp_path, store.KLINES, "BTCUSDT", kline_cols(2, step=5 * M), interval_min=5)
    store.write_months(tmp_path, store.KLINES, "ETHUSDT", kline_cols(2, step=5 * M), interval_min=5)

    market = ReplayMarket([tmp_path], {})

    assert (market.klines["BTCUSDT"].minutes, market.klines["ETHUSDT"].minutes) == (1, 5)
    assert market.notes == [f"BTCUSDT: 5m bars in {tmp_path} not used (1m bars are)"]


def test_replay_refuses_a_csv_folder_given_as_a_store(tmp_path: Path) -> None:
    _csv_history(tmp_path)

    with pytest.raises(DataError) as err:
        ReplayMarket([tmp_path], {})

    assert err.value.path == str(tmp_path) and "not an OMNI market-data directory" in err.value.reason


def test_replay_of_a_store_refuses_a_bad_row_up_front(two_months: tuple[Path, Path, Path]) -> None:
    root, dec, _ = two_months
    set_cell(dec, "close", 1, float("nan"))

    expect_row_error(lambda: ReplayMarket([root], {}), dec, 2, "NaN or infinite value")

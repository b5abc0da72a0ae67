"""The store's manifest and gap report: hand-worked gaps, funding interval changes, manifest.json and gaps.csv."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from omni.domain.market import MINUTE_MS
from omni.history.convert import funding_intervals
from omni.history.manifest import GAPS, Gap, find_gaps, funding_changes, write_manifest
from omni.venues import store

M = MINUTE_MS
HOUR = 60 * M
T0 = 1_746_403_200_000  # 2025-05-05 00:00 UTC
NEW_YEAR = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def minutes(*offsets: int, start: int = T0) -> np.ndarray:
    return np.array([start + k * M for k in offsets], dtype=np.int64)


def gaps(ts: np.ndarray, interval_min: int = 1, start: int | None = None, end: int | None = None) -> list[Gap]:
    return find_gaps("BTCUSDT", "klines", ts, interval_min, start, end)


# ------------------------------------------------------------ find_gaps


def test_find_gaps_of_a_complete_series_is_empty() -> None:
    assert gaps(minutes(0, 1, 2, 3, 4)) == []
    assert gaps(minutes(0, 1, 2), start=T0, end=T0 + 3 * M) == []


def test_find_gaps_reports_a_run_missing_in_the_middle() -> None:
    # minutes 3 and 4 are missing
    [gap] = gaps(minutes(0, 1, 2, 5, 6))

    assert gap == Gap("BTCUSDT", "klines", 1, T0 + 3 * M, 2)
    assert gap.row() == ("BTCUSDT", "klines", 1, "2025-05-05T00:03:00Z", "2025-05-05T00:04:00Z", 2, T0 + 3 * M)


def test_find_gaps_reports_several_runs_in_time_order() -> None:
    found = gaps(minutes(0, 2, 3, 7))

    assert [(g.start_ms, g.bars) for g in found] == [(T0 + M, 1), (T0 + 4 * M, 3)]


def test_find_gaps_reports_bars_missing_before_the_first_at_the_requested_start() -> None:
    assert gaps(minutes(0, 1, 2), start=T0 - 2 * M) == [Gap("BTCUSDT", "klines", 1, T0 - 2 * M, 2)]


def test_find_gaps_reports_bars_missing_after_the_last_up_to_the_requested_end() -> None:
    # the range is [T0, T0 + 6m): minutes 3, 4 and 5 are missing
    assert gaps(minutes(0, 1, 2), end=T0 + 6 * M) == [Gap("BTCUSDT", "klines", 1, T0 + 3 * M, 3)]


def test_find_gaps_ignores_bars_outside_the_requested_range() -> None:
    # range [T0, T0 + 5m): minute -5 and minute 10 are outside it; minutes 2, 3, 4 are missing
    assert gaps(minutes(-5, 0, 1, 10), start=T0, end=T0 + 5 * M) == [Gap("BTCUSDT", "klines", 1, T0 + 2 * M, 3)]


def test_find_gaps_of_an_empty_series_is_the_whole_requested_range() -> None:
    empty = np.empty(0, dtype=np.int64)

    assert gaps(empty, start=T0, end=T0 + HOUR) == [Gap("BTCUSDT", "klines", 1, T0, 60)]
    assert gaps(empty, start=T0, end=T0) == []
    assert gaps(empty) == []
    assert gaps(empty, start=T0) == []


def test_find_gaps_counts_five_minute_bars() -> None:
    # 00:00, 00:05, then 00:20: the 00:10 and 00:15 bars are missing; the range ends after a missing 00:25 bar
    ts = np.array([T0, T0 + 5 * M, T0 + 20 * M], dtype=np.int64)

    found = find_gaps("ETHUSDT", "mark", ts, 5, None, T0 + 30 * M)

    assert found == [Gap("ETHUSDT", "mark", 5, T0 + 10 * M, 2), Gap("ETHUSDT", "mark", 5, T0 + 25 * M, 1)]
    assert found[0].row()[3:6] == ("2025-05-05T00:10:00Z", "2025-05-05T00:15:00Z", 2)


# ------------------------------------------------------------ funding


@pytest.mark.parametrize(
    ("hours", "changes"),
    [
        ([0, 8, 16, 24], []),
        ([0, 8], []),
        ([0], []),
        ([], []),
        ([0, 8, 16, 20, 24], [(20, 480, 240)]),
        ([0, 4, 8, 16, 24], [(16, 240, 480)]),
        ([0, 8, 16, 20, 24, 32], [(20, 480, 240), (32, 240, 480)]),
    ],
)
def test_funding_changes_name_the_first_settlement_on_the_new_interval(
    hours: list[int], changes: list[tuple[int, int, int]]
) -> None:
    ts = np.array([T0 + h * HOUR for h in hours], dtype=np.int64)

    found = funding_changes(ts)

    assert [(c["ts"], c["from_min"], c["to_min"]) for c in found] == [(T0 + h * HOUR, a, b) for h, a, b in changes]
    assert all(c["utc"].startswith("2025-05-0") and c["utc"].endswith(":00:00Z") for c in found)


def test_funding_changes_give_the_utc_time_of_the_change() -> None:
    ts = np.array([T0, T0 + 8 * HOUR, T0 + 16 * HOUR, T0 + 20 * HOUR], dtype=np.int64)

    assert funding_changes(ts) == [{"ts": T0 + 20 * HOUR, "utc": "2025-05-05T20:00:00Z", "from_min": 480,
                                    "to_min": 240}]  # fmt: skip


@pytest.mark.parametrize(
    ("hours", "expected"),
    [([], []), ([0], [0]), ([0, 8], [480, 480]), ([0, 8, 16, 20], [480, 480, 480, 240])],
)
def test_funding_intervals_are_the_spacing_from_the_previous_settlement(hours: list[int], expected: list[int]) -> None:
    ts = np.array([T0 + h * HOUR for h in hours], dtype=np.int64)

    assert funding_intervals(ts).tolist() == expected


# ------------------------------------------------------------ write_manifest


def bars(ts: np.ndarray, with_volume: bool = True) -> dict[str, np.ndarray]:
    price = np.full(ts.size, 100.0)
    cols = {"ts": ts, "open": price, "high": price + 1, "low": price - 1, "close": price}
    return {**cols, "volume": np.ones(ts.size)} if with_volume else cols


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """BTCUSDT 1m klines 2024-12-31 23:57 .. 2025-01-01 00:02 without the 00:00 bar, complete mark bars, funding
    every 8 h then 4 h, one instrument snapshot."""
    root = tmp_path / "store"
    store.write_months(root, store.KLINES, "BTCUSDT", bars(minutes(-3, -2, -1, 1, 2, start=NEW_YEAR)))
    store.write_months(root, store.MARK, "BTCUSDT", bars(minutes(-3, -2, -1, 0, 1, 2, start=NEW_YEAR), False))
    f_ts = np.array([NEW_YEAR - 8 * HOUR, NEW_YEAR, NEW_YEAR + 8 * HOUR, NEW_YEAR + 12 * HOUR], dtype=np.int64)
    store.write_months(root, store.FUNDING, "BTCUSDT", {"ts": f_ts, "rate": np.full(4, 1e-4), "interval_min": None})
    (root / "instruments").mkdir()
    (root / "instruments" / "2025-01-01.json").write_text("{}")
    return root


def test_write_manifest_lists_every_file_with_rows_range_size_and_sha256(root: Path) -> None:
    # Act
    manifest = write_manifest(root)

    # Assert
    expected_rows = {
        "funding/symbol=BTCUSDT/2024-12.parquet": (1, NEW_YEAR - 8 * HOUR, NEW_YEAR - 8 * HOUR),
        "funding/symbol=BTCUSDT/2025-01.parquet": (3, NEW_YEAR, NEW_YEAR + 12 * HOUR),
        "klines/1m/symbol=BTCUSDT/2024-12.parquet": (3, NEW_YEAR - 3 * M, NEW_YEAR - M),
        "klines/1m/symbol=BTCUSDT/2025-01.parquet": (2, NEW_YEAR + M, NEW_YEAR + 2 * M),
        "mark/1m/symbol=BTCUSDT/2024-12.parquet": (3, NEW_YEAR - 3 * M, NEW_YEAR - M),
        "mark/1m/symbol=BTCUSDT/2025-01.parquet": (3, NEW_YEAR, NEW_YEAR + 2 * M),
    }
    assert [f["path"] for f in manifest["files"]] == list(expected_rows)
    for f in manifest["files"]:
        data = (root / f["path"]).read_bytes()
        assert (f["rows"], f["first_ts"], f["last_ts"]) == expected_rows[f["path"]], f["path"]
        assert f["bytes"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["kind"] == f["path"].split("/")[0] and f["symbol"] == "BTCUSDT"
    assert json.loads((root / "manifest.json").read_text()) == manifest
    assert not list(root.glob(".*.part"))


def test_write_manifest_summarises_each_series_and_its_gaps(root: Path) -> None:
    # Act
    manifest = write_manifest(root)

    # Assert
    assert manifest["format"] == "omni-store-1" and manifest["request"] is None
    assert manifest["series"] == {
        "funding/BTCUSDT": {
            "rows": 4, "first_ts": NEW_YEAR - 8 * HOUR, "last_ts": NEW_YEAR + 12 * HOUR,
            "first_utc": "2024-12-31T16:00:00Z", "last_utc": "2025-01-01T12:00:00Z",
            "interval_changes": [{"ts": NEW_YEAR + 12 * HOUR, "utc": "2025-01-01T12:00:00Z", "from_min": 480,
                                  "to_min": 240}],
        },
        "klines/1m/BTCUSDT": {
            "rows": 5, "first_ts": NEW_YEAR - 3 * M, "last_ts": NEW_YEAR + 2 * M, "first_utc": "2024-12-31T23:57:00Z",
            "last_utc": "2025-01-01T00:02:00Z", "missing_bars": 1, "interval_min": 1,
        },
        "mark/1m/BTCUSDT": {
            "rows": 6, "first_ts": NEW_YEAR - 3 * M, "last_ts": NEW_YEAR + 2 * M, "first_utc": "2024-12-31T23:57:00Z",
            "last_utc": "2025-01-01T00:02:00Z", "missing_bars": 0, "interval_min": 1,
        },
    }  # fmt: skip
    assert manifest["snapshots"] == ["2025-01-01.json"]
    assert manifest["missing_bars"] == 1
    assert (root / GAPS).read_text() == (
        "symbol,kind,interval_min,gap_start_utc,gap_end_utc,missing_bars,gap_start_ms\n"
        f"BTCUSDT,klines,1,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z,1,{NEW_YEAR}\n"
    )


def test_write_manifest_checks_gaps_over_the_requested_range_and_keeps_the_request(root: Path) -> None:
    # Arrange: asked for 2024-12-31 23:55 .. 2025-01-01 00:05 (ten bars)
    request = {"symbols": ["BTCUSDT"], "from_ms": NEW_YEAR - 5 * M, "to_ms": NEW_YEAR + 5 * M}

    # Act
    first = write_manifest(root, request)
    first_gaps = (root / GAPS).read_text()
    again = write_manifest(root)

    # Assert: klines miss 23:55-23:56, 00:00, 00:03-00:04; mark bars miss 23:55-23:56 and 00:03-00:04
    assert first_gaps.splitlines()[1:] == [
        f"BTCUSDT,klines,1,2024-12-31T23:55:00Z,2024-12-31T23:56:00Z,2,{NEW_YEAR - 5 * M}",
        f"BTCUSDT,klines,1,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z,1,{NEW_YEAR}",
        f"BTCUSDT,klines,1,2025-01-01T00:03:00Z,2025-01-01T00:04:00Z,2,{NEW_YEAR + 3 * M}",
        f"BTCUSDT,mark,1,2024-12-31T23:55:00Z,2024-12-31T23:56:00Z,2,{NEW_YEAR - 5 * M}",
        f"BTCUSDT,mark,1,2025-01-01T00:03:00Z,2025-01-01T00:04:00Z,2,{NEW_YEAR + 3 * M}",
    ]
    assert first["series"]["klines/1m/BTCUSDT"]["missing_bars"] == 5
    assert first["series"]["mark/1m/BTCUSDT"]["missing_bars"] == 4
    assert first["missing_bars"] == 9 and first["request"] == request
    assert again["request"] == request and again["missing_bars"] == 9
    assert (root / GAPS).read_text() == first_gaps


def test_write_manifest_counts_a_series_of_empty_files_as_all_missing(tmp_path: Path) -> None:
    # Arrange: ETHUSDT has one month file without rows; the request spans one hour
    path = store.month_file(tmp_path, store.KLINES, "ETHUSDT", "2025-05")
    empty = {k: v[:0] for k, v in bars(minutes(0)).items()}
    table = pa.Table.from_pydict({**empty, "turnover": empty["volume"]}, schema=store.SCHEMAS["klines"])
    store.atomic_write_table(table, path)

    # Act
    manifest = write_manifest(tmp_path, {"from_ms": T0, "to_ms": T0 + HOUR})

    # Assert
    assert manifest["series"] == {"klines/1m/ETHUSDT": {"rows": 0, "missing_bars": 60}}
    assert manifest["files"][0]["rows"] == 0 and manifest["files"][0]["first_ts"] is None
    assert (tmp_path / GAPS).read_text().splitlines()[1] == (
        f"ETHUSDT,klines,1,2025-05-05T00:00:00Z,2025-05-05T00:59:00Z,60,{T0}"
    )


def test_write_manifest_of_an_empty_directory_writes_an_empty_report(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path)

    assert (manifest["files"], manifest["series"], manifest["snapshots"], manifest["missing_bars"]) == ([], {}, [], 0)
    assert (
        tmp_path / GAPS
    ).read_text() == "symbol,kind,interval_min,gap_start_utc,gap_end_utc,missing_bars,gap_start_ms\n"
    assert store.read_manifest(tmp_path) == manifest


def test_write_manifest_does_not_count_minutes_before_a_symbols_listing_as_missing(root: Path) -> None:
    # Arrange: the same request, but BTCUSDT was listed at 23:56:30 (its first full minute is 23:57)
    request = {"symbols": ["BTCUSDT"], "from_ms": NEW_YEAR - 5 * M, "to_ms": NEW_YEAR + 5 * M,
               "launch_ms": {"BTCUSDT": NEW_YEAR - 3 * M - 30_000}}  # fmt: skip

    # Act
    manifest = write_manifest(root, request)

    # Assert: only 00:00 and 00:03-00:04 are missing from the klines, 00:03-00:04 from the mark bars
    assert manifest["series"]["klines/1m/BTCUSDT"]["missing_bars"] == 3
    assert manifest["series"]["mark/1m/BTCUSDT"]["missing_bars"] == 2

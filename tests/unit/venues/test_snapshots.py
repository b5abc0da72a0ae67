"""Dated instrument and risk-tier snapshots: which one a replay uses, what its note says, refusing a bad file."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from omni.domain.errors import DataError
from omni.domain.instrument import Instrument, default_tiers
from omni.venues import snapshots
from omni.venues.bybit_codec import instrument_to_item, risk_tiers_to_items
from omni.venues.instruments_file import first_tier_limit, generated_instruments
from tests.factories import btc, small_alt

DAY = 86_400_000
MAR_1 = 1_740_787_200_000  # 2025-03-01 00:00 UTC
MAR_10 = MAR_1 + 9 * DAY
MAR_20 = MAR_1 + 19 * DAY


def write_snapshot(
    root: Path, taken_ms: int, instruments: list[Instrument], tiers_of: list[Instrument] | None = None
) -> Path:
    """A snapshot file as ``omni data download`` writes it; risk tiers for ``tiers_of`` (default: every symbol)."""
    items = [instrument_to_item(i) for i in instruments]
    tiers = [t for i in (instruments if tiers_of is None else tiers_of) for t in risk_tiers_to_items(i)]
    path = root / snapshots.FOLDER / snapshots.snapshot_name(taken_ms)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshots.snapshot_doc(taken_ms, "test", items, tiers)), encoding="utf-8")
    return path


@pytest.fixture
def two_snapshots(tmp_path: Path) -> tuple[Path, Path]:
    """Snapshots taken 2025-03-01 (BTC at 100x) and 2025-03-10 (BTC at 50x)."""
    first = write_snapshot(tmp_path, MAR_1, [btc("100")])
    second = write_snapshot(tmp_path, MAR_10, [btc("50")])
    return first, second


def test_snapshot_name_and_doc_carry_the_utc_date(tmp_path: Path) -> None:
    doc = snapshots.snapshot_doc(MAR_1 + 3_600_000, "bybit", [], [])

    assert snapshots.snapshot_name(MAR_1 + DAY - 1) == "2025-03-01.json"
    assert doc == {"taken_ms": MAR_1 + 3_600_000, "taken_utc": "2025-03-01T01:00:00Z", "source": "bybit",
                   "instruments": [], "risk_limits": []}  # fmt: skip


def test_in_force_is_none_without_snapshots(tmp_path: Path) -> None:
    assert snapshots.in_force(tmp_path, MAR_1, MAR_10) is None


def test_list_snapshots_takes_only_dated_files_in_date_order(tmp_path: Path, two_snapshots: tuple[Path, Path]) -> None:
    (tmp_path / snapshots.FOLDER / "latest.json").write_text("{}")

    assert snapshots.list_snapshots(tmp_path) == list(two_snapshots)


def test_in_force_before_every_snapshot_uses_the_earliest_and_is_not_point_in_time(
    tmp_path: Path, two_snapshots: tuple[Path, Path]
) -> None:
    # Arrange: bars from 2025-02-20 to 2025-03-15
    first, second = two_snapshots

    # Act
    snap = snapshots.in_force(tmp_path, MAR_1 - 9 * DAY, MAR_1 + 14 * DAY)

    # Assert: the earliest is used (not listed as later); the second falls inside the range
    assert snap is not None
    assert (snap.path, snap.taken_ms, snap.point_in_time) == (first, MAR_1, False)
    assert snap.later == (second.name,)
    assert snap.instruments["BTCUSDT"].max_leverage == D(100)


def test_in_force_between_snapshots_uses_the_one_before_the_first_bar(
    tmp_path: Path, two_snapshots: tuple[Path, Path]
) -> None:
    first, second = two_snapshots

    inside = snapshots.in_force(tmp_path, MAR_1 + 2 * DAY, MAR_20)
    before_second = snapshots.in_force(tmp_path, MAR_1 + 2 * DAY, MAR_10 - 1)

    assert inside is not None and before_second is not None
    assert (inside.path, inside.point_in_time, inside.later) == (first, True, (second.name,))
    assert (before_second.path, before_second.point_in_time, before_second.later) == (first, True, ())


def test_in_force_after_every_snapshot_uses_the_latest(tmp_path: Path, two_snapshots: tuple[Path, Path]) -> None:
    _, second = two_snapshots

    snap = snapshots.in_force(tmp_path, MAR_20, MAR_20 + DAY)

    assert snap is not None
    assert (snap.path, snap.taken_ms, snap.point_in_time, snap.later) == (second, MAR_10, True, ())
    assert snap.instruments["BTCUSDT"].max_leverage == D(50)


def test_a_snapshot_taken_at_the_first_bar_is_point_in_time_and_one_at_the_last_bar_is_later(
    tmp_path: Path, two_snapshots: tuple[Path, Path]
) -> None:
    first, second = two_snapshots

    snap = snapshots.in_force(tmp_path, MAR_1, MAR_10)

    assert snap is not None
    assert (snap.path, snap.point_in_time, snap.later) == (first, True, (second.name,))


def test_the_note_says_not_point_in_time_only_for_a_snapshot_taken_after_the_first_bar(
    tmp_path: Path, two_snapshots: tuple[Path, Path]
) -> None:
    # Arrange
    early_ts = MAR_1 - 9 * DAY  # 2025-02-20
    early = snapshots.in_force(tmp_path, early_ts, MAR_20)
    late = snapshots.in_force(tmp_path, MAR_20, MAR_20 + DAY)
    assert early is not None and late is not None

    # Act
    early_note, late_note = early.note(early_ts), late.note(MAR_20)

    # Assert
    assert early_note.startswith("instrument specs and risk tiers from the snapshot 2025-03-01.json, taken after ")
    assert "(2025-02-20): not point-in-time" in early_note
    assert late_note == "instrument specs and risk tiers from the snapshot 2025-03-10.json"
    assert "point-in-time" not in late_note


def test_risk_tiers_come_from_the_snapshot_not_the_assumed_ladder(tmp_path: Path) -> None:
    # Arrange: ALTUSDT's real ladder (tier 1 = 1000 USDT at MMR 2 %) differs from the assumed one for 25x
    alt = small_alt()
    assumed = default_tiers(alt.max_leverage, first_tier_limit(alt.max_leverage))
    assert alt.risk_tiers != assumed
    path = write_snapshot(tmp_path, MAR_1, [alt])

    # Act
    _, instruments = snapshots.parse_snapshot(path)

    # Assert
    assert instruments["ALTUSDT"].risk_tiers == alt.risk_tiers
    assert instruments["ALTUSDT"] == alt


def test_a_symbol_without_risk_tiers_in_the_snapshot_gets_the_assumed_ladder(tmp_path: Path) -> None:
    alt = small_alt()
    path = write_snapshot(tmp_path, MAR_1, [alt, btc()], tiers_of=[btc()])

    taken, instruments = snapshots.parse_snapshot(path)

    assert taken == MAR_1
    assert instruments["BTCUSDT"].risk_tiers == btc().risk_tiers
    assert instruments["ALTUSDT"].risk_tiers == default_tiers(alt.max_leverage, first_tier_limit(alt.max_leverage))


def test_parse_snapshot_round_trips_generated_instruments_and_skips_other_contracts(tmp_path: Path) -> None:
    # Arrange: 5 generated perpetuals, a dated future and a USDC perpetual
    generated = generated_instruments(5, seed=7)
    path = write_snapshot(tmp_path, MAR_1, list(generated.values()))
    doc = json.loads(path.read_text())
    future = {**instrument_to_item(replace(btc(), symbol="BTCUSDT-28MAR25")), "contractType": "LinearFutures"}
    usdc = {**instrument_to_item(replace(btc(), symbol="BTCPERP")), "quoteCoin": "USDC"}
    doc["instruments"] += [future, usdc]
    path.write_text(json.dumps(doc))

    # Act
    _, instruments = snapshots.parse_snapshot(path)

    # Assert
    assert instruments == generated


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not an instrument snapshot"),
        ('{"taken_ms": 1740787200000, "instruments": [', "not an instrument snapshot"),
        ('{"taken_ms": 1740787200000, "instruments": []}', "not an instrument snapshot ('risk_limits')"),
        ('{"taken_ms": "soon", "instruments": [], "risk_limits": []}', "not an instrument snapshot"),
        ("[1, 2]", "not an instrument snapshot"),
    ],
    ids=["empty", "truncated", "no-risk-limits", "bad-taken-ms", "not-an-object"],
)
def test_a_corrupt_snapshot_file_is_refused_naming_it(tmp_path: Path, text: str, fragment: str) -> None:
    # Arrange
    path = tmp_path / snapshots.FOLDER / "2025-03-01.json"
    path.parent.mkdir()
    path.write_text(text)

    # Act
    with pytest.raises(DataError) as err:
        snapshots.parse_snapshot(path)

    # Assert
    assert (err.value.path, err.value.line) == (str(path), None)
    assert fragment in err.value.reason


def test_a_snapshot_with_a_bad_instrument_or_tier_item_is_refused_naming_file_and_symbol(tmp_path: Path) -> None:
    # Arrange: ALTUSDT without a price filter; BTCUSDT with a tier rate that is not a number
    path = write_snapshot(tmp_path, MAR_1, [small_alt(), btc()])
    doc = json.loads(path.read_text())
    del doc["instruments"][0]["priceFilter"]
    path.write_text(json.dumps(doc))
    other = write_snapshot(tmp_path, MAR_10, [btc()])
    doc = json.loads(other.read_text())
    doc["risk_limits"][1]["maintenanceMargin"] = "n/a"
    other.write_text(json.dumps(doc))

    # Act / Assert
    with pytest.raises(DataError) as bad_item:
        snapshots.parse_snapshot(path)
    with pytest.raises(DataError) as bad_tier:
        snapshots.parse_snapshot(other)
    assert bad_item.value.path == str(path) and bad_item.value.reason.startswith("ALTUSDT: ")
    assert bad_tier.value.path == str(other) and bad_tier.value.reason.startswith("BTCUSDT: ")
    assert "maintenanceMargin" in bad_tier.value.reason


def test_in_force_refuses_a_store_with_a_corrupt_snapshot(tmp_path: Path, two_snapshots: tuple[Path, Path]) -> None:
    _, second = two_snapshots
    second.write_text('{"taken_ms": ')

    with pytest.raises(DataError) as err:
        snapshots.in_force(tmp_path, MAR_20, MAR_20 + DAY)

    assert err.value.path == str(second)


def test_a_snapshot_with_a_non_numeric_tier_id_is_refused_naming_it(tmp_path: Path) -> None:
    # Arrange
    path = write_snapshot(tmp_path, MAR_1, [btc()])
    doc = json.loads(path.read_text())
    doc["risk_limits"][0]["id"] = "first"
    path.write_text(json.dumps(doc))

    # Act / Assert
    with pytest.raises(DataError) as err:
        snapshots.parse_snapshot(path)
    assert err.value.path == str(path) and err.value.reason.startswith("BTCUSDT: ")

"""Instrument specs: the saved Bybit file (when present) and the generated fallback."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from omni.domain.errors import DataError
from omni.domain.instrument import DEFAULT_MIN_NOTIONAL
from omni.venues.instruments_file import (
    default_instruments_path,
    first_tier_limit,
    generated_instruments,
    load_instruments,
    shared_data_dir,
)


def entry(symbol: str = "TESTUSDT", **overrides: object) -> dict:
    base: dict = {
        "symbol": symbol,
        "baseCoin": symbol.removesuffix("USDT"),
        "quoteCoin": "USDT",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00"},
        "priceFilter": {"minPrice": "0.0001", "maxPrice": "1999.9998", "tickSize": "0.0001"},
        "lotSizeFilter": {"minOrderQty": "1", "maxOrderQty": "115000", "qtyStep": "1"},
    }
    base.update(overrides)
    return base


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "instruments.json"
    path.write_text(json.dumps(doc))
    return path


def test_entry_parses_to_exact_decimals_with_assumed_defaults(tmp_path: Path) -> None:
    # Arrange
    path = write(tmp_path, {"list": [entry()]})

    # Act
    inst = load_instruments(path)["TESTUSDT"]

    # Assert
    assert inst.tick_size == Decimal("0.0001") and str(inst.tick_size) == "0.0001"
    assert (inst.qty_step, inst.min_qty, inst.max_qty) == (Decimal(1), Decimal(1), Decimal(115000))
    assert inst.max_leverage == Decimal(50)
    assert inst.min_notional == DEFAULT_MIN_NOTIONAL
    assert inst.funding_interval_min == 480
    assert inst.risk_tiers[0].limit == Decimal(300_000)
    assert inst.risk_tiers[0].imr == Decimal("0.02")


def test_min_notional_and_funding_interval_are_used_when_present(tmp_path: Path) -> None:
    # Arrange
    lot = {"minOrderQty": "0.1", "maxOrderQty": "1000", "qtyStep": "0.1", "minNotionalValue": "10"}
    path = write(tmp_path, {"result": {"list": [entry(lotSizeFilter=lot, fundingInterval=240)]}})

    # Act
    inst = load_instruments(path)["TESTUSDT"]

    # Assert
    assert inst.min_notional == Decimal(10)
    assert inst.funding_interval_min == 240


def test_other_quote_coins_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, [entry(), entry("BTCUSDC", quoteCoin="USDC")])

    assert list(load_instruments(path)) == ["TESTUSDT"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"priceFilter": {"tickSize": "abc"}}, "TESTUSDT: priceFilter.tickSize is not a number"),
        ({"priceFilter": {}}, "TESTUSDT: missing field priceFilter.tickSize"),
        ({"priceFilter": {"tickSize": 0.01}}, "TESTUSDT: priceFilter.tickSize must be a decimal string"),
        ({"leverageFilter": {"minLeverage": "1", "maxLeverage": "NaN"}}, "leverageFilter.maxLeverage is not finite"),
        ({"priceFilter": {"tickSize": "0"}}, "TESTUSDT: tickSize and qtyStep must be positive"),
    ],
)
def test_malformed_entry_raises_data_error_naming_symbol_and_field(tmp_path: Path, bad: dict, reason: str) -> None:
    # Arrange
    path = write(tmp_path, {"list": [entry(**bad)]})

    # Act
    with pytest.raises(DataError) as err:
        load_instruments(path)

    # Assert
    assert err.value.path == str(path)
    assert err.value.line is None
    assert reason in err.value.reason


def test_invalid_json_and_missing_file_raise_data_error(tmp_path: Path) -> None:
    # Arrange
    broken = tmp_path / "broken.json"
    broken.write_text('{"list": [\n  {"symbol": ')

    # Act / Assert
    with pytest.raises(DataError, match="invalid JSON"):
        load_instruments(broken)
    with pytest.raises(DataError, match="cannot read"):
        load_instruments(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("leverage", "limit"),
    [("100", 2_000_000), ("75", 1_000_000), ("50", 300_000), ("25", 100_000), ("12.5", 25_000)],
)
def test_first_tier_limit_follows_max_leverage(leverage: str, limit: int) -> None:
    assert first_tier_limit(Decimal(leverage)) == Decimal(limit)


def test_generated_instruments_are_deterministic_and_plausible() -> None:
    # Act
    a = generated_instruments(40, seed=3)
    b = generated_instruments(40, seed=3)
    c = generated_instruments(40, seed=4)

    # Assert
    assert a == b
    assert a != c
    assert list(a)[:2] == ["SYN001USDT", "SYN002USDT"]
    for inst in a.values():
        assert Decimal("0.0001") <= inst.tick_size <= Decimal("0.1")
        assert Decimal("0.001") <= inst.qty_step <= Decimal(10)
        assert inst.max_leverage in {Decimal(25), Decimal(50), Decimal(75), Decimal(100)}
        assert inst.min_qty == inst.qty_step < inst.max_qty
        assert inst.funding_interval_min in (240, 480)


def test_default_path_honours_env_and_reports_absence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    (tmp_path / "instruments").mkdir()
    (tmp_path / "instruments" / "bybit-linear.json").write_text(json.dumps({"list": [entry()]}))

    # Act
    monkeypatch.setenv("OMNI_SHARED_DATA", str(tmp_path))
    found = default_instruments_path()
    monkeypatch.setenv("OMNI_SHARED_DATA", str(tmp_path / "nowhere"))
    missing = default_instruments_path()

    # Assert
    assert found == tmp_path / "instruments" / "bybit-linear.json"
    assert shared_data_dir() is None
    assert missing is None


def test_real_bybit_file_loads_when_present() -> None:
    # Arrange
    path = default_instruments_path()
    if path is None:
        pytest.skip("shared data (instruments/bybit-linear.json) not available")

    # Act
    instruments = load_instruments(path)

    # Assert
    assert len(instruments) == 523
    btc = instruments["BTCUSDT"]
    assert (btc.tick_size, btc.qty_step, btc.max_leverage) == (Decimal("0.1"), Decimal("0.001"), Decimal(100))
    assert btc.risk_tiers[0].limit == Decimal(2_000_000)
    assert all(i.funding_interval_min == 480 for i in instruments.values())

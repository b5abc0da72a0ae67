"""Which instruments ``omni emulator`` lists and where their prices start: recorded turnover and closes first,
then the documented proxies; the market options (--symbols, --start, --speed)."""

from __future__ import annotations

import argparse
import dataclasses
import gzip
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from omni.emulator import reference
from omni.emulator.options import add_market_options, market_timing, start_arg, symbols_arg
from omni.emulator.settings import set_start_prices
from omni.venues.instruments_file import default_instruments_path, generated_instruments, load_instruments
from omni.venues.synthetic import SyntheticMarket
from tests.factories import T0, btc, small_alt


def write_klines(path: Path, closes: list[float], volume: float, minutes: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{T0 + i * minutes * 60_000},{c},{c},{c},{c},{volume}" for i, c in enumerate(closes)]
    with gzip.open(path, "wt") as f:
        f.write("ts,open,high,low,close,volume\n" + "\n".join(rows) + "\n")


def instruments() -> dict:
    alts = {f"ALT{i}USDT": dataclasses.replace(small_alt(), symbol=f"ALT{i}USDT") for i in range(4)}
    alts["ALT1USDT"] = dataclasses.replace(alts["ALT1USDT"], max_leverage=D(75))
    alts["ALT2USDT"] = dataclasses.replace(alts["ALT2USDT"], max_qty=D(9_000_000))
    return {"BTCUSDT": btc(), **alts}


def test_recorded_symbols_rank_by_turnover_and_start_at_their_last_close(tmp_path):
    # Arrange: BTC recorded on Binance 1m, ALT3 on Bybit 1m (preferred over its Binance file), ALT0 only at 5m
    write_klines(tmp_path / "klines/1m/binance-usdm/BTCUSDT.csv.gz", [100_000.0, 105_000.0], volume=10)
    write_klines(tmp_path / "klines/1m/binance-usdm/ALT3USDT.csv.gz", [9.0], volume=1e9)
    write_klines(tmp_path / "klines/1m/bybit-linear/ALT3USDT.csv.gz", [0.5, 0.6], volume=1000)
    write_klines(tmp_path / "klines/5m/bybit-linear/ALT0USDT.csv.gz", [2.0], volume=1, minutes=5)
    known = reference.recorded(tmp_path)

    # Act
    order = reference.by_liquidity(instruments(), known)
    prices = reference.reference_prices(instruments(), known)

    # Assert: recorded turnover first (BTC 2.05M/day > ALT3 Bybit's 1,100 > ALT0), then max leverage (ALT1 75x),
    # then max order value (ALT2), then the name
    assert order == ["BTCUSDT", "ALT3USDT", "ALT0USDT", "ALT1USDT", "ALT2USDT"]
    assert (prices["BTCUSDT"], prices["ALT3USDT"], prices["ALT0USDT"]) == (105_000.0, 0.6, 2.0)
    assert prices["ALT1USDT"] == pytest.approx(0.0001 * 10**4.21)  # the tick proxy
    assert reference.reference_price(instruments()["ALT1USDT"], known)[1] == "proxy"
    assert list(reference.select(instruments(), 2, known)) == ["BTCUSDT", "ALT3USDT"]
    assert list(reference.select(instruments(), None, known)) == order
    assert list(reference.select(instruments(), 99, known)) == order
    with pytest.raises(ValueError):
        reference.select(instruments(), 0, known)


def test_without_data_a_generated_set_starts_with_btcusdt_at_its_real_scale():
    insts = generated_instruments(4, seed=3, btc=True)
    assert list(insts) == ["BTCUSDT", "SYN001USDT", "SYN002USDT", "SYN003USDT"]
    assert {k: v for k, v in insts.items() if k != "BTCUSDT"} == generated_instruments(3, seed=3)  # the same SYN
    price, source = reference.reference_price(insts["BTCUSDT"], {})
    assert (price, source) == (105_000.0, "fallback")
    assert float(insts["BTCUSDT"].min_qty) * price >= 5  # a minimum-quantity BTC order is worth 105 USDT


def test_min_value_shortfalls_name_the_symbols_whose_minimum_quantity_is_worth_less_than_5_usdt():
    insts = {"BTCUSDT": btc(), "ALTUSDT": small_alt()}
    short = reference.min_value_shortfalls(insts, {"BTCUSDT": 105_000.0, "ALTUSDT": 0.16})
    assert short == {"ALTUSDT": pytest.approx(0.16)}


@pytest.mark.skipif(default_instruments_path() is None, reason="shared data (../shared/data) absent")
def test_with_the_shared_data_the_ten_most_liquid_start_with_the_majors_at_real_prices():
    known = load_instruments(default_instruments_path())  # type: ignore[arg-type]
    top = list(reference.select(known, 10))
    assert top[:3] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] and {"XRPUSDT", "DOGEUSDT", "BNBUSDT"} <= set(top)
    prices = reference.reference_prices(known)
    assert 50_000 < prices["BTCUSDT"] < 200_000 and 1_000 < prices["ETHUSDT"] < 10_000
    assert len(reference.select(known, None)) == len(known) == len(prices)


def test_start_prices_keep_the_seeded_usdt_turnover():
    insts = {"BTCUSDT": btc()}
    seeded = SyntheticMarket(insts, seed=5, start_ts=T0)
    real = SyntheticMarket(insts, seed=5, start_ts=T0)
    set_start_prices(real, {"BTCUSDT": 105_000.0})
    a, b = next(iter(seeded)).bars[0], next(iter(real)).bars[0]
    assert b.open == 105_000.0
    assert b.volume * b.close == pytest.approx(a.volume * a.close, rel=0.01)


# ---------------------------------------------------------------- options


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_market_options(parser)
    return parser.parse_args(list(argv))


def test_market_options_speed_or_bar_seconds_start_and_state():
    assert market_timing(parse()) == {"bar_seconds": 1.0, "start_ms": None, "state_path": None, "state_every_s": 5.0}
    assert market_timing(parse("--speed", "1"))["bar_seconds"] == 60.0
    assert market_timing(parse("--bar-seconds", "0.5"))["bar_seconds"] == 0.5
    with pytest.raises(SystemExit):
        parse("--speed", "2", "--bar-seconds", "1")
    with pytest.raises(SystemExit):
        parse("--speed", "0")
    args = parse("--symbols", "all", "--state", "x.json", "--start", "2025-06-15T21:00:00Z")
    assert (args.symbols, args.state, args.start) == (None, "x.json", 1_750_021_200_000)
    assert parse("--symbols", "7").symbols == 7
    for bad in ("0", "-1", "ten"):
        with pytest.raises(argparse.ArgumentTypeError):
            symbols_arg(bad)


def test_start_takes_iso_8601_or_hh_mm_today_utc():
    now = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)
    assert start_arg("21:00", now) == int(datetime(2025, 6, 15, 21, 0, tzinfo=UTC).timestamp() * 1000)
    assert start_arg("2025-06-15T23:00+02:00") == start_arg("2025-06-15T21:00Z") == start_arg("2025-06-15 21:00")
    for bad in ("25:00", "21h", "yesterday"):
        with pytest.raises(argparse.ArgumentTypeError):
            start_arg(bad, now)

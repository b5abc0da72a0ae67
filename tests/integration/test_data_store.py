"""The Parquet store end to end: `omni data import` of recorded CSV, a backtest on it equal to the CSV backtest to
the cent, `omni data export` back to CSV, and bad rows refused before trading with the file and row named."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omni.venues import store
from omni.venues.replay import ReplayMarket
from tests.integration.conftest import ACTIVE, run_omni

SYMBOLS = ("BTC", "ETH", "SOL")


@pytest.fixture
def recorded(shared_data):
    klines = [shared_data / "klines" / "1m" / "binance-usdm" / f"{s}USDT.csv.gz" for s in SYMBOLS]
    funding = [shared_data / "funding" / "bybit-linear" / f"{s}USDT.csv.gz" for s in SYMBOLS]
    if not all(f.exists() for f in klines + funding):
        pytest.skip("recorded 1m klines or funding absent")
    return klines, funding


def _import(tmp_path, files) -> object:
    out = tmp_path / "store"
    run = run_omni(["data", "import", *map(str, files), "--out", str(out)], tmp_path)
    assert run.returncode == 0, run.stderr
    return out


def test_a_backtest_on_the_store_equals_the_csv_backtest_to_the_cent(tmp_path, recorded):
    klines, funding = recorded
    root = _import(tmp_path, klines + funding)
    args = ["--duration", str(4 * 86400)]
    a = run_omni(["backtest", "--data", *map(str, klines), "--out", str(tmp_path / "csv"), *args], tmp_path, **ACTIVE)
    b = run_omni(["backtest", "--data", str(root), "--out", str(tmp_path / "pq"), *args], tmp_path, **ACTIVE)
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    sa = json.loads((tmp_path / "csv" / "summary.json").read_text())
    sb = json.loads((tmp_path / "pq" / "summary.json").read_text())
    assert sa["trades_total"] > 0 and sa["funding_paid"] != "0"  # it traded and paid funding: the parity says something
    for key in set(sa) | set(sb):
        if key not in ("wall_seconds", "data_notes"):
            assert sa.get(key) == sb.get(key), key

    def trades(run_dir):  # client ids carry a random run prefix
        lines = (tmp_path / run_dir / "trades.csv").read_text().splitlines()
        return [line.split(",", 1)[1] for line in lines]

    assert trades("csv") == trades("pq")
    assert any("no mark-price bars" in n for n in sb["data_notes"])
    assert "## Data" in (tmp_path / "pq" / "report.md").read_text()


def test_export_gives_back_the_same_market(tmp_path, recorded):
    klines, funding = recorded
    root = _import(tmp_path, klines[:1] + funding[:1])
    run = run_omni(["data", "export", str(root), "--out", str(tmp_path / "csv")], tmp_path)
    assert run.returncode == 0, run.stderr
    exported = sorted((tmp_path / "csv").rglob("*.csv.gz"))
    assert [p.relative_to(tmp_path / "csv").as_posix() for p in exported] == [
        "funding/bybit-linear/BTCUSDT.csv.gz", "klines/1m/binance-usdm/BTCUSDT.csv.gz"]  # fmt: skip
    original = ReplayMarket([*klines[:1], *funding[:1]], {})
    back = ReplayMarket(exported, {})
    assert original.instruments == back.instruments
    assert list(original) == list(back)


def test_show_lists_what_is_stored(tmp_path, recorded):
    klines, funding = recorded
    root = _import(tmp_path, klines[:1] + funding[:1])
    run = run_omni(["data", "show", str(root)], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "| klines/1m/BTCUSDT | 73139 |" in run.stdout
    manifest = json.loads((root / "manifest.json").read_text())
    assert sum(f["rows"] for f in manifest["files"] if f["kind"] == "klines") == 73139
    assert manifest["missing_bars"] == 0 and all(len(f["sha256"]) == 64 for f in manifest["files"])


def test_a_bad_row_in_the_store_stops_the_backtest_naming_file_and_row(tmp_path, recorded):
    klines, _ = recorded
    root = _import(tmp_path, klines[:1])
    month = store.month_files(root, store.KLINES, "BTCUSDT")[1]
    table = pq.read_table(month)
    low = table.column("low").to_numpy().copy()
    low[41] = table.column("high").to_numpy()[41] * 1.01  # low above high on the 42nd row
    bad = table.set_column(table.schema.get_field_index("low"), "low", pa.array(low))
    pq.write_table(bad, month)
    run = run_omni(["backtest", "--data", str(root), "--out", str(tmp_path / "bt")], tmp_path)
    assert run.returncode == 2
    assert f"{month}: row 42: inconsistent OHLC" in run.stderr
    assert not (tmp_path / "bt" / "trades.csv").exists()


def test_import_refuses_two_files_for_one_series_and_lists_what_it_skips(tmp_path, recorded, shared_data):
    klines, _ = recorded
    twin = tmp_path / "other" / "BTCUSDT.csv.gz"
    twin.parent.mkdir()
    twin.write_bytes(klines[0].read_bytes())
    run = run_omni(["data", "import", str(klines[0]), str(twin), "--out", str(tmp_path / "s")], tmp_path)
    assert run.returncode == 2 and "a second klines file for BTCUSDT" in run.stderr
    notes = tmp_path / "klines" / "README.txt"
    notes.parent.mkdir()
    notes.write_text("not data")
    run = run_omni(["data", "import", str(tmp_path / "klines"), str(klines[0]), "--out", str(tmp_path / "t")],
                   tmp_path)  # fmt: skip
    assert run.returncode == 0 and f"skipped {notes}" in run.stderr


def test_a_store_with_1m_and_5m_bars_of_a_symbol_replays_the_1m_and_says_so(tmp_path, shared_data):
    five = shared_data / "klines" / "5m" / "bybit-linear" / "BTCUSDT.csv.gz"
    one = shared_data / "klines" / "1m" / "binance-usdm" / "BTCUSDT.csv.gz"
    if not (five.exists() and one.exists()):
        pytest.skip("recorded files absent")
    root = tmp_path / "s"
    for f in (one, five):
        assert run_omni(["data", "import", str(f), "--out", str(root)], tmp_path).returncode == 0
    market = ReplayMarket([root], {})
    assert market.klines["BTCUSDT"].minutes == 1
    assert market.notes == [f"BTCUSDT: 5m bars in {root} not used (1m bars are)"]
    assert len(market.klines["BTCUSDT"]) == 73139

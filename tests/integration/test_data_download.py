"""`omni data download` end to end against the emulator (real pybit, Bybit's paging): an interrupted and resumed
download gives the same files as an uninterrupted one, through a 10006 burst and dropped connections; a gap in the
exchange's data is reported, never filled; the store replays in a backtest with mark-price liquidation.

The market: recorded-style CSV files the emulator replays (3 symbols, 1m bars from 2025-01-29 22:00 to 2025-02-02
02:00 UTC, funding every 8 h), with 45 minutes of ETHUSDT missing on purpose.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from omni.domain.market import MINUTE_MS
from omni.emulator.server import EmulatorConfig, EmulatorServer
from omni.emulator.state import AccountConfig
from omni.history.download import Downloader, DownloadError
from omni.venues import store
from omni.venues.replay import ReplayMarket
from tests.integration.conftest import omni_env

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
START = 1_738_188_000_000  # 2025-01-29 22:00 UTC
BARS = 4 * 1440 - 20 * 60  # to 2025-02-02 02:00 UTC
LO, HI = 1_738_195_200_000, 1_738_454_400_000  # 2025-01-30 .. 2025-02-02 (3 days, across a month end)
GAP_START, GAP_BARS = 1_738_300_000_000 - 1_738_300_000_000 % MINUTE_MS, 45  # ETHUSDT, 2025-01-31 05:06 UTC


def write_market(folder: Path) -> list[Path]:
    rnd = random.Random(7)
    paths = []
    for k, symbol in enumerate(SYMBOLS):
        price = (40000.0, 3000.0, 200.0)[k]
        rows = ["ts,open,high,low,close,volume"]
        for i in range(BARS):
            ts = START + i * MINUTE_MS
            o = price
            price = round(price * (1 + rnd.gauss(0, 0.001)), 2)
            h, lo = round(max(o, price) * 1.0005, 2), round(min(o, price) * 0.9995, 2)
            if symbol == "ETHUSDT" and GAP_START <= ts < GAP_START + GAP_BARS * MINUTE_MS:
                continue
            rows.append(f"{ts},{o},{h},{lo},{price},{rnd.uniform(1, 50):.3f}")
        path = folder / "klines" / "1m" / "test" / f"{symbol}.csv.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
        fund = folder / "funding" / "bybit-linear" / f"{symbol}.csv.gz"
        fund.parent.mkdir(parents=True, exist_ok=True)
        settle = [t for t in range(START - START % (8 * 3_600_000), START + BARS * MINUTE_MS, 8 * 3_600_000)]
        fund.write_bytes(gzip.compress(("ts,rate\n" + "".join(f"{t},{rnd.uniform(-1, 3) * 1e-4:.6f}\n"
                                                               for t in settle if t > START)).encode()))  # fmt: skip
        paths += [path, fund]
    return paths


@pytest.fixture
async def server(tmp_path):
    files = write_market(tmp_path / "source")
    config = EmulatorConfig(accounts=[AccountConfig("k", "s")], replay_paths=files, warmup_bars=BARS,
                            history_bars=BARS + 10, bar_seconds=0)  # fmt: skip
    async with EmulatorServer(config) as srv:
        yield srv


def parquet_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def manifest_without_time(root: Path) -> dict:
    doc = json.loads((root / "manifest.json").read_text())
    doc.pop("written_utc")
    return doc


async def test_an_interrupted_download_resumes_to_the_same_files_through_rate_limits_and_drops(tmp_path, server):
    # Arrange: an uninterrupted download for reference
    full = tmp_path / "full"
    await Downloader(server.url, full, rate_per_s=100, workers=4).download(SYMBOLS, LO, HI)
    # Act 1: a second download, cancelled (Ctrl-C) once 4 files are complete
    part = tmp_path / "part"
    enough = asyncio.Event()
    first = Downloader(server.url, part, rate_per_s=100, workers=2,
                       progress=lambda p: enough.set() if p.done >= 4 else None)  # fmt: skip
    task = asyncio.create_task(first.download(SYMBOLS, LO, HI))
    await asyncio.wait_for(enough.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = parquet_files(part)
    assert 4 <= len(kept) < len(parquet_files(full))
    assert not list(part.rglob("*.part"))  # nothing half-written
    # Act 2: resume while the exchange answers a burst of 10006 and drops two connections
    server.fail_next(3, ret_code=10006)
    server.drop_next(2)
    second = Downloader(server.url, part, rate_per_s=100, workers=2)
    await second.download(SYMBOLS, LO, HI)
    # Assert: the complete files were skipped, the rest fetched, and everything equals the uninterrupted download
    assert second.progress.skipped >= 4
    assert parquet_files(part) == parquet_files(full)
    assert (part / "gaps.csv").read_text() == (full / "gaps.csv").read_text()
    assert manifest_without_time(part) == manifest_without_time(full)
    refused = [r for r in server.requests if r.ret_code == 10006 or r.http_status == 0]
    assert len(refused) == 5


async def test_the_store_holds_exactly_what_the_exchange_served_and_reports_the_gap(tmp_path, server):
    out = tmp_path / "store"
    manifest = await Downloader(server.url, out, rate_per_s=100).download(SYMBOLS, LO, HI)
    # klines: every minute of the range the exchange has, split by UTC month, equal to the source bars
    source = ReplayMarket([tmp_path / "source" / "klines" / "1m" / "test" / f"{s}.csv.gz" for s in SYMBOLS], {})
    for symbol in SYMBOLS:
        assert [p.name for p in store.month_files(out, store.KLINES, symbol)] == ["2025-01.parquet", "2025-02.parquet"]
        got = store.read_klines(out, symbol)
        want = source.klines[symbol]
        keep = [i for i, t in enumerate(want.ts) if LO <= t < HI]
        assert list(got.ts) == [want.ts[i] for i in keep]
        assert list(got.close) == [want.close[i] for i in keep] and list(got.volume) == [want.volume[i] for i in keep]
        assert got.price_decimals == 2
        mark = store.read_mark(out, symbol)
        assert list(mark.ts) == list(got.ts) and list(mark.close) != list(got.close)  # the emulator's basis
    # the gap made on purpose: one row per kind, exact start and length; nothing else missing
    gaps = (out / "gaps.csv").read_text().splitlines()
    assert gaps[1:] == [f"ETHUSDT,{kind},1,2025-01-31T05:06:00Z,2025-01-31T05:50:00Z,45,{GAP_START}"
                        for kind in ("klines", "mark")]  # fmt: skip
    assert manifest["series"]["klines/1m/ETHUSDT"]["missing_bars"] == 45
    assert manifest["series"]["klines/1m/BTCUSDT"]["missing_bars"] == 0 and manifest["missing_bars"] == 90
    # funding: every settlement in the range, its interval derived from the spacing (8 h)
    fund = store.read_funding(out, "BTCUSDT")
    assert len(fund) == 9 and all(b - a == 8 * 3_600_000 for a, b in zip(fund.ts, fund.ts[1:], strict=False))
    table = __import__("pyarrow.parquet").parquet.read_table(store.month_files(out, store.FUNDING, "BTCUSDT")[0])
    assert set(table.column("interval_min").to_pylist()) == {480}
    # the instrument snapshot: every listed symbol, usable by a replay
    [snap] = (out / "instruments").glob("*.json")
    doc = json.loads(snap.read_text())
    assert sorted(i["symbol"] for i in doc["instruments"]) == SYMBOLS and doc["risk_limits"]
    with_files = {f["path"] for f in manifest["files"]}
    assert with_files == set(parquet_files(out))


async def test_an_unknown_symbol_stops_the_download_before_any_file(tmp_path, server):
    with pytest.raises(DownloadError, match=r"not listed as trading USDT perpetuals.*DOGEUSDT"):
        await Downloader(server.url, tmp_path / "s").download(["BTCUSDT", "DOGEUSDT"], LO, HI)
    assert not list((tmp_path / "s").rglob("*.parquet"))


async def test_omni_data_download_then_backtest_on_the_store(tmp_path, server):
    out = tmp_path / "store"
    cmd = [sys.executable, "-m", "omni", "data", "download", "--symbols", "BTCUSDT,SOLUSDT", "--from", "2025-01-31",
           "--to", "2025-02-01T12:00", "--out", str(out), "--base-url", server.url]  # fmt: skip
    proc = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=120, env=omni_env())
    assert proc.returncode == 0, proc.stderr
    assert "stored 2 symbols, 2025-01-31T00:00:00Z .. 2025-02-01T12:00:00Z" in proc.stdout
    show = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "omni", "data", "show", str(out)],
                                   capture_output=True, text=True, timeout=60, env=omni_env())  # fmt: skip
    assert "| klines/1m/BTCUSDT | 2160 |" in show.stdout and "| mark/1m/SOLUSDT | 2160 |" in show.stdout
    bt = tmp_path / "bt"
    cmd = [sys.executable, "-m", "omni", "backtest", "--data", str(out), "--out", str(bt)]
    proc = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                                   env=omni_env())  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    notes = json.loads((bt / "summary.json").read_text())["data_notes"]
    assert any("not point-in-time" in n for n in notes)  # the snapshot was taken after the bars
    assert "liquidation triggers on mark-price bars for 2 symbols" in notes

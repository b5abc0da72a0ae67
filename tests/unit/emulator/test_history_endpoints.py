"""Historical public market data paged as Bybit pages it, through the real pybit client against an in-process
emulator: klines and mark-price klines (start/end/limit), funding history (endTime paging), instruments and risk
limits (cursors), and the drop_next / fail_next(10006) hooks a downloader's retries are tested with.

The market: 3 synthetic symbols, 4400 warm-up 1m bars (~3 days, 10 funding settlements at 00/08/16 UTC) and
``history_bars`` 4500, so every warm-up bar is served.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal as D
from itertools import islice
from typing import Any

import pytest
import requests
from pybit.exceptions import InvalidRequestError

from omni.domain.market import MINUTE_MS, Bar
from omni.emulator.market import MAX_MARK_BASIS, mark_basis
from omni.emulator.options import add_market_options, market_timing
from omni.emulator.server import EmulatorConfig, EmulatorServer, build_market
from omni.emulator.state import AccountConfig
from omni.venues import bybit_codec as codec
from omni.venues.bybit_transport import LocalHTTP

KEY, SECRET = "hist-key", "hist-secret"
#: market time at start: a multiple of 8 h, so the last warm-up bar closes on a funding settlement
END_MS = 1_700_006_400_000
WARMUP, HISTORY = 4400, 4500
WINDOW = 1000  # minutes per kline page


@pytest.fixture
async def server():
    config = EmulatorConfig(
        accounts=[AccountConfig(KEY, SECRET)], symbols=3, seed=5, warmup_bars=WARMUP, history_bars=HISTORY,
        bar_seconds=0, start_ms=END_MS,
    )  # fmt: skip
    async with EmulatorServer(config) as srv:
        yield srv


def http(server: EmulatorServer, **kw: Any) -> LocalHTTP:
    kw.setdefault("retry_delay", 0)
    return LocalHTTP(server.url, testnet=True, **kw)


async def call(fn, **params: Any) -> dict[str, Any]:
    reply = await asyncio.to_thread(fn, **params)
    assert reply["retCode"] == 0, reply
    return reply["result"]


def fed_bars(server: EmulatorServer, symbol: str, keep: int = HISTORY) -> list[Bar]:
    """The last ``keep`` 1m bars of ``symbol`` fed so far, oldest first, from a fresh copy of the market source."""
    _, market, _ = build_market(server.config, 0)
    bars = [b for batch in islice(market, server.state.batches) for b in batch.bars if b.symbol == symbol]
    return bars[-keep:]


def served_rows(server: EmulatorServer, symbol: str) -> list[list[str]]:
    """Every 1m bar the emulator should serve, as a kline row, oldest first."""
    inst = server.state.instruments[symbol]
    return [codec.bar_to_kline_row(b, inst) for b in fed_bars(server, symbol)]


async def test_kline_pages_three_days_forward_every_minute_once_in_order(server: EmulatorServer):
    client = http(server)
    for symbol in sorted(server.state.instruments):
        expected = served_rows(server, symbol)
        first, last = int(expected[0][0]), int(expected[-1][0])
        assert len(expected) == WARMUP and last == END_MS - MINUTE_MS and last - first == (WARMUP - 1) * MINUTE_MS
        got: list[list[str]] = []
        for start in range(first, last + 1, WINDOW * MINUTE_MS):
            end = start + (WINDOW - 1) * MINUTE_MS  # [start, end] inclusive: WINDOW candles
            page = (await call(client.get_kline, category="linear", symbol=symbol, interval="1", start=start,
                               end=end, limit=WINDOW))["list"]  # fmt: skip
            stamps = [int(r[0]) for r in page]
            assert stamps == sorted(stamps, reverse=True)  # newest first
            assert all(start <= t <= end for t in stamps)
            got += page[::-1]
        assert got == expected  # every minute exactly once, in order, same candles


async def test_kline_newest_first_limit_and_window_bounds(server: EmulatorServer):
    client = http(server)
    symbol = sorted(server.state.instruments)[1]
    expected = served_rows(server, symbol)[::-1]  # newest first
    stamps = [int(r[0]) for r in expected]

    async def kline(interval: str = "1", **params: Any) -> list[list[str]]:
        return (await call(client.get_kline, category="linear", symbol=symbol, interval=interval, **params))["list"]

    assert await kline() == expected[:200]  # default limit 200, the newest
    assert await kline(limit=1000) == expected[:1000]
    # both bounds inclusive; a window longer than limit gives its newest rows
    t0 = stamps[3000]
    assert await kline(start=t0, end=t0 + 10 * MINUTE_MS) == expected[2990:3001]
    assert await kline(start=t0, end=t0 + 1000 * MINUTE_MS, limit=1000) == expected[2000:3000]
    assert await kline(start=t0 + 1, end=t0 + 2 * MINUTE_MS - 1) == [expected[2999]]
    # end alone: the newest limit at or before end; start alone: the oldest limit from start
    assert await kline(end=t0, limit=5) == expected[3000:3005]
    assert await kline(start=t0, limit=5) == expected[2996:3001]
    assert await kline(start=t0 + MINUTE_MS, end=t0) == []
    assert await kline(start=0, end=stamps[-1] - 1) == []  # before the history
    # 5m candles aggregate the 1m bars of [ts, ts + 5m)
    five = await kline(interval="5", start=t0 - t0 % (5 * MINUTE_MS), end=t0 + 10 * MINUTE_MS)
    assert len(five) == 3 and int(five[-1][0]) == t0 - t0 % (5 * MINUTE_MS)
    part = [r for r in expected if int(five[-1][0]) <= int(r[0]) < int(five[-1][0]) + 5 * MINUTE_MS][::-1]
    assert len(part) == 5 and (five[-1][1], five[-1][4]) == (part[0][1], part[-1][4])
    assert D(five[-1][2]) == max(D(r[2]) for r in part) and D(five[-1][3]) == min(D(r[3]) for r in part)
    assert abs(D(five[-1][5]) - sum(D(r[5]) for r in part)) <= D("0.001") * D(five[-1][5])  # rounded volumes
    for bad in ({"limit": 1001}, {"limit": 0}, {"interval": "D"}, {"start": "x"}):
        with pytest.raises(InvalidRequestError) as err:
            await kline(**bad)
        assert err.value.status_code == 10001


async def test_history_bars_caps_the_history_and_tickers_cover_the_last_day(server: EmulatorServer):
    client = http(server)
    symbol = sorted(server.state.instruments)[0]
    server.state.advance(300)  # 4700 bars fed: the oldest 200 leave the served history
    rows = served_rows(server, symbol)
    assert len(rows) == HISTORY and int(rows[-1][0]) == END_MS + 299 * MINUTE_MS
    oldest = (await call(client.get_kline, category="linear", symbol=symbol, interval="1", start=0, limit=1))["list"]
    assert oldest == [rows[0]]
    # the tickers' 24 h figures: the last 1440 bars, not the whole history
    inst, day = server.state.instruments[symbol], fed_bars(server, symbol, 1440)
    assert day == list(server.state.bars(symbol)) and day[-1].ts == int(rows[-1][0])
    ticker = (await call(client.get_tickers, category="linear", symbol=symbol))["list"][0]
    assert D(ticker["volume24h"]) == inst.round_qty(sum(b.volume for b in day))
    assert D(ticker["highPrice24h"]) == inst.round_price(max(b.high for b in day))
    assert D(ticker["lowPrice24h"]) == inst.round_price(min(b.low for b in day))
    assert D(ticker["prevPrice24h"]) == inst.round_price(day[0].open)
    turnover = sum(b.volume * b.close for b in day)
    assert abs(float(ticker["turnover24h"]) - turnover) <= 1e-6 * turnover


async def test_mark_price_kline_is_the_last_price_kline_with_a_constant_basis(server: EmulatorServer):
    client = http(server)
    differs = 0
    for symbol in sorted(server.state.instruments):
        inst, b = server.state.instruments[symbol], mark_basis(symbol)
        assert -MAX_MARK_BASIS <= b <= MAX_MARK_BASIS and b == mark_basis(symbol)
        params = {"category": "linear", "symbol": symbol, "interval": "1", "start": END_MS - 600 * MINUTE_MS,
                  "end": END_MS, "limit": 300}  # fmt: skip
        last = (await call(client.get_kline, **params))["list"]
        mark = (await call(client.get_mark_price_kline, **params))["list"]
        assert len(mark) == 300 and all(len(r) == 5 for r in mark)
        assert [r[0] for r in mark] == [r[0] for r in last]  # same candles, newest first
        for m, k in zip(mark, last, strict=True):
            assert [D(p) for p in m[1:]] == [inst.round_price(D(p) * (1 + b)) for p in k[1:5]]
        differs += mark != [r[:5] for r in last]
        # tickers keep markPrice = lastPrice (the matching engines' mark); only the mark kline has the basis
        ticker = (await call(client.get_tickers, category="linear", symbol=symbol))["list"][0]
        assert ticker["markPrice"] == ticker["lastPrice"]
    assert differs >= 2
    # a test's mark offset shifts the mark candles too
    symbol = sorted(server.state.instruments)[0]
    tick = server.state.instruments[symbol].tick_size
    params = {"category": "linear", "symbol": symbol, "interval": "1", "limit": 3}
    before = (await call(client.get_mark_price_kline, **params))["list"]
    server.state.set_mark_offset(symbol, 7 * tick)
    after = (await call(client.get_mark_price_kline, **params))["list"]
    assert [[D(p) for p in r[1:]] for r in after] == [[D(p) + 7 * tick for p in r[1:]] for r in before]


async def test_funding_history_pages_back_by_end_time_and_refuses_start_alone(server: EmulatorServer):
    client = http(server)
    for symbol in sorted(server.state.instruments):
        settled = server.state.fundings(symbol)
        assert len(settled) == 10 and all(f.ts % (8 * 60 * MINUTE_MS) == 0 for f in settled)
        expected = [codec.funding_to_item(f) for f in reversed(settled)]

        async def history(sym: str = symbol, **params: Any) -> list[dict[str, str]]:
            return (await call(client.get_funding_rate_history, category="linear", symbol=sym, **params))["list"]

        assert await history() == expected  # neither bound: the newest (default limit 200)
        got, end = [], END_MS
        while True:
            page = await history(endTime=end, limit=2)
            if not page:
                break
            got += page
            end = int(page[-1]["fundingRateTimestamp"]) - 1
        assert got == expected  # every settlement once, newest first
        ts = [int(i["fundingRateTimestamp"]) for i in expected]
        assert await history(endTime=ts[2]) == expected[2:]  # endTime inclusive
        assert await history(startTime=ts[5], endTime=ts[2]) == expected[2:6]
        assert await history(startTime=ts[5], endTime=ts[2], limit=1) == expected[2:3]
        assert set(expected[0]) == {"symbol", "fundingRate", "fundingRateTimestamp"}
    for bad in ({"startTime": END_MS - 86_400_000}, {"limit": 201}):
        with pytest.raises(InvalidRequestError) as err:
            await history(**bad)
        assert err.value.status_code == 10001


async def test_instruments_and_risk_limit_cursors_cover_every_symbol_once(server: EmulatorServer):
    client = http(server)
    symbols = sorted(server.state.instruments)

    async def pages(fn, limit: int) -> tuple[list[dict[str, Any]], int]:
        items, cursor, n = [], None, 0
        while True:
            params: dict[str, Any] = {"category": "linear", "limit": limit}
            if cursor:
                params["cursor"] = cursor
            result = await call(fn, **params)
            items += result["list"]
            n += 1
            cursor = result["nextPageCursor"]
            if cursor == "":
                return items, n

    listed, n = await pages(client.get_instruments_info, 2)
    assert [i["symbol"] for i in listed] == symbols and n == 2
    assert (await call(client.get_instruments_info, category="linear"))["nextPageCursor"] == ""
    whole = await call(client.get_risk_limit, category="linear")
    assert whole["nextPageCursor"] == ""
    tiers, n = await pages(client.get_risk_limit, 2)
    assert tiers == whole["list"] and n == -(-len(tiers) // 2) and n > 2
    assert len({(t["symbol"], t["id"]) for t in tiers}) == len(tiers)
    assert sorted({t["symbol"] for t in tiers}) == symbols
    with pytest.raises(InvalidRequestError):
        await call(client.get_instruments_info, category="linear", limit=1001)


async def test_drop_next_closes_the_connection_once_then_serves(server: EmulatorServer):
    client = http(server)
    server.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        await call(client.get_kline, category="linear", symbol="SYN001USDT", interval="1", limit=1)
    assert server.requests[-1].http_status == 0 and server.requests[-1].path == "/v5/market/kline"
    assert len((await call(client.get_kline, category="linear", symbol="SYN001USDT", interval="1", limit=1))["list"])


async def test_fail_next_10006_carries_a_future_reset_so_pybit_sleeps_and_retries(server: EmulatorServer):
    client = http(server)
    server.fail_next(2, ret_code=10006)
    t0 = time.monotonic()
    result = await call(client.get_funding_rate_history, category="linear", symbol="SYN001USDT", limit=1)
    assert len(result["list"]) == 1 and time.monotonic() - t0 < 5
    limited, ok = list(server.requests)[-3:-1], server.requests[-1]
    assert [r.ret_code for r in limited] == [10006, 10006] and ok.ret_code == 0
    for r in limited:
        assert int(r.headers["X-Bapi-Limit-Reset-Timestamp"]) > r.ts
        assert r.headers["X-Bapi-Limit-Status"] == "0"


def test_history_bars_default_and_cli_flag():
    assert EmulatorConfig().history_bars == 1440
    assert EmulatorConfig(warmup_bars=4500).history_bars == 4500
    assert EmulatorConfig(warmup_bars=4500, history_bars=5000).history_bars == 5000
    parser = argparse.ArgumentParser()
    add_market_options(parser)
    assert "history_bars" not in market_timing(parser.parse_args([]))  # EmulatorConfig's default applies
    assert market_timing(parser.parse_args(["--history-bars", "5000"]))["history_bars"] == 5000
    with pytest.raises(SystemExit):
        parser.parse_args(["--history-bars", "0"])

"""ReplayMarket.window: only the bars opening in [start, end), the settlements between them, and a clear error
when the window holds no bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from omni.domain.errors import DataError
from omni.domain.market import MINUTE_MS
from omni.venues.replay import ReplayMarket
from tests.unit.venues.test_replay import T0, kline_rows, write


def market(tmp_path: Path) -> ReplayMarket:
    a = write(tmp_path / "AAAUSDT.csv", ["ts,open,high,low,close,volume", *kline_rows(120)])
    b = write(tmp_path / "BBBUSDT.csv", ["ts,open,high,low,close,volume", *kline_rows(60, start=T0 + 30 * MINUTE_MS)])
    rates = [f"{T0 + m * MINUTE_MS},{r}" for m, r in ((10, "0.0001"), (50, "0.0002"), (100, "0.0003"))]
    f = write(tmp_path / "f" / "AAAUSDT.csv", ["ts,rate", *rates])
    return ReplayMarket([a, b, f], {})


def test_a_window_replays_only_the_bars_opening_inside_it(tmp_path: Path) -> None:
    m = market(tmp_path)
    m.window(T0 + 20 * MINUTE_MS, T0 + 60 * MINUTE_MS)
    batches = list(m)
    opens = {(bar.symbol, bar.ts) for batch in batches for bar in batch.bars}
    assert min(t for s, t in opens if s == "AAAUSDT") == T0 + 20 * MINUTE_MS
    assert max(t for _, t in opens) == T0 + 59 * MINUTE_MS
    assert len([o for o in opens if o[0] == "AAAUSDT"]) == 40 and len([o for o in opens if o[0] == "BBBUSDT"]) == 30
    assert m.first_ts == T0 + 21 * MINUTE_MS and m.last_ts == T0 + 60 * MINUTE_MS
    assert [(f.ts, f.rate) for batch in batches for f in batch.fundings] == [(T0 + 50 * MINUTE_MS, 0.0002)]


def test_an_open_ended_window_keeps_the_other_side(tmp_path: Path) -> None:
    m = market(tmp_path)
    m.window(None, T0 + 10 * MINUTE_MS)
    assert {bar.symbol for batch in m for bar in batch.bars} == {"AAAUSDT"}
    assert m.last_ts == T0 + 10 * MINUTE_MS
    m.window(T0 + 100 * MINUTE_MS, None)
    assert sum(len(batch.bars) for batch in m) == 20 and m.first_ts == T0 + 101 * MINUTE_MS


def test_a_window_without_any_bar_is_refused(tmp_path: Path) -> None:
    m = market(tmp_path)
    with pytest.raises(DataError, match="no bar between"):
        m.window(T0 + 500 * MINUTE_MS, T0 + 600 * MINUTE_MS)

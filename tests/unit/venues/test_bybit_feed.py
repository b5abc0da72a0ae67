"""KlineFeed: confirmed 1m bars from REST history and the socket, overlapping and racing, become one batch per
minute in order, each bar once; holes are asked for once and held until filled."""

from __future__ import annotations

from omni.domain.market import MINUTE_MS, Bar
from omni.venues.bybit_feed import KlineFeed

T = 1_700_000_040_000 - 1_700_000_040_000 % MINUTE_MS


def bar(sym: str, i: int, close: float = 1.0) -> Bar:
    return Bar(sym, T + i * MINUTE_MS, close, close, close, close, 1.0)


def emitted(batches) -> list[tuple[int, list[tuple[str, int]]]]:
    return [(b.ts, [(x.symbol, (x.ts - T) // MINUTE_MS) for x in b.bars]) for b in batches]


def test_socket_bars_that_race_the_history_are_emitted_once_in_order_after_warm_up():
    feed = KlineFeed(["AAA", "BBB"], grace_ms=1000)
    # the socket is subscribed first: minutes 5 and 6 arrive while the history loads
    feed.add(bar("AAA", 5), 0)
    feed.add(bar("BBB", 5), 0)
    assert feed.take(0) == []  # nothing before the history
    for i in range(0, 6):  # history overlaps the socket at minute 5 (merged, not doubled)
        feed.add(bar("AAA", i, 2.0), 0, live=False)
        feed.add(bar("BBB", i, 2.0), 0, live=False)
    feed.mark_ready("AAA")
    feed.mark_ready("BBB")
    assert feed.take(0) == []  # still warming up
    feed.add(bar("AAA", 6), 10)
    feed.warm_done()
    out = emitted(feed.take(20))
    assert out == [(T + (i + 1) * MINUTE_MS, [("AAA", i), ("BBB", i)]) for i in range(6)]
    assert feed.counters["merged"] == 2
    # minute 6 of BBB has not come: AAA's minute 6 waits for it within the grace window
    feed.add(bar("BBB", 6), 30)
    assert emitted(feed.take(30)) == [(T + 7 * MINUTE_MS, [("AAA", 6), ("BBB", 6)])]
    # a repeat of an emitted minute (testnet sends two confirms) is dropped and counted
    assert feed.add(bar("AAA", 6), 40) is False
    assert feed.add(bar("AAA", 2), 40) is False
    assert feed.counters["duplicate"] == 2


def test_a_minute_waits_for_its_grace_window_then_goes_out_without_the_missing_symbol():
    feed = KlineFeed(["AAA", "BBB", "CCC"], grace_ms=1000)
    for s in ("AAA", "BBB", "CCC"):
        feed.add(bar(s, 0), 0, live=False)
    feed.warm_done()
    assert len(feed.take(0)) == 1
    feed.add(bar("AAA", 1), 100)
    feed.add(bar("BBB", 1), 200)
    assert feed.take(500) == []
    assert feed.next_deadline() == 1100
    assert emitted(feed.take(1100)) == [(T + 2 * MINUTE_MS, [("AAA", 1), ("BBB", 1)])]
    # CCC's minute 1 arrives late: it goes out on its own, still in order for CCC
    feed.add(bar("CCC", 1), 1500)
    assert emitted(feed.take(2600)) == [(T + 2 * MINUTE_MS, [("CCC", 1)])]


def test_a_hole_is_reported_once_and_the_symbol_holds_its_bars_until_the_fill():
    feed = KlineFeed(["AAA", "BBB"], grace_ms=0)
    for s in ("AAA", "BBB"):
        feed.add(bar(s, 0), 0, live=False)
    feed.warm_done()
    feed.take(0)
    # a reconnect lost minutes 1-2 of AAA
    feed.add(bar("AAA", 3), 10)
    for i in (1, 2, 3):
        feed.add(bar("BBB", i), 10)
    assert feed.gaps() == [("AAA", T + MINUTE_MS, T + 2 * MINUTE_MS)]
    assert feed.gaps() == []  # once
    out = emitted(feed.take(10))
    assert [syms for _, syms in out] == [[("BBB", 1)], [("BBB", 2)], [("BBB", 3)]]
    feed.add(bar("AAA", 1), 20, live=False)
    feed.add(bar("AAA", 2), 20, live=False)
    feed.resolve_gap("AAA")
    out = emitted(feed.take(20))
    assert [syms for _, syms in out] == [[("AAA", 1)], [("AAA", 2)], [("AAA", 3)]]
    assert feed.counters["gap_unfilled_minutes"] == 0


def test_a_minute_the_exchange_cannot_give_is_skipped_and_counted():
    feed = KlineFeed(["AAA"], grace_ms=0)
    feed.add(bar("AAA", 0), 0, live=False)
    feed.warm_done()
    feed.take(0)
    feed.add(bar("AAA", 4), 10)
    assert feed.gaps() == [("AAA", T + MINUTE_MS, T + 3 * MINUTE_MS)]
    feed.resolve_gap("AAA")  # the REST fill found nothing
    assert emitted(feed.take(10)) == [(T + 5 * MINUTE_MS, [("AAA", 4)])]
    assert feed.counters["gap_unfilled_minutes"] == 3


def test_a_quiet_symbol_is_asked_for_once_and_new_listings_wait_for_history():
    feed = KlineFeed(["AAA"], grace_ms=0)
    feed.add(bar("AAA", 0), 0, live=False)
    feed.warm_done()
    feed.take(0)
    assert feed.stale(T + 2 * MINUTE_MS) == []
    assert feed.stale(T + 4 * MINUTE_MS) == [("AAA", T + MINUTE_MS, T + 3 * MINUTE_MS)]
    assert feed.stale(T + 5 * MINUTE_MS) == []
    feed.set_symbols(["AAA", "NEW"])
    feed.add(bar("NEW", 5), 0)
    assert feed.take(0) == []  # NEW waits for its history
    feed.add(bar("NEW", 4), 0, live=False)
    feed.mark_ready("NEW")
    assert [syms for _, syms in emitted(feed.take(0))] == [[("NEW", 4)], [("NEW", 5)]]
    assert feed.add(bar("GONE", 5), 0) is False

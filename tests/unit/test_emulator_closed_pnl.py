"""Closed PnL rows follow Bybit's definition: exit minus entry, minus the opening fee, the funding and the closing
fee of the part closed; one row per closing order; windows and paging as Bybit's."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from omni.domain.orders import ExecType, Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from omni.emulator.closed_pnl import ClosedPnlBook
from omni.emulator.ledger import MAX_WINDOW_MS, WindowError
from tests.factories import T0


def fill(oid: str, side: Side, qty: str, price: str, fee: str, realised: str = "0", closed: str = "0", ts: int = T0,
         kind: ExecType = ExecType.TRADE) -> Fill:  # fmt: skip
    return Fill(f"e-{oid}-{ts}", oid, "", "BTCUSDT", side, D(qty), D(price), D(fee), D("0.00055"), False, kind,
                D(realised), ts, D(closed))  # fmt: skip


def order(oid: str, side: Side, qty: str) -> Order:
    return Order(oid, "", "BTCUSDT", side, D(qty), OrderType.MARKET, None, TimeInForce.IOC, False, OrderStatus.FILLED)


def test_rows_share_out_open_fees_and_funding_and_add_up_to_the_wallet_effect():
    book = ClosedPnlBook()
    lev = D(10)
    fills = [
        (fill("o1", Side.BUY, "2", "100", "0.11"), order("o1", Side.BUY, "2")),
        (fill("f", Side.BUY, "2", "100", "0.02", kind=ExecType.FUNDING, ts=T0 + 1), None),  # 0.02 paid
        (fill("o2", Side.SELL, "1", "110", "0.0605", "10", "1", T0 + 2), order("o2", Side.SELL, "1")),
        # a flip: closes the last 1 and opens 2 short; its fee is split 1/3 closing, 2/3 opening
        (fill("o3", Side.SELL, "3", "120", "0.198", "20", "1", T0 + 3), order("o3", Side.SELL, "3")),
        (fill("o4", Side.BUY, "1", "115", "0.06325", "5", "1", T0 + 4), order("o4", Side.BUY, "2")),
        (fill("o4", Side.BUY, "1", "116", "0.0638", "4", "1", T0 + 5), order("o4", Side.BUY, "2")),
    ]
    for f, o in fills:
        book.on_fill(f, o, lev)

    rows = [r.item() for r in book.rows]
    assert [(r["orderId"], r["closedSize"], r["fillCount"]) for r in rows] == [("o2", "1", "1"), ("o3", "1", "1"),
                                                                            ("o4", "2", "2")]  # fmt: skip
    assert rows[0]["openFee"] == "0.055" and rows[0]["closeFee"] == "0.0605"
    assert D(rows[0]["closedPnl"]) == D(10) - D("0.055") - D("0.01") - D("0.0605")
    assert (rows[1]["closeFee"], rows[2]["openFee"]) == ("0.066", "0.132")
    assert (rows[2]["avgEntryPrice"], rows[2]["avgExitPrice"]) == ("120", "115.5")
    # everything is closed: the rows add up to realised PnL - fees - funding
    wallet = sum(D(f.realised_pnl) - f.fee for f, _ in fills)
    assert sum(D(r["closedPnl"]) for r in rows) == wallet
    assert book.open == {}


def test_a_liquidation_row_is_the_lost_margin_and_the_open_fee():
    book = ClosedPnlBook()
    book.on_fill(fill("o1", Side.BUY, "1", "100", "0.055"), order("o1", Side.BUY, "1"), D(10))
    bust = fill("liq", Side.SELL, "1", "90.5", "0", "-10", "1", T0 + 9, ExecType.BUST_TRADE)
    row = book.on_fill(bust, None, D(10))
    assert row is not None
    item = row.item()
    assert (item["execType"], item["orderType"], item["closedPnl"]) == ("BustTrade", "Market", "-10.055")


def test_queries_page_newest_first_inside_bybits_windows():
    book = ClosedPnlBook()
    for i in range(5):
        ts = T0 + i * 60_000
        book.on_fill(fill(f"o{i}", Side.BUY, "1", "100", "0", ts=ts), order(f"o{i}", Side.BUY, "1"), D(1))
        book.on_fill(fill(f"c{i}", Side.SELL, "1", "101", "0", "1", "1", ts), order(f"c{i}", Side.SELL, "1"), D(1))
    now = T0 + 10 * 60_000
    page, cursor = book.query(now, limit=3)
    rest, end = book.query(now, limit=3, cursor=cursor)
    assert [r.order_id for r in page + rest] == ["c4", "c3", "c2", "c1", "c0"] and end is None
    assert book.query(now + MAX_WINDOW_MS)[0] == []  # older than 7 days
    assert len(book.query(now, start=T0 + 60_000)[0]) == 4
    assert [r.order_id for r in book.query(now, symbol="ETHUSDT")[0]] == []
    with pytest.raises(WindowError):
        book.query(now, start=T0, end=T0 + MAX_WINDOW_MS + 1)

"""The SQLite journal: schema and migrations, exact money, clear errors for unusable files."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D

import pytest

from omni.journal import MIGRATIONS, Journal, JournalError


def test_new_journal_is_created_at_the_latest_schema_in_wal_mode(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    assert j.schema_version == len(MIGRATIONS) == 3
    assert j.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in j.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"orders", "fills", "positions", "decisions", "risk_events", "equity", "meta", "transfers"} <= tables


def test_reopening_does_not_migrate_twice_and_keeps_data(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.set_meta("capital_start", "12.00000001")
    j.close()
    j2 = Journal(tmp_path / "j.sqlite")
    assert j2.schema_version == len(MIGRATIONS) and j2.meta("capital_start") == "12.00000001"


def test_money_is_stored_exactly_as_text(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.write(
        [
            (
                "fill",
                (
                    "e1",
                    "o1",
                    "c1",
                    "BTCUSDT",
                    "Buy",
                    "0.001",
                    "20000.1",
                    "0.01100006",
                    "0.00055",
                    0,
                    "Trade",
                    "0",
                    "0",
                    None,
                    1,
                ),
            )
        ]
    )
    [row] = j.rows("SELECT fee, price FROM fills")
    assert (row["fee"], row["price"]) == ("0.01100006", "20000.1")


def test_a_journal_from_a_newer_omni_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(JournalError, match="newer than this OMNI"):
        Journal(path)


def test_a_corrupted_file_is_a_clear_error(tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(JournalError, match=str(path)):
        Journal(path)


def test_a_failed_write_raises_and_loses_nothing_in_the_writer(tmp_path):
    import asyncio

    from omni.engine.journaling import JournalWriter

    j = Journal(tmp_path / "j.sqlite")
    writer = JournalWriter(j, None)
    writer.add([("risk", (1, "test", "x")), ("no_such_statement", ())])

    async def flush():
        with pytest.raises(KeyError):  # an unknown statement: a programming error, still nothing lost
            await writer.flush()

    asyncio.run(flush())
    assert len(writer.pending) == 2  # kept for the next attempt
    assert j.rows("SELECT count(*) AS n FROM risk_events")[0]["n"] == 0  # the batch is one transaction


def test_on_the_sim_an_intent_waits_for_the_next_flush_in_order_and_refuses_while_writes_fail(tmp_path):
    import asyncio

    from omni.domain.orders import OrderIntent, Side
    from omni.engine.journaling import QUEUED_FLUSH, JournalWriter, fill_record
    from tests.unit.engine.test_final_reread import fill

    j = Journal(tmp_path / "j.sqlite")
    writer = JournalWriter(j, None, durable_intents=False)
    intent = OrderIntent("c1", "BTCUSDT", Side.BUY, D("0.01"))

    async def scenario():
        await writer.record_intent(intent, 1)
        assert j.rows("SELECT count(*) AS n FROM orders")[0]["n"] == 0  # queued, not written
        writer.add([fill_record(fill("e1", 2))])
        await writer.flush()  # the order row goes in with (ahead of) its fill
        assert [r["client_id"] for r in j.rows("SELECT client_id FROM orders")] == ["c1"]
        writer.add([("no_such_statement", ())])  # the next write fails
        with pytest.raises(KeyError):
            await writer.flush()
        with pytest.raises(KeyError):  # known unwritable: the next entry is refused, its intent kept
            await writer.record_intent(OrderIntent("c2", "BTCUSDT", Side.BUY, D("0.01")), 3)
        assert writer.pending[-1][1][0] == "c2"
        writer.pending = [r for r in writer.pending if r[0] != "no_such_statement"]
        await writer.flush()  # writable again
        await writer.record_intent(OrderIntent("c3", "BTCUSDT", Side.BUY, D("0.01")), 4)
        writer.pending += [("meta", ("k", "1"))] * QUEUED_FLUSH  # a long queue: the intent flushes it
        await writer.record_intent(OrderIntent("c4", "BTCUSDT", Side.BUY, D("0.01")), 5)
        assert writer.pending == []

    asyncio.run(scenario())
    assert [r["client_id"] for r in j.rows("SELECT client_id FROM orders ORDER BY created_ts")] == ["c1", "c2", "c3",
                                                                                                     "c4"]  # fmt: skip


def test_read_only_open_of_a_missing_journal_is_a_clear_error(tmp_path):
    with pytest.raises(JournalError, match="does not exist"):
        Journal(tmp_path / "missing.sqlite", read_only=True)


def test_a_v1_journal_is_upgraded_to_v2_keeping_its_data_and_transfers_join_the_ledger(tmp_path):
    # Arrange: a journal written by the v1 schema
    path = tmp_path / "j.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO meta VALUES ('capital_start', '\"100\"')")
    db.execute(
        "INSERT INTO fills VALUES ('e1','o1','c1','BTCUSDT','Buy','0.001','20000','0.011','0.00055',0,'Trade',"
        "'-1.5','0.001',NULL,1)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    # Act
    j = Journal(path)
    j.write(
        [
            ("transfer", ("t1", 2, "TRANSFER_IN", "50")),
            ("transfer", ("t1", 2, "TRANSFER_IN", "50")),  # the same id twice: booked once
            ("transfer", ("t2", 3, "TRANSFER_OUT", "-20.5")),
            ("transfer", ("adj", 4, "Adjustment", "-0.25")),
        ]
    )

    # Assert
    assert j.schema_version == 3 and j.meta("capital_start") == "100"
    sums = j.ledger()
    assert sums["realised"] == D("-1.5") and sums["fees"] == D("0.011")
    assert (sums["deposits"], sums["withdrawals"], sums["adjustments"]) == (D(50), D("20.5"), D("-0.25"))
    assert j.transfer_ids() == {"t1", "t2", "adj"}


def test_the_execution_cursor_of_a_journal_with_orders_but_no_fill_is_its_first_order(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    assert j.execution_cursor() == (set(), None)  # a new journal: nothing to re-read
    j.write(
        [
            ("order_intent", ("c1", "BTCUSDT", "Buy", "0.001", "Market", None, 0, None, "19000", "5", 2_000, 2_000)),
            ("order_intent", ("c2", "BTCUSDT", "Buy", "0.001", "Market", None, 0, None, "19000", "5", 1_000, 1_000)),
        ]
    )
    assert j.execution_cursor() == (set(), 1_000)
    j.write([("fill", ("e1", "o1", "c1", "BTCUSDT", "Buy", "0.001", "20000", "0.011", "0.00055", 0, "Trade",
                       "0", "0", None, 5_000))])  # fmt: skip
    assert j.execution_cursor() == ({"e1"}, 5_000)


def test_a_position_opened_by_an_entry_in_flight_at_a_kill_is_known_and_a_closed_ones_is_not(tmp_path):
    j = Journal(tmp_path / "j.sqlite")

    def intent(cid, symbol, ts, reduce_only=0):
        return ("order_intent", (cid, symbol, "Buy", "0.001", "Market", None, reduce_only, None, "19000", "5", ts, ts))

    j.write(
        [
            # BTC: an entry whose intent was written, then the daemon was killed before its fill was journaled
            intent("c1", "BTCUSDT", 1_000),
            # ETH: an open position row
            ("position", ("ETHUSDT", "Buy", "0.1", "2000", "5", "40", "1700", None, "1900", 900)),
            # SOL: an entry filled and closed later (flat row after it)
            intent("c2", "SOLUSDT", 500),
            ("order_status", ("o2", "Filled", None, 510, "c2")),
            ("position", ("SOLUSDT", None, "0", None, None, None, None, None, None, 800)),
            # XRP: an entry the exchange rejected; ADA: a close only (reduce-only)
            intent("c3", "XRPUSDT", 1_000),
            ("order_status", (None, "Rejected", "110007 insufficient", 1_001, "c3")),
            intent("c4", "ADAUSDT", 1_000, reduce_only=1),
            # DOGE: closed, then a new entry in flight after the flat row
            ("position", ("DOGEUSDT", None, "0", None, None, None, None, None, None, 700)),
            intent("c5", "DOGEUSDT", 750),
        ]
    )
    assert j.known_position_symbols() == {"BTCUSDT", "ETHUSDT", "DOGEUSDT"}

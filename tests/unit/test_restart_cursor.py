"""A restarted Bybit run re-reads executions from a day before the journal's last booked fill (the execIds it booked
dedupe): a daemon killed while lagging has fills its venue had seen, older than the last one it booked, that never
reached the journal (a 523-symbol rehearsal lost three that way with a 10-minute margin)."""

from __future__ import annotations

from decimal import Decimal as D

from omni.config import load_config
from omni.domain.orders import ExecType, Fill, Side
from omni.engine.assembly import RESTART_REREAD_MS, bybit_venue
from omni.engine.journaling import fill_record
from omni.journal import Journal
from omni.logsetup import get

LAST = 1_796_045_880_000


def test_the_restart_cursor_is_a_day_before_the_last_booked_fill(tmp_path):
    cfg = load_config(None, env={"OMNI_ENGINE__STATE_DIR": str(tmp_path), "OMNI_VENUE__NAME": "bybit-testnet"})
    j = Journal(cfg.engine.journal_path)
    fill = Fill("e1", "o1", "c1", "BTCUSDT", Side.BUY, D("0.01"), D(20000), D("0.11"), D("0.00055"), False,
                ExecType.TRADE, D(0), LAST)  # fmt: skip
    j.write([fill_record(fill)])
    j.close()
    venue = bybit_venue(cfg, get("t"), "key", "secret")
    assert venue.seen_exec == {"e1"}
    assert venue.exec_since_ms == LAST - RESTART_REREAD_MS == LAST - 86_400_000


def test_a_new_journal_has_no_cursor(tmp_path):
    cfg = load_config(None, env={"OMNI_ENGINE__STATE_DIR": str(tmp_path), "OMNI_VENUE__NAME": "bybit-testnet"})
    venue = bybit_venue(cfg, get("t"), "key", "secret")
    assert venue.exec_since_ms is None and venue.seen_exec == set()

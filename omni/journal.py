"""The SQLite journal: every order (its orderLinkId written before it is sent), fill, funding payment,
position change, decision, risk event and periodic equity snapshot, with money stored exactly (TEXT).

SQLite in WAL mode, one writer. The schema is versioned with ``PRAGMA user_version`` and upgraded by the
ordered ``MIGRATIONS``. ``Journal`` is synchronous (plain sqlite3); the engine runs its writes in a worker
thread so they never block the event loop, and readers (``omni status``) open the file read-only while the
daemon runs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.domain.errors import OmniError
from omni.domain.events import CAPITAL_KINDS

MIGRATIONS: tuple[str, ...] = (
    # v1
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE orders (
        client_id TEXT PRIMARY KEY, order_id TEXT, symbol TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL,
        order_type TEXT NOT NULL, price TEXT, reduce_only INTEGER NOT NULL, take_profit TEXT, stop_loss TEXT,
        leverage TEXT, status TEXT NOT NULL, reason TEXT, created_ts INTEGER NOT NULL, updated_ts INTEGER NOT NULL
    );
    CREATE TABLE fills (
        exec_id TEXT PRIMARY KEY, order_id TEXT, client_id TEXT, symbol TEXT NOT NULL, side TEXT NOT NULL,
        qty TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL, fee_rate TEXT NOT NULL, is_maker INTEGER NOT NULL,
        exec_type TEXT NOT NULL, realised_pnl TEXT NOT NULL, closed_qty TEXT NOT NULL, stop_kind TEXT,
        ts INTEGER NOT NULL
    );
    CREATE TABLE positions (
        symbol TEXT PRIMARY KEY, side TEXT, size TEXT NOT NULL, entry_price TEXT, leverage TEXT, margin TEXT,
        liq_price TEXT, take_profit TEXT, stop_loss TEXT, ts INTEGER NOT NULL
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, symbol TEXT NOT NULL, verdict TEXT NOT NULL,
        reason TEXT NOT NULL, client_id TEXT, p REAL, ev REAL, ev_lower REAL, n INTEGER, detail TEXT
    );
    CREATE TABLE risk_events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT);
    CREATE TABLE equity (ts INTEGER PRIMARY KEY, balance TEXT NOT NULL, equity TEXT NOT NULL);
    CREATE INDEX fills_ts ON fills (ts);
    CREATE INDEX decisions_ts ON decisions (ts);
    """,
    # v2: capital changes (deposits, top-ups, withdrawals from the exchange's transaction log; unexplained
    # wallet differences as adjustments), each once by its id
    """
    CREATE TABLE transfers (
        id TEXT PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, amount TEXT NOT NULL
    );
    """,
    # v3: every forecast of the pre-trade simulator with the outcome its exact order had, taken or not
    # (omni.core.outcomes), written once resolved; floats: statistics, not accounting
    """
    CREATE TABLE outcomes (
        ts INTEGER NOT NULL, symbol TEXT NOT NULL, timeframe INTEGER NOT NULL, side TEXT NOT NULL,
        verdict TEXT NOT NULL, client_id TEXT, p REAL NOT NULL, p_cal REAL NOT NULL, ev REAL NOT NULL,
        ev_lower REAL NOT NULL, n_eff REAL NOT NULL, net REAL NOT NULL, exit TEXT NOT NULL, exit_ts INTEGER NOT NULL,
        PRIMARY KEY (ts, symbol, timeframe, side)
    );
    """,
)


class JournalError(OmniError):
    """The journal cannot be used (corrupt, locked, disk full, newer schema): nothing is silently lost."""


class Journal:
    def __init__(self, path: str | Path, *, read_only: bool = False, timeout_s: float = 5.0):
        self.path = Path(path)
        try:
            if read_only:
                if not self.path.exists():
                    raise JournalError(f"journal {self.path} does not exist")
                self.db = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, timeout=timeout_s, check_same_thread=False
                )
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # used from worker threads, one call at a time (the writer serialises its flushes)
                self.db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
            self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            raise JournalError(f"journal {self.path}: {e}") from e

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise JournalError(f"journal {self.path} has schema v{version}, newer than this OMNI (v{len(MIGRATIONS)})")
        for v in range(version, len(MIGRATIONS)):
            with self.db:
                self.db.execute("BEGIN")
                for stmt in _statements(MIGRATIONS[v]):
                    self.db.execute(stmt)
                self.db.execute(f"PRAGMA user_version = {v + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ writes (one transaction per call)

    def write(self, records: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """Apply a batch of (statement name, row) records in one transaction."""
        try:
            with self.db:
                self.db.execute("BEGIN")
                for name, row in records:
                    self.db.execute(_SQL[name], row)
        except sqlite3.Error as e:
            raise JournalError(f"journal {self.path}: write failed ({e}); records kept in memory") from e

    def set_meta(self, key: str, value: Any) -> None:
        self.write([("meta", (key, json.dumps(value, default=str)))])

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # ------------------------------------------------------------ reads

    def ledger(self) -> dict[str, Decimal]:
        """Sums over every fill and transfer: realised PnL, fees, funding, deposits, withdrawals (positive) and
        adjustments (exact). capital = capital_start + deposits - withdrawals + adjustments + realised - fees -
        funding."""
        zero = Decimal(0)
        out = {
            "realised": zero,
            "fees": zero,
            "funding": zero,
            "deposits": zero,
            "withdrawals": zero,
            "adjustments": zero,
        }
        for exec_type, fee, pnl in self.db.execute("SELECT exec_type, fee, realised_pnl FROM fills"):
            if exec_type == "Funding":
                out["funding"] += Decimal(fee)
            else:
                out["fees"] += Decimal(fee)
                out["realised"] += Decimal(pnl)
        for kind, amount in self.db.execute("SELECT kind, amount FROM transfers"):
            a = Decimal(amount)
            if kind not in CAPITAL_KINDS:
                out["adjustments"] += a
            elif a >= 0:
                out["deposits"] += a
            else:
                out["withdrawals"] -= a
        return out

    def transfer_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM transfers")}

    def execution_cursor(self, days: int = 8) -> tuple[set[str], int | None]:
        """What a live venue needs to book each execution once across restarts: the execIds journaled in the
        last ``days`` days, and the time to re-read executions from (the last fill, or, with no fill yet, the
        first order ever sent; None for a journal with neither)."""
        last = self.db.execute("SELECT MAX(ts) FROM fills").fetchone()[0]
        horizon = (last or 0) - days * 86_400_000
        seen = {r[0] for r in self.db.execute("SELECT exec_id FROM fills WHERE ts >= ?", (horizon,))}
        if last is None:
            last = self.db.execute("SELECT MIN(created_ts) FROM orders").fetchone()[0]
        return seen, last

    def exec_ids_since(self, ts: int) -> set[str]:
        """The execIds journaled from ``ts`` on."""
        return {r[0] for r in self.db.execute("SELECT exec_id FROM fills WHERE ts >= ?", (ts,))}

    def known_position_symbols(self) -> set[str]:
        """Symbols where a position on the venue is this journal's own: an open position row, or an entry sent
        (or about to be: its intent is written first) after the symbol's last flat row, not known to have failed.
        A SIGKILL between an entry and its fill leaves only the intent: the position it opened is still ours."""
        rows = self.db.execute(
            "SELECT symbol FROM positions WHERE size != '0' "
            "UNION SELECT o.symbol FROM orders o LEFT JOIN positions p ON p.symbol = o.symbol "
            "WHERE o.reduce_only = 0 AND o.status NOT IN ('Cancelled', 'Rejected') "
            "AND (p.symbol IS NULL OR p.size != '0' OR o.created_ts >= p.ts)"
        )
        return {r[0] for r in rows}

    def open_positions(self) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT symbol, side, size, entry_price, leverage, margin, liq_price, take_profit, "
            "stop_loss, ts FROM positions WHERE size != '0'"
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        self.db.row_factory = sqlite3.Row
        try:
            return list(self.db.execute(sql, tuple(params)))
        except sqlite3.Error as e:
            raise JournalError(f"journal {self.path}: {e}") from e


def capital_of(start: Decimal, sums: dict[str, Decimal]) -> Decimal:
    """capital = start + deposits - withdrawals + adjustments + realised - fees - funding (``Journal.ledger()``)."""
    return (
        start
        + sums["deposits"]
        - sums["withdrawals"]
        + sums["adjustments"]
        + sums["realised"]
        - sums["fees"]
        - sums["funding"]
    )


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


_SQL = {
    "meta": "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    "order_intent": "INSERT OR IGNORE INTO orders (client_id, symbol, side, qty, order_type, price, reduce_only, "
    "take_profit, stop_loss, leverage, status, created_ts, updated_ts) VALUES (?,?,?,?,?,?,?,?,?,?,'Intent',?,?)",
    "order_status": "UPDATE orders SET order_id = COALESCE(?, order_id), status = ?, reason = ?, updated_ts = ? "
    "WHERE client_id = ?",
    "fill": "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "outcome": "INSERT OR IGNORE INTO outcomes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "position": "INSERT INTO positions VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(symbol) DO UPDATE SET "
    "side=excluded.side, size=excluded.size, entry_price=excluded.entry_price, leverage=excluded.leverage, "
    "margin=excluded.margin, liq_price=excluded.liq_price, take_profit=excluded.take_profit, "
    "stop_loss=excluded.stop_loss, ts=excluded.ts",
    "decision": "INSERT INTO decisions (ts, symbol, verdict, reason, client_id, p, ev, ev_lower, n, detail) "
    "VALUES (?,?,?,?,?,?,?,?,?,?)",
    "risk": "INSERT INTO risk_events (ts, kind, detail) VALUES (?,?,?)",
    "equity": "INSERT OR REPLACE INTO equity VALUES (?,?,?)",
    "transfer": "INSERT OR IGNORE INTO transfers (id, ts, kind, amount) VALUES (?,?,?,?)",
}

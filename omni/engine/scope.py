"""Which account a journal describes, and whether this run may resume it.

A run's identity is its venue and market: the synthetic market's seed, symbols, start and instruments; the replay's
data files; a Bybit venue's host and the account's user id (``/v5/user/query-api``). It is journaled (meta
``identity``) by the run that creates the journal. A later run resumes the journal only when its identity is the
same; otherwise it is refused with a message naming both, unless ``--fresh`` asks for a new journal, in which case
the old one (and the kill-switch latch and calibration it came with) is kept beside it under a dated name.
A journal without an identity (written before identities existed, or by a run that never started) is treated the
same way when it holds anything, so two markets' accounts never mix.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from omni.config import Config
from omni.journal import Journal, JournalError

#: files in the state directory that belong to one journal's account
COMPANIONS = ("kill_switch.json", "calibration.json")


class JournalMismatch(JournalError):
    """The journal in the state directory belongs to another venue, market or account."""


def sim_identity(cfg: Config) -> dict[str, Any]:
    m = cfg.market
    if m.source == "replay":
        return {"venue": "sim", "market": "replay", "files": sorted(str(Path(f).resolve()) for f in m.data_files)}
    return {
        "venue": "sim",
        "market": "synthetic",
        "seed": m.seed,
        "symbols": m.symbols,
        "start": str(m.start),
        "instruments": None if m.instruments_file is None else str(Path(m.instruments_file).resolve()),
    }


def bybit_identity(venue_name: str, rest_url: str, user_id: str | None) -> dict[str, Any]:
    return {"venue": venue_name, "host": urlparse(rest_url).netloc, "user_id": user_id}


def same_run(theirs: dict[str, Any] | None, ours: dict[str, Any]) -> bool:
    """Equal identities; for Bybit an account id that could not be read on one side matches on venue and host."""
    if theirs == ours:
        return True
    if theirs is None or "user_id" not in ours or "user_id" not in theirs:
        return False
    unknown = theirs.get("user_id") is None or ours.get("user_id") is None
    return unknown and (theirs.get("venue"), theirs.get("host")) == (ours.get("venue"), ours.get("host"))


def describe(identity: dict[str, Any] | None) -> str:
    """A person's reading of an identity: 'sim synthetic seed 42, 200 symbols, from 2025-06-01 00:00:00+00:00'."""
    if not identity:
        return "an unknown run (a journal written before OMNI recorded which market it describes)"
    if identity.get("market") == "replay":
        files = [Path(f).name for f in identity.get("files", [])]
        shown = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
        return f"sim replay of {shown or 'no files'}"
    if identity.get("market") == "synthetic":
        text = f"sim synthetic seed {identity.get('seed')}, {identity.get('symbols')} symbols"
        text += f", from {identity.get('start')}"
        return text + (f", instruments {identity['instruments']}" if identity.get("instruments") else "")
    return f"{identity.get('venue')} at {identity.get('host')}, account {identity.get('user_id')}"


def claim_journal(cfg: Config, identity: dict[str, Any], *, fresh: bool, log: Any) -> bool:
    """True when the journal in ``engine.state_dir`` is this run's to resume; False when this run starts a new one
    (none there, an empty one, or ``fresh`` moved the old one aside, whichever market it described). Raises
    ``JournalMismatch`` for another market's journal without ``fresh``."""
    path = cfg.engine.journal_path
    if not path.exists():
        return False
    journal = Journal(path, read_only=True)
    try:
        theirs = journal.meta("identity")
        used = journal.meta("capital_start") is not None
    finally:
        journal.close()
    if not used:
        return False  # created and never written to: nothing of any account in it
    if fresh:
        kept = set_aside(path)
        log.warning("journal_set_aside", journal=str(path), kept=str(kept), was=theirs, now=identity)
        return False
    if same_run(theirs, identity):
        return True
    raise JournalMismatch(
        f"the journal {path} belongs to {describe(theirs)}, not to this run ({describe(identity)}). Resume it with "
        "the same venue and market, or start a new journal with --fresh (the old one is kept beside it, renamed), "
        "or point engine.state_dir elsewhere"
    )


def set_aside(path: Path) -> Path:
    """Rename the journal (and its WAL files, kill-switch latch and calibration) with a UTC stamp; returns the new
    journal path. Nothing is deleted."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = path.with_name(f"{path.stem}.{stamp}{path.suffix}")
    for suffix in ("", "-wal", "-shm"):
        src = path.with_name(path.name + suffix)
        if src.exists():
            src.rename(kept.with_name(kept.name + suffix))
    for name in COMPANIONS:
        src = path.parent / name
        if src.exists():
            src.rename(path.parent / f"{Path(name).stem}.{stamp}{Path(name).suffix}")
    return kept

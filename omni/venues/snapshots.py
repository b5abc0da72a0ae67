"""Dated snapshots of Bybit's instrument specs and risk tiers, kept beside the market history they describe.

``<store>/instruments/<YYYY-MM-DD>.json`` = ``{"taken_ms", "taken_utc", "source", "instruments": [instruments-info
items], "risk_limits": [risk-limit items]}``, exactly as Bybit served them (``omni data download`` takes one per day
it runs). Bybit serves no historical specs or tiers: a replay uses the snapshot in force at its first bar (the
latest taken at or before it) and, for bars before the first snapshot, the earliest one; ``InForce.point_in_time``
says which, so reports can say the specs are not those of the bars' dates. A snapshot taken during a replay's range
is not applied mid-run (the run's instruments are fixed at its start); it is named in the notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omni.domain.errors import DataError
from omni.domain.instrument import Instrument
from omni.venues import bybit_codec as codec

FOLDER = "instruments"


def snapshot_name(taken_ms: int) -> str:
    return datetime.fromtimestamp(taken_ms / 1000, UTC).strftime("%Y-%m-%d") + ".json"


def snapshot_doc(taken_ms: int, source: str, items: list[dict[str, Any]], tiers: list[dict[str, Any]]) -> dict:
    taken_utc = datetime.fromtimestamp(taken_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"taken_ms": taken_ms, "taken_utc": taken_utc, "source": source, "instruments": items, "risk_limits": tiers}


def list_snapshots(root: Path) -> list[Path]:
    folder = Path(root) / FOLDER
    return sorted(folder.glob("????-??-??.json")) if folder.is_dir() else []


def is_usdt_perpetual(item: dict[str, Any]) -> bool:
    return item.get("contractType", "LinearPerpetual") == "LinearPerpetual" and item.get("quoteCoin", "USDT") == "USDT"


def parse_snapshot(path: Path) -> tuple[int, dict[str, Instrument]]:
    """(taken_ms, instruments by symbol) of one snapshot; DataError naming the file and symbol if unusable."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        taken, items, tier_items = int(doc["taken_ms"]), doc["instruments"], doc["risk_limits"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(str(path), None, f"not an instrument snapshot ({e})") from None
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for t in tier_items:
        by_symbol.setdefault(t.get("symbol", ""), []).append(t)
    out: dict[str, Instrument] = {}
    for item in items:
        if not is_usdt_perpetual(item):
            continue
        try:
            tiers = codec.risk_tiers_from_items(by_symbol[item["symbol"]]) if item.get("symbol") in by_symbol else None
            out[item["symbol"]] = codec.instrument_from_item(item, tiers)
        except (codec.CodecError, KeyError, TypeError, ValueError) as e:
            raise DataError(str(path), None, f"{item.get('symbol', '?')}: {e}") from None
    return taken, out


@dataclass(frozen=True, slots=True)
class InForce:
    path: Path
    taken_ms: int
    instruments: dict[str, Instrument]
    point_in_time: bool  # taken at or before the first bar (else the earliest, taken after the bars)
    later: tuple[str, ...]  # snapshots taken inside the replayed range, not applied

    def note(self, first_ts: int) -> str:
        if self.point_in_time:
            return f"instrument specs and risk tiers from the snapshot {self.path.name}"
        first = datetime.fromtimestamp(first_ts / 1000, UTC).strftime("%Y-%m-%d")
        return (f"instrument specs and risk tiers from the snapshot {self.path.name}, taken after the first bar "
                f"({first}): not point-in-time (Bybit serves no historical specs or tiers)")  # fmt: skip


def in_force(root: Path, first_ts: int, last_ts: int) -> InForce | None:
    """The snapshot a replay of [first_ts, last_ts] uses (None when the store has none)."""
    paths = list_snapshots(root)
    if not paths:
        return None
    parsed = [(p, *parse_snapshot(p)) for p in paths]
    parsed.sort(key=lambda x: x[1])
    before = [x for x in parsed if x[1] <= first_ts]
    path, taken, insts = before[-1] if before else parsed[0]
    later = tuple(p.name for p, t, _ in parsed if first_ts < t <= last_ts and p != path)
    return InForce(path, taken, insts, bool(before), later)

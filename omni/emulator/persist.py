"""The emulator's state file (``omni emulator --state FILE``): the exchange survives its own restart.

What is saved, per account (keyed by API key; secrets are never written): the matching engine (wallet balance,
positions with their stops, resting orders, leverage, ids), every order record (``orderLinkId``s included),
executions, the transaction log, closed PnL, the account's modes and sequence numbers. For the market: how many
batches were consumed, market time, the source's start (``start_ts``) and start prices, the listed symbols and
the test hooks' mark offsets. The public market data itself is not saved: on load the market source is rebuilt
(same seed, start and prices) and fast-forwarded by ``EmulatorState.skip`` through the same batches, so bar
history, tickers and fundings come back identical and the market continues where it stopped (its clock stood
still while the emulator was down).

Format: JSON (``FORMAT``/``VERSION`` at the top), written atomically: a temporary file in the same directory,
flushed and fsynced, then renamed over the old one, so a crash leaves either the old file or the new one. Values
are tagged (``{"$d": "1.5"}`` a Decimal, ``{"$f": "inf"}`` an infinite float, ``{"$e": ["Side", "Buy"]}`` an
enum, ``{"$o": ["Order", {...}]}`` an object of a known class): only the classes in ``_CLASSES`` are ever built
when reading, never arbitrary code.
A file written by another version of this format, or for other symbols or API keys, is refused (ValueError).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import math
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.domain.market import Bar, Funding
from omni.domain.orders import ExecType, Fill, Order, OrderStatus, OrderType, Side, StopKind, TimeInForce, TriggerBy
from omni.emulator.account import Account, OrderRecord
from omni.emulator.closed_pnl import ClosedPnl, ClosedPnlBook, OpenPosition
from omni.emulator.ledger import Ledger
from omni.emulator.state import EmulatorState
from omni.exchange.positions import PosState, Resting
from omni.venues.bybit_codec_account import Transaction

FORMAT = "omni-emulator-state"
VERSION = 1
_CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (
        Order, Fill, Transaction, OrderRecord, ClosedPnl, OpenPosition, ClosedPnlBook, Ledger, PosState, Resting, Bar,
        Funding,
    )
}  # fmt: skip
_ENUMS: dict[str, type[enum.Enum]] = {
    c.__name__: c for c in (Side, OrderType, TimeInForce, OrderStatus, ExecType, TriggerBy, StopKind)
}
#: engine attributes not saved: the listing (from the command line), and the last bar (from the market's history)
_ENGINE_SKIP = frozenset({"instruments", "_bar", "_last_dec"})
#: account attributes not saved: its configuration (from the command line), the engine (saved apart), listeners
_ACCOUNT_SKIP = frozenset({"config", "engine", "listeners"})


# ------------------------------------------------------------ tagged JSON


def _enc(x: Any) -> Any:
    if isinstance(x, enum.Enum):  # first: a StrEnum is a str too
        return {"$e": [type(x).__name__, x.value]}
    if isinstance(x, float) and not math.isfinite(x):  # strict JSON has no Infinity
        return {"$f": repr(x)}
    if x is None or isinstance(x, bool | int | float | str):
        return x
    if isinstance(x, Decimal):
        return {"$d": str(x)}
    if isinstance(x, list):
        return [_enc(v) for v in x]
    if isinstance(x, dict):
        if not all(isinstance(k, str) for k in x):
            raise TypeError(f"state keys must be strings: {list(x)[:3]}")
        return {"$m": {k: _enc(v) for k, v in x.items()}}
    if isinstance(x, set | frozenset):
        return {"$s": sorted((_enc(v) for v in x), key=json.dumps)}
    name = type(x).__name__
    if _CLASSES.get(name) is type(x):
        if isinstance(x, tuple):  # NamedTuple
            return {"$t": [name, [_enc(v) for v in x]]}
        return {"$o": [name, {k: _enc(v) for k, v in _fields(x).items()}]}
    if isinstance(x, tuple):
        return {"$l": [_enc(v) for v in x]}
    raise TypeError(f"cannot save a {name} in the emulator state")


def _fields(obj: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
    if hasattr(obj, "__dict__"):
        return dict(vars(obj))
    return {s: getattr(obj, s) for s in type(obj).__slots__}


def _dec(x: Any) -> Any:
    if isinstance(x, list):
        return [_dec(v) for v in x]
    if not isinstance(x, dict):
        return x
    (tag, v), *_ = x.items()
    if tag == "$d":
        return Decimal(v)
    if tag == "$f":
        return float(v)
    if tag == "$e":
        return _ENUMS[v[0]](v[1])
    if tag == "$m":
        return {k: _dec(w) for k, w in v.items()}
    if tag == "$s":
        return {_dec(w) for w in v}
    if tag == "$l":
        return tuple(_dec(w) for w in v)
    if tag == "$t":
        return _CLASSES[v[0]](*(_dec(w) for w in v[1]))
    if tag == "$o":
        cls = _CLASSES[v[0]]
        fields = {k: _dec(w) for k, w in v[1].items()}
        if dataclasses.is_dataclass(cls):
            return cls(**fields)
        obj = object.__new__(cls)
        for k, w in fields.items():
            setattr(obj, k, w)
        return obj
    raise ValueError(f"unknown tag in the emulator state: {tag}")


# ------------------------------------------------------------ snapshot and restore


def snapshot(state: EmulatorState, market: dict[str, Any]) -> dict[str, Any]:
    """The state file's document. ``market`` says how to rebuild the market source (``start_ts``, ``seed``,
    ``start_prices``...); it is stored as given and handed back by ``read``."""
    accounts = {}
    for key, acct in state.accounts.items():
        engine = {k: v for k, v in vars(acct.engine).items() if k not in _ENGINE_SKIP}
        own = {k: v for k, v in vars(acct).items() if k not in _ACCOUNT_SKIP}
        accounts[key] = {"account": _enc(own), "engine": _enc(engine)}
    return {
        "format": FORMAT, "version": VERSION, "saved_at_ms": state.now_ms(),
        "market": {**market, "symbols": sorted(state.instruments), "batches": state.batches,
                   "market_ts": state.market_ts, "mark_off": _enc(state.market.mark_off)},
        "cancel_markets": state._cancel_markets,
        "accounts": accounts,
    }  # fmt: skip


def write(path: str | Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` atomically (temporary file in the same directory, fsync, rename)."""
    path = Path(path)
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read(path: str | Path) -> dict[str, Any]:
    """The document of a state file; ValueError if it is not one this version can load."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read the emulator state {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not an emulator state file")
    if doc.get("version") != VERSION:
        raise ValueError(f"{path}: state format version {doc.get('version')}, this emulator reads {VERSION}")
    return doc


def restore(state: EmulatorState, doc: dict[str, Any]) -> None:
    """Put a freshly built ``state`` (same market source, same API keys, nothing advanced yet) back where ``doc``
    was saved: fast-forward the market, then load every account. Raises ValueError on a mismatch."""
    market = doc["market"]
    if market["symbols"] != sorted(state.instruments):
        raise ValueError(
            f"the state file lists {len(market['symbols'])} symbols, this emulator {len(state.instruments)}: "
            "start it with the same --symbols (and instrument file) as the run that wrote it"
        )
    missing = set(doc["accounts"]) ^ set(state.accounts)
    if missing:
        raise ValueError(f"the state file's API keys differ from this emulator's ({len(missing)} not in both)")
    if state.batches:
        raise ValueError("restore needs a state that has not advanced yet")
    done = state.skip(market["batches"])
    if done != market["batches"] or state.market_ts != market["market_ts"]:
        raise ValueError(
            f"the market source ended or differs: {done} of {market['batches']} batches, market time "
            f"{state.market_ts} instead of {market['market_ts']}"
        )
    state.market.mark_off.update(_dec(market["mark_off"]))
    state._cancel_markets = int(doc.get("cancel_markets", 0))
    for key, saved in doc["accounts"].items():
        _restore_account(state, state.accounts[key], saved)


def _restore_account(state: EmulatorState, acct: Account, saved: dict[str, Any]) -> None:
    for k, v in _dec(saved["account"]).items():
        setattr(acct, k, v)
    engine = acct.engine
    for k, v in _dec(saved["engine"]).items():
        setattr(engine, k, v)
    engine._bar.clear()
    engine._last_dec.clear()
    for sym, hist in state.market.history.items():
        if hist:
            engine._bar[sym] = hist[-1]

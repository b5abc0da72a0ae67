"""Instrument specs from a saved Bybit v5 instruments-info file, or a generated stand-in when it is absent."""

from __future__ import annotations

import json
import os
import random
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from omni.domain.errors import DataError
from omni.domain.instrument import DEFAULT_MIN_NOTIONAL, Instrument, default_tiers

#: Funding interval (minutes) when the entry does not say: Bybit's usual 8 h.
DEFAULT_FUNDING_INTERVAL_MIN = 480
INSTRUMENTS_FILE = Path("instruments") / "bybit-linear.json"

# ASSUMPTION: the saved file has no risk-limit tiers, so tier 1's limit (USDT of position value) is guessed
# from the max leverage, roughly as Bybit sizes its ladders (deep books get high leverage and room):
#   >= 100x: 2_000_000   >= 75x: 1_000_000   >= 50x: 300_000   >= 25x: 100_000   else: 25_000
# default_tiers() builds the rest of the ladder from it. Replace with real tiers when they are recorded.
_FIRST_LIMITS = (
    (Decimal(100), Decimal(2_000_000)),
    (Decimal(75), Decimal(1_000_000)),
    (Decimal(50), Decimal(300_000)),
    (Decimal(25), Decimal(100_000)),
)
_SMALLEST_FIRST_LIMIT = Decimal(25_000)


def first_tier_limit(max_leverage: Decimal) -> Decimal:
    """Return the assumed tier-1 risk limit (USDT) for a symbol with ``max_leverage``."""
    for lev, limit in _FIRST_LIMITS:
        if max_leverage >= lev:
            return limit
    return _SMALLEST_FIRST_LIMIT


def shared_data_dir() -> Path | None:
    """Return the shared market-data dir: env ``OMNI_SHARED_DATA``, else ``<repo>/../shared/data``; None if absent.

    An explicit ``OMNI_SHARED_DATA`` wins even when it does not exist (then the result is None), so a
    test run can switch the real data off.
    """
    env = os.environ.get("OMNI_SHARED_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return base if base.is_dir() else None


def default_instruments_path() -> Path | None:
    """Return the path of ``instruments/bybit-linear.json`` in the shared data dir, or None if absent."""
    base = shared_data_dir()
    if base is None:
        return None
    path = base / INSTRUMENTS_FILE
    return path if path.is_file() else None


def _dec(path: str, symbol: str, entry: dict[str, Any], group: str | None, name: str) -> Decimal:
    """Read ``entry[group][name]`` as a finite Decimal (parsed from the exchange's string)."""
    field = f"{group}.{name}" if group else name
    try:
        raw = entry[group][name] if group else entry[name]
    except (KeyError, TypeError):
        raise DataError(path, None, f"{symbol}: missing field {field}") from None
    if isinstance(raw, float) or not isinstance(raw, str | int):
        # floats would already have lost the exchange's exact decimal
        raise DataError(path, None, f"{symbol}: {field} must be a decimal string, got {raw!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise DataError(path, None, f"{symbol}: {field} is not a number: {raw!r}") from None
    if not value.is_finite():
        raise DataError(path, None, f"{symbol}: {field} is not finite: {raw!r}")
    return value


def _parse_entry(path: str, entry: Any) -> Instrument | None:
    """Turn one v5 instrument entry into an Instrument; None for entries that are not USDT perpetuals."""
    if not isinstance(entry, dict):
        raise DataError(path, None, f"instrument entry is not an object: {entry!r:.80}")
    symbol = entry.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise DataError(path, None, f"instrument entry without a symbol: {entry!r:.80}")
    if entry.get("quoteCoin", "USDT") != "USDT" or entry.get("contractType", "LinearPerpetual") not in (
        "LinearPerpetual",
    ):
        return None
    tick = _dec(path, symbol, entry, "priceFilter", "tickSize")
    step = _dec(path, symbol, entry, "lotSizeFilter", "qtyStep")
    min_qty = _dec(path, symbol, entry, "lotSizeFilter", "minOrderQty")
    max_qty = _dec(path, symbol, entry, "lotSizeFilter", "maxOrderQty")
    min_lev = _dec(path, symbol, entry, "leverageFilter", "minLeverage")
    max_lev = _dec(path, symbol, entry, "leverageFilter", "maxLeverage")
    if tick <= 0 or step <= 0:
        raise DataError(path, None, f"{symbol}: tickSize and qtyStep must be positive")
    if min_qty <= 0 or max_qty < min_qty:
        raise DataError(path, None, f"{symbol}: need 0 < minOrderQty <= maxOrderQty, got {min_qty}, {max_qty}")
    if min_lev < 1 or max_lev < min_lev:
        raise DataError(path, None, f"{symbol}: need 1 <= minLeverage <= maxLeverage, got {min_lev}, {max_lev}")
    min_notional = DEFAULT_MIN_NOTIONAL
    if isinstance(entry["lotSizeFilter"], dict) and "minNotionalValue" in entry["lotSizeFilter"]:
        min_notional = _dec(path, symbol, entry, "lotSizeFilter", "minNotionalValue")
        if min_notional < 0:
            raise DataError(path, None, f"{symbol}: lotSizeFilter.minNotionalValue is negative")
    funding = DEFAULT_FUNDING_INTERVAL_MIN
    if "fundingInterval" in entry:
        raw = entry["fundingInterval"]
        try:
            funding = int(raw)
        except (TypeError, ValueError):
            raise DataError(path, None, f"{symbol}: fundingInterval is not an integer: {raw!r}") from None
        if funding <= 0:
            raise DataError(path, None, f"{symbol}: fundingInterval must be positive, got {funding}")
    return Instrument(
        symbol=symbol,
        tick_size=tick,
        qty_step=step,
        min_qty=min_qty,
        max_qty=max_qty,
        max_leverage=max_lev,
        risk_tiers=default_tiers(max_lev, first_tier_limit(max_lev)),
        min_notional=min_notional,
        min_leverage=min_lev,
        funding_interval_min=funding,
    )


def load_instruments(path: str | Path) -> dict[str, Instrument]:
    """Load USDT linear perpetual specs from a saved v5 instruments-info JSON, keyed by symbol.

    Accepts ``{"list": [...]}``, a full response ``{"result": {"list": [...]}}`` or a bare list. Entries with
    another quote coin or contract type are skipped. Raises DataError naming the symbol and field.
    """
    where = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise DataError(where, None, f"cannot read instruments file: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise DataError(where, None, "instruments file is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise DataError(where, e.lineno, f"invalid JSON: {e.msg}") from None
    entries = doc
    if isinstance(doc, dict):
        entries = doc.get("result", doc)
        entries = entries.get("list") if isinstance(entries, dict) else None
    if not isinstance(entries, list):
        raise DataError(where, None, "expected a list of instruments (top-level list or a 'list' key)")
    out: dict[str, Instrument] = {}
    for entry in entries:
        inst = _parse_entry(where, entry)
        if inst is None:
            continue
        if inst.symbol in out:
            raise DataError(where, None, f"{inst.symbol}: listed twice")
        out[inst.symbol] = inst
    if not out:
        raise DataError(where, None, "no USDT linear perpetuals in the file")
    return out


# tick sizes as (mantissa, exponent); the qty step follows from the tick so that one step is worth
# roughly 1..100 USDT at the price a tick implies (SyntheticMarket prices ~ tick * 10**4.25).
_GEN_TICKS = ((1, -4), (5, -4), (1, -3), (5, -3), (1, -2), (5, -2), (1, -1))
_GEN_LEVERAGES = (25, 50, 75, 100)


def btc_like() -> Instrument:
    """A ``BTCUSDT`` with Bybit's specs as the shared instrument file records them (tick 0.10, qty step and
    minimum 0.001, max 1190 per order, 100x), for generated sets: a major at its real scale."""
    return Instrument(
        symbol="BTCUSDT",
        tick_size=Decimal("0.10"),
        qty_step=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("1190.000"),
        max_leverage=Decimal(100),
        risk_tiers=default_tiers(Decimal(100), first_tier_limit(Decimal(100))),
        min_notional=DEFAULT_MIN_NOTIONAL,
        funding_interval_min=DEFAULT_FUNDING_INTERVAL_MIN,
    )


def generated_instruments(n: int, seed: int, btc: bool = False) -> dict[str, Instrument]:
    """Return ``n`` deterministic, plausible instruments ``SYN001USDT``... (stand-in when no specs file exists).

    Ticks 0.0001..0.1, qty steps 0.001..10, max leverage in {25, 50, 75, 100}, 8 h funding except about one
    symbol in ten on 4 h. With ``btc`` the first of the ``n`` is ``btc_like()`` (then ``SYN001USDT``...).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = random.Random(seed)
    out: dict[str, Instrument] = {}
    if btc:
        out["BTCUSDT"] = btc_like()
        n -= 1
    width = max(3, len(str(n)))
    for i in range(1, n + 1):
        mant, exp = rng.choice(_GEN_TICKS)
        tick = Decimal(mant).scaleb(exp)
        # tick 1e-4 -> step 1 or 10 ... tick 1e-1 -> step 0.001 or 0.01
        step_exp = max(-3, min(1, -exp - 4 + rng.randint(0, 1)))
        step = Decimal(1).scaleb(step_exp)
        max_lev = Decimal(rng.choice(_GEN_LEVERAGES))
        max_qty = step * Decimal(rng.choice((100_000, 500_000, 1_000_000)))
        symbol = f"SYN{i:0{width}d}USDT"
        out[symbol] = Instrument(
            symbol=symbol,
            tick_size=tick,
            qty_step=step,
            min_qty=step,
            max_qty=max_qty,
            max_leverage=max_lev,
            risk_tiers=default_tiers(max_lev, first_tier_limit(max_lev)),
            min_notional=DEFAULT_MIN_NOTIONAL,
            funding_interval_min=240 if rng.random() < 0.1 else DEFAULT_FUNDING_INTERVAL_MIN,
        )
    return out

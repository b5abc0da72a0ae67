"""Which instruments ``omni emulator`` lists, in what order, and at what price its synthetic market starts.

Liquidity ("the N most liquid", ``--symbols N``). The shared instrument file has no turnover, so liquidity is
ranked in two tiers:

1. symbols with recorded klines in the shared data dir (``../shared/data``), by their **recorded quote
   turnover**: the mean USDT traded per day (sum of ``volume x close``) over the last 7 days of the symbol's
   reference file (below). Most of these files are Binance USDT-M, one is Bybit: the ranking compares venues
   loosely, but all cover April-June 2025, the instrument file's period;
2. every other symbol, after all of those, by a **proxy** from the instrument file: the highest max leverage
   first (Bybit grants 100x only to its deepest books, then 75x, 50x, 25x), then the largest maximum order
   value (``maxOrderQty`` x the reference price below), then the name.

With today's shared data ``--symbols 10`` is BTCUSDT, ETHUSDT, SOLUSDT, XRPUSDT, DOGEUSDT, SUIUSDT, WIFUSDT,
ADAUSDT, ENAUSDT, BNBUSDT.

Reference price (where a symbol's synthetic walk starts):

1. recorded: the **last close of the symbol's reference file**: its 1-minute Bybit klines, else its 1-minute
   Binance USDT-M klines, else its 5-minute Bybit klines (the 1-minute files end in May-June 2025, next to the
   instrument file's date, so price and tick/min-qty specs belong together);
2. a built-in price for the generated ``BTCUSDT`` stand-in when there is no recorded data
   (``FALLBACK_PRICES``: roughly BTCUSDT in June 2025);
3. otherwise a **proxy from the tick size**: ``tickSize x 10**4.21`` (about 16,300 ticks), the median of
   price/tick over the recorded symbols (they range 10**3.5..10**6.0: majors trade more ticks; the proxy is
   within 4x for most of them).

Minimum order value: at these prices a minimum-quantity order is worth at least 5 USDT only for some symbols
(BTCUSDT 0.001 x ~105,000 = 105 USDT; ETHUSDT, SOLUSDT, BNBUSDT, LTCUSDT too) and less for most (DOGEUSDT 1 x
0.16): exactly as on Bybit, where the smallest accepted order of such a symbol is 5 USDT / price rounded up to
the qty step. ``min_value_shortfalls`` lists them; ``omni emulator`` logs their count at start.
"""

from __future__ import annotations

import collections
import gzip
import math
from dataclasses import dataclass
from pathlib import Path

from omni.domain.instrument import Instrument
from omni.venues.instruments_file import shared_data_dir

#: the files a symbol's reference price and turnover come from, in order of preference
REFERENCE_DIRS = ("klines/1m/bybit-linear", "klines/1m/binance-usdm", "klines/5m/bybit-linear")
#: days of the file's tail the turnover is averaged over
TURNOVER_DAYS = 7
#: proxy price = tick x 10**PROXY_TICKS_LOG10 (median log10(price / tick) of the recorded symbols)
PROXY_TICKS_LOG10 = 4.21
#: prices of generated stand-ins when no recorded data exists
FALLBACK_PRICES = {"BTCUSDT": 105_000.0}
_MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the shared data says about one symbol: last close and mean daily quote turnover of its file."""

    symbol: str
    path: Path
    last_close: float
    turnover_per_day: float


def _read_tail(path: Path) -> Recorded | None:
    minutes = 5 if "/5m/" in path.as_posix() else 1
    keep = TURNOVER_DAYS * _MINUTES_PER_DAY // minutes
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            header = f.readline().strip()
            tail = collections.deque(f, maxlen=keep)
    except (OSError, EOFError, UnicodeDecodeError):
        return None
    if header != "ts,open,high,low,close,volume" or not tail:
        return None
    turnover = 0.0
    close = math.nan
    first_ts = last_ts = 0
    for line in tail:
        parts = line.split(",")
        try:
            ts, close, volume = int(parts[0]), float(parts[4]), float(parts[5])
        except (IndexError, ValueError):
            return None
        first_ts = first_ts or ts
        last_ts = ts
        turnover += volume * close
    days = max((last_ts - first_ts) / 86_400_000 + minutes / _MINUTES_PER_DAY, 1 / _MINUTES_PER_DAY)
    if not close > 0:
        return None
    return Recorded(path.name.removesuffix(".csv.gz"), path, close, turnover / days)


_CACHE: dict[Path, dict[str, Recorded]] = {}


def recorded(data_dir: Path | None = None) -> dict[str, Recorded]:
    """Every symbol with a reference file in ``data_dir`` (default: the shared data dir); {} without one."""
    base = data_dir if data_dir is not None else shared_data_dir()
    if base is None:
        return {}
    if base in _CACHE:
        return _CACHE[base]
    out: dict[str, Recorded] = {}
    for sub in REFERENCE_DIRS:
        for path in sorted((base / sub).glob("*.csv.gz")):
            symbol = path.name.removesuffix(".csv.gz")
            if symbol in out:
                continue
            rec = _read_tail(path)
            if rec is not None:
                out[symbol] = rec
    _CACHE[base] = out
    return out


def proxy_price(inst: Instrument) -> float:
    """``tickSize x 10**4.21`` (Bybit's minPrice is one tick and its maxPrice ~2e7 ticks: always inside)."""
    return float(inst.tick_size) * 10**PROXY_TICKS_LOG10


def reference_price(inst: Instrument, known: dict[str, Recorded] | None = None) -> tuple[float, str]:
    """(price, where it comes from: ``recorded:<file>``, ``fallback`` or ``proxy``) for one instrument."""
    rec = (known if known is not None else recorded()).get(inst.symbol)
    if rec is not None:
        return rec.last_close, f"recorded:{rec.path.parent.parent.name}/{rec.path.parent.name}/{rec.path.name}"
    if inst.symbol in FALLBACK_PRICES:
        return FALLBACK_PRICES[inst.symbol], "fallback"
    return proxy_price(inst), "proxy"


def reference_prices(instruments: dict[str, Instrument], known: dict[str, Recorded] | None = None) -> dict[str, float]:
    """The start price of every instrument (see the module docstring)."""
    known = recorded() if known is None else known
    return {s: reference_price(i, known)[0] for s, i in instruments.items()}


def by_liquidity(instruments: dict[str, Instrument], known: dict[str, Recorded] | None = None) -> list[str]:
    """Every symbol, most liquid first: recorded turnover, then max leverage and max order value (see above)."""
    known = recorded() if known is None else known
    with_data = sorted((s for s in instruments if s in known), key=lambda s: (-known[s].turnover_per_day, s))
    prices = reference_prices(instruments, known)

    def proxy_key(s: str) -> tuple[float, float, str]:
        inst = instruments[s]
        return (-float(inst.max_leverage), -float(inst.max_qty) * prices[s], s)

    rest = sorted((s for s in instruments if s not in known), key=proxy_key)
    return with_data + rest


def select(instruments: dict[str, Instrument], count: int | None, known: dict[str, Recorded] | None = None) -> dict:
    """The ``count`` most liquid instruments (all when ``count`` is None or larger), most liquid first."""
    if count is not None and count < 1:
        raise ValueError(f"the number of symbols must be >= 1, got {count}")
    order = by_liquidity(instruments, known)
    return {s: instruments[s] for s in order[:count]}


def min_value_shortfalls(
    instruments: dict[str, Instrument], prices: dict[str, float]
) -> dict[str, float]:  # fmt: skip
    """Symbols whose minimum-quantity order is worth less than their minimum order value at ``prices``: the
    value of that order (USDT). Such symbols trade, as on Bybit, from ``min_notional / price`` up."""
    out = {}
    for s, inst in instruments.items():
        value = float(inst.min_qty) * prices[s]
        if value < float(inst.min_notional):
            out[s] = value
    return out

"""Bybit V5 JSON <-> domain values, pure (no I/O): the shared basics and market data.

Numbers travel as decimal strings both ways. Shapes follow shared/docs/bybit-v5.md §4 (USDT linear perpetuals,
one-way mode, positionIdx 0); fields the domain does not model are emitted with Bybit's neutral values (each
module's ``_*_FIXED`` tables). Used by the emulator (domain -> JSON, in Bybit's exact shapes) and by the Bybit venue
(JSON -> domain).

This module holds what every part of the codec shares (CATEGORY/COIN, CodecError, the decimal scalars
``dstr``/``dnum``/``dopt``, retCodes -> domain errors) and the market data: instruments, risk tiers, klines,
funding. Orders, order entry, executions and positions are in ``bybit_codec_trading``; the wallet and the
transaction log in ``bybit_codec_account``.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from omni.domain.errors import VenueError, VenueFatal, VenueRetryable
from omni.domain.instrument import ZERO, Instrument, RiskTier, default_tiers
from omni.domain.market import Bar, Funding
from omni.venues.instruments_file import first_tier_limit

CATEGORY = "linear"
COIN = "USDT"
#: Bybit's usual funding cap on majors (fundingCap, upper/lowerFundingRate); the domain does not model it.
FUNDING_CAP = Decimal("0.005")
PARAM_ERROR = 10001
#: retCodes worth retrying: 10000 timeout, 10002 clock skew, 10006/10429 rate limits, 10016 server error,
#: 10019 service restarting, and the rest of pybit's default retry set. Everything else is fatal.
RETRYABLE_CODES = frozenset({10000, 10002, 10006, 10016, 10019, 10429, 30034, 30035, 130035, 130150})


class CodecError(ValueError):
    """A Bybit request or reply that does not map onto the domain; ``code`` is the retCode to answer with."""

    def __init__(self, message: str, code: int = PARAM_ERROR):
        self.code = code
        self.message = message
        super().__init__(message)


# ---------------------------------------------------------------- scalars


def dstr(x: Decimal | int | None) -> str:
    """Exact plain decimal string ('0.001', '20000', '-1.5'); None -> ''."""
    if x is None:
        return ""
    if x == 0:
        return "0"
    return format(Decimal(x).normalize(), "f")


def dnum(x: Any, name: str = "value") -> Decimal:
    """Parse a Bybit number (string, int, or a JSON float via its repr) into a finite Decimal."""
    if isinstance(x, bool) or x is None:
        raise CodecError(f"{name} invalid: {x!r}")
    try:
        value = Decimal(repr(x) if isinstance(x, float) else str(x).strip())
    except InvalidOperation:
        raise CodecError(f"{name} invalid: {x!r}") from None
    if not value.is_finite():
        raise CodecError(f"{name} invalid: {x!r}")
    return value


def dopt(x: Any, name: str = "value") -> Decimal | None:
    """Optional level: '', None, '0', '0.00' mean unset (Bybit's TP/SL/avgPrice/liqPrice convention)."""
    if x is None or x == "":
        return None
    value = dnum(x, name)
    return None if value == 0 else value


def _scale(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def item_error(kind: str, item: dict[str, Any], key: str, e: Exception) -> CodecError:
    """``e`` as the CodecError for a reply item that does not parse (a CodecError passes through)."""
    return e if isinstance(e, CodecError) else CodecError(f"bad {kind} item {item.get(key)!r}: {e!r}")


# ---------------------------------------------------------------- instruments and risk tiers


def instrument_to_item(inst: Instrument, *, status: str = "Trading", launch_ms: int = 0) -> dict[str, Any]:
    """One /v5/market/instruments-info linear item."""
    qty, tick = dstr(inst.max_qty), dstr(inst.tick_size)
    return {
        "symbol": inst.symbol, "contractType": "LinearPerpetual", "status": status,
        "baseCoin": inst.symbol.removesuffix(COIN), "quoteCoin": COIN, "settleCoin": COIN,
        "launchTime": str(launch_ms), "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(_scale(inst.tick_size)),
        "leverageFilter": {"minLeverage": dstr(inst.min_leverage), "maxLeverage": f"{inst.max_leverage:.2f}",
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": dstr(inst.tick_size * 19_999_998), "tickSize": tick},
        "lotSizeFilter": {"maxOrderQty": qty, "minOrderQty": dstr(inst.min_qty), "qtyStep": dstr(inst.qty_step),
                          "postOnlyMaxOrderQty": qty, "maxMktOrderQty": qty,
                          "minNotionalValue": dstr(inst.min_notional)},
        "unifiedMarginTrade": True, "fundingInterval": inst.funding_interval_min, "settleCoinType": "",
        "copyTrading": "both", "upperFundingRate": dstr(FUNDING_CAP), "lowerFundingRate": dstr(-FUNDING_CAP),
        "isPreListing": False, "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"}, "symbolType": "",
    }  # fmt: skip


def instrument_from_item(item: dict[str, Any], risk_tiers: tuple[RiskTier, ...] | None = None) -> Instrument:
    """Parse an instruments-info item; without ``risk_tiers`` the assumed default ladder is used."""
    try:
        lev, price, lot = item["leverageFilter"], item["priceFilter"], item["lotSizeFilter"]
        max_lev = dnum(lev["maxLeverage"], "maxLeverage")
        return Instrument(
            symbol=item["symbol"],
            tick_size=dnum(price["tickSize"], "tickSize"),
            qty_step=dnum(lot["qtyStep"], "qtyStep"),
            min_qty=dnum(lot["minOrderQty"], "minOrderQty"),
            max_qty=dnum(lot["maxOrderQty"], "maxOrderQty"),
            max_leverage=max_lev,
            risk_tiers=risk_tiers or default_tiers(max_lev, first_tier_limit(max_lev)),
            min_notional=dnum(lot.get("minNotionalValue", "5"), "minNotionalValue"),
            min_leverage=dnum(lev.get("minLeverage", "1"), "minLeverage"),
            funding_interval_min=int(item.get("fundingInterval", 480)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise item_error("instruments-info", item, "symbol", e) from None


def risk_tiers_to_items(inst: Instrument) -> list[dict[str, Any]]:
    """The symbol's /v5/market/risk-limit items (linear: rates as fractions, not percent)."""
    return [
        {"id": t.tier, "symbol": inst.symbol, "riskLimitValue": dstr(t.limit), "maintenanceMargin": dstr(t.mmr),
         "initialMargin": dstr(t.imr), "isLowestRisk": 1 if i == 0 else 0, "maxLeverage": f"{t.max_leverage:.2f}",
         "mmDeduction": dstr(t.mm_deduction) if t.mm_deduction else ""}
        for i, t in enumerate(inst.risk_tiers)
    ]  # fmt: skip


def risk_tiers_from_items(items: list[dict[str, Any]]) -> tuple[RiskTier, ...]:
    """Parse one symbol's risk-limit items; a blank ``mmDeduction`` is derived as Bybit defines it."""
    tiers: list[RiskTier] = []
    derived = ZERO
    for i, it in enumerate(sorted(items, key=lambda it: int(it["id"]))):
        limit, mmr = dnum(it["riskLimitValue"], "riskLimitValue"), dnum(it["maintenanceMargin"], "maintenanceMargin")
        if i > 0:
            derived += tiers[-1].limit * (mmr - tiers[-1].mmr)
        raw = it.get("mmDeduction")
        deduction = derived if raw in (None, "") else dnum(raw, "mmDeduction")
        imr, lev = dnum(it["initialMargin"], "initialMargin"), dnum(it["maxLeverage"], "maxLeverage")
        tiers.append(RiskTier(i + 1, limit, mmr, imr, lev, deduction))
    return tuple(tiers)


# ---------------------------------------------------------------- market data


def bar_to_kline_row(bar: Bar, inst: Instrument) -> list[str]:
    """[start, open, high, low, close, volume(base), turnover(quote)] as /v5/market/kline lists it."""
    r = inst.round_price
    volume = inst.round_qty(bar.volume)
    turnover = (volume * r(bar.close)).quantize(Decimal("0.0001"), ROUND_DOWN)
    prices = [dstr(r(p)) for p in (bar.open, bar.high, bar.low, bar.close)]
    return [str(bar.ts), *prices, dstr(volume), dstr(turnover)]


def kline_row_to_bar(symbol: str, row: list[str], minutes: int = 1) -> Bar:
    """Parse one kline row (prices become floats: bars are the per-bar hot path)."""
    return Bar(symbol, int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]), minutes)


def funding_to_item(funding: Funding) -> dict[str, str]:
    """One /v5/market/funding/history item."""
    rate = dstr(Decimal(repr(funding.rate)))
    return {"symbol": funding.symbol, "fundingRate": rate, "fundingRateTimestamp": str(funding.ts)}


def funding_from_item(item: dict[str, Any]) -> Funding:
    return Funding(item["symbol"], int(item["fundingRateTimestamp"]), float(item["fundingRate"]))


# ---------------------------------------------------------------- errors


def is_retryable(ret_code: int) -> bool:
    return ret_code in RETRYABLE_CODES


def venue_error(ret_code: int, ret_msg: str) -> VenueError:
    """The domain error for a non-zero retCode: VenueRetryable for RETRYABLE_CODES, VenueFatal otherwise."""
    cls = VenueRetryable if is_retryable(ret_code) else VenueFatal
    return cls(ret_msg or f"retCode {ret_code}", ret_code)

"""Output for a person: Markdown tables, exact money without trailing zeros, UTC times, "n/a" for the unknown
(never a Python repr, never ``None``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

NA = "n/a"


def table(header: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[bool] | None = None) -> list[str]:
    """A Markdown table (lines); ``right`` marks the right-aligned (numeric) columns. A cell of None is "n/a"."""
    right = right or [False] * len(header)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    for row in rows:
        out.append("| " + " | ".join(NA if c is None else str(c).replace("|", "\\|") for c in row) + " |")
    return out


def money(x: object) -> str:
    """An exact decimal without trailing zeros or an exponent: '12.68985080' -> '12.6898508'; None -> 'n/a'."""
    if x is None:
        return NA
    try:
        d = Decimal(str(x))
    except InvalidOperation:
        return str(x)
    text = f"{d.normalize():f}"
    return "0" if text == "-0" else text


def figure(x: object, digits: int = 2) -> str:
    """A float for a person: ``digits`` decimals, thousands separated; None -> 'n/a'."""
    if x is None:
        return NA
    return f"{float(x):,.{digits}f}"  # type: ignore[arg-type]


def when(ms: object) -> str:
    """Epoch milliseconds as '2025-06-01 12:00 UTC'; None -> 'n/a'."""
    if ms is None:
        return NA
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")  # type: ignore[call-overload]


def percent(rate: object) -> str:
    """A rate in [0, 1] as '46.9 %'; None -> 'n/a'."""
    return NA if rate is None else f"{float(rate) * 100:.1f} %"  # type: ignore[arg-type]


def num(x: object) -> str:
    """A figure for a person: 3 decimals, a pair as [a, b], a missing one as n/a."""
    if x is None:
        return NA
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(num(v) for v in x) + "]"
    return f"{x:.3f}" if isinstance(x, float) else str(x)

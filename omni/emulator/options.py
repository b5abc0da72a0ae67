"""``omni emulator`` start options (the CLI adds them; light to import): the account's modes and the market.

add_account_options(parser)                      # --margin-mode, --account-type, --position-mode
AccountConfig(key, secret, balance=..., **account_modes(args))
add_market_options(parser)                       # --symbols, --start, --speed | --bar-seconds, --state, --history-bars
EmulatorConfig(..., **market_timing(args))       # bar_seconds, start_ms, state_path, state_every_s[, history_bars]
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from typing import Any

#: (kept here, light to import, for the CLI's parser; ``account.py`` uses them too)
MARGIN_MODES = ("REGULAR_MARGIN", "ISOLATED_MARGIN", "PORTFOLIO_MARGIN")
ACCOUNT_TYPES = ("unified", "classic")
#: start-option names of the position modes and Bybit's ``mode`` numbers (switch-mode)
POSITION_MODES = {"one-way": 0, "hedge": 3}


def add_account_options(parser: argparse.ArgumentParser | Any) -> None:
    """Add the account-mode options to ``parser`` (an ArgumentParser or an argument group)."""
    parser.add_argument(
        "--margin-mode", choices=MARGIN_MODES, default="REGULAR_MARGIN",
        help="the account's margin mode at start (default REGULAR_MARGIN, i.e. cross: Bybit's default); "
        "served by /v5/account/info, changed by /v5/account/set-margin-mode; positions stay isolated",
    )  # fmt: skip
    parser.add_argument(
        "--account-type", choices=ACCOUNT_TYPES, default="unified",
        help="unified (UTA 2.0, default) or classic (unifiedMarginStatus 1; UTA-only endpoints answer 10028)",
    )  # fmt: skip
    parser.add_argument(
        "--position-mode", choices=tuple(POSITION_MODES), default="one-way",
        help="USDT perpetuals' position mode at start (default one-way); in hedge mode the emulator refuses "
        "orders until /v5/position/switch-mode sets one-way",
    )  # fmt: skip


def account_modes(args: argparse.Namespace) -> dict[str, str]:
    """The ``AccountConfig`` keyword arguments for the parsed options."""
    return {"margin_mode": args.margin_mode, "account_type": args.account_type, "position_mode": args.position_mode}


# ------------------------------------------------------------ market options

#: generated instruments listed with ``--symbols all`` when there is no instrument file
GENERATED_DEFAULT = 10
DEFAULT_BAR_SECONDS = 1.0


def symbols_arg(text: str) -> int | None:
    """``--symbols``: ``all`` (None) or a whole number >= 1."""
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'all' or a whole number >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 'all' or a whole number >= 1, got {text!r}")
    return n


def start_arg(text: str, now: datetime | None = None) -> int:
    """``--start``: an ISO-8601 date-time (UTC unless it carries an offset) or ``HH:MM`` today (UTC); epoch ms."""
    raw = text.strip()
    hhmm = re.fullmatch(r"(\d{1,2}):(\d{2})", raw)
    if hhmm:
        hour, minute = int(hhmm.group(1)), int(hhmm.group(2))
        if hour > 23 or minute > 59:
            raise argparse.ArgumentTypeError(f"not a time of day (HH:MM, UTC): {text!r}")
        day = now or datetime.now(UTC)
        at = day.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    else:
        try:
            at = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"give an ISO-8601 date-time (2025-06-01T21:00Z) or HH:MM (UTC, today), got {text!r}"
            ) from None
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return int(at.timestamp() * 1000)


def positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def whole(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def add_market_options(parser: argparse.ArgumentParser | Any) -> None:
    """Add the market options to ``parser``: which instruments, from when, how fast, and the state file."""
    parser.add_argument(
        "--symbols", type=symbols_arg, default=None, metavar="all|N",
        help="instruments listed: all (default) of the shared instrument file, or its N most liquid (recorded "
        "turnover first, then max leverage and max order value; see omni/emulator/reference.py); without the "
        f"file, N generated ones, BTCUSDT first (all: {GENERATED_DEFAULT})",
    )  # fmt: skip
    parser.add_argument(
        "--start", type=start_arg, default=None, metavar="TIME",
        help="market time when the emulator starts serving: ISO-8601 (UTC unless an offset is given) or HH:MM "
        "today UTC; the warm-up bars come before it (default: now)",
    )  # fmt: skip
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed", type=positive, default=None, metavar="X",
        help="market minutes per wall minute: one 1m bar every 60/X wall seconds (1 = real time)",
    )  # fmt: skip
    pace.add_argument(
        "--bar-seconds", type=positive, default=None, metavar="S",
        help=f"wall seconds per 1m market bar (default {DEFAULT_BAR_SECONDS:g}: 60x); the same as --speed 60/S",
    )  # fmt: skip
    parser.add_argument(
        "--state", default=None, metavar="FILE",
        help="keep the exchange (account, orders, positions, executions, logs, market position) in FILE: "
        "loaded at start when it exists, written atomically every --state-every seconds and at exit",
    )  # fmt: skip
    parser.add_argument(
        "--state-every", type=positive, default=5.0, metavar="S", help="seconds between state writes (default 5)"
    )
    parser.add_argument(
        "--history-bars", type=whole, default=None, metavar="N",
        help="1m bars of history served per symbol by /v5/market/kline and mark-price-kline (default: "
        "max(1440, --warmup-bars)); tickers' 24h figures still cover the last 1440; ~56 bytes a bar a symbol",
    )  # fmt: skip


def market_timing(args: argparse.Namespace) -> dict[str, Any]:
    """The ``EmulatorConfig`` keyword arguments for the parsed market options (all but ``--symbols``);
    ``history_bars`` only when ``--history-bars`` is given (``EmulatorConfig``'s default is max(1440, warm-up))."""
    bar_seconds = 60.0 / args.speed if args.speed else args.bar_seconds or DEFAULT_BAR_SECONDS
    out = {"bar_seconds": bar_seconds, "start_ms": args.start, "state_path": args.state,
           "state_every_s": args.state_every}  # fmt: skip
    if getattr(args, "history_bars", None) is not None:
        out["history_bars"] = args.history_bars
    return out

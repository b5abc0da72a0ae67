"""``omni emulator`` start options for the account's modes, kept beside ``AccountConfig`` (the CLI adds them).

    add_account_options(parser)                      # --margin-mode, --account-type, --position-mode
    AccountConfig(key, secret, balance=..., **account_modes(args))
"""

from __future__ import annotations

import argparse
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

"""``omni emulator`` account-mode start options: defaults are Bybit's (UTA, cross margin, one-way)."""

import argparse

import pytest

from omni.emulator.options import account_modes, add_account_options
from omni.emulator.state import AccountConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_account_options(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_bybits():
    modes = account_modes(parse())
    assert modes == {"margin_mode": "REGULAR_MARGIN", "account_type": "unified", "position_mode": "one-way"}
    assert AccountConfig("k", "s", **modes) == AccountConfig("k", "s")


def test_options_reach_the_account_config_and_bad_values_are_refused():
    args = parse("--margin-mode", "ISOLATED_MARGIN", "--account-type", "classic", "--position-mode", "hedge")
    config = AccountConfig("k", "s", **account_modes(args))
    assert (config.margin_mode, config.account_type, config.position_mode) == ("ISOLATED_MARGIN", "classic", "hedge")
    with pytest.raises(SystemExit):
        parse("--margin-mode", "CROSS")

"""``omni reset-kill-switch``: clear a latched kill switch so new entries are allowed again."""

from __future__ import annotations

import argparse

from omni.commands.common import EXIT_USAGE, config_option, load

NAME = "reset-kill-switch"


def add_parser(sub: argparse._SubParsersAction) -> None:
    rk = sub.add_parser(
        NAME,
        help="clear a latched kill switch so new entries are allowed again",
        description="The kill switch latches in engine.state_dir when a daily-loss or drawdown "
        "limit trips; it survives restarts until cleared here.",
    )
    config_option(rk)


def run(args: argparse.Namespace) -> int:
    from omni.state import KillSwitchLatch

    cfg = load(args.config)
    if cfg is None:
        return EXIT_USAGE
    latch = KillSwitchLatch(cfg.engine.state_dir)
    reason = latch.reset()
    print(f"kill switch reset (was: {reason})" if reason else f"kill switch was not tripped ({latch.path})")
    return 0

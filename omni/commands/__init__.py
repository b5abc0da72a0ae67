"""The ``omni`` command line: one module per command, each with ``NAME``, ``add_parser(sub)`` and ``run(args)``.

common        exit codes, argument types (``--data`` accumulates), config loading, early signals
markdown      output for a person: Markdown tables, money, times, "n/a" for the unknown
parser        the parser assembled from the commands, and ``main``
run, backtest, feasibility, report, status, reset_kill_switch, emulator, check_config, rehearse
"""

from __future__ import annotations

from omni.commands.parser import build_parser, main

__all__ = ["build_parser", "main"]

"""``omni check-config``: validate a config file (exit 0 if good, 2 if not)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omni.commands.common import EXIT_USAGE
from omni.domain.errors import ConfigError

NAME = "check-config"


def add_parser(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser(
        NAME,
        help="validate a config file: exit 0 if good, 2 if not",
        description="Validate a YAML config (and OMNI_* environment overrides). Prints every "
        "error with its field path, the bad value and what is allowed.",
    )
    check.add_argument("path", type=Path, metavar="PATH")


def run(args: argparse.Namespace) -> int:
    from omni.config import format_config_error, load_config

    path: Path = args.path
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    try:
        load_config(path)
    except ConfigError as e:
        print(format_config_error(e), file=sys.stderr)
        return EXIT_USAGE
    print(f"{path}: OK")
    return 0

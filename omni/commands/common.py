"""What every command shares: exit codes, argument types, config loading, logging, early signals."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omni.domain.errors import ConfigError

EXIT_USAGE = 2

#: SIGINT/SIGTERM received before a run's event loop took the signals over (imports, config, journal)
EARLY_SIGNALS: list[int] = []


def remember_signal(signum: int, _frame: object) -> None:
    EARLY_SIGNALS.append(signum)
    if len(EARLY_SIGNALS) > 1:
        os._exit(130)


def speed(text: str) -> float | str:
    if text.lower() == "max":
        return "max"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a positive number or 'max', got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"speed must be a positive number or 'max', got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"duration must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"duration must be > 0 seconds, got {text!r}")
    return value


def utc_time(text: str) -> int:
    """An ISO-8601 date or date-time (UTC unless it has an offset) as epoch ms."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2025-01-01 or 2025-01-01T12:00, got {text!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)


def existing_file(text: str) -> Path:
    """A data file, or a market-data directory (the Parquet store of ``omni data``)."""
    p = Path(text)
    if not (p.is_file() or p.is_dir()):
        raise argparse.ArgumentTypeError(f"data file or directory not found: {text}")
    return p.resolve()


def add_data_option(parser: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``--data FILE ...``, repeatable: ``--data A --data B`` is ``--data A B`` (every file is used)."""
    parser.add_argument(
        "--data",
        action="extend",
        nargs="+",
        type=existing_file,
        required=required,
        default=None,
        metavar="FILE",
        help=help + "; repeatable: --data A --data B is --data A B",
    )


def data_files(paths: list[Path] | None) -> list[Path]:
    """The ``--data`` files in the order given, each once (a file named twice is read once)."""
    return list(dict.fromkeys(paths or []))


def config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, metavar="PATH", help="YAML config (default: built-in)")


def load(path: Path | None) -> Any:
    """The config at ``path`` (built-in defaults when None), or None after printing why it is invalid."""
    from omni.config import format_config_error, load_config

    try:
        return load_config(path)
    except ConfigError as e:
        print(format_config_error(e), file=sys.stderr)
        return None


def configure_logging(cfg: Any) -> Any:
    """structlog for a daemon run: stdout (console on a TTY, JSON otherwise) and the optional rotating file."""
    from omni import logsetup

    t = cfg.telemetry
    logsetup.configure(
        t.log_format, t.log_level, log_file=t.log_file, max_mb=t.log_file_max_mb, backups=t.log_file_backups
    )
    return logsetup.get("omni")

"""structlog set up once, at the shell: JSON lines off a TTY, a console renderer on one.

Named ``logsetup`` rather than ``logging`` so it never shadows the standard library module.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def iso_utc(ms: int | None) -> str:
    """Epoch milliseconds as ISO 8601 in UTC, e.g. ``2024-03-01T12:30:00Z`` (milliseconds shown only when not
    zero); ``""`` for None."""
    if ms is None:
        return ""
    ms = int(ms)
    text = datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else text + "Z"


def _plain(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Decimals as exact strings, enums as their values: JSON that round-trips money exactly."""
    for k, v in event.items():
        event[k] = _conv(v)
    return event


def _conv(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, dict):
        return {k: _conv(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_conv(x) for x in v]
    return v


class _Tee:
    """stdout plus a size-rotated log file (each log line goes to both)."""

    def __init__(self, stream: TextIO, handler: logging.Handler):
        self.stream = stream
        self.handler = handler

    def write(self, text: str) -> int:
        self.stream.write(text)
        if text.strip():
            self.handler.emit(logging.makeLogRecord({"msg": text.rstrip("\n"), "levelno": logging.INFO}))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.handler.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def configure(
    fmt: str = "auto",
    level: str = "info",
    stream: TextIO | None = None,
    log_file: Path | None = None,
    max_mb: float = 10,
    backups: int = 5,
) -> None:
    """Configure structlog for the process. ``fmt``: auto | json | console; ``log_file``: also a rotated file."""
    stream = stream or sys.stdout
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(log_file, maxBytes=int(max_mb * 1_000_000), backupCount=backups)
        handler.setFormatter(logging.Formatter("%(message)s"))
        stream = _Tee(stream, handler)  # type: ignore[assignment]
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _plain,
    ]
    if fmt == "json":
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


def get(name: str = "omni") -> Any:
    return structlog.get_logger(name)


def saved() -> dict[str, Any]:
    """The current structlog configuration (to restore after a temporary redirect, e.g. a backtest's file)."""
    return dict(structlog.get_config())


def restore(config: dict[str, Any]) -> None:
    structlog.configure(**config)

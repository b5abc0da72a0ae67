"""structlog set up once, at the shell: JSON lines off a TTY, a console renderer on one.

Named ``logsetup`` rather than ``logging`` so it never shadows the standard library module.
"""

from __future__ import annotations

import logging
import sys
from decimal import Decimal
from enum import Enum
from typing import Any, TextIO

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


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


def configure(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog for the process. ``fmt``: auto | json | console."""
    stream = stream or sys.stdout
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

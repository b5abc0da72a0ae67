"""structlog set up once, at the shell: JSON lines off a TTY, a console view for a person on one.

JSON (``telemetry.log_format: json``, or ``auto`` off a terminal) is for machines: every event, every field,
epoch-millisecond times, one line each (``jq`` reads it). The console (``console``, or ``auto`` on a terminal)
is for a person (:class:`ConsoleView`): times as ISO 8601 UTC, the periodic summary as a one-line table, and
decisions thinned at info level: each approval, a few vetoes a window, the rest counted into one line per
window (every decision at debug level). A ``log_file`` always gets the complete JSON lines.

Named ``logsetup`` rather than ``logging`` so it never shadows the standard library module.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
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


class _JsonFile:
    """Processor: the complete event as a JSON line into the rotating file; the event goes on unchanged (to
    the console view)."""

    def __init__(self, handler: logging.Handler):
        self.handler = handler
        self.render = structlog.processors.JSONRenderer()

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        copy = structlog.processors.format_exc_info(logger, method, dict(event))
        self.handler.emit(logging.makeLogRecord({"msg": self.render(logger, method, copy), "levelno": logging.INFO}))
        return event


def _ts_key(key: str) -> bool:
    return key == "ts" or key.endswith("_ts")


class ConsoleView:
    """The last processor of the console format: what a person reads, rendered by ``render`` (structlog's
    ConsoleRenderer).

    - every ts-like field (``ts``, ``*_ts``: epoch ms of market time) as ISO 8601 UTC;
    - ``summary`` / ``final_summary`` as a one-line table (capital, total profit, trades today, active,
      average profit per trade, success rate, pace);
    - decisions, below debug level: every approval; at most ``vetoes_shown`` vetoed or refused candidates per
      window, each on a short line; the rest (and every ``no_trade``, never shown one by one) counted into one
      ``decisions`` line when the window closes (or at the next summary). A window closes at the first event
      after it spans a market minute *and* ``min_wall_s`` wall seconds, never inside one bar's batch of
      decisions: a live run gets a count line a minute, a max-speed replay at most one a wall second. At info
      level a market minute thus shows at most ``vetoes_shown`` + 1 decision lines besides its approvals
      (which the pacer and the risk limits bound), a wall second at most twice that.
    """

    WINDOW_MS = 60_000
    VETO_FIELDS = ("symbol", "verdict", "reason", "detail", "side", "timeframe", "score", "ts")

    def __init__(
        self,
        render: Callable[[Any, str, dict[str, Any]], str],
        level: str = "info",
        vetoes_shown: int = 3,
        min_wall_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.render = render
        self.every_decision = LEVELS[level] <= logging.DEBUG
        self.vetoes_shown = vetoes_shown
        self.min_wall_s = min_wall_s
        self.clock = clock
        self._start_ts: int | None = None  # market time of the window's first decision
        self._last_ts: int | None = None
        self._start_wall = 0.0
        self._shown = 0
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> str:
        name = event.get("event")
        lines: list[dict[str, Any]] = []
        if name == "decision" and not self.every_decision:
            ts = event.get("ts")
            if self._expired(ts):
                lines += self._flush(event)
            if self._start_ts is None and isinstance(ts, int):
                self._start_ts, self._start_wall = ts, self.clock()
            if isinstance(ts, int):
                self._last_ts = ts
            verdict = str(event.get("verdict"))
            if verdict == "approved":
                self._counts[verdict][""] += 1
                lines.append(event)
            else:
                self._counts[verdict][str(event.get("reason"))] += 1
                if verdict != "no_trade" and self._shown < self.vetoes_shown:
                    self._shown += 1
                    lines.append(
                        {k: event[k] for k in ("timestamp", "level", "event", *self.VETO_FIELDS) if k in event}
                    )
        elif name in ("summary", "final_summary"):
            lines += self._flush(event)
            lines.append(_summary_line(event))
        else:
            if self._expired(event.get("ts")):
                lines += self._flush(event)
            lines.append(event)
        if not lines:
            raise structlog.DropEvent
        return "\n".join(self.render(logger, method, _iso_times(e)) for e in lines)

    def _expired(self, ts: Any) -> bool:
        """Has the window spanned a market minute and ``min_wall_s``? Never within one batch of decisions (one
        bar close, one ``ts``): a batch is never split, so a market minute shows at most ``vetoes_shown``
        vetoes and one count line besides its approvals."""
        if self._start_ts is None or self._last_ts is None or not isinstance(ts, int) or isinstance(ts, bool):
            return False
        if ts <= self._last_ts:
            return False
        return ts - self._start_ts >= self.WINDOW_MS and self.clock() - self._start_wall >= self.min_wall_s

    def _flush(self, current: dict[str, Any]) -> list[dict[str, Any]]:
        """The closing window's counts as one line (none when nothing went unshown); a new window starts."""
        counts, start, last, shown = self._counts, self._start_ts, self._last_ts, self._shown
        self._counts, self._start_ts, self._last_ts, self._shown = defaultdict(Counter), None, None, 0
        hidden = sum(sum(c.values()) for v, c in counts.items() if v != "approved") - shown
        if hidden <= 0 or start is None or last is None:
            return []
        minutes = (last - start) // self.WINDOW_MS + 1
        parts = []
        order = ("vetoed", "refused", "no_trade")
        for verdict in [*order, *sorted(set(counts) - {*order, "approved"})]:
            c = counts.get(verdict)
            if c:
                reasons = ", ".join(f"{r} {n}" for r, n in c.most_common())
                parts.append(f"{verdict} {sum(c.values())} candidates ({reasons})")
        approved = sum(counts["approved"].values()) if "approved" in counts else 0
        text = "; ".join(parts) + (f"; approved {approved}" if approved else "")
        span = "in the last market minute" if minutes == 1 else f"in the last {minutes} market minutes"
        if shown:
            span += f" ({shown} shown above)"
        return [
            {
                "timestamp": current.get("timestamp"),
                "level": "info",
                "event": f"decisions {span}: {text}",
                "from_ts": start,
                "to_ts": last,
            }
        ]


def _iso_times(event: dict[str, Any]) -> dict[str, Any]:
    for k, v in event.items():
        if _ts_key(k) and isinstance(v, int) and not isinstance(v, bool):
            event[k] = iso_utc(v)
    return event


def _money(v: Any, places: int = 4) -> str:
    if v is None:
        return "n/a"
    try:
        return f"{Decimal(str(v)):.{places}f}"
    except ArithmeticError:
        return str(v)


def _summary_line(event: dict[str, Any]) -> dict[str, Any]:
    """The periodic (or final) summary as one row: | capital | profit | today | active | avg | success | pace |."""
    rate = event.get("success_rate")
    pace = event.get("pace") or {}
    pace_text = (
        f"{pace.get('status')} {pace.get('trades_today')}/{pace.get('expected_by_now')} expected "
        f"(target {pace.get('target')}/day)"
        if pace
        else "n/a"
    )
    cells = [
        f"capital {_money(event.get('capital'))} USDT",
        f"profit {_money(event.get('total_profit'))}",
        f"trades today {event.get('trades_today')}",
        f"active {event.get('active_trades')}",
        f"avg/trade {_money(event.get('avg_profit_per_trade'))}",
        f"success {'n/a' if rate is None else f'{float(rate) * 100:.1f}%'}",
        f"pace {pace_text}",
    ]
    out = {
        "timestamp": event.get("timestamp"),
        "level": event.get("level"),
        "event": f"{event.get('event')} | " + " | ".join(cells) + " |",
        "market_ts": event.get("market_ts"),
    }
    if event.get("kill_switch"):
        out["kill_switch"] = event["kill_switch"]
    if event.get("event") == "final_summary":
        for k in ("trades_total", "max_drawdown", "fees_paid", "wall_seconds"):
            if k in event:
                out[k] = event[k]
    return out


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
    handler: logging.Handler | None = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(log_file, maxBytes=int(max_mb * 1_000_000), backupCount=backups)
        handler.setFormatter(logging.Formatter("%(message)s"))
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _plain,
    ]
    if fmt == "json":
        if handler is not None:
            stream = _Tee(stream, handler)  # type: ignore[assignment]
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        if handler is not None:  # the file stays complete JSON for machines; the terminal gets the view
            processors.append(_JsonFile(handler))
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty(), sort_keys=False)
        processors.append(ConsoleView(renderer, level))
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

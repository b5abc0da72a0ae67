"""What a rehearsal will do, decided before anything starts: the emulator's command line (symbols, speed, market
start, the fault preset), the daemon's command line and environment, the key pair, and the seeded kill moments.

Pure: no process is started here (``runner.py`` does that), so every choice can be tested and printed.

The fault presets (``CHAOS_PRESETS``) are the one table behind ``--chaos light|heavy|off``: each maps to the
emulator's ``--chaos-*`` flags. Periods are wall seconds (the emulator's timers run on the wall clock), rates
are per request.
"""

from __future__ import annotations

import random
import re
import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

#: ``--chaos`` presets -> the emulator's ``--chaos-<flag>`` values (see ``omni emulator --help``)
CHAOS_PRESETS: dict[str, dict[str, float]] = {
    "off": {},
    "light": {
        "ws-drop-every": 60, "private-gap-every": 45, "private-gap-seconds": 2, "rest-fail-rate": 0.01,
        "rate-limit-every": 60, "rate-limit-seconds": 1, "reply-lost-rate": 0.02, "cancel-market-rate": 0.02,
        "latency-ms": 20,
    },
    "heavy": {
        "ws-drop-every": 20, "ws-stall-every": 45, "ws-stall-seconds": 3, "private-gap-every": 15,
        "private-gap-seconds": 3, "rest-fail-rate": 0.05, "rate-limit-every": 20, "rate-limit-seconds": 2,
        "reply-lost-rate": 0.1, "cancel-market-rate": 0.1, "latency-ms": 100,
    },
}  # fmt: skip

#: kills fall in this share of the run (market time): never in the first 10 % (the daemon is still warming up)
#: nor in the last 10 % (the last daemon gets time to settle before the SIGINT)
KILL_WINDOW = (0.10, 0.90)
#: wall seconds between a SIGKILL and the restart (the exchange trades on meanwhile: stops and TPs may fill)
RESTART_DELAY_S = 2.0
#: default grace (s): how long a position may go without a stop-loss right after its entry
STOP_GRACE_S = 5.0
#: the daemon's exit after SIGINT may take engine.shutdown_timeout_s plus this (interpreter exit, a busy machine)
EXIT_SLACK_S = 15.0


class PlanError(ValueError):
    """A rehearsal that cannot be planned as asked (bad arguments: exit 2)."""


@dataclass(frozen=True)
class Options:
    """``omni rehearse``'s arguments."""

    config: Path | None = None
    symbols: int | None = None  # None = every instrument the emulator knows
    hours: float = 1.0
    speed: float = 60.0
    start: str | None = None
    chaos: str = "light"
    kills: int = 1
    seed: int = 1
    out: Path | None = None
    stop_grace_s: float = STOP_GRACE_S


@dataclass(frozen=True)
class EmulatorCaps:
    """What the installed ``omni emulator`` accepts (read from its parser): newer flags are used when present."""

    options: frozenset[str]
    symbols_all: bool = False  # --symbols accepts "all"

    def has(self, flag: str) -> bool:
        return flag in self.options


@dataclass
class Plan:
    options: Options
    out: Path
    capital: Decimal
    shutdown_timeout_s: float
    market_start: datetime | None
    kill_at: list[float]  # shares of the run (market time), sorted
    emulator_argv: list[str]
    #: the environment of both processes on top of the rehearsal's own (keys, URLs filled in once known)
    api_key: str = field(default_factory=lambda: "rehearsal-" + secrets.token_hex(6))
    api_secret: str = field(default_factory=lambda: secrets.token_hex(24), repr=False)
    log_level: str = "info"
    on_shutdown: str = "close"  # engine.on_shutdown of the rehearsed config
    notes: list[str] = field(default_factory=list)

    @property
    def market_ms(self) -> int:
        """Market milliseconds the run lasts."""
        return round(self.options.hours * 3_600_000)

    @property
    def wall_s(self) -> float:
        """Planned wall seconds of the market run: hours x 3600 / speed."""
        return self.options.hours * 3600 / self.options.speed

    @property
    def journal(self) -> Path:
        return self.out / "journal.sqlite"

    @property
    def state_dir(self) -> Path:
        return self.out / "daemon-state"

    def daemon_argv(self, life: int) -> list[str]:
        """``python -m omni run --venue bybit-testnet ...`` for the ``life``-th daemon (its own summary file)."""
        return daemon_argv(self.options, self.out / f"daemon-{life}.summary.json")

    def keys_env(self) -> dict[str, str]:
        return {"BYBIT_API_KEY": self.api_key, "BYBIT_API_SECRET": self.api_secret}

    def daemon_env(self, rest_url: str) -> dict[str, str]:
        """What a user sets to point the daemon at the emulator (and venue.clock: market when its market runs at
        another speed or start), plus the rehearsal's own files (the journal and the kill-switch latch in --out,
        JSON logs on stdout only, no metrics port that could clash)."""
        ws = rest_url.replace("http://", "ws://", 1)
        return {
            **self.keys_env(),
            "OMNI_VENUE__REST_URL": rest_url,
            "OMNI_VENUE__PUBLIC_WS_URL": ws,
            "OMNI_VENUE__PRIVATE_WS_URL": ws,
            "OMNI_TELEMETRY__LOG_FORMAT": "json",
            "OMNI_TELEMETRY__LOG_LEVEL": self.log_level,
            "OMNI_TELEMETRY__LOG_FILE": "null",
            "OMNI_TELEMETRY__METRICS_PORT": "null",
            "OMNI_ENGINE__STATE_DIR": str(self.state_dir),
            "OMNI_ENGINE__JOURNAL": str(self.journal),
            **({"OMNI_VENUE__CLOCK": "market"} if self.market_clock else {}),
        }

    @property
    def market_clock(self) -> bool:
        """The daemon takes its 'now' from the bars (venue.clock: market) when market time is not wall time: at
        another speed than 1 or from another start (a real-time run keeps the config's clock)."""
        return self.options.speed != 1 or self.market_start is not None

    def describe(self) -> dict[str, object]:
        o = self.options
        return {
            "config": str(o.config) if o.config else None, "symbols": "all" if o.symbols is None else o.symbols,
            "hours": o.hours, "speed": o.speed, "start": o.start,
            "market_start": self.market_start.isoformat().replace("+00:00", "Z") if self.market_start else None,
            "chaos": o.chaos, "chaos_flags": CHAOS_PRESETS[o.chaos], "kills": o.kills, "seed": o.seed,
            "kill_at": [round(k, 4) for k in self.kill_at], "wall_s_planned": round(self.wall_s, 1),
            "capital": str(self.capital), "on_shutdown": self.on_shutdown, "stop_grace_s": o.stop_grace_s,
            "out": str(self.out),
            "emulator_argv": self.emulator_argv[1:], "daemon_argv": self.daemon_argv(1)[1:], "notes": self.notes,
        }  # fmt: skip


# ---------------------------------------------------------------- argument parsing helpers (the CLI uses them)


def parse_symbols(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise PlanError(f"--symbols must be 'all' or a positive whole number, got {text!r}") from None
    if n < 1:
        raise PlanError(f"--symbols must be 'all' or >= 1, got {n}")
    return n


def parse_start(text: str, hours: float, now: datetime | None = None) -> datetime:
    """``HH:MM`` (UTC): the latest such time from which ``hours`` market hours end before ``now`` (so a
    ``21:00`` start of 6 hours is yesterday's 21:00 until 03:00 today); or an ISO 8601 date-time (UTC if it
    carries no zone)."""
    now = now or datetime.now(UTC)
    hhmm = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if hhmm:
        hour, minute = int(hhmm.group(1)), int(hhmm.group(2))
        if hour > 23 or minute > 59:
            raise PlanError(f"--start {text!r}: not a time of day (HH:MM, UTC)")
        start = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        while start + timedelta(hours=hours) > now:
            start -= timedelta(days=1)
        return start
    try:
        start = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PlanError(f"--start {text!r}: give HH:MM (UTC) or an ISO date-time like 2025-06-01T21:00Z") from None
    return start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)


def kill_moments(kills: int, seed: int) -> list[float]:
    """``kills`` seeded shares of the run, sorted, inside ``KILL_WINDOW``."""
    rng = random.Random(f"omni-rehearse-kills-{seed}")
    lo, hi = KILL_WINDOW
    return sorted(rng.uniform(lo, hi) for _ in range(kills))


def _num(x: float) -> str:
    return f"{x:g}"


def emulator_argv(o: Options, caps: EmulatorCaps, capital: Decimal, market_start: datetime | None) -> list[str]:
    """``python -m omni emulator ...`` for these options (the key pair comes from the environment)."""
    argv = [sys.executable, "-m", "omni", "emulator", "--port", "0", "--balance", str(capital), "--seed", str(o.seed)]
    if o.symbols is not None:
        argv += ["--symbols", str(o.symbols)]
    elif caps.symbols_all:
        argv += ["--symbols", "all"]
    else:  # an emulator that lists the first N: as many as there are
        argv += ["--symbols", "100000"]
    if caps.has("--speed"):
        argv += ["--speed", _num(o.speed)]
    else:
        argv += ["--bar-seconds", _num(60 / o.speed)]
    if market_start is not None:
        if not caps.has("--start"):
            raise PlanError("--start: this omni emulator has no --start option (its market starts now)")
        argv += ["--start", market_start.strftime("%Y-%m-%dT%H:%M:%SZ")]
    preset = CHAOS_PRESETS[o.chaos]
    if preset:
        argv += ["--chaos-seed", str(o.seed)]
    for flag, value in preset.items():
        name = f"--chaos-{flag}"
        if not caps.has(name):
            raise PlanError(f"--chaos {o.chaos}: this omni emulator has no {name}")
        argv += [name, _num(value)]
    return argv


def daemon_argv(o: Options, summary_json: Path) -> list[str]:
    argv = [sys.executable, "-m", "omni", "run", "--venue", "bybit-testnet", "--summary-json", str(summary_json)]
    if o.config is not None:
        argv += ["--config", str(o.config.resolve())]
    return argv


def make_plan(
    o: Options,
    caps: EmulatorCaps,
    *,
    capital: Decimal,
    shutdown_timeout_s: float,
    log_level: str = "info",
    on_shutdown: str = "close",
    now: datetime | None = None,
) -> Plan:
    """Check the options and decide everything (``PlanError`` for what cannot be done)."""
    if not 0 < o.hours <= 24 * 14:
        raise PlanError(f"--hours must be > 0 and at most two weeks (336), got {o.hours:g}")
    if not 0 < o.speed <= 3600:
        raise PlanError(f"--speed must be > 0 and at most 3600 (one market hour per wall second), got {o.speed:g}")
    if o.chaos not in CHAOS_PRESETS:
        raise PlanError(f"--chaos must be one of {', '.join(CHAOS_PRESETS)}, got {o.chaos!r}")
    if not 0 <= o.kills <= 100:
        raise PlanError(f"--kills must be 0..100, got {o.kills}")
    if not o.stop_grace_s >= 0:
        raise PlanError(f"--stop-grace must be >= 0 seconds, got {o.stop_grace_s:g}")
    wall_s = o.hours * 3600 / o.speed
    if o.kills and wall_s < 10 * o.kills:
        raise PlanError(
            f"{o.kills} kills in {wall_s:.0f} wall seconds leave no time to restart: lower --kills or --speed, "
            "or raise --hours"
        )
    now = now or datetime.now(UTC)
    out = (o.out or Path(f"rehearsal-{now.strftime('%Y%m%d-%H%M%S')}")).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PlanError(f"--out {out}: exists and is not an empty directory (a rehearsal never overwrites one)")
    market_start = parse_start(o.start, o.hours, now) if o.start else None
    level = "info" if log_level in ("warning", "error") else log_level
    plan = Plan(
        options=o, out=out, capital=capital, shutdown_timeout_s=shutdown_timeout_s, market_start=market_start,
        kill_at=kill_moments(o.kills, o.seed), emulator_argv=emulator_argv(o, caps, capital, market_start),
        log_level=level, on_shutdown=on_shutdown,
    )  # fmt: skip
    if level != log_level:
        plan.notes.append(f"telemetry.log_level {log_level} raised to info: the judge reads the daemon's info lines")
    return plan

"""The rehearsal's processes: ``omni emulator`` with faults and ``omni run --venue bybit-testnet`` against it, both
real processes started the way a user would start them; the daemon SIGKILLed and restarted at the plan's
moments, stopped with SIGINT at the end; and a watcher polling the exchange's positions every second.

Everything the judge needs is kept: each process's stdout/stderr in --out, the journal there, the watcher's
polls, the exchange's records read right after the last daemon exited (``exchange.json``), and the timeline.
Time is market time: the run lasts until the emulator's newest bar is ``--hours`` past its first one, and the
kills happen at shares of that; a wall-clock cap (twice the plan plus two minutes) ends a run whose market
stalls.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.rehearse.exchange import WINDOW_MARGIN_MS, Exchange, ExchangeError
from omni.rehearse.plan import EXIT_SLACK_S, RESTART_DELAY_S, Plan

#: wall seconds the emulator may take to list its instruments and serve (the full market's warm-up bars)
EMULATOR_START_S = 180.0
#: position polls: one every this many wall seconds
POLL_INTERVAL_S = 1.0
#: within this share of the run before a planned kill the market's clock is read 5 times a second
KILL_NEAR = 0.15
#: the final SIGINT waits (at most this many wall seconds) until the last daemon trades (its ``warmup_done``): a
#: daemon stopped while it connects has not yet booked what the exchange did while it was down
READY_TIMEOUT_S = 120.0
READY_LINE = b'"event": "warmup_done"'


class RehearsalError(RuntimeError):
    """The rehearsal could not run (the emulator did not start or died): no verdict on the daemon."""


# ---------------------------------------------------------------- the processes


def _child_setup() -> None:  # pragma: no cover - runs in the child
    """Own session (a Ctrl-C at the terminal reaches the rehearsal, which stops its children in order); on Linux
    the child dies with the rehearsal, never left running."""
    os.setsid()
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _spawn(argv: list[str], env: dict[str, str], out: Path, err: Path, cwd: Path) -> subprocess.Popen:
    with open(out, "wb") as o, open(err, "wb") as e:
        return subprocess.Popen(argv, stdout=o, stderr=e, env=env, cwd=cwd, preexec_fn=_child_setup)


class EmulatorProcess:
    def __init__(self, plan: Plan, env: dict[str, str]):
        self.out_path, self.err_path = plan.out / "emulator.out", plan.out / "emulator.err"
        self.proc = _spawn(plan.emulator_argv, env, self.out_path, self.err_path, plan.out)
        self.url = ""

    def wait_ready(self, timeout: float = EMULATOR_START_S) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"emulator on (http://[\w.:\[\]-]+)", self.err_path.read_text(errors="replace"))
            if found:
                self.url = found.group(1)
                return self.url
            if self.proc.poll() is not None:
                raise RehearsalError(
                    f"the emulator exited with code {self.proc.returncode}: "
                    f"{self.err_path.read_text(errors='replace')[-1500:]}"
                )
            time.sleep(0.1)
        raise RehearsalError(f"the emulator did not start within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@dataclass
class Life:
    """One daemon process, from its start to its end."""

    n: int
    started_s: float  # wall seconds since the rehearsal began
    started_progress: float
    out_path: Path
    err_path: Path
    summary_path: Path
    proc: subprocess.Popen | None = None
    #: killed (SIGKILL by the plan), sigint (the final stop), exited (on its own), hung (no exit after SIGINT)
    end: str = ""
    ended_s: float | None = None
    ended_progress: float | None = None
    returncode: int | None = None
    exit_s: float | None = None  # seconds from the SIGINT to the exit
    ready_wait_s: float | None = None  # the last life: wall seconds the SIGINT waited for its warmup_done
    open_positions_at_end: int | None = None

    def record(self) -> dict[str, Any]:
        return {
            "n": self.n, "end": self.end, "returncode": self.returncode,
            "started_s": round(self.started_s, 2), "ended_s": _r(self.ended_s),
            "started_progress": round(self.started_progress, 4), "ended_progress": _r(self.ended_progress, 4),
            "exit_s": _r(self.exit_s), "ready_wait_s": _r(self.ready_wait_s),
            "open_positions_at_end": self.open_positions_at_end,
            "stdout": self.out_path.name, "stderr": self.err_path.name,
        }  # fmt: skip


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


# ---------------------------------------------------------------- the position watcher


@dataclass(frozen=True, slots=True)
class Poll:
    """One look at the exchange's open positions: wall seconds since the start, and (symbol, side, size,
    avgPrice, stopLoss) of each; ``ok`` False when the read failed (a fault, a busy emulator)."""

    t: float
    ok: bool
    positions: tuple[tuple[str, str, str, str, str], ...] = ()


class PositionWatcher(threading.Thread):
    """Polls ``/v5/position/list`` every ``interval`` s until stopped (a thread: kills keep their moments)."""

    def __init__(self, exchange: Exchange, t0: float, interval: float = POLL_INTERVAL_S):
        super().__init__(name="rehearse-positions", daemon=True)
        self.exchange, self.t0, self.interval = exchange, t0, interval
        self.polls: list[Poll] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            began = time.monotonic()
            try:
                items = self.exchange.positions(attempts=1)
                rows = tuple(
                    (p["symbol"], p.get("side", ""), p.get("size", ""), p.get("avgPrice", ""), p.get("stopLoss") or "")
                    for p in items
                )
                self.polls.append(Poll(began - self.t0, True, rows))
            except Exception:
                self.polls.append(Poll(began - self.t0, False))
            self._halt.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def last_open(self) -> int | None:
        for poll in reversed(self.polls):
            if poll.ok:
                return len(poll.positions)
        return None

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


# ---------------------------------------------------------------- one rehearsal


@dataclass
class Run:
    """What happened: the raw material of the verdict."""

    plan: Plan
    url: str = ""
    symbols: int = 0
    start_balance: Decimal | None = None
    market_start_ms: int | None = None
    market_end_ms: int | None = None  # the newest market minute seen (the listing window ends after it)
    market_stop_ms: int | None = None  # the market minute at the final SIGINT
    wall_s: float = 0.0
    lives: list[Life] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)
    polls: list[Poll] = field(default_factory=list)
    exchange: dict[str, Any] = field(default_factory=dict)
    emulator_returncode: int | None = None
    emulator_alive_at_end: bool = False
    capped: bool = False  # the wall-clock cap ended the run before the market got there
    error: str | None = None  # the rehearsal itself failed (no verdict on the daemon)
    aborted: bool = False


Say = Callable[[str], None]


class Rehearsal:
    """``Rehearsal(plan).run()``: start, kill, restart, stop, read the exchange; returns a ``Run``."""

    def __init__(self, plan: Plan, say: Say | None = None, env: dict[str, str] | None = None):
        self.plan = plan
        self.say: Say = say or (lambda line: print(f"[rehearse] {line}", file=sys.stderr, flush=True))
        self.base_env = dict(os.environ if env is None else env)
        self.t0 = time.monotonic()
        self.result = Run(plan)
        self.emulator: EmulatorProcess | None = None
        self.exchange: Exchange | None = None
        self.watcher: PositionWatcher | None = None
        self.life: Life | None = None
        self._progress = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def run(self) -> Run:
        plan, r = self.plan, self.result
        plan.out.mkdir(parents=True, exist_ok=True)
        (plan.out / "plan.json").write_text(json.dumps(plan.describe(), indent=2) + "\n")
        try:
            self._start()
            self._trade()
            self._stop_daemon()
            self._read_exchange()
        except KeyboardInterrupt:
            r.aborted = True
            r.error = "aborted by the user (Ctrl-C)"
            self.say("aborted: stopping the daemon and the emulator")
        except (RehearsalError, ExchangeError) as e:
            r.error = str(e)
            self.say(f"the rehearsal could not finish: {e}")
        finally:
            self._cleanup()
        r.wall_s = self.now()
        return r

    # ------------------------------------------------------------ phases

    def _start(self) -> None:
        plan, r = self.plan, self.result
        env = {**self.base_env, **plan.keys_env()}
        self.say(f"emulator: {' '.join(plan.emulator_argv[3:])}")
        self.emulator = EmulatorProcess(plan, env)
        r.url = self.emulator.wait_ready()
        self.exchange = Exchange(r.url, plan.api_key, plan.api_secret)
        r.symbols = len(self.exchange.symbols())
        r.start_balance = self.exchange.wallet()
        r.market_start_ms = r.market_end_ms = self.exchange.market_ms()
        self.say(f"emulator on {r.url}: {r.symbols} symbols, wallet {r.start_balance} USDT, market at "
                 f"{_iso(r.market_start_ms)}; {plan.options.hours:g} market hours at {plan.options.speed:g}x = "
                 f"~{plan.wall_s:.0f} s wall, {len(plan.kill_at)} kills")  # fmt: skip
        self.watcher = PositionWatcher(Exchange(r.url, plan.api_key, plan.api_secret, attempts=1), self.t0)
        self.watcher.start()
        self._spawn_daemon()

    def _spawn_daemon(self) -> None:
        plan, r = self.plan, self.result
        n = len(r.lives) + 1
        life = Life(n, self.now(), self._progress, plan.out / f"daemon-{n}.out", plan.out / f"daemon-{n}.err",
                    plan.out / f"daemon-{n}.summary.json")  # fmt: skip
        env = {**self.base_env, **plan.daemon_env(r.url)}
        life.proc = _spawn(plan.daemon_argv(n), env, life.out_path, life.err_path, Path.cwd())
        r.lives.append(life)
        self.life = life
        self.say(f"daemon {n} started (pid {life.proc.pid}) at {self._progress:.0%} of the run")

    def _trade(self) -> None:
        plan, r = self.plan, self.result
        assert self.exchange is not None and r.market_start_ms is not None
        target = r.market_start_ms + plan.market_ms
        cap = plan.wall_s * 2 + 120
        kills = list(plan.kill_at)
        restart_at: float | None = None
        next_clock = 0.0
        next_report = 0.1
        while True:
            if self.now() >= next_clock:  # the market's clock, once a second; 5 times a second near a kill
                # (at 120x a second is ~7 % of a half-hour run: a kill planned at 80 % landed at 90 %)
                near = bool(kills) and kills[0] - self._progress < KILL_NEAR
                next_clock = self.now() + (0.2 if near else 1.0)
                if not self.emulator or not self.emulator.alive():
                    raise RehearsalError(f"the emulator died (exit code {self.emulator and self.emulator.proc.poll()})")
                with contextlib.suppress(ExchangeError):  # a fault: the next second tries again (kills keep time)
                    r.market_end_ms = self.exchange.market_ms(attempts=2)
                self._progress = (r.market_end_ms - r.market_start_ms) / plan.market_ms
                if self._progress >= next_report:
                    next_report += 0.1
                    open_now = self.watcher.last_open() if self.watcher else None
                    self.say(f"{min(self._progress, 1):.0%} market {_iso(r.market_end_ms)}, {self.now():.0f} s wall, "
                             f"daemon {len(r.lives)} {'up' if self.life and self.life.end == '' else 'down'}, "
                             f"open positions {open_now}, kills {len(r.kills)}/{len(plan.kill_at)}")  # fmt: skip
            r.market_stop_ms = r.market_end_ms
            if r.market_end_ms >= target:
                break
            if self.now() > cap:
                r.capped = True
                self.say(f"the market reached only {self._progress:.0%} of the run in {self.now():.0f} s: stopping")
                break
            life = self.life
            if restart_at is not None:
                if self.now() >= restart_at:
                    restart_at = None
                    self._spawn_daemon()
            elif life is not None and life.proc is not None and life.proc.poll() is not None:
                self._ended(life, "exited")
                self.say(f"daemon {life.n} exited on its own with code {life.returncode}: restarting it")
                restart_at = self.now() + RESTART_DELAY_S
            elif kills and self._progress >= kills[0] and life is not None:
                kills.pop(0)
                self._kill(life)
                restart_at = self.now() + RESTART_DELAY_S
            time.sleep(0.1)

    def _kill(self, life: Life) -> None:
        assert life.proc is not None
        open_now = self.watcher.last_open() if self.watcher else None
        life.proc.send_signal(signal.SIGKILL)
        life.proc.wait(30)
        self._ended(life, "killed")
        life.open_positions_at_end = open_now
        self.result.kills.append({
            "life": life.n, "wall_s": round(self.now(), 2), "progress": round(self._progress, 4),
            "market_ms": self.result.market_end_ms, "open_positions": open_now,
        })  # fmt: skip
        self.say(f"SIGKILL daemon {life.n} at {self._progress:.0%} of the run ({open_now} open positions)")

    def _ended(self, life: Life, how: str) -> None:
        life.end = how
        life.ended_s = self.now()
        life.ended_progress = self._progress
        life.returncode = life.proc.returncode if life.proc is not None else None

    def _stop_daemon(self) -> None:
        life = self.life
        if life is None or life.proc is None:
            return
        if life.end:  # down (killed or exited) when the run ended: restart it so the SIGINT has a daemon to stop
            time.sleep(RESTART_DELAY_S)
            self._spawn_daemon()
            life = self.life
            assert life is not None and life.proc is not None
        waited = time.monotonic()
        if not self._wait_ready(life, READY_TIMEOUT_S):
            self.say(f"daemon {life.n} logged no warmup_done within {READY_TIMEOUT_S:.0f} s: SIGINT anyway")
        life.ready_wait_s = time.monotonic() - waited
        if life.ready_wait_s > 1:
            self.say(f"waited {life.ready_wait_s:.0f} s for daemon {life.n} to trade before the SIGINT")
        life.open_positions_at_end = self.watcher.last_open() if self.watcher else None
        if self.exchange is not None:
            with contextlib.suppress(ExchangeError):
                self.result.market_stop_ms = self.result.market_end_ms = self.exchange.market_ms()
        self.say(f"SIGINT daemon {life.n}")
        sent = time.monotonic()
        life.proc.send_signal(signal.SIGINT)
        limit = self.plan.shutdown_timeout_s + EXIT_SLACK_S
        try:
            life.proc.wait(max(limit * 2, 60))
            life.exit_s = time.monotonic() - sent
            self._ended(life, "sigint")
        except subprocess.TimeoutExpired:
            life.proc.kill()
            life.proc.wait(30)
            self._ended(life, "hung")
            self.say(f"daemon {life.n} did not exit within {max(limit * 2, 60):.0f} s of the SIGINT: killed")
        self.say(f"daemon {life.n} exited with code {life.returncode} in {life.exit_s or 0:.1f} s")

    def _wait_ready(self, life: Life, timeout: float) -> bool:
        """Until the life logged ``warmup_done`` (True), exited or ``timeout`` passed (False)."""
        assert life.proc is not None
        deadline = time.monotonic() + timeout
        offset, tail = 0, b""
        while time.monotonic() < deadline and life.proc.poll() is None:
            with open(life.out_path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            if READY_LINE in tail + chunk:
                return True
            tail = chunk[-len(READY_LINE) :] if chunk else tail
            time.sleep(0.2)
        return False

    def _read_exchange(self) -> None:
        """The exchange's records, right after the last daemon's exit (before the emulator stops)."""
        r = self.result
        assert self.exchange is not None and r.market_start_ms is not None
        if self.watcher is not None:
            self.watcher.stop()
        ex = self.exchange
        with contextlib.suppress(ExchangeError):
            r.market_end_ms = ex.market_ms()
        assert r.market_end_ms is not None
        start, end = r.market_start_ms - WINDOW_MARGIN_MS, r.market_end_ms + WINDOW_MARGIN_MS
        r.exchange = {
            "wallet": str(ex.wallet()),
            "positions": ex.positions(),
            "orders": ex.orders(start, end),
            "executions": ex.executions(start, end),
            "window_ms": [start, end],
        }
        (self.plan.out / "exchange.json").write_text(json.dumps(r.exchange, indent=1) + "\n")
        r.emulator_alive_at_end = bool(self.emulator and self.emulator.alive())

    def _cleanup(self) -> None:
        r = self.result
        if self.watcher is not None and self.watcher.is_alive():
            self.watcher.stop()
        if self.watcher is not None:
            r.polls = list(self.watcher.polls)
        life = self.life
        if life is not None and life.proc is not None and life.proc.poll() is None:
            life.proc.send_signal(signal.SIGINT)
            try:
                life.proc.wait(self.plan.shutdown_timeout_s + EXIT_SLACK_S)
            except subprocess.TimeoutExpired:
                life.proc.kill()
                life.proc.wait(30)
            if not life.end:
                self._ended(life, "sigint" if not r.aborted else "aborted")
        if self.emulator is not None:
            if not r.exchange:
                r.emulator_alive_at_end = self.emulator.alive()
            r.emulator_returncode = self.emulator.stop()


def _iso(ms: int | None) -> str:
    if ms is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000)) + " UTC"

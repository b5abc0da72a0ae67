"""Acceptance runs of `omni run --venue bybit-testnet` against `omni emulator`, both real processes.

Scenarios (each run once, by a module-scoped fixture; the processes are stopped before any check runs):

- ``scale_3tf`` / ``scale_1m``: the full Bybit market (the 523 instruments of ../shared/data), kline closes
  every 0.2 s racing the warm-up, timeframes 1m/3m/5m and 1m only; SIGINT once the daemon trades or decides.
  The connect + warm-up seconds are printed (a benchmark figure; only a sanity bound is asserted).
- ``warmup_sigint``: the full market, SIGINT at the first ``warmup_progress`` line (and, with a second daemon
  on the same emulator, SIGINT while connecting).
- ``chaos``: 20 symbols, every fault of the emulator on (socket drops, private-stream gaps, lost order
  replies, REST failures, rate-limit windows, market entries cancelled unfilled), one position at a time;
  SIGTERM after 30-55 s (until the rarer faults have fired).
- ``restart``: SIGKILL with an open position, the exchange trades on for 5 s, a second daemon on the same
  journal runs ~15 s, SIGTERM.

The checks after every run (``CHECKS``, one test per check and scenario): no ``task_crashed`` /
``task_gave_up`` and exit 0 in time with a ``final_summary``; every position the exchange holds at the end
has a stop-loss; the journal's executions are the exchange's (execIds of ``omni-state/journal.sqlite`` ==
those of ``GET /v5/execution/list``, read before the emulator stops); the accounting identity of the
``final_summary``; ``risk.max_concurrent_trades`` held on the exchange and no entry doubled; no entry sent
after SIGINT/SIGTERM; with ``on_shutdown: close`` the exchange flat at the exit and the daemon saying so.
Known daemon bugs would be marked xfail (``KNOWN``, not strict) per check and scenario, with what was seen.

The emulator's wallet and ``capital_usdt`` are the same (``BALANCE``) so the identity checks the booking of
every execution; ``test_final_summary_capital_start_is_the_exchange_wallet`` is the case where they differ.
Run with ``-s`` to see the figures (lines starting ``[acceptance]``); ``--basetemp DIR`` keeps every process's
output, the journal and the exchange's state (``exchange.json``) for a post-mortem.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Run, assert_accounting_identity, assert_run_invariants, omni_env

pytestmark = pytest.mark.slow

KEY, SECRET = "acceptance-key", "acceptance-secret-never-logged"
BALANCE = 1000
#: engine.shutdown_timeout_s (default config)
SHUTDOWN_TIMEOUT_S = 4.0
#: allowed on top of the shutdown timeout for a signalled daemon to exit (interpreter exit, a loaded machine)
EXIT_SLACK_S = 6.0
#: shorter intervals for tests, JSON logs
FAST = {
    "OMNI_VENUE__RESYNC_INTERVAL_S": "2",
    "OMNI_VENUE__BATCH_GRACE_MS": "300",
    "OMNI_TELEMETRY__SUMMARY_INTERVAL_S": "1",
    "OMNI_TELEMETRY__LOG_FORMAT": "json",
}
#: settings that make the daemon trade a lot (as conftest.ACTIVE), 1m bars only
ACTIVE = {
    "OMNI_GHOST__MIN_EV_LOWER_USDT": "-1000",
    "OMNI_GHOST__MIN_SAMPLES": "1",  # the evidence after past signals is thin in minutes of market time
    "OMNI_TARGETS__MIN_NET_PROFIT_USDT": "0.3",
    "OMNI_PACER__SPACING": "false",
    "OMNI_STRATEGY__TIMEFRAMES": "[1m]",
    "OMNI_SCANNER__MIN_TURNOVER_USDT": "0",
    "OMNI_RISK__MAX_LOSS_PER_TRADE_USDT": "0.5",
}
#: why Bybit cancelled a market order unfilled
NO_FULL_FILL = "EC_CancelForNoFullFill"


# ---------------------------------------------------------------- processes


class Emulator:
    """``omni emulator`` on a free loopback port; its JSON log lines (``chaos`` among them) go to a file."""

    def __init__(self, cwd: Path, *flags: str, symbols: int = 20, bar_seconds: float = 0.1,
                 balance: float = BALANCE, warmup_bars: int = 600) -> None:  # fmt: skip
        cwd = cwd / "emulator"
        cwd.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = cwd / "emulator.out", cwd / "emulator.err"
        cmd = [
            sys.executable, "-m", "omni", "emulator", "--port", "0", "--api-key", KEY, "--api-secret", SECRET,
            "--balance", str(balance), "--symbols", str(symbols), "--bar-seconds", str(bar_seconds),
            "--warmup-bars", str(warmup_bars), *flags,
        ]  # fmt: skip
        self._http: Any = None
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=omni_env())
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = re.search(r"emulator on (http://127\.0\.0\.1:\d+)", self.err_path.read_text())
            if found:
                self.url = found.group(1)
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"emulator exited {self.proc.returncode}: {self.err_path.read_text()[-2000:]}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError("emulator did not start within 90 s")

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def log(self) -> list[dict]:
        return parse_json_lines(self.out_path.read_text())

    def chaos(self) -> Counter:
        """How often each kind of fault fired."""
        return Counter(e.get("kind") for e in self.log() if e.get("event") == "chaos")

    def symbols(self) -> int:
        ready = [e for e in self.log() if e.get("event") == "emulator_ready"]
        return int(ready[0]["symbols"]) if ready else 0

    # -- the exchange's side, through pybit; retried, as chaos fails REST requests and opens rate-limit windows

    @property
    def http(self) -> Any:
        if self._http is None:
            from omni.venues.bybit_transport import LocalHTTP

            self._http = LocalHTTP(self.url, testnet=True, api_key=KEY, api_secret=SECRET, retry_delay=0,
                                   max_retries=5, recv_window=60_000)  # fmt: skip
        return self._http

    def call(self, name: str, **params: Any) -> dict:
        last: Exception | None = None
        for _ in range(40):
            try:
                reply = getattr(self.http, name)(**params)
                if reply.get("retCode") == 0:
                    return reply["result"]
                last = AssertionError(f"{name}: {reply}")
            except Exception as e:  # 503 / 10016 / 10006 from chaos, a connection closed by the server
                last = e
            time.sleep(0.25)
        raise AssertionError(
            f"{name} failed 40 times: {last!r} (emulator exit code {self.proc.poll()}, stderr: "
            f"{self.err_path.read_text()[-1500:]})"
        )

    def paged(self, name: str, **params: Any) -> list[dict]:
        out: list[dict] = []
        cursor = ""
        for _ in range(10_000):
            result = self.call(name, category="linear", cursor=cursor, **params)
            out += result["list"]
            cursor = result.get("nextPageCursor") or ""
            if not cursor:
                return out
        raise AssertionError(f"{name}: endless paging")

    def executions(self) -> list[dict]:
        """Every execution of the account. No startTime/endTime: the emulator then lists all of them (a run is a
        few market hours, well inside Bybit's 7-day window; windows would also depend on the emulator's clocks)."""
        return self.paged("get_executions", limit=100)

    def orders(self) -> list[dict]:
        """Every order of the account, oldest first (the emulator lists them newest first, in placing order)."""
        return list(reversed(self.paged("get_order_history", limit=50)))

    def positions(self) -> list[dict]:
        return [p for p in self.paged("get_positions", settleCoin="USDT", limit=200) if Decimal(p["size"]) != 0]

    def server_time_ms(self) -> int:
        return int(self.call("get_server_time")["timeSecond"]) * 1000

    def state(self, cwd: Path) -> dict[str, Any]:
        """What the exchange says (read before the emulator stops); also written to ``cwd/exchange.json``."""
        state = {
            "executions": self.executions(),
            "positions": self.positions(),
            "orders": self.orders(),
            "server_time_ms": self.server_time_ms(),
        }
        (cwd / "exchange.json").write_text(json.dumps(state, indent=1))
        return state

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Daemon:
    """``omni run --venue bybit-testnet`` in ``cwd``; stdout read by a thread, each line time-stamped (and
    copied to ``cwd/daemon<n>.out``)."""

    def __init__(self, cwd: Path, emulator: Emulator, **env: str) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.cwd = cwd
        self.summary_path = cwd / "summary.json"
        self.summary_path.unlink(missing_ok=True)
        full_env = omni_env(
            BYBIT_API_KEY=KEY,
            BYBIT_API_SECRET=SECRET,
            OMNI_VENUE__REST_URL=emulator.url,
            OMNI_VENUE__PUBLIC_WS_URL=emulator.ws_url,
            OMNI_VENUE__PRIVATE_WS_URL=emulator.ws_url,
            OMNI_CAPITAL_USDT=str(BALANCE),
            **FAST,
        )
        full_env.update(env)
        self.n = sum(1 for _ in cwd.glob("daemon*.err")) + 1
        self.err_path = cwd / f"daemon{self.n}.err"
        cmd = [sys.executable, "-m", "omni", "run", "--venue", "bybit-testnet"]
        cmd += ["--summary-json", str(self.summary_path)]
        self.t0 = time.monotonic()
        self.exit_s: float | None = None  # seconds from the stop signal to the exit
        self.lines: list[tuple[float, str]] = []
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=cwd, env=full_env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with open(self.cwd / f"daemon{self.n}.out", "w") as copy:
            for line in self.proc.stdout:
                self.lines.append((time.monotonic(), line))
                copy.write(line)

    @property
    def events(self) -> list[dict]:
        """The JSON lines so far, each with ``_t``: wall seconds since the daemon was started."""
        out = []
        for t, line in list(self.lines):
            for e in parse_json_lines(line):
                e["_t"] = t - self.t0
                out.append(e)
        return out

    def named(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == name]

    def tail(self, n: int = 30) -> str:
        return "".join(line for _, line in list(self.lines)[-n:]) + self.err_path.read_text()[-3000:]

    def wait_for(self, pred: Callable[[dict], bool], timeout: float) -> dict | None:
        """The first event matching ``pred`` within ``timeout`` s (None if none, or if the daemon exited)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            events = self.events
            for e in events[seen:]:
                if pred(e):
                    return e
            seen = len(events)
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._reader.is_alive()):
                return None
            time.sleep(0.02)

    def wait_event(self, name: str, timeout: float) -> dict | None:
        return self.wait_for(lambda e: e.get("event") == name, timeout)

    def stop(self, sig: signal.Signals, timeout: float = 30) -> None:
        """Send ``sig`` and wait for the exit (killed after ``timeout`` s); ``exit_s`` says how long it took."""
        t = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
            self.exit_s = time.monotonic() - t
        except subprocess.TimeoutExpired:
            self.exit_s = float("inf")
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)


def parse_json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


@contextlib.contextmanager
def processes(*procs: Emulator | Daemon) -> Iterator[None]:
    """Kill whatever is still running at the end, whatever happened."""
    try:
        yield
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                p.kill() if isinstance(p, Daemon) else p.stop()


# ---------------------------------------------------------------- the journal


def journal(cwd: Path) -> sqlite3.Connection:
    path = cwd / "omni-state" / "journal.sqlite"
    assert path.exists(), f"no journal at {path}"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    return db


def journal_rows(cwd: Path, sql: str) -> list[sqlite3.Row]:
    with contextlib.closing(journal(cwd)) as db:
        return list(db.execute(sql))


# ---------------------------------------------------------------- one run, stopped


@dataclass
class Outcome:
    """A scenario's checked run (the last daemon of the scenario), with the exchange's state at its end."""

    name: str
    daemon: Daemon
    exchange: dict[str, Any]
    max_concurrent: int = 10
    figures: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> list[dict]:
        return self.daemon.events

    @property
    def summary(self) -> dict:
        found = self.daemon.named("final_summary")
        assert found, f"no final_summary line:\n{self.daemon.tail()}"
        return found[-1]

    def report(self, **more: Any) -> None:
        self.figures.update(more)
        (self.daemon.cwd / "figures.json").write_text(json.dumps(self.figures, indent=1, default=str))
        print(f"\n[acceptance] {self.name}: " + ", ".join(f"{k}={v}" for k, v in self.figures.items()), flush=True)


def run_figures(daemon: Daemon, exchange: dict[str, Any]) -> dict[str, Any]:
    summaries = daemon.named("final_summary")
    return {
        "exit_s": None if daemon.exit_s is None else round(daemon.exit_s, 2),
        "orders_logged": len(daemon.named("order")),
        "fills_logged": len(daemon.named("fill")),
        "trades_total": summaries[-1].get("trades_total") if summaries else None,
        "exchange_orders": len(exchange["orders"]),
        "exchange_executions": len(exchange["executions"]),
        "journal_fills": len(journal_rows(daemon.cwd, "SELECT exec_id FROM fills")) if _has_journal(daemon) else 0,
        "open_at_end": len(exchange["positions"]),
    }


def _has_journal(daemon: Daemon) -> bool:
    return (daemon.cwd / "omni-state" / "journal.sqlite").exists()


# ---------------------------------------------------------------- the checks after every run


def check_clean_exit(o: Outcome) -> None:
    bad = [e for e in o.events if e.get("event") in ("task_crashed", "task_gave_up")]
    assert not bad, f"tasks crashed or gave up: {bad}"
    assert o.daemon.proc.returncode == 0, f"exit code {o.daemon.proc.returncode}:\n{o.daemon.tail()}"
    assert o.daemon.exit_s is not None and o.daemon.exit_s < SHUTDOWN_TIMEOUT_S + EXIT_SLACK_S, o.daemon.exit_s
    assert o.summary


def check_stops(o: Outcome) -> None:
    unprotected = [p for p in o.exchange["positions"] if p.get("stopLoss") in (None, "", "0")]
    assert not unprotected, f"open positions without a stop-loss on the exchange: {unprotected}"
    naked = [e for e in o.events if e.get("event") == "position" and e["size"] != "0" and e.get("stop_loss") is None]
    assert not naked, f"position lines without a stop-loss: {naked[:3]}"


def check_executions(o: Outcome) -> None:
    booked = Counter(r["exec_id"] for r in journal_rows(o.daemon.cwd, "SELECT exec_id FROM fills"))
    listed = Counter(x["execId"] for x in o.exchange["executions"])
    assert all(n == 1 for n in listed.values()), "the exchange listed an execution twice"
    missing, extra = set(listed) - set(booked), set(booked) - set(listed)
    newest = max((int(x["execTime"]) for x in o.exchange["executions"]), default=0)
    assert not missing and not extra, (
        f"journal != exchange: {len(missing)} of {len(listed)} executions on the exchange only, {len(extra)} in "
        f"the journal only {sorted(extra)[:5]}; exchange server time {o.exchange['server_time_ms']}, newest "
        f"execTime {newest}; first missing: "
        f"{[_brief(x) for x in o.exchange['executions'] if x['execId'] in missing][:4]}"
    )


def _brief(x: dict) -> dict:
    keys = ("execId", "symbol", "side", "execQty", "execType", "createType", "orderLinkId", "execTime")
    return {k: x.get(k) for k in keys}


def check_identity(o: Outcome) -> None:
    assert_accounting_identity(o.summary)


def exchange_position_peak(executions: list[dict]) -> tuple[int, list[str]]:
    """The most positions the account held at once, from its executions in order; and the entries that filled
    on a symbol that already had a position open in the same direction (a doubled entry)."""
    size: dict[str, Decimal] = {}
    peak, doubled = 0, []
    for x in sorted(executions, key=lambda x: int(x["seq"])):
        if x["execType"] not in ("Trade", "BustTrade"):
            continue
        signed = Decimal(x["execQty"]) * (1 if x["side"] == "Buy" else -1)
        before = size.get(x["symbol"], Decimal(0))
        if before * signed > 0 and x.get("createType") == "CreateByUser" and x.get("closedSize") in ("0", ""):
            doubled.append(x["execId"])
        size[x["symbol"]] = before + signed
        if size[x["symbol"]] == 0:
            del size[x["symbol"]]
        peak = max(peak, len(size))
    return peak, doubled


def check_cap(o: Outcome) -> None:
    peak, doubled = exchange_position_peak(o.exchange["executions"])
    assert peak <= o.max_concurrent, f"the exchange held {peak} positions at once > max {o.max_concurrent}"
    assert not doubled, f"entries filled on top of an open position (a duplicate entry): {doubled}"
    # the daemon's own view, up to the signal (the shutdown's late pushes are flat_at_exit's business)
    events = o.events
    stop = next((i for i, e in enumerate(events) if e.get("event") == "shutdown_requested"), len(events))
    assert_run_invariants(Run(0, events[:stop], "", None), o.max_concurrent)


def check_no_entry_after_signal(o: Outcome) -> None:
    """SIGINT/SIGTERM: no entry is sent after the signal."""
    asked = o.daemon.named("shutdown_requested")
    assert asked, "no shutdown_requested line"
    # an entry is journaled (created_ts, the venue's clock) just before it is sent, after its set-leverage call:
    # one decided before the signal may be in flight across it (the trader sends one at a time); none decided
    # after the signal, and no second one, may be sent
    signal_ms = iso_ms(asked[0]["timestamp"])
    offset = max((abs(int(e.get("clock_offset_ms") or 0)) for e in o.daemon.named("venue_connected")), default=0)
    sent_after = [
        r
        for r in journal_rows(o.daemon.cwd, "SELECT * FROM orders WHERE reduce_only = 0")
        if r["created_ts"] > signal_ms + offset + 5
    ]
    decided_before = set()
    for e in o.events:
        if e.get("event") == "shutdown_requested":
            break
        if e.get("event") == "decision" and e.get("client_id"):
            decided_before.add(e["client_id"])
    late = [(r["symbol"], r["client_id"], r["created_ts"] - signal_ms) for r in sent_after]
    in_flight = len(sent_after) == 1 and sent_after[0]["client_id"] in decided_before
    assert not late or in_flight, f"entries sent after shutdown_requested (symbol, id, ms after the signal): {late}"


def check_flat_at_exit(o: Outcome) -> None:
    """on_shutdown: close: the exchange is flat after the exit, and the daemon's last word agrees."""
    held = [(p["symbol"], p["side"], p["size"]) for p in o.exchange["positions"]]
    assert not held, f"on_shutdown close, exit {o.daemon.proc.returncode}, yet the exchange still holds {held}"
    assert o.summary.get("active_trades", 0) == 0, f"final_summary active_trades {o.summary.get('active_trades')}"


def iso_ms(timestamp: str) -> int:
    """Epoch ms of a log line's ISO timestamp (UTC, ``...Z``)."""
    return round(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


CHECKS: dict[str, Callable[[Outcome], None]] = {
    "clean_exit": check_clean_exit,
    "stops": check_stops,
    "executions": check_executions,
    "identity": check_identity,
    "cap": check_cap,
    "no_entry_after_signal": check_no_entry_after_signal,
    "flat_at_exit": check_flat_at_exit,
}
SCENARIOS = ("scale_3tf", "scale_1m", "warmup_sigint", "chaos", "restart")

# ---------------------------------------------------------------- known bugs (xfail, not strict)

#: fixed in this issue and checked by the tests below without a mark (found by these runs): executions lost in a
#: private gap (the cursor moved on socket pushes), the shutdown meeting an already-closed position, stale position
#: pushes re-opening closed positions in the ledger, and an entry whose position was never reported keeping its
#: slot for good; the reason texts are in the git history of this file.
KNOWN: dict[tuple[str, str], str] = {}  # (check, scenario) -> why it is expected to fail; none left


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("check", list(CHECKS))
def test_after_every_run(request, check, scenario):
    if (check, scenario) in KNOWN:
        request.applymarker(pytest.mark.xfail(strict=False, reason=KNOWN[check, scenario]))
    outcome: Outcome = request.getfixturevalue(scenario)
    CHECKS[check](outcome)


# ---------------------------------------------------------------- 1. the full market, closes racing the warm-up


def full_market(cwd: Path) -> Emulator:
    emulator = Emulator(cwd, symbols=1000, bar_seconds=0.2)
    if emulator.symbols() < 500:
        emulator.stop()
        pytest.skip(f"the emulator lists {emulator.symbols()} symbols: shared instruments (../shared/data) absent")
    return emulator


def scale_run(cwd: Path, name: str, timeframes: str | None) -> Outcome:
    emulator = full_market(cwd)
    env = {k: v for k, v in ACTIVE.items() if k != "OMNI_STRATEGY__TIMEFRAMES"}
    if timeframes is not None:
        env["OMNI_STRATEGY__TIMEFRAMES"] = timeframes
    daemon = Daemon(cwd, emulator, **env)
    with processes(daemon, emulator):
        done = daemon.wait_event("warmup_done", 90)
        acted = None
        if done is not None:  # trading, or at least deciding, on live bars
            acted = daemon.wait_for(lambda e: e.get("event") in ("order", "decision") and e["_t"] > done["_t"], 30)
            time.sleep(2)  # an entry fills, its stop is set
        daemon.stop(signal.SIGINT)
        exchange = emulator.state(cwd)
    outcome = Outcome(name, daemon, exchange, extra={"warmup_done": done, "acted": acted})
    connected, loaded = daemon.named("venue_connected"), daemon.named("warmup_loaded")
    if connected and loaded:
        outcome.figures.update(
            symbols=connected[0]["symbols"],
            sockets=connected[0].get("sockets"),
            connect_s=connected[0]["seconds"],
            warmup_load_s=loaded[0]["seconds"],
            connect_plus_warmup_s=round(float(connected[0]["seconds"]) + float(loaded[0]["seconds"]), 2),
            warmup_done_at_s=None if done is None else round(done["_t"], 2),
            warmup_minutes=loaded[0].get("minutes"),
            warmup_bars=loaded[0].get("bars"),
            warmup_rest_calls=loaded[0].get("rest_calls"),
            decisions=len(daemon.named("decision")),
        )
    outcome.report(**run_figures(daemon, exchange))
    return outcome


@pytest.fixture(scope="module")
def scale_3tf(tmp_path_factory) -> Outcome:
    return scale_run(tmp_path_factory.mktemp("scale_3tf"), "full market, 1m/3m/5m", None)


@pytest.fixture(scope="module")
def scale_1m(tmp_path_factory) -> Outcome:
    return scale_run(tmp_path_factory.mktemp("scale_1m"), "full market, 1m", "[1m]")


@pytest.mark.parametrize("scenario", ["scale_3tf", "scale_1m"])
def test_full_market_warms_up_while_closes_race_it_then_trades_and_stops_on_sigint(request, scenario):
    o: Outcome = request.getfixturevalue(scenario)
    assert o.extra["warmup_done"] is not None, f"no warmup_done within 90 s:\n{o.daemon.tail()}"
    assert o.extra["acted"] is not None, f"neither an order nor a decision after the warm-up:\n{o.daemon.tail()}"
    assert o.figures["symbols"] >= 500
    assert o.figures["connect_plus_warmup_s"] < 90  # a sanity bound; the figure itself is printed
    assert o.daemon.proc.returncode == 0 and o.daemon.named("final_summary")


# ---------------------------------------------------------------- 2. SIGINT during the warm-up and during connect


@pytest.fixture(scope="module")
def warmup_sigint(tmp_path_factory) -> Outcome:
    cwd = tmp_path_factory.mktemp("warmup_sigint")
    emulator = full_market(cwd)
    with processes(emulator):
        warming = Daemon(cwd / "warmup", emulator)
        with processes(warming):
            progress = warming.wait_event("warmup_progress", 60)
            warming.stop(signal.SIGINT)
            exchange = emulator.state(warming.cwd)
        outcome = Outcome("SIGINT during warm-up", warming, exchange, extra={"progress": progress})
        # a second daemon on the same emulator: SIGINT as soon as it has logged its config, before it connects
        connecting = Daemon(cwd / "connect", emulator)
        with processes(connecting):
            outcome.extra["config"] = connecting.wait_event("config", 20)
            connecting.stop(signal.SIGINT)
        outcome.extra["connecting"] = connecting
        outcome.extra["executions_after"] = len(emulator.executions())
    outcome.figures.update(
        warmup_progress=None if progress is None else f"{progress['symbols']}/{progress['of']}",
        warmup_sigint_at_s=None if progress is None else round(progress["_t"], 2),
        warmup_exit_s=warming.exit_s and round(warming.exit_s, 2),
        connect_sigint_at_s=outcome.extra["config"] and round(outcome.extra["config"]["_t"], 2),
        connect_exit_s=connecting.exit_s and round(connecting.exit_s, 2),
    )
    outcome.report()
    return outcome


def test_sigint_at_the_first_warm_up_progress_line_exits_0_quickly_with_a_final_summary(warmup_sigint):
    o = warmup_sigint
    assert o.extra["progress"] is not None, f"no warmup_progress within 60 s:\n{o.daemon.tail()}"
    assert not o.daemon.named("warmup_done"), "the warm-up was over before the signal: not this test"
    assert o.daemon.proc.returncode == 0, o.daemon.tail()
    assert o.daemon.exit_s is not None and o.daemon.exit_s < SHUTDOWN_TIMEOUT_S + EXIT_SLACK_S
    assert o.summary["trades_total"] == 0


def test_sigint_while_connecting_exits_0_quickly_with_a_final_summary(warmup_sigint):
    connecting: Daemon = warmup_sigint.extra["connecting"]
    assert warmup_sigint.extra["config"] is not None, connecting.tail()
    assert not [e for e in connecting.events if e.get("event") in ("task_crashed", "task_gave_up")]
    assert connecting.proc.returncode == 0, connecting.tail()
    assert connecting.exit_s is not None and connecting.exit_s < SHUTDOWN_TIMEOUT_S + EXIT_SLACK_S
    stopping = connecting.named("shutdown_requested")
    # "start": the signal came before the event loop took over (while pybit's sessions were being built)
    phase = stopping[0].get("phase") if stopping else None
    assert phase in ("start", "connect"), f"not stopped while connecting:\n{connecting.tail()}"
    assert not connecting.named("venue_connected")
    summary = connecting.named("final_summary")
    assert summary and summary[-1]["phase"] == "connect" and summary[-1]["trades_total"] == 0, connecting.tail()
    assert json.loads(connecting.summary_path.read_text())["phase"] == "connect"
    assert warmup_sigint.extra["executions_after"] == 0


# ---------------------------------------------------------------- 3. chaos


#: one position at a time: an entry after one the exchange cancelled shows the cancelled one freed its slot
CHAOS_CAP = 1
#: seconds of trading under the faults: at least the first, at most the second
CHAOS_MIN_S, CHAOS_MAX_S = 30, 55
CHAOS_FLAGS = (
    "--chaos-seed", "7",
    "--chaos-ws-drop-every", "3",
    "--chaos-private-gap-every", "4", "--chaos-private-gap-seconds", "2",
    "--chaos-reply-lost-rate", "0.2",
    "--chaos-cancel-market-rate", "0.2",
    "--chaos-rest-fail-rate", "0.05",
    "--chaos-rate-limit-every", "5",
)  # fmt: skip


@pytest.fixture(scope="module")
def chaos(tmp_path_factory) -> Outcome:
    cwd = tmp_path_factory.mktemp("chaos")
    emulator = Emulator(cwd, *CHAOS_FLAGS, symbols=20, bar_seconds=0.1)
    daemon = Daemon(cwd, emulator, OMNI_RISK__MAX_CONCURRENT_TRADES=str(CHAOS_CAP), **ACTIVE)
    with processes(daemon, emulator):
        if daemon.wait_event("warmup_done", 40) is not None:
            started = time.monotonic()
            # trade under the faults for 30 s, longer (up to 55 s) until the rarer faults have fired enough
            while daemon.proc.poll() is None and time.monotonic() - started < CHAOS_MAX_S:
                time.sleep(1)
                fired = emulator.chaos()
                enough = fired["reply_lost"] > 0 and entry_after_cancels(daemon, CHAOS_CAP)
                if time.monotonic() - started >= CHAOS_MIN_S and enough:
                    break
        alive = daemon.proc.poll() is None
        traded_s = round(time.monotonic() - daemon.t0, 1)
        daemon.stop(signal.SIGTERM)
        exchange = emulator.state(cwd)
        fired = emulator.chaos()
    outcome = Outcome("chaos", daemon, exchange, max_concurrent=CHAOS_CAP, extra={"fired": fired, "alive": alive})
    entries = [o for o in exchange["orders"] if not o.get("reduceOnly") and o.get("orderLinkId")]
    cancelled = [i for i, o in enumerate(entries) if o.get("rejectReason") == NO_FULL_FILL]
    outcome.extra.update(entries=entries, cancelled=cancelled)
    peak, _ = exchange_position_peak(exchange["executions"])
    outcome.report(
        run_s=traded_s,
        chaos=dict(fired),
        entries=len(entries),
        cancelled_entries=len(cancelled),
        entries_after_first_cancel=len(entries) - 1 - cancelled[0] if cancelled else None,
        ws_reconnected=len(daemon.named("ws_reconnected")),
        resync_failed=len(daemon.named("resync_failed")),
        rejects=len(daemon.named("reject")),
        exchange_peak_positions=peak,
        idle_at_end_s=round(idle_at_end(outcome), 1),
        **run_figures(daemon, exchange),
    )
    return outcome


def entry_after_cancels(daemon: Daemon, n: int) -> bool:
    """Has the daemon sent an entry after its ``n``-th cancelled one (from its log)?"""
    seen = 0
    for e in daemon.events:
        if e.get("event") == "cancel":
            seen += 1
        elif seen >= n and e.get("event") == "order" and e.get("reduce_only") is False:
            return True
    return False


#: the longest stretch without an entry (s) that still counts as trading, one position at a time under faults
CHAOS_IDLE_S = 20


def idle_at_end(o: Outcome) -> float:
    """Seconds from the last entry (or the warm-up's end) to the stop signal."""
    marks = [
        e["_t"]
        for e in o.events
        if e.get("event") in ("warmup_done", "order") and e.get("reduce_only") in (None, False)
    ]
    stop = [e["_t"] for e in o.events if e.get("event") == "shutdown_requested"]
    return stop[0] - max(marks) if marks and stop else float("inf")


def xfail_if_stalled(o: Outcome) -> None:
    """Entries stopped (test_chaos_the_daemon_keeps_entering_to_the_end fails for that): what this test needs
    may then not have happened, so it does not report the same fault twice."""
    if idle_at_end(o) > CHAOS_IDLE_S:
        pytest.xfail(f"no entry for the last {idle_at_end(o):.0f} s (reported by the keeps-entering test)")


def test_chaos_every_fault_fired_and_the_daemon_rode_through(chaos):
    fired = chaos.extra["fired"]
    assert chaos.extra["alive"], f"the daemon did not survive the faults:\n{chaos.daemon.tail()}"
    assert chaos.daemon.named("ws_reconnected"), "no ws_reconnected line although the sockets were dropped"
    for kind in ("ws_drop", "private_gap", "rate_limit", "rest_fail"):
        assert fired[kind] > 0, f"chaos {kind} never fired: {fired}"
    if not (fired["reply_lost"] and fired["cancel_market"]):  # these need orders
        xfail_if_stalled(chaos)
    assert fired["reply_lost"] > 0 and fired["cancel_market"] > 0, fired
    assert len(chaos.daemon.named("order")) >= 5, "hardly traded under the faults"


@pytest.mark.xfail(
    strict=False,
    reason="entries still stall at the end of some chaos runs on a clean clone "
    "(the pending-slot leak is fixed; this remaining cause is not yet found)",
)
def test_chaos_the_daemon_keeps_entering_to_the_end(chaos):
    assert idle_at_end(chaos) <= CHAOS_IDLE_S, (
        f"no entry for the last {idle_at_end(chaos):.1f} s of the run\n{stall_report(chaos)}"
    )


def stall_report(o: Outcome) -> str:
    """What the daemon said while it did not enter: the decisions' verdicts and reasons, its last summary (open
    trades, kill switch), and the warnings and errors of that time, for finding the cause of a stall."""
    marks = [e["_t"] for e in o.events if e.get("event") in ("warmup_done", "order") and not e.get("reduce_only")]
    since = max(marks) if marks else 0.0
    quiet = [e for e in o.events if e.get("_t", 0) >= since]
    reasons = Counter(f"{e.get('verdict')}:{e.get('reason')}" for e in quiet if e.get("event") == "decision")
    summaries = [e for e in quiet if e.get("event") == "summary"]
    last = summaries[-1] if summaries else {}
    keep = ("active_trades", "kill_switch", "decisions", "orders", "rejects", "trades_today")
    noisy = Counter(e.get("event") for e in quiet if e.get("level") in ("warning", "error"))
    return (
        f"decisions since the last entry: {dict(reasons.most_common(12))}\n"
        f"last summary: { {k: last.get(k) for k in keep} }\nwarnings/errors since: {dict(noisy.most_common(12))}"
    )


def test_chaos_no_order_placed_twice(chaos):
    orders = chaos.exchange["orders"]
    links = Counter(o["orderLinkId"] for o in orders if o.get("orderLinkId"))
    assert not [k for k, n in links.items() if n > 1], f"orderLinkIds on two exchange orders: {links.most_common(3)}"
    journaled = journal_rows(chaos.daemon.cwd, "SELECT client_id, reduce_only FROM orders")
    assert all(links[r["client_id"]] <= 1 for r in journaled if not r["reduce_only"])
    known = {r["client_id"] for r in journaled}
    orphans = [o["orderLinkId"] for o in orders if o.get("orderLinkId") and o["orderLinkId"] not in known]
    assert not orphans, f"exchange orders the journal does not know (sent twice under new ids?): {orphans[:5]}"
    _, doubled = exchange_position_peak(chaos.exchange["executions"])
    assert not doubled, f"entries filled on top of an open position: {doubled}"


def test_chaos_cancelled_market_entries_free_their_slot(chaos):
    entries, cancelled = chaos.extra["entries"], chaos.extra["cancelled"]
    assert chaos.extra["fired"]["cancel_market"] == len(cancelled)
    if not cancelled or cancelled[-1] == len(entries) - 1:
        xfail_if_stalled(chaos)
    assert len(cancelled) >= CHAOS_CAP, f"only {len(cancelled)} entries cancelled: too few to show freed slots"
    # with a cap of CHAOS_CAP, CHAOS_CAP cancelled entries that kept their slots would stop the entries for good
    after = len(entries) - 1 - cancelled[CHAOS_CAP - 1]
    assert after > 0, f"no entry after the {CHAOS_CAP}th cancelled one: cancelled entries kept their slots"
    cancel_lines = [e for e in chaos.events if e.get("event") == "cancel"]
    assert cancel_lines, "the daemon never logged a cancelled entry"


# ---------------------------------------------------------------- 4. SIGKILL with an open position, restart


@pytest.fixture(scope="module")
def restart(tmp_path_factory) -> Outcome:
    cwd = tmp_path_factory.mktemp("restart")
    emulator = Emulator(cwd, symbols=20, bar_seconds=0.1)
    with processes(emulator):
        first = Daemon(cwd, emulator, **ACTIVE)
        with processes(first):
            # kill at a moment the exchange holds a position (one may close within a few 0.1 s bars)
            deadline = time.monotonic() + 60
            held = None
            while time.monotonic() < deadline:
                held = first.wait_for(
                    lambda e: e.get("event") == "position" and e.get("size") not in (None, "0"),
                    max(0.1, deadline - time.monotonic()),
                )
                if held is None:
                    break
                time.sleep(0.5)
                if emulator.positions():
                    held = [e for e in first.events if e.get("event") == "position"][-1]  # the latest
                    break
            first.kill()  # SIGKILL
        at_kill = {x["execId"] for x in emulator.executions()}
        held_at_kill = emulator.positions()
        booked_at_kill = {r["exec_id"] for r in journal_rows(cwd, "SELECT exec_id FROM fills")}
        meta = journal_rows(cwd, "SELECT value FROM meta WHERE key = 'capital_start'")
        time.sleep(5)  # the exchange trades on: a stop or a take-profit may fill while the daemon is down
        while_down = {x["execId"] for x in emulator.executions()} - at_kill
        second = Daemon(cwd, emulator, **ACTIVE)
        with processes(second):
            connected = second.wait_event("venue_connected", 30)
            if connected is not None:
                second.wait_for(lambda e: False, 15)
            second.stop(signal.SIGTERM)
            exchange = emulator.state(cwd)
    outcome = Outcome("SIGKILL + restart", second, exchange)
    outcome.extra.update(first=first, held=held, meta=meta, while_down=while_down, held_at_kill=held_at_kill)
    outcome.report(
        position_at_kill=held and f"{held['symbol']} {held['size']}",
        exchange_positions_at_kill=len(held_at_kill),
        executions_while_down=len(while_down),
        booked_while_down=len(while_down & {r["exec_id"] for r in journal_rows(cwd, "SELECT exec_id FROM fills")}),
        unbooked_at_kill=len(at_kill - booked_at_kill),
        **run_figures(second, exchange),
    )
    return outcome


def test_restart_after_sigkill_with_an_open_position_resumes_on_the_same_journal(restart):
    assert restart.extra["held"] is not None, f"no open position within 60 s:\n{restart.extra['first'].tail()}"
    assert restart.extra["first"].proc.returncode == -signal.SIGKILL
    assert restart.extra["held_at_kill"], "the exchange held no position when the daemon was killed"
    assert restart.daemon.named("venue_connected"), restart.daemon.tail()
    assert restart.figures["executions_while_down"] > 0, "nothing filled while the daemon was down: not this test"


def test_restart_keeps_the_first_runs_capital_start(restart):
    meta = restart.extra["meta"]
    assert meta, "no capital_start in the journal of the first run"
    assert Decimal(restart.summary["capital_start"]) == Decimal(json.loads(meta[0]["value"]))


# ---------------------------------------------------------------- the summary's start capital on a live venue


def test_final_summary_capital_start_is_the_exchange_wallet(tmp_path):
    """capital_usdt is the *sim* wallet; on Bybit the run starts with the account's wallet."""
    emulator = Emulator(tmp_path, symbols=10, bar_seconds=0.1)
    daemon = Daemon(tmp_path, emulator, OMNI_CAPITAL_USDT="12", **ACTIVE)
    with processes(daemon, emulator):
        assert daemon.wait_event("warmup_done", 40) is not None, daemon.tail()
        daemon.stop(signal.SIGTERM)
    summary = Outcome("capital_start", daemon, {}).summary
    keys = ("capital_start", "capital", "total_profit", "realised_pnl", "fees_paid", "funding_paid")
    print(f"\n[acceptance] capital_usdt=12, wallet {BALANCE}: " + ", ".join(f"{k}={summary[k]}" for k in keys))
    assert daemon.proc.returncode == 0
    assert Decimal(summary["capital_start"]) == BALANCE
    assert_accounting_identity(summary)

"""The daemon's asyncio shell: a TaskGroup of cooperating tasks, crash restarts, signals, clean shutdown.

Tasks:
- ``market``: the venue stream and the hot path (events -> ledger -> pipeline -> risk guard -> executor);
- ``guard``: a watchdog over the account (positions without a stop-loss, a tripped kill switch) on wall time;
- ``telemetry``: the periodic ``summary`` line.
- the venue's own tasks (Bybit: socket watchdogs, warm-up, gap fills, resync, tickers, instruments, clock).
A crashed task is logged (``task_crashed``) and restarted with exponential backoff up to
``engine.max_task_restarts`` times in a row (the budget refills after ``engine.restart_budget_reset_s`` of
health); then the daemon stops cleanly. SIGINT/SIGTERM: stop new entries, close
or keep positions (``engine.on_shutdown``), print the final summary, exit 0. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from omni.clock import monotonic
from omni.domain.events import PositionChanged
from omni.engine.assembly import Assembly
from omni.engine.telemetry import jsonable
from omni.venues.sim import SimVenue

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_SECOND_SIGNAL = 130
#: a signal this soon (s) after the first is the same stop request, not the "exit now" of a second one
REPEAT_SIGNAL_S = 1.0


#: how far back the final resync of a live venue re-reads executions the journal may lack
FINAL_REREAD_MS = 3_600_000


class Supervisor:
    def __init__(self, asm: Assembly, log: Any, summary_json: Path | None = None):
        self.asm = asm
        self.log = log
        self.summary_json = summary_json
        self.stop = asyncio.Event()
        self.failed: str | None = None
        self.signals = 0
        self.metrics: Any = None
        self.progress: Callable[..., None] | None = None  # called twice a second (backtest progress bar)
        self._first_signal_at = 0.0
        self.handle_signals = True  # off in a sweep's worker: its process owner stops it (SIGTERM ends it at once)

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop)
        try:  # the handlers stay until the summary and the journal are written: a late signal cannot cut them short
            return await self._run()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _run(self) -> int:
        cfg = self.asm.cfg
        started = monotonic()
        self.log.info("start", venue=self.asm.venue.name, capital_usdt=cfg.capital_usdt, **self.asm.source_info)
        if self.asm.guard.kill_switch is not None:
            self.log.error(
                "kill_switch_latched",
                reason=self.asm.guard.kill_switch,
                hint="no new entries; reset with `omni reset-kill-switch` or `omni run --reset-kill-switch`",
            )
        try:
            await self.reconcile()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._supervise("market", self._market), name="market")
                venue_tasks = getattr(self.asm.venue, "tasks", None)
                for tname, tfn in (venue_tasks() if venue_tasks else {}).items():
                    tg.create_task(self._supervise(tname, lambda f=tfn: f(self.stop)), name=tname)
                tg.create_task(self._supervise("guard", self._guard_loop), name="guard")
                tg.create_task(self._supervise("telemetry", self._telemetry_loop), name="telemetry")
                if self.progress is not None:
                    tg.create_task(self._progress_loop(), name="progress")
                if self.asm.journal is not None:
                    tg.create_task(self._supervise("journal", self._journal_loop), name="journal")
                port = self.asm.cfg.telemetry.metrics_port
                if port is not None:
                    from omni.engine.metrics import MetricsServer

                    self.metrics = MetricsServer(self.asm, "127.0.0.1", port)
                    tg.create_task(self._supervise("metrics", lambda: self.metrics.run(self.stop)), name="metrics")
            await self._shutdown()
        finally:
            await self.asm.venue.close()
        summary = self._summary()
        summary["wall_seconds"] = round(monotonic() - started, 3)
        summary["bars"] = self.asm.trader.bars
        summary["symbols"] = len(self.asm.venue.instruments)
        summary["market_start_ts"] = self.asm.trader.first_ts
        summary["market_source"] = self.asm.source_info.get("source")
        pace = self.asm.pipeline.pacer.pace(self.asm.venue.now_ms(), self.asm.portfolio.trades_today)
        summary["pace"] = {
            "status": pace.status,
            "trades_today": pace.trades_today,
            "target": pace.target,
            "expected_by_now": pace.expected_by_now,
        }
        self.log.info("final_summary", **summary)
        if self.asm.journal is not None:
            self.asm.journal.snapshot(summary, self.asm.venue.now_ms())
            try:
                await self.asm.journal.flush()
            except Exception as e:
                self.log.error("journal_final_flush_failed", error=repr(e), pending=len(self.asm.journal.pending))
                self.failed = self.failed or "journal"
            self.asm.journal.journal.close()
        if self.summary_json is not None:
            self.summary_json.parent.mkdir(parents=True, exist_ok=True)
            self.summary_json.write_text(json.dumps(jsonable(summary), indent=2) + "\n")
        return EXIT_TASK_FAILED if self.failed else EXIT_OK

    async def reconcile(self) -> None:
        """Before any new entry: adopt the venue's positions the journal knows, close or adopt (per
        ``engine.unknown_positions``) the ones it does not, and make sure every kept position has a stop."""
        asm = self.asm
        policy = asm.cfg.engine.unknown_positions
        for symbol, pos in (await asm.venue.positions()).items():
            known = symbol in asm.known_positions
            if known or policy == "adopt":
                self.log.warning(
                    "position_adopted",
                    symbol=symbol,
                    side=pos.side,
                    size=pos.size,
                    known=known,
                    stop_loss=pos.stop_loss,
                )
                asm.portfolio.positions[symbol] = pos
                asm.portfolio.adopt(symbol, pos.side, pos.opened_ts or asm.venue.now_ms())  # closes on its side
                if pos.stop_loss is None:
                    await asm.trader.apply(await asm.executor.protect(pos))
            else:
                self.log.warning("unknown_position_closing", symbol=symbol, side=pos.side, size=pos.size)
                await asm.trader.apply(await asm.executor.close(symbol, pos))

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed: list[int] = []
        if not self.handle_signals:
            return installed
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread, or not supported
                pass
        return installed

    def _on_signal(self, sig: int) -> None:
        self.signals += 1
        now = monotonic()
        if self.signals > 1 and now - self._first_signal_at < REPEAT_SIGNAL_S:
            # the same request delivered twice (`timeout` and `kill -- -PGID` signal the process and its group)
            self.log.info("signal_repeated", signal=signal.Signals(sig).name)
            return
        if self.signals > 1:
            self.log.warning("second_signal_exit_now", signal=signal.Signals(sig).name)
            os._exit(EXIT_SECOND_SIGNAL)
        self._first_signal_at = now
        self.log.info(
            "shutdown_requested", signal=signal.Signals(sig).name, on_shutdown=self.asm.cfg.engine.on_shutdown
        )
        self.request_stop()

    def request_stop(self) -> None:
        self.asm.pipeline.entries_enabled = False
        self.stop.set()

    async def _shutdown(self) -> None:
        """Stop entries; close or keep positions per config, within the shutdown timeout."""
        asm = self.asm
        asm.pipeline.entries_enabled = False
        mode = asm.cfg.engine.on_shutdown
        positions = await asm.venue.positions()
        if mode == "close" and (positions or asm.guard.pending):
            timeout = asm.cfg.engine.shutdown_timeout_s
            try:
                async with asyncio.timeout(timeout):
                    for _ in range(3):  # an entry in flight at the stop shows up only after the first settle
                        await asm.trader.apply(await asm.executor.flatten())
                        await asm.trader.apply(await asm.venue.settle(max(0.5, timeout / 4)))
                        positions = await asm.venue.positions()
                        if not positions:
                            break
                # the sim cannot fill a symbol it has no bar for yet (a resumed run stopped before its market
                # reached them); a Bybit close needs no price of ours
                sim = isinstance(asm.venue, SimVenue)
                unpriced = sorted(s for s in positions if sim and asm.venue.last_price(s) is None)
                if unpriced:  # never a close into a market with no price: kept, said, closed by a later run
                    self.log.warning("shutdown_close_deferred", open_positions=unpriced,
                                     why="no market price seen for them yet in this run; they stay open in the "
                                     "journal and the venue until a later run sees their market")  # fmt: skip
                left = sorted(s for s in positions if s not in unpriced)
                if left:
                    self.log.error("shutdown_positions_left", open_positions=left)
            except TimeoutError:
                self.log.error("shutdown_close_timeout", open_positions=sorted(positions))
        elif positions:
            self.log.info("shutdown_keep_positions", open_positions=sorted(positions))
        await self._final_reconcile()

    async def _final_reconcile(self) -> None:
        """The ledger's last word is the exchange's: one more settle (a REST resync on Bybit), then every
        position the ledger holds and the venue does not (or holds differently) is corrected and journaled, so
        the final summary never reports trades a late or stale push left open."""
        asm = self.asm
        forget = getattr(asm.venue, "forget_unbooked", None)
        if forget is not None and asm.journal is not None:
            # what the venue saw but the ledger never booked (handled by a stream the stopped market task was
            # reading) is read again: only the journal's execIds count as booked
            since = asm.venue.now_ms() - FINAL_REREAD_MS
            try:
                forget(await asm.journal.read(lambda j: j.exec_ids_since(since - 3_600_000)), since)
            except Exception as e:
                self.log.error("shutdown_reread_unavailable", error=repr(e))
        try:
            await asm.trader.apply(await asyncio.wait_for(asm.venue.settle(0.2), asm.cfg.engine.shutdown_timeout_s))
        except Exception as e:  # the exchange is unreachable: say so, keep what we know
            self.log.error("shutdown_resync_failed", error=repr(e))
            return
        venue_positions = await asm.venue.positions()
        mine = asm.portfolio.positions
        now = asm.venue.now_ms()
        events: list[Any] = [PositionChanged(s, None, now) for s in mine if s not in venue_positions]
        for sym, pos in venue_positions.items():
            held = mine.get(sym)
            if held is None or (held.side, held.size) != (pos.side, pos.size):
                events.append(PositionChanged(sym, pos, now))
        if events:
            self.log.warning("shutdown_ledger_reconciled", ledger=sorted(mine), exchange=sorted(venue_positions))
            await asm.trader.apply(events)

    # ------------------------------------------------------------ tasks

    async def _supervise(self, name: str, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn`` until it returns; a crash is logged (``task_crashed``) and restarted with exponential
        backoff, up to ``engine.max_task_restarts`` times in a row; a task that then ran healthy for
        ``engine.restart_budget_reset_s`` gets its restarts back (a weeks-long run meets rare faults)."""
        eng = self.asm.cfg.engine
        failures = 0
        while True:
            started = monotonic()
            try:
                await fn()
                return
            except Exception as e:
                if monotonic() - started >= eng.restart_budget_reset_s:
                    failures = 0
                failures += 1
                if failures > eng.max_task_restarts:
                    self.failed = name
                    self.log.error("task_gave_up", task=name, restarts=eng.max_task_restarts, error=repr(e), exc_info=e)
                    self.request_stop()
                    return
                delay = min(eng.restart_backoff_s * 2 ** (failures - 1), 30.0)
                self.log.error(
                    "task_crashed", task=name, attempt=failures, error=repr(e), restart_in_s=round(delay, 3), exc_info=e
                )
                if await self._sleep(delay):
                    return

    async def _market(self) -> None:
        await self.asm.trader.run(self.stop)
        if self.asm.trader.finished:
            self.log.info("market_finished", market_ts=self.asm.venue.now_ms())
        self.stop.set()

    async def _guard_loop(self) -> None:
        trader = self.asm.trader
        retry_at = 0.0
        while not await self._sleep(1.0):
            if trader.kill_pending:
                await trader.trip()
                retry_at = monotonic() + self.asm.cfg.engine.flatten_retry_s
            elif trader.flatten_pending and monotonic() >= retry_at:
                self.log.error("kill_switch_flatten_retry", open_positions=sorted(self.asm.portfolio.positions))
                await trader.reflatten()
                retry_at = monotonic() + self.asm.cfg.engine.flatten_retry_s
            for pos in list(self.asm.portfolio.positions.values()):
                if pos.stop_loss is None:
                    await trader.apply(await self.asm.executor.protect(pos))

    async def _telemetry_loop(self) -> None:
        interval = self.asm.cfg.telemetry.summary_interval_s
        while not await self._sleep(interval):
            summary = self._summary()
            self.log.info("summary", **summary)
            if self.asm.journal is not None:
                self.asm.journal.snapshot(summary, self.asm.venue.now_ms())

    async def _journal_loop(self) -> None:
        assert self.asm.journal is not None
        await self.asm.journal.run(self.stop)

    async def _progress_loop(self) -> None:
        assert self.progress is not None
        while not await self._sleep(0.5):
            self.progress()
        self.progress(final=True)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True when the daemon is stopping."""
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _summary(self) -> dict[str, Any]:
        venue = self.asm.venue
        return self.asm.telemetry.summary(
            capital_start=self.asm.portfolio.capital_start,  # the sim's configured capital, or Bybit's wallet
            capital=venue.balance(),
            equity=venue.equity(),
            now=venue.now_ms(),
            kill_switch=self.asm.guard.kill_switch,
        )

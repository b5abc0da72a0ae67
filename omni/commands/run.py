"""``omni run``: the daemon on the sim venue or on Bybit testnet / demo (or the local emulator)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from omni.commands.common import (
    EARLY_SIGNALS,
    EXIT_USAGE,
    add_data_option,
    configure_logging,
    data_files,
    positive_seconds,
    speed,
)
from omni.domain.errors import ConfigError, DataError
from omni.journal import JournalError

NAME = "run"


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        NAME,
        help="run the daemon until Ctrl-C, the end of the data or --duration",
        description="Run the paper-trading daemon. Logs are JSON lines on stdout (a console view on a TTY); "
        "a `summary` line every telemetry.summary_interval_s wall seconds and a `final_summary` at "
        "exit. Ctrl-C or SIGTERM stops new entries, closes or keeps positions "
        "(engine.on_shutdown), prints the final summary and exits 0; a second Ctrl-C exits at once.",
    )
    run.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="YAML config (default: built-in defaults, same as config/default.yaml)",
    )
    run.add_argument(
        "--venue",
        choices=["sim", "bybit-testnet", "bybit-demo"],
        default=None,
        help="where orders go (default: venue.name from the config, 'sim')",
    )
    run.add_argument(
        "--market",
        choices=["synthetic", "replay"],
        default=None,
        help="market source for the sim venue (default: market.source; replay if --data is given)",
    )
    add_data_option(
        run,
        "recorded data to replay: 1m klines (ts,open,high,low,close,volume) and funding "
        "(ts,rate), gzip CSV or CSV; a kline file's funding file is added when found beside it",
    )
    run.add_argument(
        "--speed",
        type=speed,
        default=None,
        metavar="X|max",
        help="market seconds per wall second, or 'max' for as fast as the CPU allows (default: market.speed)",
    )
    run.add_argument(
        "--duration",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="stop after this much MARKET time (so --speed max --duration 86400 replays one day in seconds)",
    )
    run.add_argument(
        "--summary-json", type=Path, default=None, metavar="PATH", help="write the final summary here as JSON at exit"
    )
    run.add_argument(
        "--journal",
        type=Path,
        default=None,
        metavar="PATH",
        help="SQLite journal (default: engine.journal, or <engine.state_dir>/journal.sqlite)",
    )
    run.add_argument(
        "--reset-kill-switch",
        action="store_true",
        help="clear a latched kill switch (in engine.state_dir) before starting",
    )
    run.add_argument(
        "--fresh",
        action="store_true",
        help="start a new journal in engine.state_dir (the old one is kept beside it, renamed); without it a journal "
        "of another venue or market is refused",
    )


def run(args: argparse.Namespace) -> int:
    from omni.config import format_config_error, load_config, redacted_dict

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(format_config_error(e), file=sys.stderr)
        return EXIT_USAGE
    if args.journal is not None:
        cfg = cfg.model_copy(update={"engine": cfg.engine.model_copy(update={"journal": args.journal.resolve()})})
    venue = args.venue or cfg.venue.name
    if venue != "sim":
        return _run_bybit(args, cfg.model_copy(update={"venue": cfg.venue.model_copy(update={"name": venue})}))
    market = cfg.market
    updates: dict[str, object] = {}
    if args.data:
        updates["data_files"] = data_files(args.data)
    if args.market or args.data:
        updates["source"] = args.market or "replay"
    if args.speed is not None:
        updates["speed"] = args.speed
    market = market.model_copy(update=updates)
    if market.source == "replay" and not market.data_files:
        print("omni: --market replay needs --data FILE ... (or market.data_files in the config)", file=sys.stderr)
        return EXIT_USAGE
    cfg = cfg.model_copy(update={"market": market})

    log = configure_logging(cfg)
    from omni.engine.assembly import assemble
    from omni.engine.supervisor import Supervisor

    try:
        asm = assemble(cfg, log, duration_s=args.duration, reset_kill_switch=args.reset_kill_switch, fresh=args.fresh)
    except DataError as e:
        log.error("data_refused", file=e.path, line=e.line, reason=e.reason)
        print(f"omni: refusing to trade on bad data: {e}", file=sys.stderr)
        return EXIT_USAGE
    except JournalError as e:
        print(f"omni: cannot use the journal: {e}", file=sys.stderr)
        return EXIT_USAGE
    log.info("config", **redacted_dict(cfg))
    say_resumed(asm)
    supervisor = Supervisor(asm, log, args.summary_json)
    if EARLY_SIGNALS:
        log.info("shutdown_requested", phase="start")
        supervisor.request_stop()
    try:
        return asyncio.run(supervisor.run())
    except KeyboardInterrupt:  # signals not installable (e.g. not the main thread): still exit cleanly
        return 130


def say_resumed(asm) -> None:  # type: ignore[no-untyped-def]
    """A resumed journal, in one plain line on stderr before the daemon starts (which, balance, positions, market
    time, how to start over)."""
    line = getattr(asm, "resume_line", None)
    if line is not None:
        print(" ".join(str(line).split()), file=sys.stderr, flush=True)


def _run_bybit(args: argparse.Namespace, cfg) -> int:  # type: ignore[no-untyped-def]
    """``omni run --venue bybit-testnet|bybit-demo``: the same daemon over pybit (or the local emulator)."""
    from omni.config import load_secrets, redacted_dict
    from omni.domain.errors import VenueError
    from omni.engine.assembly import assemble_bybit, bybit_venue
    from omni.engine.supervisor import Supervisor

    early = EARLY_SIGNALS
    secrets = load_secrets()
    if secrets.bybit_api_key is None or secrets.bybit_api_secret is None:
        print(
            "omni: set BYBIT_API_KEY and BYBIT_API_SECRET (environment or .env) for the Bybit venues; "
            "testnet or demo-trading keys only",
            file=sys.stderr,
        )
        return EXIT_USAGE
    log = configure_logging(cfg)
    log.info("config", **redacted_dict(cfg))
    try:
        venue = bybit_venue(
            cfg, log, secrets.bybit_api_key.get_secret_value(), secrets.bybit_api_secret.get_secret_value()
        )
    except VenueError as e:
        print(f"omni: {e}", file=sys.stderr)
        return EXIT_USAGE
    except JournalError as e:
        print(f"omni: cannot use the journal: {e}", file=sys.stderr)
        return EXIT_USAGE

    async def main() -> int:
        # SIGINT/SIGTERM while connecting: stop, close what is open, exit 0 with a final summary. From the
        # warm-up on, the supervisor owns the signals (its shutdown covers every later phase).
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                os._exit(130)
            log.info("shutdown_requested", phase="connect")
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        signals = len(early)
        if early:
            log.info("shutdown_requested", phase="start")
            stop.set()
        started = time.monotonic()
        build = asyncio.create_task(
            assemble_bybit(
                cfg,
                log,
                venue,
                duration_s=args.duration,
                reset_kill_switch=args.reset_kill_switch,
                fresh=args.fresh,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([build, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if stop.is_set():  # (also when the signal came just as the connect finished)
            build.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(build, cfg.engine.shutdown_timeout_s / 2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(venue.close(), cfg.engine.shutdown_timeout_s / 2)
            summary = {
                "phase": "connect", "trades_total": 0, "capital": str(venue.balance()),
                "symbols": len(venue.feed.symbols), "wall_seconds": round(time.monotonic() - started, 3),
            }  # fmt: skip
            log.info("final_summary", **summary)
            if args.summary_json is not None:
                args.summary_json.parent.mkdir(parents=True, exist_ok=True)
                args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
            return 0
        try:  # the supervisor replaces these handlers with its own (no moment without one)
            asm = build.result()
        except BaseException:
            with contextlib.suppress(Exception):
                await venue.close()
            raise
        say_resumed(asm)
        return await Supervisor(asm, log, args.summary_json).run()

    try:
        return asyncio.run(main())
    except VenueError as e:
        log.error("venue_failed", error=str(e))
        print(f"omni: {e}", file=sys.stderr)
        return 1
    except JournalError as e:
        print(f"omni: cannot use the journal: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130

"""Command line: ``omni run | check-config`` (later: backtest, feasibility, emulator, status, report)."""

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

from omni import __version__
from omni.domain.errors import ConfigError, DataError
from omni.journal import JournalError

EXIT_USAGE = 2

DESCRIPTION = """\
OMNI: a paper-trading daemon for Bybit USDT-margined linear perpetuals.

It trades on the embedded simulated exchange (`sim`), fed by a seeded synthetic market or by recorded
klines, with Bybit's fees, funding, liquidation, tick and lot rules. Every order carries a stop-loss and
passes the risk guard. Targets in the config (trades per day, profit per trade) are targets, not promises:
the summary reports what was achieved next to them.
"""


def _speed(text: str) -> float | str:
    if text.lower() == "max":
        return "max"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a positive number or 'max', got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"speed must be a positive number or 'max', got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"duration must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"duration must be > 0 seconds, got {text!r}")
    return value


def _existing_file(text: str) -> Path:
    p = Path(text)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"data file not found: {text}")
    return p.resolve()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omni", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"omni {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
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
    run.add_argument(
        "--data",
        nargs="+",
        type=_existing_file,
        default=None,
        metavar="FILE",
        help="recorded data to replay: 1m klines (ts,open,high,low,close,volume) and funding "
        "(ts,rate), gzip CSV or CSV; a kline file's funding file is added when found beside it",
    )
    run.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="X|max",
        help="market seconds per wall second, or 'max' for as fast as the CPU allows (default: market.speed)",
    )
    run.add_argument(
        "--duration",
        type=_positive_seconds,
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

    bt = sub.add_parser(
        "backtest",
        help="run the same daemon over recorded data at max speed and write a report",
        description="Backtest: the same daemon (scanner, sizer, pre-trade simulator, risk guard, sim venue) over "
        "recorded data as fast as the CPU allows. Writes summary.json (with the simulator's calibration), "
        "trades.csv, decisions.csv (forecast next to outcome) and events.jsonl into --out.",
    )
    bt.add_argument(
        "--data",
        nargs="+",
        type=_existing_file,
        required=True,
        metavar="FILE",
        help="1m (or 5m) klines and funding files, as for `omni run --data`",
    )
    bt.add_argument("--config", type=Path, default=None, metavar="PATH", help="YAML config (default: built-in)")
    bt.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (created)")
    bt.add_argument(
        "--duration",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="replay only this much market time from the start of the data",
    )

    fz = sub.add_parser(
        "feasibility",
        help="an honest report: can the configured targets be reached, with numbers",
        description="What the configured capital, fees, minimum order value and leverage limits allow per trade, "
        "and what the real decision pipeline finds in the data (recorded files with --data, else the synthetic "
        "market for --days days). Markdown on stdout; --json for machines.",
    )
    fz.add_argument("--config", type=Path, default=None, metavar="PATH", help="YAML config (default: built-in)")
    fz.add_argument(
        "--data",
        nargs="+",
        type=_existing_file,
        default=None,
        metavar="FILE",
        help="recorded klines to evaluate (default: the synthetic market)",
    )
    fz.add_argument(
        "--days",
        type=float,
        default=3.0,
        metavar="N",
        help="market days to evaluate (synthetic default 3; with --data: at most N days, 0 = all)",
    )
    fz.add_argument("--json", action="store_true", help="print JSON instead of Markdown")

    rp = sub.add_parser(
        "report",
        help="write a Markdown report with PNG plots from the journal",
        description="Equity curve with drawdown, PnL per trade histogram, per-symbol table, fees and funding, "
        "and the pre-trade simulator's calibration (predicted vs realised win rate), from the journal. Needs "
        "matplotlib (installed with the test extra, or `pip install 'omni[report]'`).",
    )
    rp.add_argument("--journal", type=Path, default=None, metavar="PATH", help="journal file (default: from config)")
    rp.add_argument("--config", type=Path, default=None, metavar="PATH", help="YAML config (default: built-in)")
    rp.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (created)")

    st = sub.add_parser(
        "status",
        help="capital, profit, trades, positions and kill switch, from the journal",
        description="Read the daemon's SQLite journal (read-only; works while it runs and after it stopped): the "
        "six metrics of the brief, pace vs the daily target, open positions with their stop-loss, take-profit and "
        "liquidation prices, and the kill-switch state.",
    )
    st.add_argument(
        "--journal",
        type=Path,
        default=None,
        metavar="PATH",
        help="journal file (default: engine.journal from the config, <state_dir>/journal.sqlite)",
    )
    st.add_argument("--config", type=Path, default=None, metavar="PATH", help="YAML config (default: built-in)")
    st.add_argument("--json", action="store_true", help="print JSON instead of Markdown")

    rk = sub.add_parser(
        "reset-kill-switch",
        help="clear a latched kill switch so new entries are allowed again",
        description="The kill switch latches in engine.state_dir when a daily-loss or drawdown "
        "limit trips; it survives restarts until cleared here.",
    )
    rk.add_argument("--config", type=Path, default=None, metavar="PATH", help="YAML config (default: built-in)")

    em = sub.add_parser(
        "emulator",
        help="a local Bybit V5 emulator (REST + WebSocket) that pybit and OMNI can trade against",
        description="Serve Bybit V5 REST and WebSocket (/v5/public/linear, /v5/private) on HOST:PORT, backed by "
        "the sim venue's matching engine, with Bybit's signatures, rate limits and error codes. Point OMNI at it "
        "with venue.rest_url / public_ws_url / private_ws_url (see README).",
    )
    em.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    em.add_argument("--port", type=int, default=0, help="port (default: a free one, printed at start)")
    em.add_argument("--api-key", default=None, help="the account's API key (default: BYBIT_API_KEY)")
    em.add_argument("--api-secret", default=None, help="the account's API secret (default: BYBIT_API_SECRET)")
    em.add_argument("--balance", type=float, default=12.0, help="USDT balance of the account (default 12)")
    em.add_argument("--seed", type=int, default=1, help="synthetic market seed (default 1)")
    em.add_argument(
        "--data",
        nargs="+",
        type=_existing_file,
        default=None,
        metavar="FILE",
        help="replay recorded klines instead of a synthetic market",
    )
    em.add_argument("--warmup-bars", type=int, default=600, help="history served before the first request")
    from omni.emulator.options import add_account_options, add_market_options, positive

    add_market_options(em)
    add_account_options(em.add_argument_group("account modes (what /v5/account/info reports at start)"))

    def rate(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}") from None
        if not 0 <= value <= 1:
            raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}")
        return value

    chaos = em.add_argument_group(
        "chaos (fault injection)",
        "All off by default. Periods are jittered +-20%; every draw comes from one seeded RNG, so a run with the "
        "same seed repeats its faults. Each fault logs an event 'chaos' (kind=...) when it fires.",
    )
    chaos.add_argument("--chaos-seed", type=int, default=1, metavar="N", help="seed of the fault RNG (default 1)")
    chaos.add_argument(
        "--chaos-ws-drop-every", type=positive, default=None, metavar="S",
        help="every ~S seconds close every WebSocket from the server side (clients must reconnect)",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-ws-stall-every", type=positive, default=None, metavar="S",
        help="every ~S seconds stall all WebSocket pushes (pongs included) for --chaos-ws-stall-seconds: the "
        "socket stays open but silent, queued frames go out late",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-ws-stall-seconds", type=positive, default=5.0, metavar="S", help="length of a stall (default 5)"
    )
    chaos.add_argument(
        "--chaos-private-gap-every", type=positive, default=None, metavar="S",
        help="every ~S seconds, for --chaos-private-gap-seconds, silently skip private pushes (order, execution, "
        "position, wallet); the socket stays up and answers pings, REST is unaffected (clients resync by REST)",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-private-gap-seconds", type=positive, default=5.0, metavar="S", help="length of a gap (default 5)"
    )
    chaos.add_argument(
        "--chaos-rest-fail-rate", type=rate, default=0.0, metavar="P",
        help="each REST request fails with probability P (half HTTP 503, half retCode 10016); it is not applied",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-rate-limit-every", type=positive, default=None, metavar="S",
        help="every ~S seconds, for --chaos-rate-limit-seconds, answer every private REST request with retCode "
        "10006 and a reset timestamp at the window's end",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-rate-limit-seconds", type=positive, default=1.0, metavar="S",
        help="length of a rate-limit window (default 1)",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-reply-lost-rate", type=rate, default=0.0, metavar="P",
        help="with probability P an accepted POST /v5/order/create is applied but its connection is closed without "
        "a reply (a retry with the same orderLinkId gets 110072)",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-latency-ms", type=positive, default=None, metavar="MS",
        help="delay every REST reply and WebSocket push by ~MS ms (uniform 0.5x..1.5x; per-socket order kept)",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-cancel-market-rate", type=rate, default=0.0, metavar="P",
        help="with probability P a market order (not reduce-only) is accepted, then cancelled unfilled by the "
        "exchange (Cancelled, rejectReason EC_CancelForNoFullFill, no execution)",
    )  # fmt: skip

    check = sub.add_parser(
        "check-config",
        help="validate a config file: exit 0 if good, 2 if not",
        description="Validate a YAML config (and OMNI_* environment overrides). Prints every "
        "error with its field path, the bad value and what is allowed.",
    )
    check.add_argument("path", type=Path, metavar="PATH")
    _add_rehearse_parser(sub)
    return parser


#: SIGINT/SIGTERM received before a run's event loop took the signals over (imports, config, journal)
_EARLY_SIGNALS: list[int] = []


def _remember_signal(signum: int, _frame: object) -> None:
    _EARLY_SIGNALS.append(signum)
    if len(_EARLY_SIGNALS) > 1:
        os._exit(130)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":  # a Ctrl-C while starting up is a clean stop (exit 0, final summary), not a traceback
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _remember_signal)
    if args.command == "check-config":
        return _check_config(args.path)
    commands = {
        "run": _run, "backtest": _backtest, "feasibility": _feasibility, "reset-kill-switch": _reset_kill_switch,
        "emulator": _emulator, "status": _status, "report": _report, "rehearse": _rehearse,
    }  # fmt: skip
    return commands[args.command](args)


def _configure_logging(cfg):  # type: ignore[no-untyped-def]
    """structlog for a daemon run: stdout (console on a TTY, JSON otherwise) and the optional rotating file."""
    from omni import logsetup

    t = cfg.telemetry
    logsetup.configure(
        t.log_format, t.log_level, log_file=t.log_file, max_mb=t.log_file_max_mb, backups=t.log_file_backups
    )
    return logsetup.get("omni")


def _check_config(path: Path) -> int:
    from omni.config import format_config_error, load_config

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


def _run(args: argparse.Namespace) -> int:
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
        updates["data_files"] = list(args.data)
    if args.market or args.data:
        updates["source"] = args.market or "replay"
    if args.speed is not None:
        updates["speed"] = args.speed
    market = market.model_copy(update=updates)
    if market.source == "replay" and not market.data_files:
        print("omni: --market replay needs --data FILE ... (or market.data_files in the config)", file=sys.stderr)
        return EXIT_USAGE
    cfg = cfg.model_copy(update={"market": market})

    log = _configure_logging(cfg)
    from omni.engine.assembly import assemble
    from omni.engine.supervisor import Supervisor

    try:
        asm = assemble(cfg, log, duration_s=args.duration, reset_kill_switch=args.reset_kill_switch)
    except DataError as e:
        log.error("data_refused", file=e.path, line=e.line, reason=e.reason)
        print(f"omni: refusing to trade on bad data: {e}", file=sys.stderr)
        return EXIT_USAGE
    except JournalError as e:
        print(f"omni: cannot use the journal: {e}", file=sys.stderr)
        return EXIT_USAGE
    log.info("config", **redacted_dict(cfg))
    supervisor = Supervisor(asm, log, args.summary_json)
    if _EARLY_SIGNALS:
        log.info("shutdown_requested", phase="start")
        supervisor.request_stop()
    try:
        return asyncio.run(supervisor.run())
    except KeyboardInterrupt:  # signals not installable (e.g. not the main thread): still exit cleanly
        return 130


def _run_bybit(args: argparse.Namespace, cfg) -> int:  # type: ignore[no-untyped-def]
    """``omni run --venue bybit-testnet|bybit-demo``: the same daemon over pybit (or the local emulator)."""
    from omni.config import load_secrets, redacted_dict
    from omni.domain.errors import VenueError
    from omni.engine.assembly import assemble_bybit, bybit_venue
    from omni.engine.supervisor import Supervisor

    early = _EARLY_SIGNALS
    secrets = load_secrets()
    if secrets.bybit_api_key is None or secrets.bybit_api_secret is None:
        print(
            "omni: set BYBIT_API_KEY and BYBIT_API_SECRET (environment or .env) for the Bybit venues; "
            "testnet or demo-trading keys only",
            file=sys.stderr,
        )
        return EXIT_USAGE
    log = _configure_logging(cfg)
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
            assemble_bybit(cfg, log, venue, duration_s=args.duration, reset_kill_switch=args.reset_kill_switch)
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


def _emulator(args: argparse.Namespace) -> int:
    """``omni emulator``: a local Bybit V5 (REST + WebSocket) for rehearsals and tests."""
    import os
    from decimal import Decimal

    from omni import logsetup
    from omni.emulator import reference
    from omni.emulator.chaos import ChaosConfig
    from omni.emulator.options import GENERATED_DEFAULT, account_modes, market_timing
    from omni.emulator.server import EmulatorConfig, EmulatorServer
    from omni.emulator.state import AccountConfig
    from omni.emulator.ws import WsHub
    from omni.venues.instruments_file import default_instruments_path, generated_instruments, load_instruments

    key = args.api_key or os.environ.get("BYBIT_API_KEY")
    secret = args.api_secret or os.environ.get("BYBIT_API_SECRET")
    if not key or not secret:
        print(
            "omni emulator: an API key pair is required (--api-key/--api-secret or BYBIT_API_KEY/SECRET)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"omni emulator: warning: listening on {args.host}, not loopback", file=sys.stderr)
    instruments, prices = None, {}
    if args.data and args.start is not None:
        print("omni emulator: --start applies to the synthetic market (a replay runs at its files' times)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if not args.data:  # the instrument file's most liquid (all by default), else generated ones from BTCUSDT
        path = default_instruments_path()
        if path is not None:
            instruments = reference.select(load_instruments(path), args.symbols)
        else:
            instruments = generated_instruments(args.symbols or GENERATED_DEFAULT, args.seed, btc=True)
        prices = reference.reference_prices(instruments)
    chaos = ChaosConfig(
        seed=args.chaos_seed,
        ws_drop_every=args.chaos_ws_drop_every or 0.0,
        ws_stall_every=args.chaos_ws_stall_every or 0.0,
        ws_stall_seconds=args.chaos_ws_stall_seconds,
        private_gap_every=args.chaos_private_gap_every or 0.0,
        private_gap_seconds=args.chaos_private_gap_seconds,
        rest_fail_rate=args.chaos_rest_fail_rate,
        rate_limit_every=args.chaos_rate_limit_every or 0.0,
        rate_limit_seconds=args.chaos_rate_limit_seconds,
        reply_lost_rate=args.chaos_reply_lost_rate,
        latency_ms=args.chaos_latency_ms or 0.0,
        cancel_market_rate=args.chaos_cancel_market_rate,
    )
    config = EmulatorConfig(
        accounts=[AccountConfig(key, secret, balance=Decimal(str(args.balance)), **account_modes(args))],
        instruments=instruments,
        replay_paths=[str(p) for p in args.data or []],
        seed=args.seed,
        start_prices=prices,
        warmup_bars=args.warmup_bars,
        host=args.host,
        port=args.port,
        app_hooks=[WsHub.hook],
        chaos=chaos,
        **market_timing(args),
    )
    logsetup.configure("auto", "info")
    log = logsetup.get("emulator")
    if prices:
        short = reference.min_value_shortfalls(instruments or {}, prices)
        log.info("emulator_prices", symbols=len(prices), min_qty_below_min_value=len(short),
                 examples={s: round(v, 4) for s, v in list(short.items())[:5]})  # fmt: skip

    async def main() -> None:
        try:
            server = EmulatorServer(config)
        except ValueError as e:  # a state file that does not fit this emulator
            print(f"omni emulator: {e}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
        async with server:
            log.info(
                "emulator_ready",
                url=server.url,
                ws=server.url.replace("http", "ws"),
                symbols=len(server.state.instruments),
                market_ts=server.state.market_ts,
                speed=server.speed,
                restored=server.restored,
            )
            print(f"OMNI Bybit V5 emulator on {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            if chaos.active:
                print(f"chaos: {', '.join(chaos.describe())} (seed {chaos.seed})", file=sys.stderr, flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def _load(path: Path | None):  # type: ignore[no-untyped-def]
    from omni.config import format_config_error, load_config

    try:
        return load_config(path)
    except ConfigError as e:
        print(format_config_error(e), file=sys.stderr)
        return None


def _backtest(args: argparse.Namespace) -> int:
    from omni.engine.backtest import for_backtest, run_backtest

    cfg = _load(args.config)
    if cfg is None:
        return EXIT_USAGE
    out = args.out.resolve()
    cfg = for_backtest(cfg, out, list(args.data))
    try:
        result = run_backtest(cfg, out, duration_s=args.duration, progress=sys.stderr)
    except DataError as e:
        print(f"omni: refusing to backtest on bad data: {e}", file=sys.stderr)
        return EXIT_USAGE
    s = result.summary
    cal = s.get("calibration", {})
    print(
        f"trades {s['trades_total']}  wins {s['wins']}  losses {s['losses']}  capital {s['capital_start']} -> "
        f"{s['capital']}  max drawdown {s['max_drawdown']}  kill switch {s['kill_switch']}"
    )
    fc = s.get("forecasts") or {}
    every, taken = fc.get("all") or {}, fc.get("taken") or {}
    print(
        f"simulator forecasts: {fc.get('n', 0)} scored, Brier skill {_num(every.get('bss'))} "
        f"(90 % {_num(every.get('bss_interval_90'))}); taken trades {taken.get('n', 0)}, Brier skill "
        f"{_num(taken.get('bss'))}; Brier over taken trades {cal.get('brier')} (see report.md)"
    )
    try:
        from omni.engine.report import write_report
        from omni.journal import Journal

        write_report(Journal(cfg.engine.journal_path, read_only=True), out, cfg.calibration.fold_days)
        print(f"wrote {out}/summary.json, trades.csv, decisions.csv, events.jsonl, report.md (with plots)")
    except ImportError:
        print(f"wrote {out}/summary.json, trades.csv, decisions.csv, events.jsonl, report.md (no plots: no matplotlib)")
    return result.exit_code


def _feasibility(args: argparse.Namespace) -> int:
    import json

    from omni.engine import feasibility

    cfg = _load(args.config)
    if cfg is None:
        return EXIT_USAGE
    arith = feasibility.arithmetic(cfg)
    try:
        data = feasibility.from_data(cfg, list(args.data) if args.data else None, args.days)
    except DataError as e:
        print(f"omni: refusing to evaluate bad data: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(
            json.dumps(
                {"config": arith, "data": data, "verdicts": feasibility.verdicts(cfg, arith, data)},
                indent=2,
                default=str,
            )
        )
    else:
        print(feasibility.markdown(cfg, arith, data), end="")
    return 0


def _status(args: argparse.Namespace) -> int:
    import json

    from omni.engine import status
    from omni.journal import Journal, JournalError
    from omni.state import KillSwitchLatch

    cfg = _load(args.config)
    if cfg is None:
        return EXIT_USAGE
    path = args.journal or cfg.engine.journal_path
    try:
        journal = Journal(path, read_only=True)
        report = status.status(journal, KillSwitchLatch(cfg.engine.state_dir).load())
    except JournalError as e:
        print(f"omni status: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(
        json.dumps(report, indent=2, default=str) if args.json else status.markdown(report),
        end="\n" if args.json else "",
    )
    return 0


def _num(x: object) -> str:
    """A figure for a person: 3 decimals, a pair as [a, b], a missing one as n/a."""
    if x is None:
        return "n/a"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_num(v) for v in x) + "]"
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _report(args: argparse.Namespace) -> int:
    from omni.journal import Journal

    cfg = _load(args.config)
    if cfg is None:
        return EXIT_USAGE
    try:
        from omni.engine.report import write_report

        journal = Journal(args.journal or cfg.engine.journal_path, read_only=True)
        path = write_report(journal, args.out.resolve(), cfg.calibration.fold_days)
    except ImportError as e:
        print(f"omni report: {e}; install matplotlib: pip install 'omni[report]'", file=sys.stderr)
        return EXIT_USAGE
    except JournalError as e:
        print(f"omni report: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {path}")
    return 0


def _reset_kill_switch(args: argparse.Namespace) -> int:
    from omni.state import KillSwitchLatch

    cfg = _load(args.config)
    if cfg is None:
        return EXIT_USAGE
    latch = KillSwitchLatch(cfg.engine.state_dir)
    reason = latch.reset()
    print(f"kill switch reset (was: {reason})" if reason else f"kill switch was not tripped ({latch.path})")
    return 0


# ---------------------------------------------------------------- omni rehearse


def _add_rehearse_parser(sub) -> None:  # type: ignore[no-untyped-def]
    import textwrap

    from omni.rehearse.plan import CHAOS_PRESETS, STOP_GRACE_S

    presets = "\n".join(
        textwrap.fill(
            f"{name}: " + (", ".join(f"--chaos-{k} {v:g}" for k, v in flags.items()) or "no faults"),
            width=100, subsequent_indent="  ", break_on_hyphens=False,
        )
        for name, flags in CHAOS_PRESETS.items()
    )  # fmt: skip
    rh = sub.add_parser(
        "rehearse",
        help="a dress rehearsal on the local Bybit emulator with faults and kills, judged by the exchange's records",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Start `omni emulator` with faults and `omni run --venue bybit-testnet` against it (both real processes,
your config), SIGKILL and restart the daemon --kills times at seeded moments (never in the last 10 % of
the run), stop it with SIGINT at the end, then judge the run from the exchange's records, not the
daemon's word:
  - no task crash, no traceback; exit 0 after SIGINT with a final summary;
  - never a position without a stop-loss on the exchange (polled every second; --stop-grace after entry);
  - orderLinkIds unique; journal orders and fills == the exchange's, both ways;
  - executions, fees and funding equal; final capital == the wallet; capital_start == starting balance;
  - a restart keeps the daemon's own positions; the exchange flat after the exit (on_shutdown: close).
Prints a verdict table and writes rehearsal.json, report.md, both processes' logs, the journal and the
exchange's records into --out. Exit 0 when every check holds, 1 otherwise, 2 for bad arguments.""",
        epilog="fault presets (--chaos; periods in wall seconds, rates per request):\n" + presets,
    )
    rh.add_argument("--config", type=Path, default=None, metavar="PATH", help="YAML config (default: built-in)")
    rh.add_argument(
        "--symbols", default="all", metavar="all|N",
        help="instruments the emulator lists: all (default) or the N most liquid",
    )  # fmt: skip
    rh.add_argument("--hours", type=float, default=1.0, metavar="H", help="market hours to run (default 1)")
    rh.add_argument(
        "--speed", type=float, default=60.0, metavar="X",
        help="market seconds per wall second (default 60: an hour in a minute); wall time = H x 3600 / X",
    )  # fmt: skip
    rh.add_argument(
        "--start", default=None, metavar="TIME",
        help="market start: HH:MM UTC (the latest such time whose run ends before now, e.g. 21:00 crosses midnight "
        "and a funding time) or an ISO date-time; default: the emulator's (now)",
    )  # fmt: skip
    rh.add_argument("--chaos", choices=list(CHAOS_PRESETS), default="light", help="fault preset (default light)")
    rh.add_argument("--kills", type=int, default=1, metavar="K", help="SIGKILL + restart the daemon K times (def. 1)")
    rh.add_argument("--seed", type=int, default=1, metavar="N", help="seed of the market, the faults and the kills")
    rh.add_argument(
        "--stop-grace", type=float, default=STOP_GRACE_S, metavar="S",
        help=f"seconds a new position may go without a stop-loss (default {STOP_GRACE_S:g})",
    )  # fmt: skip
    rh.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="output directory, new or empty (default ./rehearsal-<UTC timestamp>)",
    )  # fmt: skip


def _emulator_caps():  # type: ignore[no-untyped-def]
    """What this ``omni emulator`` accepts, from its parser (a rehearsal uses newer flags when present)."""
    from omni.rehearse.plan import EmulatorCaps

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    em = sub.choices["emulator"]
    options = frozenset(o for a in em._actions for o in a.option_strings)
    symbols = next((a for a in em._actions if "--symbols" in a.option_strings), None)
    takes_all = False
    if symbols is not None and symbols.type is not None:
        try:
            symbols.type("all")  # type: ignore[operator]
            takes_all = True
        except (ValueError, TypeError, argparse.ArgumentTypeError):
            takes_all = False
    elif symbols is not None:
        takes_all = symbols.choices is None or "all" in symbols.choices
    return EmulatorCaps(options, symbols_all=takes_all)


def _rehearse(args: argparse.Namespace) -> int:
    from omni.rehearse import Options, PlanError, make_plan, rehearse

    cfg = _load(args.config)
    if cfg is None:
        return EXIT_USAGE
    try:
        from omni.rehearse.plan import parse_symbols

        options = Options(
            config=args.config, symbols=parse_symbols(args.symbols), hours=args.hours, speed=args.speed,
            start=args.start, chaos=args.chaos, kills=args.kills, seed=args.seed, out=args.out,
            stop_grace_s=args.stop_grace,
        )  # fmt: skip
        plan = make_plan(
            options, _emulator_caps(), capital=cfg.capital_usdt, shutdown_timeout_s=cfg.engine.shutdown_timeout_s,
            log_level=cfg.telemetry.log_level, on_shutdown=cfg.engine.on_shutdown,
        )  # fmt: skip
    except PlanError as e:
        print(f"omni rehearse: {e}", file=sys.stderr)
        return EXIT_USAGE
    return rehearse(plan)

"""``omni emulator``: a local Bybit V5 emulator (REST + WebSocket) that pybit and OMNI can trade against."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from omni.commands.common import EXIT_USAGE, add_data_option, data_files

NAME = "emulator"


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    from omni.emulator.options import add_account_options, add_market_options, positive

    em = sub.add_parser(
        NAME,
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
    add_data_option(em, "replay recorded klines instead of a synthetic market")
    em.add_argument("--warmup-bars", type=int, default=600, help="history served before the first request")
    add_market_options(em)
    add_account_options(em.add_argument_group("account modes (what /v5/account/info reports at start)"))

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
        "--chaos-rest-fail-rate", type=_rate, default=0.0, metavar="P",
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
        "--chaos-reply-lost-rate", type=_rate, default=0.0, metavar="P",
        help="with probability P an accepted POST /v5/order/create is applied but its connection is closed without "
        "a reply (a retry with the same orderLinkId gets 110072)",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-latency-ms", type=positive, default=None, metavar="MS",
        help="delay every REST reply and WebSocket push by ~MS ms (uniform 0.5x..1.5x; per-socket order kept)",
    )  # fmt: skip
    chaos.add_argument(
        "--chaos-cancel-market-rate", type=_rate, default=0.0, metavar="P",
        help="with probability P a market order (not reduce-only) is accepted, then cancelled unfilled by the "
        "exchange (Cancelled, rejectReason EC_CancelForNoFullFill, no execution)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
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
        replay_paths=[str(p) for p in data_files(args.data)],
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

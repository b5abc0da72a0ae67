"""``omni data``: get market history (``download`` from Bybit's public endpoints), convert it (``import`` gzip CSV into
the Parquet store, ``export`` it back) and say what a store holds (``show``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from omni.commands.common import EXIT_USAGE, utc_time
from omni.domain.errors import DataError
from omni.emulator.options import whole

NAME = "data"
DEFAULT_OUT = Path("market-data")


def symbol_list(text: str) -> list[str] | None:
    if text.strip().lower() == "all":
        return None
    out = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not out:
        raise argparse.ArgumentTypeError("give symbols as BTCUSDT,ETHUSDT or all")
    return list(dict.fromkeys(out))


def add_parser(sub: argparse._SubParsersAction) -> None:
    dp = sub.add_parser(NAME, help="download, import, export or show market history (Parquet store)",
                        description=__doc__)  # fmt: skip
    cmds = dp.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    dl = cmds.add_parser(
        "download",
        help="download 1m klines, mark-price klines, funding and instrument/risk-tier snapshots from Bybit",
        description="Download from Bybit's public market endpoints (no keys) into the store: 1m klines, 1m mark-price "
        "klines, funding settlements per symbol and UTC month, plus a dated snapshot of instrument specs and risk "
        "tiers. Resumable: run the same command again after an interruption; complete files are skipped. Writes "
        "manifest.json (rows, ranges, sha256) and gaps.csv (missing minutes). --symbols all takes the symbols listed "
        "today: delisted ones are missing (survivorship bias).",
    )
    dl.add_argument("--symbols", type=symbol_list, required=True, metavar="LIST", help="BTCUSDT,ETHUSDT or all")
    dl.add_argument("--from", dest="start", type=utc_time, required=True, metavar="TIME",
                    help="first bar's open time, UTC (2025-01-01 or 2025-01-01T06:00)")  # fmt: skip
    dl.add_argument("--to", dest="end", type=utc_time, required=True, metavar="TIME",
                    help="end of the range, exclusive, UTC (clipped to the last closed minute)")  # fmt: skip
    dl.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                    help=f"store directory (default {DEFAULT_OUT})")  # fmt: skip
    from omni.history.download import MAINNET_PUBLIC

    dl.add_argument("--base-url", default=MAINNET_PUBLIC, metavar="URL",
                    help=f"REST base (default {MAINNET_PUBLIC}: public market data, read-only; "
                    "https://api-testnet.bybit.com for testnet, or an omni emulator's URL)")  # fmt: skip
    dl.add_argument("--rate", type=float, default=50.0, metavar="N",
                    help="requests per second at most (default 50; Bybit allows 600 per 5 s per IP)")  # fmt: skip
    dl.add_argument("--workers", type=whole, default=8, metavar="N", help="requests in flight (default 8)")
    im = cmds.add_parser("import", help="convert gzip-CSV klines and funding files (or folders) into the store",
                         description="Convert the CSV layout (klines/<n>m/<venue>/<SYMBOL>.csv.gz, "
                         "funding/<venue>/<SYMBOL>.csv.gz, as in ../shared/data) into the Parquet store. Every "
                         "row passes the replay's checks; files that are not klines or funding are listed as "
                         "skipped.")  # fmt: skip
    im.add_argument("sources", nargs="+", type=Path, metavar="PATH", help="CSV files or folders of them")
    im.add_argument("--out", type=Path, required=True, metavar="DIR", help="store directory (created)")
    ex = cmds.add_parser("export", help="write a store back as gzip CSV (the shared-data layout)")
    ex.add_argument("store", type=Path, metavar="DIR", help="store directory")
    ex.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (created)")
    sh = cmds.add_parser("show", help="what a store holds: series, ranges, missing bars, snapshots")
    sh.add_argument("store", type=Path, metavar="DIR", help="store directory")
    sh.add_argument("--json", action="store_true", help="print the manifest as JSON")


def _err(text: str) -> int:
    print(f"omni data: {text}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    try:
        return {"download": _download, "import": _import, "export": _export, "show": _show}[args.data_command](args)
    except DataError as e:
        return _err(str(e))


def _download(args: argparse.Namespace) -> int:
    from omni.history.download import Downloader, DownloadError, Progress

    if args.end <= args.start:
        return _err("--to must be after --from")
    if not 0 < args.rate <= 120:
        return _err("--rate must be > 0 and <= 120 requests/s (Bybit bans an IP above 600 per 5 s)")
    tty = sys.stderr.isatty()
    last = [0.0]

    def show(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= (0.2 if tty else 5.0) or p.done + p.skipped == p.total:
            last[0] = now
            print(("\r" if tty else "") + p.line(), end="" if tty else "\n", file=sys.stderr, flush=True)

    out = args.out.resolve()
    dl = Downloader(args.base_url, out, rate_per_s=args.rate, workers=args.workers, progress=show)
    print(f"downloading from {args.base_url} into {out}", file=sys.stderr)
    try:
        manifest = asyncio.run(dl.download(args.symbols, args.start, args.end))
    except DownloadError as e:
        print(file=sys.stderr) if tty else None
        return _err(f"{e}; files completed so far are kept, run the same command to resume")
    except KeyboardInterrupt:
        print(f"\ninterrupted: {dl.progress.done} files completed in this run are kept in {out}; run the same "
              "command again to resume", file=sys.stderr)  # fmt: skip
        return 130
    if tty:
        print(file=sys.stderr)
    req = manifest["request"]
    print(f"stored {len(req['symbols'])} symbols, {req['from_utc']} .. {req['to_utc']} in {out}: "
          f"{len(manifest['files'])} files, {dl.progress.requests} requests this run, "
          f"{manifest['missing_bars']} bars missing (see gaps.csv), snapshot {req['snapshot']}")  # fmt: skip
    if req.get("all_listed"):
        print("note: --symbols all covers symbols listed today; delisted symbols are absent (survivorship bias)")
    return 0


def _import(args: argparse.Namespace) -> int:
    from omni.history.convert import import_csv

    missing = [str(p) for p in args.sources if not p.exists()]
    if missing:
        return _err(f"not found: {', '.join(missing)}")
    done = import_csv(args.sources, args.out.resolve())
    for path, why in done.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    if not done.series:
        return _err("no kline or funding CSV among the sources")
    print(f"imported {done.series} series, {done.rows} rows into {args.out.resolve()} ({len(done.files)} files)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from omni.history.convert import export_csv

    done = export_csv(args.store.resolve(), args.out.resolve())
    print(f"exported {done.series} series, {done.rows} rows to {args.out.resolve()}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from omni.history.manifest import write_manifest
    from omni.venues import store
    from omni.venues.store import read_manifest

    root = args.store.resolve()
    if not store.is_store(root):
        return _err(f"{root} is not an OMNI market-data directory (no klines/<n>m/symbol=<SYMBOL>/)")
    manifest = read_manifest(root) or write_manifest(root)
    if args.json:
        print(json.dumps(manifest, indent=1))
        return 0
    size = sum(f["bytes"] for f in manifest["files"])
    print(f"{root}: {len(manifest['files'])} files, {size / 1e6:.1f} MB, {manifest['missing_bars']} bars missing")
    print("| series | rows | first (UTC) | last (UTC) | missing bars |\n|---|---:|---|---|---:|")
    for name, s in manifest["series"].items():
        print(f"| {name} | {s['rows']} | {s.get('first_utc', 'n/a')} | {s.get('last_utc', 'n/a')} | "
              f"{s.get('missing_bars', 'n/a')} |")  # fmt: skip
    snaps = manifest.get("snapshots") or []
    print(f"instrument snapshots: {', '.join(snaps) if snaps else 'none (replays use the shared instruments file)'}")
    return 0

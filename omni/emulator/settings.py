"""``EmulatorConfig`` (how to run ``EmulatorServer``), the market it builds from it (``build_market``), and the
server's small records: ``Served`` (one answered request) and ``Window`` (a rolling rate-limit window).

The market: the instruments given (or ``generated_instruments``), fed by the ``market`` given, a replay of
``replay_paths``, or a ``SyntheticMarket`` seeded with ``seed`` that reaches ``start_ms`` (default: now) after
its ``warmup_bars`` (its first bar opens that many minutes earlier), its walks starting at ``start_prices``
(``reference.reference_prices`` gives each instrument's real scale; otherwise the market's seeded prices,
``tick x 10**3.5..10**5``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from omni.clock import Clock
from omni.domain.instrument import Instrument
from omni.domain.market import MINUTE_MS, MarketBatch
from omni.emulator.chaos import ChaosConfig
from omni.emulator.state import AccountConfig, EmulatorState
from omni.venues.instruments_file import generated_instruments
from omni.venues.replay import ReplayMarket
from omni.venues.synthetic import SyntheticMarket

AppHook = Callable[[web.Application, EmulatorState], None]
#: history served at least, by default (a day of 1m bars: what Bybit's tickers' 24 h figures cover)
DEFAULT_HISTORY_BARS = 1440


@dataclass
class EmulatorConfig:
    """How to run the emulator. ``accounts`` is required; everything else has a test-friendly default."""

    accounts: Sequence[AccountConfig] = ()
    #: instruments to list; default: generated ``SYN001USDT``... (``symbols`` of them, from ``seed``)
    instruments: dict[str, Instrument] | None = None
    #: market source; default: ReplayMarket over ``replay_paths`` if given, else a SyntheticMarket(seed)
    market: Iterable[MarketBatch] | None = None
    replay_paths: Sequence[str | Path] = ()
    seed: int = 1
    symbols: int = 10
    #: synthetic start prices per symbol (overrides the seeded ones; ``reference.reference_prices`` gives real ones)
    start_prices: dict[str, float] = field(default_factory=dict)
    #: bars fed before the server answers (so every symbol has a price)
    warmup_bars: int = 60
    #: wall seconds per market bar for the background task (60 / speed); <= 0: no task (tests call state.advance)
    bar_seconds: float = 1.0
    #: market time (epoch ms) when the server starts answering: the close of the last warm-up bar (the synthetic
    #: market's first bar opens ``warmup_bars`` minutes earlier); None: now
    start_ms: int | None = None
    #: the state file: loaded at start when it exists, written every ``state_every_s`` s and at stop; None: none
    state_path: str | Path | None = None
    state_every_s: float = 5.0
    host: str = "127.0.0.1"
    port: int = 0
    clock: Clock | None = None
    ip_limit: int = 600
    ip_window_ms: int = 5000
    #: per-path overrides of rest.UID_LIMITS (requests per rolling second per API key)
    uid_limits: dict[str, int] = field(default_factory=dict)
    #: 1m bars of history served per symbol (klines, mark-price klines; tickers' 24 h figures cover the last 1440
    #: of them); None: max(1440, ``warmup_bars``), resolved when the config is made
    history_bars: int | None = None
    kline_intervals: tuple[int, ...] = (1, 3, 5)
    #: called with (app, state) before the app starts: the WebSocket layer adds its routes here
    app_hooks: list[AppHook] = field(default_factory=list)
    #: how many served requests ``EmulatorServer.requests`` keeps
    request_log: int = 10_000
    #: fault injection, seeded; default: every fault off
    chaos: ChaosConfig = field(default_factory=ChaosConfig)

    def __post_init__(self) -> None:
        if self.history_bars is None:
            self.history_bars = max(DEFAULT_HISTORY_BARS, self.warmup_bars)
        if self.history_bars < 1:
            raise ValueError(f"history_bars must be >= 1, got {self.history_bars}")


def build_market(
    config: EmulatorConfig, now_ms: int, saved: dict[str, Any] | None = None
) -> tuple[dict[str, Instrument], Iterable[MarketBatch], dict[str, Any]]:
    """The instruments and market source ``config`` asks for, and how to rebuild that source (for the state
    file). ``saved`` (a state file's ``market``) fixes the synthetic market's start and start prices."""
    instruments = config.instruments
    if config.market is not None:
        return instruments or generated_instruments(config.symbols, config.seed), config.market, {"source": "given"}
    if config.replay_paths:
        replay = ReplayMarket(list(config.replay_paths), instruments or {})
        return replay.instruments, replay, {"source": "replay", "paths": [str(p) for p in config.replay_paths]}
    instruments = instruments or generated_instruments(config.symbols, config.seed)
    if saved is not None and saved.get("source") == "synthetic":
        start, prices = int(saved["start_ts"]), {k: float(v) for k, v in saved["start_prices"].items()}
    else:
        start = (config.start_ms if config.start_ms is not None else now_ms) - config.warmup_bars * MINUTE_MS
        prices = dict(config.start_prices)
    start -= start % MINUTE_MS
    market = SyntheticMarket(instruments, seed=config.seed, start_ts=start)
    set_start_prices(market, prices)
    meta = {"source": "synthetic", "seed": config.seed, "start_ts": start, "start_prices": prices}
    return instruments, market, meta


def set_start_prices(market: SyntheticMarket, prices: dict[str, float]) -> None:
    """Start the walks of ``prices``' symbols there, keeping each symbol's seeded USDT turnover per bar (the
    market draws its base volume in coins from the seeded price: rescaled here by seeded / new price)."""
    base = getattr(market, "_base_volume", {})
    for sym, price in prices.items():
        if sym not in market.start_prices or not price > 0:
            continue
        if sym in base:
            base[sym] *= market.start_prices[sym] / price
        market.start_prices[sym] = price


@dataclass(frozen=True, slots=True)
class Served:
    """One answered request, for tests: what came in and what went out."""

    method: str
    path: str
    http_status: int
    ret_code: int | None
    ts: int
    headers: dict[str, str]


class Window:
    """A rolling window of ``limit`` hits per ``span_ms``."""

    def __init__(self, limit: int, span_ms: int):
        self.limit, self.span = limit, span_ms
        self.hits: deque[int] = deque()

    def hit(self, now: int) -> tuple[bool, int, int]:
        """Count a hit at ``now`` if allowed: (allowed, remaining, reset ts)."""
        while self.hits and self.hits[0] <= now - self.span:
            self.hits.popleft()
        if len(self.hits) >= self.limit:
            return False, 0, self.hits[0] + self.span
        self.hits.append(now)
        return True, self.limit - len(self.hits), now

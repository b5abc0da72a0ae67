"""Build the object graph of one daemon run from a validated Config (no tasks started here)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.clock import VirtualClock
from omni.config import Config
from omni.core.entry_rule import BreakoutRule
from omni.core.pipeline import ClientIds, DecisionPipeline
from omni.core.portfolio import Portfolio
from omni.core.risk import Limits, RiskGuard
from omni.core.sizing import SizingParams
from omni.domain.instrument import Instrument
from omni.domain.market import parse_timeframe
from omni.engine.executor import Executor
from omni.engine.telemetry import Telemetry
from omni.engine.trader import Trader
from omni.exchange.matching import MatchingEngine
from omni.venues.instruments_file import default_instruments_path, generated_instruments, load_instruments
from omni.venues.replay import ReplayMarket, classify, sibling_funding
from omni.venues.sim import SimVenue
from omni.venues.synthetic import SyntheticMarket


@dataclass
class Assembly:
    cfg: Config
    venue: SimVenue
    portfolio: Portfolio
    guard: RiskGuard
    pipeline: DecisionPipeline
    executor: Executor
    telemetry: Telemetry
    trader: Trader
    source_info: dict[str, Any]


def replay_files(paths: list[Path]) -> list[Path]:
    """The given files plus, for each kline file in the shared-data layout, its funding file if present."""
    out = list(paths)
    for p in paths:
        if classify(p) == "klines":
            f = sibling_funding(p)
            if f is not None and f not in out:
                out.append(f)
    return out


def load_market(cfg: Config) -> tuple[Any, dict[str, Instrument], dict[str, Any]]:
    """The market source and its instruments. Raises DataError for unusable data (before any trading)."""
    m = cfg.market
    path = m.instruments_file or default_instruments_path()
    known = load_instruments(path) if path is not None else {}
    if m.source == "replay":
        files = replay_files(list(m.data_files))
        source = ReplayMarket(files, known)
        info = {
            "source": "replay",
            "files": [str(f) for f in files],
            "symbols": source.symbols,
            "instruments_file": str(path) if path else None,
        }
        return source, source.instruments, info
    if not known:
        known = generated_instruments(max(m.symbols, 1), m.seed)
    start_ts = int(m.start.timestamp() * 1000)
    start_ts -= start_ts % 60_000
    source = SyntheticMarket(known, seed=m.seed, start_ts=start_ts, symbols=min(m.symbols, len(known)))
    info = {
        "source": "synthetic",
        "seed": m.seed,
        "symbols": len(source.instruments),
        "instruments_file": str(path) if path else "generated",
    }
    return source, source.instruments, info


def assemble(cfg: Config, log: Any, *, duration_s: float | None = None, kill_switch: str | None = None) -> Assembly:
    source, instruments, info = load_market(cfg)
    clock = VirtualClock()
    slippage_bps = cfg.sim.slippage_bps
    instruments = {s: _with_min_notional(i, cfg.sim.min_notional_usdt) for s, i in instruments.items()}
    matching = MatchingEngine(
        instruments,
        balance=cfg.capital_usdt,
        taker_fee=cfg.fees.taker,
        maker_fee=cfg.fees.maker,
        slippage_bps=slippage_bps,
    )
    speed = None if cfg.market.speed == "max" else float(cfg.market.speed)
    s = cfg.strategy
    tf = parse_timeframe(s.entry_timeframe)
    warmup = (max(s.lookback_bars, s.atr_bars) + 1) * tf  # 1m batches until the entry rule can fire
    venue = SimVenue(source, matching, clock, speed=speed, warmup_batches=warmup)
    portfolio = Portfolio(cfg.capital_usdt)
    r = cfg.risk
    slip = slippage_bps / Decimal(10_000)
    limits = Limits(
        r.max_concurrent_trades,
        r.max_loss_per_trade_usdt,
        r.max_daily_loss_usdt,
        r.max_drawdown_pct,
        r.max_leverage,
        r.max_position_notional_usdt,
        cfg.fees.taker,
        slip,
    )
    guard = RiskGuard(limits, kill_switch)
    rule = BreakoutRule(s.lookback_bars, s.atr_bars, float(s.stop_atr), float(s.take_profit_atr), tf)
    sizing = SizingParams(
        r.max_loss_per_trade_usdt,
        r.max_leverage,
        r.max_position_notional_usdt,
        r.max_concurrent_trades,
        cfg.fees.taker,
        slip,
        s.dynamic_leverage,
    )
    client_ids = ClientIds("omni" + secrets.token_hex(4))
    pipeline = DecisionPipeline(instruments, rule, tf, sizing, guard, portfolio, client_ids)
    targets = {"trades_per_day": cfg.targets.trades_per_day, "min_net_profit_usdt": cfg.targets.min_net_profit_usdt}
    telemetry = Telemetry(log, portfolio, targets)
    executor = Executor(venue, guard, portfolio, client_ids, log, r.max_loss_per_trade_usdt)
    duration_ms = None if duration_s is None else int(duration_s * 1000)
    trader = Trader(venue, pipeline, portfolio, guard, executor, telemetry, log, duration_ms, warmup)
    return Assembly(cfg, venue, portfolio, guard, pipeline, executor, telemetry, trader, info)


def _with_min_notional(inst: Instrument, min_notional: Decimal) -> Instrument:
    if inst.min_notional == min_notional:
        return inst
    return replace(inst, min_notional=min_notional)

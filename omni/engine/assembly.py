"""Build the object graph of one daemon run from a validated Config (no tasks started here)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from omni.clock import VirtualClock
from omni.config import Config
from omni.core.compound import CompoundController
from omni.core.ghost import GhostParams
from omni.core.outcomes import OutcomeTracker
from omni.core.pacer import Pacer
from omni.core.pipeline import ClientIds, DecisionPipeline, PipelineParams
from omni.core.portfolio import Portfolio
from omni.core.recalibration import WalkForwardCalibration
from omni.core.risk import Limits, RiskGuard
from omni.core.scanner import ScannerParams, make_scanner
from omni.core.sizer import SizerParams
from omni.domain.instrument import Instrument
from omni.domain.market import parse_timeframe
from omni.domain.orders import TriggerBy
from omni.engine.executor import Executor
from omni.engine.journaling import JournalWriter
from omni.engine.resume import booked_net, bybit_ledger, sim_resume
from omni.engine.scope import bybit_identity, claim_journal, describe, sim_identity
from omni.engine.telemetry import Telemetry
from omni.engine.trader import Trader
from omni.exchange.matching import MatchingEngine
from omni.journal import Journal
from omni.state import KillSwitchLatch, calibration_writer
from omni.venues.bybit import BybitVenue
from omni.venues.bybit_transport import default_urls
from omni.venues.instruments_file import default_instruments_path, generated_instruments, load_instruments
from omni.venues.replay import ReplayMarket, classify, sibling_funding
from omni.venues.sim import SimVenue
from omni.venues.snapshots import in_force
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
    source: Any = None  # the market source (ReplayMarket knows first_ts/last_ts)
    journal: JournalWriter | None = None
    known_positions: set[str] = field(default_factory=set)  # open in the journal when this run started
    #: one plain line for a person when this run resumes a journal (which, balance, positions, market time, how to
    #: start over); None for a new journal
    resume_line: str | None = None


def replay_files(paths: list[Path]) -> list[Path]:
    """The given files plus, for each kline file in the shared-data layout, its funding file if present."""
    out = list(paths)
    for p in paths:
        if not p.is_dir() and classify(p) == "klines":
            f = sibling_funding(p)
            if f is not None and f not in out:
                out.append(f)
    return out


def store_notes(source: ReplayMarket, root: Path, explicit: bool) -> list[str]:
    """Use a store's instrument snapshot for its symbols (unless an instruments file is configured) and say what a
    reader of the results must know: whether the specs are point-in-time, survivorship."""
    from omni.venues.store import read_manifest  # pyarrow only when a store is replayed

    notes = []
    snap = in_force(root, source.first_ts, source.last_ts)
    if snap is not None and not explicit:
        source.use_instruments({s: i for s, i in snap.instruments.items() if s in source.klines})
        notes.append(snap.note(source.first_ts))
        notes += [f"snapshot {name} falls inside the replay and is not applied mid-run" for name in snap.later]
    elif snap is None:
        notes.append(f"{root}: no instrument snapshot; specs come from the instruments file or are assumed")
    request = read_manifest(root).get("request") or {}
    if request.get("all_listed"):
        notes.append(f"{root}: --symbols all was the symbols listed on {request.get('snapshot', '?')[:10]}; "
                     "delisted symbols are absent (survivorship bias: results lean optimistic)")  # fmt: skip
    return notes


def mark_note(source: ReplayMarket) -> str:
    marked = len(source.mark)
    if not marked:
        return "no mark-price bars: liquidation triggers on last-price bar extremes"
    missing = len(source.symbols) - marked
    rest = f"; on last-price bar extremes for the other {missing}" if missing else ""
    return f"liquidation triggers on mark-price bars for {marked} symbols{rest}"


def load_market(cfg: Config) -> tuple[Any, dict[str, Instrument], dict[str, Any]]:
    """The market source and its instruments. Raises DataError for unusable data (before any trading)."""
    m = cfg.market
    path = m.instruments_file or default_instruments_path()
    known = load_instruments(path) if path is not None else {}
    if m.source == "replay":
        files = replay_files(list(m.data_files))
        source = ReplayMarket(files, known)
        if m.replay_from is not None or m.replay_to is not None:
            source.window(_ms(m.replay_from), _ms(m.replay_to))
        notes = list(source.notes)
        for root in (f for f in files if f.is_dir()):
            notes += store_notes(source, root, explicit=m.instruments_file is not None)
        notes.append(mark_note(source))
        info = {
            "source": "replay",
            "files": [str(f) for f in files],
            "symbols": source.symbols,
            "instruments_file": str(path) if path else None,
            "notes": notes,
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


def _latch(cfg: Config, log: Any, reset: bool) -> tuple[KillSwitchLatch, str | None]:
    latch = KillSwitchLatch(cfg.engine.state_dir)
    if reset:
        previous = latch.reset()
        log.warning("kill_switch_reset", previous=previous, latch=str(latch.path))
    return latch, latch.load()


def assemble(
    cfg: Config, log: Any, *, duration_s: float | None = None, reset_kill_switch: bool = False, fresh: bool = False
) -> Assembly:
    """Build a run on the sim venue. The kill switch comes from the latch in ``engine.state_dir``. The journal there
    is resumed only when it describes this market (``scope.claim_journal``; ``fresh`` sets another one aside)."""
    identity = sim_identity(cfg)
    resumable = claim_journal(cfg, identity, fresh=fresh, log=log)
    latch, kill_switch = _latch(cfg, log, reset_kill_switch)
    source, instruments, info = load_market(cfg)
    clock = VirtualClock()
    instruments = {s: _with_min_notional(i, cfg.sim.min_notional_usdt) for s, i in instruments.items()}
    matching = MatchingEngine(
        instruments,
        balance=cfg.capital_usdt,
        taker_fee=cfg.fees.taker,
        maker_fee=cfg.fees.maker,
        slippage_bps=cfg.sim.slippage_bps,
        id_prefix=secrets.token_hex(3) + "-",
    )
    speed = None if cfg.market.speed == "max" else float(cfg.market.speed)
    warmup = warmup_ms(cfg)
    resume = sim_resume(cfg, log, matching) if resumable else None
    venue = SimVenue(
        source, matching, clock, speed=speed, warmup_ms=warmup, resume_after_ts=resume["market_ts"] if resume else None
    )
    capital = Decimal(resume["capital_start"]) if resume else cfg.capital_usdt
    asm = _core(
        cfg, log, venue, instruments, info, source, latch, kill_switch, capital, warmup, duration_s, identity, resume
    )
    if resume:
        p = asm.portfolio
        p.positions.update(matching.positions())
        for symbol, pos in p.positions.items():
            p.adopt(symbol, pos.side, pos.opened_ts)
        asm.trader.resume_after_ts = resume["market_ts"]
        log.warning(
            "sim_resumed",
            market_ts=resume["market_ts"],
            balance=matching.balance,
            positions=sorted(p.positions),
            journal=str(cfg.engine.journal_path),
        )
        asm.resume_line = (
            f"resuming the journal {cfg.engine.journal_path} ({describe(identity)}): balance {matching.balance} USDT, "
            f"open positions {', '.join(sorted(p.positions)) or 'none'}, market time {_iso(resume['market_ts'])}; "
            "start over with --fresh"
        )
    return asm


#: how far before the journal's last fill a restarted Bybit run re-reads executions and the transaction log
RESTART_REREAD_MS = 86_400_000


def bybit_venue(cfg: Config, log: Any, api_key: str, api_secret: str) -> BybitVenue:
    """The Bybit venue of ``cfg`` (no I/O yet), primed from the journal: the execIds already booked and the time
    from which executions must be re-read, so a restart books what happened while it was down, once."""
    v = cfg.venue
    rest, pub, priv = default_urls(v.name)
    venue = BybitVenue(
        v.name,
        v.rest_url or rest,
        v.public_ws_url or pub,
        v.private_ws_url or priv,
        api_key,
        api_secret,
        log,
        symbols=v.symbols or None,
        allow_mainnet=v.allow_mainnet,
        requests_per_second=v.requests_per_second,
        market_requests_per_second=v.market_requests_per_second,
        account_requests_per_second=v.account_requests_per_second,
        ip_requests_per_second=v.ip_requests_per_second,
        max_silence_s=v.public_silence_s,
        pong_timeout_s=v.pong_timeout_s,
        ping_interval_s=v.ping_interval_s,
        batch_grace_ms=v.batch_grace_ms,
        symbols_per_socket=v.symbols_per_socket,
        resync_interval_s=v.resync_interval_s,
        tickers_interval_s=v.tickers_interval_s,
        instruments_refresh_s=v.instruments_refresh_s,
        clock_sync_s=v.clock_sync_s,
        warmup_minutes=warmup_ms(cfg) // 60_000,
        testnet=v.name == "bybit-testnet",
        set_margin_mode=v.set_margin_mode,
        clock=v.clock,
    )
    path = cfg.engine.journal_path
    if path.exists():
        journal = Journal(path)
        try:
            venue.seen_exec, last = journal.execution_cursor()
            # re-read a day before the last booked fill (the execIds dedupe): a daemon killed while lagging has
            # fills its venue had seen (older than the last one it booked) that never reached the journal
            venue.exec_since_ms = None if last is None else last - RESTART_REREAD_MS
            venue.seen_tx = journal.transfer_ids()
        finally:
            journal.close()
    return venue


async def assemble_bybit(
    cfg: Config,
    log: Any,
    venue: BybitVenue,
    *,
    duration_s: float | None = None,
    reset_kill_switch: bool = False,
    fresh: bool = False,
) -> Assembly:
    """Build a run on Bybit testnet / demo (or the emulator): connect (instruments, account, sockets). The 1m
    history loads behind the sockets in the venue's ``warmup`` task; no entries until the bars are live."""
    await venue.connect()
    identity = bybit_identity(venue.name, venue.rest_url, venue.user_id)
    resumable = claim_journal(cfg, identity, fresh=fresh, log=log)
    if not resumable:  # a new journal: nothing booked yet, whatever a set-aside one had seen
        venue.seen_exec, venue.seen_tx = set(), set()
    latch, kill_switch = _latch(cfg, log, reset_kill_switch)
    info = {"source": venue.name, "url": venue.rest_url, "symbols": len(venue.feed.symbols)}
    # the wallet already holds the executions and transfers made while the daemon was down; this run books them
    # (they are waiting in the stream), so the ledger must explain the wallet before them
    capital = venue.balance() - booked_net(venue.pending_events())
    restore = bybit_ledger(cfg, log, venue.name, capital) if resumable else None
    start = restore["capital_start"] if restore else capital
    asm = _core(
        cfg, log, venue, venue.instruments, info, None, latch, kill_switch, start, 0, duration_s, identity, restore
    )
    if restore:
        asm.resume_line = (
            f"resuming the journal {cfg.engine.journal_path} ({describe(identity)}): wallet {venue.balance()} USDT "
            f"(first start {start}), open positions {', '.join(venue.position_symbols()) or 'none'}; start "
            "over with --fresh"
        )
    if restore and restore["unexplained"]:
        # the wallet and the journal disagree (executions older than the exchange keeps, a journal lost in part):
        # booked as an adjustment so the identity holds, without moving the risk baselines
        asm.trader.pending_adjustment = restore["unexplained"]
    asm.trader.resume_after_ts = venue.live_from_ms + 60_000  # the first live minute's close
    return asm


def _core(
    cfg: Config,
    log: Any,
    venue: Any,
    instruments: dict[str, Instrument],
    info: dict[str, Any],
    source: Any,
    latch: KillSwitchLatch,
    kill_switch: str | None,
    capital: Decimal,
    warmup: int,
    duration_s: float | None,
    identity: dict[str, Any],
    resume: dict[str, Any] | None = None,
) -> Assembly:
    """Everything above the venue: ledger, guard, pipeline, executor, telemetry, trader. ``resume`` (a restart of
    the same account) holds the journal's sums; the risk baselines journaled by that run are restored too."""
    slippage_bps = cfg.sim.slippage_bps
    portfolio = Portfolio(capital)
    if resume:
        for name in ("realised", "fees", "funding", "deposits", "withdrawals", "adjustments"):
            setattr(portfolio, name, resume[name])
        portfolio.peak_equity = portfolio.day_start_equity = portfolio.capital
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
    st, sc, g = cfg.strategy, cfg.scanner, cfg.ghost
    timeframes = tuple(sorted(parse_timeframe(t) for t in st.timeframes))
    scanner = make_scanner(
        instruments,
        ScannerParams(
            timeframes=timeframes,
            breakout_bars=st.breakout_bars,
            atr_bars=st.atr_bars,
            volatility_bars=sc.volatility_bars,
            turnover_bars=sc.turnover_bars,
            min_history_bars=sc.min_history_bars,
            min_turnover_usdt=float(sc.min_turnover_usdt),
            halted_bars=sc.halted_bars,
            stop_atr=float(st.stop_atr),
            take_profit_atr=float(st.take_profit_atr),
            # what the simulator searches for past signals (and their horizon) and the channel need, no more
            history_bars=max(g.lookback_bars, st.max_hold_bars + 2, st.breakout_bars + 2, sc.min_history_bars),
            blacklist=frozenset(sc.blacklist),
        ),
    )
    sizer_params = SizerParams(
        cfg.targets.min_net_profit_usdt,
        r.max_loss_per_trade_usdt,
        r.max_leverage,
        r.max_position_notional_usdt,
        cfg.fees.taker,
        slip,
        cfg.sizer.liq_buffer_pct / 100,
        st.dynamic_leverage,
    )
    ghost_params = GhostParams(
        g.windows,
        st.max_hold_bars,
        g.min_samples,
        g.confidence,
        float(g.min_ev_lower_usdt),
        g.min_win_prob_lower,
        float(slip),
        float(cfg.fees.taker),
    )
    params = PipelineParams(
        sizer_params,
        ghost_params,
        sc.max_candidates_per_bar,
        r.max_concurrent_trades,
        cfg.sizer.expected_hold_minutes,
        TriggerBy(r.stop_trigger),
    )
    compound = CompoundController(cfg.compound.fraction_per_trade, cfg.compound.max_margin_per_trade_usdt)
    pacer = Pacer(cfg.targets.trades_per_day, cfg.pacer.spacing)
    client_ids = ClientIds("omni" + secrets.token_hex(4))
    pipeline = DecisionPipeline(instruments, scanner, params, compound, pacer, guard, portfolio, client_ids)
    pipeline.outcomes = OutcomeTracker(float(cfg.fees.taker), float(slip), st.max_hold_bars)
    cal = cfg.calibration
    pipeline.recalibration = WalkForwardCalibration(int(cal.fold_days * 86_400_000), cal.method, cal.min_fit)
    pipeline.recalibration.on_refit = calibration_writer(cfg.engine.state_dir / "calibration.json", log)
    targets = {"trades_per_day": cfg.targets.trades_per_day, "min_net_profit_usdt": cfg.targets.min_net_profit_usdt}
    telemetry = Telemetry(log, portfolio, targets)
    executor = Executor(venue, guard, portfolio, client_ids, log, r.max_loss_per_trade_usdt, TriggerBy(r.stop_trigger))
    duration_ms = None if duration_s is None else int(duration_s * 1000)
    trader = Trader(venue, pipeline, portfolio, guard, executor, telemetry, log, duration_ms, warmup)
    trader.latch = latch
    if kill_switch is not None:
        pipeline.entries_enabled = False
    journal = Journal(cfg.engine.journal_path)
    known = journal.known_position_symbols()
    risk_state = journal.meta("risk_state") if resume else None
    if risk_state and risk_state.get("venue") == venue.name:
        trader.time_stops = {str(k): int(v) for k, v in (journal.meta("time_stops") or {}).items()}
        same_day = portfolio.restore_risk_state(risk_state)
        log.warning(
            "risk_state_restored",
            peak_equity=portfolio.peak_equity,
            day_start_equity=portfolio.day_start_equity if same_day else None,
            trades_today=portfolio.trades_today if same_day else None,
            journaled_day=risk_state.get("day"),
        )
    # the sim's account is rebuilt from this journal at a restart: its orders need no write ahead of them
    writer = JournalWriter(journal, log, clock=venue.now_ms, durable_intents=not isinstance(venue, SimVenue))
    # a new baseline whenever this run does not resume the journal's account (a first run, or a journal another
    # venue wrote): a later restart must read this run's start, not another account's
    first_run = resume is None
    writer.add(
        [
            *([("meta", ("capital_start", json.dumps(str(capital))))] if first_run else []),
            ("meta", ("venue", json.dumps(venue.name))),
            ("meta", ("identity", json.dumps(identity))),
            ("meta", ("run_id", json.dumps(client_ids.run_id))),
        ]
    )
    trader.journal = executor.journal = telemetry.journal = writer
    return Assembly(cfg, venue, portfolio, guard, pipeline, executor, telemetry, trader, info, source, writer, known)


def _ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def warmup_ms(cfg: Config) -> int:
    """Market time until every timeframe has the history the scanner and the simulator need."""
    tfs = [parse_timeframe(t) for t in cfg.strategy.timeframes]
    need = max(cfg.scanner.min_history_bars, cfg.ghost.min_samples + cfg.strategy.max_hold_bars + 1)
    return need * max(tfs) * 60_000


def _with_min_notional(inst: Instrument, min_notional: Decimal) -> Instrument:
    if inst.min_notional == min_notional:
        return inst
    return replace(inst, min_notional=min_notional)

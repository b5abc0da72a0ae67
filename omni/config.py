"""OMNI configuration: a YAML file, then OMNI_* environment overrides, validated by pydantic.

Priority: environment ``OMNI_<SECTION>__<FIELD>=value`` (value parsed as YAML) > YAML file > defaults.
The override merge is done by hand so unknown ``OMNI_*`` variables are errors and every error names the
field path and the variable. Relative paths in ``market.data_files`` / ``market.instruments_file`` resolve
against the current working directory at load time. Secrets never live in :class:`Config`; they come
from the environment or ``.env`` through :class:`Secrets`.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from omni.domain.errors import ConfigError

ENV_PREFIX = "OMNI_"
#: OMNI_* variables that are not config overrides (read by other parts of OMNI).
NON_CONFIG_ENV = frozenset({"OMNI_SHARED_DATA"})
Timeframe = Literal["1m", "3m", "5m"]
_SECRET_KEY = re.compile(r"secret|api_?key|passphrase|password|private_?key", re.IGNORECASE)
_MESSAGES = {"model_type": "must be a mapping of settings", "path_type": "must be a file path"}
_SECRET_MSG = "secrets belong in the environment or .env (BYBIT_API_KEY, BYBIT_API_SECRET), not the config file"


class _Redacted:
    def __repr__(self) -> str:
        return "<redacted>"


REDACTED = _Redacted()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetsConfig(_Model):
    """Pacing targets: what the strategy aims for, never a promise."""

    trades_per_day: int = Field(750, ge=1, description="Pacing target for trades per day.")
    min_net_profit_usdt: Decimal = Field(Decimal("2"), gt=0, description="Per trade, after fees+funding.")


class RiskConfig(_Model):
    max_concurrent_trades: int = Field(10, ge=1, le=100, description="Open positions at once.")
    max_loss_per_trade_usdt: Decimal = Field(Decimal("1.0"), gt=0, description="Loss cap per trade, USDT.")
    max_daily_loss_usdt: Decimal = Field(Decimal("3.0"), gt=0, validate_default=True, description="Kill, USDT.")
    max_drawdown_pct: Decimal = Field(Decimal("30"), gt=0, le=100, description="From peak equity; kill, %.")
    max_leverage: Decimal = Field(Decimal("50"), ge=1, le=125, description="Cap below the symbol max.")
    max_position_notional_usdt: Decimal = Field(Decimal("1000"), gt=0, description="Position value, USDT.")
    stop_trigger: Literal["MarkPrice", "LastPrice"] = Field(
        "MarkPrice", description="Price the stop-loss/take-profit trigger on (Bybit slTriggerBy/tpTriggerBy)."
    )

    @field_validator("max_daily_loss_usdt")
    @classmethod
    def _daily_covers_trade(cls, v: Decimal, info: ValidationInfo) -> Decimal:
        per_trade = info.data.get("max_loss_per_trade_usdt")
        if per_trade is not None and v < per_trade:
            raise ValueError(f"must be >= risk.max_loss_per_trade_usdt ({per_trade})")
        return v


class StrategyConfig(_Model):
    timeframes: list[Timeframe] = Field(default_factory=lambda: ["1m", "3m", "5m"], min_length=1)
    dynamic_leverage: bool = Field(True, description="Size leverage per trade instead of using the cap.")
    breakout_bars: int = Field(20, ge=5, le=500, description="Breakout channel, bars.")
    atr_bars: int = Field(14, ge=2, le=200, description="ATR period, bars.")
    stop_atr: Decimal = Field(Decimal("1.5"), gt=0, description="Stop-loss distance, ATRs.")
    take_profit_atr: Decimal = Field(Decimal("4.0"), gt=0, description="Take-profit distance, ATRs.")
    max_hold_bars: int = Field(
        60, ge=1, le=10_000, description="Time stop: close at market after this many bars of the signal's timeframe."
    )

    @field_validator("timeframes")
    @classmethod
    def _no_duplicates(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("timeframes must not repeat")
        return v


class ScannerConfig(_Model):
    min_history_bars: int = Field(60, ge=10, le=10_000, description="Bars of a timeframe before trading it.")
    volatility_bars: int = Field(30, ge=5, le=1000, description="Realised volatility window, bars.")
    turnover_bars: int = Field(60, ge=5, le=1000, description="Turnover window, bars.")
    min_turnover_usdt: Decimal = Field(Decimal("10000"), ge=0, description="Average turnover per bar, USDT.")
    halted_bars: int = Field(5, ge=1, le=1000, description="Zero-volume bars in a row that mean halted.")
    max_candidates_per_bar: int = Field(20, ge=1, le=1000, description="Candidates evaluated per bar close.")
    blacklist: list[str] = Field(default_factory=list, description="Symbols never traded.")


class SizerConfig(_Model):
    liq_buffer_pct: Decimal = Field(Decimal("0.5"), ge=0, le=50, description="Liq beyond SL by this % of entry.")
    expected_hold_minutes: int = Field(30, ge=1, le=100_000, description="For the expected funding, minutes.")


class CompoundConfig(_Model):
    fraction_per_trade: Decimal = Field(Decimal("0.5"), gt=0, le=1, description="Margin share of equity.")
    max_margin_per_trade_usdt: Decimal | None = Field(None, gt=0, description="Absolute cap, USDT; null = none.")


class GhostConfig(_Model):
    windows: int = Field(240, ge=10, le=100_000, description="Most recent past signals replayed.")
    lookback_bars: int = Field(1440, ge=100, le=100_000, description="Bars searched for past signals, per timeframe.")
    min_samples: int = Field(30, ge=1, le=100_000, description="Effective sample size below this: veto.")
    confidence: float = Field(0.99, gt=0.5, lt=1, allow_inf_nan=False, description="One-sided bound level.")
    min_ev_lower_usdt: Decimal = Field(Decimal("0"), description="Veto when the EV lower bound is below this.")
    min_win_prob_lower: float = Field(0.0, ge=0, le=1, allow_inf_nan=False, description="Wilson lower bound.")

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_hold_bars" in data:
            raise ValueError(
                "ghost.max_hold_bars moved to strategy.max_hold_bars: it is now the live trades' time stop too "
                "(the simulator replays the rule the trader applies)"
            )
        return data


class CalibrationConfig(_Model):
    """Walk-forward recalibration of the simulator's win probability (fitted on earlier folds only)."""

    method: Literal["isotonic", "platt", "off"] = Field("isotonic", description="The map fitted: isotonic/platt/off.")
    fold_days: float = Field(3.0, gt=0, le=365, allow_inf_nan=False, description="Fold length, days of market time.")
    min_fit: int = Field(200, ge=10, le=10_000_000, description="Resolved forecasts needed to fit a map.")

    @field_validator("method", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        return "off" if v is False else v  # YAML 1.1 reads a bare `off` as false


class PacerConfig(_Model):
    spacing: bool = Field(True, description="Space entries at seconds_left_in_day / trades_left.")


class FeesConfig(_Model):
    taker: Decimal = Field(Decimal("0.00055"), ge=0, lt=Decimal("0.01"), description="Taker fee rate.")
    maker: Decimal = Field(Decimal("0.0002"), ge=0, lt=Decimal("0.01"), description="Maker fee rate.")


class VenueConfig(_Model):
    name: Literal["sim", "bybit-testnet", "bybit-demo"] = Field("sim", description="Order destination.")
    allow_mainnet: bool = Field(False, description="Mainnet order placement is impossible unless true.")
    clock: Literal["exchange", "market"] = Field(
        "exchange",
        description="The daemon's 'now': exchange = the exchange's server time (Bybit); market = from the bars "
        "only (a rehearsal on the emulator at another speed or start time).",
    )
    set_margin_mode: bool = Field(
        True,
        description="At start, set the account's margin mode to isolated (account wide, only when flat); "
        "false: refuse to start unless it already is.",
    )
    rest_url: str | None = Field(None, description="REST base URL; null = Bybit testnet / demo by venue name.")
    public_ws_url: str | None = Field(None, description="Public WebSocket base URL; null = by venue name.")
    private_ws_url: str | None = Field(None, description="Private WebSocket base URL; null = by venue name.")
    symbols: list[str] = Field(default_factory=list, description="Symbols to trade; empty = every listed one.")
    requests_per_second: float = Field(
        8.0, gt=0, le=50, allow_inf_nan=False, description="REST budget of order entry, cancels and stops."
    )
    market_requests_per_second: float = Field(
        40.0, gt=0, le=100, allow_inf_nan=False, description="REST budget of public market data (warm-up, gaps)."
    )
    account_requests_per_second: float = Field(
        20.0, gt=0, le=50, allow_inf_nan=False, description="REST budget of private reads (resyncs)."
    )
    ip_requests_per_second: float = Field(
        80.0, gt=0, le=120, allow_inf_nan=False, description="All REST together (Bybit: 600 per 5 s per IP)."
    )
    batch_grace_ms: int = Field(1500, ge=0, le=20_000, description="Wait for a minute's closes across symbols.")
    symbols_per_socket: int = Field(125, ge=1, le=500, description="Public kline topics per WebSocket.")
    resync_interval_s: float = Field(60.0, ge=1, le=3600, allow_inf_nan=False, description="Periodic REST resync.")
    tickers_interval_s: float = Field(60.0, ge=1, le=3600, allow_inf_nan=False, description="Funding rates poll.")
    instruments_refresh_s: float = Field(3600.0, ge=10, le=86400, allow_inf_nan=False, description="Listings.")
    clock_sync_s: float = Field(300.0, ge=5, le=86400, allow_inf_nan=False, description="Server time sampling.")
    ping_interval_s: float = Field(20.0, gt=0, le=60, allow_inf_nan=False, description="WebSocket pings.")
    pong_timeout_s: float = Field(60.0, gt=0, le=600, allow_inf_nan=False, description="Dead without a pong.")
    public_silence_s: float = Field(90.0, gt=0, le=3600, allow_inf_nan=False, description="Dead without klines.")


class SimConfig(_Model):
    slippage_bps: Decimal = Field(Decimal("2"), ge=0, le=500, description="Adverse, market/stop fills, bps.")
    min_notional_usdt: Decimal = Field(Decimal("5"), gt=0, description="Minimum order value, USDT.")


def _absolute(p: Path) -> Path:
    p = p.expanduser()
    return p if p.is_absolute() else Path.cwd() / p


class MarketConfig(_Model):
    source: Literal["synthetic", "replay"] = Field("synthetic", description="Market data source.")
    symbols: int = Field(200, ge=1, le=2000, description="Synthetic symbol count.")
    seed: int = Field(42, ge=0, description="Synthetic market RNG seed.")
    speed: float | Literal["max"] = Field(60.0, description="Market seconds per wall second, or 'max'.")
    start: AwareDatetime = Field(datetime(2025, 6, 1, tzinfo=UTC), description="Synthetic start (aware).")
    data_files: list[Path] = Field(default_factory=list, validate_default=True, description="Replay inputs.")
    instruments_file: Path | None = Field(None, description="Instrument specs JSON; null = auto-discover.")
    replay_from: AwareDatetime | None = Field(None, description="Replay only bars opening at or after this time.")
    replay_to: AwareDatetime | None = Field(None, description="Replay only bars opening before this time.")

    @field_validator("replay_to")
    @classmethod
    def _window_order(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("replay_from")
        if v is not None and start is not None and v <= start:
            raise ValueError(f"must be after market.replay_from ({start.isoformat()})")
        return v

    @field_validator("speed", mode="before")
    @classmethod
    def _parse_speed(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() == "max":
            return "max"
        try:
            speed = float(v) if not isinstance(v, bool) else math.nan
        except (TypeError, ValueError):
            speed = math.nan
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError("must be a finite number > 0 or 'max'")
        return speed

    @field_validator("data_files")
    @classmethod
    def _replay_needs_files(cls, v: list[Path], info: ValidationInfo) -> list[Path]:
        if info.data.get("source") == "replay" and not v:
            raise ValueError("market.source is 'replay', so at least one data file is required")
        return [_absolute(p) for p in v]

    @field_validator("instruments_file")
    @classmethod
    def _abs_instruments(cls, v: Path | None) -> Path | None:
        return None if v is None else _absolute(v)


class EngineConfig(_Model):
    on_shutdown: Literal["close", "keep"] = Field("close", description="Close or keep positions on exit.")
    max_task_restarts: int = Field(5, ge=0, le=100, description="Restarts of a failed task before giving up.")
    restart_budget_reset_s: float = Field(
        300.0, gt=0, le=86400, allow_inf_nan=False, description="A task healthy this long gets its restarts back."
    )
    restart_backoff_s: float = Field(0.5, gt=0, le=60, allow_inf_nan=False, description="Doubles, seconds.")
    flatten_retry_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="After a kill-switch flatten left positions or orders open, retry it this often (seconds).",
    )
    shutdown_timeout_s: float = Field(4.0, ge=0.1, le=30, allow_inf_nan=False, description="Seconds.")
    state_dir: Path = Field(
        Path("omni-state"), validate_default=True, description="Latched state (kill switch); relative to the cwd."
    )
    journal: Path | None = Field(None, description="SQLite journal; null = <state_dir>/journal.sqlite.")
    unknown_positions: Literal["close", "adopt"] = Field(
        "close", description="At start, venue positions the journal does not know: close them or adopt them."
    )

    @field_validator("state_dir")
    @classmethod
    def _state_abs(cls, v: Path) -> Path:
        return _absolute(v)

    @field_validator("journal")
    @classmethod
    def _journal_abs(cls, v: Path | None) -> Path | None:
        return None if v is None else _absolute(v)

    @property
    def journal_path(self) -> Path:
        return self.journal or self.state_dir / "journal.sqlite"


class TelemetryConfig(_Model):
    summary_interval_s: float = Field(10.0, gt=0, le=86400, allow_inf_nan=False, description="Wall seconds.")
    log_format: Literal["auto", "json", "console"] = Field("auto", description="auto = console on a TTY.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Minimum level.")
    metrics_port: int | None = Field(None, ge=0, le=65535, description="Prometheus + health on 127.0.0.1; null=off.")
    log_file: Path | None = Field(None, description="Also write log lines here (rotating); null = stdout only.")
    log_file_max_mb: float = Field(10, gt=0, le=10_000, allow_inf_nan=False, description="Rotate at this size.")
    log_file_backups: int = Field(5, ge=0, le=100, description="Rotated files kept.")

    @field_validator("log_file")
    @classmethod
    def _log_abs(cls, v: Path | None) -> Path | None:
        return None if v is None else _absolute(v)


class Config(_Model):
    """The whole OMNI configuration; build it with :func:`load_config`."""

    capital_usdt: Decimal = Field(Decimal("12"), gt=0, description="Starting sim wallet balance, USDT.")
    targets: TargetsConfig = Field(default_factory=TargetsConfig, description="Pacing targets, not promises.")
    risk: RiskConfig = Field(default_factory=RiskConfig, description="Hard risk limits.")
    strategy: StrategyConfig = Field(default_factory=StrategyConfig, description="Signal parameters.")
    scanner: ScannerConfig = Field(default_factory=ScannerConfig, description="Asset scanner filters.")
    sizer: SizerConfig = Field(default_factory=SizerConfig, description="Leverage sizer.")
    compound: CompoundConfig = Field(default_factory=CompoundConfig, description="Compound controller.")
    ghost: GhostConfig = Field(default_factory=GhostConfig, description="Pre-trade simulator.")
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig, description="Forecast recalibration.")
    pacer: PacerConfig = Field(default_factory=PacerConfig, description="Entry pacing.")
    fees: FeesConfig = Field(default_factory=FeesConfig, description="Fee rates (fractions).")
    venue: VenueConfig = Field(default_factory=VenueConfig, description="Order destination.")
    sim: SimConfig = Field(default_factory=SimConfig, description="Simulated exchange parameters.")
    market: MarketConfig = Field(default_factory=MarketConfig, description="Market data feed.")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="Task supervision.")
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig, description="Logging and metrics.")


class Secrets(BaseSettings):
    """Bybit API credentials from BYBIT_API_KEY / BYBIT_API_SECRET or ``.env``; testnet/demo keys only."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    bybit_api_key: SecretStr | None = Field(None, description="Bybit API key (env BYBIT_API_KEY).")
    bybit_api_secret: SecretStr | None = Field(None, description="Bybit API secret (env BYBIT_API_SECRET).")


def load_secrets(env_file: str | None = ".env") -> Secrets:
    """Read secrets from the environment and ``env_file`` (environment wins); None skips the file."""
    return Secrets(_env_file=env_file)


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Load ``path`` (None = defaults only), apply OMNI_* overrides from ``env`` (default os.environ).

    Raises ConfigError listing every problem as (field path, value, message).
    """
    source = str(path) if path is not None else "<defaults>"
    data = _read_yaml(Path(path)) if path is not None else {}
    errors: list[tuple[str, object, str]] = []
    _strip_secrets(data, (), errors)
    for key, value in data.items():  # a section whose keys are all commented out loads as null
        if value is None and _section(Config, key) is not None:
            data[key] = {}
    origins = _apply_env(data, os.environ if env is None else env, errors)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        errors += [_convert(err, origins) for err in e.errors()]
    if errors:
        raise ConfigError(source, errors)
    return cfg


def format_config_error(e: ConfigError) -> str:
    """Render ``e`` as a header plus one ``path: message (got value)`` line per error."""
    lines = [f"invalid configuration in {e.source}: {len(e.errors)} error(s)"]
    for path, value, msg in e.errors:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"  {path}: {msg} (got {shown})")
    return "\n".join(lines)


def redacted_dict(cfg: Config) -> dict[str, Any]:
    """Return the effective config as JSON-safe data (Decimals and paths as strings) for a startup log."""
    return cfg.model_dump(mode="json")


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key repeated in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            if isinstance(key, str):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(src, [("(file)", src, f"cannot read config file: {e.strerror or e}")]) from e
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark, ctx = getattr(e, "problem_mark", None), getattr(e, "context_mark", None)
        if mark is None:
            raise ConfigError(src, [("(yaml)", None, f"invalid YAML: {e}")]) from e
        lines = text.splitlines() or [""]
        problem = f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {e.problem}"
        if ctx is not None and getattr(e, "context", None):
            problem += f" ({e.context} started at line {ctx.line + 1}, column {ctx.column + 1})"
        line_text = lines[min(mark.line, len(lines) - 1)].strip()
        raise ConfigError(src, [(f"{src}:{mark.line + 1}:{mark.column + 1}", line_text, problem)]) from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"the top level must be a mapping of section: settings, not a {type(data).__name__}"
        raise ConfigError(src, [("(top level)", data, msg)])
    return data


def _strip_secrets(node: Any, loc: tuple[Any, ...], errors: list[tuple[str, object, str]]) -> None:
    if isinstance(node, dict):
        for key in list(node):
            if isinstance(key, str) and _SECRET_KEY.search(key):
                del node[key]
                errors.append((_dotted((*loc, key)), REDACTED, _SECRET_MSG))
            else:
                _strip_secrets(node[key], (*loc, key), errors)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _strip_secrets(item, (*loc, i), errors)


def _section(model: type[BaseModel] | None, name: Any) -> type[BaseModel] | None:
    field = model.model_fields.get(name) if model is not None and isinstance(name, str) else None
    ann = field.annotation if field is not None else None
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _env_path_problem(parts: tuple[str, ...]) -> str | None:
    model: type[BaseModel] | None = Config
    for i, part in enumerate(parts):
        if model is None:
            return f"{'.'.join(parts[:i])} is a setting, not a section"
        if part not in model.model_fields:
            return f"unknown setting; allowed keys here: {', '.join(model.model_fields)}"
        model = _section(model, part)
    return None


def _apply_env(
    data: dict[str, Any], env: Mapping[str, str], errors: list[tuple[str, object, str]]
) -> dict[tuple[str, ...], str]:
    """Merge OMNI_* variables into ``data``; return {field loc: variable name}."""
    origins: dict[tuple[str, ...], str] = {}
    for var in sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in NON_CONFIG_ENV):
        raw = env[var]
        parts = tuple(var[len(ENV_PREFIX) :].lower().split("__"))
        where = f"{'.'.join(parts)} (from {var})" if any(parts) else var
        if any(_SECRET_KEY.search(p) for p in parts):
            errors.append((where, REDACTED, "secrets go in BYBIT_API_KEY / BYBIT_API_SECRET, not OMNI_*"))
            continue
        problem = _env_path_problem(parts)
        if problem is not None:
            errors.append((where, raw, problem))
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            errors.append((where, raw, f"cannot parse value as YAML: {getattr(e, 'problem', None) or e}"))
            continue
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):  # the YAML section itself is invalid; pydantic reports that
                break
        else:
            old = node.get(parts[-1])
            node[parts[-1]] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
            origins[parts] = var
    return origins


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _convert(err: Mapping[str, Any], origins: Mapping[tuple[str, ...], str]) -> tuple[str, object, str]:
    loc = tuple(err["loc"])
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        parent = functools.reduce(_section, loc[:-1], Config)
        allowed = ", ".join(parent.model_fields) if parent is not None else "?"
        msg = f"unknown key; allowed keys here: {allowed}"
    elif kind == "literal_error":
        msg = f"must be one of {err['ctx']['expected']}"
    else:
        msg = _MESSAGES.get(kind, msg.removeprefix("Value error, "))
    path = _dotted(loc)
    for n in range(len(loc), 0, -1):
        if loc[:n] in origins:
            path += f" (from {origins[loc[:n]]})"
            break
    return path, err.get("input"), msg

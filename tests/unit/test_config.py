"""Tests of omni.config: YAML loading, OMNI_* overrides, error reporting, secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from omni.config import (
    Config,
    Secrets,
    format_config_error,
    load_config,
    load_secrets,
    redacted_dict,
)
from omni.domain.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_YAML = REPO / "config" / "default.yaml"


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path | None, env: dict[str, str] | None = None) -> dict[str, tuple[object, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env)
    return {p: (value, msg) for p, value, msg in info.value.errors}


# --- defaults -------------------------------------------------------------------------------------------


def test_default_yaml_loads_to_exactly_the_model_defaults():
    cfg = load_config(DEFAULT_YAML, env={})
    assert cfg == Config()
    assert redacted_dict(cfg) == redacted_dict(Config())


def test_default_yaml_lists_every_key():
    import yaml

    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    assert set(raw) == set(Config.model_fields)
    for section, value in Config().model_dump().items():
        if isinstance(value, dict):
            assert set(raw[section]) == set(value), section


def test_default_yaml_header_says_targets_are_not_promises():
    header = DEFAULT_YAML.read_text(encoding="utf-8").split("\ncapital_usdt:")[0]
    assert "NOT" in header and "PROMISES" in header
    assert "trades_per_day" in header and "min_net_profit_usdt" in header
    assert "OMNI_" in header and "BYBIT_API_KEY" in header


def test_defaults_match_the_brief():
    cfg = Config()
    assert cfg.capital_usdt == Decimal("12")
    assert cfg.targets.trades_per_day == 750
    assert cfg.targets.min_net_profit_usdt == Decimal("2")
    assert cfg.fees.taker == Decimal("0.00055")
    assert cfg.venue.name == "sim" and cfg.venue.allow_mainnet is False
    assert cfg.market.speed == 60
    assert cfg.market.start == datetime(2025, 6, 1, tzinfo=UTC)
    assert cfg.strategy.timeframes == ["1m", "3m", "5m"]


def test_no_path_and_empty_file_give_defaults(tmp_path):
    assert load_config(None, env={}) == Config()
    assert load_config(write(tmp_path, ""), env={}) == Config()
    assert load_config(write(tmp_path, "# only a comment\n"), env={}) == Config()


def test_section_with_all_keys_commented_out_is_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "risk:\n  # max_leverage: 10\n"), env={})
    assert cfg.risk == Config().risk


def test_yaml_values_override_defaults_and_money_is_decimal(tmp_path):
    cfg = load_config(write(tmp_path, "capital_usdt: 100.5\nfees: {taker: 0.0006}\n"), env={})
    assert cfg.capital_usdt == Decimal("100.5")
    assert cfg.fees.taker == Decimal("0.0006")
    assert cfg.fees.maker == Decimal("0.0002")


# --- one error each, exact path ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "needle"),
    [
        ("bogus: 1\n", "bogus", "allowed keys here: capital_usdt, targets"),
        ("risk:\n  max_trades: 3\n", "risk.max_trades", "allowed keys here: max_concurrent_trades"),
        ("risk:\n  max_concurrent_trades: many\n", "risk.max_concurrent_trades", "integer"),
        ("risk:\n  max_concurrent_trades: 101\n", "risk.max_concurrent_trades", "less than or equal to 100"),
        ("capital_usdt: 0\n", "capital_usdt", "greater than 0"),
        ("fees:\n  maker: -0.0001\n", "fees.maker", "greater than or equal to 0"),
        ("risk:\n  max_drawdown_pct: 101\n", "risk.max_drawdown_pct", "less than or equal to 100"),
        ("venue:\n  name: bybit-mainnet\n", "venue.name", "'sim', 'bybit-testnet' or 'bybit-demo'"),
        ("telemetry:\n  log_level: verbose\n", "telemetry.log_level", "'debug', 'info', 'warning' or 'error'"),
        ("strategy:\n  timeframes: [1m, 15m]\n", "strategy.timeframes[1]", "'1m', '3m' or '5m'"),
        ("strategy:\n  timeframes: []\n", "strategy.timeframes", "at least 1"),
        ("strategy:\n  timeframes: [1m, 1m]\n", "strategy.timeframes", "must not repeat"),
        ("ghost:\n  confidence: 1.5\n", "ghost.confidence", "less than 1"),
        ("market:\n  source: replay\n", "market.data_files", "at least one data file"),
        ("market:\n  start: 2025-06-01T00:00:00\n", "market.start", "timezone"),
        ("market:\n  speed: fast\n", "market.speed", "'max'"),
        ("market:\n  speed: 0\n", "market.speed", "> 0"),
        ("risk:\n  max_loss_per_trade_usdt: 5\n", "risk.max_daily_loss_usdt", "max_loss_per_trade_usdt"),
        ("risk: 5\n", "risk", "mapping"),
        ("engine:\n  restart_backoff_s: .inf\n", "engine.restart_backoff_s", "finite"),
    ],
)
def test_invalid_value_is_reported_at_its_exact_path(tmp_path, text, path, needle):
    errors = errors_of(write(tmp_path, text))
    assert list(errors) == [path]
    assert needle in errors[path][1]


def test_error_carries_the_bad_value(tmp_path):
    errors = errors_of(write(tmp_path, "venue:\n  name: bybit-mainnet\n"))
    assert errors["venue.name"][0] == "bybit-mainnet"


def test_every_error_in_a_file_is_reported(tmp_path):
    text = (
        "capital_usdt: -1\n"
        "nonsense: true\n"
        "risk:\n  max_concurrent_trades: 0\n  max_leverage: 200\n"
        "venue:\n  name: mainnet\n"
        "telemetry:\n  log_level: loud\n"
    )
    path = write(tmp_path, text)
    errors = errors_of(path)
    assert set(errors) == {
        "capital_usdt",
        "nonsense",
        "risk.max_concurrent_trades",
        "risk.max_leverage",
        "venue.name",
        "telemetry.log_level",
    }
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text_out = format_config_error(info.value)
    assert text_out.splitlines()[0].startswith(f"invalid configuration in {path}: 6 error(s)")
    assert "  venue.name: must be one of 'sim', 'bybit-testnet' or 'bybit-demo' (got 'mainnet')" in text_out
    assert len(text_out.splitlines()) == 7
    assert "risk.max_leverage" in str(info.value)


# --- file-level problems ---------------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "risk:\n  max_leverage: 10\n   bad: [1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.source == str(path)
    (where, _value, msg), *rest = info.value.errors
    assert not rest
    assert where.startswith(f"{path}:3:")
    assert "line 3" in msg and "column" in msg


def test_duplicate_key_is_a_syntax_error(tmp_path):
    errors = errors_of(write(tmp_path, "risk:\n  max_leverage: 10\n  max_leverage: 20\n"))
    [(where, (_value, msg))] = errors.items()
    assert where.endswith(":3:3")
    assert "duplicate key 'max_leverage'" in msg


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    errors = errors_of(write(tmp_path, text))
    assert list(errors) == ["(top level)"]
    assert "mapping" in errors["(top level)"][1]


def test_missing_file_is_a_config_error(tmp_path):
    errors = errors_of(tmp_path / "nope.yaml")
    assert "cannot read config file" in errors["(file)"][1]


# --- secrets never in YAML --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("api_key: abc123SECRETVALUE\n", "api_key"),
        ("bybit_api_key: abc123SECRETVALUE\n", "bybit_api_key"),
        ("venue:\n  api_secret: abc123SECRETVALUE\n", "venue.api_secret"),
        ("venue:\n  secret: abc123SECRETVALUE\n", "venue.secret"),
    ],
)
def test_secret_in_yaml_is_rejected_without_echoing_it(tmp_path, text, path):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    errors = {where: msg for where, _value, msg in info.value.errors}
    assert list(errors) == [path]
    assert "environment or .env" in errors[path] and "not the config file" in errors[path]
    assert "abc123SECRETVALUE" not in str(info.value)
    assert "abc123SECRETVALUE" not in format_config_error(info.value)


def test_secret_key_does_not_hide_other_errors(tmp_path):
    errors = errors_of(write(tmp_path, "venue:\n  api_key: x\n  name: nope\n"))
    assert set(errors) == {"venue.api_key", "venue.name"}


# --- environment overrides --------------------------------------------------------------------------------


def test_env_overrides_yaml_and_defaults(tmp_path):
    path = write(tmp_path, "risk:\n  max_concurrent_trades: 7\n  max_leverage: 20\n")
    env = {
        "OMNI_RISK__MAX_CONCURRENT_TRADES": "5",
        "OMNI_CAPITAL_USDT": "50",
        "OMNI_STRATEGY__TIMEFRAMES": "[1m, 5m]",
        "OMNI_VENUE__ALLOW_MAINNET": "false",
        "UNRELATED": "ignored",
    }
    cfg = load_config(path, env=env)
    assert cfg.risk.max_concurrent_trades == 5
    assert cfg.risk.max_leverage == Decimal("20")
    assert cfg.capital_usdt == Decimal("50")
    assert cfg.strategy.timeframes == ["1m", "5m"]


def test_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("OMNI_TELEMETRY__LOG_LEVEL", "debug")
    assert load_config(None).telemetry.log_level == "debug"


def test_env_bad_value_names_the_variable(tmp_path):
    errors = errors_of(None, {"OMNI_RISK__MAX_CONCURRENT_TRADES": "500"})
    key = "risk.max_concurrent_trades (from OMNI_RISK__MAX_CONCURRENT_TRADES)"
    assert list(errors) == [key]
    assert errors[key] == (500, "Input should be less than or equal to 100")


def test_env_bad_list_item_names_the_variable():
    errors = errors_of(None, {"OMNI_STRATEGY__TIMEFRAMES": "[1m, 2m]"})
    assert list(errors) == ["strategy.timeframes[1] (from OMNI_STRATEGY__TIMEFRAMES)"]


@pytest.mark.parametrize(
    ("var", "needle"),
    [
        ("OMNI_RISK__MAX_TRADES", "allowed keys here: max_concurrent_trades"),
        ("OMNI_NOPE", "allowed keys here: capital_usdt"),
        ("OMNI_CAPITAL_USDT__AMOUNT", "capital_usdt is a setting, not a section"),
        ("OMNI_RISK_MAX_LEVERAGE", "allowed keys here"),
    ],
)
def test_unknown_env_variable_is_an_error_naming_it(var, needle):
    with pytest.raises(ConfigError) as info:
        load_config(None, env={var: "3"})
    [(where, value, msg)] = info.value.errors
    assert var in where
    assert value == "3"
    assert needle in msg


def test_env_error_and_file_error_are_reported_together(tmp_path):
    errors = errors_of(write(tmp_path, "capital_usdt: -5\n"), {"OMNI_RISK__NOPE": "1"})
    assert set(errors) == {"capital_usdt", "risk.nope (from OMNI_RISK__NOPE)"}


def test_env_secret_variable_is_rejected_without_echoing_it():
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"OMNI_BYBIT_API_KEY": "abc123SECRETVALUE"})
    assert "BYBIT_API_KEY" in info.value.errors[0][2]
    assert "abc123SECRETVALUE" not in str(info.value)


@pytest.mark.parametrize(("raw", "expected"), [("max", "max"), ("MAX", "max"), ("10", 10.0), ("0.5", 0.5)])
def test_speed_accepts_max_and_numbers_from_env(raw, expected):
    assert load_config(None, env={"OMNI_MARKET__SPEED": raw}).market.speed == expected


@pytest.mark.parametrize(("text", "expected"), [("max", "max"), ("10", 10.0), ("'10'", 10.0), ("2.5", 2.5)])
def test_speed_accepts_max_and_numbers_from_yaml(tmp_path, text, expected):
    cfg = load_config(write(tmp_path, f"market:\n  speed: {text}\n"), env={})
    assert cfg.market.speed == expected


def test_replay_with_files_loads_and_relative_paths_resolve_against_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "market:\n  source: replay\n  data_files: [k/BTC.csv, /abs/f.csv]\n  instruments_file: i.json\n"
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.market.data_files == [tmp_path / "k" / "BTC.csv", Path("/abs/f.csv")]
    assert cfg.market.instruments_file == tmp_path / "i.json"


def test_replay_data_files_from_env():
    cfg = load_config(None, env={"OMNI_MARKET__SOURCE": "replay", "OMNI_MARKET__DATA_FILES": "[/d/a.csv]"})
    assert cfg.market.data_files == [Path("/d/a.csv")]


# --- redacted dict -------------------------------------------------------------------------------------------


def test_redacted_dict_is_json_serialisable_with_decimals_as_strings(tmp_path):
    cfg = load_config(None, env={"OMNI_MARKET__INSTRUMENTS_FILE": "/x/i.json"})
    out = redacted_dict(cfg)
    json.dumps(out)
    assert out["capital_usdt"] == "12"
    assert out["fees"]["taker"] == "0.00055"
    assert out["market"]["instruments_file"] == "/x/i.json"
    assert out["market"]["start"].startswith("2025-06-01T00:00:00")


# --- Secrets --------------------------------------------------------------------------------------------------


@pytest.fixture
def no_bybit_env(monkeypatch):
    monkeypatch.delenv("BYBIT_API_KEY", raising=False)
    monkeypatch.delenv("BYBIT_API_SECRET", raising=False)


def test_secrets_from_env_file(tmp_path, no_bybit_env):
    env_file = write(tmp_path, "BYBIT_API_KEY=key-FROM-FILE\nBYBIT_API_SECRET=sec-FROM-FILE\nOTHER=1\n", ".env")
    secrets = load_secrets(str(env_file))
    assert secrets.bybit_api_key is not None and secrets.bybit_api_secret is not None
    assert secrets.bybit_api_key.get_secret_value() == "key-FROM-FILE"
    assert secrets.bybit_api_secret.get_secret_value() == "sec-FROM-FILE"
    for text in (str(secrets), repr(secrets), str(secrets.bybit_api_key), repr(secrets.model_dump())):
        assert "FROM-FILE" not in text


def test_secrets_from_environment_win_over_env_file(tmp_path, no_bybit_env, monkeypatch):
    env_file = write(tmp_path, "BYBIT_API_KEY=key-FROM-FILE\n", ".env")
    monkeypatch.setenv("BYBIT_API_KEY", "key-FROM-ENV")
    secrets = load_secrets(str(env_file))
    assert secrets.bybit_api_key is not None
    assert secrets.bybit_api_key.get_secret_value() == "key-FROM-ENV"
    assert secrets.bybit_api_secret is None
    assert "key-FROM-ENV" not in repr(secrets) and "key-FROM-ENV" not in str(secrets)


def test_empty_secrets_are_none(tmp_path, no_bybit_env):
    env_file = write(tmp_path, "BYBIT_API_KEY=\nBYBIT_API_SECRET=\n", ".env")
    secrets = load_secrets(str(env_file))
    assert secrets.bybit_api_key is None and secrets.bybit_api_secret is None


def test_secrets_without_env_file(no_bybit_env, monkeypatch):
    monkeypatch.setenv("BYBIT_API_SECRET", "sec-ONLY-ENV")
    secrets = load_secrets(None)
    assert isinstance(secrets, Secrets)
    assert secrets.bybit_api_key is None
    assert secrets.bybit_api_secret is not None
    assert secrets.bybit_api_secret.get_secret_value() == "sec-ONLY-ENV"


def test_config_never_holds_secrets(monkeypatch):
    monkeypatch.setenv("BYBIT_API_KEY", "key-NOT-IN-CONFIG")
    cfg = load_config(None, env={})
    assert "key-NOT-IN-CONFIG" not in str(cfg) and "key-NOT-IN-CONFIG" not in repr(cfg)
    assert "key-NOT-IN-CONFIG" not in json.dumps(redacted_dict(cfg))


def test_calibration_method_off_survives_yaml_reading_it_as_false(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("calibration:\n  method: off\n")
    assert load_config(path, env={}).calibration.method == "off"
    assert load_config(None, env={"OMNI_CALIBRATION__METHOD": "off"}).calibration.method == "off"

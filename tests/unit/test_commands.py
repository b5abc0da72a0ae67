"""The command line's parsing: repeated multi-value flags accumulate (``--data A --data B`` == ``--data A B``)."""

from __future__ import annotations

import pytest

from omni.commands import build_parser
from omni.commands.common import data_files


@pytest.fixture
def files(tmp_path):
    paths = []
    for name in ("BTCUSDT.csv", "ETHUSDT.csv", "SOLUSDT.csv"):
        p = tmp_path / name
        p.write_text("ts,open,high,low,close,volume\n")
        paths.append(p)
    return paths


COMMANDS = {
    "run": [],
    "backtest": ["--out", "bt"],
    "feasibility": [],
    "emulator": [],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_repeated_data_flags_accumulate(command, files):
    a, b, c = (str(p) for p in files)
    parse = build_parser().parse_args
    repeated = parse([command, *COMMANDS[command], "--data", a, "--data", b, c])
    together = parse([command, *COMMANDS[command], "--data", a, b, c])
    assert repeated.data == together.data == [p.resolve() for p in files]


@pytest.mark.parametrize("command", ["run", "feasibility", "emulator"])
def test_data_is_optional_where_it_was(command):
    assert build_parser().parse_args([command]).data is None


def test_backtest_still_requires_data(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["backtest", "--out", "bt"])
    assert e.value.code == 2 and "--data" in capsys.readouterr().err


def test_a_missing_data_file_is_a_usage_error_in_any_position(files, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["run", "--data", str(files[0]), "--data", "nope.csv"])
    assert e.value.code == 2 and "data file or directory not found: nope.csv" in capsys.readouterr().err


def test_a_file_named_twice_is_used_once_in_order(files):
    a, b, _ = (p.resolve() for p in files)
    assert data_files([a, b, a]) == [a, b]
    assert data_files(None) == []


def test_help_says_data_is_repeatable(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["backtest", "--help"])
    assert "--data A --data B is --data A B" in " ".join(capsys.readouterr().out.split())


def test_omni_cli_main_is_the_commands_main():
    import omni.cli
    import omni.commands

    assert omni.cli.main is omni.commands.main and omni.cli.build_parser is omni.commands.build_parser

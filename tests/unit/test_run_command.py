"""``omni run`` wiring: --fresh reaches the assembly (sim and Bybit), and a resumed journal is said in one plain line
on stderr before the daemon starts."""

from __future__ import annotations

import types

import pytest

import omni.engine.assembly as assembly
import omni.engine.supervisor as supervisor
from omni.commands import build_parser
from omni.commands import run as run_command

LINE = (
    "resuming the journal omni-state/journal.sqlite (sim synthetic seed 42): balance 12 USDT; start over with --fresh"
)


class Log:
    def __getattr__(self, name):
        return lambda *a, **k: None


@pytest.fixture
def wired(monkeypatch, tmp_path):
    """The run command with the assembly and the supervisor replaced by recorders."""
    monkeypatch.chdir(tmp_path)
    for key in ("BYBIT_API_KEY", "BYBIT_API_SECRET"):
        monkeypatch.setenv(key, "test")
    seen: dict = {"order": []}

    def assemble(cfg, log, **kw):
        seen["sim"] = kw
        return types.SimpleNamespace(resume_line=seen.get("line"))

    async def assemble_bybit(cfg, log, venue, **kw):
        seen["bybit"] = kw
        return types.SimpleNamespace(resume_line=seen.get("line"))

    class Venue:
        async def close(self):
            pass

    class Supervisor:
        def __init__(self, asm, log, summary_json):
            seen["order"].append("supervisor")

        def request_stop(self):
            pass

        async def run(self):
            import sys

            print("daemon started", file=sys.stderr)
            return 0

    monkeypatch.setattr(assembly, "assemble", assemble)
    monkeypatch.setattr(assembly, "assemble_bybit", assemble_bybit)
    monkeypatch.setattr(assembly, "bybit_venue", lambda *a, **k: Venue())
    monkeypatch.setattr(supervisor, "Supervisor", Supervisor)
    monkeypatch.setattr(run_command, "configure_logging", lambda cfg: Log())
    return seen


@pytest.mark.parametrize("venue", ["sim", "bybit-testnet"])
@pytest.mark.parametrize("fresh", [False, True])
def test_fresh_reaches_the_assembly(wired, venue, fresh):
    args = build_parser().parse_args(["run", "--venue", venue, *(["--fresh"] if fresh else [])])
    assert run_command.run(args) == 0
    kw = wired["sim" if venue == "sim" else "bybit"]
    assert kw["fresh"] is fresh and kw["reset_kill_switch"] is False


@pytest.mark.parametrize("venue", ["sim", "bybit-testnet"])
def test_a_resumed_journal_is_one_plain_line_on_stderr_before_the_daemon_starts(wired, venue, capsys):
    wired["line"] = LINE
    assert run_command.run(build_parser().parse_args(["run", "--venue", venue])) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [LINE, "daemon started"]


def test_a_new_journal_prints_no_resume_line(wired, capsys):
    assert run_command.run(build_parser().parse_args(["run"])) == 0
    assert capsys.readouterr().err.splitlines() == ["daemon started"]


def test_fresh_help_says_what_it_does(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "--fresh start a new journal in engine.state_dir (the old one is kept beside it, renamed); without it a "
        "journal of another venue or market is refused" in text
    )

"""Which account a journal describes: a matching run resumes it, another is refused naming both, --fresh sets the
old journal (and its latch and calibration) aside under a dated name, nothing is deleted."""

from __future__ import annotations

import json

import pytest

from omni.config import load_config
from omni.engine.scope import JournalMismatch, bybit_identity, claim_journal, describe, same_run, sim_identity
from omni.journal import Journal


class Log:
    def __init__(self):
        self.lines = []

    def warning(self, event, **kw):
        self.lines.append((event, kw))


def journal_with(cfg, identity, used=True):
    cfg.engine.state_dir.mkdir(parents=True, exist_ok=True)
    j = Journal(cfg.engine.journal_path)
    rows = [("meta", ("identity", json.dumps(identity)))] if identity is not None else []
    if used:
        rows.append(("meta", ("capital_start", '"12"')))
    j.write(rows)
    j.close()


def cfg_in(tmp_path, **env):
    return load_config(None, env={"OMNI_ENGINE__STATE_DIR": str(tmp_path / "state"), **env})


def test_a_new_directory_starts_a_new_journal(tmp_path):
    cfg = cfg_in(tmp_path)
    assert claim_journal(cfg, sim_identity(cfg), fresh=False, log=Log()) is False


def test_the_same_market_resumes(tmp_path):
    cfg = cfg_in(tmp_path)
    journal_with(cfg, sim_identity(cfg))
    assert claim_journal(cfg, sim_identity(cfg), fresh=False, log=Log()) is True


def test_another_market_is_refused_naming_both(tmp_path):
    cfg = cfg_in(tmp_path)
    journal_with(cfg, sim_identity(cfg))
    other = sim_identity(cfg_in(tmp_path, OMNI_MARKET__SEED="7"))
    with pytest.raises(JournalMismatch) as e:
        claim_journal(cfg, other, fresh=False, log=Log())
    assert "seed 42" in str(e.value) and "seed 7" in str(e.value) and "--fresh" in str(e.value)


def test_a_journal_without_identity_that_holds_an_account_is_refused(tmp_path):
    cfg = cfg_in(tmp_path)
    journal_with(cfg, None)
    with pytest.raises(JournalMismatch, match="unknown run"):
        claim_journal(cfg, sim_identity(cfg), fresh=False, log=Log())


def test_fresh_sets_the_old_journal_and_its_companions_aside(tmp_path):
    cfg = cfg_in(tmp_path)
    journal_with(cfg, bybit_identity("bybit-testnet", "https://api-testnet.bybit.com", "1001"))
    state = cfg.engine.state_dir
    (state / "kill_switch.json").write_text("{}")
    (state / "calibration.json").write_text("{}")
    log = Log()
    # Act
    assert claim_journal(cfg, sim_identity(cfg), fresh=True, log=log) is False
    # Assert: nothing where it was, everything kept beside it
    assert not cfg.engine.journal_path.exists() and not (state / "kill_switch.json").exists()
    names = sorted(p.name for p in state.iterdir())
    assert any(n.startswith("journal.") and n.endswith(".sqlite") for n in names)
    assert any(n.startswith("kill_switch.") for n in names) and any(n.startswith("calibration.") for n in names)
    assert log.lines[0][0] == "journal_set_aside"


def test_a_bybit_account_id_that_could_not_be_read_matches_on_venue_and_host():
    known = bybit_identity("bybit-testnet", "https://api-testnet.bybit.com", "1001")
    unknown = bybit_identity("bybit-testnet", "https://api-testnet.bybit.com", None)
    other = bybit_identity("bybit-testnet", "https://api-testnet.bybit.com", "2002")
    demo = bybit_identity("bybit-demo", "https://api-demo.bybit.com", None)
    assert same_run(known, unknown) and same_run(unknown, known)
    assert not same_run(known, other) and not same_run(known, demo)
    assert "account 1001" in describe(known)


def test_replay_identity_is_the_resolved_files_in_order(tmp_path):
    a, b = tmp_path / "B.csv.gz", tmp_path / "A.csv.gz"
    one = sim_identity(cfg_in(tmp_path, OMNI_MARKET__SOURCE="replay", OMNI_MARKET__DATA_FILES=f'["{a}", "{b}"]'))
    two = sim_identity(cfg_in(tmp_path, OMNI_MARKET__SOURCE="replay", OMNI_MARKET__DATA_FILES=f'["{b}", "{a}"]'))
    assert one == two and one["files"] == [str(b.resolve()), str(a.resolve())]
    assert describe(one) == "sim replay of A.csv.gz, B.csv.gz"


def test_fresh_starts_a_new_journal_for_the_same_market_too(tmp_path):
    cfg = cfg_in(tmp_path)
    journal_with(cfg, sim_identity(cfg))
    assert claim_journal(cfg, sim_identity(cfg), fresh=True, log=Log()) is False
    assert not cfg.engine.journal_path.exists()


def test_an_empty_journal_of_another_market_is_simply_reused(tmp_path):
    cfg = cfg_in(tmp_path)
    journal_with(cfg, {"venue": "bybit-demo"}, used=False)
    assert claim_journal(cfg, sim_identity(cfg), fresh=False, log=Log()) is False

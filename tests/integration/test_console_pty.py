"""The daemon on a terminal (a pseudo-terminal): the console view stays readable. Times are ISO UTC, decisions
at info level are bounded (every approval; at most 3 vetoes and one count line a window), ``no_trade`` never
one by one, the summary one row; the counts add up to the run's."""

from __future__ import annotations

import json
import os
import re
import select
import sys
import time
from collections import Counter

import pytest

from tests.integration.conftest import ACTIVE, REPO, omni_env

pty = pytest.importorskip("pty")

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TS_FIELD = re.compile(r"\b((?:\w+_)?ts)=(\S+)")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
WALL = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
COUNTED = re.compile(r"(vetoed|refused|no_trade) (\d+) candidates \(([^)]*)\)")


def run_on_a_terminal(args: list[str], cwd, timeout: float = 120, **env: str) -> tuple[int, str]:
    """``python -m omni <args>`` with stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once (nothing of pytest's runs here)
        os.chdir(cwd)
        full = {**omni_env(**env), "PYTHONPATH": str(REPO)}
        os.execve(sys.executable, [sys.executable, "-m", "omni", *args], full)
    out, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                out += data
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), ANSI.sub("", out.decode(errors="replace")).replace("\r", "")


def test_the_console_on_a_terminal_is_bounded_and_shows_utc_times(tmp_path):
    # Arrange / Act: half a market day at max speed, trading (the simulator's veto off, 1m bars)
    code, text = run_on_a_terminal(
        ["run", "--speed", "max", "--duration", "43200", "--summary-json", str(tmp_path / "s.json")],
        tmp_path,
        OMNI_MARKET__SYMBOLS="30",
        **ACTIVE,
    )
    assert code == 0, text[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    lines = [x for x in text.splitlines() if x.strip()]
    # Assert: no JSON on a terminal; every market time shown as ISO 8601 UTC, never epoch milliseconds
    assert not [x for x in lines if x.startswith("{")]
    stamps = [(k, v) for x in lines for k, v in TS_FIELD.findall(x)]
    assert stamps and all(ISO.match(v) for _, v in stamps), [s for s in stamps if not ISO.match(s[1])][:5]
    # decisions: every approval, never a no_trade line, the rest bounded per market minute and per wall second
    decided = [x for x in lines if re.search(r"\] decision\s", x)]
    approved = [x for x in decided if "verdict=approved" in x]
    assert len(approved) == summary["decisions"].get("approved", 0) > 0
    assert not [x for x in decided if "verdict=no_trade" in x]
    counted = [x for x in lines if "] decisions in the last" in x]
    thinned = [x for x in decided if x not in approved] + counted
    total = sum(summary["decisions"].values())
    assert total > 500 and len(thinned) <= 40  # hundreds of candidates, a few dozen lines at most
    per_minute = Counter(re.search(r"\b(?:ts|to_ts)=(\S{16})", x).group(1) for x in thinned)
    per_second = Counter(WALL.match(x).group(1) for x in thinned)
    assert max(per_minute.values()) <= 4 and max(per_second.values()) <= 4 * 2  # a window may straddle a second
    # the count lines account for every candidate not shown (no_trade: all of them)
    told: Counter[str] = Counter()
    for x in counted:
        for verdict, _, reasons in COUNTED.findall(x):
            for part in reasons.split(", "):
                reason, n = part.rsplit(" ", 1)
                told[f"{verdict}:{reason}"] += int(n)
    run_no_trade = {k: v for k, v in summary["decisions"].items() if k.startswith("no_trade:")}
    assert {k: v for k, v in told.items() if k.startswith("no_trade:")} == run_no_trade
    for key, n in told.items():
        assert n <= summary["decisions"][key]
    # the summary as one row of the table
    [final] = [x for x in lines if "] final_summary |" in x]
    for cell in ("capital ", "profit ", "trades today ", "active ", "avg/trade ", "success ", "pace "):
        assert f"| {cell}" in final

"""The same `omni run` that runs on sim runs on `bybit-testnet` pointed at the emulator (both real processes):
it trades through pybit, survives an emulator restart, stops on SIGTERM with exact accounting."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import Run, assert_accounting_identity, assert_run_invariants, omni_env, parse_lines

KEY, SECRET = "it-key", "it-secret-never-logged"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(port: int, tmp_path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "omni",
            "emulator",
            "--port",
            str(port),
            "--api-key",
            KEY,
            "--api-secret",
            SECRET,
            "--bar-seconds",
            "0.05",
            "--symbols",
            "5",
            "--warmup-bars",
            "500",
            # the exchange keeps the account through its own restart (written at exit, loaded at start): without
            # it the second life is a fresh 12 USDT wallet and the daemon's ledger cannot balance against it
            "--state",
            str(tmp_path / "emulator-state.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=omni_env(),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if re.search(r"emulator on http://127\.0\.0\.1:\d+", line):
            return proc
    proc.kill()
    raise AssertionError("emulator did not start")


def daemon_env(port: int) -> dict[str, str]:
    url = f"127.0.0.1:{port}"
    return omni_env(
        BYBIT_API_KEY=KEY,
        BYBIT_API_SECRET=SECRET,
        OMNI_VENUE__REST_URL=f"http://{url}",
        OMNI_VENUE__PUBLIC_WS_URL=f"ws://{url}",
        OMNI_VENUE__PRIVATE_WS_URL=f"ws://{url}",
        OMNI_GHOST__MIN_EV_LOWER_USDT="-1000",
        OMNI_TARGETS__MIN_NET_PROFIT_USDT="0.3",
        OMNI_PACER__SPACING="false",
        # past signals are few in the emulator's short history: with the default 30 (effective) samples the
        # simulator vetoes every candidate and the daemon never trades within the test's 30 s
        OMNI_GHOST__MIN_SAMPLES="5",
        OMNI_TELEMETRY__SUMMARY_INTERVAL_S="1",
    )


@pytest.mark.slow
def test_run_on_bybit_testnet_against_the_emulator_survives_a_restart_and_stops_cleanly(tmp_path):
    port = free_port()
    emulator = start_emulator(port, tmp_path)
    summary = tmp_path / "summary.json"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "omni", "run", "--venue", "bybit-testnet", "--summary-json", str(summary)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=daemon_env(port),
    )
    lines: list[str] = []
    restarted_at = 0  # index in `lines` where the second emulator life starts
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until it has traded
            line = daemon.stdout.readline()
            lines.append(line)
            if '"event": "fill"' in line:
                break
        assert any('"event": "fill"' in x for x in lines), "".join(lines[-20:])
        # Act 1: the emulator dies and comes back on the same port
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(10)
        time.sleep(1.0)
        restarted_at = len(lines)
        emulator = start_emulator(port, tmp_path)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = daemon.stdout.readline()
            lines.append(line)
            if '"event": "ws_reconnected"' in line:
                break
        assert any('"event": "ws_reconnected"' in x for x in lines), "".join(lines[-30:])
        assert daemon.poll() is None  # still running
        # Act 2: SIGTERM
        t0 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=15)
        elapsed = time.monotonic() - t0
        lines.append(out)
    finally:
        daemon.kill()
        emulator.kill()
    assert daemon.returncode == 0, err[-2000:]
    assert elapsed < 10
    events = parse_lines("".join(lines))
    s = json.loads(summary.read_text())
    finals = [e for e in events if e["event"] == "final_summary"]
    assert len(finals) == 1, finals
    # the daemon lives through both emulator lives: its one final summary (logged and written) balances exactly
    assert_accounting_identity(s)
    assert_accounting_identity(finals[0])
    # no task crashed or gave up, neither before the emulator's restart nor after it
    before, after = parse_lines("".join(lines[:restarted_at])), parse_lines("".join(lines[restarted_at:]))
    assert before and after
    for life in (before, after):
        assert not [e for e in life if e["event"] in ("task_crashed", "task_gave_up")]
    assert "task_crashed" not in err and "task_gave_up" not in err
    assert_run_invariants(Run(0, events, "", s), max_concurrent=10)
    assert SECRET not in "".join(lines) + err

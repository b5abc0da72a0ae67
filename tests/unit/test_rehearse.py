"""``omni rehearse`` without processes: the plan (presets, start time, kill moments, command lines) and every check
of the judge on crafted records, each shown going red on the fault it exists for."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from omni.rehearse import judge as j
from omni.rehearse.plan import (
    CHAOS_PRESETS,
    KILL_WINDOW,
    EmulatorCaps,
    Options,
    PlanError,
    kill_moments,
    make_plan,
    parse_start,
    parse_symbols,
)
from omni.rehearse.report import table
from omni.rehearse.runner import Poll

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CHAOS_FLAGS = {f"--chaos-{k}" for p in CHAOS_PRESETS.values() for k in p} | {"--chaos-seed"}
OLD = EmulatorCaps(frozenset({"--symbols", "--bar-seconds", "--seed", "--balance", "--port"} | CHAOS_FLAGS))
NEW = EmulatorCaps(OLD.options | {"--speed", "--start"}, symbols_all=True)


def plan(tmp_path: Path, caps: EmulatorCaps = OLD, **options):  # type: ignore[no-untyped-def]
    o = Options(out=tmp_path / "out", **options)
    return make_plan(o, caps, capital=Decimal("12"), shutdown_timeout_s=4.0, now=NOW)


# ---------------------------------------------------------------- the plan


def test_start_hhmm_is_the_latest_such_time_whose_run_ends_before_now():
    assert parse_start("21:00", 6, NOW) == datetime(2026, 11, 29, 21, 0, tzinfo=UTC)  # through midnight
    assert parse_start("04:00", 6, NOW) == datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # today's would end at 10:00
    assert parse_start("02:00", 6, NOW) == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert parse_start("2025-06-01T21:00Z", 6, NOW) == datetime(2025, 6, 1, 21, 0, tzinfo=UTC)
    assert parse_start("2025-06-01T21:00", 6, NOW) == datetime(2025, 6, 1, 21, 0, tzinfo=UTC)
    for bad in ("25:00", "noon", "21:7"):
        with pytest.raises(PlanError):
            parse_start(bad, 6, NOW)


def test_symbols_all_or_a_positive_number():
    assert parse_symbols("all") is None and parse_symbols("ALL") is None
    assert parse_symbols("20") == 20
    for bad in ("0", "-3", "many"):
        with pytest.raises(PlanError):
            parse_symbols(bad)


def test_kill_moments_are_seeded_sorted_and_never_in_the_last_tenth():
    moments = kill_moments(50, seed=7)
    assert moments == sorted(moments) == kill_moments(50, seed=7) != kill_moments(50, seed=8)
    assert all(KILL_WINDOW[0] <= m < KILL_WINDOW[1] < 0.9 + 1e-12 for m in moments)


def test_an_older_emulator_gets_bar_seconds_and_a_number_of_symbols(tmp_path):
    p = plan(tmp_path, speed=120, chaos="heavy", kills=2, seed=5)
    argv = p.emulator_argv
    assert argv[argv.index("--bar-seconds") + 1] == "0.5" and "--speed" not in argv
    assert argv[argv.index("--symbols") + 1] == "100000"  # all: as many as it knows
    assert argv[argv.index("--chaos-seed") + 1] == "5" and argv[argv.index("--seed") + 1] == "5"
    for flag, value in CHAOS_PRESETS["heavy"].items():
        assert argv[argv.index(f"--chaos-{flag}") + 1] == f"{value:g}"
    assert argv[argv.index("--balance") + 1] == "12"
    assert len(p.kill_at) == 2 and p.wall_s == 30.0
    with pytest.raises(PlanError, match="no --start"):
        plan(tmp_path, start="21:00")


def test_a_newer_emulator_gets_speed_start_and_all(tmp_path):
    p = plan(tmp_path, caps=NEW, speed=60, hours=6, start="21:00", chaos="off", symbols=None)
    argv = p.emulator_argv
    assert argv[argv.index("--speed") + 1] == "60" and "--bar-seconds" not in argv
    assert argv[argv.index("--start") + 1] == "2026-11-29T21:00:00Z"
    assert argv[argv.index("--symbols") + 1] == "all"
    assert not [a for a in argv if a.startswith("--chaos")]


def test_the_daemon_runs_on_testnet_against_the_emulator_with_its_files_in_out(tmp_path):
    p = plan(tmp_path, config=tmp_path / "c.yaml")
    argv = p.daemon_argv(2)
    assert argv[3:6] == ["run", "--venue", "bybit-testnet"]
    assert argv[argv.index("--summary-json") + 1] == str(p.out / "daemon-2.summary.json")
    assert argv[argv.index("--config") + 1] == str((tmp_path / "c.yaml").resolve())
    env = p.daemon_env("http://127.0.0.1:5555")
    assert env["OMNI_VENUE__REST_URL"] == "http://127.0.0.1:5555"
    assert env["OMNI_VENUE__PUBLIC_WS_URL"] == env["OMNI_VENUE__PRIVATE_WS_URL"] == "ws://127.0.0.1:5555"
    assert env["OMNI_ENGINE__JOURNAL"] == str(p.out / "journal.sqlite")
    assert env["OMNI_TELEMETRY__LOG_FORMAT"] == "json"
    assert env["BYBIT_API_KEY"] == p.api_key and env["BYBIT_API_SECRET"] == p.api_secret
    assert env["OMNI_VENUE__CLOCK"] == "market"  # 60x: the daemon's now comes from the bars
    assert "OMNI_VENUE__CLOCK" not in plan(tmp_path, speed=1).daemon_env("http://127.0.0.1:5555")  # real time
    assert p.api_secret not in repr(p) and p.api_secret not in str(p.describe())


def test_bad_arguments_are_refused(tmp_path):
    for bad in ({"hours": 0}, {"speed": -1}, {"chaos": "medium"}, {"kills": -1}, {"stop_grace_s": -1},
                {"hours": 0.01, "speed": 120, "kills": 3}):  # fmt: skip
        with pytest.raises(PlanError):
            plan(tmp_path, **bad)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("a previous rehearsal")
    with pytest.raises(PlanError, match="not an empty directory"):
        plan(tmp_path)


# ---------------------------------------------------------------- the judge: a sound run passes every check


def execution(exec_id, symbol="BTCUSDT", side="Buy", qty="0.01", price="60000", fee="0.33", pnl="0",
              exec_type="Trade", ts=1_000, link="omni-1"):  # type: ignore[no-untyped-def]  # fmt: skip
    return {"execId": exec_id, "symbol": symbol, "side": side, "execQty": qty, "execPrice": price, "execFee": fee,
            "execType": exec_type, "execPnl": pnl, "execTime": str(ts), "orderLinkId": link}  # fmt: skip


def fill_row(x: dict) -> dict:
    return {"exec_id": x["execId"], "symbol": x["symbol"], "side": x["side"], "qty": x["execQty"],
            "price": x["execPrice"], "fee": x["execFee"], "exec_type": x["execType"], "realised_pnl": x["execPnl"],
            "ts": int(x["execTime"]), "client_id": x["orderLinkId"]}  # fmt: skip


def good() -> j.Evidence:
    executions = [
        execution("e1", link="omni-1"),
        execution("e2", side="Sell", price="60100", fee="0.34", pnl="1", ts=2_000, link=""),  # its stop-loss
        execution("e3", fee="0.02", exec_type="Funding", ts=3_000, link=""),
    ]
    orders = [
        {"orderId": "o1", "orderLinkId": "omni-1", "symbol": "BTCUSDT", "side": "Buy", "qty": "0.01",
         "orderStatus": "Filled", "createType": "CreateByUser", "reduceOnly": False},
        {"orderId": "o2", "orderLinkId": "", "symbol": "BTCUSDT", "side": "Sell", "qty": "0.01",
         "orderStatus": "Filled", "createType": "CreateByStopLoss", "reduceOnly": True},
    ]  # fmt: skip
    journal_orders = [
        {"client_id": "omni-1", "order_id": "o1", "symbol": "BTCUSDT", "side": "Buy", "qty": "0.01",
         "status": "Filled"},
        {"client_id": "omni-2", "order_id": None, "symbol": "ETHUSDT", "side": "Buy", "qty": "1",
         "status": "Rejected"},
    ]  # fmt: skip
    start = Decimal("100")
    wallet = start + Decimal("1") - Decimal("0.33") - Decimal("0.34") - Decimal("0.02")
    summary = {"capital": str(wallet), "capital_start": "100", "realised_pnl": "1", "fees_paid": "0.67",
               "funding_paid": "0.02", "deposits": "0", "withdrawals": "0", "adjustments": "0"}  # fmt: skip
    lives = [
        j.DaemonLife(1, "killed", -9, None, [{"event": "start"}]),
        j.DaemonLife(2, "sigint", 0, 1.2, [{"event": "start"}, {"event": "final_summary", **summary}]),
    ]
    polls = [
        Poll(1.0, True, ()),
        Poll(2.0, True, (("BTCUSDT", "Buy", "0.01", "60000", "0"),)),  # right after the entry: within the grace
        Poll(3.0, True, (("BTCUSDT", "Buy", "0.01", "60000", "59000"),)),
        Poll(4.0, False),
        Poll(5.0, True, ()),
    ]
    return j.Evidence(
        lives=lives, summary=summary, polls=polls, orders=orders, executions=executions, wallet=wallet,
        start_balance=start, journal_orders=journal_orders, journal_fills=[fill_row(x) for x in executions],
        kills_asked=1, kills=[{"life": 1, "progress": 0.4}], stop_grace_s=5.0,
    )  # fmt: skip


def verdicts(ev: j.Evidence) -> dict[str, j.Check]:
    return {c.name: c for c in j.judge(ev)}


def failing(ev: j.Evidence) -> set[str]:
    return {name for name, c in verdicts(ev).items() if not c.ok}


def test_a_sound_run_passes_every_check_and_each_check_saw_its_records():
    checks = verdicts(good())
    assert [c.name for c in checks.values() if not c.ok] == [], table(list(checks.values()))
    assert checks["stops"].figures["polls"] == 5 and checks["stops"].figures["positions_seen"] == 1
    assert checks["fills"].figures["exchange_executions"] == 3
    assert checks["ledger"].figures["compared"] == 3 and checks["ledger"].figures["funding_exchange"] == "0.02"
    assert checks["orders"].figures["journal_not_sent_or_refused"] == 1
    assert checks["emulator"].figures["books"] == str(good().wallet)


# ---------------------------------------------------------------- ... and each check goes red on its fault


def test_a_position_without_a_stop_beyond_the_grace_fails_stops():
    ev = good()
    naked = ("SOLUSDT", "Sell", "3", "150", "")
    ev.polls = [Poll(float(t), True, (naked,)) for t in range(10, 17)]  # 6 s without a stop
    stops = verdicts(ev)["stops"]
    assert not stops.ok and "SOLUSDT Sell 3 at 150" in stops.problems[0]
    ev.polls = [Poll(float(t), True, (naked,)) for t in range(10, 15)]  # 4 s: inside the 5 s grace
    assert verdicts(ev)["stops"].ok
    ev.stop_grace_s = 3.0
    assert not verdicts(ev)["stops"].ok


def test_a_stop_removed_later_fails_and_a_new_entry_has_its_own_grace():
    ev = good()
    ev.polls = [Poll(0.0, True, (("A", "Buy", "1", "10", "9"),))]
    ev.polls += [Poll(float(t), True, (("A", "Buy", "1", "10", "0"),)) for t in range(8, 11)]
    assert not verdicts(ev)["stops"].ok
    ev.polls = [Poll(float(t), True, (("A", "Buy", "1", f"1{t}", "0"),)) for t in range(0, 20, 2)]  # new entries
    assert verdicts(ev)["stops"].ok


def test_no_successful_poll_fails_stops():
    ev = good()
    ev.polls = [Poll(1.0, False), Poll(2.0, False)]
    assert failing(ev) == {"stops"}


def test_a_journal_fill_the_exchange_does_not_know_fails_fills():
    ev = good()
    ev.journal_fills.append(fill_row(execution("e-ghost", ts=4_000)))
    problems = verdicts(ev)["fills"].problems
    assert "fills" in failing(ev) and "journal fill e-ghost" in problems[0]


def test_an_exchange_execution_the_journal_lacks_fails_fills_and_the_sums():
    ev = good()
    ev.journal_fills = [f for f in ev.journal_fills if f["exec_id"] != "e3"]  # the funding payment
    assert failing(ev) == {"fills", "ledger"}
    assert "funding: 0.02 on the exchange, 0 in the journal" in verdicts(ev)["ledger"].problems


def test_a_fee_booked_differently_fails_the_ledger():
    ev = good()
    ev.journal_fills[0]["fee"] = "0.3300001"
    assert failing(ev) == {"ledger"}


def test_a_capital_mismatch_fails_capital():
    ev = good()
    ev.wallet = (ev.wallet or Decimal(0)) + Decimal("0.00000001")
    assert "capital" in failing(ev)
    assert "!= the exchange's wallet balance" in verdicts(ev)["capital"].problems[0]
    ev = good()
    ev.start_balance = Decimal("12")
    assert "capital_start 100 != the account's starting balance 12" in verdicts(ev)["capital"].problems[0]
    ev = good()
    ev.summary = None
    assert "capital" in failing(ev)


def test_a_duplicate_order_link_id_fails_link_ids():
    ev = good()
    ev.orders.append({**ev.orders[0], "orderId": "o9"})
    assert "link_ids" in failing(ev)


def test_orders_unknown_on_either_side_fail_orders():
    ev = good()
    ev.journal_orders.append({"client_id": "omni-3", "order_id": "o3", "symbol": "X", "side": "Buy", "qty": "1",
                              "status": "New"})  # fmt: skip
    assert failing(ev) == {"orders"}
    ev = good()
    ev.orders.append({"orderId": "o4", "orderLinkId": "omni-4", "symbol": "X", "createType": "CreateByUser"})
    assert failing(ev) == {"orders"}
    ev = good()
    ev.orders.append({"orderId": "o5", "orderLinkId": "", "symbol": "X", "createType": "CreateByUser"})
    assert failing(ev) == {"orders"}
    ev = good()
    ev.journal_orders[0]["order_id"] = "o-other"
    assert failing(ev) == {"orders"}


def test_an_unreadable_journal_fails_the_journal_checks():
    ev = good()
    ev.journal_error = "no journal at /x"
    assert {"orders", "fills", "ledger"} <= failing(ev)


def test_a_crash_a_traceback_or_an_unclean_exit_fails_process():
    ev = good()
    ev.lives[0].events.append({"event": "task_crashed", "task": "resync", "error": "KeyError('x')"})
    assert failing(ev) == {"process"}
    ev = good()
    ev.lives[0].stderr = "Traceback (most recent call last):\n  File x\nValueError: boom\n"
    assert "ValueError: boom" in verdicts(ev)["process"].problems[0]
    ev = good()
    ev.lives[-1] = dataclasses.replace(ev.lives[-1], returncode=1)
    assert failing(ev) == {"process"}
    ev = good()
    ev.lives[-1] = dataclasses.replace(ev.lives[-1], exit_s=60.0)
    assert failing(ev) == {"process"}
    ev = good()
    ev.lives.insert(1, j.DaemonLife(2, "exited", 1, None, []))
    assert failing(ev) == {"process"}


def test_a_position_left_after_the_exit_fails_shutdown_unless_kept_with_a_stop():
    ev = good()
    ev.positions = [{"symbol": "SOLUSDT", "side": "Sell", "size": "3", "stopLoss": "160"}]
    assert failing(ev) == {"shutdown"}
    ev.on_shutdown = "keep"
    assert verdicts(ev)["shutdown"].ok
    ev.positions[0]["stopLoss"] = "0"
    assert failing(ev) == {"shutdown"}


def test_a_restart_that_closes_its_own_position_as_unknown_fails_restarts():
    ev = good()
    adopted = {"event": "position_adopted", "symbol": "BTCUSDT", "side": "Buy", "size": "0.01", "known": True}
    ev.lives[1].events.insert(1, adopted)
    assert verdicts(ev)["restarts"].ok and verdicts(ev)["restarts"].figures["adopted"] == 1
    closing = {"event": "unknown_position_closing", "symbol": "MOGUSDT", "side": "Buy", "size": "13"}
    ev.lives[1].events.insert(1, closing)
    restarts = verdicts(ev)["restarts"]
    assert failing(ev) == {"restarts"} and "daemon 2 closed its own position MOGUSDT Buy 13" in restarts.problems[0]


def test_missing_kills_or_a_late_kill_fail_schedule():
    ev = good()
    ev.kills = []
    assert failing(ev) == {"schedule"}
    ev = good()
    ev.kills = [{"life": 1, "progress": 0.95}]
    assert failing(ev) == {"schedule"}
    ev = good()
    ev.market_reached = False
    assert failing(ev) == {"schedule"}


def test_an_exchange_whose_books_do_not_add_up_fails_emulator():
    ev = good()
    ev.emulator_events = [{"event": "emulator_market_failed"}]
    assert failing(ev) == {"emulator"}
    ev = good()
    ev.executions[0]["execPnl"] = "0.5"  # the exchange's own records no longer explain its wallet (and the journal)
    assert "emulator" in failing(ev)


def test_counts_of_orders_fills_reconnects_rejects_and_faults():
    ev = good()
    ev.lives[1].events += [{"event": "ws_reconnected", "socket": "private"}, {"event": "reject", "code": 110007},
                           {"event": "reject", "code": 110007}, {"event": "resync_failed"}]  # fmt: skip
    ev.emulator_events = [{"event": "chaos", "kind": "ws_drop"}, {"event": "chaos", "kind": "ws_drop"}]
    c = j.counts(ev)
    assert c["orders"]["exchange"] == 2 and c["orders"]["entries"] == 1
    assert c["fills"]["by_type"] == {"Trade": 2, "Funding": 1}
    assert c["reconnects"] == 1 and c["resyncs"]["failed"] == 1
    assert c["rejects_by_code"] == {"110007": 2} and c["faults"] == {"ws_drop": 2}

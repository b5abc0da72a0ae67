"""The verdict of a rehearsal, from the exchange's records and the processes' own output, not the daemon's word.

``gather(run)`` reads what a run left (the daemon's JSON lines and stderr per life, the emulator's lines, the
journal, the exchange's orders, executions and wallet, the position polls) into an ``Evidence``; ``judge``
runs every check on it. The checks are plain functions of plain records, so each can be tested on crafted
ones (a position without a stop, a journal fill the exchange does not know, a capital mismatch).

The checks (``CHECKS``):

- ``process``: no ``task_crashed``/``task_gave_up`` line, no traceback (stderr or a logged exception) in any
  daemon's life, no daemon exiting on its own; the last one exits 0 after SIGINT, within
  ``engine.shutdown_timeout_s`` + 15 s, with a ``final_summary``.
- ``stops``: never an open position without a stop-loss on the exchange, polled every second: a position
  (symbol, side, entry price) may go ``--stop-grace`` seconds (default 5, from the first poll that saw it)
  without one, never longer.
- ``link_ids``: every orderLinkId names one order on the exchange, and one journal row names one exchange order.
- ``orders``: every order the journal says the exchange acknowledged (New, Filled, Cancelled) is on the
  exchange with the same orderId; every exchange order with an orderLinkId is in the journal; an exchange order
  without one is the exchange's own (a triggered TP/SL, a liquidation), never ``CreateByUser``.
- ``fills``: the journal's execIds are exactly the exchange's (trades and funding), each listed once.
- ``ledger``: each execution the same on both sides (symbol, side, qty, price, fee, type, realised PnL, time,
  orderLinkId); fees, funding and realised PnL summed equal.
- ``capital``: the final summary's ``capital`` is the exchange's wallet balance, exactly; its
  ``capital_start`` is the account's balance before the first daemon started; and the summary's own identity
  holds (capital == start + deposits - withdrawals + adjustments + realised - fees - funding).
- ``shutdown``: after the last exit the exchange is flat (``engine.on_shutdown: close``), or holds only positions
  with a stop-loss (``keep``).
- ``restarts``: the account is traded by the daemon alone, so every position on it is the daemon's own: a
  restarted daemon adopts it (``position_adopted``), never closes it as unknown (``unknown_position_closing``).
- ``schedule``: the market ran the asked hours and every asked kill was made (SIGKILL, exit -9) before the
  last 10 % of the run.
- ``emulator``: the exchange itself stayed sound (alive to the end, no ``emulator_*_failed`` line, its wallet
  equal to the starting balance + the executions' PnL - their fees): otherwise its records prove nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from omni.rehearse.plan import EXIT_SLACK_S, KILL_WINDOW
from omni.rehearse.runner import Poll, Run

#: at most this many problems are listed per check (the count is always complete)
SHOWN = 20
#: orders the journal says the exchange acknowledged
ACKNOWLEDGED = frozenset({"New", "PartiallyFilled", "Filled", "Cancelled"})
CRASH_EVENTS = frozenset({"task_crashed", "task_gave_up"})
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Check:
    name: str
    ok: bool
    title: str
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name, "ok": self.ok, "title": self.title, "detail": self.detail,
            "figures": self.figures, "problem_count": self.problem_count, "problems": self.problems,
        }  # fmt: skip


def _check(name: str, title: str, problems: list[str], figures: dict[str, Any], passed: str) -> Check:
    ok = not problems
    detail = passed if ok else f"{len(problems)} problem(s): {problems[0]}"
    return Check(name, ok, title, detail, figures, problems[:SHOWN], len(problems))


# ---------------------------------------------------------------- evidence


@dataclass
class DaemonLife:
    n: int
    end: str  # killed | sigint | exited | hung | aborted
    returncode: int | None
    exit_s: float | None
    events: list[dict[str, Any]]
    stderr: str = ""


@dataclass
class Evidence:
    lives: list[DaemonLife] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    polls: list[Poll] = field(default_factory=list)
    exchange_read: bool = True
    positions: list[dict[str, Any]] = field(default_factory=list)  # the exchange's, after the last exit
    on_shutdown: str = "close"
    orders: list[dict[str, Any]] = field(default_factory=list)  # the exchange's
    executions: list[dict[str, Any]] = field(default_factory=list)  # the exchange's
    wallet: Decimal | None = None  # the exchange's, after the last exit
    start_balance: Decimal | None = None  # the exchange's, before the first start
    journal_orders: list[dict[str, Any]] = field(default_factory=list)
    journal_fills: list[dict[str, Any]] = field(default_factory=list)
    journal_error: str | None = None
    emulator_events: list[dict[str, Any]] = field(default_factory=list)
    emulator_alive: bool = True
    kills_asked: int = 0
    kills: list[dict[str, Any]] = field(default_factory=list)
    market_reached: bool = True
    stop_grace_s: float = 5.0
    exit_limit_s: float = 4.0 + EXIT_SLACK_S
    error: str | None = None


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def gather(run: Run) -> Evidence:
    """Everything the checks read, from the files and records a run left."""
    plan = run.plan
    lives = [
        DaemonLife(
            life.n, life.end, life.returncode, life.exit_s, parse_json_lines(_read(life.out_path)), _read(life.err_path)
        )
        for life in run.lives
    ]
    summary = None
    if run.lives:
        path = run.lives[-1].summary_path
        if path.exists():
            with contextlib.suppress(ValueError):
                summary = json.loads(path.read_text())
        if summary is None:
            finals = [e for e in lives[-1].events if e.get("event") == "final_summary"]
            summary = finals[-1] if finals else None
    ev = Evidence(
        lives=lives, summary=summary, polls=run.polls, exchange_read=bool(run.exchange),
        orders=run.exchange.get("orders", []), executions=run.exchange.get("executions", []),
        positions=run.exchange.get("positions", []), on_shutdown=plan.on_shutdown,
        wallet=Decimal(run.exchange["wallet"]) if run.exchange.get("wallet") else None,
        start_balance=run.start_balance, emulator_events=parse_json_lines(_read(plan.out / "emulator.out")),
        emulator_alive=run.emulator_alive_at_end, kills_asked=len(plan.kill_at), kills=run.kills,
        market_reached=not run.capped and run.error is None, stop_grace_s=plan.options.stop_grace_s,
        exit_limit_s=plan.shutdown_timeout_s + EXIT_SLACK_S, error=run.error,
    )  # fmt: skip
    if plan.journal.exists():
        try:
            from omni.journal import Journal

            journal = Journal(plan.journal, read_only=True)
            try:
                ev.journal_orders = [dict(r) for r in journal.rows("SELECT * FROM orders")]
                ev.journal_fills = [dict(r) for r in journal.rows("SELECT * FROM fills")]
            finally:
                journal.close()
        except Exception as e:  # a journal that cannot be read fails the checks that need it
            ev.journal_error = f"{type(e).__name__}: {e}"
    else:
        ev.journal_error = f"no journal at {plan.journal}"
    return ev


# ---------------------------------------------------------------- the checks


def check_process(ev: Evidence) -> Check:
    problems: list[str] = []
    for life in ev.lives:
        for e in life.events:
            if e.get("event") in CRASH_EVENTS:
                problems.append(f"daemon {life.n}: {e['event']} task={e.get('task')} error={e.get('error')}")
            elif TRACEBACK in str(e.get("exception", "")):
                problems.append(f"daemon {life.n}: {e.get('event')} logged an exception: {_last_line(e['exception'])}")
        if TRACEBACK in life.stderr:
            tb = life.stderr[life.stderr.index(TRACEBACK) :]
            problems.append(f"daemon {life.n}: traceback in stderr: {_last_line(tb)}")
        if life.end == "exited":
            problems.append(f"daemon {life.n} exited on its own with code {life.returncode}")
    last = ev.lives[-1] if ev.lives else None
    if last is None:
        problems.append("no daemon ran")
    else:
        if last.end == "hung":
            problems.append(f"daemon {last.n} did not exit after SIGINT (killed)")
        elif last.end != "sigint":
            problems.append(f"daemon {last.n} was not stopped by SIGINT ({last.end or 'still running'})")
        elif last.returncode != 0:
            problems.append(f"daemon {last.n} exited with code {last.returncode} after SIGINT, not 0")
        if last.exit_s is not None and last.exit_s > ev.exit_limit_s:
            problems.append(f"daemon {last.n} took {last.exit_s:.1f} s to exit after SIGINT (> {ev.exit_limit_s:g} s)")
        if not any(e.get("event") == "final_summary" for e in last.events):
            problems.append(f"daemon {last.n} logged no final_summary")
    figures = {
        "lives": len(ev.lives), "killed": sum(life.end == "killed" for life in ev.lives),
        "exited_on_own": sum(life.end == "exited" for life in ev.lives),
        "last_exit_code": last.returncode if last else None,
        "last_exit_s": None if last is None or last.exit_s is None else round(last.exit_s, 2),
        "lines_read": sum(len(life.events) for life in ev.lives),
    }  # fmt: skip
    return _check("process", "no crash, no traceback, clean exit after SIGINT", problems, figures,
                  f"{len(ev.lives)} daemon lives, the last exited 0 in {figures['last_exit_s']} s")  # fmt: skip


def _last_line(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:300] if lines else ""


def _no_stop(value: str | None) -> bool:
    if value in (None, ""):
        return True
    try:
        return Decimal(value) == 0
    except InvalidOperation:
        return True


@dataclass
class _Episode:
    """One position on the exchange, from the first poll that saw it to the last."""

    opened: float
    size: str
    naked_first: float | None = None
    naked_last: float | None = None
    over_first: float | None = None  # first poll without a stop past the grace
    over_last: float | None = None


def check_stops(ev: Evidence) -> Check:
    """Open positions without a stop-loss for longer than the grace, from the polls. A position is (symbol, side,
    entry price): a new entry (a reopening, a flip) is a new position with its own grace."""
    open_now: dict[tuple[str, str, str], _Episode] = {}
    episodes: list[tuple[tuple[str, str, str], _Episode]] = []
    ok_polls = [p for p in ev.polls if p.ok]
    peak = 0
    for poll in ok_polls:
        here = set()
        peak = max(peak, len(poll.positions))
        for symbol, side, size, avg, stop in poll.positions:
            key = (symbol, side, avg)
            here.add(key)
            ep = open_now.setdefault(key, _Episode(poll.t, size))
            if _no_stop(stop):
                ep.naked_first = poll.t if ep.naked_first is None else ep.naked_first
                ep.naked_last = poll.t
                if poll.t - ep.opened > ev.stop_grace_s:
                    ep.over_first = poll.t if ep.over_first is None else ep.over_first
                    ep.over_last = poll.t
        for key in [k for k in open_now if k not in here]:
            episodes.append((key, open_now.pop(key)))
    episodes += list(open_now.items())
    problems = [
        f"{symbol} {side} {ep.size} at {avg}: open since {ep.opened:.1f} s of the run, no stop-loss on the "
        f"exchange from {ep.naked_first:.1f} s to at least {ep.over_last:.1f} s (grace {ev.stop_grace_s:g} s)"
        for (symbol, side, avg), ep in episodes
        if ep.over_first is not None
    ]
    naked = [ep for _, ep in episodes if ep.naked_last is not None]
    if not ok_polls:
        problems.append("no position poll succeeded: the stops were never seen")
    gaps = [b.t - a.t for a, b in itertools.pairwise(ok_polls)]
    figures = {
        "polls": len(ev.polls), "polls_failed": len(ev.polls) - len(ok_polls),
        "longest_poll_gap_s": round(max(gaps, default=0.0), 2), "positions_seen": len(episodes),
        "most_open_at_once": peak, "seen_without_stop": len(naked),
        "longest_without_stop_s": round(max((ep.naked_last - ep.opened for ep in naked), default=0.0), 2),  # type: ignore[operator]
        "grace_s": ev.stop_grace_s,
    }  # fmt: skip
    return _check("stops", "every position has a stop-loss on the exchange (polled)", problems, figures,
                  f"{len(ok_polls)} polls, {len(episodes)} positions ({peak} open at most), none without a stop "
                  f"beyond {ev.stop_grace_s:g} s")  # fmt: skip


def check_link_ids(ev: Evidence) -> Check:
    if not ev.exchange_read:
        return _not_read("link_ids", "orderLinkIds unique")
    links = Counter(o["orderLinkId"] for o in ev.orders if o.get("orderLinkId"))
    problems = [f"orderLinkId {k} names {n} exchange orders" for k, n in links.items() if n > 1]
    journal = Counter(r["client_id"] for r in ev.journal_orders)
    problems += [f"orderLinkId {k} in {n} journal rows" for k, n in journal.items() if n > 1]
    figures = {"exchange_link_ids": len(links), "journal_link_ids": len(journal)}
    return _check("link_ids", "orderLinkIds unique", problems, figures,
                  f"{len(links)} orderLinkIds on the exchange, each on one order")  # fmt: skip


def check_orders(ev: Evidence) -> Check:
    if not ev.exchange_read:
        return _not_read("orders", "journal orders == exchange orders")
    problems = _journal_problems(ev)
    by_link = {o["orderLinkId"]: o for o in ev.orders if o.get("orderLinkId")}
    journal = {r["client_id"]: r for r in ev.journal_orders}
    not_sent = 0
    for cid, row in journal.items():
        listed = by_link.get(cid)
        if listed is None:
            if row.get("status") in ACKNOWLEDGED:
                problems.append(f"journal order {cid} ({row.get('symbol')} {row.get('side')} {row.get('qty')}, "
                                f"{row.get('status')}) is unknown to the exchange")  # fmt: skip
            else:
                not_sent += 1
        elif row.get("order_id") and row["order_id"] != listed.get("orderId"):
            problems.append(f"journal order {cid}: orderId {row['order_id']}, the exchange's {listed.get('orderId')}")
    for o in ev.orders:
        link = o.get("orderLinkId")
        if link and link not in journal:
            problems.append(f"exchange order {o.get('orderId')} {link} ({o.get('symbol')} {o.get('side')} "
                            f"{o.get('qty')}, {o.get('orderStatus')}) is not in the journal")  # fmt: skip
        elif not link and o.get("createType", "CreateByUser") == "CreateByUser":
            problems.append(f"exchange order {o.get('orderId')} ({o.get('symbol')}) was placed without an orderLinkId")
    figures = {
        "exchange_orders": len(ev.orders), "by_the_daemon": len(by_link),
        "by_the_exchange": sum(1 for o in ev.orders if not o.get("orderLinkId")),
        "journal_orders": len(journal), "journal_not_sent_or_refused": not_sent,
    }  # fmt: skip
    return _check(
        "orders",
        "journal orders == exchange orders, both ways",
        problems,
        figures,
        f"{len(by_link)} daemon orders matched both ways ({not_sent} journaled, refused or never sent)",
    )


def check_fills(ev: Evidence) -> Check:
    if not ev.exchange_read:
        return _not_read("fills", "journal fills == exchange executions")
    problems = _journal_problems(ev)
    listed = Counter(x["execId"] for x in ev.executions)
    problems += [f"execution {k} listed {n} times by the exchange" for k, n in listed.items() if n > 1]
    booked = {r["exec_id"]: r for r in ev.journal_fills}
    for x in ev.executions:
        if x["execId"] not in booked:
            problems.append(
                f"exchange execution {x['execId']} ({x.get('execType')} {x.get('symbol')} "
                f"{x.get('side')} {x.get('execQty')} at {x.get('execTime')}) is not in the journal"
            )
    for exec_id, r in booked.items():
        if exec_id not in listed:
            problems.append(f"journal fill {exec_id} ({r.get('exec_type')} {r.get('symbol')} {r.get('side')} "
                            f"{r.get('qty')} at {r.get('ts')}) is unknown to the exchange")  # fmt: skip
    types = Counter(x.get("execType") for x in ev.executions)
    figures = {"exchange_executions": len(listed), "journal_fills": len(booked), "by_type": dict(types)}
    return _check("fills", "journal fills == exchange executions, both ways", problems, figures,
                  f"{len(listed)} executions matched both ways ({_types(types)})")  # fmt: skip


def _types(types: Counter) -> str:
    return ", ".join(f"{n} {k}" for k, n in types.most_common()) or "none"


#: (exchange field, journal column, kind)
LEDGER_FIELDS = (
    ("symbol", "symbol", str), ("side", "side", str), ("execQty", "qty", Decimal), ("execPrice", "price", Decimal),
    ("execFee", "fee", Decimal), ("execType", "exec_type", str), ("execPnl", "realised_pnl", Decimal),
    ("execTime", "ts", int), ("orderLinkId", "client_id", str),
)  # fmt: skip


def _same(a: Any, b: Any, kind: Callable[[Any], Any]) -> bool:
    """Equal as ``kind`` (str, Decimal, int); empty is "" for strings and 0 for numbers."""
    if kind is not str:
        a, b = a if a not in (None, "") else 0, b if b not in (None, "") else 0
    try:
        return bool(kind(a) == kind(b))
    except (InvalidOperation, ValueError, TypeError):
        return False


def check_ledger(ev: Evidence) -> Check:
    if not ev.exchange_read:
        return _not_read("ledger", "executions, fees and funding equal")
    problems = _journal_problems(ev)
    booked = {r["exec_id"]: r for r in ev.journal_fills}
    compared = 0
    for x in ev.executions:
        r = booked.get(x["execId"])
        if r is None:
            continue
        compared += 1
        for ex_key, j_key, kind in LEDGER_FIELDS:
            if not _same(x.get(ex_key) or "", r.get(j_key) or "", kind):
                problems.append(f"execution {x['execId']}: {ex_key} {x.get(ex_key)!r} on the exchange, "
                                f"{j_key} {r.get(j_key)!r} in the journal")  # fmt: skip
    ex_sums, j_sums = exchange_sums(ev.executions), journal_sums(ev.journal_fills)
    for key in ("fees", "funding", "realised"):
        if ex_sums[key] != j_sums[key]:
            problems.append(f"{key}: {ex_sums[key]} on the exchange, {j_sums[key]} in the journal")
    figures = {"compared": compared, **{f"{k}_exchange": str(v) for k, v in ex_sums.items()},
               **{f"{k}_journal": str(v) for k, v in j_sums.items()}}  # fmt: skip
    return _check("ledger", "executions, fees and funding equal", problems, figures,
                  f"{compared} executions field by field; fees {ex_sums['fees']}, funding {ex_sums['funding']}, "
                  f"realised {ex_sums['realised']} on both sides")  # fmt: skip


def _sums(rows: Iterable[dict[str, Any]], fee: str, kind: str, pnl: str) -> dict[str, Decimal]:
    """Fees, funding and realised PnL over execution rows named ``fee``/``kind``/``pnl`` (exchange or journal)."""
    out = {"fees": Decimal(0), "funding": Decimal(0), "realised": Decimal(0)}
    for r in rows:
        paid = Decimal(r.get(fee) or "0")
        if r.get(kind) == "Funding":
            out["funding"] += paid
        else:
            out["fees"] += paid
            out["realised"] += Decimal(r.get(pnl) or "0")
    return out


def exchange_sums(executions: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    return _sums(executions, "execFee", "execType", "execPnl")


def journal_sums(fills: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    return _sums(fills, "fee", "exec_type", "realised_pnl")


def check_capital(ev: Evidence) -> Check:
    problems: list[str] = []
    s = ev.summary
    figures: dict[str, Any] = {"wallet": _s(ev.wallet), "start_balance": _s(ev.start_balance)}
    if s is None:
        problems.append("no final summary from the last daemon")
    else:
        figures.update(capital=s.get("capital"), capital_start=s.get("capital_start"))
        capital, start = _dec(s.get("capital")), _dec(s.get("capital_start"))
        if ev.wallet is None:
            problems.append("the exchange's wallet balance could not be read")
        elif capital != ev.wallet:
            problems.append(f"final summary capital {s.get('capital')} != the exchange's wallet balance {ev.wallet}")
        if ev.start_balance is None:
            problems.append("the account's starting balance could not be read")
        elif start != ev.start_balance:
            problems.append(f"final summary capital_start {s.get('capital_start')} != the account's starting "
                            f"balance {ev.start_balance}")  # fmt: skip
        ident = identity_gap(s)
        if ident is None:
            problems.append("the final summary lacks the fields of the accounting identity")
        elif ident != 0:
            problems.append(
                f"the final summary's identity is off by {ident} (capital - (start + deposits - "
                "withdrawals + adjustments + realised - fees - funding))"
            )
    return _check("capital", "final capital == wallet; capital_start == starting balance", problems, figures,
                  f"capital {figures.get('capital')} == wallet {figures['wallet']}; capital_start "
                  f"{figures.get('capital_start')} == starting balance {figures['start_balance']}")  # fmt: skip


def identity_gap(s: dict[str, Any]) -> Decimal | None:
    try:
        d = {k: Decimal(str(s[k])) for k in ("capital", "capital_start", "realised_pnl", "fees_paid", "funding_paid")}
        moved = {k: Decimal(str(s.get(k, "0"))) for k in ("deposits", "withdrawals", "adjustments")}
    except (KeyError, InvalidOperation):
        return None
    ledger = d["capital_start"] + moved["deposits"] - moved["withdrawals"] + moved["adjustments"]
    return d["capital"] - (ledger + d["realised_pnl"] - d["fees_paid"] - d["funding_paid"])


def check_restarts(ev: Evidence) -> Check:
    """The rehearsal's account is traded by the daemon alone (a fresh emulator, a throw-away key), so every
    position on it is the daemon's own: a restarted daemon adopts it, never closes it as unknown."""
    problems: list[str] = []
    adopted = unknown_adopted = 0
    for life in ev.lives:
        for e in life.events:
            if e.get("event") == "position_adopted":
                adopted += 1
                unknown_adopted += e.get("known") is False
            elif e.get("event") == "unknown_position_closing":
                problems.append(
                    f"daemon {life.n} closed its own position {e.get('symbol')} {e.get('side')} {e.get('size')} as "
                    f"unknown at {e.get('timestamp')} (unknown_position_closing: its journal did not list the "
                    "position, although the daemon's own orders opened it)"
                )
    figures = {"restarts": max(len(ev.lives) - 1, 0), "adopted": adopted, "adopted_not_in_journal": unknown_adopted,
               "closed_as_unknown": len(problems)}  # fmt: skip
    return _check("restarts", "a restart keeps the daemon's own positions", problems, figures,
                  f"{figures['restarts']} restarts, {adopted} positions adopted, none closed as unknown")  # fmt: skip


def check_shutdown(ev: Evidence) -> Check:
    """What the exchange holds after the last exit: nothing with ``engine.on_shutdown: close``; with ``keep``, only
    positions with a stop-loss."""
    if not ev.exchange_read:
        return _not_read("shutdown", "the exchange as the shutdown left it")
    held = [f"{p.get('symbol')} {p.get('side')} {p.get('size')}" for p in ev.positions]
    if ev.on_shutdown == "close":
        problems = [f"on_shutdown close, yet the exchange still holds {h} after the exit" for h in held]
        passed = "on_shutdown close: the exchange is flat after the exit"
    else:
        problems = [f"{p.get('symbol')} {p.get('side')} {p.get('size')} left open without a stop-loss"
                    for p in ev.positions if _no_stop(p.get("stopLoss"))]  # fmt: skip
        passed = f"on_shutdown keep: {len(held)} positions left open, each with a stop-loss"
    return _check("shutdown", "the exchange as the shutdown left it", problems,
                  {"on_shutdown": ev.on_shutdown, "open_after_exit": len(held)}, passed)  # fmt: skip


def check_schedule(ev: Evidence) -> Check:
    problems: list[str] = []
    if ev.error:
        problems.append(f"the rehearsal did not finish: {ev.error}")
    elif not ev.market_reached:
        problems.append("the market did not reach the asked hours within the wall-clock cap")
    if len(ev.kills) != ev.kills_asked:
        problems.append(f"{len(ev.kills)} of {ev.kills_asked} kills made")
    killed = {life.n: life for life in ev.lives if life.end == "killed"}
    for k in ev.kills:
        if k["progress"] >= KILL_WINDOW[1]:
            problems.append(f"kill of daemon {k['life']} at {k['progress']:.0%} of the run: in its last 10 %")
        life = killed.get(k["life"])
        if life is None or life.returncode != -9:
            problems.append(f"daemon {k['life']} did not die of the SIGKILL (exit {life and life.returncode})")
    figures = {"kills_asked": ev.kills_asked, "kills_made": len(ev.kills),
               "kills_at": [round(k["progress"], 3) for k in ev.kills]}  # fmt: skip
    return _check(
        "schedule",
        "the asked market hours and kills happened",
        problems,
        figures,
        f"{len(ev.kills)} kills at " + (", ".join(f"{k['progress']:.0%}" for k in ev.kills) or "-"),
    )


def check_emulator(ev: Evidence) -> Check:
    problems: list[str] = []
    failed = [e for e in ev.emulator_events if str(e.get("event", "")).startswith("emulator_")
              and str(e.get("event", "")).endswith("_failed")]  # fmt: skip
    problems += [f"emulator: {e.get('event')} {e.get('path') or e.get('kind') or ''}".strip() for e in failed]
    if not ev.emulator_alive:
        problems.append("the emulator was not running when its records were read")
    figures: dict[str, Any] = {"failed_lines": len(failed)}
    if ev.exchange_read and ev.start_balance is not None and ev.wallet is not None:
        sums = exchange_sums(ev.executions)
        books = ev.start_balance + sums["realised"] - sums["fees"] - sums["funding"]
        figures["books"] = str(books)
        if books != ev.wallet:
            problems.append(f"the exchange's wallet {ev.wallet} != its start {ev.start_balance} + executions' PnL "
                            f"- fees - funding = {books}")  # fmt: skip
    elif not ev.exchange_read:
        problems.append("the exchange's records could not be read")
    return _check("emulator", "the exchange stayed sound (its records can be trusted)", problems, figures,
                  "alive to the end, no failure line, wallet == start + executions")  # fmt: skip


def _journal_problems(ev: Evidence) -> list[str]:
    return [f"journal: {ev.journal_error}"] if ev.journal_error else []


def _not_read(name: str, title: str) -> Check:
    return Check(name, False, title, "not judged: the exchange's records could not be read", {}, [], 1)


def _dec(x: Any) -> Decimal | None:
    try:
        return Decimal(str(x))
    except (InvalidOperation, ValueError):
        return None


def _s(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


CHECKS: tuple[Callable[[Evidence], Check], ...] = (
    check_process, check_stops, check_link_ids, check_orders, check_fills, check_ledger, check_capital,
    check_shutdown, check_restarts, check_schedule, check_emulator,
)  # fmt: skip


def judge(ev: Evidence) -> list[Check]:
    return [check(ev) for check in CHECKS]


# ---------------------------------------------------------------- counts


def counts(ev: Evidence) -> dict[str, Any]:
    """What happened, in numbers (no verdict)."""
    events = [e for life in ev.lives for e in life.events]

    def named(name: str) -> list[dict[str, Any]]:
        return [e for e in events if e.get("event") == name]

    reconnects = named("ws_reconnected")
    rejects = Counter(str(e.get("code")) for e in named("reject"))
    warnings = Counter(e.get("event") for e in events if e.get("level") in ("warning", "error"))
    s = ev.summary or {}
    return {
        "orders": {
            "exchange": len(ev.orders),
            "by_the_daemon": sum(1 for o in ev.orders if o.get("orderLinkId")),
            "entries": sum(1 for o in ev.orders if o.get("orderLinkId") and not o.get("reduceOnly")),
            "by_create_type": dict(Counter(o.get("createType") for o in ev.orders)),
            "by_status": dict(Counter(o.get("orderStatus") for o in ev.orders)),
            "journal": len(ev.journal_orders),
        },
        "fills": {
            "exchange": len(ev.executions),
            "by_type": dict(Counter(x.get("execType") for x in ev.executions)),
            "journal": len(ev.journal_fills),
        },
        "trades": {
            k: s.get(k)
            for k in ("trades_total", "wins", "losses", "total_profit", "fees_paid", "funding_paid", "kill_switch")
        },
        "reconnects": len(reconnects),
        "reconnects_by_socket": dict(Counter(str(e.get("socket")) for e in reconnects)),
        "resyncs": {
            "after_reconnect": len(reconnects),
            "at_start": len(named("venue_connected")),
            "failed": len(named("resync_failed")),
            "note": "the daemon does not log its periodic resyncs (every venue.resync_interval_s)",
        },
        "rejects_by_code": dict(rejects.most_common()),
        "exchange_rejected": dict(
            Counter(o.get("rejectReason") for o in ev.orders if o.get("orderStatus") == "Rejected")
        ),
        "cancelled_unfilled": sum(1 for o in ev.orders if o.get("rejectReason") == "EC_CancelForNoFullFill"),
        "faults": dict(Counter(str(e.get("kind")) for e in ev.emulator_events if e.get("event") == "chaos")),
        "kills": len(ev.kills),
        "lives": len(ev.lives),
        "warnings_by_event": dict(warnings.most_common(15)),
    }

"""What a rehearsal says: the verdict table (printed), ``rehearsal.json`` (for machines) and ``report.md`` (for
people), both in --out beside the processes' logs, the journal, the exchange's records and the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omni.rehearse.judge import Check
from omni.rehearse.runner import Run


def verdict_ok(run: Run, checks: list[Check]) -> bool:
    return run.error is None and all(c.ok for c in checks)


def document(run: Run, checks: list[Check], counts: dict[str, Any]) -> dict[str, Any]:
    """The content of ``rehearsal.json``."""
    ok = verdict_ok(run, checks)
    return {
        "verdict": "pass" if ok else "fail",
        "exit_code": 0 if ok else 1,
        "error": run.error,
        "plan": run.plan.describe(),
        "run": {
            "emulator_url": run.url,
            "symbols": run.symbols,
            "wall_s": round(run.wall_s, 1),
            "market_start_ms": run.market_start_ms,
            "market_stop_ms": run.market_stop_ms,
            "market_hours": _market_hours(run),
            "capped": run.capped,
            "start_balance": _s(run.start_balance),
            "lives": [life.record() for life in run.lives],
            "kills": run.kills,
            "emulator_exit_code": run.emulator_returncode,
        },
        "checks": [c.record() for c in checks],
        "counts": counts,
        "files": sorted({p.name for p in run.plan.out.iterdir()} | {"rehearsal.json", "report.md"}),
    }


def _market_hours(run: Run) -> float | None:
    if run.market_start_ms is None or run.market_stop_ms is None:
        return None
    return round((run.market_stop_ms - run.market_start_ms) / 3_600_000, 3)


def _s(x: object) -> str | None:
    return None if x is None else str(x)


def table(checks: list[Check]) -> str:
    """The verdict table: one line per check."""
    width = max([len(c.name) for c in checks] + [5])
    lines = [f"{'check':<{width}}  verdict  detail"]
    for c in checks:
        lines.append(f"{c.name:<{width}}  {'PASS' if c.ok else 'FAIL':<7}  {c.detail}")
    return "\n".join(lines)


def headline(run: Run, checks: list[Check]) -> str:
    o = run.plan.options
    hours = _market_hours(run)
    failed = [c.name for c in checks if not c.ok]
    verdict = "PASS" if verdict_ok(run, checks) else "FAIL"
    why = f" ({', '.join(failed)})" if failed else ""
    if run.error:
        why += f"; {run.error}"
    return (
        f"rehearsal {verdict}{why}: {run.symbols} symbols, {hours} of {o.hours:g} market hours at {o.speed:g}x in "
        f"{run.wall_s:.0f} s wall, chaos {o.chaos}, {len(run.kills)} of {o.kills} kills, seed {o.seed}"
    )


def short_counts(counts: dict[str, Any]) -> str:
    o, f = counts["orders"], counts["fills"]
    faults = ", ".join(f"{k} {n}" for k, n in sorted(counts["faults"].items())) or "none"
    rejects = ", ".join(f"{k}: {n}" for k, n in counts["rejects_by_code"].items()) or "none"
    resyncs = counts["resyncs"]
    return (
        f"orders {o['exchange']} ({o['by_the_daemon']} by the daemon, {o['entries']} entries), fills {f['exchange']} "
        f"{f['by_type']}, reconnects {counts['reconnects']}, resyncs after reconnect {resyncs['after_reconnect']} "
        f"(failed {resyncs['failed']}), rejects {{{rejects}}}, faults {{{faults}}}"
    )


def markdown(run: Run, checks: list[Check], counts: dict[str, Any]) -> str:
    o, plan = run.plan.options, run.plan
    doc = document(run, checks, counts)
    out = [
        "# OMNI rehearsal",
        "",
        f"**{headline(run, checks)}**",
        "",
        "Judged from the exchange's records (positions polled every second, order history, executions, wallet, "
        "read through pybit with the rehearsal's key) and the processes' own output, not the daemon's word.",
        "",
        "## Plan",
        "",
        f"- config: `{o.config or 'built-in defaults'}`; capital {plan.capital} USDT (the emulator's wallet)",
        f"- symbols: {'all' if o.symbols is None else o.symbols} ({run.symbols} listed); {o.hours:g} market hours at "
        f"{o.speed:g}x (~{plan.wall_s:.0f} s wall planned, {run.wall_s:.0f} s taken)",
        f"- market start: {doc['plan']['market_start'] or 'now (the emulator default)'}; chaos `{o.chaos}`: "
        f"{_flags(doc['plan']['chaos_flags'])}",
        f"- kills: {o.kills} at {', '.join(f'{k:.0%}' for k in plan.kill_at) or '-'} of the run (seed {o.seed}); "
        f"stop grace {o.stop_grace_s:g} s",
        "",
        "## Verdict",
        "",
        "| check | verdict | what | detail |",
        "|---|---|---|---|",
    ]
    for c in checks:
        out.append(f"| {c.name} | {'PASS' if c.ok else '**FAIL**'} | {c.title} | {_cell(c.detail)} |")
    failing = [c for c in checks if c.problems]
    if failing:
        out += ["", "## Problems", ""]
        for c in failing:
            out.append(f"### {c.name} ({c.problem_count})")
            out.append("")
            out += [f"- {_cell(p)}" for p in c.problems]
            if c.problem_count > len(c.problems):
                out.append(f"- ... {c.problem_count - len(c.problems)} more in rehearsal.json's figures")
            out.append("")
    out += ["", "## Counts", "", "```json", json.dumps(counts, indent=2, default=str), "```", "", "## Daemon lives", ""]
    out += [
        "| life | started (s) | ended (s) | at | how | exit code | open positions at the end |",
        "|---|---|---|---|---|---|---|",
    ]
    for life in run.lives:
        r = life.record()
        at = "-" if r["ended_progress"] is None else f"{r['ended_progress']:.0%}"
        out.append(f"| {r['n']} | {r['started_s']} | {r['ended_s']} | {at} | {r['end']} | {r['returncode']} | "
                   f"{r['open_positions_at_end']} |")  # fmt: skip
    out += ["", "## Figures per check", ""]
    for c in checks:
        out.append(f"- **{c.name}**: " + ", ".join(f"{k} {v}" for k, v in c.figures.items()))
    out += [
        "",
        "## Files",
        "",
        "`rehearsal.json` (all of this), `plan.json`, `emulator.out`/`.err`, `daemon-N.out`/`.err`/`.summary.json` "
        "per life, `journal.sqlite` (the daemon's journal), `exchange.json` (the exchange's orders, executions, "
        "positions and wallet after the last exit), `daemon-state/` (the kill-switch latch).",
        "",
    ]
    return "\n".join(out)


def _flags(flags: dict[str, float]) -> str:
    return ", ".join(f"`--chaos-{k} {v:g}`" for k, v in flags.items()) or "no faults"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write(run: Run, checks: list[Check], counts: dict[str, Any]) -> tuple[Path, Path]:
    out = run.plan.out
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    md.write_text(markdown(run, checks, counts))
    js = out / "rehearsal.json"
    js.write_text(json.dumps(document(run, checks, counts), indent=2, default=str) + "\n")
    return js, md

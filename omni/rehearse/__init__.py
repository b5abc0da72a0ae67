"""``omni rehearse``: a dress rehearsal of the daemon on the local Bybit emulator, with faults and kills, judged by
the exchange's own records.

- ``plan.py``: the options, the fault presets (``CHAOS_PRESETS``), the seeded kill moments, both command lines;
- ``runner.py``: the processes (emulator, daemon lives), SIGKILLs and restarts, the position watcher, the reads
  of the exchange's records at the end;
- ``exchange.py``: those reads, through pybit's HTTP client with the rehearsal's key;
- ``judge.py``: the checks, each a function of plain records, and the counts;
- ``report.py``: the verdict table, ``rehearsal.json`` and ``report.md``.

It sits at the top of the layers next to the CLI: it starts processes and reads the emulator through pybit; it
imports neither the engine nor the emulator.
"""

from __future__ import annotations

import sys
from typing import TextIO

from omni.rehearse import judge
from omni.rehearse.plan import CHAOS_PRESETS, EmulatorCaps, Options, Plan, PlanError, make_plan
from omni.rehearse.report import headline, short_counts, table, verdict_ok, write
from omni.rehearse.runner import Rehearsal

__all__ = ["CHAOS_PRESETS", "EmulatorCaps", "Options", "Plan", "PlanError", "make_plan", "rehearse"]


def rehearse(plan: Plan, out: TextIO = sys.stdout) -> int:
    """Run the plan, judge it, write the report; 0 when every check holds, else 1."""
    run = Rehearsal(plan).run()
    evidence = judge.gather(run)
    checks = judge.judge(evidence)
    numbers = judge.counts(evidence)
    js, md = write(run, checks, numbers)
    print(headline(run, checks), file=out)
    print(table(checks), file=out)
    print(short_counts(numbers), file=out)
    print(f"wrote {js} and {md}", file=out, flush=True)
    return 0 if verdict_ok(run, checks) else 1

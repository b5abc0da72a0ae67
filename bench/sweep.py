"""Sweep benchmark: ``omni sweep`` throughput (trials/hour) with the ``local`` process pool and with ``ray`` (a local
Ray) side by side, on 10 recorded symbols x 30 days of 1m bars with 4 walk-forward folds, as a user runs it.

Dataset (built once and cached under ``--cache``; ``--regen`` rebuilds it): 10 Binance USDT-M 1m kline files of the
shared data (``$OMNI_SHARED_DATA`` or ``../shared/data``; the bench exits 0 with a message when it is absent) that
all cover 2025-05-04 15:3x .. 2025-06-03 15:3x: AVAX BCH ENA ETC LINK SUI XLM (which end there) and BTC ETH SOL
(which run on to 2025-06-24). Every file is cut to the range all ten cover (the latest first bar .. the earliest
last bar, ~30 days = 43,196 bars each; the rows are copied verbatim), because ``omni.sweep.run.data_range`` plans
the folds over the *union* of the symbols' ranges (earliest first bar .. latest end): passed whole, BTC ETH SOL
would stretch the sweep to 51 days with three symbols alone in its last 21. The Bybit funding settlements of the
same range are added where the shared data has them (BTC ETH SOL; Bybit rates beside Binance bars, as the
shared data's README warns). The cut CSVs are converted with ``omni data import`` into a Parquet store, which the
sweeps read (``--data <store>``).

Workload: ``python -m omni sweep --space config/sweep.yaml --config <base> --data <store> --folds 4 --sampler
random --workers 2 --trials N`` (default N = 100, default ``--batch`` 8), once with ``--executor local`` and once
with ``--executor ray``, each a fresh subprocess with a fresh ``--out``. The base config (``BASE``) is the active
config of tests/integration/test_sweep.py (1000 USDT, 1m timeframe, loose ghost filter, no pacing, no turnover
floor) with the kill switch out of reach (daily loss 1e6 USDT, drawdown 100 %), so every fold trades to its end
(~3,500 trades a fold over the 10 symbols, ~13,800 a trial): with the default config the daemon makes ~no trades
on this data, and with the test's limits the kill switch trips on the first day of a fold, after which a trial is
trivially fast.
``--config FILE`` replaces it. The random sampler draws trial i's values from (space seed, i), so both runs must
produce the same trials.csv (apart from its ``seconds`` column): checked and reported.

Measured per run: wall time from spawn to exit (interpreter start, data range, fold plan, executor start, all
trials, report), trials/hour = trials / wall, the median and the sum of the trials' own seconds (trials.csv), the
moments the sweep printed its first line and its first results (start-up; results come a batch at a time), the
utilisation of the workers (sum of trial seconds / (workers x wall)) and the run's overhead (wall minus its trials
scheduled in batches on the workers); every 0.25 s the process tree of the sweep is read from /proc: the peak RSS
(VmHWM) and CPU time of each worker process (pool workers; Ray's ``ray::`` workers), of the sweep's own process
and of Ray's services (gcs_server, raylet, monitors, agents), the peak of the tree's summed RSS, and the CPU time
the rest of the machine used meanwhile (other work: the figures are then pessimistic). Data size: the store on
disk, the cut CSVs, and the market's columns once loaded (``ReplayMarket`` in this process: the arrays' bytes and
the load time; every worker loads the whole store once per fold). ``--repeat K`` runs each executor K times, the
order alternating (local, ray, ray, local, ...), and adds totals (trials/h = all trials / all wall).

A sweep that crashes (exit != 0) after completing trials is continued with ``--resume``, as its message tells a
user, up to ``--max-resumes`` times; every attempt's wall counts, and each crash is printed with its cause.
Processes of a sweep's tree still alive after it exited (Ray's agents outlive a crashed driver) are ended by pid.
Ray 2.60 aborts the driver ("task_manager.cc: Check failed ... Tried to complete task that was not pending") when
``ray.cancel(ref, force=True)`` is called on tasks that already finished, which ``RayExecutor.run`` does for every
task of a batch; ``--ray-cancel-fix`` runs the ray sweeps through ``python -c RAY_CANCEL_FIX`` (``ray.cancel``
skips finished tasks, then ``omni.cli.main``) to measure the executor without that crash.

Goals (the issue's), on the 2-core reference machine: the Ray executor within 10 % of the local pool's throughput,
and the whole 100-trial sweep <= 15 min. With ``--trials`` below 100 the 15-min goal is not judged; a projection
to 100 trials (the run's overhead plus 100 trials of the measured durations scheduled in the same batches) is
printed instead. A section then says what a 16-core machine or a cluster needs, computed from the measurements
(the batch scheduling simulated for 16 workers). ``--profile`` adds a cProfile of one fold of trial 0. The last
line is JSON with every figure.

    python bench/sweep.py [--trials N] [--repeat K] [--workers W] [--folds K] [--batch B] [--only local|ray]
                          [--cache DIR] [--regen] [--config FILE] [--space FILE] [--max-resumes M]
                          [--ray-cancel-fix] [--profile]

A quick run while developing: ``python bench/sweep.py --trials 4`` (a few minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
MINUTE_MS = 60_000
#: the ten symbols: seven whose files end on 2025-06-03, three of those running on to 2025-06-24
SYMBOLS = ("AVAXUSDT", "BCHUSDT", "ENAUSDT", "ETCUSDT", "LINKUSDT", "SUIUSDT", "XLMUSDT", "BTCUSDT", "ETHUSDT",
           "SOLUSDT")  # fmt: skip
KLINE_DIR = "klines/1m/binance-usdm"
FUNDING_DIR = "funding/bybit-linear"
MIN_DAYS = 29.9
#: bumped when the dataset changes, so an old cache is rebuilt
DATASET_VERSION = 1
DONE = "dataset.json"
BASE = """\
# bench/sweep.py: the active config of tests/integration/test_sweep.py with the kill switch out of reach
capital_usdt: 1000
targets: {min_net_profit_usdt: 0.3}
ghost: {min_ev_lower_usdt: -1000, min_samples: 5}
pacer: {spacing: false}
strategy: {timeframes: [1m]}
risk: {max_loss_per_trade_usdt: 2, max_daily_loss_usdt: 1000000, max_drawdown_pct: 100}
scanner: {min_turnover_usdt: 0}
"""
GOAL_RATIO = 0.9  # ray's throughput >= 90 % of local's
GOAL_WALL_S = 15 * 60  # a 100-trial sweep on the 2-core machine
GOAL_TRIALS = 100
SAMPLE_S = 0.25
ROLES = ("sweep", "worker", "ray service", "other")


def shared_data() -> Path:
    return Path(os.environ.get("OMNI_SHARED_DATA", ROOT.parent / "shared" / "data"))


def child_env() -> dict[str, str]:
    """The calling shell's environment without OMNI_* settings (except OMNI_SHARED_DATA), omni importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI_") or k == "OMNI_SHARED_DATA"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def utc(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def tree_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


# ---------------------------------------------------------------- dataset


def read_rows(path: Path) -> tuple[str, list[str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    return lines[0], [ln for ln in lines[1:] if ln]


def write_rows(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress((header + "\n" + "\n".join(rows) + "\n").encode(), compresslevel=6))


def build_dataset(src: Path, where: Path) -> dict:
    """Cut the ten kline files (and their funding) to the range all of them cover, import them into a store."""
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    t0 = time.perf_counter()
    klines = {s: read_rows(src / KLINE_DIR / f"{s}.csv.gz") for s in SYMBOLS}
    first = max(int(rows[0].split(",", 1)[0]) for _, rows in klines.values())
    last = min(int(rows[-1].split(",", 1)[0]) for _, rows in klines.values())
    end = last + MINUTE_MS
    bars, funding = {}, {}
    for s, (header, rows) in klines.items():
        keep = [r for r in rows if first <= int(r.split(",", 1)[0]) <= last]
        if len(keep) != (last - first) // MINUTE_MS + 1:
            raise SystemExit(f"{s}: {len(keep)} bars in {utc(first)} .. {utc(last)}, expected a gap-free range")
        write_rows(where / "csv" / KLINE_DIR / f"{s}.csv.gz", header, keep)
        bars[s] = len(keep)
        f_path = src / FUNDING_DIR / f"{s}.csv.gz"
        if f_path.is_file():
            f_header, f_rows = read_rows(f_path)
            f_keep = [r for r in f_rows if first <= int(r.split(",", 1)[0]) < end]
            if f_keep:
                write_rows(where / "csv" / FUNDING_DIR / f"{s}.csv.gz", f_header, f_keep)
                funding[s] = len(f_keep)
    days = (end - first) / 86_400_000
    if days < MIN_DAYS:
        raise SystemExit(f"the ten symbols share only {days:.1f} days ({utc(first)} .. {utc(end)})")
    cmd = [sys.executable, "-m", "omni", "data", "import", str(where / "csv"), "--out", str(where / "store")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
    if proc.returncode != 0:
        raise SystemExit(f"omni data import failed ({proc.returncode}): {proc.stderr[-2000:]}")
    info = {"version": DATASET_VERSION, "symbols": list(SYMBOLS), "first_ms": first, "end_ms": end,
            "first": utc(first), "end": utc(end), "days": round(days, 3), "bars": sum(bars.values()),
            "bars_per_symbol": bars, "funding_settlements": funding, "import": " ".join(cmd),
            "build_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
    (where / DONE).write_text(json.dumps(info, indent=1))
    return info


def loaded_size(store: Path) -> dict:
    """The market as a worker holds it: ReplayMarket on the store (its load time and its columns' bytes)."""
    from omni.venues.replay import ReplayMarket

    t0 = time.perf_counter()
    market = ReplayMarket([store], {})
    load_s = time.perf_counter() - t0
    nbytes = 0
    for k in market.klines.values():
        nbytes += sum(memoryview(a).nbytes for a in (k.ts, k.open, k.high, k.low, k.close, k.volume))
    for f in market.funding.values():
        nbytes += memoryview(f.ts).nbytes + memoryview(f.rate).nbytes
    return {"load_s": round(load_s, 3), "columns_mb": round(nbytes / MB, 1),
            "bars": sum(len(k) for k in market.klines.values())}  # fmt: skip


# ---------------------------------------------------------------- process-tree memory


def read_status(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in kB; (0, 0) if the process is gone."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except (OSError, ValueError):
        return 0, 0
    return hwm, rss


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime + stime, start time) of a process in clock ticks; (0, 0) if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return 0, 0


def machine_busy_ticks() -> int:
    """Clock ticks all CPUs spent busy since boot (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    return sum(vals[:8]) - vals[3] - vals[4]


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def short_name(cmd: str) -> str:
    """ray::X, the script of a python process (monitor.py), else the executable's name (raylet)."""
    words = cmd.split() or ["?"]
    if words[0].startswith("ray::"):
        return words[0]
    script = next((w for w in words[1:] if w.endswith(".py")), None)
    return Path(script).name if script and Path(words[0]).name.startswith("python") else Path(words[0]).name


def role(pid: int, roots: set[int], cmd: str) -> str:
    """sweep (the ``omni sweep`` process), worker (pool worker; a Ray worker: ray::IDLE, ray::run_trial), other
    (multiprocessing's resource tracker) or ray service (gcs_server, raylet, monitors, ray::*Agent)."""
    if pid in roots:
        return "sweep"
    if "spawn_main" in cmd or (cmd.startswith("ray::") and "Agent" not in cmd.split()[0]):
        return "worker"
    if "resource_tracker" in cmd:
        return "other"
    return "ray service"


class TreeSampler(threading.Thread):
    """Samples the process tree under the watched sweep process every SAMPLE_S: each process's VmHWM and CPU time
    (kept per pid, the last reading before it exits) and the tree's summed RSS; the machine's busy CPU time over
    the run. One sampler per run; ``watch`` moves it to the next attempt's process (after a crash and --resume)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.root: int | None = None
        self.roots: set[int] = set()
        self.stop = threading.Event()
        self.procs: dict[int, dict] = {}  # pid -> {role, name, hwm_kb, ticks, start}
        self.peak_tree_kb = 0
        self.busy0 = machine_busy_ticks()
        self.busy1 = self.busy0

    def watch(self, pid: int) -> None:
        self.roots.add(pid)
        self.root = pid

    def run(self) -> None:
        while True:
            total = 0
            for pid in descendants(self.root) if self.root else []:
                hwm, rss = read_status(pid)
                ticks, start = cpu_ticks(pid)
                if not hwm:
                    continue
                total += rss
                cmd = cmdline(pid)
                p = self.procs.get(pid)
                if p is None or p["start"] != start:
                    p = self.procs[pid] = {"role": role(pid, self.roots, cmd), "name": short_name(cmd), "hwm_kb": 0,
                                           "ticks": 0, "start": start}  # fmt: skip
                if cmd.startswith("ray::run_trial") or cmd.startswith("ray::IDLE"):
                    p["role"] = "worker"
                p["hwm_kb"] = max(p["hwm_kb"], hwm)
                p["ticks"] = max(p["ticks"], ticks)
            self.peak_tree_kb = max(self.peak_tree_kb, total)
            self.busy1 = machine_busy_ticks()
            if self.stop.wait(SAMPLE_S):
                return

    def leftovers(self) -> list[int]:
        """Processes of the tree still alive after their sweep process exited (e.g. Ray's agents after a crash)."""
        return [pid for pid, p in self.procs.items() if pid not in self.roots and cpu_ticks(pid)[1] == p["start"]
                and read_status(pid)[0]]  # fmt: skip

    def kill_leftovers(self) -> list[str]:
        """End the leftovers (started by this bench's sweep), by pid: TERM, then KILL; their names."""
        import signal

        pids = self.leftovers()
        names = [self.procs[p]["name"] for p in pids]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while pids and time.monotonic() < deadline:
                time.sleep(0.1)
                alive = set(self.leftovers())
                pids = [p for p in pids if p in alive]
        return names

    def summary(self, wall: float) -> dict:
        hz = os.sysconf("SC_CLK_TCK")
        by = {r: [p for p in self.procs.values() if p["role"] == r] for r in ROLES}
        cpu = {r: round(sum(p["ticks"] for p in ps) / hz, 1) for r, ps in by.items()}
        tree = sum(cpu.values())
        machine = (self.busy1 - self.busy0) / hz
        workers = sorted((p["hwm_kb"] / 1024 for p in by["worker"]), reverse=True)
        services = sorted(by["ray service"], key=lambda p: -p["hwm_kb"])
        return {
            "worker_processes": len(workers),
            "worker_peak_rss_mb": [round(x, 1) for x in workers],
            "worker_peak_rss_mb_max": round(workers[0], 1) if workers else None,
            "sweep_process_peak_rss_mb": round(max((p["hwm_kb"] for p in by["sweep"]), default=0) / 1024, 1),
            "ray_services": {p["name"]: round(p["hwm_kb"] / 1024) for p in services},
            "ray_services_peak_rss_mb": round(sum(p["hwm_kb"] for p in services) / 1024, 1),
            "tree_peak_rss_mb": round(self.peak_tree_kb / 1024, 1),
            "cpu_s": cpu,
            "cpu_s_other_processes": round(max(0.0, machine - tree), 1),
            "other_processes_cores": round(max(0.0, machine - tree) / wall, 2),
        }


# ---------------------------------------------------------------- one sweep


#: ``python -c`` in place of ``-m omni`` with --ray-cancel-fix: ray.cancel skips tasks that are already finished
RAY_CANCEL_FIX = """\
import sys
import ray
_cancel = ray.cancel
def cancel(ref, *args, **kwargs):
    if ray.wait([ref], timeout=0)[0]:
        return None
    return _cancel(ref, *args, **kwargs)
ray.cancel = cancel
from omni.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def complete_trials(out: Path) -> list[dict]:
    """The complete trials of the study in ``out`` (``omni.sweep.study.completed``): index, values, folds, seconds."""
    import optuna

    from omni.sweep.study import JOURNAL, STUDY_NAME, completed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (out / JOURNAL).is_file():
        return []
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / JOURNAL)))
    return completed(optuna.load_study(study_name=STUDY_NAME, storage=storage))


def run_sweep(executor: str, args: argparse.Namespace, store: Path, base: Path, space: Path, out: Path) -> dict:
    """One sweep as a user runs it, timed end to end; when it crashes after some progress it is continued with
    ``--resume`` (what its message says to do), up to ``--max-resumes`` times, and every attempt's wall counts."""
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep = ["sweep", "--space", str(space), "--config", str(base), "--data", str(store), "--folds", str(args.folds),
             "--sampler", "random", "--trials", str(args.trials), "--workers", str(args.workers), "--batch",
             str(args.batch), "--executor", executor, "--out", str(out)]  # fmt: skip
    fix = executor == "ray" and args.ray_cancel_fix
    head = [sys.executable, "-c", RAY_CANCEL_FIX] if fix else [sys.executable, "-m", "omni"]
    load0 = os.getloadavg()
    lines: list[tuple[float, str]] = []
    crashes: list[dict] = []
    leftovers: list[str] = []
    sampler = TreeSampler()
    sampler.start()
    t0 = time.monotonic()
    done = 0
    for attempt in range(args.max_resumes + 1):
        cmd = head + sweep + (["--resume"] if attempt else [])
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=out.parent,
                                env=child_env())  # fmt: skip
        sampler.watch(proc.pid)
        assert proc.stdout is not None
        first = len(lines)
        for line in proc.stdout:  # one line per finished trial (not a terminal)
            lines.append((time.monotonic() - t0, line.rstrip("\n")))
            if line.startswith(("trials ", "sweep: ")):
                print(f"  [{executor} {lines[-1][0]:6.0f} s] {line.rstrip()[:110]}", flush=True)
        code = proc.wait()
        time.sleep(2 * SAMPLE_S)  # let the sampler see what is left of the tree
        leftovers += sampler.kill_leftovers()
        if code == 0:
            break
        now = len(complete_trials(out))
        cause = next((s for _, s in lines[first:] if "Check failed" in s or "Error" in s), None)
        crashes.append({"attempt": attempt + 1, "exit": code, "t_s": round(time.monotonic() - t0, 1),
                        "complete_trials": now, "cause": (cause or (lines[-1][1] if lines else ""))[:300]})  # fmt: skip
        print(f"  [{executor} {time.monotonic() - t0:6.0f} s] CRASHED (exit {code}) with {now} trials complete: "
              f"{crashes[-1]['cause'][:150]}", flush=True)  # fmt: skip
        if now <= done and attempt:
            break  # no progress since the last attempt: give up
        done = now
    wall = time.monotonic() - t0
    sampler.stop.set()
    sampler.join()
    load1 = os.getloadavg()
    (out.parent / f"{out.name}.log").write_text("".join(f"{t:8.2f} {s}\n" for t, s in lines))
    if code != 0:
        tail = "\n".join(s for _, s in lines[-30:])
        raise SystemExit(f"the {executor} sweep failed (exit {code}) after {len(crashes)} attempts:\n"
                         f"{' '.join(head[:2] + sweep)}\n{tail}")  # fmt: skip
    trials = complete_trials(out)
    keys = list(trials[0]["values"])
    rows = [[str(t["index"]), *(json.dumps(t["values"][k]) for k in keys), *(str(f["net"]) for f in t["folds"]),
             str(sum(f["net"] for f in t["folds"]))] for t in trials]  # fmt: skip
    with (out / "trials.csv").open() as f:
        csv_rows = [r[:-1] for r in csv.reader(f)]
    if csv_rows[1:] != rows:
        raise SystemExit(f"{out}: trials.csv does not hold the study's trials")
    seconds = [float(t["seconds"]) for t in trials]
    doc = json.loads((out / "sweep.json").read_text())
    t_first_line = next((t for t, s in lines if s.startswith("sweep: ")), None)
    t_first_result = next((t for t, s in lines if s.startswith("trials ")), None)
    n = len(seconds)
    return {
        "executor": executor, "cmd": " ".join(head[:2] + sweep), "ray_cancel_fix": fix, "out": str(out),
        "trials": n, "failures": len(doc.get("failures", [])), "crashes": crashes, "leftovers_killed": leftovers,
        "wall_s": round(wall, 1), "trials_per_hour": round(n / wall * 3600, 1),
        "trial_s_median": round(statistics.median(seconds), 2), "trial_s_min": round(min(seconds), 2),
        "trial_s_max": round(max(seconds), 2), "trial_s_sum": round(sum(seconds), 1), "seconds": seconds,
        "utilisation": round(sum(seconds) / (args.workers * wall), 3),
        "t_first_line_s": None if t_first_line is None else round(t_first_line, 1),
        "t_first_result_s": None if t_first_result is None else round(t_first_result, 1),
        "folds": [{k: f[k] for k in ("trade_from", "end", "hours")} for f in doc["folds"]],
        "trades_median": statistics.median(sum(f["trades"] for f in t["folds"]) for t in trials),
        "rows": csv_rows, "loadavg_before": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in load1], **sampler.summary(wall),
    }  # fmt: skip


def aggregate(rs: list[dict], workers: int) -> dict:
    """One executor's runs as one: totals of trials and wall (so trials/h = all trials / all wall), medians of the
    per-trial and start-up figures, the largest memory peaks, CPU seconds summed."""
    if len(rs) == 1:
        return rs[0]
    seconds = [x for r in rs for x in r["seconds"]]
    trials, wall = sum(r["trials"] for r in rs), sum(r["wall_s"] for r in rs)
    med = lambda key: round(statistics.median(r[key] for r in rs), 1)  # noqa: E731
    peak = lambda key: max(r[key] or 0 for r in rs)  # noqa: E731
    cpu = {k: round(sum(r["cpu_s"][k] for r in rs), 1) for k in ROLES}
    other = sum(r["cpu_s_other_processes"] for r in rs)
    services = max(rs, key=lambda r: r["ray_services_peak_rss_mb"])
    return {
        "executor": rs[0]["executor"], "runs": len(rs), "out": [r["out"] for r in rs], "trials": trials,
        "crashes": [c for r in rs for c in r["crashes"]],
        "leftovers_killed": [x for r in rs for x in r["leftovers_killed"]],
        "ray_cancel_fix": rs[0]["ray_cancel_fix"],
        "failures": sum(r["failures"] for r in rs), "wall_s": round(wall, 1),
        "trials_per_hour": round(trials / wall * 3600, 1), "trial_s_median": round(statistics.median(seconds), 2),
        "trial_s_min": round(min(seconds), 2), "trial_s_max": round(max(seconds), 2),
        "trial_s_sum": round(sum(seconds), 1), "seconds": seconds,
        "utilisation": round(sum(seconds) / (workers * wall), 3), "t_first_line_s": med("t_first_line_s"),
        "t_first_result_s": med("t_first_result_s"), "folds": rs[0]["folds"], "trades_median": med("trades_median"),
        "rows": rs[0]["rows"], "loadavg_before": rs[0]["loadavg_before"], "loadavg_after": rs[-1]["loadavg_after"],
        "worker_processes": peak("worker_processes"),
        "worker_peak_rss_mb": sorted((x for r in rs for x in r["worker_peak_rss_mb"]), reverse=True),
        "worker_peak_rss_mb_max": peak("worker_peak_rss_mb_max"),
        "sweep_process_peak_rss_mb": peak("sweep_process_peak_rss_mb"), "ray_services": services["ray_services"],
        "ray_services_peak_rss_mb": services["ray_services_peak_rss_mb"], "tree_peak_rss_mb": peak("tree_peak_rss_mb"),
        "cpu_s": cpu, "cpu_s_other_processes": round(other, 1), "other_processes_cores": round(other / wall, 2),
        "scheduled_s": round(sum(r["scheduled_s"] for r in rs), 1), "overhead_s": med("overhead_s"),
    }  # fmt: skip


def simulate(seconds: list[float], trials: int, workers: int, batch: int) -> float:
    """Seconds the trial phase of a sweep would take: ``trials`` trials with the measured durations (cycled), asked
    in batches of ``batch``, each batch run first come first served on ``workers`` and waited for as a whole."""
    import heapq

    durations = [seconds[i % len(seconds)] for i in range(trials)]
    total = 0.0
    for b in range(0, trials, batch):
        free = [0.0] * workers
        for d in durations[b : b + batch]:
            heapq.heappush(free, heapq.heappop(free) + d)
        total += max(free)
    return total


def ray_startup() -> float | None:
    """Seconds for ``ray.init`` as the ray executor calls it (2 CPUs, no dashboard), in a fresh interpreter."""
    code = ("import time, ray; t = time.monotonic(); ray.init(num_cpus=2, include_dashboard=False, "
            "logging_level='WARNING', log_to_driver=False); print(time.monotonic() - t); ray.shutdown()")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env())
    try:
        return round(float(proc.stdout.strip().splitlines()[-1]), 1)
    except (IndexError, ValueError):
        return None


def profile_child(store: Path, base: Path, space_path: Path, folds: int) -> int:
    """Trial 0's first fold (as a worker runs it: ``trial.run_fold``) under cProfile; the stats on stdout."""
    import cProfile
    import pstats

    from omni.config import load_config
    from omni.sweep.folds import plan_folds
    from omni.sweep.run import data_range, warmup_and_embargo
    from omni.sweep.space import config_with, load_space
    from omni.sweep.trial import run_fold, trial_seed

    cfg = load_config(base)
    space = load_space(space_path, cfg)
    cfg = config_with(cfg, {"market.source": "replay", "market.data_files": [store]})
    fold = plan_folds(*data_range([store]), folds, *warmup_and_embargo(cfg, space))[0]
    values = space.sample(0)
    doc = config_with(cfg, values).model_dump()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    result = run_fold(doc, fold, trial_seed(space.seed, 0))
    prof.disable()
    print(f"== cProfile of trial 0 ({values}), fold 1 ({fold.hours} h traded + warm-up): "
          f"{time.perf_counter() - t0:.1f} s under the profiler, {result['trades']} trades")  # fmt: skip
    for key in ("tottime", "cumulative"):
        pstats.Stats(prof, stream=sys.stdout).sort_stats(key).print_stats(22)
    return 0


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=GOAL_TRIALS, help="trials per executor (default 100)")
    ap.add_argument("--workers", type=int, default=2, help="--workers of the sweeps (default 2)")
    ap.add_argument("--folds", type=int, default=4, help="walk-forward folds (default 4)")
    ap.add_argument("--batch", type=int, default=8, help="--batch of the sweeps (default 8, the sweep's default)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per executor, order alternating (default 1)")
    ap.add_argument(
        "--max-resumes",
        type=int,
        default=20,
        help="a crashed sweep is continued with --resume up to this many times (default 20)",
    )
    ap.add_argument(
        "--ray-cancel-fix",
        action="store_true",
        help="run the ray sweeps with ray.cancel skipping finished tasks (see RAY_CANCEL_FIX)",
    )
    ap.add_argument("--only", choices=("local", "ray"), help="run one executor only")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/omni-bench-sweep"),
                    help="dataset and sweep outputs (default /tmp/omni-bench-sweep)")  # fmt: skip
    ap.add_argument("--regen", action="store_true", help="rebuild the dataset even if cached")
    ap.add_argument("--config", type=Path, help="base config instead of the built-in active one (BASE)")
    ap.add_argument("--space", type=Path, default=ROOT / "config" / "sweep.yaml",
                    help="search space (default config/sweep.yaml)")  # fmt: skip
    ap.add_argument("--profile", action="store_true", help="also profile one fold of trial 0 (cProfile, stdout)")
    ap.add_argument("--child-profile", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_profile:
        return profile_child(*args.child_profile, args.folds)

    src = shared_data()
    missing = [s for s in SYMBOLS if not (src / KLINE_DIR / f"{s}.csv.gz").is_file()]
    if missing:
        print(f"bench/sweep.py: skipped: no shared market data ({src / KLINE_DIR} lacks {', '.join(missing)}; "
              "set OMNI_SHARED_DATA)")  # fmt: skip
        return 0
    executors = [args.only] if args.only else ["local", "ray"]
    ray_note = None
    if "ray" in executors:
        try:
            import ray  # noqa: F401
        except ImportError:
            executors.remove("ray")
            ray_note = "ray is not installed (pip install 'omni[ray]'): the ray executor is skipped"
            print(f"bench/sweep.py: {ray_note}")
            if not executors:
                return 0

    where = args.cache / f"dataset-v{DATASET_VERSION}"
    marker = where / DONE
    info = json.loads(marker.read_text()) if marker.is_file() else None
    built = False
    if args.regen or info is None or info.get("version") != DATASET_VERSION:
        print(f"building the dataset in {where} (10 symbols cut to their common range, omni data import) ...")
        info = build_dataset(src, where)
        built = True
    store = where / "store"
    base = args.cache / "base.yaml"
    if args.config:
        base = args.config.resolve()
    else:
        base.write_text(BASE)
    space = args.space.resolve()
    from omni.sweep.executors import worker_mb

    sizes = {"store_mb": round(tree_bytes(store) / MB, 2), "csv_mb": round(tree_bytes(where / "csv") / MB, 2),
             **loaded_size(store), "omni_worker_estimate_mb": round(worker_mb([store]))}  # fmt: skip

    print(f"== sweep: {args.trials} trials x {len(SYMBOLS)} symbols x {info['days']:.2f} days of 1m bars, "
          f"{args.folds} folds, random sampler, {args.workers} workers, batch {args.batch}")  # fmt: skip
    print(f"dataset         {store} ({'built now' if built else 'cached'}): {info['first']} .. {info['end']} UTC, "
          f"{info['bars']:,} bars, funding for {', '.join(info['funding_settlements']) or 'none'}")  # fmt: skip
    print(f"config          {base}{'' if args.config else ' (BASE: active, kill switch out of reach)'}; space {space}")
    ray_init_s = ray_startup() if "ray" in executors else None
    load_start = os.getloadavg()
    all_runs: list[dict] = []
    for k in range(args.repeat):
        for ex in executors if k % 2 == 0 else executors[::-1]:  # alternate the order round by round
            print(f"running the {ex} sweep{f' (round {k + 1} of {args.repeat})' if args.repeat > 1 else ''} ...")
            sys.stdout.flush()
            r = run_sweep(ex, args, store, base, space, args.cache / "runs" / f"{ex}-{args.trials}-{k + 1}")
            r["round"] = k + 1
            r["scheduled_s"] = round(simulate(r["seconds"], r["trials"], args.workers, args.batch), 1)
            r["overhead_s"] = round(r["wall_s"] - r["scheduled_s"], 1)
            all_runs.append(r)
    load_end = os.getloadavg()
    runs = {ex: aggregate([r for r in all_runs if r["executor"] == ex], args.workers) for ex in executors}

    # ------------------------------------------------------------ table
    print()
    print(f"{'executor':9s} {'trials':>6s} {'wall':>9s} {'trials/h':>9s} {'median trial':>13s} {'min-max':>13s} "
          f"{'util':>5s} {'start-up':>9s} {'1st result':>10s} {'worker peak RSS':>16s} {'tree peak':>10s} "
          f"{'ray/local':>9s}")  # fmt: skip
    local = runs.get("local")
    rows = [(r["executor"] + (f" #{r['round']}" if args.repeat > 1 else ""), r) for r in all_runs]
    if args.repeat > 1:
        rows += [(f"{ex} all", r) for ex, r in runs.items()]
    for label, r in rows:
        ex = r["executor"]
        ratio = f"{r['trials_per_hour'] / local['trials_per_hour']:.3f}" if local and ex == "ray" else ""
        if args.repeat > 1 and "all" not in label:
            ratio = ""
        print(f"{label:9s} {r['trials']:6d} {r['wall_s']:7.1f} s {r['trials_per_hour']:9.1f} "
              f"{r['trial_s_median']:11.2f} s {r['trial_s_min']:5.1f}-{r['trial_s_max']:5.1f} s "
              f"{r['utilisation']:5.2f} {r['t_first_line_s']:7.1f} s {r['t_first_result_s']:8.1f} s "
              f"{r['worker_peak_rss_mb_max'] or 0:13.0f} MB {r['tree_peak_rss_mb']:7.0f} MB {ratio:>9s}")  # fmt: skip
    print("(wall = spawn to exit; util = sum of trial seconds / (workers x wall); start-up = spawn to the sweep's "
          "first line (imports, data range, fold plan); 1st result = spawn to the first batch's results; worker "
          "peak RSS = the largest VmHWM of a worker process; tree peak = the largest summed RSS of the whole "
          f"process tree{'; ray/local on the aggregate rows' if args.repeat > 1 else ''})")  # fmt: skip
    for ex, r in runs.items():
        c = r["cpu_s"]
        print(
            f"{ex:9s} {r['worker_processes']} worker processes, peak RSS {r['worker_peak_rss_mb']} MB; sweep process "
            f"{r['sweep_process_peak_rss_mb']:.0f} MB; median {r['trades_median']:.0f} trades per trial; "
            f"log {', '.join(f'{o}.log' for o in ([r['out']] if isinstance(r['out'], str) else r['out']))}"
        )
        services = ""
        if ex == "ray":
            services = f", Ray services {c['ray service']:.0f} s"
            print(f"{'':9s} {len(r['ray_services'])} Ray services, {r['ray_services_peak_rss_mb']:.0f} MB together: "
                  + ", ".join(f"{k} {v}" for k, v in r["ray_services"].items()))  # fmt: skip
        print(f"{'':9s} CPU seconds over {r['wall_s']:.0f} s wall: workers {c['worker']:.0f} s, sweep process "
              f"{c['sweep']:.0f} s{services}; other processes on the machine {r['cpu_s_other_processes']:.0f} s "
              f"(~{r['other_processes_cores']:.2f} cores); load average {r['loadavg_before'][0]:.2f} -> "
              f"{r['loadavg_after'][0]:.2f}")  # fmt: skip
    for r in all_runs:
        label = r["executor"] + (f" #{r['round']}" if args.repeat > 1 else "")
        for c in r["crashes"]:
            print(f"CRASH           {label}: attempt {c['attempt']} exited {c['exit']} at {c['t_s']:.0f} s with "
                  f"{c['complete_trials']} trials complete, continued with --resume (its wall counts): "
                  f"{c['cause'][:200]}")  # fmt: skip
        if r["leftovers_killed"]:
            print(f"leftovers       {label}: processes of the sweep still running after it exited, ended "
                  f"by this bench: {', '.join(r['leftovers_killed'])}")  # fmt: skip
    r0 = next(iter(runs.values()))
    per_fold = r0["trial_s_median"] / args.folds
    print(f"folds           {args.folds} x ~{r0['folds'][0]['hours']} h traded (plus warm-up each); a trial = "
          f"{args.folds} backtests, ~{per_fold:.1f} s each; the store loads in {sizes['load_s']:.2f} s, so data "
          f"loading is ~{sizes['load_s'] * args.folds / r0['trial_s_median'] * 100:.0f} % of a trial")  # fmt: skip
    if ray_init_s is not None:
        print(f"ray start-up    ray.init (2 CPUs, no dashboard) in a fresh interpreter: {ray_init_s:.1f} s")
    same = None
    if len(all_runs) > 1:
        same = all(r["rows"] == all_runs[0]["rows"] for r in all_runs)
        print(f"same results    {'yes' if same else 'NO'}: trials.csv of all {len(all_runs)} runs without the seconds "
              f"column ({len(all_runs[0]['rows']) - 1} trials)")  # fmt: skip
    print(f"data            store {sizes['store_mb']:.1f} MB on disk (cut CSV {sizes['csv_mb']:.1f} MB); loaded "
          f"{sizes['columns_mb']:.1f} MB of columns ({sizes['bars']:,} bars) in {sizes['load_s']:.2f} s; omni's own "
          f"per-worker estimate {sizes['omni_worker_estimate_mb']} MB")  # fmt: skip

    # ------------------------------------------------------------ goals
    print()
    ratio_met = wall_met = None
    spread = {}
    for ex in runs:
        tph = [r["trials_per_hour"] for r in all_runs if r["executor"] == ex]
        spread[ex] = round(max(tph) / min(tph) - 1, 3)
    if local and "ray" in runs:
        ratio = runs["ray"]["trials_per_hour"] / local["trials_per_hour"]
        ratio_met = ratio >= GOAL_RATIO
        noise = max(spread.values())
        note = (f" (but runs of one executor differ by up to {noise * 100:.0f} %: the comparison is within the noise "
                "of this machine)" if noise > 0.1 else "")  # fmt: skip
        print(
            f"goal            ray within 10 % of local: {runs['ray']['trials_per_hour']:.1f} vs "
            f"{local['trials_per_hour']:.1f} trials/h = {ratio:.3f} -> {'MET' if ratio_met else 'MISSED'}{note}"
        )
        r_ray = runs["ray"]
        print(f"{'':16s}Ray's own cost: {r_ray['overhead_s'] - local['overhead_s']:+.1f} s of start-up and shutdown "
              f"per sweep (ray.init {ray_init_s} s), its services {r_ray['cpu_s']['ray service']:.0f} CPU-s over "
              f"{r_ray['wall_s']:.0f} s ({r_ray['cpu_s']['ray service'] / r_ray['wall_s'] / args.workers * 100:.1f} % "
              f"of {args.workers} cores) and {r_ray['ray_services_peak_rss_mb']:.0f} MB")  # fmt: skip
    crashed = sum(len(r["crashes"]) for r in all_runs if r["executor"] == "ray")
    if crashed:
        print(f"{'':16s}the ray sweeps crashed {crashed} times (Ray aborts on ray.cancel(force=True) of finished "
              "tasks, see the CRASH lines); a user's --resume after each is counted in the ray figures")  # fmt: skip
    # per-trial CPU time: what a trial takes on a core of its own (here the workers shared the cores with others)
    cpu_per_trial = {ex: r["cpu_s"]["worker"] / r["trials"] for ex, r in runs.items()}
    idle = {ex: [x * cpu_per_trial[ex] / statistics.mean(r["seconds"]) for x in r["seconds"]]
            for ex, r in runs.items()}  # fmt: skip
    projected, projected_idle = {}, {}
    for ex, r in runs.items():
        proj = r["overhead_s"] + simulate(r["seconds"], GOAL_TRIALS, args.workers, args.batch)
        proj_idle = r["overhead_s"] + simulate(idle[ex], GOAL_TRIALS, args.workers, args.batch)
        projected[ex], projected_idle[ex] = round(proj, 1), round(proj_idle, 1)
        if r["trials"] >= GOAL_TRIALS and r.get("runs", 1) == 1:
            met = r["wall_s"] <= GOAL_WALL_S
            wall_met = met if wall_met is None else wall_met and met
            print(f"goal            {ex}: {GOAL_TRIALS} trials <= 15 min on {os.cpu_count()} cores: "
                  f"{r['wall_s'] / 60:.1f} min -> {'MET' if met else 'MISSED'}")  # fmt: skip
        else:
            likely = "likely met" if proj_idle <= GOAL_WALL_S else "likely MISSED"
            print(f"goal            {ex}: {GOAL_TRIALS} trials <= 15 min: not judged ({r['trials'] // r.get('runs', 1)}"
                  f" trials a run); projected {proj / 60:.1f} min as measured, {proj_idle / 60:.1f} min on an "
                  f"otherwise idle machine -> {likely}")  # fmt: skip
    overheads = ", ".join(f"{ex} {r['overhead_s']:.1f} s" for ex, r in runs.items())
    cpus = ", ".join(f"{ex} {c:.1f} s" for ex, c in cpu_per_trial.items())
    print(f"{'':16s}(projection = the run's overhead, wall minus its trials scheduled in batches of {args.batch} on "
          f"{args.workers} workers ({overheads}), plus {GOAL_TRIALS} trials with the measured durations, cycled, "
          f"scheduled the same way; idle machine: the durations scaled to the workers' CPU seconds per trial "
          f"({cpus}))")  # fmt: skip

    # ------------------------------------------------------------ bigger machines
    seconds = [x for xs in idle.values() for x in xs]  # trials on cores of their own
    mean_s = statistics.mean(seconds)
    worker_peak = max((r["worker_peak_rss_mb_max"] or 0) for r in runs.values())
    sweep_peak = max(r["sweep_process_peak_rss_mb"] for r in runs.values())
    ray_services = runs["ray"]["ray_services_peak_rss_mb"] if "ray" in runs else None
    need16 = 16 * worker_peak + sweep_peak + (ray_services or 0)
    overhead = max(r["overhead_s"] for r in runs.values())
    on16 = {b: overhead + simulate(seconds, GOAL_TRIALS, 16, b) for b in (8, 16, 32, 96)}
    print()
    print("== what a 16-core machine or a cluster needs (from the figures above)")
    wall_mean = statistics.mean(x for r in runs.values() for x in r["seconds"])
    print(f"per trial       one CPU for ~{mean_s:.0f} s on average (median {statistics.median(seconds):.0f} s; the "
          f"workers' CPU seconds per trial, {args.folds} folds of 10 symbols x 30 days; wall per trial was "
          f"{wall_mean:.0f} s here, sharing the cores) and ~{worker_peak:.0f} MB of RSS "
          f"(the largest worker's peak; a worker loads the whole market, {sizes['columns_mb']:.0f} MB of columns "
          f"from a {sizes['store_mb']:.0f} MB store, once per fold; omni's own estimate "
          f"{sizes['omni_worker_estimate_mb']} MB per worker)")  # fmt: skip
    print(f"16 cores        --workers 16 needs ~{need16 / 1024:.1f} GB (16 x {worker_peak:.0f} MB + the sweep process "
          f"{sweep_peak:.0f} MB{f' + Ray services {ray_services:.0f} MB' if ray_services else ''}). Throughput "
          f"is ~linear in busy workers (trials share nothing but the store's files): at most 16 x 3600 / "
          f"{mean_s:.0f} s = {16 * 3600 / mean_s:.0f} trials/h. But a batch is waited for as a whole: "
          f"{GOAL_TRIALS} trials on 16 workers, simulated with those durations: "
          + ", ".join(f"--batch {b}: {t / 60:.1f} min ({GOAL_TRIALS / t * 3600:.0f} trials/h)" for b, t in on16.items())
          + ". The default --batch 8 keeps 8 of 16 workers idle: give --batch >= 2 x --workers (random and grid "
          "results do not depend on it; TPE's do)")  # fmt: skip
    print(f"cluster         --executor ray --ray-address ADDR: every node needs the same omni and Python packages, "
          f"~{worker_peak:.0f} MB per CPU it offers, and the data at the SAME PATH as on the head "
          f"({sizes['store_mb']:.1f} MB store; workers read it from disk, it is not shipped); the head runs the "
          f"sweep process (Optuna's journal, the report); trials/h ~ total CPUs x 3600 / {mean_s:.0f} s when "
          "--batch is several times the CPUs")  # fmt: skip

    # ------------------------------------------------------------ machine
    print()
    other = sum(r["cpu_s_other_processes"] for r in all_runs) / sum(r["wall_s"] for r in all_runs)
    disturbed = other > 0.1
    verdict = "other work shared the cores, the figures are disturbed (pessimistic)" if disturbed else "quiet"
    print(f"machine         {os.cpu_count()} cores; 1-min load average {load_start[0]:.2f} before the runs, "
          f"{load_end[0]:.2f} after (the sweeps themselves load {args.workers}; the average lags by minutes); "
          f"processes outside the sweeps used ~{other:.2f} cores during the runs (/proc/stat minus the sweeps' "
          f"trees): {verdict}")  # fmt: skip
    out = {
        "bench": "sweep", "trials": args.trials, "workers": args.workers, "folds": args.folds, "batch": args.batch,
        "symbols": list(SYMBOLS), "range": [info["first"], info["end"]], "days": info["days"], "bars": info["bars"],
        "dataset_built_now": built, "config": str(base), "space": str(space), "sizes": sizes,
        "ray_init_s": ray_init_s, "same_results": same, "goal_ratio": GOAL_RATIO, "goal_ratio_met": ratio_met,
        "goal_wall_s": GOAL_WALL_S, "goal_wall_met": wall_met, "projected_wall_100_s": projected,
        "projected_wall_100_s_idle_machine": projected_idle, "trial_cpu_s": cpu_per_trial, "spread": spread,
        "need_16_cores_mb": round(need16), "trials_per_hour_16_cores_max": round(16 * 3600 / mean_s),
        "minutes_100_trials_16_cores_by_batch": {b: round(t / 60, 1) for b, t in on16.items()},
        "loadavg": [round(load_start[0], 2), round(load_end[0], 2)], "other_processes_cores": round(other, 2),
        "disturbed": disturbed, "ray_note": ray_note,
        "runs": {ex: {k: v for k, v in r.items() if k not in ("rows", "cmd")} for ex, r in runs.items()},
        "each_run": [{k: r[k] for k in ("executor", "round", "wall_s", "trials_per_hour", "trial_s_median",
                                        "overhead_s", "other_processes_cores", "crashes")} for r in all_runs],
    }  # fmt: skip
    if args.profile:
        print("\nprofiling one fold of trial 0 in a fresh process (timings under cProfile are inflated) ...")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-profile", str(store), str(base), str(space),
               "--folds", str(args.folds)]  # fmt: skip
        sys.stdout.flush()
        subprocess.run(cmd, env=child_env(), check=False)
        print()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

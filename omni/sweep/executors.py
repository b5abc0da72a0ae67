"""Where trials run: ``local`` (a pool of worker processes on this machine, the default) or ``ray`` (a local Ray
started on demand, or an existing cluster with ``--ray-address``; ``pip install 'omni[ray]'``).

Both run the same ``trial.run_trial`` on the same specs and return results in the order of the specs, so the
results of a sweep do not depend on the executor or the number of workers. Workers read the market from its paths
(a cluster's nodes need the same paths: a shared filesystem or the same copy at the same place).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from omni.sweep.trial import run_trial

#: a worker's memory besides the market data: interpreter, omni, the engine's state, a fold's journal
WORKER_BASE_MB = 250
#: bytes per stored bar once loaded (7 float columns as arrays) and replayed (the scanner's windows, ...)
BYTES_PER_BAR = 120


def data_bars(paths: list[Path]) -> int:
    """An estimate of the bars in the data: row counts of a store's files, else ~1 bar per 17 bytes of gzip CSV."""
    bars = 0
    for p in paths:
        if p.is_dir():
            import pyarrow.parquet as pq

            bars += sum(pq.read_metadata(f).num_rows for f in p.glob("klines/*/symbol=*/*.parquet"))
            bars += sum(pq.read_metadata(f).num_rows for f in p.glob("mark/*/symbol=*/*.parquet"))
        elif p.is_file():
            bars += p.stat().st_size // 17
    return bars


def worker_mb(paths: list[Path]) -> float:
    """Memory one worker needs (MB): its base plus the whole market it loads for each fold."""
    return WORKER_BASE_MB + data_bars(paths) * BYTES_PER_BAR / 1e6


def available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def check_memory(workers: int, paths: list[Path]) -> str | None:
    """None if ``workers`` fit in this machine's available memory, else why not (with the numbers)."""
    need, have = worker_mb(paths), available_mb()
    if have is None or need * workers <= have * 0.9:
        return None
    fit = max(1, int(have * 0.9 // need))
    return (f"{workers} workers need ~{need * workers:,.0f} MB ({need:,.0f} MB each: the market is loaded per worker) "
            f"but {have:,.0f} MB are available: use --workers {fit} or less")  # fmt: skip


class LocalExecutor:
    """A pool of ``workers`` processes (spawned: a fresh interpreter each, nothing inherited)."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.pool = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_signals
        )

    def run(self, specs: list[dict[str, Any]]) -> Iterator[dict[str, Any] | Exception]:
        """Results in the order of ``specs`` (each as soon as it and the ones before it are done); a trial that
        raised gives its exception in its place."""
        futures: list[Future] = [self.pool.submit(run_trial, s) for s in specs]
        try:
            for f in futures:
                error = f.exception()
                yield error if isinstance(error, Exception) else f.result()
        finally:
            for f in futures:
                f.cancel()

    def close(self, kill: bool = False) -> None:
        """Shut the pool down; ``kill`` (after Ctrl-C): stop the running trials too, their batch runs again."""
        if kill:
            for p in multiprocessing.active_children():
                p.terminate()
        self.pool.shutdown(wait=not kill, cancel_futures=True)


class RayExecutor:
    """Trials as Ray tasks (one CPU each): a local Ray started here, or the cluster at ``address``."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'omni[ray]'") from None
        self.ray = ray
        self.workers = max(1, workers)
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": False}
            if address:
                ray.init(address=address, **kw)
            else:  # on this machine: as many CPUs as workers, so at most that many trials at once
                ray.init(num_cpus=self.workers, **kw)
        self.remote = ray.remote(num_cpus=1, max_retries=0)(run_trial)

    def run(self, specs: list[dict[str, Any]]) -> Iterator[dict[str, Any] | Exception]:
        refs = [self.remote.remote(s) for s in specs]
        got = 0
        try:
            for ref in refs:
                try:
                    result = self.ray.get(ref)
                except self.ray.exceptions.RayTaskError as e:  # the trial raised: its error, the others go on
                    result = e
                got += 1
                yield result
        finally:
            # stopped early (Ctrl-C): cancel only the tasks still pending; cancelling a finished one can abort
            # the driver (Ray 2.60: "Tried to complete task that was not pending")
            left = refs[got:]
            if left:
                _, pending = self.ray.wait(left, num_returns=len(left), timeout=0)
                for ref in pending:
                    self.ray.cancel(ref, force=True)

    def close(self, kill: bool = False) -> None:
        self.ray.shutdown()


def _worker_signals() -> None:
    """Workers leave Ctrl-C to the sweep's process, which stops them and keeps the study consistent; its SIGTERM
    (``close(kill=True)``) ends a worker at once, removing the fold directory it was writing."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end_worker)


def _end_worker(signum: int, frame: Any) -> None:
    import shutil

    from omni.sweep import trial

    if trial.current_dir is not None:
        shutil.rmtree(trial.current_dir, ignore_errors=True)
    os._exit(128 + signum)


def make_executor(name: str, workers: int, address: str | None = None) -> LocalExecutor | RayExecutor:
    if name == "ray":
        return RayExecutor(workers, address)
    return LocalExecutor(workers)


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))


Progress = Callable[[dict[str, Any]], None]

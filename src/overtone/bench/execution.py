"""Execution: train runs in this process or in a pool of worker processes.

:func:`execute` trains (or finishes, or reads) one run and writes its ``outcome.json`` with the
status (``ok``, ``diverged`` or ``failed`` with the error) and the peak memory; it never raises
for a failed run. :func:`run_pool` runs a queue in spawned workers (each with ``threads`` torch
threads) and survives a worker that dies: the runs in flight are retried alone.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from overtone._io import atomic_write_text
from overtone.bench.planning import Run
from overtone.config import TrainConfig


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def reset_peak_memory() -> None:
    """Start a new peak-RSS window (Linux: ``/proc/self/clear_refs``) and CUDA peak."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory() -> tuple[float | None, float | None]:
    """(peak resident set size, peak CUDA memory allocated) in MiB since the last reset.

    Where ``/proc`` is missing the RSS peak is the process's lifetime peak."""
    rss = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    except OSError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
    import torch

    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return rss, cuda


def execute(values: dict[str, Any]) -> dict[str, Any]:
    """Train (or finish, or read) one run and write its ``outcome.json``; never raises for a
    failed run: its status and error are in the outcome."""
    from overtone.build import shared_data
    from overtone.engine import NonFiniteLossError, train_or_load

    run_dir = Path(values["out"])
    outcome: dict[str, Any] = {"status": "ok", "error": ""}
    reset_peak_memory()
    began = time.perf_counter()
    try:
        config = TrainConfig.from_dict(values)
        with shared_data():  # a worker trains many runs of the same data sets
            outcome["final"] = train_or_load(config)
        outcome["sizes"] = json.loads((run_dir / "results.json").read_text())["sizes"]
    except NonFiniteLossError as err:
        outcome.update(status="diverged", error=str(err))
    except Exception as err:  # recorded; the bench goes on
        outcome.update(status="failed", error=f"{type(err).__name__}: {err}")
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "error.txt", traceback.format_exc())
    outcome["peak_rss_mb"], outcome["peak_cuda_mb"] = peak_memory()
    outcome["wall_s"] = time.perf_counter() - began
    if run_dir.is_dir():
        atomic_write_text(run_dir / "outcome.json", json.dumps(outcome, indent=2) + "\n")
    return outcome


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def default_workers(runs: int) -> int:
    """One worker process per core (each then runs single-threaded), at most one per run."""
    return max(1, min(cores(), runs))


def run_here(todo: list[Run], threads: int, record: Callable[[Run, dict], None]) -> None:
    """Run ``todo`` one after another in this process with ``threads`` torch threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for run in todo:
            record(run, execute(run.values))
    finally:
        torch.set_num_threads(before)


def run_pool(
    todo: list[Run],
    workers: int,
    threads: int,
    record: Callable[[Run, dict], None],
    task: Callable[[dict[str, Any]], dict[str, Any]] = execute,
) -> None:
    """Run ``todo`` in ``workers`` spawned processes.

    A worker that dies (killed, out of memory) breaks its pool. The runs in flight then are
    suspects: each is run again alone in a fresh process, and one that kills that too is
    recorded as failed; the rest go on in a new pool."""
    queue, suspects = list(todo), []
    while queue or suspects:
        if suspects:
            suspect = suspects.pop(0)
            if _drain([suspect], 1, threads, record, task):
                record(suspect, {"status": "failed", "error": "its worker process died, "
                                  "also when run alone (out of memory?)"})  # fmt: skip
        else:
            suspects = _drain(queue, workers, threads, record, task)


def _drain(queue: list[Run], workers: int, threads: int, record, task) -> list[Run]:
    """Run the queue (taking runs off its front) until it is empty or the pool breaks; return
    the runs that were in flight when it broke (their outcomes are unknown)."""
    context = multiprocessing.get_context("spawn")  # no forked OpenMP or CUDA state
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads,))  # fmt: skip
    pending: dict[Future, Run] = {}
    try:
        while queue or pending:
            while queue and len(pending) < workers:
                run = queue.pop(0)
                pending[pool.submit(task, run.values)] = run
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()  # raises BrokenProcessPool when a worker died
                record(pending.pop(future), outcome)
    except BrokenProcessPool:
        return list(pending.values())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return []

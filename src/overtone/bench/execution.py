"""Execution: train runs in this process or in a pool of worker processes.

:func:`execute` trains (or finishes, or reads) one run and writes its ``outcome.json`` with the
status (``ok``, ``diverged`` or ``failed`` with the error) and the peak memory; it never raises
for a failed run. :func:`run_pool` runs a queue in spawned workers (each with ``threads`` torch
threads) and survives a worker that dies: the runs in flight are retried alone.

Spawned workers start from nothing: they import the plugin modules a run's config names
(``plugins``), resolve import strings themselves, and receive the components this process
registered that the runs use as import references (:func:`registrations`; nothing is
pickled). A component registered in an ``__main__`` that a worker cannot import (``python
-c``, stdin, a notebook) is refused up front, with how to make it reach the workers.
"""

from __future__ import annotations

import dataclasses
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
from overtone.config import ConfigError, TrainConfig

# set in a worker whose registrations could not be imported: every run there fails with it
_SETUP_ERROR: list[str] = []


def _init_worker(threads: int, registered: str = "") -> None:
    import torch

    torch.set_num_threads(threads)
    if registered:
        try:
            _register([(key, name, _decode(entry)) for key, name, entry in json.loads(registered)])
        except Exception as err:  # reported by each run of this worker, not a dead pool
            _SETUP_ERROR.append(f"registering this process's components failed: "
                                f"{type(err).__name__}: {err}")  # fmt: skip


def _register(entries: list[tuple[str, str, Any]]) -> None:
    from overtone.build import REGISTRIES

    for key, name, entry in entries:
        registry = REGISTRIES[key]
        if name not in registry:  # a plugin module may have registered it on import
            registry.register(name, entry)


# A registered component travels to a worker as JSON, never pickled: a class or function as
# its import reference "module:qualname", a spec (a dataclass such as DatasetSpec) as its
# class's reference and its fields, each a reference or a JSON value.


def _reference(obj: Any) -> str:
    """``module:qualname`` of a top-level class or function; ``ValueError`` otherwise."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        raise ValueError(f"{obj!r} is not a module's top-level class or function")
    if _resolve(f"{module}:{qualname}") is not obj:
        raise ValueError(f"{module}:{qualname} does not name {obj!r}")
    return f"{module}:{qualname}"


def _resolve(reference: str) -> Any:
    import importlib

    module, _, qualname = reference.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _encode(entry: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(entry) and not isinstance(entry, type):
        fields = {f.name: _encode_field(getattr(entry, f.name)) for f in dataclasses.fields(entry)}
        return {"spec": _reference(type(entry)), "fields": fields}
    return {"ref": _reference(entry)}


def _encode_field(value: Any) -> dict[str, Any]:
    if callable(value):
        return {"ref": _reference(value)}
    if isinstance(value, tuple):
        return {"tuple": list(value)}
    json.dumps(value)  # a plain value, else TypeError
    return {"value": value}


def _decode(entry: dict[str, Any]) -> Any:
    if "spec" in entry:
        fields = {k: _decode_field(v) for k, v in entry["fields"].items()}
        return _resolve(entry["spec"])(**fields)
    return _resolve(entry["ref"])


def _decode_field(field: dict[str, Any]) -> Any:
    if "ref" in field:
        return _resolve(field["ref"])
    return tuple(field["tuple"]) if "tuple" in field else field["value"]


def _used_names(values: dict[str, Any]) -> list[tuple[str, Any]]:
    """(registry key, name) of every component a run's config names."""
    names = [(key, values.get(key)) for key in ("model", "data", "optimizer", "scheduler",
                                                 "loss", "pruner")]  # fmt: skip
    names += [("callbacks", name) for name in values.get("callbacks") or {}]
    activation = (values.get("model_args") or {}).get("activation")
    names.append(("activation", activation))
    return [(key, name) for key, name in names if isinstance(name, str) and name]


def main_is_importable() -> bool:
    """Whether a spawned process can import this process's ``__main__`` (a script file or
    ``python -m``), as :mod:`multiprocessing` does; not from ``python -c``, stdin or a
    notebook."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return True
    return _main_file() is not None


def _main_file() -> str | None:
    """The script file a spawned process would run as its ``__main__``, if it exists."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path:
        return None
    from multiprocessing import process

    if not os.path.isabs(path) and process.ORIGINAL_DIR is not None:
        path = os.path.join(process.ORIGINAL_DIR, path)
    return path if os.path.isfile(path) else None


def registrations(todo: list[Run]) -> str:
    """The components the runs name that this process registered from code outside overtone
    and torch (a program's ``register_*`` lines), as JSON import references for the workers
    (nothing is pickled); ``""`` if none.

    Raises ``ConfigError`` for one the workers cannot import: defined in an ``__main__`` they
    cannot import, or not at a module's top level."""
    from overtone.build import REGISTRIES

    found: dict[tuple[str, str], Any] = {}
    for run in todo:
        for key, name in _used_names(run.values):
            registry = REGISTRIES[key]
            if (key, name) in found or ":" in name or name not in registry:
                continue
            entry = registry.get(name)
            code = getattr(entry, "builder", None) or getattr(entry, "loader", None) or entry
            module = str(getattr(code, "__module__", "") or "")
            if module.split(".")[0] in ("overtone", "torch"):
                continue
            where = f"{registry.kind} {name!r} (registered by this process"
            how = ("put it in a module and pass --plugin MODULE (config key 'plugins'), or "
                   "name it 'module:attr'; or run the bench with --workers 1 (workers=1: in "
                   "this process)")  # fmt: skip
            if module == "__main__" and not main_is_importable():
                raise ConfigError(
                    f"{where} in __main__ of python -c, stdin or a notebook) cannot reach the "
                    f"bench's worker processes, which cannot import that __main__: {how}"
                )
            try:
                found[key, name] = _encode(entry)
            except Exception as err:
                raise ConfigError(
                    f"{where}) cannot reach the bench's worker processes ({type(err).__name__}: "
                    f"{err}; a lambda or a function defined inside another?): {how}"
                ) from None
    return json.dumps([(k, n, e) for (k, n), e in found.items()]) if found else ""


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
        if _SETUP_ERROR:
            raise RuntimeError(_SETUP_ERROR[0])
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
    from overtone._threads import torch_threads

    with torch_threads(threads):
        for run in todo:
            record(run, execute(run.values))


def run_pool(
    todo: list[Run],
    workers: int,
    threads: int,
    record: Callable[[Run, dict], None],
    task: Callable[[dict[str, Any]], dict[str, Any]] = execute,
    registered: str | None = None,
) -> None:
    """Run ``todo`` in ``workers`` spawned processes.

    A worker that dies (killed, out of memory) breaks its pool. The runs in flight then are
    suspects: each is run again alone in a fresh process, and one that kills that too is
    recorded as failed; the rest go on in a new pool. The components this process registered
    go to the workers (``registered``, default :func:`registrations`, which refuses up front
    those that cannot)."""
    if registered is None:
        registered = registrations(todo)
    queue, suspects = list(todo), []
    while queue or suspects:
        if suspects:
            suspect = suspects.pop(0)
            if _drain([suspect], 1, threads, record, task, registered):
                record(suspect, {"status": "failed", "error": "its worker process died, also "
                                 "when run alone (killed, out of memory, or a crash in native "
                                 "code; run it with --workers 1 to see its error)"})  # fmt: skip
        else:
            suspects = _drain(queue, workers, threads, record, task, registered)


def _drain(
    queue: list[Run], workers: int, threads: int, record, task, registered: str = ""
) -> list[Run]:
    """Run the queue (taking runs off its front) until it is empty or the pool breaks; return
    the runs that were in flight when it broke (their outcomes are unknown)."""
    context = multiprocessing.get_context("spawn")  # no forked OpenMP or CUDA state
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads, registered))  # fmt: skip
    pending: dict[Future, Run] = {}
    main = sys.modules.get("__main__")
    unreadable = getattr(main, "__file__", None)
    if unreadable is not None and _main_file() is not None:
        unreadable = None
    if unreadable is not None:  # '<stdin>': spawned workers would try to run it and die
        del main.__file__
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
        if unreadable is not None:
            main.__file__ = unreadable
    return []

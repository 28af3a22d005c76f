"""``run_bench``: run every unfinished run of a spec and write ``results.csv``,
``summary.md`` and ``summary.json`` (see :mod:`overtone.bench`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overtone._io import atomic_write_text
from overtone.bench.execution import cores, default_workers, registrations, run_here, run_pool
from overtone.bench.planning import FINISHED, Run, cell_name, check_run_dir, plan, read_outcome
from overtone.bench.results import result_row, write_results_csv
from overtone.bench.spec import BenchSpec
from overtone.bench.summary import ClaimResult, Summary
from overtone.bench.tables import summary_json, summary_markdown
from overtone.config import ConfigError


@dataclass
class BenchResult:
    out: Path
    spec: BenchSpec
    rows: list[dict[str, Any]]
    summary: Summary
    claims: list[ClaimResult]
    seconds: float
    ran: int  # runs trained (or retried) by this call; the rest were read


def run_bench(
    spec: BenchSpec,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Run every unfinished run of ``spec`` into ``out`` and write the results and summary."""
    out = Path(out)
    log = log or (lambda line: print(line, flush=True))
    runs = plan(spec, out)
    for run in runs:
        check_run_dir(run)
    outcomes: dict[Path, dict[str, Any]] = {}
    for run in runs:
        done = read_outcome(run.run_dir)
        if done is not None and done.get("status") in FINISHED:
            outcomes[run.run_dir] = done
    todo = [r for r in runs if r.run_dir not in outcomes]
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    workers = workers or default_workers(len(todo) or 1)
    threads = threads or max(1, cores() // workers)
    # what this process registered must reach spawned workers: refused before anything runs
    registered = registrations(todo) if todo and workers > 1 else ""
    began = time.perf_counter()
    if progress:
        log(f"bench {spec.name}: {len(runs)} runs, {len(runs) - len(todo)} already finished; "
            f"{workers} worker(s) × {threads} thread(s) -> {out}")  # fmt: skip

    def record(run: Run, outcome: dict[str, Any]) -> None:
        outcomes[run.run_dir] = outcome
        if progress:
            log(_progress_line(len(outcomes), len(runs), run, outcome, spec))
        write_results_csv([result_row(r, outcomes[r.run_dir]) for r in runs
                           if r.run_dir in outcomes], out / "results.csv")  # fmt: skip

    out.mkdir(parents=True, exist_ok=True)
    if todo and workers == 1:
        run_here(todo, threads, record)
    elif todo:
        run_pool(todo, workers, threads, record, registered=registered)
    rows = [result_row(r, outcomes[r.run_dir]) for r in runs]
    write_results_csv(rows, out / "results.csv")
    summary = Summary(spec, rows)
    claims = [line for judge_claims in spec.claims for line in judge_claims(summary)]
    seconds = time.perf_counter() - began
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "diverged", "failed")}
    header = (
        f"{time.strftime('%Y-%m-%d %H:%M')}: {len(rows)} runs ({counts['ok']} finished, "
        f"{counts['diverged']} diverged, {counts['failed']} failed); {len(todo)} run now in "
        f"{seconds:.0f} s wall with {workers} worker(s) × {threads} thread(s)."
    )
    atomic_write_text(out / "summary.md", summary_markdown(spec, summary, claims, header))
    atomic_write_text(out / "summary.json", json.dumps(summary_json(spec, summary, claims,
                      header), indent=2) + "\n")  # fmt: skip
    return BenchResult(out, spec, rows, summary, claims, seconds, len(todo))


def _progress_line(done: int, total: int, run: Run, outcome: dict[str, Any], spec) -> str:
    metric = next(g.metric for g in spec.groups if g.name == run.group)
    where = f"{run.group}/{cell_name(run.dataset, run.model, run.optimizer)} seed {run.seed}"
    head = f"[{done:>{len(str(total))}}/{total}] {where}"
    if outcome["status"] == "ok":
        final = outcome["final"]
        return (
            f"{head}: {metric} {final.get(metric, float('nan')):.4f} "
            f"({final.get('train_time_s', 0.0):.1f} s)"
        )
    first_line = (outcome.get("error") or "").strip().split("\n")[0]
    return f"{head}: {outcome['status']}: {first_line[:160]}"

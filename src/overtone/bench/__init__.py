"""``overtone bench``: grids of training runs compared across seeds, with statistics.

A :class:`BenchSpec` holds one or more :class:`Group`. A group's runs are the product
``datasets × models × optimizers × seeds``; each axis maps a label to config overrides, applied
in that order over the group's ``base`` keys (tables such as ``model_args`` merge key by key).
A *cell* is one (dataset, model, optimizer) combination. Each cell is compared with the
group's ``baseline`` model on the same dataset and optimizer, seed by seed (a paired t-test).

The output folder holds:

- ``runs/<group>/<cell>-seed<k>/``: an ordinary training run (``overtone train --resume``
  works on it) plus ``outcome.json`` (status, error, peak memory, final metrics);
- ``results.csv``: one row per run: labels, status and error, final and best metrics, train
  time, samples/s, parameter count, peak memory, and the full config as JSON;
- ``summary.md`` and ``summary.json``: per cell the number of finished seeds, mean ± std, the
  95% confidence interval, the difference to the baseline with a paired t-test, ranked best
  first; with the suite's claim verdicts on top when it has claims.

Runs execute in worker processes (``workers``, each with ``threads`` torch threads). A finished
run (``outcome.json`` with status ``ok`` or ``diverged``) is read, not rerun, so an interrupted
bench continues where it stopped, and an interrupted run resumes from its last checkpoint. A
run that raises is recorded as ``failed`` with its error while the rest go on; failed runs are
tried again the next time the bench runs.

Modules, in the order data flows: :mod:`~overtone.bench.spec` (what to run),
:mod:`~overtone.bench.planning` (the runs and their folders), :mod:`~overtone.bench.execution`
(worker processes), :mod:`~overtone.bench.results` (``results.csv``),
:mod:`~overtone.bench.summary` (statistics), :mod:`~overtone.bench.tables` (markdown / JSON),
:mod:`~overtone.bench.runner` (:func:`run_bench`); the built-in suites (``overtone bench
NAME``, ``overtone demo``) are :mod:`overtone.bench.suites`.
"""

from overtone.bench.execution import default_workers, execute, peak_memory, reset_peak_memory
from overtone.bench.planning import Run, cell_name, check_run_dir, plan, read_outcome
from overtone.bench.results import COLUMNS, read_results_csv, result_row, write_results_csv
from overtone.bench.runner import BenchResult, run_bench
from overtone.bench.spec import AXES, METRICS, BenchSpec, Group, load_spec, spec_from_dict
from overtone.bench.summary import CellStats, ClaimResult, Summary, compare, judge
from overtone.bench.tables import (
    cell_table,
    claims_table,
    markdown_table,
    summary_json,
    summary_markdown,
)

__all__ = [
    "AXES",
    "COLUMNS",
    "METRICS",
    "BenchResult",
    "BenchSpec",
    "CellStats",
    "ClaimResult",
    "Group",
    "Run",
    "Summary",
    "cell_name",
    "cell_table",
    "check_run_dir",
    "claims_table",
    "compare",
    "default_workers",
    "execute",
    "judge",
    "load_spec",
    "markdown_table",
    "peak_memory",
    "plan",
    "read_outcome",
    "read_results_csv",
    "reset_peak_memory",
    "result_row",
    "run_bench",
    "spec_from_dict",
    "summary_json",
    "summary_markdown",
    "write_results_csv",
]
